//===- BenchJit.h - JIT-compile kernels for the benchmarks ------*- C++ -*-===//
//
// Shared by the benchmarks of compiled kernels: parse a module of kernel
// functions on memrefs, lower it with the qopt-to-llvm pipeline at the host's
// vector width and JIT-compile it at O3 for the host CPU (with the OpenMP
// runtime loaded for the kernels' parallel loops). Any failure aborts with
// the reason: a benchmark cannot run without its kernels.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_BENCH_BENCHJIT_H
#define QOPT_BENCH_BENCHJIT_H

#include "qopt/Conversion/Passes.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace qopt::bench {

/// A context with the dialects and translations the lowering needs.
inline std::unique_ptr<mlir::MLIRContext> makeLoweringContext() {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  mlir::DialectRegistry registry;
  mlir::qopt::registerLoweringDialects(registry);
  mlir::qopt::registerLoweringTranslations(registry);
  return std::make_unique<mlir::MLIRContext>(registry);
}

[[noreturn]] inline void fail(const std::string &message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::abort();
}

/// Parses `source` in `context`, lowers it at the host's vector width (with
/// int8 activations and the host's int8 dot products if `int8Activations`;
/// `panelTokens` >= 0 overrides the pipeline's panel-tokens; the GFNI
/// reader and AMX tiles where the host has them, unless `gfni` or `amx` is
/// false; with `amxBf16`, the prefill GEMM's bf16 AMX tiles where the host
/// has them) and JIT-compiles it.
inline std::unique_ptr<mlir::ExecutionEngine>
jitKernels(mlir::MLIRContext &context, const std::string &source,
           bool int8Activations = false, int64_t panelTokens = -1,
           bool gfni = true, bool amx = true, bool amxBf16 = false) {
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(source,
                                              mlir::ParserConfig(&context));
  mlir::PassManager pm(&context);
  mlir::qopt::QOptToLLVMPipelineOptions options;
  options.vectorWidth = mlir::qopt::hostVectorWidth();
  options.int8Activations = int8Activations;
  if (panelTokens >= 0)
    options.panelTokens = panelTokens;
  options.intDot =
      mlir::qopt::hostIntDot(options.vectorWidth) == mlir::qopt::IntDot::Vnni
          ? "vnni"
          : "generic";
  options.gfni = gfni && mlir::qopt::hostGfni(options.vectorWidth);
  options.amx = amx && mlir::qopt::hostAmx(options.vectorWidth);
  options.amxBf16 = amxBf16 && mlir::qopt::hostAmxBf16(options.vectorWidth);
  mlir::qopt::buildQOptToLLVMPipeline(pm, options);
  if (!module || mlir::failed(pm.run(*module)))
    fail("cannot lower the benchmark kernels:\n" + source);
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    fail(llvm::toString(builder.takeError()));
  auto tm = builder->createTargetMachine();
  if (!tm)
    fail(llvm::toString(tm.takeError()));
  // The options hold a function_ref: the transformer must outlive create().
  std::function<llvm::Error(llvm::Module *)> transformer =
      mlir::makeOptimizingTransformer(/*optLevel=*/3, /*sizeLevel=*/0,
                                      tm->get());
  mlir::ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  if (llvm::Error err = mlir::qopt::loadOpenMPRuntime())
    fail(llvm::toString(std::move(err)));
  auto engine =
      mlir::ExecutionEngine::create(*module, engineOptions, std::move(*tm));
  if (!engine)
    fail(llvm::toString(engine.takeError()));
  return std::move(*engine);
}

} // namespace qopt::bench

#endif // QOPT_BENCH_BENCHJIT_H
