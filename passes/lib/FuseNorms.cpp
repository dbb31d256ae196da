//===- FuseNorms.cpp - RMSNorm scales into linears --------------*- C++ -*-===//
//
// qopt-fuse-norms: linear(rms_norm(x, g), W) == linear(rms_norm(x, 1),
// W diag(g)). Each constant RMSNorm scale is multiplied into the weights of
// the linears that read the norm's output, and the norm keeps a splat 1.0
// scale (a weightless norm commutes with an orthogonal rotation of its
// input, which qopt-fold-rotations needs).
//
//===----------------------------------------------------------------------===//

#include "WeightConstants.h"

#include "qopt/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_FUSENORMSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {
struct FuseNormsPass
    : public mlir::qopt::impl::FuseNormsPassBase<FuseNormsPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  /// Checks that every user of `norm` is a linear reading it as its input
  /// with a static 2-D float constant weight; otherwise returns the reason.
  std::optional<std::string> whyNotFusable(RMSNormOp norm,
                                           SmallVectorImpl<LinearOp> &linears);
};
} // namespace

std::optional<std::string>
FuseNormsPass::whyNotFusable(RMSNormOp norm,
                             SmallVectorImpl<LinearOp> &linears) {
  for (OpOperand &use : norm.getResult().getUses()) {
    auto linear = dyn_cast<LinearOp>(use.getOwner());
    if (!linear || use.getOperandNumber() != 0)
      return "its output is read by " +
             use.getOwner()->getName().getStringRef().str() +
             ", not only as the input of qopt.linear ops";
    if (!getWeightValue(linear.getWeight()))
      return std::string("a linear reading it has a weight that is neither "
                         "a static float constant nor a quantized weight "
                         "built from constants");
    linears.push_back(linear);
  }
  if (linears.empty())
    return std::string("its output has no users");
  return std::nullopt;
}

void FuseNormsPass::runOnOperation() {
  ModuleOp module = getOperation();
  // One scaled copy per (weight, scale) pair: @prefill and @decode share
  // resources, and so may two linears.
  llvm::DenseMap<std::pair<Attribute, Attribute>, ElementsAttr> scaled;
  bool untied = false;
  SmallVector<RMSNormOp> norms;
  llvm::DenseSet<Attribute> tables;
  module.walk([&](Operation *op) {
    if (auto norm = dyn_cast<RMSNormOp>(op))
      norms.push_back(norm);
    else if (auto embedding = dyn_cast<EmbeddingOp>(op))
      if (std::optional<WeightValue> table =
              getWeightValue(embedding.getTable()))
        tables.insert(table->key);
  });
  for (RMSNormOp norm : norms) {
    ElementsAttr scaleAttr = constantElements(norm.getWeight());
    if (!scaleAttr) {
      norm.emitWarning("qopt-fuse-norms: not fused: the scale is not a "
                       "constant");
      continue;
    }
    if (isAllOnes(scaleAttr))
      continue;
    FailureOr<SmallVector<float>> scale = readWeight(scaleAttr);
    if (failed(scale)) {
      norm.emitWarning("qopt-fuse-norms: not fused: the scale's data is "
                       "elided or malformed");
      continue;
    }
    SmallVector<LinearOp> linears;
    if (std::optional<std::string> why = whyNotFusable(norm, linears)) {
      norm.emitWarning("qopt-fuse-norms: not fused: ") << *why;
      continue;
    }

    // Compute every new weight first, so a malformed one changes nothing.
    SmallVector<ElementsAttr> newWeights;
    for (LinearOp linear : linears) {
      WeightValue weightValue = *getWeightValue(linear.getWeight());
      auto key = std::make_pair(weightValue.key, Attribute(scaleAttr));
      auto it = scaled.find(key);
      if (it == scaled.end()) {
        FailureOr<SmallVector<float>> weight = weightValue.read();
        if (failed(weight))
          break;
        RankedTensorType type = weightValue.type;
        int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
        SmallVector<double> product(rows * cols);
        for (int64_t n = 0; n < rows; ++n)
          for (int64_t k = 0; k < cols; ++k)
            product[n * cols + k] =
                static_cast<double>((*weight)[n * cols + k]) *
                static_cast<double>((*scale)[k]);
        std::string name =
            blobBaseName(cast<ElementsAttr>(weightValue.key), linear) +
            ".normed";
        it = scaled
                 .insert({key, makeFloatWeight(weightValue.constant, type, name,
                                               ArrayRef<double>(product))})
                 .first;
      }
      newWeights.push_back(it->second);
    }
    if (newWeights.size() != linears.size()) {
      norm.emitWarning("qopt-fuse-norms: not fused: a weight's data is "
                       "elided or malformed");
      continue;
    }

    for (auto [linear, attr] : llvm::zip(linears, newWeights)) {
      // A classifier that shared the embedding table now has its own.
      untied |= tables.contains(getWeightValue(linear.getWeight())->key);
      replaceWeight(linear.getWeightMutable(), attr);
    }
    Operation *oldScale = norm.getWeight().getDefiningOp();
    OpBuilder b(norm);
    auto scaleType = cast<RankedTensorType>(norm.getWeight().getType());
    norm.getWeightMutable().assign(arith::ConstantOp::create(
        b, oldScale->getLoc(),
        DenseElementsAttr::get(scaleType, b.getF32FloatAttr(1.0f))));
    if (oldScale->use_empty())
      oldScale->erase();
  }

  if (!untied)
    return;
  if (auto config = module->getAttrOfType<DictionaryAttr>("qopt.model")) {
    NamedAttrList attrs(config);
    attrs.set("tied_embeddings", BoolAttr::get(&getContext(), false));
    module->setAttr("qopt.model", attrs.getDictionary(&getContext()));
  }
}
