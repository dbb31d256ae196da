//===- Rotations.cpp - Rotations and the structure they need ---*- C++ -*-===//
//
// Rotations.h: the rotations of qopt-fold-rotations, their application to
// weights, and the structure analysis of where they go.
//
//===----------------------------------------------------------------------===//

#include "Rotations.h"
#include "WeightConstants.h"

#include "qopt/Runtime/Hadamard.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::rotation;

namespace rt = ::qopt::runtime;

//===----------------------------------------------------------------------===//
// Rotations
//===----------------------------------------------------------------------===//

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

/// Applies `t` to the row-major [rows, cols] `w`.
void rotation::applyTransform(MutableArrayRef<double> w, int64_t rows,
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
LogicalResult rotation::checkWeight(Operation *user, Value value,
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

/// Follows the residual stream of `func` from its embedding.
FailureOr<ResidualStream> rotation::findResidualStream(func::FuncOp func,
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

FailureOr<HeadPair> rotation::findHeadPair(AttentionOp attention,
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
