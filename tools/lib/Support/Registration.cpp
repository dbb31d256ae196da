//===- Registration.cpp - Dialects and passes of the qopt tools -*- C++ -*-===//

#include "qopt/Tools/Registration.h"

#include "qopt/Conversion/Passes.h"
#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void mlir::qopt::registerToolDialects(DialectRegistry &registry) {
  registry
      .insert<QOptDialect, arith::ArithDialect, func::FuncDialect,
              linalg::LinalgDialect, memref::MemRefDialect, quant::QuantDialect,
              scf::SCFDialect, tensor::TensorDialect, vector::VectorDialect,
              math::MathDialect, cf::ControlFlowDialect, LLVM::LLVMDialect>();
  // The dialects and bufferization interfaces of the lowering.
  registerLoweringDialects(registry);
}

void mlir::qopt::registerToolPasses() {
  registerQOptPasses();
  registerQOptConversionPasses();
  registerQOptToLLVMPipeline();
  registerCanonicalizerPass();
  registerCSEPass();
  registerSymbolDCEPass();
  bufferization::registerOneShotBufferizePass();
  bufferization::registerBufferizationPipelines();
}
