//===- main.cpp - a downstream user of the installed qopt -------*- C++ -*-===//
//
// Parses upstream-quant IR, runs qopt-import-quant and the canonicalizer
// through a PassManager built from the installed qopt libraries, prints the
// result, and checks the runtime's slice agrees with a folded one.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Runtime/QOptRuntime.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

static const char *kInput = R"mlir(
func.func @consumer(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %q = quant.qcast %x : tensor<2x4xf32> to tensor<2x4x!quant.uniform<i8:f32, 0.25>>
  %y = quant.dcast %q : tensor<2x4x!quant.uniform<i8:f32, 0.25>> to tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
)mlir";

int main() {
  mlir::DialectRegistry registry;
  registry.insert<mlir::qopt::QOptDialect, mlir::func::FuncDialect,
                  mlir::quant::QuantDialect, mlir::arith::ArithDialect,
                  mlir::tensor::TensorDialect>();
  mlir::qopt::registerQOptPasses();
  mlir::MLIRContext context(registry);

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kInput, &context);
  if (!module) {
    llvm::errs() << "consumer: failed to parse the input\n";
    return 1;
  }
  mlir::PassManager pm(&context);
  pm.addPass(mlir::qopt::createImportQuantPass());
  pm.addPass(mlir::createCanonicalizerPass());
  if (mlir::failed(pm.run(*module))) {
    llvm::errs() << "consumer: pass pipeline failed\n";
    return 1;
  }
  module->print(llvm::outs());

  // The runtime is usable from the same package.
  uint8_t codes[2] = {24, 255}, sliced[2] = {0, 0};
  if (qopt_slice_codes(codes, 2, 8, 4, sliced) != QOPT_OK)
    return 1;
  llvm::outs() << "// runtime slice: " << unsigned(sliced[0]) << " "
               << unsigned(sliced[1]) << "\n";
  return 0;
}
