//===- Pipelines.cpp - The qopt-to-llvm pipeline ----------------*- C++ -*-===//
//
// The named end-to-end lowering, so tools, tests and benchmarks share one
// spelling: `qopt-opt --qopt-to-llvm`. docs/lowering.md draws it.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"
#include "qopt/Runtime/AmxTiles.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToOpenMP/SCFToOpenMP.h"
#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

void mlir::qopt::registerLoweringDialects(DialectRegistry &registry) {
  registry.insert<amx::AMXDialect, arith::ArithDialect,
                  bufferization::BufferizationDialect, cf::ControlFlowDialect,
                  func::FuncDialect, linalg::LinalgDialect, LLVM::LLVMDialect,
                  math::MathDialect, memref::MemRefDialect, omp::OpenMPDialect,
                  scf::SCFDialect, tensor::TensorDialect, vector::VectorDialect,
                  qopt::QOptDialect>();
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(
      registry);
  linalg::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  qopt::registerBufferizableOpInterfaceExternalModels(registry);
}

void mlir::qopt::registerLoweringTranslations(DialectRegistry &registry) {
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
}

llvm::Error mlir::qopt::loadOpenMPRuntime() {
  std::string message;
  if (llvm::sys::DynamicLibrary::LoadLibraryPermanently(QOPT_LIBOMP, &message))
    return llvm::createStringError("cannot load the OpenMP runtime '" +
                                   llvm::Twine(QOPT_LIBOMP) + "': " + message);
  return llvm::Error::success();
}

void mlir::qopt::buildQOptToLoopsPipeline(
    OpPassManager &pm, const QOptToLLVMPipelineOptions &options) {
  // Tensors: dequantize-matmul fusion, model ops to linalg, quantized
  // tensors to kernel ops, the runtime ABI.
  pm.addPass(createFuseDequantMatmulPass());
  pm.addNestedPass<func::FuncOp>(createConvertQOptModelToLinalgPass());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createLowerQuantizedTypesPass());
  pm.addPass(createPrepareABIPass());
  pm.addPass(createCanonicalizerPass());
  // The last kernel writes straight into the out-parameter buffer.
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  // Buffers: one-shot bufferization, then ownership-based deallocation
  // frees every buffer after its last use.
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  bufferize.unknownTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  // Kernels and linalg to loops, then everything to LLVM.
  ConvertQOptKernelsToLoopsPassOptions kernels;
  kernels.vectorWidth = options.vectorWidth;
  kernels.int8Activations = options.int8Activations;
  kernels.intDot = options.intDot;
  kernels.panelTokens = options.panelTokens;
  kernels.gfni = options.gfni;
  kernels.amx = options.amx;
  kernels.amxBf16 = options.amxBf16;
  kernels.decodePrefetchBits = options.decodePrefetchBits;
  kernels.f16Activations = options.f16Activations;
  pm.addPass(createConvertQOptKernelsToLoopsPass(kernels));
  // Parallel dimensions of linalg ops (elementwise, rope, the embedding
  // gather, the row loop of norms) become scf.parallel: OpenMP loops below.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createDeallocAfterLastUsePass());
}

void mlir::qopt::buildQOptToLLVMPipeline(
    OpPassManager &pm, const QOptToLLVMPipelineOptions &options) {
  buildQOptToLoopsPipeline(pm, options);
  // The kernels' scf.parallel loops become omp.parallel + omp.wsloop
  // (schedules by qopt-parallel-schedule: by default the kernels' hints,
  // guided for matmul rows of 4 KiB or more, else static; the thread count
  // is the OpenMP runtime's, set by the tools' -t), then convert-qopt-to-llvm
  // lowers the remaining scf to cf itself (see its description); or plain loops
  // and branches without OpenMP. Each of those loops is first moved into a
  // function of its own, so that the OpenMP translation's outlining stays
  // linear in the size of the model (qopt-outline-parallel-loops).
  pm.addPass(createOutlineParallelLoopsPass());
  if (options.openmp) {
    pm.addPass(createConvertSCFToOpenMPPass());
    ParallelSchedulePassOptions schedule;
    schedule.schedule = options.parallelSchedule;
    pm.addPass(createParallelSchedulePass(schedule));
  } else
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

mlir::qopt::IntDot
mlir::qopt::intDotFor(llvm::function_ref<bool(StringRef)> has,
                      int64_t vectorWidth) {
  bool vnni512 = has("avx512vnni") && has("avx512bw");
  if (vectorWidth >= 16)
    return vnni512 ? IntDot::Vnni : IntDot::Generic;
  return (vnni512 && has("avx512vl")) || has("avxvnni") ? IntDot::Vnni
                                                        : IntDot::Generic;
}

/// Whether this host's CPU has each feature `has` asks for (LLVM's x86
/// names), answered by `decide`.
template <typename Decide> static auto onHostFeatures(Decide decide) {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  return decide([&](StringRef name) {
    auto it = features.find(name);
    return it != features.end() && it->second;
  });
}

mlir::qopt::IntDot mlir::qopt::hostIntDot(int64_t vectorWidth) {
  return onHostFeatures([&](auto has) { return intDotFor(has, vectorWidth); });
}

void mlir::qopt::registerQOptToLLVMPipeline() {
  PassPipelineRegistration<QOptToLLVMPipelineOptions>(
      "qopt-to-loops",
      "The first half of qopt-to-llvm: qopt model IR on tensors to scf/vector "
      "loops on buffers (fusion, linalg, kernel ops, one-shot bufferization, "
      "deallocation, kernels to loops), before the conversion to LLVM",
      buildQOptToLoopsPipeline);
  PassPipelineRegistration<QOptToLLVMPipelineOptions>(
      "qopt-to-llvm",
      "Lower qopt model IR on tensors to the LLVM dialect (linalg, kernels, "
      "one-shot bufferization, deallocation, vector loops, weight table ABI)",
      buildQOptToLLVMPipeline);
}

bool mlir::qopt::gfniFor(llvm::function_ref<bool(StringRef)> has,
                         int64_t vectorWidth) {
  return vectorWidth == 16 && has("gfni") && has("avx512bw") &&
         has("avx512vbmi");
}

bool mlir::qopt::hostGfni(int64_t vectorWidth) {
  return onHostFeatures([&](auto has) { return gfniFor(has, vectorWidth); });
}

int64_t mlir::qopt::decodePrefetchBitsFor(StringRef cpu) {
  return cpu.starts_with("znver") ? 3 : 8;
}

int64_t mlir::qopt::hostDecodePrefetchBits() {
  return decodePrefetchBitsFor(llvm::sys::getHostCPUName());
}

bool mlir::qopt::amxFor(llvm::function_ref<bool(StringRef)> has,
                        int64_t vectorWidth) {
  return vectorWidth == 16 && has("amx-tile") && has("amx-int8") &&
         has("avx512bw");
}

bool mlir::qopt::hostAmx(int64_t vectorWidth) {
  return onHostFeatures([&](auto has) { return amxFor(has, vectorWidth); }) &&
         ::qopt::runtime::requestAmxTiles();
}

bool mlir::qopt::amxBf16For(llvm::function_ref<bool(StringRef)> has,
                            int64_t vectorWidth) {
  return vectorWidth == 16 && has("amx-tile") && has("amx-bf16") &&
         has("avx512bf16") && has("avx512bw");
}

bool mlir::qopt::hostAmxBf16(int64_t vectorWidth) {
  return onHostFeatures(
             [&](auto has) { return amxBf16For(has, vectorWidth); }) &&
         ::qopt::runtime::requestAmxTiles();
}
