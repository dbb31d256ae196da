//===- qopt-run.cpp - Run a model compiled by qopt --------------*- C++ -*-===//
//
// Loads a model (a checkpoint, which is imported on the fly, a qopt module
// written by qopt-import / qopt-opt, or an artifact of `qopt-run compile`),
// applies an optional pass pipeline, compiles it for this CPU and runs it:
//
//   qopt-run generate MODEL -p TEXT -n N [--temp T --top-k K --top-p P ...]
//   qopt-run ppl MODEL -f FILE [-c N] [--chunked] [--json]
//   qopt-run bench MODEL [-p N -n N -r N] [--json]
//   qopt-run compile MODEL -o DIR
//   qopt-run chat MODEL [--system TEXT] [-p TEXT] (turns from stdin)
//
// The files of this directory: Options (subcommands, shared options, help),
// LoadModel (MODEL to a compiled runner), Support (errors, progress,
// statistics), and one file per subcommand.
//
//===----------------------------------------------------------------------===//

#include "Options.h"
#include "Subcommands.h"
#include "Support.h"

#include "qopt/Model/Executor.h"
#include "qopt/Tools/ModelRunner.h"
#include "qopt/Tools/Registration.h"
#include "qopt/Tools/Version.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"

using namespace qopt::run;

static cl::opt<bool> listPasses(
    "list-passes",
    cl::desc("Print the passes --pipeline accepts (those of qopt-opt) and "
             "exit"),
    cl::cat(modelCategory()));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::qopt::registerToolPasses();
  cl::SetVersionPrinter(mlir::qopt::printToolVersion);
  hideForeignOptions();
  std::string help = overview();
  cl::ParseCommandLineOptions(argc, argv, help);
  qopt::model::retainInferenceBuffers();
  if (listPasses) {
    mlir::printRegisteredPasses();
    return 0;
  }

  struct Entry {
    cl::SubCommand *command;
    int (*run)();
  };
  const Entry entries[] = {{&generateCommand(), runGenerate},
                           {&pplCommand(), runPerplexity},
                           {&benchCommand(), runBench},
                           {&compileCommand(), runCompile},
                           {&calibrateCommand(), runCalibrate},
                           {&quantizeCommand(), runQuantize},
                           {&chatCommand(), runChat}};
  for (const Entry &entry : entries) {
    if (!*entry.command)
      continue;
    if (llvm::Error err = checkOptions())
      return fail(llvm::toString(std::move(err)));
    mlir::qopt::setKernelThreads(static_cast<unsigned>(threads));
    return entry.run();
  }
  return fail("expected a subcommand: " + subcommandList() + " (see --help)");
}
