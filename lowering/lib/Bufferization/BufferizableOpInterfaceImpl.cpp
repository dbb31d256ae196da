//===- BufferizableOpInterfaceImpl.cpp - Kernel ops -------------*- C++ -*-===//
//
// External BufferizableOpInterface models of the qopt.kernel_* ops, so that
// one-shot bufferization handles them like linalg ops: each is in
// destination-passing style, its inits alias its results, its other tensor
// operands are only read, and it overwrites its inits entirely (an init is
// not read, so bufferization never copies into it). Bufferizing builds the
// same op on buffers, without results. qopt.observe (calibration) only
// reads its operand.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"
#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::bufferization;
using namespace mlir::qopt;

namespace {
template <typename OpTy>
struct KernelOpInterface
    : public DstBufferizableOpInterfaceExternalModel<KernelOpInterface<OpTy>,
                                                     OpTy> {
  bool bufferizesToMemoryRead(Operation *op, OpOperand &operand,
                              const AnalysisState &) const {
    // qopt.kernel_hadamard transforms its init in place.
    if (isa<KernelHadamardOp>(op))
      return true;
    return !cast<DestinationStyleOpInterface>(op).isDpsInit(&operand);
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto dps = cast<DestinationStyleOpInterface>(op);
    SmallVector<Value> operands, initBuffers;
    for (OpOperand &operand : op->getOpOperands()) {
      Value value = operand.get();
      if (!isa<TensorType>(value.getType())) {
        operands.push_back(value);
        continue;
      }
      FailureOr<Value> buffer = getBuffer(rewriter, value, options, state);
      if (failed(buffer))
        return failure();
      operands.push_back(*buffer);
      if (dps.isDpsInit(&operand))
        initBuffers.push_back(*buffer);
    }
    rewriter.setInsertionPoint(op);
    OperationState bufferized(op->getLoc(), op->getName());
    bufferized.addOperands(operands);
    bufferized.propertiesAttr = op->getPropertiesAsAttribute();
    bufferized.addAttributes(llvm::to_vector(op->getDiscardableAttrs()));
    rewriter.create(bufferized);
    replaceOpWithBufferizedValues(rewriter, op, initBuffers);
    return success();
  }
};

/// qopt.observe reads its operand and writes nothing: bufferizing passes
/// the operand's buffer to the same op.
struct ObserveOpInterface
    : public BufferizableOpInterface::ExternalModel<ObserveOpInterface,
                                                    ObserveOp> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &,
                               const AnalysisState &) const {
    return false;
  }
  AliasingValueList getAliasingValues(Operation *, OpOperand &,
                                      const AnalysisState &) const {
    return {};
  }
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto observe = cast<ObserveOp>(op);
    FailureOr<Value> buffer =
        getBuffer(rewriter, observe.getInput(), options, state);
    if (failed(buffer))
      return failure();
    rewriter.modifyOpInPlace(
        op, [&] { observe.getInputMutable().assign(*buffer); });
    return success();
  }
};

template <typename... Ops> void attach(MLIRContext *ctx) {
  (Ops::template attachInterface<KernelOpInterface<Ops>>(*ctx), ...);
}
} // namespace

void mlir::qopt::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, QOptDialect *) {
    attach<KernelMatmulOp, KernelGatherOp, KernelDequantizeOp, KernelQuantizeOp,
           KernelRepackOp, KernelAttentionOp, KernelHadamardOp>(ctx);
    ObserveOp::attachInterface<ObserveOpInterface>(*ctx);
  });
}
