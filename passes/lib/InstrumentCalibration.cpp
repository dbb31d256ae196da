//===- InstrumentCalibration.cpp - Observe linear inputs --------*- C++ -*-===//
//
// qopt-instrument-calibration: a qopt.observe of each distinct input of the
// role-tagged qopt.linear ops, numbered by (layer, roles) so that @prefill
// and @decode share sites, and the module attribute qopt.observe_sites.
//
//===----------------------------------------------------------------------===//

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/STLExtras.h"

#include <map>

namespace mlir::qopt {
#define GEN_PASS_DEF_INSTRUMENTCALIBRATIONPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {
struct InstrumentCalibrationPass
    : public mlir::qopt::impl::InstrumentCalibrationPassBase<
          InstrumentCalibrationPass> {
  using Base::Base;

  void runOnOperation() override;
};

/// The layer of `op`: its qopt.layer, or -1 (the classifier).
int64_t layerOf(Operation *op) {
  if (auto layer = op->getAttrOfType<IntegerAttr>("qopt.layer"))
    return layer.getInt();
  return -1;
}
} // namespace

void InstrumentCalibrationPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (layer < -2) {
    module.emitError() << "qopt-instrument-calibration: layer must be -1 "
                          "(classifier), a layer index, or left out, got "
                       << static_cast<int64_t>(layer);
    return signalPassFailure();
  }
  if (module->hasAttr("qopt.observe_sites")) {
    module.emitError() << "qopt-instrument-calibration: the module is "
                          "already instrumented (qopt.observe_sites)";
    return signalPassFailure();
  }
  // (layer, sorted roles) -> site; its column count.
  std::map<std::pair<int64_t, std::vector<std::string>>, int64_t> sites;
  SmallVector<Attribute> table;
  bool failedAny = false;
  module.walk([&](func::FuncOp func) {
    // Input value -> the linears reading it, in program order.
    llvm::MapVector<Value, SmallVector<LinearOp>> readers;
    func.walk([&](LinearOp linear) {
      auto role = linear->getAttrOfType<StringAttr>("qopt.role");
      if (!role)
        return;
      int64_t l = layerOf(linear);
      if (layer != -2 && l != layer)
        return;
      readers[linear.getInput()].push_back(linear);
    });
    for (auto &[input, linears] : readers) {
      std::vector<std::string> roles;
      for (LinearOp linear : linears)
        roles.push_back(
            linear->getAttrOfType<StringAttr>("qopt.role").getValue().str());
      llvm::sort(roles);
      roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
      int64_t l = layerOf(linears.front());
      if (llvm::any_of(linears,
                       [&](LinearOp op) { return layerOf(op) != l; })) {
        linears.front().emitError()
            << "qopt-instrument-calibration: one input read by linears of "
               "different layers";
        failedAny = true;
        return;
      }
      // The linear verifier guarantees a static feature dimension.
      int64_t cols = cast<RankedTensorType>(input.getType()).getDimSize(1);
      auto [it, inserted] =
          sites.insert({{l, roles}, static_cast<int64_t>(sites.size())});
      if (inserted) {
        Builder b(module.getContext());
        SmallVector<Attribute> roleAttrs;
        for (const std::string &role : roles)
          roleAttrs.push_back(b.getStringAttr(role));
        table.push_back(b.getDictionaryAttr(
            {b.getNamedAttr("site", b.getI64IntegerAttr(it->second)),
             b.getNamedAttr("layer", b.getI64IntegerAttr(l)),
             b.getNamedAttr("roles", b.getArrayAttr(roleAttrs)),
             b.getNamedAttr("cols", b.getI64IntegerAttr(cols))}));
      }
      // Observed right before the first reader.
      OpBuilder b(linears.front());
      ObserveOp::create(b, linears.front().getLoc(), input, it->second);
    }
  });
  if (failedAny)
    return signalPassFailure();
  module->setAttr("qopt.observe_sites",
                  ArrayAttr::get(module.getContext(), table));
}
