//===- KernelsToLoops.cpp - Kernel ops to loops -----------------*- C++ -*-===//
//
// Drives the kernel patterns (Matmul.cpp, Gather.cpp, Attention.cpp,
// Codecs.cpp, Hadamard.cpp, Observe.cpp) with the dialect conversion
// framework: every bufferized qopt.kernel_* op becomes scf loops with vector
// code on its buffers, and qopt.observe a call of the runtime's observer.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "qopt/Conversion/Patterns.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CONVERTQOPTKERNELSTOLOOPSPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

std::optional<IntDot> mlir::qopt::parseIntDot(StringRef name) {
  if (name == "generic")
    return IntDot::Generic;
  if (name == "vnni")
    return IntDot::Vnni;
  return std::nullopt;
}

void mlir::qopt::populateQOptKernelsToLoopsPatterns(
    RewritePatternSet &patterns, int64_t vectorWidth,
    const IntegerMatmulOptions &integer) {
  populateMatmulKernelPatterns(patterns, vectorWidth, integer);
  populateGatherKernelPatterns(patterns, vectorWidth);
  populateAttentionKernelPatterns(patterns, vectorWidth);
  populateCodecKernelPatterns(patterns);
  populateHadamardKernelPatterns(patterns, vectorWidth);
  populateObserveKernelPatterns(patterns);
}

namespace {
struct ConvertQOptKernelsToLoopsPass
    : public qopt::impl::ConvertQOptKernelsToLoopsPassBase<
          ConvertQOptKernelsToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (vectorWidth < 8 || vectorWidth > 64 ||
        (vectorWidth & (vectorWidth - 1)) != 0) {
      getOperation()->emitError()
          << "convert-qopt-kernels-to-loops: vector-width must be 8, 16, 32 "
             "or 64, got "
          << static_cast<int64_t>(vectorWidth);
      return signalPassFailure();
    }
    IntegerMatmulOptions integer;
    integer.int8Activations = int8Activations;
    std::optional<IntDot> dot = parseIntDot(intDot);
    if (!dot) {
      getOperation()->emitError()
          << "convert-qopt-kernels-to-loops: int-dot must be 'vnni' or "
             "'generic', got '"
          << intDot << "'";
      return signalPassFailure();
    }
    integer.intDot = *dot;
    if (tokenTile < 1 || tokenTile > 16) {
      getOperation()->emitError()
          << "convert-qopt-kernels-to-loops: token-tile must be in [1, 16], "
             "got "
          << static_cast<int64_t>(tokenTile);
      return signalPassFailure();
    }
    integer.tokenTile = tokenTile;
    if (panelTokens < 0) {
      getOperation()->emitError()
          << "convert-qopt-kernels-to-loops: panel-tokens must be >= 0, got "
          << static_cast<int64_t>(panelTokens);
      return signalPassFailure();
    }
    integer.panelTokens = panelTokens;
    integer.gfni = gfni;
    integer.amx = amx;
    integer.amxBf16 = amxBf16;
    if (decodePrefetchBits < 0 || decodePrefetchBits > 8) {
      getOperation()->emitError()
          << "convert-qopt-kernels-to-loops: decode-prefetch-bits must be in "
             "[0, 8], got "
          << static_cast<int64_t>(decodePrefetchBits);
      return signalPassFailure();
    }
    integer.decodePrefetchBits = decodePrefetchBits;
    integer.f16Activations = f16Activations;
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, func::FuncDialect,
                           linalg::LinalgDialect, LLVM::LLVMDialect,
                           math::MathDialect, memref::MemRefDialect,
                           scf::SCFDialect, vector::VectorDialect>();
    target.addIllegalOp<KernelMatmulOp, KernelGatherOp, KernelAttentionOp,
                        KernelDequantizeOp, KernelQuantizeOp, KernelRepackOp,
                        KernelHadamardOp, ObserveOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateQOptKernelsToLoopsPatterns(patterns, vectorWidth, integer);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
