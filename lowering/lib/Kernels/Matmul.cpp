//===- Matmul.cpp - qopt.kernel_matmul to vector loops ----------*- C++ -*-===//
//
// y[t, n] = sum_k x[t, k] * W[n, k] on buffers. Weight rows are the outer
// loop, an `scf.parallel` (rows split between threads), so each row is
// streamed from memory once and reused from cache for every token. A float
// weight (f32/f16/bf16, widened in registers) uses the four-accumulator FMA
// dot product; a quantized weight is read in its
// storage form, group by group: the codes of `width` lanes are unpacked in
// registers (dense rows at c bits, or the top r + 1 bit planes of a nested
// tensor), the group's zero point is subtracted, the products accumulate in
// one vector, and the group sum is scaled once. A shorter last group, group
// sizes that are not a multiple of the vector width and tails take a scalar
// path with the same arithmetic. With `int8-activations`, weights that
// allow it take the integer path of IntegerMatmul.cpp instead.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// The float-weight prefill tile: rows x tokens, one vector accumulator
/// each. A step loads the rows' vectors, then each token's vector in turn
/// and its FMAs with every row: 4 x 6 + 4 + 1 of the 32 AVX-512 registers,
/// or 4 x 2 + 4 + 1 of the 16 AVX2 ones. (4 x 6 against 4 x 4 at 16 lanes,
/// Zen 4, 128-token prefill of the 7B-shaped files, 2 threads: f32 weights
/// 104 -> 115 tok/s, f16 the same; with every load of the step emitted
/// before its FMAs, 4 x 6 spilled and ran at 80.)
constexpr int64_t kFloatTileRows = 4;
static int64_t floatTileTokens(int64_t width) { return width >= 16 ? 6 : 2; }

/// The weights of a group from their codes in parent units (f32 scalar or
/// vector) minus the zero point: `codes - zero` when the scale is applied
/// once per group (f32 scales), or, when `rounded` is a 16-bit float type,
/// `ext(trunc(scale * (codes - zero)))`: qopt.dequantize's value in the
/// expressed type, widened, which qopt.qmatmul is defined to use. With an
/// `offset` (asymmetric two-level scales, K-quant minimums) it is
/// `scale * codes - offset`, qopt.dequantize's value too.
static Value groupWeights(KernelBuilder &k, Value codes, Value zero,
                          Value scale, Type rounded, Value offset) {
  // Two-level asymmetric scales: the weight is scale * code - minimum.
  if (offset)
    return k.subf(k.mulf(scale, codes), offset);
  Value w = k.subf(codes, zero);
  if (!rounded)
    return w;
  w = k.mulf(w, scale);
  Type narrow = rounded;
  if (auto vec = dyn_cast<VectorType>(w.getType()))
    narrow = vec.clone(rounded);
  return k.widen(arith::TruncFOp::create(k.b, k.loc, narrow, w));
}

/// The products of one group, kept apart until the group is scaled:
/// `vec` (lane sums of x * (code - zero) over the vector chunks) and
/// `scalar` (the same over the elements left to the scalar tail).
struct GroupSums {
  Value vec, scalar;
};

/// sum over k in [k0, k1) of x[t, k] * (code(n, k) - zero), the codes read
/// `k.width` at a time where the storage allows it. `fullGroup` > 0 says
/// every group has exactly that many elements, a multiple of the vector
/// width: the vector loop is then unrolled and there is no scalar tail.
/// With `rounded` (f16 or bf16 scales) the sums are of x * groupWeights(),
/// already scaled.
static GroupSums groupDot(KernelBuilder &k, const QuantBuffers &q, Value x,
                          Value t, Value n, Value k0, Value k1, Value zero,
                          Value scale, Type rounded, Value offset,
                          bool vectorized, int64_t fullGroup) {
  auto f32Vec = VectorType::get({k.width}, k.b.getF32Type());
  Value vzero = arith::ConstantOp::create(
      k.b, k.loc, DenseElementsAttr::get(f32Vec, k.b.getF32FloatAttr(0)));
  Value zeroVec = zero ? k.splat(f32Vec, zero) : Value();
  Value scaleVec = rounded || offset ? k.splat(f32Vec, scale) : Value();
  Value offsetVec = offset ? k.splat(f32Vec, offset) : Value();
  auto chunk = [&](Value kk, Value acc) -> Value {
    Value w = groupWeights(k, loadCodeVector(k, q, n, kk), zeroVec, scaleVec,
                           rounded, offsetVec);
    return vector::FMAOp::create(k.b, k.loc, k.vectorLoad(x, {t, kk}), w, acc);
  };
  if (vectorized && fullGroup > 0) {
    Value acc = vzero;
    for (int64_t j = 0; j < fullGroup; j += k.width)
      acc = chunk(k.addi(k0, k.index(j)), acc);
    return {acc, Value()};
  }
  Value acc = vzero;
  Value tailStart = k0;
  if (vectorized) {
    // Full vectors: [k0, k0 + floor((k1 - k0) / w) * w).
    Value len = k.subi(k1, k0);
    Value full = k.muli(k.divui(len, k.index(k.width)), k.index(k.width));
    Value vend = k.addi(k0, full);
    acc = k.forLoopCarried(
        k0, vend, k.width, {vzero},
        [&](Value kk, ValueRange carried) -> SmallVector<Value> {
          return {chunk(kk, carried[0])};
        })[0];
    tailStart = vend;
  }
  Value tail = k.forLoopCarried(
      tailStart, k1, 1, {k.f32(0.0f)},
      [&](Value kk, ValueRange carried) -> SmallVector<Value> {
        Value code = arith::UIToFPOp::create(k.b, k.loc, k.b.getF32Type(),
                                             loadCodeValue(k, q, {n, kk}));
        Value w = groupWeights(k, code, zero, scale, rounded, offset);
        return {k.addf(carried[0], k.mulf(k.load(x, {t, kk}), w))};
      })[0];
  return {acc, tail};
}

/// Activations rounded to f16 for a matmul of f16 weights: `values`
/// (memref<?xKxf16>) holds x[t, k] * 2^e_t and `inverseScale` (memref<?xf32>)
/// 2^-e_t, one power of two per token.
struct HalfActivations {
  Value values, inverseScale;
};

/// Rounds every token's activations to f16 (round to nearest even) after
/// scaling them by the power of two that brings max |x[t, :]| into
/// [2^14, 2^15): no finite activation overflows f16's 65504, small ones keep
/// f16's 11 significant bits instead of falling to its subnormals, and the
/// scaling itself is exact in f32. The relative error of each activation is
/// then at most 2^-11 (unless it is below max |x| * 2^-29, where it flushes
/// towards zero). NaN and infinities propagate as in f32. Serial over
/// tokens: the pass is K elements per token, against K * rows for the
/// matmul.
static HalfActivations roundActivationsToF16(KernelBuilder &k, Value x,
                                             Value numTokens, int64_t cols) {
  Type f32 = k.b.getF32Type(), f16 = k.b.getF16Type(), i32 = k.b.getI32Type();
  auto valuesType = MemRefType::get({ShapedType::kDynamic, cols}, f16);
  auto scalesType = MemRefType::get({ShapedType::kDynamic}, f32);
  IntegerAttr align = k.b.getI64IntegerAttr(64);
  HalfActivations half{memref::AllocOp::create(k.b, k.loc, valuesType,
                                               ValueRange{numTokens}, align),
                       memref::AllocOp::create(k.b, k.loc, scalesType,
                                               ValueRange{numTokens}, align)};
  auto f32Vec = VectorType::get({k.width}, f32);
  int64_t vectorEnd = cols / k.width * k.width;
  auto i32Const = [&](int64_t v) {
    return arith::ConstantOp::create(k.b, k.loc, k.b.getI32IntegerAttr(v))
        .getResult();
  };
  k.forLoop(0, numTokens, [&](Value t) {
    // amax = max |x[t, :]| (NaN propagates).
    Value amax = k.f32(0.0f);
    if (vectorEnd > 0) {
      Value vzero = arith::ConstantOp::create(
          k.b, k.loc, DenseElementsAttr::get(f32Vec, k.b.getF32FloatAttr(0)));
      Value vmax = k.forLoopCarried(
          k.index(0), k.index(vectorEnd), k.width, {vzero},
          [&](Value kk, ValueRange carried) -> SmallVector<Value> {
            Value v =
                math::AbsFOp::create(k.b, k.loc, k.vectorLoad(x, {t, kk}));
            return {arith::MaximumFOp::create(k.b, k.loc, carried[0], v)};
          })[0];
      amax = vector::ReductionOp::create(k.b, k.loc,
                                         vector::CombiningKind::MAXIMUMF, vmax);
    }
    if (vectorEnd < cols)
      amax = k.forLoopCarried(
          k.index(vectorEnd), k.index(cols), 1, {amax},
          [&](Value kk, ValueRange carried) -> SmallVector<Value> {
            Value v = math::AbsFOp::create(k.b, k.loc, k.load(x, {t, kk}));
            return {arith::MaximumFOp::create(k.b, k.loc, carried[0], v)};
          })[0];
    // amax's biased exponent E; the scale's is 268 - E (so the scaled amax
    // has exponent 14), clamped to [1, 253] so that both the scale and its
    // inverse (exponent 254 - S) are normal f32 powers of two.
    Value bits = arith::BitcastOp::create(k.b, k.loc, i32, amax);
    Value exponent = arith::AndIOp::create(
        k.b, k.loc, arith::ShRUIOp::create(k.b, k.loc, bits, i32Const(23)),
        i32Const(0xff));
    Value scaleExp = arith::SubIOp::create(k.b, k.loc, i32Const(268), exponent);
    scaleExp = arith::MaxSIOp::create(k.b, k.loc, scaleExp, i32Const(1));
    scaleExp = arith::MinSIOp::create(k.b, k.loc, scaleExp, i32Const(253));
    auto powerOfTwo = [&](Value biased) {
      return arith::BitcastOp::create(
                 k.b, k.loc, f32,
                 arith::ShLIOp::create(k.b, k.loc, biased, i32Const(23)))
          .getResult();
    };
    Value scale = powerOfTwo(scaleExp);
    memref::StoreOp::create(
        k.b, k.loc,
        powerOfTwo(arith::SubIOp::create(k.b, k.loc, i32Const(254), scaleExp)),
        half.inverseScale, ValueRange{t});
    auto f16Vec = VectorType::get({k.width}, f16);
    Value scaleVec = k.splat(f32Vec, scale);
    k.forLoop(k.index(0), k.index(vectorEnd), k.width, [&](Value kk) {
      Value v = k.mulf(k.vectorLoad(x, {t, kk}), scaleVec);
      vector::StoreOp::create(k.b, k.loc,
                              arith::TruncFOp::create(k.b, k.loc, f16Vec, v),
                              half.values, ValueRange{t, kk});
    });
    if (vectorEnd < cols)
      k.forLoop(k.index(vectorEnd), k.index(cols), 1, [&](Value kk) {
        k.store(k.mulf(k.load(x, {t, kk}), scale), half.values, {t, kk});
      });
  });
  return half;
}

struct KernelMatmulLowering : public OpConversionPattern<KernelMatmulOp> {
  KernelMatmulLowering(MLIRContext *ctx, int64_t width,
                       const IntegerMatmulOptions &integer)
      : OpConversionPattern(ctx), width(width), integer(integer) {}

  LogicalResult
  matchAndRewrite(KernelMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    KernelBuilder k(rewriter, op.getLoc(), width);
    Value x = adaptor.getInput(), out = adaptor.getInit();
    Value numTokens = k.dim(x, 0);
    if (auto q = dyn_cast<QTensorType>(op.getWeightType())) {
      if (adaptor.getWidth())
        lowerRuntimeWidth(k, op, adaptor, q, x, out, numTokens);
      else
        lowerQuantized(k, op, adaptor, q, x, out, numTokens);
    } else {
      lowerFloat(k, op, adaptor.getWeight()[0], x, out, numTokens);
    }
    rewriter.eraseOp(op);
    return success();
  }

  /// A float weight (f32, f16 or bf16). One row at a time, each row's dot
  /// product with every token (decode, and the rows and tokens left over
  /// by the tiles); with a tile's tokens or more, tiles of kFloatTileRows
  /// rows x floatTileTokens() tokens first: one f32 vector accumulator per
  /// (row, token) across the row, so each vector load of a weight or an
  /// activation feeds several FMAs where the row-wise dot feeds one (it was
  /// load-bound: 42.7 -> 122.6 tok/s for a 64-token prefill of a 7B-shaped
  /// f16 file, 2 threads).
  ///
  /// With `f16-activations` and f16 weights, every token's activations are
  /// first rounded to f16 with a power-of-two scale (HalfActivations) and
  /// the kernel reads those: half the activation bytes per row, which is
  /// what lets the row-wise dot keep up with the weight stream on Zen 4
  /// (docs/lowering.md, "f16 activations").
  void lowerFloat(KernelBuilder &k, KernelMatmulOp op, Value w, Value x,
                  Value out, Value numTokens) const {
    auto wType = cast<RankedTensorType>(op.getWeightType());
    if (!integer.f16Activations || !wType.getElementType().isF16()) {
      lowerFloatRows(k, wType, w, x, Value(), out, numTokens);
      return;
    }
    HalfActivations half =
        roundActivationsToF16(k, x, numTokens, wType.getDimSize(1));
    lowerFloatRows(k, wType, w, half.values, half.inverseScale, out, numTokens);
    memref::DeallocOp::create(k.b, k.loc, half.values);
    memref::DeallocOp::create(k.b, k.loc, half.inverseScale);
  }

  /// The float kernel proper on activations `x` (f32, or f16 with
  /// `inverseScale[t]` multiplying token t's sums when it is given).
  void lowerFloatRows(KernelBuilder &k, RankedTensorType wType, Value w,
                      Value x, Value inverseScale, Value out,
                      Value numTokens) const {
    int64_t rows = wType.getDimSize(0), cols = wType.getDimSize(1);
    auto unscale = [&](Value sum, Value t) {
      return inverseScale ? k.mulf(sum, k.load(inverseScale, {t})) : sum;
    };
    // Row n's dot product with tokens [firstToken, numTokens).
    auto rowDots = [&](Value n, Value firstToken) {
      k.forLoop(firstToken, numTokens, 1, [&](Value t) {
        Value acc = k.dot(x, {t}, k.index(0), w, {n}, k.index(0), cols);
        k.store(unscale(acc, t), out, {t, n});
      });
    };
    int64_t rowBytes =
        cols * llvm::divideCeil(wType.getElementTypeBitWidth(), 8);
    auto rowWise = [&](Value firstRow) {
      k.parallelLoop(
          firstRow, k.index(rows), [&](Value n) { rowDots(n, k.index(0)); },
          KernelBuilder::rowLoopSchedule(rowBytes));
    };
    const int64_t kFloatTileTokens = floatTileTokens(k.width);
    int64_t blocks = rows / kFloatTileRows;
    if (blocks == 0 || cols % k.width != 0) {
      rowWise(k.index(0));
      return;
    }
    Value tiled = arith::CmpIOp::create(k.b, k.loc, arith::CmpIPredicate::uge,
                                        numTokens, k.index(kFloatTileTokens));
    auto branch = scf::IfOp::create(k.b, k.loc, tiled, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPoint(branch.thenBlock()->getTerminator());
    auto f32Vec = VectorType::get({k.width}, k.b.getF32Type());
    Value tokenEnd = k.muli(k.divui(numTokens, k.index(kFloatTileTokens)),
                            k.index(kFloatTileTokens));
    // The tiles read f16 activations widened once into an f32 copy (the
    // same values): widening each vector in the tile loop cost 9% of an f16
    // prefill on Zen 4, where the tile is bound by vector throughput.
    Value tileX = x;
    if (inverseScale) {
      auto type = MemRefType::get({ShapedType::kDynamic, cols},
                                  f32Vec.getElementType());
      tileX = memref::AllocOp::create(k.b, k.loc, type, ValueRange{numTokens},
                                      k.b.getI64IntegerAttr(64));
      k.forLoop(0, numTokens, [&](Value t) {
        k.forLoop(k.index(0), k.index(cols), k.width, [&](Value kk) {
          vector::StoreOp::create(k.b, k.loc, k.vectorLoad(x, {t, kk}), tileX,
                                  ValueRange{t, kk});
        });
      });
    }
    k.parallelLoop(0, k.index(blocks), [&](Value block) {
      Value n0 = k.muli(block, k.index(kFloatTileRows));
      k.forLoop(k.index(0), tokenEnd, kFloatTileTokens, [&](Value t0) {
        Value vzero = arith::ConstantOp::create(
            k.b, k.loc, DenseElementsAttr::get(f32Vec, k.b.getF32FloatAttr(0)));
        SmallVector<Value> init(kFloatTileRows * kFloatTileTokens, vzero);
        SmallVector<Value> acc = k.forLoopCarried(
            k.index(0), k.index(cols), k.width, init,
            [&](Value kk, ValueRange carried) -> SmallVector<Value> {
              SmallVector<Value> wv;
              SmallVector<Value> next(kFloatTileRows * kFloatTileTokens);
              for (int64_t r = 0; r < kFloatTileRows; ++r)
                wv.push_back(k.vectorLoad(w, {k.addi(n0, k.index(r)), kk}));
              for (int64_t j = 0; j < kFloatTileTokens; ++j) {
                Value xv = k.vectorLoad(tileX, {k.addi(t0, k.index(j)), kk});
                for (int64_t r = 0; r < kFloatTileRows; ++r) {
                  int64_t at = r * kFloatTileTokens + j;
                  next[at] =
                      vector::FMAOp::create(k.b, k.loc, wv[r], xv, carried[at]);
                }
              }
              return next;
            });
        for (int64_t r = 0; r < kFloatTileRows; ++r)
          for (int64_t j = 0; j < kFloatTileTokens; ++j) {
            Value total = vector::ReductionOp::create(
                k.b, k.loc, vector::CombiningKind::ADD,
                acc[r * kFloatTileTokens + j], arith::FastMathFlags::reassoc);
            Value t = k.addi(t0, k.index(j));
            k.store(unscale(total, t), out, {t, k.addi(n0, k.index(r))});
          }
      });
      // The tokens after the last whole tile, row by row.
      for (int64_t r = 0; r < kFloatTileRows; ++r)
        rowDots(k.addi(n0, k.index(r)), tokenEnd);
    });
    // The rows after the last whole tile.
    if (blocks * kFloatTileRows < rows)
      rowWise(k.index(blocks * kFloatTileRows));
    if (tileX != x)
      memref::DeallocOp::create(k.b, k.loc, tileX);
    k.b.setInsertionPoint(branch.elseBlock()->getTerminator());
    rowWise(k.index(0));
  }

  /// An unsliced nested weight served at a run-time width r: one copy of
  /// the kernel per width, each reading a static number of planes (unrolled
  /// plane reads, constant shifts), chosen once per call by an
  /// `scf.index_switch` on r clamped to [1, P]. r = P is the default case.
  void lowerRuntimeWidth(KernelBuilder &k, KernelMatmulOp op, OpAdaptor adaptor,
                         QTensorType type, Value x, Value out,
                         Value numTokens) const {
    unsigned parent = type.getBits();
    QuantBuffers dynamic{type, Value(), Value(), Value(), adaptor.getWidth()};
    Value r = arith::IndexCastOp::create(k.b, k.loc, k.b.getIndexType(),
                                         servedWidth(k, dynamic));
    SmallVector<int64_t> cases;
    for (unsigned w = 1; w < parent; ++w)
      cases.push_back(w);
    auto sw = scf::IndexSwitchOp::create(k.b, k.loc, TypeRange{}, r, cases,
                                         cases.size());
    OpBuilder::InsertionGuard guard(k.b);
    auto emit = [&](Region &region, QTensorType served) {
      Block *block = k.b.createBlock(&region);
      k.b.setInsertionPointToStart(block);
      scf::YieldOp::create(k.b, k.loc);
      k.b.setInsertionPoint(block->getTerminator());
      lowerQuantized(k, op, adaptor, served, x, out, numTokens,
                     /*runtimeWidth=*/false);
    };
    for (auto [i, w] : llvm::enumerate(cases))
      emit(sw.getCaseRegions()[i], type.cloneWithBits(w, parent));
    emit(sw.getDefaultRegion(), type);
  }

  void lowerQuantized(KernelBuilder &k, KernelMatmulOp op, OpAdaptor adaptor,
                      QTensorType type, Value x, Value out, Value numTokens,
                      bool runtimeWidth = true) const {
    ValueRange parts = adaptor.getWeight();
    QuantBuffers q{type, parts[0], parts[1],
                   type.isAsymmetric() ? parts[2] : Value(),
                   runtimeWidth ? adaptor.getWidth() : Value()};
    if (integer.int8Activations &&
        lowerIntegerMatmul(k, q, x, out, numTokens, integer))
      return;
    int64_t rows = type.getShape()[0], cols = type.getShape()[1];
    int64_t group = type.getGranularity() == Granularity::Group
                        ? type.getGroupSize()
                        : cols;
    int64_t numGroups = llvm::divideCeil(cols, group);
    bool vectorized = canVectorizeCodes(k, q, group);
    int64_t fullGroup =
        cols % group == 0 && group % k.width == 0 && group <= 256 ? group : 0;
    // Each group's lane sums are scaled into one vector accumulator (a
    // reassociation of the group sums: one horizontal reduction per output
    // instead of one per group); scalar tails accumulate beside it.
    // With 16-bit scales each weight is rounded to the expressed type (the
    // value qopt.dequantize defines), so the scale cannot be factored out of
    // the group sum; f32 scales are applied once per group.
    Type expressed = type.getExpressedType();
    Type rounded = expressed.isF16() || expressed.isBF16() ? expressed : Type();
    // Asymmetric two-level scales (K-quant minimums): each weight is
    // scale * code - minimum, as qopt.dequantize gives it.
    bool offsetForm = type.isTwoLevel() && q.zeros;
    auto f32Vec = VectorType::get({k.width}, k.b.getF32Type());
    k.parallelLoop(0, k.index(rows), [&](Value n) {
      k.forLoop(0, numTokens, [&](Value t) {
        Value vzero = arith::ConstantOp::create(
            k.b, k.loc, DenseElementsAttr::get(f32Vec, k.b.getF32FloatAttr(0)));
        SmallVector<Value> acc = k.forLoopCarried(
            k.index(0), k.index(numGroups), 1, {vzero, k.f32(0.0f)},
            [&](Value g, ValueRange carried) -> SmallVector<Value> {
              Value k0 = k.muli(g, k.index(group));
              Value k1 = k.minui(k.addi(k0, k.index(group)), k.index(cols));
              SmallVector<Value> sIdx = scaleIndices(k, type, {n, k0});
              Value scale = groupScale(k, q, sIdx);
              Value zero, offset;
              if (offsetForm)
                offset = groupOffset(k, q, sIdx, scale);
              else
                zero = zeroValue(k, q, sIdx);
              GroupSums sums = groupDot(k, q, x, t, n, k0, k1, zero, scale,
                                        rounded, offset, vectorized, fullGroup);
              Value perGroup = rounded || offsetForm ? k.f32(1.0f) : scale;
              Value vec = rounded || offsetForm
                              ? k.addf(carried[0], sums.vec)
                              : vector::FMAOp::create(k.b, k.loc,
                                                      k.splat(f32Vec, perGroup),
                                                      sums.vec, carried[0])
                                    .getResult();
              Value scalar = carried[1];
              if (sums.scalar)
                scalar = k.addf(scalar, k.mulf(perGroup, sums.scalar));
              return {vec, scalar};
            });
        Value total = vector::ReductionOp::create(
            k.b, k.loc, vector::CombiningKind::ADD, acc[0], acc[1],
            arith::FastMathFlags::reassoc);
        k.store(total, out, {t, n});
      });
    });
  }

  int64_t width;
  IntegerMatmulOptions integer;
};

} // namespace

void mlir::qopt::populateMatmulKernelPatterns(
    RewritePatternSet &patterns, int64_t width,
    const IntegerMatmulOptions &integer) {
  patterns.add<KernelMatmulLowering>(patterns.getContext(), width, integer);
}
