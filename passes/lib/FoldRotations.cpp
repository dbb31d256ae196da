//===- FoldRotations.cpp - QuaRot/SpinQuant rotations on IR -----*- C++ -*-===//
//
// qopt-fold-rotations: rotates a Llama decoder by orthogonal matrices that
// cancel in exact arithmetic. R1 (the residual stream) and R2 (v_proj's
// heads) are folded into the weights; R3 (queries and keys after RoPE) and
// R4 (down_proj's input) become online qopt.hadamard ops, R4's inverse
// folded into down_proj. The pass first checks the structure every
// requested rotation needs, then rewrites: an error changes nothing. The
// rotations and the structure analysis are in Rotations.h.
//
// Conventions: a rotation Q multiplies row vectors (x' = x Q). A weight W
// of a linear y = x W^T that reads a rotated input gets W' = W Q, i.e. every
// row w becomes Q^T w; one that must write a rotated output gets W' = Q^T W,
// i.e. every column c becomes Q^T c. Both are "apply Q^T to vectors of the
// weight", along rows or along columns, in segments of Q's size (the heads
// for R2).
//
//===----------------------------------------------------------------------===//

#include "Rotations.h"
#include "WeightConstants.h"

#include "qopt/Runtime/Hadamard.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

#include <map>
#include <memory>

namespace mlir::qopt {
#define GEN_PASS_DEF_FOLDROTATIONSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::rotation;

namespace rt = ::qopt::runtime;

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

namespace {
struct FoldRotationsPass
    : public mlir::qopt::impl::FoldRotationsPassBase<FoldRotationsPass> {
  using Base::Base;

  void runOnOperation() override;

private:
  /// Reports `refusal` as an error (or, with allow-partial, a warning) for
  /// rotation `which`; returns true if the pass must stop.
  bool refuse(StringRef which, const Refusal &refusal);
};

/// The rotations of one run of the pass, built once per size (and seed).
class RotationCache {
public:
  const Rotation *hadamard(int64_t n) {
    auto &slot = cache["h" + std::to_string(n)];
    if (!slot)
      slot = Rotation::hadamard(n);
    return slot.get();
  }
  const Rotation *random(int64_t n, uint64_t seed) {
    auto &slot = cache["r" + std::to_string(n) + "." + std::to_string(seed)];
    if (!slot)
      slot = Rotation::random(n, seed);
    return slot.get();
  }

private:
  std::map<std::string, std::unique_ptr<Rotation>> cache;
};
} // namespace

bool FoldRotationsPass::refuse(StringRef which, const Refusal &refusal) {
  if (allowPartial) {
    refusal.op->emitWarning()
        << "qopt-fold-rotations: " << which << " skipped: " << refusal.why;
    return false;
  }
  refusal.op->emitError() << "qopt-fold-rotations: " << which << ": "
                          << refusal.why;
  return true;
}

namespace {
/// Phase 1 of the pass: checks every requested rotation of a function and
/// records its edits (weights to rotate, online Hadamards to insert). Each
/// plan* method returns true if the pass must stop (a refusal without
/// allow-partial).
class RotationPlanner {
public:
  using RefuseFn = llvm::function_ref<bool(StringRef, const Refusal &)>;

  RotationPlanner(bool useRandom, uint64_t seed, RefuseFn refuse)
      : useRandom(useRandom), seed(seed), refuse(refuse) {}

  bool planR1(func::FuncOp func);
  bool planR2(func::FuncOp func, ArrayRef<AttentionOp> attentions);
  bool planR3(func::FuncOp func, ArrayRef<AttentionOp> attentions);
  bool planR4(func::FuncOp func);

  /// The transforms of each weight operand, in order.
  llvm::MapVector<OpOperand *, SmallVector<WeightTransform>> edits;
  /// R3: the query/key values that get an online Hadamard, and their
  /// attention.
  SmallVector<std::pair<Value, Operation *>> onlineQK;
  /// R4: the down projections whose input gets an online Hadamard.
  SmallVector<LinearOp> onlineDown;

private:
  const Rotation *hadamard(int64_t n) { return rotationsBySize.hadamard(n); }
  /// The rotation (kind) for r1 / r2 of size n; r2 of layer `layer`.
  const Rotation *foldedRotation(int64_t n, int64_t layer) {
    if (useRandom)
      return rotationsBySize.random(n, seed + static_cast<uint64_t>(layer + 1));
    return hadamard(n);
  }
  static Refusal sizeRefusal(Operation *op, int64_t n, StringRef what) {
    return Refusal{op, "qopt cannot construct a Hadamard matrix of order " +
                           std::to_string(n) + " (" + what.str() +
                           "); supported: K * 2^m for K = 1 or a Paley / "
                           "Williamson order, see docs/hadamard.md"};
  }

  bool useRandom;
  uint64_t seed;
  RefuseFn refuse;
  RotationCache rotationsBySize;
};
} // namespace

/// R1: the residual stream, rotated in the embedding, the linears that read
/// it (rows) and those that write it (columns).
bool RotationPlanner::planR1(func::FuncOp func) {
  Refusal refusal;
  FailureOr<ResidualStream> stream = findResidualStream(func, refusal);
  if (succeeded(stream) && !useRandom && !rt::factorHadamardSize(stream->dim)) {
    refusal = sizeRefusal(stream->embedding, stream->dim, "hidden size");
    stream = failure();
  }
  if (failed(stream))
    return refuse("r1", refusal);
  const Rotation *r1 = foldedRotation(stream->dim, -1);
  edits[&stream->embedding.getTableMutable()].push_back(
      {WeightTransform::Rows, r1});
  for (LinearOp reader : stream->readers)
    edits[&reader.getWeightMutable()].push_back({WeightTransform::Rows, r1});
  for (LinearOp writer : stream->writers)
    edits[&writer.getWeightMutable()].push_back({WeightTransform::Columns, r1});
  return false;
}

/// R2: per layer, between the value and output projections of each head.
bool RotationPlanner::planR2(func::FuncOp func,
                             ArrayRef<AttentionOp> attentions) {
  SmallVector<HeadPair> pairs;
  std::optional<Refusal> refusal;
  if (attentions.empty())
    refusal = Refusal{func, "no qopt.attention in the function"};
  for (AttentionOp attention : attentions) {
    if (refusal)
      break;
    Refusal r;
    FailureOr<HeadPair> pair = findHeadPair(attention, r);
    if (succeeded(pair) && !useRandom &&
        !rt::factorHadamardSize(attention.getHeadDim())) {
      r = sizeRefusal(attention, attention.getHeadDim(), "head_dim");
      pair = failure();
    }
    if (failed(pair))
      refusal = r;
    else
      pairs.push_back(*pair);
  }
  if (refusal)
    return refuse("r2", *refusal);
  for (HeadPair &pair : pairs) {
    const Rotation *r2 =
        foldedRotation(pair.attention.getHeadDim(), pair.attention.getLayer());
    edits[&pair.value.getWeightMutable()].push_back(
        {WeightTransform::Columns, r2});
    edits[&pair.output.getWeightMutable()].push_back(
        {WeightTransform::Rows, r2});
  }
  return false;
}

/// R3: online Hadamards on the attention's queries and keys (after RoPE).
bool RotationPlanner::planR3(func::FuncOp func,
                             ArrayRef<AttentionOp> attentions) {
  std::optional<Refusal> refusal;
  if (attentions.empty())
    refusal = Refusal{func, "no qopt.attention in the function"};
  for (AttentionOp attention : attentions)
    if (!refusal && !rt::factorHadamardSize(attention.getHeadDim()))
      refusal = sizeRefusal(attention, attention.getHeadDim(), "head_dim");
  if (refusal)
    return refuse("r3", *refusal);
  for (AttentionOp attention : attentions) {
    onlineQK.push_back({attention.getQuery(), attention});
    onlineQK.push_back({attention.getKey(), attention});
  }
  return false;
}

/// R4: an online Hadamard on the down projection's input, folded into its
/// weight's rows.
bool RotationPlanner::planR4(func::FuncOp func) {
  SmallVector<LinearOp> downs;
  std::optional<Refusal> refusal;
  func.walk([&](LinearOp linear) {
    if (linear.getInput().getDefiningOp<SwiGLUOp>())
      downs.push_back(linear);
  });
  if (downs.empty())
    refusal = Refusal{func, "no qopt.linear reads a qopt.swiglu (the MLP's "
                            "down projection)"};
  for (LinearOp down : downs) {
    if (refusal)
      break;
    int64_t width = down.getWeight().getType().getDimSize(1);
    std::string why;
    if (failed(checkWeight(down, down.getWeight(), WeightTransform::Rows, width,
                           why)))
      refusal = Refusal{down, why};
    else if (!rt::factorHadamardSize(width))
      refusal = sizeRefusal(down, width, "MLP width");
  }
  if (refusal)
    return refuse("r4", *refusal);
  for (LinearOp down : downs) {
    edits[&down.getWeightMutable()].push_back(
        {WeightTransform::Rows,
         hadamard(down.getWeight().getType().getDimSize(1))});
    onlineDown.push_back(down);
  }
  return false;
}

/// Phase 2: the rotated weights, computed once per weight and transform list
/// (@prefill and @decode share resources). Fails, with an error, on a weight
/// whose data is elided or malformed.
static FailureOr<SmallVector<std::pair<OpOperand *, ElementsAttr>>>
rotateWeights(
    MLIRContext *ctx,
    const llvm::MapVector<OpOperand *, SmallVector<WeightTransform>> &edits) {
  llvm::DenseMap<std::pair<Attribute, StringAttr>, ElementsAttr> rotated;
  SmallVector<std::pair<OpOperand *, ElementsAttr>> newWeights;
  for (auto &[operand, transforms] : edits) {
    WeightValue weight = *getWeightValue(operand->get());
    std::string keyText;
    for (const WeightTransform &t : transforms)
      keyText += (t.side == WeightTransform::Rows ? "R:" : "C:") +
                 t.rotation->key() + ";";
    auto key = std::make_pair(weight.key, StringAttr::get(ctx, keyText));
    auto it = rotated.find(key);
    if (it == rotated.end()) {
      FailureOr<SmallVector<float>> values = weight.read();
      if (failed(values)) {
        operand->getOwner()->emitError()
            << "qopt-fold-rotations: the weight's data is elided or "
               "malformed";
        return failure();
      }
      int64_t rows = weight.type.getDimSize(0),
              cols = weight.type.getDimSize(1);
      SmallVector<double> w(values->begin(), values->end());
      for (const WeightTransform &t : transforms)
        applyTransform(w, rows, cols, t);
      std::string name =
          blobBaseName(cast<ElementsAttr>(weight.key), operand->getOwner()) +
          ".rotated";
      it = rotated
               .insert({key, makeFloatWeight(weight.constant, weight.type, name,
                                             ArrayRef<double>(w))})
               .first;
    }
    newWeights.push_back({operand, it->second});
  }
  return newWeights;
}

/// Phase 3: the online Hadamards of R3 and R4.
static void insertOnlineHadamards(const RotationPlanner &plan) {
  for (auto [value, attention] : plan.onlineQK) {
    OpBuilder b(attention);
    auto headDim = cast<AttentionOp>(attention).getHeadDim();
    auto h =
        HadamardOp::create(b, value.getLoc(), value.getType(), value, headDim);
    value.replaceUsesWithIf(h.getResult(), [&](OpOperand &use) {
      return use.getOwner() == attention;
    });
  }
  for (LinearOp down : plan.onlineDown) {
    OpBuilder b(down);
    Value input = down.getInput();
    auto h = HadamardOp::create(b, input.getLoc(), input.getType(), input,
                                down.getWeight().getType().getDimSize(1));
    down.getInputMutable().assign(h.getResult());
  }
}

void FoldRotationsPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto fail = [&](const Twine &message) {
    module.emitError() << "qopt-fold-rotations: " << message;
    signalPassFailure();
  };
  if (kind != "hadamard" && kind != "random")
    return fail("unknown kind '" + kind + "' (expected hadamard or random)");
  bool want[5] = {false, false, false, false, false};
  SmallVector<StringRef> items;
  StringRef(rotations).split(items, ',');
  for (StringRef item : items) {
    item = item.trim();
    if (item.size() != 2 || item[0] != 'r' || item[1] < '1' || item[1] > '4')
      return fail("unknown rotation '" + item +
                  "' in rotations (expected a comma list of r1, r2, r3, r4)");
    want[item[1] - '0'] = true;
  }

  // Phase 1: check every requested rotation and plan its edits. (The
  // planner keeps a function_ref: the callable must outlive it.)
  auto refuseFn = [&](StringRef which, const Refusal &refusal) {
    return refuse(which, refusal);
  };
  RotationPlanner plan(kind == "random", seed, refuseFn);
  bool failedAny = false;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    SmallVector<AttentionOp> attentions;
    func.walk([&](AttentionOp op) { attentions.push_back(op); });
    if (want[1])
      failedAny |= plan.planR1(func);
    if (want[2])
      failedAny |= plan.planR2(func, attentions);
    if (want[3])
      failedAny |= plan.planR3(func, attentions);
    if (want[4])
      failedAny |= plan.planR4(func);
  }
  if (failedAny)
    return signalPassFailure();

  // Phases 2 and 3: compute the rotated weights, then rewrite.
  auto newWeights = rotateWeights(&getContext(), plan.edits);
  if (failed(newWeights))
    return signalPassFailure();
  for (auto [operand, attr] : *newWeights)
    replaceWeight(*operand, attr);
  insertOnlineHadamards(plan);
}
