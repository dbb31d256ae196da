//===- RunnerInternal.h - Shared by the JIT and AOT runners -----*- C++ -*-===//
//
// Private to tools/lib/Runner: ModelRunner.cpp (JIT, artifact loading) and
// CompileArtifact.cpp (the ahead-of-time writer) lower the same way.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_LIB_RUNNER_RUNNERINTERNAL_H
#define QOPT_TOOLS_LIB_RUNNER_RUNNERINTERNAL_H

#include "qopt/Conversion/Passes.h"
#include "qopt/Model/Executor.h"
#include "qopt/Tools/ModelRunner.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <vector>

namespace mlir {
namespace qopt {
namespace runner {

/// An llvm::Error with `message`.
llvm::Error runnerError(const llvm::Twine &message);

/// Runs the passes of a textual pipeline on `module`; empty does nothing.
llvm::Error runUserPipeline(ModuleOp module, llvm::StringRef pipeline);

/// What lowering a module to the LLVM dialect yields.
struct LoweredModel {
  /// The weights (pointing into the context's resource blobs), in the order
  /// of the code's weight table.
  std::vector<::qopt::model::WeightSpan> weights;
  /// The resource each weight's data is the blob of (same order).
  std::vector<DenseResourceElementsHandle> resources;
  std::vector<WidthSlot> slots;
  /// The micro-kernel of the prefill GEMM of quantized weights (see
  /// ModelRunner::prefillGemm).
  std::string prefillGemm;
};

/// What the kernels may use of the CPU that runs them.
struct TargetKernels {
  /// The int8 dot products it runs best (intDotFor).
  IntDot intDot = IntDot::Generic;
  /// The GFNI nested-code reader (gfniFor).
  bool gfni = false;
  /// AMX tiles in the prefill GEMM (amxFor; on the host, also the OS's
  /// permission).
  bool amx = false;
  /// bf16 AMX tiles in the prefill GEMM (amxBf16For; on the host, also the
  /// OS's permission).
  bool amxBf16 = false;
  /// Row widths whose decode prefetches the next row
  /// (decodePrefetchBitsFor the CPU's name).
  int64_t decodePrefetchBits = 8;
};

/// The kernels of this host at `vectorWidth` (hostIntDot, hostGfni,
/// hostAmx, hostAmxBf16).
TargetKernels hostKernels(int64_t vectorWidth);

/// The kernels of the CPU `tm` targets at `vectorWidth`.
TargetKernels targetKernels(const llvm::TargetMachine &tm, int64_t vectorWidth);

/// Runs options.pipeline, then qopt-to-llvm with `vectorWidth` lanes, the
/// int8 dot products chooseIntDot picks for `target`, and its GFNI reader
/// and AMX tiles, and binds the weight table to the module's resource
/// blobs.
llvm::Expected<LoweredModel> lowerModule(ModuleOp module,
                                         const CompileOptions &options,
                                         int64_t vectorWidth,
                                         const TargetKernels &target);

/// The int8 dot products to emit: options.intDot ("vnni" refused where
/// `best`, what the target runs, is generic), or `best` when it is empty.
llvm::Expected<IntDot> chooseIntDot(const CompileOptions &options, IntDot best);

/// A target machine for options.targetCPU/targetFeatures (the host with all
/// its features when the CPU is empty or "native"), position-independent
/// when `pic`.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
makeTargetMachine(const CompileOptions &options, bool pic);

/// The vector width of the kernels for `tm`: 16 lanes with AVX-512F, else 8.
int64_t targetVectorWidth(const llvm::TargetMachine &tm);

/// Registers the translations to LLVM IR with `ctx`.
void registerTranslations(MLIRContext *ctx);

} // namespace runner
} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_LIB_RUNNER_RUNNERINTERNAL_H
