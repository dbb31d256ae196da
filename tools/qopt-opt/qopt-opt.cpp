//===- qopt-opt.cpp - qopt optimizer driver ---------------------*- C++ -*-===//
//
// The mlir-opt of qopt: parses MLIR with the qopt dialect and the upstream
// dialects qopt pipelines produce or consume, and runs qopt and upstream
// passes on it. Registers only what it uses. Its input is checked under
// qopt's policy for untrusted module files (qopt/Tools/ModuleInput.h) before
// MLIR's parsers see it.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Conversion/Passes.h"
#include "qopt/Transforms/Passes.h"
#include "qopt/Tools/ModuleInput.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::qopt::QOptDialect, mlir::arith::ArithDialect,
                  mlir::func::FuncDialect, mlir::linalg::LinalgDialect,
                  mlir::memref::MemRefDialect, mlir::quant::QuantDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect,
                  mlir::vector::VectorDialect, mlir::math::MathDialect,
                  mlir::cf::ControlFlowDialect, mlir::LLVM::LLVMDialect>();
  // The dialects and bufferization interfaces of the lowering.
  mlir::qopt::registerLoweringDialects(registry);

  mlir::qopt::registerQOptPasses();
  mlir::qopt::registerQOptConversionPasses();
  mlir::qopt::registerQOptToLLVMPipeline();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  mlir::bufferization::registerOneShotBufferizePass();
  mlir::bufferization::registerBufferizationPipelines();

  llvm::InitLLVM init(argc, argv);
  auto [inputFilename, outputFilename] = mlir::registerAndParseCLIOptions(
      argc, argv, "qopt optimizer driver\n", registry);
  mlir::MlirOptMainConfig config = mlir::MlirOptMainConfig::createFromCLOptions();
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
  if (mlir::failed(mlir::MlirOptMain(output->os(), std::move(input), registry,
                                     config)))
    return EXIT_FAILURE;
  output->keep();
  return EXIT_SUCCESS;
}
