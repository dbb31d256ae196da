//===- ModelToLinalg.cpp - Model ops to linalg on tensors -------*- C++ -*-===//
//
// The convert-qopt-model-to-linalg pass: the model ops that upstream can
// express become linalg.generic ops on tensors, so that upstream
// bufferization, loop lowering and canonicalization handle them:
//  - qopt.rms_norm: a sum-of-squares reduction, the inverse RMS per token,
//    and the scaled product;
//  - qopt.rope: a generic computing cos and sin once per (token, frequency)
//    pair, then one over the output that reads them through an affine map
//    and the partner element by tensor.extract (both the interleaved and
//    the rotate-half conventions; frequencies from theta, from the op's
//    inv_freq table, or from a base that dynamic NTK scaling computes from
//    the call's length);
//  - qopt.bias_add: a broadcasting elementwise generic;
//  - qopt.swiglu: an elementwise generic;
//  - qopt.embedding of a float table: a gather generic (tensor.extract).
// Elementwise arith on tensors (the residual adds) is left to upstream's
// convert-elementwise-to-linalg. Matmuls, quantized gathers and attention
// stay qopt ops: they become kernels (qopt-lower-quantized-types).
//
//===----------------------------------------------------------------------===//

#include "../Common/TensorUtils.h"
#include "qopt/Conversion/Patterns.h"
#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_CONVERTQOPTMODELTOLINALGPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

static Value f32Constant(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

namespace {

//===----------------------------------------------------------------------===//
// rms_norm
//===----------------------------------------------------------------------===//

struct RMSNormToLinalg : public OpConversionPattern<RMSNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RMSNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), w = adaptor.getWeight();
    RankedTensorType type = op.getType();
    int64_t width = op.getWeight().getType().getDimSize(0);
    MLIRContext *ctx = rewriter.getContext();
    AffineExpr t = getAffineDimExpr(0, ctx), d = getAffineDimExpr(1, ctx);
    auto rowMap = AffineMap::get(2, 0, {t}, ctx);
    auto fullMap = AffineMap::get(2, 0, {t, d}, ctx);
    auto featureMap = AffineMap::get(2, 0, {d}, ctx);
    auto par = utils::IteratorType::parallel;
    auto red = utils::IteratorType::reduction;

    // inv[t] = 1 / sqrt(sum_d x[t, d]^2 / width + eps)
    auto rowType =
        RankedTensorType::get({type.getDimSize(0)}, rewriter.getF32Type());
    Value rowInit = emptyTensor(rewriter, loc, rowType, x);
    Value zero = f32Constant(rewriter, loc, 0.0f);
    Value filled =
        linalg::FillOp::create(rewriter, loc, zero, rowInit).getResult(0);
    Value sumSq =
        linalg::GenericOp::create(
            rewriter, loc, rowType, ValueRange{x}, ValueRange{filled},
            ArrayRef<AffineMap>{fullMap, rowMap}, ArrayRef{par, red},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value sq = arith::MulFOp::create(b, l, args[0], args[0]);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::AddFOp::create(b, l, args[1], sq)});
            })
            .getResult(0);
    float eps = op.getEpsilon().convertToFloat();
    auto idMap1 = AffineMap::getMultiDimIdentityMap(1, ctx);
    Value inv =
        linalg::GenericOp::create(
            rewriter, loc, rowType, ValueRange{sumSq},
            ValueRange{emptyTensor(rewriter, loc, rowType, x)},
            ArrayRef<AffineMap>{idMap1, idMap1}, ArrayRef{par},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value mean = arith::MulFOp::create(
                  b, l, args[0],
                  f32Constant(b, l, 1.0f / static_cast<float>(width)));
              Value ms =
                  arith::AddFOp::create(b, l, mean, f32Constant(b, l, eps));
              Value r = arith::DivFOp::create(b, l, f32Constant(b, l, 1.0f),
                                              math::SqrtOp::create(b, l, ms));
              linalg::YieldOp::create(b, l, ValueRange{r});
            })
            .getResult(0);
    // y[t, d] = w[d] * (inv[t] * x[t, d])
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, type, ValueRange{x, inv, w},
            ValueRange{emptyTensor(rewriter, loc, type, x)},
            ArrayRef<AffineMap>{fullMap, rowMap, featureMap, fullMap},
            ArrayRef{par, par},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value scaled = arith::MulFOp::create(b, l, args[1], args[0]);
              linalg::YieldOp::create(
                  b, l,
                  ValueRange{arith::MulFOp::create(b, l, args[2], scaled)});
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// rope
//===----------------------------------------------------------------------===//

struct RopeToLinalg : public OpConversionPattern<RopeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RopeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), pos = adaptor.getPosition();
    RankedTensorType type = op.getType();
    int64_t headDim = op.getHeadDim();
    bool interleaved = op.getStyle() == RopeStyle::Interleaved;
    float theta = op.getTheta().convertToFloat();
    MLIRContext *ctx = rewriter.getContext();
    auto idMap = AffineMap::getMultiDimIdentityMap(2, ctx);
    auto par = utils::IteratorType::parallel;
    auto indexToF32 = [](OpBuilder &b, Location l, Value index) {
      Value i64 = arith::IndexCastUIOp::create(b, l, b.getI64Type(), index);
      return arith::UIToFPOp::create(b, l, b.getF32Type(), i64).getResult();
    };
    // The per-model inverse-frequency table, if the importer computed one.
    Value invFreqTable;
    if (std::optional<ArrayRef<float>> invFreq = op.getInvFreq()) {
      auto tableType = RankedTensorType::get(
          {static_cast<int64_t>(invFreq->size())}, rewriter.getF32Type());
      invFreqTable = arith::ConstantOp::create(
          rewriter, loc, DenseElementsAttr::get(tableType, *invFreq));
    }
    // Dynamic NTK: the base of this call, from its length L = pos + T:
    // theta * (factor * max(L, M) / M - (factor - 1))^(d / (d - 2)).
    Value base = f32Constant(rewriter, loc, theta);
    if (std::optional<APFloat> ntkFactor = op.getNtkFactor()) {
      float factor = ntkFactor->convertToFloat();
      float maxPositions = static_cast<float>(*op.getNtkMaxPositions());
      Value tokens = tensor::DimOp::create(rewriter, loc, x, 0);
      Value length = indexToF32(
          rewriter, loc, arith::AddIOp::create(rewriter, loc, pos, tokens));
      length = arith::MaximumFOp::create(
          rewriter, loc, length, f32Constant(rewriter, loc, maxPositions));
      Value ratio = arith::DivFOp::create(
          rewriter, loc,
          arith::MulFOp::create(rewriter, loc,
                                f32Constant(rewriter, loc, factor), length),
          f32Constant(rewriter, loc, maxPositions));
      ratio = arith::SubFOp::create(rewriter, loc, ratio,
                                    f32Constant(rewriter, loc, factor - 1.0f));
      Value power = math::PowFOp::create(
          rewriter, loc, ratio,
          f32Constant(rewriter, loc,
                      static_cast<float>(headDim) /
                          static_cast<float>(headDim - 2)));
      base = arith::MulFOp::create(rewriter, loc, base, power);
    }
    std::optional<float> scale;
    if (std::optional<APFloat> s = op.getScale();
        s && s->convertToFloat() != 1.0f)
      scale = s->convertToFloat();

    // cos and sin of every (token, frequency) pair, once: [T, head_dim / 2].
    // Every head, both elements of a pair, read the same two values (a
    // rotation of q with 32 heads would otherwise evaluate each 64 times).
    int64_t half = headDim / 2;
    auto tableType = RankedTensorType::get({type.getDimSize(0), half},
                                           rewriter.getF32Type());
    auto tables = linalg::GenericOp::create(
        rewriter, loc, TypeRange{tableType, tableType}, ValueRange{},
        ValueRange{emptyTensor(rewriter, loc, tableType, x),
                   emptyTensor(rewriter, loc, tableType, x)},
        ArrayRef<AffineMap>{idMap, idMap}, ArrayRef{par, par},
        [&](OpBuilder &b, Location l, ValueRange) {
          Value t = linalg::IndexOp::create(b, l, 0);
          Value j = linalg::IndexOp::create(b, l, 1);
          Value freq;
          if (invFreqTable) {
            freq = tensor::ExtractOp::create(b, l, invFreqTable, ValueRange{j});
          } else {
            // freq = 1 / base^(2j / head_dim), as llama2.c computes it (base
            // = theta unless dynamic NTK rescaled it).
            Value twoJ = indexToF32(
                b, l,
                arith::MulIOp::create(b, l, j,
                                      arith::ConstantIndexOp::create(b, l, 2)));
            Value exponent = arith::DivFOp::create(
                b, l, twoJ, f32Constant(b, l, static_cast<float>(headDim)));
            freq = arith::DivFOp::create(
                b, l, f32Constant(b, l, 1.0f),
                math::PowFOp::create(b, l, base, exponent));
          }
          Value p = indexToF32(b, l, arith::AddIOp::create(b, l, pos, t));
          Value angle = arith::MulFOp::create(b, l, p, freq);
          Value cos = math::CosOp::create(b, l, angle);
          Value sin = math::SinOp::create(b, l, angle);
          if (scale) {
            // YaRN's attention factor scales cos and sin.
            Value factor = f32Constant(b, l, *scale);
            cos = arith::MulFOp::create(b, l, cos, factor);
            sin = arith::MulFOp::create(b, l, sin, factor);
          }
          linalg::YieldOp::create(b, l, ValueRange{cos, sin});
        });

    // Element i of a row pairs with frequency j(i): (i mod d) / 2 for the
    // interleaved style, (i mod d) mod d/2 = i mod d/2 for the half-split.
    AffineExpr t = rewriter.getAffineDimExpr(0),
               i = rewriter.getAffineDimExpr(1);
    AffineExpr freqIndex = interleaved ? (i % headDim).floorDiv(2) : i % half;
    auto tableMap = AffineMap::get(2, 0, {t, freqIndex}, ctx);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, type,
            ValueRange{x, tables.getResult(0), tables.getResult(1)},
            ValueRange{emptyTensor(rewriter, loc, type, x)},
            ArrayRef<AffineMap>{idMap, tableMap, tableMap, idMap},
            ArrayRef{par, par},
            [&](OpBuilder &b, Location l, ValueRange args) {
              auto idx = [&](int64_t v) {
                return arith::ConstantIndexOp::create(b, l, v).getResult();
              };
              Value tok = linalg::IndexOp::create(b, l, 0);
              Value col = linalg::IndexOp::create(b, l, 1);
              Value r = arith::RemUIOp::create(b, l, col, idx(headDim));
              // first: whether col is the first of its pair; partner: the
              // other element of the pair.
              Value first, partner;
              if (interleaved) {
                Value odd = arith::RemUIOp::create(b, l, r, idx(2));
                first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                              odd, idx(0));
                partner = arith::SelectOp::create(
                    b, l, first, arith::AddIOp::create(b, l, col, idx(1)),
                    arith::SubIOp::create(b, l, col, idx(1)));
              } else {
                first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                              r, idx(half));
                partner = arith::SelectOp::create(
                    b, l, first, arith::AddIOp::create(b, l, col, idx(half)),
                    arith::SubIOp::create(b, l, col, idx(half)));
              }
              Value self = args[0], cos = args[1], sin = args[2];
              Value other =
                  tensor::ExtractOp::create(b, l, x, ValueRange{tok, partner});
              // first:  self * cos - other * sin
              // second: other * sin + self * cos
              Value selfCos = arith::MulFOp::create(b, l, self, cos);
              Value otherSin = arith::MulFOp::create(b, l, other, sin);
              Value a = arith::SubFOp::create(b, l, selfCos, otherSin);
              Value c = arith::AddFOp::create(b, l, otherSin, selfCos);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::SelectOp::create(b, l, first, a, c)});
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// bias_add
//===----------------------------------------------------------------------===//

struct BiasAddToLinalg : public OpConversionPattern<BiasAddOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(BiasAddOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    MLIRContext *ctx = rewriter.getContext();
    auto idMap = AffineMap::getMultiDimIdentityMap(2, ctx);
    auto featureMap = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    auto par = utils::IteratorType::parallel;
    Value x = adaptor.getInput();
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, type, ValueRange{x, adaptor.getBias()},
            ValueRange{emptyTensor(rewriter, loc, type, x)},
            ArrayRef<AffineMap>{idMap, featureMap, idMap}, ArrayRef{par, par},
            [&](OpBuilder &b, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  b, l,
                  ValueRange{arith::AddFOp::create(b, l, args[0], args[1])});
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// swiglu
//===----------------------------------------------------------------------===//

struct SwiGLUToLinalg : public OpConversionPattern<SwiGLUOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SwiGLUOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    auto idMap = AffineMap::getMultiDimIdentityMap(2, rewriter.getContext());
    auto par = utils::IteratorType::parallel;
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, type, ValueRange{adaptor.getGate(), adaptor.getUp()},
            ValueRange{emptyTensor(rewriter, loc, type, adaptor.getGate())},
            ArrayRef<AffineMap>{idMap, idMap, idMap}, ArrayRef{par, par},
            [&](OpBuilder &b, Location l, ValueRange args) {
              // silu(g) = g / (1 + exp(-g))
              Value neg = arith::NegFOp::create(b, l, args[0]);
              Value den = arith::AddFOp::create(b, l, f32Constant(b, l, 1.0f),
                                                math::ExpOp::create(b, l, neg));
              Value silu = arith::DivFOp::create(b, l, args[0], den);
              linalg::YieldOp::create(
                  b, l, ValueRange{arith::MulFOp::create(b, l, silu, args[1])});
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// embedding (float tables)
//===----------------------------------------------------------------------===//

/// A float embedding table is a gather: one generic over the output reading
/// `table[clamp(tokens[t], 0, rows - 1), d]` with tensor.extract (16-bit
/// tables widened). A quantized table stays for qopt-lower-quantized-types,
/// which dequantizes only the rows it reads.
struct EmbeddingToLinalg : public OpConversionPattern<EmbeddingOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto tableType = dyn_cast<RankedTensorType>(op.getTable().getType());
    if (!tableType)
      return rewriter.notifyMatchFailure(op, "quantized table");
    Location loc = op.getLoc();
    Value table = adaptor.getTable(), tokens = adaptor.getTokens();
    RankedTensorType type = op.getType();
    MLIRContext *ctx = rewriter.getContext();
    AffineExpr t = getAffineDimExpr(0, ctx);
    auto tokenMap = AffineMap::get(2, 0, {t}, ctx);
    auto idMap = AffineMap::getMultiDimIdentityMap(2, ctx);
    auto par = utils::IteratorType::parallel;
    int64_t rows = tableType.getDimSize(0);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, type, ValueRange{tokens},
            ValueRange{emptyTensor(rewriter, loc, type, tokens)},
            ArrayRef<AffineMap>{tokenMap, idMap}, ArrayRef{par, par},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value row =
                  arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
              row = arith::MaxSIOp::create(
                  b, l, row, arith::ConstantIndexOp::create(b, l, 0));
              row = arith::MinSIOp::create(
                  b, l, row, arith::ConstantIndexOp::create(b, l, rows - 1));
              Value d = linalg::IndexOp::create(b, l, 1);
              Value v =
                  tensor::ExtractOp::create(b, l, table, ValueRange{row, d});
              if (v.getType() != b.getF32Type())
                v = arith::ExtFOp::create(b, l, b.getF32Type(), v);
              linalg::YieldOp::create(b, l, ValueRange{v});
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ConvertQOptModelToLinalgPass
    : public qopt::impl::ConvertQOptModelToLinalgPassBase<
          ConvertQOptModelToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    populateQOptModelToLinalgPatterns(patterns);
    ConversionTarget target(*ctx);
    target.addIllegalOp<RMSNormOp, RopeOp, SwiGLUOp, BiasAddOp>();
    target.addDynamicallyLegalOp<EmbeddingOp>([](EmbeddingOp op) {
      return isa<QTensorType>(op.getTable().getType());
    });
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::qopt::populateQOptModelToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RMSNormToLinalg, RopeToLinalg, BiasAddToLinalg, SwiGLUToLinalg,
               EmbeddingToLinalg>(patterns.getContext());
}
