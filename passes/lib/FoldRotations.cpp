//===- FoldRotations.cpp - QuaRot/SpinQuant rotations on IR -----*- C++ -*-===//
//
// qopt-fold-rotations: rotates a Llama decoder by orthogonal matrices that
// cancel in exact arithmetic. R1 (the residual stream) and R2 (v_proj's
// heads) are folded into the weights; R3 (queries and keys after RoPE) and
// R4 (down_proj's input) become online qopt.hadamard ops, R4's inverse
// folded into down_proj. The pass first checks the structure every
// requested rotation needs, then rewrites: an error changes nothing.
//
// Conventions: a rotation Q multiplies row vectors (x' = x Q). A weight W
// of a linear y = x W^T that reads a rotated input gets W' = W Q, i.e. every
// row w becomes Q^T w; one that must write a rotated output gets W' = Q^T W,
// i.e. every column c becomes Q^T c. Both are "apply Q^T to vectors of the
// weight", along rows or along columns, in segments of Q's size (the heads
// for R2).
//
//===----------------------------------------------------------------------===//

#include "WeightConstants.h"

#include "qopt/Runtime/Hadamard.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

#include <Eigen/Dense>

#include <cmath>
#include <map>
#include <memory>

namespace mlir::qopt {
#define GEN_PASS_DEF_FOLDROTATIONSPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace rt = ::qopt::runtime;

//===----------------------------------------------------------------------===//
// Rotations
//===----------------------------------------------------------------------===//

namespace {
/// An orthogonal n x n matrix Q, applied to weight vectors as v -> Q^T v.
class Rotation {
public:
  /// Q = H_n^T / sqrt(n), so Q^T v = H_n v / sqrt(n): the transform of
  /// qopt.hadamard. Fails if qopt cannot construct H_n.
  static std::unique_ptr<Rotation> hadamard(int64_t n);
  /// A Haar-random orthogonal matrix from `seed`.
  static std::unique_ptr<Rotation> random(int64_t n, uint64_t seed);

  int64_t size() const { return n; }
  /// A key that identifies this matrix (for caching rotated weights).
  const std::string &key() const { return name; }

  /// Replaces each of the `data.size() / n` contiguous vectors of `data` by
  /// Q^T times it.
  void apply(MutableArrayRef<double> data) const;

private:
  int64_t n = 0;
  std::string name;
  // Random: Q, column-major.
  Eigen::MatrixXd q;
  bool isHadamard = true;
};
} // namespace

std::unique_ptr<Rotation> Rotation::hadamard(int64_t n) {
  if (!rt::factorHadamardSize(n))
    return nullptr;
  auto r = std::make_unique<Rotation>();
  r->n = n;
  r->name = "hadamard" + std::to_string(n);
  return r;
}

/// splitmix64: a small portable generator, so a seed gives the same matrix
/// on every platform and standard library.
static uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::unique_ptr<Rotation> Rotation::random(int64_t n, uint64_t seed) {
  auto r = std::make_unique<Rotation>();
  r->n = n;
  r->name = "random" + std::to_string(n) + "." + std::to_string(seed);
  r->isHadamard = false;
  // A Gaussian matrix (Box-Muller on 53-bit uniforms in (0, 1]).
  uint64_t state = seed;
  auto uniform = [&] {
    return (static_cast<double>(splitMix64(state) >> 11) + 1.0) * 0x1.0p-53;
  };
  Eigen::MatrixXd g(n, n);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < n; ++i) {
      double radius = std::sqrt(-2.0 * std::log(uniform()));
      g(i, j) = radius * std::cos(2.0 * M_PI * uniform());
    }
  // G = QR; scaling Q's columns by the signs of R's diagonal makes Q
  // Haar-distributed (Mezzadri, arXiv math-ph/0609050).
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  r->q = qr.householderQ();
  const Eigen::MatrixXd &packed = qr.matrixQR();
  for (int64_t j = 0; j < n; ++j)
    if (packed(j, j) < 0)
      r->q.col(j) = -r->q.col(j);
  return r;
}

void Rotation::apply(MutableArrayRef<double> data) const {
  int64_t count = static_cast<int64_t>(data.size()) / n;
  if (!isHadamard) {
    Eigen::Map<Eigen::MatrixXd> vectors(data.data(), n, count);
    Eigen::MatrixXd rotated = q.transpose() * vectors;
    vectors = rotated;
    return;
  }
  bool supported = rt::hadamardTransformDouble(data.data(), count, n);
  assert(supported && "Rotation::hadamard checked the size");
  (void)supported;
}

//===----------------------------------------------------------------------===//
// Weight transforms
//===----------------------------------------------------------------------===//

namespace {
/// Q^T applied to the rows of a weight (segments of Q's size along each
/// row) or to its columns (segments along each column).
struct WeightTransform {
  enum Side { Rows, Columns } side;
  const Rotation *rotation;
};

/// A weight operand to rewrite and the transforms it gets, in order.
struct WeightEdit {
  OpOperand *operand;
  SmallVector<WeightTransform> transforms;
};
} // namespace

/// Applies `t` to the row-major [rows, cols] `w`.
static void applyTransform(MutableArrayRef<double> w, int64_t rows,
                           int64_t cols, const WeightTransform &t) {
  int64_t n = t.rotation->size();
  if (t.side == WeightTransform::Rows) {
    // Each row is cols / n contiguous segments: rotate them in place.
    t.rotation->apply(w);
    return;
  }
  // Columns: gather each column's segments of n rows, rotate, scatter.
  std::vector<double> vectors(w.size());
  int64_t segments = rows / n;
  for (int64_t s = 0; s < segments; ++s)
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t i = 0; i < n; ++i)
        vectors[(s * cols + c) * n + i] = w[(s * n + i) * cols + c];
  t.rotation->apply(vectors);
  for (int64_t s = 0; s < segments; ++s)
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t i = 0; i < n; ++i)
        w[(s * n + i) * cols + c] = vectors[(s * cols + c) * n + i];
}

/// Fails with the rule broken unless `value` is a weight whose values are
/// known at compile time (WeightValue) and whose `side` dimension is a
/// multiple of `n`.
static LogicalResult checkWeight(Operation *user, Value value,
                                 WeightTransform::Side side, int64_t n,
                                 std::string &why) {
  std::optional<WeightValue> weight = getWeightValue(value);
  if (!weight) {
    why = "the weight of " + user->getName().getStringRef().str() +
          " is neither a static 2-D f32/f16/bf16 constant nor a quantized "
          "weight built from constants";
    return failure();
  }
  int64_t extent =
      weight->type.getDimSize(side == WeightTransform::Rows ? 1 : 0);
  if (extent % n != 0) {
    why = "the weight of " + user->getName().getStringRef().str() + " has " +
          std::to_string(extent) +
          (side == WeightTransform::Rows ? " columns" : " rows") +
          ", not a multiple of the rotation size " + std::to_string(n);
    return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Structure analysis
//===----------------------------------------------------------------------===//

namespace {
/// Where R1 goes: the embedding table (rows), the linears reading the
/// residual stream through weightless norms (rows), and the linears writing
/// it (columns).
struct ResidualStream {
  EmbeddingOp embedding;
  int64_t dim = 0;
  SmallVector<LinearOp> readers, writers;
};

/// The error of a structure check: the op to report at and the rule.
struct Refusal {
  Operation *op;
  std::string why;
};
} // namespace

/// Follows the residual stream of `func` from its embedding.
static FailureOr<ResidualStream> findResidualStream(func::FuncOp func,
                                                    Refusal &refusal) {
  ResidualStream stream;
  SmallVector<EmbeddingOp> embeddings;
  func.walk([&](EmbeddingOp op) { embeddings.push_back(op); });
  if (embeddings.size() != 1) {
    refusal = {func, "expected one qopt.embedding, found " +
                         std::to_string(embeddings.size())};
    return failure();
  }
  stream.embedding = embeddings.front();
  Value table = stream.embedding.getTable();
  stream.dim = stream.embedding.getType().getDimSize(1);
  if (ShapedType::isDynamic(stream.dim)) {
    refusal = {stream.embedding, "the hidden size is dynamic"};
    return failure();
  }
  std::string why;
  if (failed(checkWeight(stream.embedding, table, WeightTransform::Rows,
                         stream.dim, why))) {
    refusal = {stream.embedding, why};
    return failure();
  }

  llvm::SetVector<Value> residual;
  residual.insert(stream.embedding.getResult());
  llvm::SmallPtrSet<Operation *, 16> seenNorms, seenWriters;
  for (size_t i = 0; i < residual.size(); ++i) {
    Value value = residual[i];
    for (OpOperand &use : value.getUses()) {
      Operation *user = use.getOwner();
      if (auto add = dyn_cast<arith::AddFOp>(user)) {
        Value other = add.getOperand(1 - use.getOperandNumber());
        if (!residual.contains(other)) {
          auto writer = other.getDefiningOp<LinearOp>();
          if (!writer || !other.hasOneUse()) {
            refusal = {add, "a residual add whose other operand is not the "
                            "output of a qopt.linear used only there"};
            return failure();
          }
          if (failed(checkWeight(writer, writer.getWeight(),
                                 WeightTransform::Columns, stream.dim, why))) {
            refusal = {writer, why};
            return failure();
          }
          if (seenWriters.insert(writer).second)
            stream.writers.push_back(writer);
        }
        residual.insert(add.getResult());
        continue;
      }
      if (auto norm = dyn_cast<RMSNormOp>(user)) {
        if (!seenNorms.insert(norm).second)
          continue;
        ElementsAttr scale = constantElements(norm.getWeight());
        if (!scale || !isAllOnes(scale)) {
          refusal = {norm, "the RMSNorm has a scale: R1 commutes with "
                           "weightless norms only (run qopt-fuse-norms "
                           "first)"};
          return failure();
        }
        for (OpOperand &normUse : norm.getResult().getUses()) {
          auto reader = dyn_cast<LinearOp>(normUse.getOwner());
          if (!reader || normUse.getOperandNumber() != 0) {
            refusal = {normUse.getOwner(),
                       "reads a normalized residual stream and is not a "
                       "qopt.linear"};
            return failure();
          }
          if (failed(checkWeight(reader, reader.getWeight(),
                                 WeightTransform::Rows, stream.dim, why))) {
            refusal = {reader, why};
            return failure();
          }
          stream.readers.push_back(reader);
        }
        continue;
      }
      refusal = {user, "reads the residual stream; only residual adds and "
                       "RMSNorms may"};
      return failure();
    }
  }
  return stream;
}

namespace {
/// Where R2 goes in one layer: v_proj's output heads, o_proj's input heads.
struct HeadPair {
  AttentionOp attention;
  LinearOp value, output;
};
} // namespace

static FailureOr<HeadPair> findHeadPair(AttentionOp attention,
                                        Refusal &refusal) {
  HeadPair pair{attention, attention.getValue().getDefiningOp<LinearOp>(), {}};
  int64_t headDim = attention.getHeadDim();
  if (!pair.value || !attention.getValue().hasOneUse()) {
    refusal = {attention, "R2 needs the attention's value to be the output "
                          "of a qopt.linear (v_proj) used only there"};
    return failure();
  }
  Value result = attention.getResult();
  if (!result.hasOneUse() || !isa<LinearOp>(*result.getUsers().begin()) ||
      result.getUses().begin()->getOperandNumber() != 0) {
    refusal = {attention, "R2 needs the attention's output to be read only "
                          "by a qopt.linear (o_proj)"};
    return failure();
  }
  pair.output = cast<LinearOp>(*result.getUsers().begin());
  std::string why;
  if (failed(checkWeight(pair.value, pair.value.getWeight(),
                         WeightTransform::Columns, headDim, why))) {
    refusal = {pair.value, why};
    return failure();
  }
  if (failed(checkWeight(pair.output, pair.output.getWeight(),
                         WeightTransform::Rows, headDim, why))) {
    refusal = {pair.output, why};
    return failure();
  }
  return pair;
}

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

  // Phase 1: check every requested rotation and plan its edits.
  RotationPlanner plan(kind == "random", seed,
                       [&](StringRef which, const Refusal &refusal) {
                         return refuse(which, refusal);
                       });
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
