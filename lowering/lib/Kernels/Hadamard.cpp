//===- Hadamard.cpp - qopt.kernel_hadamard to loops -------------*- C++ -*-===//
//
// The in-place fast Walsh-Hadamard transform of each block of n = K * 2^m
// elements of each row (H_n = H_K (x) H_(2^m), docs/hadamard.md):
//   1. m butterfly stages over every contiguous run of P = 2^m elements:
//      stage h pairs x[j] and x[j + h]; strides of at least the vector
//      width are vector loads and stores; the strides below it are one pass
//      of in-register shuffles when a run holds whole vectors, scalar
//      otherwise;
//   2. for K > 1, the K x K mix across the runs, y[a*P + b] =
//      sum_c H_K[a][c] x[c*P + b] (a ±1 constant matrix in a memref.global),
//      vectorized along b when P >= vector width, as dot products along c
//      when P = 1, into a scratch buffer that is copied back;
//   3. the 1/sqrt(n) normalization, folded into the mix when there is one.
// O(n log2 P + n K) per block instead of the O(n^2) of a dense product.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "qopt/Runtime/Hadamard.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

namespace rt = ::qopt::runtime;

/// A constant memref.global holding H_K as f32 (created once per module).
static Value hadamardBaseMatrix(KernelBuilder &k, Operation *anchor,
                                int64_t base) {
  auto module = anchor->getParentOfType<ModuleOp>();
  std::string name = "__qopt_hadamard_" + std::to_string(base);
  auto type = MemRefType::get({base, base}, k.b.getF32Type());
  if (!SymbolTable::lookupSymbolIn(module, name)) {
    std::vector<int8_t> signs = rt::hadamardMatrix(base);
    SmallVector<float> values(signs.begin(), signs.end());
    auto tensorType = RankedTensorType::get({base, base}, k.b.getF32Type());
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(module.getBody());
    memref::GlobalOp::create(
        k.b, k.loc, name, k.b.getStringAttr("private"), type,
        DenseElementsAttr::get(tensorType, ArrayRef<float>(values)),
        /*constant=*/true, /*alignment=*/IntegerAttr());
  }
  return memref::GetGlobalOp::create(k.b, k.loc, type, name);
}

namespace {
struct KernelHadamardLowering : public OpConversionPattern<KernelHadamardOp> {
  KernelHadamardLowering(MLIRContext *ctx, int64_t width)
      : OpConversionPattern(ctx), width(width) {}

  LogicalResult
  matchAndRewrite(KernelHadamardOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op->getNumResults() != 0)
      return rewriter.notifyMatchFailure(op, "not bufferized");
    int64_t n = op.getSize();
    std::optional<rt::HadamardSize> factors = rt::factorHadamardSize(n);
    if (!factors)
      return rewriter.notifyMatchFailure(op, "unsupported size");
    KernelBuilder k(rewriter, op.getLoc(), width);
    Value x = adaptor.getInit();
    int64_t cols = cast<MemRefType>(x.getType()).getDimSize(1);
    int64_t base = factors->base, run = int64_t(1) << factors->log2Pow;
    auto vecType = VectorType::get({width}, rewriter.getF32Type());
    Value norm = k.f32(static_cast<float>(1.0 / std::sqrt(double(n))));
    Value normVec = k.splat(vecType, norm);

    Value matrix, scratch;
    if (base > 1) {
      matrix = hadamardBaseMatrix(k, op, base);
      scratch = memref::AllocOp::create(
          k.b, k.loc, MemRefType::get({n}, rewriter.getF32Type()));
    }

    k.forLoop(0, k.dim(x, 0), [&](Value t) {
      k.forLoop(k.index(0), k.index(cols), n, [&](Value offset) {
        auto at = [&](Value i) -> SmallVector<Value> {
          return {t, k.addi(offset, i)};
        };
        // 1. Butterflies of H_P within each run of P elements. When a run
        //    holds whole vectors, the strides below the vector width are done
        //    in registers in one pass: lane i pairs with lane i ^ h (a
        //    shuffle), and v' = shuffled + sign * v, sign = -1 on the lanes
        //    with bit h set (they hold a - b, the others a + b).
        int64_t firstStage = 1;
        if (run >= width) {
          SmallVector<Value> signs;
          SmallVector<SmallVector<int64_t>> masks;
          for (int64_t h = 1; h < width; h *= 2) {
            SmallVector<float> sign;
            SmallVector<int64_t> mask;
            for (int64_t i = 0; i < width; ++i) {
              sign.push_back((i & h) ? -1.0f : 1.0f);
              mask.push_back(i ^ h);
            }
            signs.push_back(arith::ConstantOp::create(
                k.b, k.loc, DenseElementsAttr::get(vecType, ArrayRef(sign))));
            masks.push_back(mask);
          }
          k.forLoop(k.index(0), k.index(n), width, [&](Value s) {
            Value v = k.vectorLoad(x, at(s));
            for (auto [sign, mask] : llvm::zip(signs, masks)) {
              Value partner = vector::ShuffleOp::create(k.b, k.loc, v, v, mask);
              v = vector::FMAOp::create(k.b, k.loc, v, sign, partner);
            }
            vector::StoreOp::create(k.b, k.loc, v, x, at(s));
          });
          firstStage = width;
        }
        for (int64_t h = firstStage; h < run; h *= 2) {
          k.forLoop(k.index(0), k.index(n), 2 * h, [&](Value s) {
            bool vector = h >= width;
            k.forLoop(k.index(0), k.index(h), vector ? width : 1, [&](Value j) {
              Value lo = k.addi(s, j), hi = k.addi(lo, k.index(h));
              Value a = vector ? k.vectorLoad(x, at(lo)) : k.load(x, at(lo));
              Value b = vector ? k.vectorLoad(x, at(hi)) : k.load(x, at(hi));
              Value sum = k.addf(a, b), diff = k.subf(a, b);
              if (vector) {
                vector::StoreOp::create(k.b, k.loc, sum, x, at(lo));
                vector::StoreOp::create(k.b, k.loc, diff, x, at(hi));
              } else {
                k.store(sum, x, at(lo));
                k.store(diff, x, at(hi));
              }
            });
          });
        }

        // 3 (K = 1). Normalize in place.
        if (base == 1) {
          bool vector = n >= width;
          k.forLoop(k.index(0), k.index(n), vector ? width : 1, [&](Value i) {
            if (vector) {
              Value v = k.vectorLoad(x, at(i));
              vector::StoreOp::create(k.b, k.loc, k.mulf(v, normVec), x, at(i));
            } else {
              k.store(k.mulf(k.load(x, at(i)), norm), x, at(i));
            }
          });
          return;
        }

        // 2. The K x K mix across runs, into the scratch buffer.
        k.forLoop(0, k.index(base), [&](Value a) {
          Value rowStart = k.muli(a, k.index(run));
          if (run == 1) {
            // y[a] = <H_K[a, :], x[0..K)>.
            Value sum = k.dot(matrix, {a}, k.index(0), x, {t}, offset, base);
            memref::StoreOp::create(k.b, k.loc, k.mulf(sum, norm), scratch,
                                    ValueRange{a});
            return;
          }
          bool vector = run >= width;
          k.forLoop(k.index(0), k.index(run), vector ? width : 1, [&](Value b) {
            Value zero = vector ? k.splat(vecType, k.f32(0.0f)) : k.f32(0.0f);
            SmallVector<Value> acc = k.forLoopCarried(
                k.index(0), k.index(base), 1, {zero},
                [&](Value c, ValueRange carried) {
                  Value sign = k.load(matrix, {a, c});
                  Value src = k.addi(k.muli(c, k.index(run)), b);
                  Value next;
                  if (vector)
                    next = vector::FMAOp::create(
                        k.b, k.loc, k.splat(vecType, sign),
                        k.vectorLoad(x, at(src)), carried[0]);
                  else
                    next = k.addf(carried[0], k.mulf(sign, k.load(x, at(src))));
                  return SmallVector<Value>{next};
                });
            Value dst = k.addi(rowStart, b);
            if (vector)
              vector::StoreOp::create(k.b, k.loc, k.mulf(acc[0], normVec),
                                      scratch, ValueRange{dst});
            else
              memref::StoreOp::create(k.b, k.loc, k.mulf(acc[0], norm), scratch,
                                      ValueRange{dst});
          });
        });
        // Copy the mixed block back.
        bool vector = n % width == 0;
        k.forLoop(k.index(0), k.index(n), vector ? width : 1, [&](Value i) {
          if (vector)
            vector::StoreOp::create(k.b, k.loc, k.vectorLoad(scratch, {i}), x,
                                    at(i));
          else
            k.store(k.load(scratch, {i}), x, at(i));
        });
      });
    });
    if (scratch)
      memref::DeallocOp::create(k.b, k.loc, scratch);
    rewriter.eraseOp(op);
    return success();
  }

  int64_t width;
};
} // namespace

void mlir::qopt::populateHadamardKernelPatterns(RewritePatternSet &patterns,
                                                int64_t width) {
  patterns.add<KernelHadamardLowering>(patterns.getContext(), width);
}
