//===- Compile.cpp - qopt-run compile ---------------------------*- C++ -*-===//
//
// Compiles MODEL ahead of time into an artifact directory (model.so, the
// weights, a copy of the tokenizer and manifest.json; qopt/Model/Artifact.h),
// itself a MODEL for the other subcommands and loadable through the C API
// of libqopt_artifact. --target-cpu/--mattr compile for another x86-64 CPU.
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "Subcommands.h"
#include "Support.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace qopt::run;

static cl::opt<std::string> artifactDir("o", cl::desc("Artifact directory"),
                                        cl::value_desc("dir"), cl::Required,
                                        cl::sub(compileCommand()),
                                        cl::cat(outputCategory()));

cl::opt<std::string> qopt::run::targetCPU(
    "target-cpu",
    cl::desc("x86-64 CPU to compile for, as LLVM names it (e.g. x86-64-v3, "
             "skylake-avx512, znver4; default: native, this host)"),
    cl::value_desc("cpu"), cl::sub(compileCommand()),
    cl::cat(outputCategory()));
cl::opt<std::string> qopt::run::targetFeatures(
    "mattr",
    cl::desc("CPU features to add or remove, e.g. +avx512f,-avx512bw; the "
             "kernels use 16 lanes when avx512f is on, else 8"),
    cl::value_desc("+a,-b"), cl::sub(compileCommand()),
    cl::cat(outputCategory()));

int qopt::run::runCompile() {
  // A bad target is refused before the (slow) import.
  if (llvm::Error err = mlir::qopt::checkTarget(targetCPU, targetFeatures))
    return fail(llvm::toString(std::move(err)));
  llvm::Expected<LoadedModel> m =
      loadModel(/*needTokenizer=*/false, nullptr, artifactDir);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  llvm::errs() << llvm::format("compiled '%s' into '%s' in %.2f s\n",
                               modelPath().c_str(), artifactDir.c_str(),
                               m->compileSeconds);
  return 0;
}
