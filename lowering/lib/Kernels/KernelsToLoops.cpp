//===- KernelsToLoops.cpp - Kernel ops to loops -----------------*- C++ -*-===//
//
// Drives the kernel patterns (Matmul.cpp, Gather.cpp, Attention.cpp,
// Codecs.cpp, Hadamard.cpp, Observe.cpp) with the dialect conversion
// framework: every bufferized qopt.kernel_* op becomes scf loops with vector
// code on its buffers, and qopt.observe a call of the runtime's observer.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "qopt/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CONVERTQOPTKERNELSTOLOOPSPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

void mlir::qopt::populateQOptKernelsToLoopsPatterns(RewritePatternSet &patterns,
                                                    int64_t vectorWidth) {
  populateMatmulKernelPatterns(patterns, vectorWidth);
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
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, func::FuncDialect,
                           linalg::LinalgDialect,
                           math::MathDialect, memref::MemRefDialect,
                           scf::SCFDialect, vector::VectorDialect>();
    target.addIllegalOp<KernelMatmulOp, KernelGatherOp, KernelAttentionOp,
                        KernelDequantizeOp, KernelQuantizeOp, KernelRepackOp,
                        KernelHadamardOp, ObserveOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateQOptKernelsToLoopsPatterns(patterns, vectorWidth);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
