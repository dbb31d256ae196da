//===- QOptToLoops.cpp - Model ops to vectorized loops ----------*- C++ -*-===//
//
// The convert-qopt-to-loops pass. A model function is straight-line code on
// tensors; this pass rebuilds it on buffers: every tensor value gets a
// memref (function arguments map directly, op results are allocated), every
// qopt model op becomes scf loops with vector dot products, weights become
// reads of a runtime-supplied address table, and results are copied into
// out-parameters. All allocations are freed before the function returns.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>
#include <functional>
#include <limits>

namespace mlir::qopt {
#define GEN_PASS_DEF_CONVERTQOPTTOLOOPSPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;
using namespace mlir::qopt;

namespace {

/// Number of independent vector accumulators of the dot products (to hide
/// FMA latency). Their width (f32 lanes) is the pass's `vector-width`.
constexpr int64_t kUnroll = 4;

//===----------------------------------------------------------------------===//
// Emitter: small helpers to build loops and arithmetic at one insertion point
//===----------------------------------------------------------------------===//

class Emitter {
public:
  Emitter(OpBuilder &builder, Location loc, int64_t width)
      : b(builder), loc(loc), width(width),
        fast(arith::FastMathFlagsAttr::get(builder.getContext(),
                                           arith::FastMathFlags::fast)) {}

  OpBuilder &b;
  Location loc;
  /// f32 lanes of the vectors (8 for AVX2, 16 for AVX-512).
  int64_t width;
  arith::FastMathFlagsAttr fast;

  Value index(int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value f32(float v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) {
    if (isa<IndexType>(x.getType()))
      return arith::AddIOp::create(b, loc, x, y);
    return arith::AddFOp::create(b, loc, x, y, fast);
  }
  Value mul(Value x, Value y) {
    if (isa<IndexType>(x.getType()))
      return arith::MulIOp::create(b, loc, x, y);
    return arith::MulFOp::create(b, loc, x, y, fast);
  }
  Value sub(Value x, Value y) {
    return arith::SubFOp::create(b, loc, x, y, fast);
  }
  Value div(Value x, Value y) {
    return arith::DivFOp::create(b, loc, x, y, fast);
  }
  /// Loads one element, widened to f32 if it is a 16-bit float.
  Value load(Value memref, ValueRange indices) {
    return widen(memref::LoadOp::create(b, loc, memref, indices));
  }
  /// Loads `width` consecutive elements as a vector of f32.
  Value vectorLoad(Value memref, ValueRange indices) {
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    Value v = vector::LoadOp::create(
        b, loc, VectorType::get({width}, element), memref, indices);
    return widen(v);
  }
  /// Extends an f16/bf16 scalar or vector to f32; other values unchanged.
  Value widen(Value v) {
    Type element = getElementTypeOrSelf(v.getType());
    if (!element.isF16() && !element.isBF16())
      return v;
    Type target = b.getF32Type();
    if (auto vec = dyn_cast<VectorType>(v.getType()))
      target = vec.clone(target);
    return arith::ExtFOp::create(b, loc, target, v);
  }
  void store(Value value, Value memref, ValueRange indices) {
    memref::StoreOp::create(b, loc, value, memref, indices);
  }
  Value dim(Value memref, int64_t d) {
    auto type = cast<MemRefType>(memref.getType());
    if (!type.isDynamicDim(d))
      return index(type.getDimSize(d));
    return memref::DimOp::create(b, loc, memref, d);
  }

  /// Emits `for iv in [lb, ub) step s { body(iv) }`.
  void forLoop(Value lb, Value ub, int64_t step,
               function_ref<void(Value)> body) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, index(step));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    body(loop.getInductionVar());
  }
  void forLoop(int64_t lb, Value ub, function_ref<void(Value)> body) {
    forLoop(index(lb), ub, 1, body);
  }

  /// Emits a loop carrying `init` and returns its results; `body` returns
  /// the next values of the carried variables.
  SmallVector<Value>
  forLoopCarried(Value lb, Value ub, int64_t step, ValueRange init,
                 function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto loop = scf::ForOp::create(
        b, loc, lb, ub, index(step), init,
        [&](OpBuilder &nested, Location, Value iv, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nested.getInsertionBlock(),
                              nested.getInsertionPoint());
          SmallVector<Value> next = body(iv, args);
          scf::YieldOp::create(b, loc, next);
        });
    return SmallVector<Value>(loop.getResults());
  }

  /// Sum over k in [0, length) of a[aPrefix..., aOffset + k] *
  /// c[cPrefix..., cOffset + k], with 4 x vector<8xf32> FMA accumulators and
  /// a scalar tail. `length` is static.
  Value dot(Value a, ValueRange aPrefix, Value aOffset, Value c,
            ValueRange cPrefix, Value cOffset, int64_t length) {
    auto vecType = VectorType::get({width}, b.getF32Type());
    auto indices = [&](ValueRange prefix, Value offset, Value k) {
      SmallVector<Value> idx(prefix);
      idx.push_back(add(offset, k));
      return idx;
    };
    auto vload = [&](Value m, ValueRange prefix, Value offset, Value k) {
      return vectorLoad(m, indices(prefix, offset, k));
    };
    if (length < width) {
      // Too short for one vector: a plain scalar sum.
      Value result = f32(0.0f);
      for (int64_t k = 0; k < length; ++k) {
        Value kk = index(k);
        result = add(result, mul(load(a, indices(aPrefix, aOffset, kk)),
                                 load(c, indices(cPrefix, cOffset, kk))));
      }
      return result;
    }
    Value zero = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecType, b.getF32FloatAttr(0.0f)));
    SmallVector<Value> accs(kUnroll, zero);

    int64_t chunk = width * kUnroll;
    int64_t mainEnd = length / chunk * chunk;
    if (mainEnd > 0) {
      accs = forLoopCarried(
          index(0), index(mainEnd), chunk, accs,
          [&](Value k, ValueRange carried) {
            SmallVector<Value> next;
            for (int64_t u = 0; u < kUnroll; ++u) {
              Value ku = add(k, index(u * width));
              Value va = vload(a, aPrefix, aOffset, ku);
              Value vc = vload(c, cPrefix, cOffset, ku);
              next.push_back(vector::FMAOp::create(b, loc, va, vc, carried[u]));
            }
            return next;
          });
    }
    int64_t k0 = mainEnd;
    for (int64_t u = 0; k0 + width <= length; k0 += width, ++u) {
      Value kk = index(k0);
      accs[u % kUnroll] = vector::FMAOp::create(
          b, loc, vload(a, aPrefix, aOffset, kk), vload(c, cPrefix, cOffset, kk),
          accs[u % kUnroll]);
    }
    Value sum = accs[0];
    for (int64_t u = 1; u < kUnroll; ++u)
      sum = arith::AddFOp::create(b, loc, sum, accs[u], fast);
    Value result = vector::ReductionOp::create(
        b, loc, vector::CombiningKind::ADD, sum, arith::FastMathFlags::fast);
    for (; k0 < length; ++k0) {
      Value kk = index(k0);
      result = add(result, mul(load(a, indices(aPrefix, aOffset, kk)),
                               load(c, indices(cPrefix, cOffset, kk))));
    }
    return result;
  }
};

//===----------------------------------------------------------------------===//
// Function lowering
//===----------------------------------------------------------------------===//

/// Lowers one function. Weights get indices in `weightTable` (shared by all
/// functions of the module, deduplicated by resource name).
class FunctionLowering {
public:
  FunctionLowering(func::FuncOp func, ModuleOp module,
                   llvm::StringMap<int64_t> &weightIndex,
                   SmallVectorImpl<Attribute> &weightNames, int64_t &globals,
                   int64_t vectorWidth)
      : oldFunc(func), module(module), weightIndex(weightIndex),
        weightNames(weightNames), globalCounter(globals),
        vectorWidth(vectorWidth) {}

  LogicalResult run();

private:
  func::FuncOp oldFunc;
  ModuleOp module;
  llvm::StringMap<int64_t> &weightIndex;
  SmallVectorImpl<Attribute> &weightNames;
  int64_t &globalCounter;
  int64_t vectorWidth;

  IRMapping mapping;
  SmallVector<Value> allocations;
  Value weightTable;

  /// The buffers of a quantized tensor built by qopt.pack.
  struct QuantBuffers {
    QTensorType type;
    Value codes, scales, zeros; ///< zeros is null for `sym`
    /// The codes are packed bytes (isPackedCodes), not one per element.
    bool packed = false;
  };
  /// qopt.pack results, and qopt.dequantize results of such packs. A
  /// dequantized weight is not materialized when its users can read the
  /// codes directly (linear, embedding); `buffer` materializes it otherwise.
  DenseMap<Value, QuantBuffers> packs, dequantized;
  Emitter *current = nullptr;

  /// The buffer of tensor value `v`.
  Value buffer(Value v) {
    if (Value b = mapping.lookupOrNull(v))
      return b;
    auto it = dequantized.find(v);
    if (it == dequantized.end())
      return Value();
    Value b = materializeDequantize(*current, it->second,
                                    cast<RankedTensorType>(v.getType()));
    mapping.map(v, b);
    return b;
  }

  /// The integer code of element `indices` (unpacking packed bytes).
  Value loadCode(Emitter &e, const QuantBuffers &q, ValueRange indices);
  /// The dequantized value of element `indices` (last index `k`) of a packed
  /// tensor, in f32: scale * (code * 2^(p-c) - zero).
  Value dequantElement(Emitter &e, const QuantBuffers &q, ValueRange indices);
  /// Index of the scale of element `indices` (groups along the last axis).
  SmallVector<Value> scaleIndices(Emitter &e, const QuantBuffers &q,
                                  ValueRange indices);
  /// sum_k x[xPrefix..., k] * dequant(q)[row, k] for a 2-D packed weight.
  Value quantizedDot(Emitter &e, const QuantBuffers &q, Value x,
                     ValueRange xPrefix, Value row, int64_t length);
  Value materializeDequantize(Emitter &e, const QuantBuffers &q,
                              RankedTensorType type);
  /// True if `q` can be read directly by the fused kernels.
  static bool isFusable(const QuantBuffers &q) {
    QTensorType t = q.type;
    return t.getRank() == 2 && t.getAxis() == 1 &&
           t.getGranularity() != Granularity::PerTensor &&
           t.getExpressedType().isF32() &&
           !ShapedType::isDynamic(t.getElementsPerGroup());
  }

  /// Allocates a buffer for a result of `type`, taking dynamic sizes from
  /// `like` (same rank).
  Value allocate(Emitter &e, RankedTensorType type, Value like);

  LogicalResult lowerOp(Emitter &e, Operation *op);
  LogicalResult lowerConstant(Emitter &e, arith::ConstantOp op);
  void lowerEmbedding(Emitter &e, EmbeddingOp op);
  void lowerRMSNorm(Emitter &e, RMSNormOp op);
  void lowerLinear(Emitter &e, LinearOp op);
  void lowerRope(Emitter &e, RopeOp op);
  void lowerAttention(Emitter &e, AttentionOp op);
  void lowerSwiGLU(Emitter &e, SwiGLUOp op);
  LogicalResult lowerElementwise(Emitter &e, Operation *op);
};
} // namespace

/// Memref type with the shape and element type of `type`.
static MemRefType toMemRef(ShapedType type) {
  return MemRefType::get(type.getShape(), type.getElementType());
}

Value FunctionLowering::allocate(Emitter &e, RankedTensorType type,
                                 Value like) {
  SmallVector<Value> dynamicSizes;
  for (int64_t d = 0, r = type.getRank(); d < r; ++d)
    if (type.isDynamicDim(d))
      dynamicSizes.push_back(e.dim(like, d));
  Value alloc = memref::AllocOp::create(e.b, e.loc, toMemRef(type),
                                        dynamicSizes,
                                        e.b.getI64IntegerAttr(64));
  allocations.push_back(alloc);
  return alloc;
}

LogicalResult FunctionLowering::lowerConstant(Emitter &e,
                                              arith::ConstantOp op) {
  auto tensorType = dyn_cast<RankedTensorType>(op.getType());
  if (!tensorType) {
    mapping.map(op.getResult(), e.b.clone(*op)->getResult(0));
    return success();
  }
  MemRefType memrefType = toMemRef(tensorType);
  if (!memrefType.hasStaticShape())
    return op.emitError("convert-qopt-to-loops: constant of dynamic shape");
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(op.getValue())) {
    StringRef key = resource.getRawHandle().getKey();
    auto [it, inserted] =
        weightIndex.try_emplace(key, static_cast<int64_t>(weightNames.size()));
    if (inserted)
      weightNames.push_back(StringAttr::get(op.getContext(), key));
    Value ref = WeightRefOp::create(e.b, e.loc, memrefType, weightTable,
                                    e.b.getI64IntegerAttr(it->second));
    mapping.map(op.getResult(), ref);
    return success();
  }
  auto elements = dyn_cast<DenseElementsAttr>(op.getValue());
  if (!elements)
    return op.emitError("convert-qopt-to-loops: unsupported constant value");
  // Small inline constants become private globals.
  OpBuilder moduleBuilder = OpBuilder::atBlockBegin(module.getBody());
  std::string name = "__qopt_constant_" + std::to_string(globalCounter++);
  memref::GlobalOp::create(moduleBuilder, op.getLoc(), name,
                           moduleBuilder.getStringAttr("private"), memrefType,
                           elements, /*constant=*/true,
                           /*alignment=*/moduleBuilder.getI64IntegerAttr(64));
  mapping.map(op.getResult(),
              memref::GetGlobalOp::create(e.b, e.loc, memrefType, name));
  return success();
}

void FunctionLowering::lowerEmbedding(Emitter &e, EmbeddingOp op) {
  auto quant = dequantized.find(op.getTable());
  bool fused = quant != dequantized.end() && isFusable(quant->second);
  Value table = fused ? Value() : buffer(op.getTable());
  Value tokens = buffer(op.getTokens());
  auto tableType = cast<RankedTensorType>(op.getTable().getType());
  int64_t vocab = tableType.getDimSize(0), width = tableType.getDimSize(1);
  Value out = allocate(e, op.getType(), tokens);
  Value numTokens = e.dim(tokens, 0);
  e.forLoop(0, numTokens, [&](Value t) {
    Value token = e.load(tokens, {t});
    Value row = arith::IndexCastOp::create(e.b, e.loc, e.b.getIndexType(),
                                           token);
    // Clamp: an out-of-range id must not read outside the table.
    row = arith::MaxSIOp::create(e.b, e.loc, row, e.index(0));
    row = arith::MinSIOp::create(e.b, e.loc, row, e.index(vocab - 1));
    e.forLoop(0, e.index(width), [&](Value d) {
      // A quantized table is dequantized one row at a time.
      Value v = fused ? dequantElement(e, quant->second, {row, d})
                      : e.load(table, {row, d});
      e.store(v, out, {t, d});
    });
  });
  mapping.map(op.getResult(), out);
}

void FunctionLowering::lowerRMSNorm(Emitter &e, RMSNormOp op) {
  Value x = buffer(op.getInput());
  Value weight = buffer(op.getWeight());
  int64_t width = op.getWeight().getType().getDimSize(0);
  Value out = allocate(e, op.getType(), x);
  Value eps = e.f32(op.getEpsilon().convertToFloat());
  Value invWidth = e.f32(1.0f / static_cast<float>(width));
  Value one = e.f32(1.0f);
  e.forLoop(0, e.dim(x, 0), [&](Value t) {
    Value ss = e.dot(x, {t}, e.index(0), x, {t}, e.index(0), width);
    Value meanSq = e.add(e.mul(ss, invWidth), eps);
    Value inv = e.div(one, math::SqrtOp::create(e.b, e.loc, meanSq));
    e.forLoop(0, e.index(width), [&](Value d) {
      Value v = e.mul(e.load(weight, {d}), e.mul(inv, e.load(x, {t, d})));
      e.store(v, out, {t, d});
    });
  });
  mapping.map(op.getResult(), out);
}

void FunctionLowering::lowerLinear(Emitter &e, LinearOp op) {
  Value x = buffer(op.getInput());
  RankedTensorType wType = op.getWeight().getType();
  int64_t outFeatures = wType.getDimSize(0), inFeatures = wType.getDimSize(1);
  auto quant = dequantized.find(op.getWeight());
  if (quant != dequantized.end() && isFusable(quant->second)) {
    // Fused dequantize-matmul: the codes are read directly, never expanded
    // to f32 in memory.
    Value out = allocate(e, op.getType(), x);
    Value numTokens = e.dim(x, 0);
    e.forLoop(0, e.index(outFeatures), [&](Value n) {
      e.forLoop(0, numTokens, [&](Value t) {
        e.store(quantizedDot(e, quant->second, x, {t}, n, inFeatures), out,
                {t, n});
      });
    });
    mapping.map(op.getResult(), out);
    return;
  }
  Value w = buffer(op.getWeight());
  Value out = allocate(e, op.getType(), x);
  Value numTokens = e.dim(x, 0);
  // Weight rows outermost: each row is streamed from memory once and reused
  // from cache for every token.
  e.forLoop(0, e.index(outFeatures), [&](Value n) {
    e.forLoop(0, numTokens, [&](Value t) {
      Value acc = e.dot(x, {t}, e.index(0), w, {n}, e.index(0), inFeatures);
      e.store(acc, out, {t, n});
    });
  });
  mapping.map(op.getResult(), out);
}

void FunctionLowering::lowerRope(Emitter &e, RopeOp op) {
  Value x = buffer(op.getInput());
  Value pos = mapping.lookup(op.getPosition());
  int64_t headDim = op.getHeadDim();
  int64_t width = op.getInput().getType().getShape().back();
  bool interleaved = op.getStyle() == RopeStyle::Interleaved;
  Value out = allocate(e, op.getType(), x);
  Value theta = e.f32(op.getTheta().convertToFloat());
  Value one = e.f32(1.0f);
  Value half = e.index(headDim / 2);
  e.forLoop(0, e.dim(x, 0), [&](Value t) {
    Value p = e.add(pos, t);
    Value pf = arith::UIToFPOp::create(
        e.b, e.loc, e.b.getF32Type(),
        arith::IndexCastUIOp::create(e.b, e.loc, e.b.getI64Type(), p));
    e.forLoop(0, half, [&](Value j) {
      // freq = 1 / theta^(2j / head_dim), as llama2.c computes it.
      Value twoJ = arith::UIToFPOp::create(
          e.b, e.loc, e.b.getF32Type(),
          arith::IndexCastUIOp::create(e.b, e.loc, e.b.getI64Type(),
                                       e.mul(j, e.index(2))));
      Value exponent = e.div(twoJ, e.f32(static_cast<float>(headDim)));
      Value freq = e.div(one, math::PowFOp::create(e.b, e.loc, theta,
                                                   exponent));
      Value angle = e.mul(pf, freq);
      Value cos = math::CosOp::create(e.b, e.loc, angle);
      Value sin = math::SinOp::create(e.b, e.loc, angle);
      e.forLoop(0, e.index(width / headDim), [&](Value h) {
        Value base = e.mul(h, e.index(headDim));
        Value i0, i1;
        if (interleaved) {
          i0 = e.add(base, e.mul(j, e.index(2)));
          i1 = e.add(i0, e.index(1));
        } else {
          i0 = e.add(base, j);
          i1 = e.add(i0, half);
        }
        Value a = e.load(x, {t, i0}), c = e.load(x, {t, i1});
        e.store(e.sub(e.mul(a, cos), e.mul(c, sin)), out, {t, i0});
        e.store(e.add(e.mul(a, sin), e.mul(c, cos)), out, {t, i1});
      });
    });
  });
  mapping.map(op.getResult(), out);
}

void FunctionLowering::lowerAttention(Emitter &e, AttentionOp op) {
  Value q = buffer(op.getQuery());
  Value k = buffer(op.getKey());
  Value v = buffer(op.getValue());
  Value kc = mapping.lookup(op.getKeyCache());
  Value vc = mapping.lookup(op.getValueCache());
  Value pos = mapping.lookup(op.getPosition());
  int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
  int64_t headDim = op.getHeadDim(), kvDim = kvHeads * headDim;
  int64_t group = heads / kvHeads;
  MemRefType cacheType = op.getKeyCache().getType();
  int64_t maxSeq = cacheType.getDimSize(1);
  Value layer = e.index(op.getLayer());
  Value out = allocate(e, op.getType(), q);

  // Scratch for one head's scores over all positions.
  auto scoresType = MemRefType::get({maxSeq}, e.b.getF32Type());
  Value scores = memref::AllocOp::create(e.b, e.loc, scoresType,
                                         e.b.getI64IntegerAttr(64));
  allocations.push_back(scores);
  Value scale = e.f32(1.0f / std::sqrt(static_cast<float>(headDim)));
  Value negInf = e.f32(-std::numeric_limits<float>::infinity());
  Value zero = e.f32(0.0f);
  Value one = e.f32(1.0f);
  auto vecType = VectorType::get({e.width}, e.b.getF32Type());
  bool vectorizeHead = headDim % e.width == 0;

  e.forLoop(0, e.dim(q, 0), [&](Value t) {
    Value p = e.add(pos, t);
    Value end = e.add(p, e.index(1));
    // Append this token's key and value to the cache.
    e.forLoop(0, e.index(kvDim), [&](Value i) {
      e.store(e.load(k, {t, i}), kc, {layer, p, i});
      e.store(e.load(v, {t, i}), vc, {layer, p, i});
    });
    e.forLoop(0, e.index(heads), [&](Value h) {
      Value qOff = e.mul(h, e.index(headDim));
      Value kvHead = arith::DivUIOp::create(e.b, e.loc, h, e.index(group));
      Value kOff = e.mul(kvHead, e.index(headDim));
      // scores[s] = q . K[s] / sqrt(head_dim), tracking the maximum.
      Value maxScore =
          e.forLoopCarried(e.index(0), end, 1, {negInf},
                           [&](Value s, ValueRange carried) {
                             Value dot = e.dot(q, {t}, qOff, kc, {layer, s},
                                               kOff, headDim);
                             Value sc = e.mul(dot, scale);
                             e.store(sc, scores, {s});
                             return SmallVector<Value>{arith::MaximumFOp::create(
                                 e.b, e.loc, carried[0], sc)};
                           })[0];
      Value sum = e.forLoopCarried(
          e.index(0), end, 1, {zero}, [&](Value s, ValueRange carried) {
            Value ex = math::ExpOp::create(
                e.b, e.loc, e.sub(e.load(scores, {s}), maxScore));
            e.store(ex, scores, {s});
            return SmallVector<Value>{e.add(carried[0], ex)};
          })[0];
      Value inv = e.div(one, sum);
      // out[t, head] = sum_s softmax[s] * V[s, kv head].
      if (vectorizeHead) {
        Value vzero = arith::ConstantOp::create(
            e.b, e.loc, DenseElementsAttr::get(vecType, e.b.getF32FloatAttr(0)));
        e.forLoop(e.index(0), e.index(headDim), e.width, [&](Value i) {
          Value acc = e.forLoopCarried(
              e.index(0), end, 1, {vzero}, [&](Value s, ValueRange carried) {
                Value w = vector::BroadcastOp::create(
                    e.b, e.loc, vecType, e.load(scores, {s}));
                Value vv = vector::LoadOp::create(
                    e.b, e.loc, vecType, vc,
                    ValueRange{layer, s, e.add(kOff, i)});
                return SmallVector<Value>{
                    vector::FMAOp::create(e.b, e.loc, w, vv, carried[0])};
              })[0];
          Value scaled = arith::MulFOp::create(
              e.b, e.loc, acc,
              vector::BroadcastOp::create(e.b, e.loc, vecType, inv), e.fast);
          vector::StoreOp::create(e.b, e.loc, scaled, out,
                                  ValueRange{t, e.add(qOff, i)});
        });
      } else {
        e.forLoop(0, e.index(headDim), [&](Value i) {
          Value acc = e.forLoopCarried(
              e.index(0), end, 1, {zero}, [&](Value s, ValueRange carried) {
                Value term =
                    e.mul(e.load(scores, {s}),
                          e.load(vc, {layer, s, e.add(kOff, i)}));
                return SmallVector<Value>{e.add(carried[0], term)};
              })[0];
          e.store(e.mul(acc, inv), out, {t, e.add(qOff, i)});
        });
      }
    });
  });
  mapping.map(op.getResult(), out);
}

void FunctionLowering::lowerSwiGLU(Emitter &e, SwiGLUOp op) {
  Value gate = buffer(op.getGate());
  Value up = buffer(op.getUp());
  int64_t width = op.getType().getShape().back();
  Value out = allocate(e, op.getType(), gate);
  Value one = e.f32(1.0f);
  e.forLoop(0, e.dim(gate, 0), [&](Value t) {
    e.forLoop(0, e.index(width), [&](Value i) {
      Value g = e.load(gate, {t, i});
      Value negG = arith::NegFOp::create(e.b, e.loc, g, e.fast);
      Value silu = e.div(g, e.add(one, math::ExpOp::create(e.b, e.loc, negG)));
      e.store(e.mul(silu, e.load(up, {t, i})), out, {t, i});
    });
  });
  mapping.map(op.getResult(), out);
}

LogicalResult FunctionLowering::lowerElementwise(Emitter &e, Operation *op) {
  auto type = dyn_cast<RankedTensorType>(op->getResultTypes()[0]);
  if (!type || !type.getElementType().isF32() ||
      op->getOperand(0).getType() != type || op->getOperand(1).getType() != type)
    return op->emitError() << "convert-qopt-to-loops: '" << op->getName()
                           << "' is supported on f32 tensors of one type only";
  Value lhs = buffer(op->getOperand(0)), rhs = buffer(op->getOperand(1));
  Value out = allocate(e, type, lhs);
  SmallVector<Value> ivs;
  std::function<void(int64_t)> nest = [&](int64_t d) {
    if (d == type.getRank()) {
      Value a = e.load(lhs, ivs), c = e.load(rhs, ivs), r;
      if (isa<arith::AddFOp>(op))
        r = e.add(a, c);
      else if (isa<arith::SubFOp>(op))
        r = e.sub(a, c);
      else
        r = e.mul(a, c);
      e.store(r, out, ivs);
      return;
    }
    e.forLoop(0, e.dim(lhs, d), [&](Value iv) {
      ivs.push_back(iv);
      nest(d + 1);
      ivs.pop_back();
    });
  };
  nest(0);
  mapping.map(op->getResult(0), out);
  return success();
}

SmallVector<Value> FunctionLowering::scaleIndices(Emitter &e,
                                                  const QuantBuffers &q,
                                                  ValueRange indices) {
  QTensorType t = q.type;
  if (t.getGranularity() == Granularity::PerTensor)
    return {};
  SmallVector<Value> idx(indices);
  int64_t axis = t.getAxis();
  if (t.getGranularity() == Granularity::PerChannel)
    idx[axis] = e.index(0);
  else
    idx[axis] = arith::DivUIOp::create(e.b, e.loc, idx[axis],
                                       e.index(t.getGroupSize()));
  return idx;
}

/// The code of `q` as f32 in parent units (code * 2^(p - c)).
static Value codeValue(Emitter &e, QTensorType type, Value code) {
  Type f32 = e.b.getF32Type();
  Type target = f32;
  if (auto vec = dyn_cast<VectorType>(code.getType()))
    target = vec.clone(f32);
  Value v = arith::UIToFPOp::create(e.b, e.loc, target, code);
  unsigned shift = type.getEffectiveParentBits() - type.getBits();
  if (shift == 0)
    return v;
  Value factor = e.f32(static_cast<float>(1u << shift));
  if (auto vec = dyn_cast<VectorType>(target))
    factor = vector::BroadcastOp::create(e.b, e.loc, vec, factor);
  return e.mul(v, factor);
}

/// The zero point of `q` for the group at `scaleIdx`, as f32.
static Value zeroValue(Emitter &e, QTensorType type, Value zeros,
                       ValueRange scaleIdx) {
  if (!zeros)
    return e.f32(static_cast<float>(1u << (type.getEffectiveParentBits() - 1)));
  return e.load(zeros, scaleIdx);
}

Value FunctionLowering::loadCode(Emitter &e, const QuantBuffers &q,
                                 ValueRange indices) {
  if (!q.packed)
    return e.load(q.codes, indices);
  // Element k of a row is bits [k*c, (k+1)*c) of the row's bytes.
  unsigned bits = q.type.getBits();
  int64_t perByte = 8 / bits;
  SmallVector<Value> idx(indices);
  Value k = idx.back();
  idx.back() = arith::DivUIOp::create(e.b, e.loc, k, e.index(perByte));
  Value byte = e.load(q.codes, idx);
  Value slot = arith::RemUIOp::create(e.b, e.loc, k, e.index(perByte));
  Value shift = arith::IndexCastOp::create(
      e.b, e.loc, e.b.getI8Type(), e.mul(slot, e.index(bits)));
  Value shifted = arith::ShRUIOp::create(e.b, e.loc, byte, shift);
  Value mask = arith::ConstantOp::create(
      e.b, e.loc, e.b.getI8IntegerAttr((1 << bits) - 1));
  return arith::AndIOp::create(e.b, e.loc, shifted, mask);
}

Value FunctionLowering::dequantElement(Emitter &e, const QuantBuffers &q,
                                       ValueRange indices) {
  SmallVector<Value> sIdx = scaleIndices(e, q, indices);
  Value code = codeValue(e, q.type, loadCode(e, q, indices));
  Value zero = zeroValue(e, q.type, q.zeros, sIdx);
  return e.mul(e.load(q.scales, sIdx), e.sub(code, zero));
}

Value FunctionLowering::quantizedDot(Emitter &e, const QuantBuffers &q,
                                     Value x, ValueRange xPrefix, Value row,
                                     int64_t length) {
  int64_t group = q.type.getElementsPerGroup();
  auto codeElement = cast<MemRefType>(q.codes.getType()).getElementType();
  auto codeVec = VectorType::get({e.width}, codeElement);
  auto halfVec = VectorType::get({e.width / 2}, codeElement);
  auto f32Vec = VectorType::get({e.width}, e.b.getF32Type());
  bool vectorized = group % e.width == 0 &&
                    (!q.packed || q.type.getBits() == 4);
  // e.width codes as a vector of bytes; packed 4-bit codes are split into
  // their low (even element) and high (odd element) nibbles.
  auto loadCodes = [&](Value k) -> Value {
    if (!q.packed)
      return vector::LoadOp::create(e.b, e.loc, codeVec, q.codes,
                                    ValueRange{row, k});
    Value byteIdx = arith::DivUIOp::create(e.b, e.loc, k, e.index(2));
    Value bytes = vector::LoadOp::create(e.b, e.loc, halfVec, q.codes,
                                         ValueRange{row, byteIdx});
    auto splat = [&](int64_t v) {
      return arith::ConstantOp::create(
          e.b, e.loc,
          DenseElementsAttr::get(halfVec, e.b.getI8IntegerAttr(v)));
    };
    Value low = arith::AndIOp::create(e.b, e.loc, bytes, splat(15));
    Value high = arith::ShRUIOp::create(e.b, e.loc, bytes, splat(4));
    return vector::InterleaveOp::create(e.b, e.loc, low, high);
  };
  // sum over groups of scale_g * sum_{k in g} (code_k - zero_g) * x_k
  return e.forLoopCarried(
      e.index(0), e.index(length), group, {e.f32(0.0f)},
      [&](Value k0, ValueRange acc) {
        SmallVector<Value> sIdx = scaleIndices(e, q, {row, k0});
        Value zero = zeroValue(e, q.type, q.zeros, sIdx);
        Value groupSum;
        if (vectorized) {
          Value zeroVec = vector::BroadcastOp::create(e.b, e.loc, f32Vec, zero);
          Value vacc = arith::ConstantOp::create(
              e.b, e.loc, DenseElementsAttr::get(f32Vec, e.b.getF32FloatAttr(0)));
          for (int64_t j = 0; j < group; j += e.width) {
            Value k = e.add(k0, e.index(j));
            Value w = e.sub(codeValue(e, q.type, loadCodes(k)), zeroVec);
            SmallVector<Value> xIdx(xPrefix);
            xIdx.push_back(k);
            vacc = vector::FMAOp::create(e.b, e.loc, e.vectorLoad(x, xIdx), w,
                                         vacc);
          }
          groupSum = vector::ReductionOp::create(
              e.b, e.loc, vector::CombiningKind::ADD, vacc,
              arith::FastMathFlags::fast);
        } else {
          groupSum = e.forLoopCarried(
              e.index(0), e.index(group), 1, {e.f32(0.0f)},
              [&](Value j, ValueRange inner) {
                Value k = e.add(k0, j);
                Value w =
                    e.sub(codeValue(e, q.type, loadCode(e, q, {row, k})), zero);
                SmallVector<Value> xIdx(xPrefix);
                xIdx.push_back(k);
                return SmallVector<Value>{
                    e.add(inner[0], e.mul(e.load(x, xIdx), w))};
              })[0];
        }
        Value scaled = e.mul(e.load(q.scales, sIdx), groupSum);
        return SmallVector<Value>{e.add(acc[0], scaled)};
      })[0];
}

Value FunctionLowering::materializeDequantize(Emitter &e,
                                              const QuantBuffers &q,
                                              RankedTensorType type) {
  Value out = allocate(e, type, q.codes);
  SmallVector<Value> ivs;
  std::function<void(int64_t)> nest = [&](int64_t d) {
    if (d == type.getRank()) {
      e.store(dequantElement(e, q, ivs), out, ivs);
      return;
    }
    // The output's (logical) extents: packed codes have fewer columns.
    e.forLoop(0, e.dim(out, d), [&](Value iv) {
      ivs.push_back(iv);
      nest(d + 1);
      ivs.pop_back();
    });
  };
  nest(0);
  return out;
}

LogicalResult FunctionLowering::lowerOp(Emitter &e, Operation *op) {
  current = &e;
  if (auto c = dyn_cast<arith::ConstantOp>(op))
    return lowerConstant(e, c);
  if (auto pack = dyn_cast<PackOp>(op)) {
    QuantBuffers q{pack.getType(), buffer(pack.getCodes()),
                   buffer(pack.getScales()),
                   pack.getZeros() ? buffer(pack.getZeros()) : Value(),
                   isPackedCodes(pack.getType(), pack.getCodes().getType())};
    if (!q.codes || !q.scales || (pack.getZeros() && !q.zeros))
      return op->emitError("convert-qopt-to-loops: operand of 'qopt.pack' "
                           "has no buffer");
    packs[pack.getResult()] = q;
    return success();
  }
  if (auto deq = dyn_cast<DequantizeOp>(op)) {
    auto it = packs.find(deq.getInput());
    if (it == packs.end())
      return op->emitError("convert-qopt-to-loops: 'qopt.dequantize' of a "
                           "value not built by qopt.pack in this function");
    dequantized[deq.getResult()] = it->second;
    return success();
  }
  if (auto o = dyn_cast<EmbeddingOp>(op))
    return lowerEmbedding(e, o), success();
  if (auto o = dyn_cast<RMSNormOp>(op))
    return lowerRMSNorm(e, o), success();
  if (auto o = dyn_cast<LinearOp>(op))
    return lowerLinear(e, o), success();
  if (auto o = dyn_cast<RopeOp>(op))
    return lowerRope(e, o), success();
  if (auto o = dyn_cast<AttentionOp>(op))
    return lowerAttention(e, o), success();
  if (auto o = dyn_cast<SwiGLUOp>(op))
    return lowerSwiGLU(e, o), success();
  if (isa<arith::AddFOp, arith::SubFOp, arith::MulFOp>(op) &&
      isa<TensorType>(op->getResultTypes()[0]))
    return lowerElementwise(e, op);
  if (op->getNumResults() == 0 || llvm::none_of(op->getResultTypes(), [](Type t) {
        return isa<TensorType>(t);
      })) {
    // Scalar bookkeeping (index arithmetic and the like) is kept as is.
    if (llvm::all_of(op->getOperandTypes(),
                     [](Type t) { return !isa<TensorType>(t); }) &&
        op->getNumRegions() == 0) {
      e.b.clone(*op, mapping);
      return success();
    }
  }
  return op->emitError() << "convert-qopt-to-loops: cannot lower '"
                         << op->getName() << "'";
}

LogicalResult FunctionLowering::run() {
  MLIRContext *ctx = oldFunc.getContext();
  FunctionType oldType = oldFunc.getFunctionType();
  if (!oldFunc.getBody().hasOneBlock())
    return oldFunc.emitError(
        "convert-qopt-to-loops: only straight-line functions are supported");

  // New signature: tensors become memrefs, results become out-params, and a
  // weight address table follows the inputs (always, for a uniform ABI).
  // The table is always present so that every model has the same ABI.
  bool needsTable = true;
  SmallVector<Type> inputs;
  for (Type t : llvm::concat<const Type>(oldType.getInputs(), oldType.getResults()))
    if (auto tensor = dyn_cast<RankedTensorType>(t))
      if (!BaseMemRefType::isValidElementType(tensor.getElementType()))
        return oldFunc.emitError()
               << "convert-qopt-to-loops: " << t
               << " has no buffer form (its element type cannot be a memref "
                  "element)";
  for (Type t : oldType.getInputs()) {
    if (auto tensor = dyn_cast<RankedTensorType>(t))
      inputs.push_back(toMemRef(tensor));
    else if (isa<TensorType>(t))
      return oldFunc.emitError(
          "convert-qopt-to-loops: unranked tensor arguments are not supported");
    else
      inputs.push_back(t);
  }
  if (needsTable)
    inputs.push_back(MemRefType::get({ShapedType::kDynamic},
                                     IntegerType::get(ctx, 64)));
  for (Type t : oldType.getResults()) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    if (!tensor)
      return oldFunc.emitError(
          "convert-qopt-to-loops: results must be ranked tensors");
    inputs.push_back(toMemRef(tensor));
  }

  OpBuilder builder(oldFunc);
  auto newFunc = func::FuncOp::create(builder, oldFunc.getLoc(),
                                      oldFunc.getName(),
                                      FunctionType::get(ctx, inputs, {}));
  newFunc.setVisibility(oldFunc.getVisibility());
  newFunc->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  Block *entry = newFunc.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  Emitter e(builder, oldFunc.getLoc(), vectorWidth);

  unsigned numArgs = oldType.getNumInputs();
  for (unsigned i = 0; i < numArgs; ++i)
    mapping.map(oldFunc.getArgument(i), entry->getArgument(i));
  if (needsTable)
    weightTable = entry->getArgument(numArgs);
  unsigned firstOut = numArgs + (needsTable ? 1 : 0);

  for (Operation &op : oldFunc.getBody().front().without_terminator()) {
    e.loc = op.getLoc();
    if (failed(lowerOp(e, &op))) {
      newFunc.erase();
      return failure();
    }
  }
  auto ret = cast<func::ReturnOp>(oldFunc.getBody().front().getTerminator());
  e.loc = ret.getLoc();
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    Value src = buffer(value);
    if (!src) {
      newFunc.erase();
      return ret.emitError("convert-qopt-to-loops: returned value has no "
                           "buffer");
    }
    memref::CopyOp::create(builder, e.loc, src,
                           entry->getArgument(firstOut + i));
  }
  for (Value alloc : allocations)
    memref::DeallocOp::create(builder, e.loc, alloc);
  func::ReturnOp::create(builder, e.loc);
  oldFunc.erase();
  return success();
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct ConvertQOptToLoopsPass
    : public qopt::impl::ConvertQOptToLoopsPassBase<ConvertQOptToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::StringMap<int64_t> weightIndex;
    SmallVector<Attribute> weightNames;
    int64_t globals = 0;
    SmallVector<func::FuncOp> funcs;
    for (auto f : module.getOps<func::FuncOp>())
      if (!f.isExternal())
        funcs.push_back(f);
    if (vectorWidth < 1 || (vectorWidth & (vectorWidth - 1)) != 0) {
      module.emitError() << "convert-qopt-to-loops: vector-width must be a "
                            "power of two, got "
                         << static_cast<int64_t>(vectorWidth);
      return signalPassFailure();
    }
    for (func::FuncOp f : funcs) {
      FunctionLowering lowering(f, module, weightIndex, weightNames, globals,
                                vectorWidth);
      if (failed(lowering.run()))
        return signalPassFailure();
    }
    module->setAttr("qopt.weight_table",
                    ArrayAttr::get(module.getContext(), weightNames));
  }
};
} // namespace
