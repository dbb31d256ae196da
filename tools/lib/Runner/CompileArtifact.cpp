//===- CompileArtifact.cpp - Ahead-of-time artifacts ------------*- C++ -*-===//
//
// ModelRunner::compileToDirectory: lowers a model for a chosen x86-64 CPU
// (--target-cpu / --mattr), emits the object file into a temporary
// directory, links it into model.so and writes the weights, a copy of the
// tokenizer and manifest.json (qopt/Model/Artifact.h). No temporary is left
// behind, and a failure removes what it wrote.
//
//===----------------------------------------------------------------------===//

#include "RunnerInternal.h"

#include "qopt/Model/Artifact.h"
#include "qopt/Model/Tokenizer.h"
#include "qopt/Tools/ModelImporter.h"
#include "qopt/Tools/ModelRunner.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::runner;
namespace model = ::qopt::model;

//===----------------------------------------------------------------------===//
// Targets
//===----------------------------------------------------------------------===//

static bool isNative(llvm::StringRef cpu) {
  return cpu.empty() || cpu == "native";
}

/// The items of a feature list "+a,-b" (empty items dropped).
static std::vector<std::string> splitFeatures(llvm::StringRef features) {
  llvm::SmallVector<llvm::StringRef> items;
  features.split(items, ',', -1, /*KeepEmpty=*/false);
  std::vector<std::string> out;
  for (llvm::StringRef item : items)
    out.push_back(item.trim().str());
  return out;
}

/// The subtarget of the process's x86-64 triple for `cpu` ("" the generic
/// one), or an error when the host is not x86-64.
static llvm::Expected<std::unique_ptr<llvm::MCSubtargetInfo>>
x86Subtarget(llvm::StringRef cpu) {
  llvm::InitializeNativeTarget();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  if (triple.getArch() != llvm::Triple::x86_64)
    return runnerError("--target-cpu and --mattr are for x86-64 hosts; this "
                       "one is " +
                       triple.str());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return runnerError("no LLVM target for " + triple.str() + ": " + error);
  return std::unique_ptr<llvm::MCSubtargetInfo>(
      target->createMCSubtargetInfo(triple, cpu, ""));
}

llvm::Error mlir::qopt::checkTarget(llvm::StringRef cpu,
                                    llvm::StringRef features) {
  if (isNative(cpu) && features.empty())
    return llvm::Error::success();
  llvm::Expected<std::unique_ptr<llvm::MCSubtargetInfo>> generic =
      x86Subtarget("");
  if (!generic)
    return generic.takeError();
  if (!isNative(cpu)) {
    if (!(*generic)->isCPUStringValid(cpu))
      return runnerError(
          "unknown --target-cpu '" + cpu +
          "': not an x86 CPU that LLVM knows (e.g. x86-64-v2, "
          "x86-64-v3, x86-64-v4, skylake-avx512, znver4, native)");
    llvm::Expected<std::unique_ptr<llvm::MCSubtargetInfo>> sti =
        x86Subtarget(cpu);
    if (!sti)
      return sti.takeError();
    if (!(*sti)->checkFeatures("+64bit"))
      return runnerError("--target-cpu '" + cpu +
                         "' is a 32-bit x86 CPU; qopt compiles for x86-64");
  }
  llvm::ArrayRef<llvm::SubtargetFeatureKV> known =
      (*generic)->getAllProcessorFeatures();
  for (const std::string &item : splitFeatures(features)) {
    llvm::StringRef name = llvm::StringRef(item).drop_front();
    bool isKnown = llvm::any_of(known, [&](const llvm::SubtargetFeatureKV &kv) {
      return name == kv.Key;
    });
    if ((item[0] != '+' && item[0] != '-') || name.empty())
      return runnerError(
          "--mattr item '" + item +
          "' must be +FEATURE or -FEATURE (e.g. +avx2,-avx512f)");
    if (!isKnown)
      return runnerError("unknown --mattr feature '" + name +
                         "': not a feature of LLVM's x86 target (e.g. avx2, "
                         "fma, avx512f, avx512bw)");
  }
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
runner::makeTargetMachine(const CompileOptions &options, bool pic) {
  if (llvm::Error err = checkTarget(options.targetCPU, options.targetFeatures))
    return std::move(err);
  llvm::orc::JITTargetMachineBuilder builder(
      llvm::Triple(llvm::sys::getProcessTriple()));
  if (isNative(options.targetCPU)) {
    auto host = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!host)
      return host.takeError();
    builder = std::move(*host);
  } else {
    builder.setCPU(options.targetCPU);
  }
  builder.addFeatures(splitFeatures(options.targetFeatures));
  if (pic)
    builder.setRelocationModel(llvm::Reloc::PIC_);
  builder.setCodeGenOptLevel(options.optLevel >= 3
                                 ? llvm::CodeGenOptLevel::Aggressive
                                 : llvm::CodeGenOptLevel::Default);
  return builder.createTargetMachine();
}

int64_t runner::targetVectorWidth(const llvm::TargetMachine &tm) {
  return tm.getMCSubtargetInfo()->checkFeatures("+avx512f") ? 16 : 8;
}

/// Whether `tm` may use each feature `has` asks for, answered by `decide`.
template <typename Decide>
static auto onTargetFeatures(const llvm::TargetMachine &tm, Decide decide) {
  const llvm::MCSubtargetInfo *sti = tm.getMCSubtargetInfo();
  return decide([&](llvm::StringRef name) {
    return sti->checkFeatures(("+" + name).str());
  });
}

TargetKernels runner::targetKernels(const llvm::TargetMachine &tm,
                                    int64_t vectorWidth) {
  return onTargetFeatures(tm, [&](auto has) {
    return TargetKernels{intDotFor(has, vectorWidth), gfniFor(has, vectorWidth),
                         amxFor(has, vectorWidth), amxBf16For(has, vectorWidth),
                         decodePrefetchBitsFor(tm.getTargetCPU())};
  });
}

llvm::Expected<IntDot> runner::chooseIntDot(const CompileOptions &options,
                                            IntDot best) {
  if (options.intDot.empty() || !options.int8Activations)
    return best;
  std::optional<IntDot> asked = parseIntDot(options.intDot);
  if (!asked)
    return runnerError("int-dot must be vnni or generic, got '" +
                       options.intDot + "'");
  if (*asked == IntDot::Vnni && best != IntDot::Vnni)
    return runnerError("int-dot vnni: the target CPU has no vpdpbusd at this "
                       "vector width (AVX-512 VNNI, or AVX-VNNI at width 8)");
  return *asked;
}

/// The instruction set features `tm` may use: those of its subtarget that
/// a CPU reports (the keys of the host's feature map), sorted.
static std::vector<std::string>
requiredFeatures(const llvm::TargetMachine &tm) {
  const llvm::MCSubtargetInfo &sti = *tm.getMCSubtargetInfo();
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  std::vector<std::string> required;
  for (const llvm::SubtargetFeatureKV &kv : sti.getAllProcessorFeatures())
    if (host.count(kv.Key) &&
        sti.checkFeatures((llvm::Twine("+") + kv.Key).str()))
      required.push_back(kv.Key);
  llvm::sort(required);
  return required;
}

//===----------------------------------------------------------------------===//
// Writing an artifact
//===----------------------------------------------------------------------===//

static std::string inDir(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, name);
  return std::string(path);
}

/// Emits `module` (lowered) as an object file at `path` for `tm`.
static llvm::Error emitObject(ModuleOp module, llvm::TargetMachine &tm,
                              unsigned optLevel, llvm::StringRef path) {
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return runnerError("translation to LLVM IR failed");
  llvmModule->setDataLayout(tm.createDataLayout());
  llvmModule->setTargetTriple(tm.getTargetTriple());
  auto transformer = makeOptimizingTransformer(optLevel, 0, &tm);
  if (llvm::Error err = transformer(llvmModule.get()))
    return err;
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return runnerError("cannot write '" + path + "': " + ec.message());
  llvm::legacy::PassManager codegen;
  if (tm.addPassesToEmitFile(codegen, os, nullptr,
                             llvm::CodeGenFileType::ObjectFile))
    return runnerError("the target cannot emit object files");
  codegen.run(*llvmModule);
  return llvm::Error::success();
}

/// Links the object file `object` into the shared library `shared` with the
/// system compiler driver, against libomp.
static llvm::Error linkShared(llvm::StringRef object, llvm::StringRef shared) {
  llvm::ErrorOr<std::string> cc = llvm::sys::findProgramByName("cc");
  if (!cc)
    cc = llvm::sys::findProgramByName("c++");
  if (!cc)
    return runnerError("found no C compiler driver (cc) to link model.so");
  // The kernels' parallel loops call libomp: link it by path, with its
  // directory as the run path.
  std::string ompRunPath =
      ("-Wl,-rpath," + llvm::sys::path::parent_path(QOPT_LIBOMP)).str();
  llvm::SmallVector<llvm::StringRef> args = {
      *cc, "-shared", "-o", shared, object, QOPT_LIBOMP, ompRunPath, "-lm"};
  std::string linkError;
  int rc =
      llvm::sys::ExecuteAndWait(*cc, args, std::nullopt, {}, 0, 0, &linkError);
  if (rc != 0)
    return runnerError(
        "linking '" + shared + "' failed (" + *cc + "): " +
        (linkError.empty() ? "exit code " + std::to_string(rc) : linkError));
  return llvm::Error::success();
}

/// Writes the weights to `path`, each at an aligned offset, and fills the
/// manifest's weight table.
static llvm::Error writeWeights(llvm::ArrayRef<model::WeightSpan> weights,
                                llvm::StringRef path,
                                model::ArtifactManifest &manifest) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return runnerError("cannot write '" + path + "': " + ec.message());
  uint64_t offset = 0;
  for (const model::WeightSpan &w : weights) {
    uint64_t aligned = llvm::alignTo(offset, model::kArtifactWeightAlignment);
    os.write_zeros(aligned - offset);
    os.write(w.data, w.bytes);
    manifest.weightTable.push_back({w.name, aligned, w.bytes});
    offset = aligned + w.bytes;
  }
  os.close();
  if (os.has_error())
    return runnerError("cannot write '" + path + "': " + os.error().message());
  return llvm::Error::success();
}

/// Checks that `module` can be compiled ahead of time.
static llvm::Error checkCompilable(ModuleOp module,
                                   const CompileOptions &options) {
  if (!options.symbols.empty())
    return runnerError("an ahead-of-time artifact cannot bind extra symbols (" +
                       options.symbols.front().first + ")");
  if (module->hasAttr("qopt.observe_sites"))
    return runnerError("a model instrumented for calibration "
                       "(qopt-instrument-calibration) runs only in the JIT "
                       "(`qopt-run calibrate`); it cannot be compiled ahead of "
                       "time");
  return llvm::Error::success();
}

llvm::Error ModelRunner::compileToDirectory(ModuleOp module,
                                            const CompileOptions &options,
                                            llvm::StringRef dir,
                                            llvm::StringRef tokenizerFile) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerTranslations(module.getContext());
  if (llvm::Error err = checkCompilable(module, options))
    return err;
  llvm::Expected<std::unique_ptr<llvm::TargetMachine>> tm =
      makeTargetMachine(options, /*pic=*/true);
  if (!tm)
    return tm.takeError();
  llvm::Expected<::qopt::model::ModelConfig> cfg = readModelConfig(module);
  if (!cfg)
    return cfg.takeError();
  llvm::Expected<KVCacheInfo> cache = readKVCacheInfo(module);
  if (!cache)
    return cache.takeError();
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return runnerError("cannot create '" + dir + "': " + ec.message());
  // A failure removes what this call wrote; the object file goes to a
  // temporary directory that is always removed.
  std::vector<std::string> written = {inDir(dir, model::kArtifactManifest)};
  llvm::sys::fs::remove(written.front());
  bool done = false;
  llvm::scope_exit cleanup([&] {
    if (!done)
      for (const std::string &path : written)
        llvm::sys::fs::remove(path);
  });
  llvm::SmallString<256> tmp;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueDirectory("qopt-compile", tmp))
    return runnerError("cannot create a temporary directory: " + ec.message());
  auto removeTmp =
      llvm::scope_exit([&] { llvm::sys::fs::remove_directories(tmp); });

  model::ArtifactManifest manifest;
  if (!tokenizerFile.empty()) {
    written.push_back(inDir(dir, "tokenizer_config.json"));
    llvm::Expected<std::string> name =
        model::copyTokenizerInto(tokenizerFile, dir, cfg->vocabSize);
    if (!name)
      return name.takeError();
    written.push_back(inDir(dir, *name));
    manifest.tokenizer = *name;
  }
  int64_t width =
      options.vectorWidth > 0 ? options.vectorWidth : targetVectorWidth(**tm);
  llvm::Expected<LoweredModel> lowered =
      lowerModule(module, options, width, targetKernels(**tm, width));
  if (!lowered)
    return lowered.takeError();
  std::string object = inDir(tmp, "model.o");
  if (llvm::Error err = emitObject(module, **tm, options.optLevel, object))
    return err;
  manifest.library = "model.so";
  written.push_back(inDir(dir, manifest.library));
  if (llvm::Error err = linkShared(object, written.back()))
    return err;
  manifest.weights = "weights.bin";
  written.push_back(inDir(dir, manifest.weights));
  if (llvm::Error err =
          writeWeights(lowered->weights, written.back(), manifest))
    return err;

  manifest.config = *cfg;
  manifest.kvType = kvCacheTypeName(cache->type).str();
  manifest.staticPositions = cache->staticPositions;
  manifest.widthTable = lowered->slots;
  manifest.targetTriple = (*tm)->getTargetTriple().str();
  manifest.targetCPU = (*tm)->getTargetCPU().str();
  manifest.targetFeatures = requiredFeatures(**tm);
  manifest.prefillGemm = lowered->prefillGemm;
  if (llvm::Error err = model::writeArtifactManifest(written.front(), manifest))
    return err;
  done = true;
  return llvm::Error::success();
}
