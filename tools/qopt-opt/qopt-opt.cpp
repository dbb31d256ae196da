//===- qopt-opt.cpp - qopt optimizer driver ---------------------*- C++ -*-===//
//
// The mlir-opt of qopt: parses MLIR with the qopt dialect and the upstream
// dialects qopt pipelines produce or consume, and runs qopt and upstream
// passes on it. Registers only what it uses, from the registry it shares
// with qopt-run (qopt/Tools/Registration.h). Its input is checked under
// qopt's policy for untrusted module files (qopt/Tools/ModuleInput.h) before
// MLIR's parsers see it.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModuleInput.h"
#include "qopt/Tools/Registration.h"
#include "qopt/Tools/Version.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::qopt::registerToolDialects(registry);
  mlir::qopt::registerToolPasses();
  llvm::cl::SetVersionPrinter(mlir::qopt::printToolVersion);

  llvm::InitLLVM init(argc, argv);
  auto [inputFilename, outputFilename] = mlir::registerAndParseCLIOptions(
      argc, argv, "qopt optimizer driver\n", registry);
  mlir::MlirOptMainConfig config =
      mlir::MlirOptMainConfig::createFromCLOptions();
  // Listing dialects or passes reads no input.
  if (config.shouldShowDialects() || config.shouldListPasses())
    return mlir::asMainReturnCode(
        mlir::MlirOptMain(argc, argv, inputFilename, outputFilename, registry));

  std::string message;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFilename, &message);
  if (!input) {
    llvm::errs() << message << "\n";
    return EXIT_FAILURE;
  }
  std::string subject =
      inputFilename == "-" ? "<stdin>" : "'" + inputFilename + "'";
  if (llvm::Error err = mlir::qopt::checkModuleInput(input->getMemBufferRef(),
                                                     subject, registry)) {
    llvm::errs() << "error: " << llvm::toString(std::move(err)) << "\n";
    return EXIT_FAILURE;
  }
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFilename, &message);
  if (!output) {
    llvm::errs() << message << "\n";
    return EXIT_FAILURE;
  }
  // The buffer checked is the buffer parsed.
  if (mlir::failed(
          mlir::MlirOptMain(output->os(), std::move(input), registry, config)))
    return EXIT_FAILURE;
  output->keep();
  return EXIT_SUCCESS;
}
