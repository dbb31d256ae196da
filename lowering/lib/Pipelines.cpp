//===- Pipelines.cpp - The qopt-to-llvm pipeline ----------------*- C++ -*-===//
//
// The named end-to-end lowering, so tools, tests and benchmarks share one
// spelling: `qopt-opt --qopt-to-llvm`.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

void mlir::qopt::buildQOptToLLVMPipeline(
    OpPassManager &pm, const QOptToLLVMPipelineOptions &options) {
  ConvertQOptToLoopsPassOptions loops;
  loops.vectorWidth = options.vectorWidth;
  pm.addPass(createConvertQOptToLoopsPass(loops));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertQOptToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

int64_t mlir::qopt::hostVectorWidth() {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  auto it = features.find("avx512f");
  return it != features.end() && it->second ? 16 : 8;
}

void mlir::qopt::registerQOptToLLVMPipeline() {
  PassPipelineRegistration<QOptToLLVMPipelineOptions>(
      "qopt-to-llvm",
      "Lower qopt model IR on tensors to the LLVM dialect (loops, vector "
      "dot products, weight table ABI)",
      buildQOptToLLVMPipeline);
}
