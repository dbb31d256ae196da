//===- QOptToLLVM.cpp - Buffers, loops and vectors to LLVM ------*- C++ -*-===//
//
// The convert-qopt-to-llvm pass: a single full conversion to the LLVM
// dialect of what the kernel lowering produces, with the pattern for
// qopt.weight_ref (an address loaded from the runtime's weight table, viewed
// as a static memref descriptor).
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/MemRefBuilder.h"
#include "mlir/Conversion/LLVMCommon/Pattern.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/OpenMPToLLVM/ConvertOpenMPToLLVM.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVM.h"
#include "mlir/Dialect/AMX/Transforms.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CONVERTQOPTTOLLVMPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {
/// qopt.weight_ref %table[i] -> inttoptr(load(table.aligned[i])) viewed as a
/// static, identity-layout memref descriptor.
struct WeightRefLowering : public ConvertOpToLLVMPattern<WeightRefOp> {
  using ConvertOpToLLVMPattern::ConvertOpToLLVMPattern;

  LogicalResult
  matchAndRewrite(WeightRefOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MemRefType resultType = op.getType();
    if (!resultType.getLayout().isIdentity())
      return rewriter.notifyMatchFailure(op, "needs an identity layout");
    MemRefDescriptor table(adaptor.getTable());
    Value base = table.alignedPtr(rewriter, loc);
    auto i64 = rewriter.getI64Type();
    auto ptrType = LLVM::LLVMPointerType::get(rewriter.getContext());
    Value index = LLVM::ConstantOp::create(
        rewriter, loc, i64, rewriter.getI64IntegerAttr(op.getIndex()));
    Value slot = LLVM::GEPOp::create(rewriter, loc, ptrType, i64, base,
                                     ArrayRef<LLVM::GEPArg>{index});
    Value address = LLVM::LoadOp::create(rewriter, loc, i64, slot);
    Value pointer = LLVM::IntToPtrOp::create(rewriter, loc, ptrType, address);
    Value descriptor = MemRefDescriptor::fromStaticShape(
        rewriter, loc, *getTypeConverter(), resultType, pointer);
    rewriter.replaceOp(op, descriptor);
    return success();
  }
};

struct ConvertQOptToLLVMPass
    : public qopt::impl::ConvertQOptToLLVMPassBase<ConvertQOptToLLVMPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ModuleOp module = getOperation();
    LowerToLLVMOptions options(ctx);
    LLVMTypeConverter converter(ctx, options);
    RewritePatternSet patterns(ctx);
    SymbolTableCollection symbolTables;

    populateQOptToLLVMConversionPatterns(converter, patterns);
    populateVectorToLLVMConversionPatterns(converter, patterns,
                                           /*reassociateFPReductions=*/true);
    populateFinalizeMemRefToLLVMConversionPatterns(converter, patterns,
                                                   &symbolTables);
    populateMathToLLVMConversionPatterns(converter, patterns);
    arith::populateArithToLLVMConversionPatterns(converter, patterns);
    index::populateIndexToLLVMConversionPatterns(converter, patterns);
    cf::populateControlFlowToLLVMConversionPatterns(converter, patterns);
    ub::populateUBToLLVMConversionPatterns(converter, patterns);
    populateFuncToLLVMConversionPatterns(converter, patterns, &symbolTables);
    populateOpenMPToLLVMConversionPatterns(converter, patterns);
    // AMX tiles of the prefill GEMM (the `amx` option) become the LLVM
    // intrinsics that take their shapes (tileloadd64.internal, ...).
    populateAMXLegalizeForLLVMExportPatterns(converter, patterns);
    // scf lowers to cf in this same conversion: convert-scf-to-openmp wraps
    // each parallel loop body in a single-block memref.alloca_scope, which
    // would be invalid between passes once its loops became branches; here
    // the scope is inlined (stack save/restore) as its loops are lowered.
    populateSCFToControlFlowConversionPatterns(patterns);

    LLVMConversionTarget target(*ctx);
    target.addLegalOp<ModuleOp>();
    configureOpenMPToLLVMConversionLegality(target, converter);
    configureAMXLegalizeForExportTarget(target);
    if (failed(applyFullConversion(module, target, std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace

void mlir::qopt::populateQOptToLLVMConversionPatterns(
    LLVMTypeConverter &converter, RewritePatternSet &patterns) {
  patterns.add<WeightRefLowering>(converter);
}
