//===- qopt-opt.cpp - qopt optimizer driver ---------------------*- C++ -*-===//
//
// The mlir-opt of qopt: parses MLIR with the qopt dialect and the upstream
// dialects qopt pipelines produce or consume, and runs qopt and upstream
// passes on it. Registers only what it uses, from the registry it shares
// with qopt-run (qopt/Tools/Registration.h).
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/Registration.h"
#include "qopt/Tools/Version.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::qopt::registerToolDialects(registry);
  mlir::qopt::registerToolPasses();
  llvm::cl::SetVersionPrinter(mlir::qopt::printToolVersion);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "qopt optimizer driver\n", registry));
}
