//===- ModelRunner.cpp - Compile and run a qopt model -----------*- C++ -*-===//
//
// JIT and AOT compilation of lowered qopt models, and the calling
// convention of their entry points (llvm.emit_c_interface descriptors).
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelRunner.h"

#include "qopt/Conversion/Passes.h"
#include "qopt/Tools/ModelImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;

namespace {
/// A ranked memref descriptor as llvm.emit_c_interface passes it.
template <typename T, int Rank>
struct MemRefDescriptor {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};

template <typename T, int Rank>
MemRefDescriptor<T, Rank> describe(T *data,
                                   const std::array<int64_t, Rank> &sizes) {
  MemRefDescriptor<T, Rank> d;
  d.allocated = d.aligned = data;
  d.offset = 0;
  int64_t stride = 1;
  for (int i = Rank - 1; i >= 0; --i) {
    d.sizes[i] = sizes[i];
    d.strides[i] = stride;
    stride *= sizes[i];
  }
  return d;
}

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Runs the user pipeline, binds weight blobs and lowers to LLVM. Returns
/// the weight table (addresses in qopt.weight_table order).
llvm::Error lowerModule(ModuleOp module, const CompileOptions &options,
                        std::vector<int64_t> &table,
                        std::vector<std::pair<const char *, size_t>> &spans,
                        uint64_t &weightBytes) {
  MLIRContext *ctx = module.getContext();
  if (!options.pipeline.empty()) {
    PassManager pm(ctx);
    std::string errors;
    llvm::raw_string_ostream os(errors);
    if (failed(parsePassPipeline(options.pipeline, pm, os)))
      return makeError("invalid --pipeline '" + options.pipeline +
                       "': " + errors);
    if (failed(pm.run(module)))
      return makeError("the --pipeline passes failed on the model");
  }
  // Addresses of every resource weight, before lowering removes the
  // constants (the blobs live in the context).
  llvm::StringMap<std::pair<const char *, size_t>> blobs;
  module.walk([&](arith::ConstantOp op) {
    if (auto attr = dyn_cast<DenseResourceElementsAttr>(op.getValue())) {
      ArrayRef<char> data = attr.getData();
      blobs[attr.getRawHandle().getKey()] = {data.data(), data.size()};
    }
  });
  PassManager pm(ctx);
  buildQOptToLLVMPipeline(pm, QOptToLLVMPipelineOptions());
  if (failed(pm.run(module)))
    return makeError("lowering the model to LLVM failed");
  auto names = module->getAttrOfType<ArrayAttr>("qopt.weight_table");
  if (!names)
    return makeError("lowered module has no qopt.weight_table");
  table.clear();
  spans.clear();
  weightBytes = 0;
  for (Attribute name : names) {
    StringRef key = cast<StringAttr>(name).getValue();
    auto it = blobs.find(key);
    if (it == blobs.end() || !it->second.first)
      return makeError("weight '" + key + "' has no data (resource blob "
                       "missing or elided)");
    table.push_back(reinterpret_cast<int64_t>(it->second.first));
    spans.push_back(it->second);
    weightBytes += it->second.second;
  }
  return llvm::Error::success();
}

/// A target machine for the host CPU with all its features.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
hostTargetMachine(unsigned optLevel) {
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return builder.takeError();
  builder->setCodeGenOptLevel(optLevel >= 3 ? llvm::CodeGenOptLevel::Aggressive
                                            : llvm::CodeGenOptLevel::Default);
  return builder->createTargetMachine();
}

void registerTranslations(MLIRContext *ctx) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  ctx->appendDialectRegistry(registry);
}
} // namespace

ModelRunner::~ModelRunner() = default;

llvm::Expected<std::unique_ptr<ModelRunner>>
ModelRunner::compile(ModuleOp module, const CompileOptions &options) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerTranslations(module.getContext());

  std::unique_ptr<ModelRunner> runner(new ModelRunner());
  llvm::Expected<model::ModelConfig> cfg = readModelConfig(module);
  if (!cfg)
    return cfg.takeError();
  runner->cfg = *cfg;
  if (llvm::Error err =
          lowerModule(module, options, runner->weightTable,
                      runner->weightSpans, runner->weightByteCount))
    return std::move(err);

  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> tm =
      hostTargetMachine(options.optLevel);
  if (!tm)
    return tm.takeError();
  auto transformer =
      makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0, tm->get());
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = options.optLevel >= 3
                                         ? llvm::CodeGenOptLevel::Aggressive
                                         : llvm::CodeGenOptLevel::Default;
  auto engine = ExecutionEngine::create(module, engineOptions, std::move(*tm));
  if (!engine)
    return engine.takeError();
  runner->engine = std::move(*engine);
  for (auto [name, fn] :
       {std::pair<StringRef, EntryFn *>{kPrefillFunction, &runner->prefillFn},
        {kDecodeFunction, &runner->decodeFn}}) {
    llvm::Expected<void *> sym =
        runner->engine->lookup(("_mlir_ciface_" + name).str());
    if (!sym)
      return sym.takeError();
    *fn = reinterpret_cast<EntryFn>(*sym);
  }
  size_t cacheSize = static_cast<size_t>(runner->cfg.numLayers) *
                     runner->cfg.maxSeqLen * runner->cfg.kvDim();
  runner->keyCache.assign(cacheSize, 0.0f);
  runner->valueCache.assign(cacheSize, 0.0f);
  return std::move(runner);
}

llvm::Error ModelRunner::emitObjectFile(ModuleOp module,
                                        const CompileOptions &options,
                                        llvm::StringRef path) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerTranslations(module.getContext());
  std::vector<int64_t> table;
  std::vector<std::pair<const char *, size_t>> spans;
  uint64_t bytes = 0;
  if (llvm::Error err = lowerModule(module, options, table, spans, bytes))
    return err;
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> tm =
      hostTargetMachine(options.optLevel);
  if (!tm)
    return tm.takeError();
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return makeError("translation to LLVM IR failed");
  llvmModule->setDataLayout((*tm)->createDataLayout());
  llvmModule->setTargetTriple((*tm)->getTargetTriple());
  auto transformer =
      makeOptimizingTransformer(options.optLevel, 0, tm->get());
  if (llvm::Error err = transformer(llvmModule.get()))
    return err;
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return makeError("cannot write '" + path + "': " + ec.message());
  llvm::legacy::PassManager codegen;
  if ((*tm)->addPassesToEmitFile(codegen, os, nullptr,
                                 llvm::CodeGenFileType::ObjectFile))
    return makeError("the host target cannot emit object files");
  codegen.run(*llvmModule);
  os.flush();
  // The weight table order, one resource name per line.
  llvm::raw_fd_ostream names((path + ".weights").str(), ec,
                             llvm::sys::fs::OF_Text);
  if (ec)
    return makeError("cannot write '" + path + ".weights': " + ec.message());
  for (Attribute name : module->getAttrOfType<ArrayAttr>("qopt.weight_table"))
    names << cast<StringAttr>(name).getValue() << "\n";
  return llvm::Error::success();
}

llvm::Error ModelRunner::forward(llvm::ArrayRef<int32_t> tokens,
                                 int64_t position, float *logits) {
  int64_t n = tokens.size();
  if (n == 0)
    return llvm::Error::success();
  if (position < 0 || position + n > cfg.maxSeqLen)
    return makeError("positions " + llvm::Twine(position) + ".." +
                     llvm::Twine(position + n - 1) +
                     " exceed the model's context of " +
                     llvm::Twine(cfg.maxSeqLen) + " tokens");
  for (int32_t t : tokens)
    if (t < 0 || t >= cfg.vocabSize)
      return makeError("token id " + llvm::Twine(t) +
                       " is outside the vocabulary of " +
                       llvm::Twine(cfg.vocabSize));
  auto tokensDesc = describe<int32_t, 1>(const_cast<int32_t *>(tokens.data()),
                                         {n});
  std::array<int64_t, 3> cacheShape = {cfg.numLayers, cfg.maxSeqLen,
                                       cfg.kvDim()};
  auto kc = describe<float, 3>(keyCache.data(), cacheShape);
  auto vc = describe<float, 3>(valueCache.data(), cacheShape);
  auto table = describe<int64_t, 1>(weightTable.data(),
                                    {static_cast<int64_t>(weightTable.size())});
  auto out = describe<float, 2>(logits, {n, cfg.vocabSize});
  EntryFn fn = n == 1 ? decodeFn : prefillFn;
  fn(&tokensDesc, position, &kc, &vc, &table, &out);
  return llvm::Error::success();
}
