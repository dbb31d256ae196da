//===- ModelRunner.cpp - Compile and run a qopt model -----------*- C++ -*-===//
//
// JIT compilation of lowered qopt models, loading of ahead-of-time artifacts
// (through the MLIR-free runtime, qopt/Model/Artifact.h), and the lowering
// both share with the artifact writer (CompileArtifact.cpp). Running the
// compiled code is the runtime's ModelExecutor.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelRunner.h"

#include "RunnerInternal.h"

#include "qopt/Conversion/Passes.h"
#include "qopt/Model/Artifact.h"
#include "qopt/Tools/ModelImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/Threading.h"

#include <cerrno>
#include <cstring>

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::runner;
namespace model = ::qopt::model;

// The OpenMP runtime (libomp) that the generated kernels call, and its
// entry point for a parallel region (kmp.h: what a compiler emits for
// `#pragma omp parallel`, here called from host code built without OpenMP).
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
struct KmpIdent {
  int32_t reserved1, flags, reserved2, reserved3;
  const char *source;
};
using KmpMicrotask = void (*)(int32_t *globalId, int32_t *boundId, ...);
void __kmpc_fork_call(KmpIdent *location, int32_t argc, KmpMicrotask task, ...);
}

void mlir::qopt::setKernelThreads(unsigned n) {
  omp_set_num_threads(static_cast<int>(std::max(1u, n)));
}

unsigned mlir::qopt::kernelThreads() {
  return static_cast<unsigned>(std::max(1, omp_get_max_threads()));
}

/// The outlined region of onKernelThreads: one call per team thread.
static void kernelThreadTask(int32_t *, int32_t *, void *body) {
  (*static_cast<llvm::function_ref<void(unsigned, unsigned)> *>(body))(
      static_cast<unsigned>(omp_get_thread_num()),
      static_cast<unsigned>(omp_get_num_threads()));
}

void mlir::qopt::onKernelThreads(
    llvm::function_ref<void(unsigned, unsigned)> body) {
  // KMP_IDENT_KMPC (2): a location from the C ABI, no source string.
  KmpIdent location{0, 2, 0, 0, ";unknown;unknown;0;0;;"};
  __kmpc_fork_call(&location, 1,
                   reinterpret_cast<KmpMicrotask>(
                       reinterpret_cast<void *>(kernelThreadTask)),
                   &body);
}

unsigned mlir::qopt::availableCores() {
  return std::max(1u, llvm::hardware_concurrency().compute_thread_count());
}

llvm::Error runner::runnerError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

//===----------------------------------------------------------------------===//
// Lowering
//===----------------------------------------------------------------------===//

namespace {
using BlobMap = llvm::StringMap<DenseResourceElementsHandle>;

/// The resource of every dense_resource weight constant in `module`, by key.
BlobMap collectBlobs(ModuleOp module) {
  BlobMap blobs;
  module.walk([&](arith::ConstantOp op) {
    if (auto attr = dyn_cast<DenseResourceElementsAttr>(op.getValue()))
      blobs.try_emplace(attr.getRawHandle().getKey(), attr.getRawHandle());
  });
  return blobs;
}

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
      return runnerError("malformed qopt.width_table entry");
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
} // namespace

llvm::Error runner::runUserPipeline(ModuleOp module, llvm::StringRef pipeline) {
  if (pipeline.empty())
    return llvm::Error::success();
  PassManager pm(module.getContext());
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (failed(parsePassPipeline(pipeline, pm, os)))
    return runnerError("invalid --pipeline '" + pipeline + "': " + errors);
  if (failed(pm.run(module)))
    return runnerError("the --pipeline passes failed on the model");
  return llvm::Error::success();
}

TargetKernels runner::hostKernels(int64_t vectorWidth) {
  return TargetKernels{hostIntDot(vectorWidth), hostGfni(vectorWidth),
                       hostAmx(vectorWidth), hostAmxBf16(vectorWidth),
                       hostDecodePrefetchBits()};
}

llvm::Expected<LoweredModel> runner::lowerModule(ModuleOp module,
                                                 const CompileOptions &options,
                                                 int64_t vectorWidth,
                                                 const TargetKernels &target) {
  llvm::Expected<IntDot> intDot = chooseIntDot(options, target.intDot);
  if (!intDot)
    return intDot.takeError();
  MLIRContext *ctx = module.getContext();
  {
    DialectRegistry registry;
    registerLoweringDialects(registry);
    ctx->appendDialectRegistry(registry);
  }
  if (llvm::Error err = runUserPipeline(module, options.pipeline))
    return std::move(err);
  // Addresses of every resource weight, before lowering removes the
  // constants (the blobs live in the context).
  BlobMap blobs = collectBlobs(module);
  PassManager pm(ctx);
  QOptToLLVMPipelineOptions lowering;
  lowering.vectorWidth = vectorWidth;
  lowering.int8Activations = options.int8Activations;
  lowering.intDot = *intDot == IntDot::Vnni ? "vnni" : "generic";
  lowering.gfni = target.gfni;
  lowering.decodePrefetchBits = target.decodePrefetchBits;
  lowering.f16Activations = options.f16Activations;
  lowering.amx = options.amx && target.amx;
  // --amx=false turns every AMX tile off, the bf16 ones too.
  lowering.amxBf16 = options.amx && options.amxBf16 && target.amxBf16;
  std::string prefillGemm = !options.int8Activations ? "exact"
                            : lowering.amxBf16       ? "amx-bf16"
                            : lowering.amx ? "amx-int8"
                                           : lowering.intDot.getValue();
  buildQOptToLLVMPipeline(pm, lowering);
  if (failed(pm.run(module)))
    return runnerError("lowering the model to LLVM failed");
  auto names = module->getAttrOfType<ArrayAttr>("qopt.weight_table");
  if (!names)
    return runnerError("lowered module has no qopt.weight_table");
  LoweredModel lowered;
  for (Attribute name : names) {
    StringRef key = cast<StringAttr>(name).getValue();
    auto it = blobs.find(key);
    AsmResourceBlob *blob = it == blobs.end() ? nullptr : it->second.getBlob();
    if (!blob || blob->getData().empty())
      return runnerError("weight '" + key +
                         "' has no data (resource blob "
                         "missing or elided)");
    lowered.weights.push_back(
        {key.str(), blob->getData().data(), blob->getData().size()});
    lowered.resources.push_back(it->second);
  }
  llvm::Expected<std::vector<WidthSlot>> slots = readWidthSlots(module);
  if (!slots)
    return slots.takeError();
  lowered.slots = std::move(*slots);
  lowered.prefillGemm = std::move(prefillGemm);
  return lowered;
}

void runner::registerTranslations(MLIRContext *ctx) {
  DialectRegistry registry;
  mlir::qopt::registerLoweringTranslations(registry);
  ctx->appendDialectRegistry(registry);
}

//===----------------------------------------------------------------------===//
// JIT
//===----------------------------------------------------------------------===//

/// Whether the module owns the memory of `resource`'s blob (it frees it),
/// rather than viewing someone else's (a mapped checkpoint's tensor).
static bool ownsData(DenseResourceElementsHandle resource) {
  AsmResourceBlob *blob = resource.getBlob();
  return blob && static_cast<bool>(blob->getDeleter());
}

/// Moves the weights of `lowered` whose blobs the module owns into one
/// mapping on huge pages, in weight-table order, each at
/// kArtifactWeightAlignment: the layout of an artifact's weights.bin read
/// with --no-mmap. The importer and the passes give each large weight its
/// own mapping; decode from those was 13-18% slower on the q8_0, q4_0
/// and q4_k_m GGUFs (docs/lowering.md, Stop 29). Each blob is released once
/// copied, so memory peaks at the weights plus the largest of them; the blobs
/// are left empty (the lowered module no longer refers to them). Views into a
/// mapped checkpoint stay where they are: copying them would make the weights
/// resident twice.
static llvm::Expected<model::LargeBuffer> packWeights(LoweredModel &lowered) {
  uint64_t total = 0;
  for (auto [w, resource] : llvm::zip_equal(lowered.weights, lowered.resources))
    if (ownsData(resource))
      total = llvm::alignTo(total, model::kArtifactWeightAlignment) + w.bytes;
  if (total == 0)
    return model::LargeBuffer();
  model::LargeBuffer arena(total);
  if (!arena.data())
    return runnerError("cannot allocate " + llvm::Twine(total) +
                       " bytes for the weights: " + std::strerror(errno));
  // A weight the table named twice would be copied once (qopt-prepare-abi
  // names each weight once; its blob is empty after the first copy).
  llvm::StringMap<const char *> moved;
  uint64_t offset = 0;
  for (auto [w, resource] :
       llvm::zip_equal(lowered.weights, lowered.resources)) {
    if (auto it = moved.find(w.name); it != moved.end()) {
      w.data = it->second;
      continue;
    }
    if (!ownsData(resource))
      continue;
    offset = llvm::alignTo(offset, model::kArtifactWeightAlignment);
    char *to = arena.data() + offset;
    std::memcpy(to, w.data, w.bytes);
    offset += w.bytes;
    resource.getResource()->setBlob(AsmResourceBlob());
    w.data = to;
    moved[w.name] = to;
  }
  return std::move(arena);
}

/// Makes the JIT resolve `symbols` for the compiled code.
static void
registerSymbols(ExecutionEngine &engine,
                const std::vector<std::pair<std::string, void *>> &symbols) {
  if (symbols.empty())
    return;
  engine.registerSymbols([symbols](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    for (const auto &[name, address] : symbols)
      map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                             llvm::JITSymbolFlags::Exported};
    return map;
  });
}

llvm::Expected<std::unique_ptr<ModelRunner>>
ModelRunner::compile(ModuleOp module, const CompileOptions &options) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerTranslations(module.getContext());

  std::unique_ptr<ModelRunner> runner(new ModelRunner());
  model::ExecutorSetup setup;
  llvm::Expected<model::ModelConfig> cfg = readModelConfig(module);
  if (!cfg)
    return cfg.takeError();
  setup.config = *cfg;
  // The cache type is read from the entry points before lowering rewrites
  // their signatures.
  llvm::Expected<KVCacheInfo> cache = readKVCacheInfo(module);
  if (!cache)
    return cache.takeError();
  runner->kvType = cache->type;
  setup.cacheElementBytes = kvCacheElementBytes(cache->type);
  setup.staticPositions = cache->staticPositions;
  int64_t width =
      options.vectorWidth > 0 ? options.vectorWidth : hostVectorWidth();
  llvm::Expected<LoweredModel> lowered =
      lowerModule(module, options, width, hostKernels(width));
  if (!lowered)
    return lowered.takeError();
  llvm::Expected<model::LargeBuffer> arena = packWeights(*lowered);
  if (!arena)
    return arena.takeError();
  runner->weightArena = std::move(*arena);
  setup.weights = std::move(lowered->weights);
  setup.slots = std::move(lowered->slots);
  runner->prefillGemmName = std::move(lowered->prefillGemm);

  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> tm =
      makeTargetMachine(CompileOptions(), /*pic=*/false);
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
  registerSymbols(*runner->engine, options.symbols);
  llvm::Expected<void *> prefill =
      runner->engine->lookup(("_mlir_ciface_" + kPrefillFunction).str());
  if (!prefill)
    return prefill.takeError();
  llvm::Expected<void *> decode =
      runner->engine->lookup(("_mlir_ciface_" + kDecodeFunction).str());
  if (!decode)
    return decode.takeError();
  setup.prefill = reinterpret_cast<model::ModelEntryFn>(*prefill);
  setup.decode = reinterpret_cast<model::ModelEntryFn>(*decode);
  llvm::Expected<std::unique_ptr<model::ModelExecutor>> exec =
      model::ModelExecutor::create(std::move(setup));
  if (!exec)
    return exec.takeError();
  runner->ownExecutor = std::move(*exec);
  runner->exec = runner->ownExecutor.get();
  // What the lowering and LLVM freed is garbage from here on.
  model::releaseFreedMemory();
  return std::move(runner);
}

//===----------------------------------------------------------------------===//
// Artifacts
//===----------------------------------------------------------------------===//

ModelRunner::~ModelRunner() {
  // The executor's code lives in the engine or the artifact.
  ownExecutor.reset();
  artifact.reset();
}

bool ModelRunner::isArtifactDirectory(llvm::StringRef path) {
  return model::isArtifactDirectory(path);
}

llvm::Expected<std::unique_ptr<ModelRunner>>
ModelRunner::loadArtifact(llvm::StringRef dir, std::string &tokenizerPath,
                          bool copyWeights) {
  llvm::Expected<std::unique_ptr<model::Artifact>> artifact =
      model::Artifact::open(dir, copyWeights);
  if (!artifact)
    return artifact.takeError();
  std::optional<KVCacheType> kvType =
      parseKVCacheType((*artifact)->manifest().kvType);
  if (!kvType)
    return runnerError("the artifact '" + dir +
                       "' has an unknown KV cache type");
  std::unique_ptr<ModelRunner> runner(new ModelRunner());
  runner->kvType = *kvType;
  runner->prefillGemmName = (*artifact)->manifest().prefillGemm;
  runner->artifact = std::move(*artifact);
  runner->exec = &runner->artifact->executor();
  tokenizerPath = runner->artifact->tokenizerPath();
  return std::move(runner);
}
