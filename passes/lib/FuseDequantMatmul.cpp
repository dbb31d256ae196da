//===- FuseDequantMatmul.cpp - Fuse dequantize into matmuls -----*- C++ -*-===//
//
// The qopt-fuse-dequant-matmul pass: a product whose weight is a
// qopt.dequantize becomes one qopt.qmatmul on the quantized operand, so the
// lowering never materializes a full-precision weight. Forms recognized
// (every one is tested in tests/Transforms/fuse-dequant-matmul.mlir):
//
//   qopt.linear(x, dequantize(q))                     -> qmatmul(x, q)
//   qopt.embedding(dequantize(q), tokens)             -> embedding(q, tokens)
//   linalg.matmul(x, transpose(dequantize(q)))        -> qmatmul(x, q)
//   linalg.matmul(x, dequantize(q)) with B map (n, k) -> qmatmul(x, q)
//   linalg.batch_matmul(X, broadcast(W)) with W one of the two matmul forms
//     above and the broadcast a linalg.broadcast along dimension 0, a
//     tensor.expand_shape adding a unit batch dimension, or a 2-D B map
//                      -> expand_shape(qmatmul(collapse_shape(X), q))
//
// The analysis is one function per consumer that either describes the
// fusion or says why not; the patterns and the remarks (`remarks=true`, for
// release builds of LLVM where -debug-only does not exist) share it.
//
//===----------------------------------------------------------------------===//

#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "qopt-fuse-dequant-matmul"

namespace mlir::qopt {
#define GEN_PASS_DEF_FUSEDEQUANTMATMULPASS
#include "qopt/Transforms/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

//===----------------------------------------------------------------------===//
// Analysis
//===----------------------------------------------------------------------===//

namespace {
/// What a consumer's fusion needs: the dequantize it reads through and the
/// value the consumer uses as its activation (null for embeddings).
struct Fusion {
  DequantizeOp dequantize;
  Value activation;
  /// For linalg.batch_matmul: the product is computed on the activation
  /// collapsed to [B * M, K] and expanded back.
  bool batched = false;
};

/// The outcome of analyzing one consumer: a fusion, or the reason why not.
struct Analysis {
  std::optional<Fusion> fusion;
  std::string reason;

  static Analysis refuse(const Twine &why) {
    Analysis a;
    a.reason = why.str();
    return a;
  }
  static Analysis fuse(Fusion f) {
    Analysis a;
    a.fusion = f;
    return a;
  }
};
} // namespace

/// Follows `value` back through the ops this pass sees through (transpose,
/// broadcast, reshapes) to a qopt.dequantize, if any. Used to decide which
/// consumers are worth a remark: those whose weight is a dequantized one.
static DequantizeOp findDequantize(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (auto dq = dyn_cast<DequantizeOp>(def))
      return dq;
    if (auto t = dyn_cast<linalg::TransposeOp>(def))
      value = t.getInput();
    else if (auto b = dyn_cast<linalg::BroadcastOp>(def))
      value = b.getInput();
    else if (auto e = dyn_cast<tensor::ExpandShapeOp>(def))
      value = e.getSrc();
    else if (auto c = dyn_cast<tensor::CollapseShapeOp>(def))
      value = c.getSrc();
    else
      return {};
  }
  return {};
}

/// Checks that the quantized operand of `dq` fits qopt.qmatmul (and a
/// quantized embedding table): the conditions of verifyRowGroupedMatrix.
static std::optional<std::string> checkQuantizedMatrix(DequantizeOp dq) {
  // Every consumer form reads a 2-D dequantized value, so the rank is 2.
  QTensorType type = dq.getInput().getType();
  assert(type.getRank() == 2 && "consumers read 2-D weights");
  if (type.getGranularity() != Granularity::PerTensor && type.getAxis() != 1)
    return std::string("the quantized matrix is grouped along its first "
                       "(output) dimension, axis = 0: qopt.qmatmul and "
                       "quantized embedding tables need groups along the "
                       "second (axis = 1)");
  if (!type.getExpressedTensorType().hasStaticShape())
    return std::string("the quantized weight has a dynamic shape: "
                       "qopt.qmatmul needs a static [N, K]");
  Type expressed = type.getExpressedType();
  if (!expressed.isF32() && !expressed.isF16() && !expressed.isBF16()) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << "the weight's expressed type " << expressed
       << " is not f32, f16 or bf16";
    return s;
  }
  return std::nullopt;
}

/// True if `init` is a tensor of zeros (a linalg.fill of 0.0, or a zero
/// constant): a linalg contraction adds its init, qopt.qmatmul does not.
static bool isZeroTensor(Value init) {
  if (matchPattern(init, m_AnyZeroFloat()))
    return true;
  if (auto fill = init.getDefiningOp<linalg::FillOp>())
    return matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
  return false;
}

/// True if `type` is a ranked tensor of f32.
static bool isF32Tensor(Type type) {
  auto t = dyn_cast<RankedTensorType>(type);
  return t && t.getElementType().isF32();
}

static std::string describe(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << type;
  return s;
}

/// Resolves the B operand of a linalg contraction to the dequantize it
/// reads, given how B is indexed: `batchBroadcast` when B is 3-D and must be
/// one 2-D matrix shared by all batches, `kn` when B is indexed [K, N] (so it
/// must be the transpose of the [N, K] dequantized weight).
static Analysis resolveWeight(Value b, bool batchBroadcast, bool kn) {
  if (batchBroadcast) {
    Operation *def = b.getDefiningOp();
    if (auto bc = dyn_cast_or_null<linalg::BroadcastOp>(def);
        bc && bc.getDimensions() == ArrayRef<int64_t>{0} &&
        bc.getInput().getType().getRank() == 2) {
      b = bc.getInput();
    } else if (auto ex = dyn_cast_or_null<tensor::ExpandShapeOp>(def);
               ex && ex.getSrcType().getRank() == 2 &&
               ex.getResultType().getRank() == 3 &&
               ex.getResultType().getDimSize(0) == 1 &&
               ex.getReassociationIndices().front().size() == 2) {
      b = ex.getSrc();
    } else {
      return Analysis::refuse(
          "the batched weight is not one 2-D matrix broadcast to every batch "
          "(a linalg.broadcast along dimension 0 or a unit-batch "
          "tensor.expand_shape): each batch may hold a different matrix");
    }
  }
  if (kn) {
    auto t = b.getDefiningOp<linalg::TransposeOp>();
    if (!t || t.getPermutation() != ArrayRef<int64_t>{1, 0})
      return Analysis::refuse(
          "the weight is used as [K, N] and is not a linalg.transpose "
          "(permutation [1, 0]) of a dequantized [N, K] weight: there is no "
          "transpose of a quantized tensor");
    b = t.getInput();
  }
  auto dq = b.getDefiningOp<DequantizeOp>();
  if (!dq)
    return Analysis::refuse("the weight is not produced by qopt.dequantize");
  Fusion f;
  f.dequantize = dq;
  return Analysis::fuse(f);
}

/// Analyzes a linalg.matmul or linalg.batch_matmul whose B operand may be a
/// dequantized weight.
static Analysis analyzeContraction(linalg::LinalgOp op, bool batched) {
  if (!op.hasPureTensorSemantics())
    return Analysis::refuse("the contraction is on buffers, not tensors");
  Value a = op.getDpsInputs()[0], b = op.getDpsInputs()[1];
  Value init = op.getDpsInits()[0];
  MLIRContext *ctx = op.getContext();
  unsigned numDims = batched ? 4 : 3;
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  auto map = [&](ArrayRef<AffineExpr> results) {
    return AffineMap::get(numDims, 0, results, ctx);
  };
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  // Loops: (m, n, k) or (b, m, n, k).
  AffineExpr m = d(batched ? 1 : 0), n = d(batched ? 2 : 1),
             k = d(batched ? 3 : 2);
  SmallVector<AffineExpr> lhs{m, k}, out{m, n};
  if (batched) {
    lhs.insert(lhs.begin(), d(0));
    out.insert(out.begin(), d(0));
  }
  if (maps[0] != map(lhs) || maps[2] != map(out))
    return Analysis::refuse(
        "the activation or result indexing map is not that of a plain "
        "matmul (x as [M, K], result as [M, N], with a leading batch "
        "dimension for batch_matmul)");
  // A 2-D B map on batch_matmul shares one matrix between all batches (the
  // linalg verifier accepts only (k, n) there); a 3-D one needs the weight
  // itself to be a broadcast.
  bool kn, broadcast = false;
  SmallVector<AffineExpr> bKN{k, n}, bNK{n, k};
  if (maps[1] == map(bKN)) {
    kn = true;
  } else if (maps[1] == map(bNK)) {
    kn = false;
  } else if (batched && maps[1] == map({d(0), k, n})) {
    kn = true;
    broadcast = true;
  } else if (batched && maps[1] == map({d(0), n, k})) {
    kn = false;
    broadcast = true;
  } else {
    return Analysis::refuse(
        "the weight indexing map is neither [K, N] nor [N, K] (with or "
        "without the batch dimension for batch_matmul)");
  }
  Analysis result = resolveWeight(b, broadcast, kn);
  if (!result.fusion)
    return result;
  if (!isF32Tensor(a.getType()) || !isF32Tensor(op->getResult(0).getType()))
    return Analysis::refuse("qopt.qmatmul takes f32 activations and "
                            "produces f32, got " +
                            describe(a.getType()) + " -> " +
                            describe(op->getResult(0).getType()));
  if (!isZeroTensor(init))
    return Analysis::refuse(
        "the init is not a zero tensor: the contraction accumulates into it, "
        "qopt.qmatmul does not");
  result.fusion->activation = a;
  result.fusion->batched = batched;
  return result;
}

static Analysis analyzeConsumer(Operation *op, bool checkUsers);

/// True if `use` is the weight operand of a consumer that fuses (without
/// checking that consumer's other users, which this walk is doing).
static bool isFusedUse(OpOperand &use) {
  Operation *user = use.getOwner();
  unsigned index = use.getOperandNumber();
  bool isWeight =
      (isa<LinearOp>(user) && index == 1) ||
      (isa<EmbeddingOp>(user) && index == 0) ||
      (isa<linalg::MatmulOp, linalg::BatchMatmulOp>(user) && index == 1);
  return isWeight && analyzeConsumer(user, /*checkUsers=*/false).fusion;
}

/// Checks that every use of `value` (the dequantized weight, or a transpose,
/// broadcast or reshape of it) is fused, so that the dequantize disappears.
/// Otherwise returns the op that would keep a second, full-precision copy.
static Operation *findUnfusedUser(Value value) {
  for (OpOperand &use : value.getUses()) {
    Operation *user = use.getOwner();
    if (isFusedUse(use))
      continue;
    if (isa<linalg::TransposeOp, linalg::BroadcastOp, tensor::ExpandShapeOp>(
            user) &&
        use.getOperandNumber() == 0 && user->getNumResults() == 1) {
      if (Operation *bad = findUnfusedUser(user->getResult(0)))
        return bad;
      continue;
    }
    return user;
  }
  return nullptr;
}

/// Analyzes one consumer. With `checkUsers`, also refuses when the
/// dequantized weight has users that this pass would not fuse.
static Analysis analyzeConsumer(Operation *op, bool checkUsers) {
  Analysis result;
  if (auto linear = dyn_cast<LinearOp>(op)) {
    auto dq = linear.getWeight().getDefiningOp<DequantizeOp>();
    if (!dq)
      return Analysis::refuse("the weight is not produced by qopt.dequantize");
    result = Analysis::fuse(Fusion{dq, linear.getInput(), false});
  } else if (auto emb = dyn_cast<EmbeddingOp>(op)) {
    auto dq = emb.getTable().getDefiningOp<DequantizeOp>();
    if (!dq)
      return Analysis::refuse("the table is not produced by qopt.dequantize");
    result = Analysis::fuse(Fusion{dq, Value(), false});
  } else if (auto mm = dyn_cast<linalg::MatmulOp>(op)) {
    result = analyzeContraction(mm, /*batched=*/false);
  } else if (auto bmm = dyn_cast<linalg::BatchMatmulOp>(op)) {
    result = analyzeContraction(bmm, /*batched=*/true);
  } else {
    return Analysis::refuse("not a matmul, linear or embedding");
  }
  if (!result.fusion)
    return result;
  if (std::optional<std::string> why =
          checkQuantizedMatrix(result.fusion->dequantize))
    return Analysis::refuse(*why);
  if (checkUsers) {
    if (Operation *bad = findUnfusedUser(result.fusion->dequantize.getResult()))
      return Analysis::refuse(
          "the dequantized weight has another user that is not fused ('" +
          bad->getName().getStringRef() +
          "'): fusing would dequantize the weight a second time");
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// Refuses a match with `reason`, under -debug-only where LLVM has it.
static LogicalResult refuse(PatternRewriter &rewriter, Operation *op,
                            StringRef reason) {
  LLVM_DEBUG(llvm::dbgs() << "[" DEBUG_TYPE "] not fusing " << op->getName()
                          << " at " << op->getLoc() << ": " << reason << "\n");
  return rewriter.notifyMatchFailure(op, reason);
}

namespace {
/// qopt.linear(x, dequantize(q)) -> qopt.qmatmul(x, q).
struct FuseLinear : public OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    Analysis a = analyzeConsumer(op, /*checkUsers=*/true);
    if (!a.fusion)
      return refuse(rewriter, op, a.reason);
    // Keep the importer's tags (qopt.layer, qopt.role): per-layer serving
    // widths select weights by them.
    SmallVector<NamedAttribute> tags(op->getDiscardableAttrs());
    auto fused = rewriter.replaceOpWithNewOp<QMatmulOp>(
        op, op.getType(), op.getInput(), a.fusion->dequantize.getInput());
    for (NamedAttribute attr : tags)
      fused->setAttr(attr.getName(), attr.getValue());
    return success();
  }
};

/// qopt.embedding(dequantize(q), tokens) -> qopt.embedding(q, tokens).
struct FuseEmbedding : public OpRewritePattern<EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(EmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    Analysis a = analyzeConsumer(op, /*checkUsers=*/true);
    if (!a.fusion)
      return refuse(rewriter, op, a.reason);
    rewriter.modifyOpInPlace(op, [&] {
      op.getTableMutable().assign(a.fusion->dequantize.getInput());
    });
    return success();
  }
};

/// linalg.matmul / linalg.batch_matmul on a dequantized weight ->
/// qopt.qmatmul (batches flattened into the token dimension).
template <typename OpTy>
struct FuseContraction : public OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Analysis a = analyzeConsumer(op, /*checkUsers=*/true);
    if (!a.fusion)
      return refuse(rewriter, op, a.reason);
    Location loc = op.getLoc();
    Value q = a.fusion->dequantize.getInput();
    Value x = a.fusion->activation;
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    if (!a.fusion->batched) {
      rewriter.replaceOpWithNewOp<QMatmulOp>(op, resultType, x, q);
      return success();
    }
    // [B, M, K] -> [B * M, K], qmatmul, [B * M, N] -> [B, M, N]. A unit
    // batch added by a tensor.expand_shape of a 2-D activation folds away.
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t bDim = xType.getDimSize(0), mDim = xType.getDimSize(1);
    int64_t rows = ShapedType::isDynamic(bDim) || ShapedType::isDynamic(mDim)
                       ? ShapedType::kDynamic
                       : bDim * mDim;
    SmallVector<ReassociationIndices> reassociation{{0, 1}, {2}};
    auto flatX = RankedTensorType::get({rows, xType.getDimSize(2)},
                                       xType.getElementType());
    Value collapsed =
        tensor::CollapseShapeOp::create(rewriter, loc, flatX, x, reassociation);
    auto flatY = RankedTensorType::get({rows, resultType.getDimSize(2)},
                                       resultType.getElementType());
    Value product = QMatmulOp::create(rewriter, loc, flatY, collapsed, q);
    SmallVector<OpFoldResult> outputShape{
        tensor::getMixedSize(rewriter, loc, x, 0),
        tensor::getMixedSize(rewriter, loc, x, 1),
        rewriter.getIndexAttr(resultType.getDimSize(2))};
    rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(
        op, resultType, product, reassociation, outputShape);
    return success();
  }
};
} // namespace

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

namespace {
struct FuseDequantMatmulPass
    : public qopt::impl::FuseDequantMatmulPassBase<FuseDequantMatmulPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseLinear, FuseEmbedding, FuseContraction<linalg::MatmulOp>,
                 FuseContraction<linalg::BatchMatmulOp>>(&getContext());
    // The driver also erases the qopt.dequantize, transposes, broadcasts and
    // qopt.pack that the fusions leave without users.
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    if (!remarks)
      return;
    // Every consumer still reading a dequantized weight says why it was not
    // fused (the reasons -debug-only prints in an assertions build).
    getOperation()->walk([](Operation *op) {
      if (!isa<LinearOp, EmbeddingOp, linalg::MatmulOp, linalg::BatchMatmulOp>(
              op))
        return;
      Value weight =
          isa<EmbeddingOp>(op) ? op->getOperand(0) : op->getOperand(1);
      if (!findDequantize(weight))
        return;
      Analysis a = analyzeConsumer(op, /*checkUsers=*/true);
      if (!a.fusion)
        op->emitRemark() << "not fused into qopt.qmatmul: " << a.reason;
    });
  }
};
} // namespace
