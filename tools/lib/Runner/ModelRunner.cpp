//===- ModelRunner.cpp - Compile and run a qopt model -----------*- C++ -*-===//
//
// JIT and AOT compilation of lowered qopt models, and the calling
// convention of their entry points (llvm.emit_c_interface descriptors).
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelRunner.h"

#include "qopt/Conversion/Passes.h"
#include "qopt/Model/Input.h"
#include "qopt/Tools/ModelImporter.h"
#include "qopt/Tools/ModuleInput.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/Threading.h"
#include "llvm/Target/TargetMachine.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <sys/mman.h>

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;

// The OpenMP runtime (libomp) that the generated kernels call.
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads(void);
}

void mlir::qopt::setKernelThreads(unsigned n) {
  omp_set_num_threads(static_cast<int>(std::max(1u, n)));
}

unsigned mlir::qopt::kernelThreads() {
  return static_cast<unsigned>(std::max(1, omp_get_max_threads()));
}

unsigned mlir::qopt::availableCores() {
  return std::max(1u, llvm::hardware_concurrency().compute_thread_count());
}

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

using BlobMap = llvm::StringMap<std::pair<const char *, size_t>>;

/// The data of every dense_resource weight constant in `module`, by key.
BlobMap collectBlobs(ModuleOp module) {
  BlobMap blobs;
  module.walk([&](arith::ConstantOp op) {
    if (auto attr = dyn_cast<DenseResourceElementsAttr>(op.getValue())) {
      ArrayRef<char> data = attr.getData();
      blobs[attr.getRawHandle().getKey()] = {data.data(), data.size()};
    }
  });
  return blobs;
}

/// Fills the weight table in the order of `keys` from `blobs`.
llvm::Error bindWeights(const BlobMap &blobs, ArrayRef<StringRef> keys,
                        std::vector<int64_t> &table,
                        std::vector<std::pair<const char *, size_t>> &spans,
                        uint64_t &weightBytes) {
  table.clear();
  spans.clear();
  weightBytes = 0;
  for (StringRef key : keys) {
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

/// Runs the passes of a textual pipeline (e.g. "canonicalize,cse") on
/// `module`; an empty pipeline does nothing.
llvm::Error runUserPipeline(ModuleOp module, llvm::StringRef pipeline) {
  if (pipeline.empty())
    return llvm::Error::success();
  PassManager pm(module.getContext());
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (failed(parsePassPipeline(pipeline, pm, os)))
    return makeError("invalid --pipeline '" + pipeline + "': " + errors);
  if (failed(pm.run(module)))
    return makeError("the --pipeline passes failed on the model");
  return llvm::Error::success();
}

/// Runs the user pipeline, binds weight blobs and lowers to LLVM. Returns
/// the weight table (addresses in qopt.weight_table order).
/// The run-time width slots of a lowered module (`qopt.width_table`).
llvm::Expected<std::vector<WidthSlot>> readWidthSlots(ModuleOp module) {
  std::vector<WidthSlot> slots;
  auto table = module->getAttrOfType<ArrayAttr>("qopt.width_table");
  if (!table)
    return slots;
  for (Attribute entry : table) {
    auto dict = dyn_cast<DictionaryAttr>(entry);
    auto name = dict ? dict.getAs<StringAttr>("name") : StringAttr();
    auto parent = dict ? dict.getAs<IntegerAttr>("parent_bits") : IntegerAttr();
    if (!name || !parent || parent.getInt() < 1 || parent.getInt() > 8)
      return makeError("malformed qopt.width_table entry");
    WidthSlot slot;
    slot.name = name.getValue().str();
    slot.parentBits = parent.getInt();
    if (auto layer = dict.getAs<IntegerAttr>("layer"))
      slot.layer = layer.getInt();
    if (auto role = dict.getAs<StringAttr>("role"))
      slot.role = role.getValue().str();
    slots.push_back(std::move(slot));
  }
  return slots;
}

llvm::Error lowerModule(ModuleOp module, const CompileOptions &options,
                        std::vector<int64_t> &table,
                        std::vector<std::pair<const char *, size_t>> &spans,
                        uint64_t &weightBytes,
                        std::vector<std::string> &weightNames,
                        std::vector<WidthSlot> &slots) {
  MLIRContext *ctx = module.getContext();
  {
    DialectRegistry registry;
    registerLoweringDialects(registry);
    ctx->appendDialectRegistry(registry);
  }
  if (llvm::Error err = runUserPipeline(module, options.pipeline))
    return err;
  // Addresses of every resource weight, before lowering removes the
  // constants (the blobs live in the context).
  BlobMap blobs = collectBlobs(module);
  PassManager pm(ctx);
  QOptToLLVMPipelineOptions lowering;
  lowering.vectorWidth =
      options.vectorWidth > 0 ? options.vectorWidth : hostVectorWidth();
  lowering.int8Activations = options.int8Activations;
  lowering.intDot = !options.intDot.empty()
                        ? options.intDot
                        : (hostIntDot(lowering.vectorWidth) == IntDot::Vnni
                               ? "vnni"
                               : "generic");
  buildQOptToLLVMPipeline(pm, lowering);
  if (failed(pm.run(module)))
    return makeError("lowering the model to LLVM failed");
  auto names = module->getAttrOfType<ArrayAttr>("qopt.weight_table");
  if (!names)
    return makeError("lowered module has no qopt.weight_table");
  SmallVector<StringRef> keys;
  weightNames.clear();
  for (Attribute name : names) {
    keys.push_back(cast<StringAttr>(name).getValue());
    weightNames.push_back(keys.back().str());
  }
  llvm::Expected<std::vector<WidthSlot>> widthSlots = readWidthSlots(module);
  if (!widthSlots)
    return widthSlots.takeError();
  slots = std::move(*widthSlots);
  return bindWeights(blobs, keys, table, spans, weightBytes);
}

/// A target machine for the host CPU with all its features.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
hostTargetMachine(unsigned optLevel, bool pic = false) {
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return builder.takeError();
  if (pic)
    builder->setRelocationModel(llvm::Reloc::PIC_);
  builder->setCodeGenOptLevel(optLevel >= 3 ? llvm::CodeGenOptLevel::Aggressive
                                            : llvm::CodeGenOptLevel::Default);
  return builder->createTargetMachine();
}

void registerTranslations(MLIRContext *ctx) {
  DialectRegistry registry;
  mlir::qopt::registerLoweringTranslations(registry);
  ctx->appendDialectRegistry(registry);
}
} // namespace

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
  // The cache type is read from the entry points before lowering rewrites
  // their signatures.
  llvm::Expected<KVCacheInfo> cache = readKVCacheInfo(module);
  if (!cache)
    return cache.takeError();
  if (llvm::Error err = lowerModule(
          module, options, runner->weightTable, runner->weightSpans,
          runner->weightByteCount, runner->weightNames, runner->slots))
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
  if (llvm::Error err = loadOpenMPRuntime())
    return std::move(err);
  auto engine = ExecutionEngine::create(module, engineOptions, std::move(*tm));
  if (!engine)
    return engine.takeError();
  runner->engine = std::move(*engine);
  if (!options.symbols.empty()) {
    std::vector<std::pair<std::string, void *>> symbols = options.symbols;
    runner->engine->registerSymbols(
        [symbols](llvm::orc::MangleAndInterner interner) {
          llvm::orc::SymbolMap map;
          for (const auto &[name, address] : symbols)
            map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                                   llvm::JITSymbolFlags::Exported};
          return map;
        });
  }
  llvm::Expected<void *> prefill =
      runner->engine->lookup(("_mlir_ciface_" + kPrefillFunction).str());
  if (!prefill)
    return prefill.takeError();
  llvm::Expected<void *> decode =
      runner->engine->lookup(("_mlir_ciface_" + kDecodeFunction).str());
  if (!decode)
    return decode.takeError();
  if (llvm::Error err = runner->finishSetup(*prefill, *decode, *cache))
    return std::move(err);
  return std::move(runner);
}

llvm::Error ModelRunner::replaceWeight(llvm::StringRef name,
                                       const void *data, size_t bytes) {
  for (auto [i, weightName] : llvm::enumerate(weightNames)) {
    if (weightName != name)
      continue;
    if (weightSpans[i].second != bytes)
      return makeError("weight '" + name + "' has " +
                       llvm::Twine(weightSpans[i].second) +
                       " bytes, the replacement " + llvm::Twine(bytes));
    weightTable[i] = reinterpret_cast<int64_t>(data);
    weightSpans[i] = {static_cast<const char *>(data), bytes};
    return llvm::Error::success();
  }
  return makeError("no weight named '" + name + "' in the weight table");
}

llvm::Error ModelRunner::finishSetup(void *prefill, void *decode,
                                     const KVCacheInfo &cache) {
  prefillFn = reinterpret_cast<EntryFn>(prefill);
  decodeFn = reinterpret_cast<EntryFn>(decode);
  widths.clear();
  for (const WidthSlot &slot : slots)
    widths.push_back(slot.parentBits);
  if (cfg.numLayers <= 0 || cfg.maxSeqLen <= 0 || cfg.kvDim() <= 0)
    return makeError("invalid model configuration");
  kvType = cache.type;
  staticPositions = cache.staticPositions;
  // Code compiled for a static extent indexes the cache with it: allocate
  // all of it. Otherwise nothing is allocated until the first forward or
  // reserve call says how many positions the run uses.
  if (staticPositions > 0)
    return resizeCache(staticPositions);
  return llvm::Error::success();
}

void ModelRunner::CacheBuffer::Unmap::operator()(uint8_t *p) const {
  munmap(p, bytes);
}

llvm::Error ModelRunner::resizeCache(int64_t positions) {
  uint64_t rowBytes =
      static_cast<uint64_t>(cfg.kvDim()) * kvCacheElementBytes(kvType);
  uint64_t layerBytes = 0, bytes = 0;
  size_t keptBytes = rowBytes * std::min(capacity, positions);
  auto cannot = [&](llvm::StringRef why) {
    return makeError("cannot allocate a KV cache of " + llvm::Twine(positions) +
                     " positions (2 x " + llvm::Twine(cfg.numLayers) +
                     " layers x " + llvm::Twine(rowBytes) +
                     " bytes per position): " + why);
  };
  if (__builtin_mul_overflow(rowBytes, static_cast<uint64_t>(positions),
                             &layerBytes) ||
      __builtin_mul_overflow(layerBytes, static_cast<uint64_t>(cfg.numLayers),
                             &bytes))
    return cannot("the size overflows");
  CacheBuffer next[2];
  for (CacheBuffer &buffer : next) {
    // Anonymous pages are zero and committed on first write.
    void *p = mmap(nullptr, std::max<uint64_t>(bytes, 1),
                   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return cannot(std::strerror(errno));
    buffer.data = std::unique_ptr<uint8_t, CacheBuffer::Unmap>(
        static_cast<uint8_t *>(p),
        CacheBuffer::Unmap{std::max<uint64_t>(bytes, 1)});
  }
  CacheBuffer *caches[2] = {&keyCache, &valueCache};
  for (int i = 0; i < 2; ++i) {
    if (caches[i]->data)
      for (int64_t l = 0; l < cfg.numLayers; ++l)
        std::memcpy(next[i].data.get() + l * layerBytes,
                    caches[i]->data.get() + l * rowBytes * capacity, keptBytes);
    caches[i]->data = std::move(next[i].data);
  }
  capacity = positions;
  return llvm::Error::success();
}

llvm::Error ModelRunner::reserve(int64_t positions) {
  if (positions <= capacity)
    return llvm::Error::success();
  if (positions > cfg.maxSeqLen)
    return makeError("cannot reserve a KV cache of " + llvm::Twine(positions) +
                     " positions: the model's context is " +
                     llvm::Twine(cfg.maxSeqLen) + " tokens");
  if (staticPositions > 0)
    return makeError("the KV cache of this module has a static extent of " +
                     llvm::Twine(staticPositions) + " positions");
  return resizeCache(positions);
}

uint64_t ModelRunner::cacheBytes() const {
  return 2 * static_cast<uint64_t>(cfg.numLayers) * capacity * cfg.kvDim() *
         kvCacheElementBytes(kvType);
}

ModelRunner::~ModelRunner() {
  if (library)
    dlclose(library);
}


bool ModelRunner::isArtifactDirectory(llvm::StringRef path) {
  llvm::SmallString<256> manifest(path);
  llvm::sys::path::append(manifest, kArtifactManifest);
  return llvm::sys::fs::is_directory(path) && llvm::sys::fs::exists(manifest);
}

llvm::Error ModelRunner::compileToDirectory(ModuleOp module,
                                            const CompileOptions &options,
                                            llvm::StringRef dir,
                                            llvm::StringRef tokenizerSource) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerTranslations(module.getContext());
  if (!options.symbols.empty())
    return makeError("an ahead-of-time artifact cannot bind extra symbols (" +
                     options.symbols.front().first + ")");
  if (module->hasAttr("qopt.observe_sites"))
    return makeError("a model instrumented for calibration "
                     "(qopt-instrument-calibration) runs only in the JIT "
                     "(`qopt-run calibrate`); it cannot be compiled ahead of "
                     "time");
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return makeError("cannot create '" + dir + "': " + ec.message());
  auto file = [&](llvm::StringRef name) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    return std::string(path);
  };
  llvm::Expected<model::ModelConfig> cfg = readModelConfig(module);
  if (!cfg)
    return cfg.takeError();
  llvm::Expected<KVCacheInfo> cache = readKVCacheInfo(module);
  if (!cache)
    return cache.takeError();

  // The user pipeline first, so the saved weights are the ones the code
  // was compiled for.
  if (llvm::Error err = runUserPipeline(module, options.pipeline))
    return err;
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(file("model.mlirbc"), ec, llvm::sys::fs::OF_None);
    if (ec)
      return makeError("cannot write '" + file("model.mlirbc") +
                       "': " + ec.message());
    if (failed(writeBytecodeToFile(module, os)))
      return makeError("cannot write the model bytecode");
  }

  CompileOptions lowerOptions = options;
  lowerOptions.pipeline.clear();
  std::vector<int64_t> table;
  std::vector<std::pair<const char *, size_t>> spans;
  uint64_t bytes = 0;
  std::vector<std::string> names;
  std::vector<WidthSlot> slots;
  if (llvm::Error err = lowerModule(module, lowerOptions, table, spans, bytes,
                                    names, slots))
    return err;
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> tm =
      hostTargetMachine(options.optLevel, /*pic=*/true);
  if (!tm)
    return tm.takeError();
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return makeError("translation to LLVM IR failed");
  llvmModule->setDataLayout((*tm)->createDataLayout());
  llvmModule->setTargetTriple((*tm)->getTargetTriple());
  auto transformer = makeOptimizingTransformer(options.optLevel, 0, tm->get());
  if (llvm::Error err = transformer(llvmModule.get()))
    return err;
  std::string objectPath = file("model.o");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(objectPath, ec, llvm::sys::fs::OF_None);
    if (ec)
      return makeError("cannot write '" + objectPath + "': " + ec.message());
    llvm::legacy::PassManager codegen;
    if ((*tm)->addPassesToEmitFile(codegen, os, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
      return makeError("the host target cannot emit object files");
    codegen.run(*llvmModule);
  }

  // Link the shared library with the system compiler driver.
  std::string sharedPath = file("model.so");
  llvm::ErrorOr<std::string> cc = llvm::sys::findProgramByName("cc");
  if (!cc)
    cc = llvm::sys::findProgramByName("c++");
  if (!cc)
    return makeError("wrote '" + objectPath +
                     "' but found no C compiler driver (cc) to link it into "
                     "model.so");
  // The kernels' parallel loops call libomp: link it by path, with its
  // directory as the run path.
  std::string ompRunPath =
      ("-Wl,-rpath," + llvm::sys::path::parent_path(QOPT_LIBOMP)).str();
  llvm::SmallVector<llvm::StringRef> args = {
      *cc, "-shared", "-o", sharedPath, objectPath, QOPT_LIBOMP, ompRunPath,
      "-lm"};
  std::string linkError;
  int rc = llvm::sys::ExecuteAndWait(*cc, args, std::nullopt, {}, 0, 0,
                                     &linkError);
  if (rc != 0)
    return makeError("linking '" + sharedPath + "' failed (" + *cc +
                     "): " + (linkError.empty() ? "exit code " +
                                                      std::to_string(rc)
                                                : linkError));

  llvm::json::Array weightNames;
  for (Attribute name : module->getAttrOfType<ArrayAttr>("qopt.weight_table"))
    weightNames.push_back(cast<StringAttr>(name).getValue().str());
  llvm::json::Array widthTable;
  for (const WidthSlot &slot : slots) {
    llvm::json::Object entry{{"name", slot.name},
                             {"parent_bits", slot.parentBits}};
    if (slot.layer >= 0)
      entry["layer"] = slot.layer;
    if (!slot.role.empty())
      entry["role"] = slot.role;
    widthTable.push_back(std::move(entry));
  }
  llvm::json::Object manifest{
      {"format", kArtifactFormat},
      {"library", "model.so"},
      {"weights", "model.mlirbc"},
      {"weight_table", std::move(weightNames)},
      {"width_table", std::move(widthTable)},
      {"weight_bytes", static_cast<int64_t>(bytes)},
      {"kv_type", kvCacheTypeName(cache->type)},
      {"tokenizer_source", tokenizerSource},
      {"target_triple", (*tm)->getTargetTriple().str()},
      {"target_cpu", (*tm)->getTargetCPU().str()},
  };
  std::error_code ec;
  llvm::raw_fd_ostream os(file(kArtifactManifest), ec,
                          llvm::sys::fs::OF_Text);
  if (ec)
    return makeError("cannot write '" + file(kArtifactManifest) +
                     "': " + ec.message());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest))) << "\n";
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<ModelRunner>>
ModelRunner::loadArtifact(MLIRContext &context, llvm::StringRef dir,
                          std::string &tokenizerSource) {
  auto file = [&](llvm::StringRef name) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    return std::string(path);
  };
  llvm::Expected<ArtifactManifest> manifest =
      readArtifactManifest(file(kArtifactManifest));
  if (!manifest)
    return manifest.takeError();
  tokenizerSource = manifest->tokenizerSource;

  std::unique_ptr<ModelRunner> runner(new ModelRunner());
  std::string weightsPath = file(manifest->weights);
  if (!llvm::sys::fs::is_regular_file(weightsPath))
    return makeError("the artifact's weights '" + weightsPath +
                     "' are not a regular file");
  llvm::Expected<OwningOpRef<ModuleOp>> weightsModule =
      parseModuleFile(weightsPath, context, "the artifact's weights");
  if (!weightsModule)
    return weightsModule.takeError();
  runner->weightsModule = std::move(*weightsModule);
  llvm::Expected<model::ModelConfig> cfg =
      readModelConfig(*runner->weightsModule);
  if (!cfg)
    return cfg.takeError();
  runner->cfg = *cfg;
  // The type the code was compiled for is in the saved module's signatures.
  llvm::Expected<KVCacheInfo> cache = readKVCacheInfo(*runner->weightsModule);
  if (!cache)
    return cache.takeError();
  if (!manifest->kvType.empty() &&
      manifest->kvType != kvCacheTypeName(cache->type))
    return makeError("'" + file(kArtifactManifest) + "' records kv_type " +
                     manifest->kvType + " but the artifact's module has a " +
                     kvCacheTypeName(cache->type) + " KV cache");
  runner->weightNames = manifest->weightTable;
  SmallVector<StringRef> keys(runner->weightNames.begin(),
                              runner->weightNames.end());
  runner->slots = manifest->widthTable;
  if (llvm::Error err = bindWeights(collectBlobs(*runner->weightsModule), keys,
                                    runner->weightTable, runner->weightSpans,
                                    runner->weightByteCount))
    return std::move(err);

  std::string libraryPath = file(manifest->library);
  runner->library = dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!runner->library)
    return makeError("cannot load '" + libraryPath + "': " + dlerror());
  void *prefill = dlsym(runner->library, "_mlir_ciface_prefill");
  void *decode = dlsym(runner->library, "_mlir_ciface_decode");
  if (!prefill || !decode)
    return makeError("'" + libraryPath +
                     "' lacks _mlir_ciface_prefill/_mlir_ciface_decode");
  if (llvm::Error err = runner->finishSetup(prefill, decode, *cache))
    return std::move(err);
  return std::move(runner);
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
  // Grow the cache geometrically (amortized O(1) copies per position),
  // never past the model's context; to exactly what is needed when twice
  // the capacity cannot be had.
  if (position + n > capacity) {
    if (staticPositions > 0)
      return makeError("positions up to " + llvm::Twine(position + n - 1) +
                       " exceed this module's static KV cache of " +
                       llvm::Twine(staticPositions) + " positions");
    int64_t grown = std::min<int64_t>(
        cfg.maxSeqLen, std::max<int64_t>(position + n, 2 * capacity));
    if (llvm::Error err = resizeCache(grown)) {
      if (grown == position + n)
        return err;
      llvm::consumeError(std::move(err));
      if (llvm::Error exact = resizeCache(position + n))
        return exact;
    }
  }
  auto tokensDesc = describe<int32_t, 1>(const_cast<int32_t *>(tokens.data()),
                                         {n});
  // The caches are raw bytes; the descriptor's sizes and strides count
  // elements of the compiled element type.
  std::array<int64_t, 3> cacheShape = {cfg.numLayers, capacity, cfg.kvDim()};
  auto kc = describe<uint8_t, 3>(keyCache.data.get(), cacheShape);
  auto vc = describe<uint8_t, 3>(valueCache.data.get(), cacheShape);
  auto table = describe<int64_t, 1>(weightTable.data(),
                                    {static_cast<int64_t>(weightTable.size())});
  // A model without nested weights still takes a (one-entry) width table.
  int32_t noWidths = 0;
  auto widthsDesc = describe<int32_t, 1>(
      widths.empty() ? &noWidths : widths.data(),
      {static_cast<int64_t>(std::max<size_t>(widths.size(), 1))});
  auto out = describe<float, 2>(logits, {n, cfg.vocabSize});
  EntryFn fn = n == 1 ? decodeFn : prefillFn;
  fn(&tokensDesc, position, &kc, &vc, &table, &widthsDesc, &out);
  return llvm::Error::success();
}

uint64_t ModelRunner::weightBytesRead() const {
  llvm::StringMap<size_t> slotOf;
  for (auto [i, slot] : llvm::enumerate(slots))
    slotOf[slot.name] = i;
  uint64_t total = 0;
  for (auto [i, span] : llvm::enumerate(weightSpans)) {
    uint64_t bytes = span.second;
    auto it = i < weightNames.size() ? slotOf.find(weightNames[i])
                                     : slotOf.end();
    if (it != slotOf.end()) {
      uint64_t parent = slots[it->second].parentBits;
      uint64_t planes = std::min<uint64_t>(widths[it->second] + 1, parent);
      bytes = bytes / parent * planes;
    }
    total += bytes;
  }
  return total;
}

/// Parses `N` or `N-M` into a layer range.
static bool parseLayers(llvm::StringRef text, int64_t &lo, int64_t &hi) {
  auto [a, b] = text.split('-');
  if (a.getAsInteger(10, lo) || lo < 0)
    return false;
  hi = lo;
  if (text.contains('-') && (b.getAsInteger(10, hi) || hi < lo))
    return false;
  return true;
}

/// True if `role` is selected by the role selector `sel`.
static bool roleMatches(llvm::StringRef sel, llvm::StringRef role) {
  if (sel == "*")
    return true;
  if (sel == "attn")
    return role == "q" || role == "k" || role == "v" || role == "o";
  if (sel == "mlp")
    return role == "gate" || role == "up" || role == "down";
  return sel == role;
}

static bool isRoleSelector(llvm::StringRef sel) {
  return llvm::is_contained(
      {"*", "attn", "mlp", "q", "k", "v", "o", "gate", "up", "down",
       "embedding", "classifier"},
      sel);
}

llvm::Error ModelRunner::setServedWidths(unsigned bits,
                                         llvm::StringRef layerBits) {
  if (bits > 8)
    return makeError("--bits must be in 1..8, got " + llvm::Twine(bits));
  if (slots.empty() && (bits != 0 || !layerBits.empty()))
    return makeError(
        "--bits/--layer-bits serve nested-layout weights at run time, and "
        "this model has none; quantize with "
        "--pipeline \"qopt-quantize-weights{bits=8 layout=nested}\", or slice "
        "at compile time with qopt-slice-weights{bits=R}");
  std::vector<int32_t> next;
  for (const WidthSlot &slot : slots)
    next.push_back(bits == 0 ? slot.parentBits
                             : std::min<unsigned>(bits, slot.parentBits));
  llvm::SmallVector<llvm::StringRef> rules;
  layerBits.split(rules, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef rule : rules) {
    rule = rule.trim();
    auto [selector, value] = rule.rsplit(':');
    unsigned width = 0;
    if (!rule.contains(':') || value.trim().getAsInteger(10, width) ||
        width < 1 || width > 8)
      return makeError("--layer-bits rule '" + rule +
                       "' must be SELECTOR:BITS with BITS in 1..8");
    selector = selector.trim();
    int64_t lo = -1, hi = -1;
    llvm::StringRef role = "*";
    auto [layers, roleText] = selector.split('.');
    if (selector.contains('.')) {
      if (!parseLayers(layers, lo, hi) || !isRoleSelector(roleText))
        return makeError("--layer-bits selector '" + selector +
                         "' must be LAYERS.ROLE (e.g. 0-1.down)");
      role = roleText;
    } else if (isRoleSelector(selector)) {
      role = selector;
    } else if (!parseLayers(selector, lo, hi)) {
      return makeError("--layer-bits selector '" + selector +
                       "' is not a layer, a layer range, or a role (q k v o "
                       "gate up down embedding classifier attn mlp *)");
    }
    bool any = false;
    for (auto [i, slot] : llvm::enumerate(slots)) {
      if (lo >= 0 && (slot.layer < lo || slot.layer > hi))
        continue;
      if (!roleMatches(role, slot.role))
        continue;
      next[i] = std::min<unsigned>(width, slot.parentBits);
      any = true;
    }
    if (!any)
      return makeError("--layer-bits rule '" + rule +
                       "' selects no nested weight of this model");
  }
  widths = std::move(next);
  return llvm::Error::success();
}
