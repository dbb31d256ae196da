//===- KernelOracleTest.cpp - Kernels against QuantMath ---------*- C++ -*-===//
//
// An oracle test of the quantized kernels (issue 7, item 6). Each case is a
// function that builds a `!qopt.qtensor` with `qopt.pack` from its arguments
// (never constants, so nothing folds at compile time), optionally slices it,
// and feeds it to `qopt.qmatmul` or a standalone `qopt.dequantize`. All cases
// of one run live in one module, lowered with the `qopt-to-llvm` pipeline
// (buildQOptToLLVMPipeline), JIT-compiled once with mlir::ExecutionEngine and
// called through `_mlir_ciface_<case>` on random data. Every output is
// compared with a reference computed in double precision from QuantMath.h
// (sliceValue, GroupIndexer) and the storage packers of Storage.h.
//
// Reference semantics (docs/quantization.md, QOptOps.td):
//  - served value v in parent units: `q` (unsliced dense), `sliceValue(q, c,
//    r)` for a dense c-bit tensor sliced to r, `sliceValue(q, P, r)` for a
//    nested P-bit tensor served at r (static slice, or the run-time width
//    table, r clamped to [1, P]);
//  - w = a * (v - z), z = 2^(p-1) for sym; `qopt.dequantize` returns w in the
//    expressed type (f16/bf16: rounded to nearest even), and qmatmul's
//    `dequantize(weight)[n, k]` is that same value widened to f32, so the
//    reference rounds w to the expressed type in both cases;
//  - y[t, n] = sum_k x[t, k] * w[n, k], accumulated in double.
//
// Tolerances (relative error < 1e-5):
//  - dequantize: |got - ref| <= 1e-5 * |ref|;
//  - qmatmul: |got - ref| <= 1e-5 * max(1, sum_k |x_k * w_k|). The kernel
//    sums in f32 in its own order (vector lanes, reassociated reductions,
//    FMA, the group scale applied once per group), so each term carries a
//    rounding error of order eps * |x_k * w_k|. When the terms cancel, |y| can
//    be arbitrarily small while those errors are not, so an error relative to
//    |y| is meaningless; sum_k |x_k * w_k| is the condition-number-aware
//    magnitude of the dot product (the bound of its forward error), and
//    max(1, .) keeps the bound absolute for an all-tiny row.
//
// Sampling (the full cross-product is ~10^4 compiled functions; instead
// every dimension is covered, and the Coverage test checks it):
//  A. dense, storage-form codes: every width 1..8 x {sym, asym} x {qmatmul
//     T = 1, qmatmul T = 3, dequantize};
//  B. dense, one code per element (i8/i16/i32; run-time repack kernel):
//     every width 1..8 x {qmatmul, dequantize}, both schemes;
//  C. nested P = 8, `qopt.slice` to every r in 1..7 x {sym, asym} x
//     {qmatmul, dequantize};
//  D. nested P = 8 unsliced, width from the width table: {qmatmul T = 1,
//     qmatmul T = 3, dequantize} x {sym, asym} x 2 groupings, each function
//     run at every r in 1..8;
//  E. nested P = 4: slices to 1..3 and the width table at r = 1..8 (r > 4
//     serves the parent);
//  F. nested from one code per element (repack into planes), static and
//     run-time widths;
//  G. `qopt.slice` of dense c-bit weights to r < c (run-time repack at r bits)
//     for c = 8 and every r, and a few other (c, r), both ops, both
//     storage-form and one-per-element sources.
// Groupings (group 16/32/64/128, per_channel, per_tensor; K = 64, 172, 256) and
// scale types (f32, f16, bf16, and f16 scales of f32 values) rotate over all
// cases with one counter, so every grouping x scale type pair appears with
// several widths.
// Each run (vector width 8, and 16 when the host has AVX-512F) JITs all
// cases in one module and calls each on 1 and on 3 OpenMP threads (the
// kernels' parallel row loops).
//
// The integer matmul path (int8 activations, IntegerMatmul.cpp) runs the
// matmul cases again, multi-token ones with 6 tokens instead of 3 (the
// row-wise kernel: a tile of 4 and a remainder) or with 11 tokens and 37
// rows (the packed GEMM of IntegerPanels.cpp on whole panels, the row-wise
// kernel on the rest), and one stories260K-shaped case (172 x 64, 409
// tokens), with
// generic integer code and with VNNI where the host has it. Where a case
// takes that path (integerMatmulApplies on its served type), the reference
// is the path's definition: x quantized per block of 32 with the kernel's
// own f32 arithmetic (int8Activations below), weights a * (v - z) not
// rounded to a 16-bit scale type, the sum in double; same tolerance.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"
#include "qopt/Runtime/Hadamard.h"
#include "qopt/Runtime/QuantMath.h"
#include "qopt/Runtime/Storage.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace mlir;
namespace rt = ::qopt::runtime;

// The OpenMP runtime the kernels' parallel loops run on.
extern "C" void omp_set_num_threads(int);

namespace {

//===----------------------------------------------------------------------===//
// Cases
//===----------------------------------------------------------------------===//

enum class OpKind { Matmul, Dequantize };
enum class Serve { Unsliced, Slice, Runtime };
enum class Gran { Group, PerChannel, PerTensor };
/// The expressed type, which is also the scales' type, except F16InF32: f32
/// values with f16 scales (`scale = f16`, a GGUF Q4_0/Q8_0 block).
enum class Scale { F32, F16, BF16, F16InF32 };

struct Grouping {
  Gran gran;
  int64_t group; // Group only
  int64_t k;
};

/// The groupings the cases rotate through.
const Grouping kGroupings[] = {
    {Gran::Group, 32, 64},      {Gran::Group, 64, 96},
    {Gran::Group, 64, 256},     {Gran::Group, 128, 256},
    {Gran::PerChannel, 0, 64},  {Gran::PerTensor, 0, 64},
    {Gran::Group, 32, 172},     {Gran::Group, 128, 192},
    {Gran::PerChannel, 0, 172}, {Gran::PerTensor, 0, 256},
    {Gran::Group, 16, 256},
};
constexpr int kNumGroupings = sizeof(kGroupings) / sizeof(kGroupings[0]);
const Scale kScales[] = {Scale::F32, Scale::F16, Scale::BF16, Scale::F16InF32};
constexpr int kNumScales = sizeof(kScales) / sizeof(kScales[0]);

struct Case {
  std::string name;
  OpKind op = OpKind::Matmul;
  int64_t tokens = 1, n = 5, k = 64;
  /// Width of the packed codes (the parent P of a nested tensor).
  unsigned bits = 8;
  bool nested = false;
  Serve serve = Serve::Unsliced;
  /// The static slice width (Serve::Slice).
  unsigned sliceBits = 0;
  /// 0: codes in the storage form; 8/16/32: one code per element, iN.
  unsigned unpackedBits = 0;
  int grouping = 0;
  bool sym = false;
  Scale scale = Scale::F32;

  // Data.
  std::vector<float> x;
  std::vector<uint8_t> codes;        // one per element, n x k
  std::vector<double> scales, zeros; // values exactly representable
  std::vector<uint8_t> codesBuf, scalesBuf, zerosBuf;

  const Grouping &g() const { return kGroupings[grouping]; }
};

/// The type the scales and zero points are stored in.
Scale storedScale(Scale s) { return s == Scale::F16InF32 ? Scale::F16 : s; }
/// The expressed type (of w and of a dequantized result).
Scale expressedOf(Scale s) { return s == Scale::F16InF32 ? Scale::F32 : s; }

const char *scaleName(Scale s) {
  switch (s) {
  case Scale::F32:
    return "f32";
  case Scale::F16:
    return "f16";
  case Scale::BF16:
    return "bf16";
  case Scale::F16InF32:
    return "f16inf32";
  }
  return "";
}

std::string granName(const Grouping &g) {
  switch (g.gran) {
  case Gran::Group:
    return "g" + std::to_string(g.group);
  case Gran::PerChannel:
    return "pc";
  case Gran::PerTensor:
    return "pt";
  }
  return "";
}

std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  for (int64_t d : shape)
    s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return s;
}

/// `!qopt.qtensor<...>` of the case at `bits` (with `parent` if > 0).
std::string qtype(const Case &c, unsigned bits, unsigned parent) {
  std::string s = llvm::formatv("!qopt.qtensor<{0}x{1}x{2}, bits = {3}", c.n,
                                c.k, scaleName(expressedOf(c.scale)), bits)
                      .str();
  if (parent)
    s += ", parent = " + std::to_string(parent);
  switch (c.g().gran) {
  case Gran::Group:
    s += ", group = " + std::to_string(c.g().group);
    break;
  case Gran::PerChannel:
    s += ", per_channel";
    break;
  case Gran::PerTensor:
    s += ", per_tensor";
    break;
  }
  s += c.sym ? ", sym" : ", asym";
  if (c.nested)
    s += ", layout = nested";
  if (storedScale(c.scale) != expressedOf(c.scale))
    s += std::string(", scale = ") + scaleName(storedScale(c.scale));
  return s + ">";
}

std::vector<int64_t> scalesShape(const Case &c) {
  switch (c.g().gran) {
  case Gran::Group:
    return {c.n, (c.k + c.g().group - 1) / c.g().group};
  case Gran::PerChannel:
    return {c.n, 1};
  case Gran::PerTensor:
    return {};
  }
  return {};
}

std::vector<int64_t> codesShape(const Case &c) {
  if (c.unpackedBits)
    return {c.n, c.k};
  if (c.nested)
    return {c.bits, c.n, static_cast<int64_t>(rt::nestedRowBytes(c.k))};
  return {c.n, static_cast<int64_t>(rt::denseRowBytes(c.k, c.bits))};
}

std::string tensorStr(ArrayRef<int64_t> shape, StringRef element) {
  return "tensor<" + shapeStr(shape) + element.str() + ">";
}

/// The function of one case.
std::string caseFunction(const Case &c) {
  std::string codesT = tensorStr(
      codesShape(c), c.unpackedBits ? "i" + std::to_string(c.unpackedBits)
                                    : std::string("i8"));
  std::string scalesT =
      tensorStr(scalesShape(c), scaleName(storedScale(c.scale)));
  std::string packedT = qtype(c, c.bits, 0);
  std::string servedT =
      c.serve == Serve::Slice ? qtype(c, c.sliceBits, c.bits) : packedT;
  std::string xT = llvm::formatv("tensor<?x{0}xf32>", c.k).str();
  std::string yT = c.op == OpKind::Matmul
                       ? llvm::formatv("tensor<?x{0}xf32>", c.n).str()
                       : tensorStr({c.n, c.k}, scaleName(expressedOf(c.scale)));
  std::string s = "func.func @" + c.name + "(";
  if (c.op == OpKind::Matmul)
    s += "%x: " + xT + ", ";
  s += "%codes: " + codesT + ", %s: " + scalesT;
  if (!c.sym)
    s += ", %z: " + scalesT;
  s += ") -> " + yT + " {\n";
  s += "  %w = qopt.pack %codes, %s" + std::string(c.sym ? "" : ", %z") +
       " : " + codesT + ", " + scalesT + (c.sym ? "" : ", " + scalesT) +
       " -> " + packedT + "\n";
  std::string w = "%w";
  if (c.serve == Serve::Slice) {
    s += "  %ws = qopt.slice %w to " + std::to_string(c.sliceBits) + " : " +
         packedT + "\n";
    w = "%ws";
  }
  if (c.op == OpKind::Matmul)
    s += "  %y = qopt.qmatmul %x, " + w + " : " + xT + ", " + servedT + " -> " +
         yT + "\n";
  else
    s += "  %y = qopt.dequantize " + w + " : " + servedT + " -> " + yT + "\n";
  s += "  return %y : " + yT + "\n}\n";
  return s;
}

//===----------------------------------------------------------------------===//
// Numbers
//===----------------------------------------------------------------------===//

const llvm::fltSemantics &semantics(Scale s) {
  return s == Scale::F16 ? llvm::APFloat::IEEEhalf() : llvm::APFloat::BFloat();
}

/// `v` rounded (to nearest even) to the scale type.
double roundTo(double v, Scale s) {
  if (s == Scale::F32)
    return static_cast<float>(v);
  llvm::APFloat f(v);
  bool loses;
  f.convert(semantics(s), llvm::APFloat::rmNearestTiesToEven, &loses);
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &loses);
  return f.convertToDouble();
}

/// Appends `v` (exactly representable) in the scale type's bytes.
void appendValue(std::vector<uint8_t> &buf, double v, Scale s) {
  if (s == Scale::F32) {
    float f = static_cast<float>(v);
    const auto *p = reinterpret_cast<const uint8_t *>(&f);
    buf.insert(buf.end(), p, p + 4);
    return;
  }
  llvm::APFloat f(v);
  bool loses;
  f.convert(semantics(s), llvm::APFloat::rmNearestTiesToEven, &loses);
  uint16_t b = static_cast<uint16_t>(f.bitcastToAPInt().getZExtValue());
  buf.push_back(b & 0xff);
  buf.push_back(b >> 8);
}

double readValue(const uint8_t *p, Scale s) {
  if (s == Scale::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t b = p[0] | (p[1] << 8);
  llvm::APFloat f(semantics(s), llvm::APInt(16, b));
  bool loses;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &loses);
  return f.convertToDouble();
}

unsigned scaleBytes(Scale s) { return s == Scale::F32 ? 4 : 2; }

/// The parent width: scales and zero points are in its units.
unsigned parentOf(const Case &c) { return c.bits; }

/// Served width of a run (r only matters for Serve::Runtime).
unsigned servedOf(const Case &c, unsigned runtimeWidth) {
  if (c.serve == Serve::Slice)
    return c.sliceBits;
  if (c.serve == Serve::Runtime)
    return std::clamp(runtimeWidth, 1u, c.bits);
  return c.bits;
}

void fillData(Case &c, std::mt19937 &rng) {
  auto uniform = [&](double lo, double hi) {
    return lo + (hi - lo) * (rng() / 4294967296.0);
  };
  int64_t tokens = c.op == OpKind::Matmul ? c.tokens : 0;
  c.x.resize(tokens * c.k);
  for (float &v : c.x)
    v = static_cast<float>(uniform(-1.0, 1.0));
  c.codes.resize(c.n * c.k);
  for (uint8_t &q : c.codes)
    q = static_cast<uint8_t>(rng() % (1u << c.bits));
  int64_t numScales = 1;
  for (int64_t d : scalesShape(c))
    numScales *= d;
  c.scales.clear();
  c.zeros.clear();
  c.scalesBuf.clear();
  c.zerosBuf.clear();
  for (int64_t i = 0; i < numScales; ++i) {
    // Scales spread over [2^-8, 2^-3]: exercises the rounding of w.
    double a = roundTo(std::exp2(uniform(-8.0, -3.0)), storedScale(c.scale));
    c.scales.push_back(a);
    appendValue(c.scalesBuf, a, storedScale(c.scale));
    if (!c.sym) {
      double z = static_cast<double>(rng() % (1u << parentOf(c)));
      c.zeros.push_back(z);
      appendValue(c.zerosBuf, z, storedScale(c.scale));
    }
  }
  if (c.unpackedBits) {
    unsigned bytes = c.unpackedBits / 8;
    c.codesBuf.assign(c.codes.size() * bytes, 0);
    for (size_t i = 0; i < c.codes.size(); ++i)
      c.codesBuf[i * bytes] = c.codes[i]; // little-endian
  } else if (c.nested) {
    c.codesBuf.resize(rt::nestedStorageBytes(c.n, c.k, c.bits));
    rt::packNestedPlanes(c.codes.data(), c.n, c.k, c.bits, c.codesBuf.data());
  } else {
    c.codesBuf.resize(rt::denseStorageBytes(c.n, c.k, c.bits));
    rt::packDenseRows(c.codes.data(), c.n, c.k, c.bits, c.codesBuf.data());
  }
}

/// The reference weight [n, k] in the expressed type (as double); with
/// `exact`, a * (v - z) before that rounding (for diagnostics only).
std::vector<double> referenceWeight(const Case &c, unsigned runtimeWidth,
                                    bool exact = false) {
  unsigned p = parentOf(c), r = servedOf(c, runtimeWidth);
  rt::GroupIndexer groups = rt::GroupIndexer::perTensor(c.n * c.k);
  int64_t shape[2] = {c.n, c.k};
  if (c.g().gran == Gran::Group)
    groups = rt::GroupIndexer(shape, 2, 1, c.g().group);
  else if (c.g().gran == Gran::PerChannel)
    groups = rt::GroupIndexer(shape, 2, 1, c.k);
  std::vector<double> w(c.n * c.k);
  for (int64_t i = 0; i < c.n * c.k; ++i) {
    uint32_t v = rt::sliceValue(c.codes[i], p, r);
    int64_t g = groups.scaleIndex(i);
    double z = c.sym ? rt::symmetricZero(p) : c.zeros[g];
    double value = c.scales[g] * (static_cast<double>(v) - z);
    w[i] = exact ? value : roundTo(value, expressedOf(c.scale));
  }
  return w;
}

//===----------------------------------------------------------------------===//
// Memref descriptors and calls
//===----------------------------------------------------------------------===//

/// A ranked memref descriptor as llvm.emit_c_interface takes it:
/// {allocated, aligned, offset, sizes[rank], strides[rank]}, all 8 bytes.
struct Descriptor {
  std::vector<int64_t> words;
  Descriptor(const void *data, ArrayRef<int64_t> sizes) {
    words.push_back(reinterpret_cast<int64_t>(data));
    words.push_back(reinterpret_cast<int64_t>(data));
    words.push_back(0);
    std::vector<int64_t> strides(sizes.size());
    int64_t stride = 1;
    for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
      strides[d] = stride;
      stride *= sizes[d];
    }
    words.insert(words.end(), sizes.begin(), sizes.end());
    words.insert(words.end(), strides.begin(), strides.end());
  }
};

/// Calls `_mlir_ciface_<name>` with pointers to `descs`.
llvm::Error call(ExecutionEngine &engine, StringRef name,
                 std::vector<Descriptor> &descs) {
  std::vector<void *> pointers, args;
  pointers.reserve(descs.size());
  for (Descriptor &d : descs)
    pointers.push_back(d.words.data());
  for (void *&p : pointers)
    args.push_back(&p);
  return engine.invokePacked(("_mlir_ciface_" + name).str(), args);
}

struct Stats {
  double worst = 0; // max over outputs of |got - ref| / bound-scale
  std::string worstCase;
  int runs = 0, failures = 0;
  /// Runs that took the integer matmul path.
  int integerRuns = 0;
};

/// The type the matmul of case `c` reads at `runtimeWidth` (the static
/// slice, or the nested tensor served at r: the parent for r >= P).
std::string servedType(const Case &c, unsigned runtimeWidth) {
  unsigned r = servedOf(c, runtimeWidth);
  return r == c.bits ? qtype(c, c.bits, 0) : qtype(c, r, c.bits);
}

/// The integer matmul path's activations (IntegerMatmul.cpp), with the
/// kernel's f32 arithmetic: per block of 32, a = max |x|, q =
/// clamp(roundeven(x * (127 / a)), -127, 127); the value is (a / 127) * q.
std::vector<double> int8Activations(const Case &c) {
  std::vector<double> xq(c.x.size());
  for (int64_t t = 0; t < c.tokens; ++t)
    for (int64_t b = 0; b < c.k; b += 32) {
      const float *x = &c.x[t * c.k + b];
      float amax = 0;
      for (int i = 0; i < 32; ++i)
        amax = std::max(amax, std::fabs(x[i]));
      float sx = amax / 127.0f;
      float inv = amax == 0 ? 0.0f : 127.0f / amax;
      for (int i = 0; i < 32; ++i) {
        float q = std::clamp(std::nearbyint(x[i] * inv), -127.0f, 127.0f);
        xq[t * c.k + b + i] = static_cast<double>(sx) * q;
      }
    }
  return xq;
}

/// The integer path of the matmul kernel, when a run takes it.
struct IntegerRun {
  MLIRContext *ctx = nullptr;
  int64_t vectorWidth = 8;
};

/// True if case `c` at `runtimeWidth` takes the integer path in `run`.
bool takesIntegerPath(const Case &c, unsigned runtimeWidth,
                      const IntegerRun *run) {
  if (!run || c.op != OpKind::Matmul)
    return false;
  auto type = llvm::dyn_cast_or_null<mlir::qopt::QTensorType>(
      parseType(servedType(c, runtimeWidth), run->ctx));
  return type && mlir::qopt::integerMatmulApplies(type, run->vectorWidth);
}

/// Runs case `c` once (at `runtimeWidth` for Serve::Runtime) and checks the
/// outputs. With `integer`, the matmuls that take the integer path are
/// checked against int8Activations() and the weights in f32 arithmetic
/// (not rounded to a 16-bit scale type): the path's definition.
void runCase(ExecutionEngine &engine, const Case &c, unsigned runtimeWidth,
             int64_t numWidthSlots, Stats &stats,
             const IntegerRun *integer = nullptr) {
  std::vector<int64_t> table{0};
  std::vector<int32_t> widths(std::max<int64_t>(numWidthSlots, 1),
                              static_cast<int32_t>(runtimeWidth));
  std::vector<Descriptor> descs;
  if (c.op == OpKind::Matmul)
    descs.emplace_back(c.x.data(), ArrayRef<int64_t>{c.tokens, c.k});
  descs.emplace_back(c.codesBuf.data(), codesShape(c));
  descs.emplace_back(c.scalesBuf.data(), scalesShape(c));
  if (!c.sym)
    descs.emplace_back(c.zerosBuf.data(), scalesShape(c));
  descs.emplace_back(table.data(), ArrayRef<int64_t>{1});
  descs.emplace_back(widths.data(),
                     ArrayRef<int64_t>{static_cast<int64_t>(widths.size())});
  std::vector<float> y;
  std::vector<uint8_t> d;
  if (c.op == OpKind::Matmul) {
    y.assign(c.tokens * c.n, std::nanf(""));
    descs.emplace_back(y.data(), ArrayRef<int64_t>{c.tokens, c.n});
  } else {
    d.assign(c.n * c.k * scaleBytes(expressedOf(c.scale)), 0xff); // NaN
    descs.emplace_back(d.data(), ArrayRef<int64_t>{c.n, c.k});
  }
  std::string label = c.name;
  if (c.serve == Serve::Runtime)
    label += " @ width " + std::to_string(runtimeWidth);
  if (llvm::Error err = call(engine, c.name, descs)) {
    ADD_FAILURE() << label << ": " << llvm::toString(std::move(err));
    return;
  }
  ++stats.runs;
  std::vector<double> w = referenceWeight(c, runtimeWidth);
  std::vector<double> exact = referenceWeight(c, runtimeWidth, true);
  std::vector<double> xs(c.x.begin(), c.x.end());
  if (takesIntegerPath(c, runtimeWidth, integer)) {
    ++stats.integerRuns;
    label += " (int8 activations)";
    xs = int8Activations(c);
    w = exact;
  }
  int reported = 0;
  bool failed = false;
  auto check = [&](double got, double ref, double scale, const Twine &where,
                   double unrounded) {
    double err = std::fabs(got - ref);
    double rel = scale > 0 ? err / scale : (err == 0 ? 0 : INFINITY);
    if (!(rel <= stats.worst) && !std::isnan(rel)) {
      stats.worst = rel;
      stats.worstCase = label;
    }
    if (!(rel <= 1e-5)) {
      failed = true;
      if (reported++ < 4)
        ADD_FAILURE() << label << where.str() << ": got " << got
                      << ", expected " << ref << " (error " << err
                      << ", bound scale " << scale
                      << "; with weights not rounded to "
                      << scaleName(expressedOf(c.scale)) << " the reference is "
                      << unrounded << ", error " << std::fabs(got - unrounded)
                      << ")";
    }
  };
  if (c.op == OpKind::Matmul) {
    for (int64_t t = 0; t < c.tokens; ++t)
      for (int64_t n = 0; n < c.n; ++n) {
        double ref = 0, mag = 0, unrounded = 0;
        for (int64_t k = 0; k < c.k; ++k) {
          double xk = xs[t * c.k + k];
          double term = xk * w[n * c.k + k];
          ref += term;
          mag += std::fabs(term);
          unrounded += xk * exact[n * c.k + k];
        }
        check(y[t * c.n + n], ref, std::max(1.0, mag),
              llvm::formatv(" y[{0}, {1}]", t, n), unrounded);
      }
  } else {
    Scale out = expressedOf(c.scale);
    unsigned eb = scaleBytes(out);
    for (int64_t i = 0; i < c.n * c.k; ++i)
      check(readValue(d.data() + i * eb, out), w[i], std::fabs(w[i]),
            llvm::formatv(" w[{0}, {1}]", i / c.k, i % c.k), exact[i]);
  }
  stats.failures += failed;
}

//===----------------------------------------------------------------------===//
// The sampled cases
//===----------------------------------------------------------------------===//

std::vector<Case> makeCases() {
  std::vector<Case> cases;
  int counter = 0;
  auto add = [&](Case c, const std::string &set) {
    // Rotate groupings and scale types together: 11 and 4 are coprime, so
    // all 44 pairs appear in every block of 44 cases; each block shifts the
    // scale types by two, so that a pair does not meet the same position of
    // the width sequence every time (every grouping x scale type pair then
    // sees at least three widths, which Coverage checks).
    static_assert(std::gcd(kNumGroupings, kNumScales) == 1,
                  "groupings and scales must be coprime counts");
    constexpr int kBlock = kNumGroupings * kNumScales;
    c.grouping = counter % kNumGroupings;
    c.scale = kScales[(counter + 2 * (counter / kBlock)) % kNumScales];
    ++counter;
    c.k = c.g().k;
    if (c.op == OpKind::Dequantize)
      c.n = 3;
    c.name = llvm::formatv(
        "{0}{1}_{2}{3}{4}_{5}_{6}_{7}_{8}{9}", set, cases.size(),
        c.nested ? "nested" : "dense", c.bits,
        c.serve == Serve::Slice     ? "_to" + std::to_string(c.sliceBits)
        : c.serve == Serve::Runtime ? std::string("_rt")
                                    : std::string(),
        c.sym ? "sym" : "asym", granName(c.g()) + "k" + std::to_string(c.k),
        scaleName(c.scale),
        c.op == OpKind::Matmul ? "mm_t" + std::to_string(c.tokens)
                               : std::string("dq"),
        c.unpackedBits ? "_u" + std::to_string(c.unpackedBits) : std::string());
    cases.push_back(std::move(c));
  };
  auto opVariants = [](bool bothTokenCounts) {
    std::vector<std::pair<OpKind, int64_t>> v{{OpKind::Matmul, 3},
                                              {OpKind::Dequantize, 0}};
    if (bothTokenCounts)
      v.insert(v.begin(), {OpKind::Matmul, 1});
    return v;
  };

  // A. dense, storage form, every width x scheme x {mm T=1, mm T=3, dq}.
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (bool sym : {false, true})
      for (auto [op, tokens] : opVariants(true)) {
        Case c;
        c.op = op, c.tokens = tokens, c.bits = bits, c.sym = sym;
        add(c, "A");
      }
  // B. dense, one code per element.
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (auto [op, tokens] : opVariants(false)) {
      Case c;
      c.op = op, c.tokens = bits % 2 ? 3 : 1, c.bits = bits;
      (void)tokens;
      c.sym = (bits + (op == OpKind::Matmul)) % 2;
      c.unpackedBits = bits == 8 ? 16 : (bits % 3 == 0 ? 32 : 8);
      add(c, "B");
    }
  // C. nested P = 8, static slices.
  for (unsigned r = 1; r <= 7; ++r)
    for (bool sym : {false, true})
      for (auto [op, tokens] : opVariants(false)) {
        Case c;
        c.op = op, c.tokens = r % 2 ? 1 : 3, c.bits = 8, c.nested = true;
        (void)tokens;
        c.serve = Serve::Slice, c.sliceBits = r, c.sym = sym;
        add(c, "C");
      }
  // D. nested P = 8, run-time width (two groupings each).
  for (int variant = 0; variant < 2; ++variant)
    for (bool sym : {false, true})
      for (auto [op, tokens] : opVariants(true)) {
        Case c;
        c.op = op, c.tokens = tokens, c.bits = 8, c.nested = true;
        c.serve = Serve::Runtime, c.sym = sym;
        add(c, "D");
      }
  // E. nested P = 4: static slices 1..3 and the width table.
  for (unsigned r = 1; r <= 3; ++r)
    for (auto [op, tokens] : opVariants(false)) {
      Case c;
      c.op = op, c.tokens = 3, c.bits = 4, c.nested = true;
      (void)tokens;
      c.serve = Serve::Slice, c.sliceBits = r, c.sym = r % 2;
      add(c, "E");
    }
  for (bool sym : {false, true})
    for (auto [op, tokens] : opVariants(false)) {
      Case c;
      c.op = op, c.tokens = 3, c.bits = 4, c.nested = true;
      (void)tokens;
      c.serve = Serve::Runtime, c.sym = sym;
      add(c, "E");
    }
  // F. nested from one code per element.
  for (auto [op, tokens] : opVariants(false))
    for (Serve serve : {Serve::Slice, Serve::Runtime}) {
      Case c;
      c.op = op, c.tokens = 3, c.bits = 8, c.nested = true, c.serve = serve;
      (void)tokens;
      c.sliceBits = 3, c.unpackedBits = op == OpKind::Matmul ? 8 : 32;
      c.sym = serve == Serve::Slice;
      add(c, "F");
    }
  // G. dense slices (run-time repack at r bits).
  std::vector<std::pair<unsigned, unsigned>> denseSlices;
  for (unsigned r = 1; r <= 7; ++r)
    denseSlices.push_back({8, r});
  for (auto cr : {std::pair<unsigned, unsigned>{7, 5},
                  {6, 3},
                  {5, 2},
                  {4, 3},
                  {4, 1},
                  {3, 2},
                  {2, 1}})
    denseSlices.push_back(cr);
  for (auto [bits, r] : denseSlices)
    for (auto [op, tokens] : opVariants(false)) {
      Case c;
      c.op = op, c.tokens = r % 2 ? 3 : 1, c.bits = bits;
      (void)tokens;
      c.serve = Serve::Slice, c.sliceBits = r;
      c.sym = (bits + r + (op == OpKind::Matmul)) % 2;
      if (bits < 8 && r % 2)
        c.unpackedBits = 16;
      add(c, "G");
    }
  // K. the GGUF K-quants' widths and schemes (Q2_K..Q6_K: 2 asym, 3 sym,
  // 4 and 5 asym, 6 sym), and 7 bits (an interpolated Matryoshka width):
  // decode, a token tile and dequantize.
  for (auto [bits, sym] :
       {std::pair{2u, false}, std::pair{3u, true}, std::pair{4u, false},
        std::pair{5u, false}, std::pair{6u, true}, std::pair{7u, false}})
    for (auto [op, tokens] : opVariants(true)) {
      Case c;
      c.op = op, c.tokens = tokens, c.bits = bits, c.sym = sym;
      add(c, "K");
    }
  return cases;
}

/// The widths every run-time case is served at.
std::vector<unsigned> runtimeWidths() { return {1, 2, 3, 4, 5, 6, 7, 8}; }

//===----------------------------------------------------------------------===//
// Compile and run
//===----------------------------------------------------------------------===//

struct Compiled {
  std::unique_ptr<MLIRContext> ctx;
  std::unique_ptr<ExecutionEngine> engine;
  int64_t numWidthSlots = 0;
};

std::unique_ptr<MLIRContext> makeContext() {
  DialectRegistry registry;
  mlir::qopt::registerLoweringDialects(registry);
  mlir::qopt::registerLoweringTranslations(registry);
  return std::make_unique<MLIRContext>(registry);
}

/// Lowers `source` with qopt-to-llvm at `vectorWidth` lanes and JITs it.
llvm::Expected<Compiled>
compile(const std::string &source, int64_t vectorWidth,
        const mlir::qopt::QOptToLLVMPipelineOptions *pipeline = nullptr) {
  Compiled result;
  result.ctx = makeContext();
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(source, ParserConfig(result.ctx.get()));
  if (!module)
    return llvm::createStringError("cannot parse the oracle module");
  PassManager pm(result.ctx.get());
  mlir::qopt::QOptToLLVMPipelineOptions options;
  if (pipeline)
    options.copyOptionValuesFrom(*pipeline);
  options.vectorWidth = vectorWidth;
  mlir::qopt::buildQOptToLLVMPipeline(pm, options);
  if (failed(pm.run(*module)))
    return llvm::createStringError("qopt-to-llvm failed on the oracle module");
  if (auto slots = (*module)->getAttrOfType<ArrayAttr>("qopt.width_table"))
    result.numWidthSlots = slots.size();

  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return builder.takeError();
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Default);
  auto tm = builder->createTargetMachine();
  if (!tm)
    return tm.takeError();
  // The options hold a function_ref: the transformer must outlive create().
  std::function<llvm::Error(llvm::Module *)> transformer =
      makeOptimizingTransformer(/*optLevel=*/2, /*sizeLevel=*/0, tm->get());
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  if (llvm::Error err = mlir::qopt::loadOpenMPRuntime())
    return std::move(err);
  auto engine = ExecutionEngine::create(*module, engineOptions, std::move(*tm));
  if (!engine)
    return engine.takeError();
  result.engine = std::move(*engine);
  return result;
}

/// The integer matmul runs: only the matmul cases. Multi-token cases take
/// turns: six tokens instead of three (the row-wise kernel: a full tile of
/// four and a remainder), or eleven tokens and 37 rows (the packed GEMM,
/// from kPanelTokens tokens on: two or four whole panels of 16 or 8 rows
/// plus five rows for the row-wise kernel; a tile of 8 or two of 4, and
/// three remainder tokens).
constexpr int64_t kPanelTokens = 8;
std::vector<Case> integerCases() {
  std::vector<Case> cases;
  bool panel = false;
  for (Case c : makeCases()) {
    if (c.op != OpKind::Matmul)
      continue;
    if (c.tokens > 1) {
      c.tokens = panel ? 11 : 6;
      if (panel)
        c.n = 37;
      panel = !panel;
    }
    cases.push_back(std::move(c));
  }
  // Model-shaped: stories260K's gate projection on a 409-token prefill.
  Case model;
  model.name = "M_dense4_sym_g32k64_f32_mm_t409";
  model.tokens = 409;
  model.n = 172;
  model.bits = 4;
  model.sym = true;
  model.grouping = 0;
  model.k = model.g().k;
  cases.push_back(model);
  return cases;
}

/// Runs every case at `vectorWidth`; with `intDot`, with int8 activations
/// and the integer dot products emitted that way ("generic" or "vnni").
void runOracle(int64_t vectorWidth, StringRef intDot = "") {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::vector<Case> cases = intDot.empty() ? makeCases() : integerCases();
  std::mt19937 rng(20250 + vectorWidth);
  std::string source;
  for (Case &c : cases) {
    fillData(c, rng);
    source += caseFunction(c);
  }
  mlir::qopt::QOptToLLVMPipelineOptions pipeline;
  pipeline.int8Activations = !intDot.empty();
  if (!intDot.empty())
    pipeline.intDot = intDot.str();
  pipeline.panelTokens = kPanelTokens;
  auto start = std::chrono::steady_clock::now();
  llvm::Expected<Compiled> compiled = compile(source, vectorWidth, &pipeline);
  ASSERT_TRUE(static_cast<bool>(compiled))
      << llvm::toString(compiled.takeError());
  auto compiledAt = std::chrono::steady_clock::now();
  Stats stats;
  IntegerRun integer{compiled->ctx.get(), vectorWidth};
  const IntegerRun *integerRun = intDot.empty() ? nullptr : &integer;
  // The output rows of qmatmul are split between OpenMP threads: every case
  // runs on one thread and on three (rows rarely divide evenly by three).
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    for (const Case &c : cases) {
      if (c.serve != Serve::Runtime) {
        runCase(*compiled->engine, c, 0, compiled->numWidthSlots, stats,
                integerRun);
        continue;
      }
      for (unsigned r : runtimeWidths())
        runCase(*compiled->engine, c, r, compiled->numWidthSlots, stats,
                integerRun);
    }
  }
  omp_set_num_threads(1);
  auto done = std::chrono::steady_clock::now();
  auto seconds = [](auto a, auto b) {
    return std::chrono::duration<double>(b - a).count();
  };
  std::printf("[oracle] vector width %lld%s%s: %zu functions, %d runs (%d on "
              "the integer path), %d failed runs; worst normalized error "
              "%.3g (%s); compile %.1f s, run %.2f s\n",
              static_cast<long long>(vectorWidth),
              intDot.empty() ? "" : ", int8 activations, int-dot ",
              intDot.str().c_str(), cases.size(), stats.runs, stats.integerRuns,
              stats.failures, stats.worst, stats.worstCase.c_str(),
              seconds(start, compiledAt), seconds(compiledAt, done));
  EXPECT_EQ(stats.failures, 0);
  // The integer path must carry most matmul runs (every dense and nested
  // case with K a multiple of 32); the rest take the exact path.
  if (!intDot.empty()) {
    EXPECT_GT(stats.integerRuns, stats.runs / 3);
  }
}

/// qopt.hadamard, compiled, against the dense definition in double precision:
/// y = H_n x / sqrt(n) on each block of n elements of each row, with H_n from
/// rt::hadamardMatrix (whose H H^T = n I is checked by the runtime tests).
/// The sizes cover every code path of the kernel (Hadamard.cpp): a power of
/// two with only scalar butterflies and with vector ones, several blocks per
/// row, a base order alone (the mix as dot products), a base with runs
/// shorter than a vector (scalar mix) and at least a vector (vector mix),
/// a Williamson order (172) and an order real models need (1152 = 36 * 32).
void runHadamardOracle(int64_t vectorWidth) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  struct HadamardCase {
    int64_t n, cols;
  };
  const HadamardCase cases[] = {{1, 3},   {2, 4},     {8, 8},      {32, 64},
                                {64, 64}, {12, 24},   {24, 24},    {48, 48},
                                {96, 96}, {172, 172}, {1152, 1152}};
  std::string source;
  for (const HadamardCase &c : cases)
    source += llvm::formatv(
        "func.func @h{0}_{1}(%x: tensor<?x{1}xf32>) -> tensor<?x{1}xf32> {{\n"
        "  %y = qopt.hadamard %x {{size = {0} : i64} : tensor<?x{1}xf32>\n"
        "  return %y : tensor<?x{1}xf32>\n}\n",
        c.n, c.cols);
  llvm::Expected<Compiled> compiled = compile(source, vectorWidth);
  ASSERT_TRUE(static_cast<bool>(compiled))
      << llvm::toString(compiled.takeError());
  std::mt19937 rng(7 + vectorWidth);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  const int64_t rows = 3;
  for (const HadamardCase &c : cases) {
    std::string name = llvm::formatv("h{0}_{1}", c.n, c.cols);
    std::vector<float> x(rows * c.cols), y(rows * c.cols, std::nanf(""));
    for (float &v : x)
      v = dist(rng);
    std::vector<float> input = x;
    std::vector<int64_t> table{0};
    std::vector<int32_t> widths{8};
    std::vector<Descriptor> descs;
    descs.emplace_back(x.data(), ArrayRef<int64_t>{rows, c.cols});
    descs.emplace_back(table.data(), ArrayRef<int64_t>{1});
    descs.emplace_back(widths.data(), ArrayRef<int64_t>{1});
    descs.emplace_back(y.data(), ArrayRef<int64_t>{rows, c.cols});
    ASSERT_FALSE(static_cast<bool>(call(*compiled->engine, name, descs)))
        << name;
    EXPECT_EQ(x, input) << name << ": the input argument was overwritten";
    std::vector<int8_t> h = rt::hadamardMatrix(c.n);
    ASSERT_EQ(h.size(), static_cast<size_t>(c.n * c.n)) << name;
    double norm = 1.0 / std::sqrt(static_cast<double>(c.n));
    int reported = 0;
    for (int64_t t = 0; t < rows; ++t)
      for (int64_t b = 0; b < c.cols; b += c.n)
        for (int64_t i = 0; i < c.n; ++i) {
          double ref = 0, mag = 0;
          for (int64_t j = 0; j < c.n; ++j) {
            double xj = input[t * c.cols + b + j];
            ref += h[i * c.n + j] * xj;
            mag += std::fabs(xj);
          }
          ref *= norm;
          double got = y[t * c.cols + b + i];
          // Each output sums n terms of magnitude |x_j| / sqrt(n) in f32.
          double bound = 1e-5 * std::max(1.0, mag * norm);
          if (!(std::fabs(got - ref) <= bound) && reported++ < 4)
            ADD_FAILURE() << name << " y[" << t << ", " << b + i << "]: got "
                          << got << ", expected " << ref;
        }
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// Tests
//===----------------------------------------------------------------------===//

/// The sampling covers what the file header promises.
TEST(KernelOracle, Coverage) {
  std::vector<Case> cases = makeCases();
  // every width x layout x scheme (served width), for both ops
  std::set<std::tuple<unsigned, bool, bool, OpKind>> served;
  // every grouping x scale type with several widths
  std::map<std::pair<int, Scale>, std::set<unsigned>> pairs;
  std::set<std::pair<unsigned, OpKind>> unpackedDense, slicedDense;
  std::set<std::pair<unsigned, bool>> nestedSlices;
  int runtimeMatmulT1 = 0, runtimeMatmulT3 = 0, runtimeDequant = 0;
  bool nested4Runtime = false;
  for (const Case &c : cases) {
    if (c.serve == Serve::Runtime) {
      for (unsigned r : runtimeWidths())
        served.insert({std::clamp(r, 1u, c.bits), c.nested, c.sym, c.op});
      if (c.op == OpKind::Dequantize)
        ++runtimeDequant;
      else
        ++(c.tokens == 1 ? runtimeMatmulT1 : runtimeMatmulT3);
      nested4Runtime |= c.bits == 4;
    } else {
      served.insert({servedOf(c, 0), c.nested, c.sym, c.op});
    }
    pairs[{c.grouping, c.scale}].insert(servedOf(c, 8));
    if (!c.nested && c.unpackedBits)
      unpackedDense.insert({c.bits, c.op});
    if (!c.nested && c.serve == Serve::Slice)
      slicedDense.insert({c.sliceBits, c.op});
    if (c.nested && c.bits == 8 && c.serve == Serve::Slice)
      nestedSlices.insert({c.sliceBits, c.op == OpKind::Matmul});
  }
  for (unsigned r = 1; r <= 8; ++r)
    for (bool nested : {false, true})
      for (bool sym : {false, true})
        for (OpKind op : {OpKind::Matmul, OpKind::Dequantize})
          EXPECT_TRUE(served.count({r, nested, sym, op}))
              << "width " << r << (nested ? " nested " : " dense ")
              << (sym ? "sym" : "asym");
  for (int g = 0; g < kNumGroupings; ++g)
    for (Scale s : kScales)
      EXPECT_GE((pairs[{g, s}].size()), 3u)
          << granName(kGroupings[g]) << " k" << kGroupings[g].k << " "
          << scaleName(s);
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (OpKind op : {OpKind::Matmul, OpKind::Dequantize})
      EXPECT_TRUE(unpackedDense.count({bits, op})) << bits;
  for (unsigned r = 1; r <= 7; ++r)
    for (OpKind op : {OpKind::Matmul, OpKind::Dequantize})
      EXPECT_TRUE(slicedDense.count({r, op})) << r;
  for (unsigned r = 1; r <= 7; ++r)
    for (bool mm : {false, true})
      EXPECT_TRUE(nestedSlices.count({r, mm})) << r;
  EXPECT_GT(runtimeMatmulT1, 0);
  EXPECT_GT(runtimeMatmulT3, 0);
  EXPECT_GT(runtimeDequant, 0);
  EXPECT_TRUE(nested4Runtime);
}

TEST(KernelOracle, VectorWidth8) { runOracle(8); }

TEST(KernelOracle, VectorWidth16) {
  if (mlir::qopt::hostVectorWidth() < 16)
    GTEST_SKIP() << "host has no AVX-512F (the 8-lane run covers the kernels)";
  runOracle(16);
}

/// The integer matmul path (int8 activations) against its definition, with
/// portable integer code at both widths and with VNNI where the host has it.
TEST(KernelOracle, Int8ActivationsGeneric) {
  runOracle(8, "generic");
  // 512-bit superblocks with generic code, where the VNNI run below does
  // not cover them.
  if (mlir::qopt::hostVectorWidth() >= 16 &&
      mlir::qopt::hostIntDot(16) != mlir::qopt::IntDot::Vnni)
    runOracle(16, "generic");
}

TEST(KernelOracle, Int8ActivationsVnni) {
  bool any = false;
  for (int64_t width : {8, 16}) {
    if (mlir::qopt::hostVectorWidth() < width ||
        mlir::qopt::hostIntDot(width) != mlir::qopt::IntDot::Vnni)
      continue;
    runOracle(width, "vnni");
    any = true;
  }
  if (!any)
    GTEST_SKIP() << "host has no AVX-512 VNNI or AVX-VNNI (the generic run "
                    "covers the arithmetic)";
}

TEST(KernelOracle, Hadamard) {
  runHadamardOracle(8);
  if (mlir::qopt::hostVectorWidth() >= 16)
    runHadamardOracle(16);
}

/// The minimal reproducer of the f16 rounding bug fixed in Matmul.cpp: one
/// weight, code 255, zero 0, f16 scale 0x2E66 = 0.0999755859375. a * q =
/// 25.4937744140625 is not an f16; qopt.dequantize gives the f16 value 25.5,
/// and qmatmul must use that same value (it returned 25.49377 before).
TEST(KernelOracle, F16WeightIsRoundedInQMatmul) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  const char *source = R"mlir(
!w = !qopt.qtensor<1x8xf16, bits = 8, per_channel, asym>
func.func @mm(%x: tensor<?x8xf32>, %codes: tensor<1x8xi8>, %s: tensor<1x1xf16>,
              %z: tensor<1x1xf16>) -> tensor<?x1xf32> {
  %w = qopt.pack %codes, %s, %z : tensor<1x8xi8>, tensor<1x1xf16>, tensor<1x1xf16> -> !w
  %y = qopt.qmatmul %x, %w : tensor<?x8xf32>, !w -> tensor<?x1xf32>
  return %y : tensor<?x1xf32>
}
)mlir";
  for (int64_t width : {int64_t(8), mlir::qopt::hostVectorWidth()}) {
    llvm::Expected<Compiled> compiled = compile(source, width);
    ASSERT_TRUE(static_cast<bool>(compiled))
        << llvm::toString(compiled.takeError());
    std::vector<float> x{1, 0, 0, 0, 0, 0, 0, 0}, y{0};
    std::vector<uint8_t> codes{255, 0, 0, 0, 0, 0, 0, 0};
    std::vector<uint16_t> scale{0x2E66}, zero{0};
    std::vector<int64_t> table{0};
    std::vector<int32_t> widths{8};
    std::vector<Descriptor> descs;
    descs.emplace_back(x.data(), ArrayRef<int64_t>{1, 8});
    descs.emplace_back(codes.data(), ArrayRef<int64_t>{1, 8});
    descs.emplace_back(scale.data(), ArrayRef<int64_t>{1, 1});
    descs.emplace_back(zero.data(), ArrayRef<int64_t>{1, 1});
    descs.emplace_back(table.data(), ArrayRef<int64_t>{1});
    descs.emplace_back(widths.data(), ArrayRef<int64_t>{1});
    descs.emplace_back(y.data(), ArrayRef<int64_t>{1, 1});
    llvm::Error err = call(*compiled->engine, "mm", descs);
    ASSERT_FALSE(static_cast<bool>(err)) << llvm::toString(std::move(err));
    EXPECT_EQ(y[0], 25.5f) << "vector width " << width;
  }
}

/// qopt-prepare-abi's calling convention: inputs (a qtensor's parts in
/// place), then the weight table, the width table, and one out-parameter
/// per result, in order; no results; a C interface.
TEST(KernelOracle, ABI) {
  std::unique_ptr<MLIRContext> ctx = makeContext();
  const char *source = R"mlir(
func.func @abi(%x: tensor<?x64xf32>, %codes: tensor<8x5x8xi8>,
               %s: tensor<5x2xf32>, %z: tensor<5x2xf32>)
    -> (tensor<?x5xf32>, tensor<5x64xf32>) {
  %w = qopt.pack %codes, %s, %z : tensor<8x5x8xi8>, tensor<5x2xf32>, tensor<5x2xf32>
      -> !qopt.qtensor<5x64xf32, bits = 8, group = 32, asym, layout = nested>
  %e = arith.constant dense_resource<emb> : tensor<5x64xf32>
  %y = qopt.qmatmul %x, %w : tensor<?x64xf32>, !qopt.qtensor<5x64xf32, bits = 8, group = 32, asym, layout = nested> -> tensor<?x5xf32>
  %d = qopt.dequantize %w : !qopt.qtensor<5x64xf32, bits = 8, group = 32, asym, layout = nested> -> tensor<5x64xf32>
  %sum = arith.addf %d, %e : tensor<5x64xf32>
  return %y, %sum : tensor<?x5xf32>, tensor<5x64xf32>
}
{-#
  dialect_resources: {
    builtin: {
      emb: "0x04000000"
    }
  }
#-}
)mlir";
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(source, ParserConfig(ctx.get()));
  ASSERT_TRUE(module);
  PassManager pm(ctx.get());
  mlir::qopt::QOptToLLVMPipelineOptions options;
  mlir::qopt::buildQOptToLoopsPipeline(pm, options);
  ASSERT_TRUE(succeeded(pm.run(*module)));

  auto func = (*module).lookupSymbol<func::FuncOp>("abi");
  ASSERT_TRUE(func);
  EXPECT_TRUE(func->hasAttr("llvm.emit_c_interface"));
  FunctionType type = func.getFunctionType();
  EXPECT_EQ(type.getNumResults(), 0u);
  std::vector<std::string> got;
  for (Type t : type.getInputs()) {
    std::string s;
    llvm::raw_string_ostream os(s);
    t.print(os);
    got.push_back(s);
  }
  std::vector<std::string> expected{"memref<?x64xf32>", "memref<8x5x8xi8>",
                                    "memref<5x2xf32>",  "memref<5x2xf32>",
                                    "memref<?xi64>",    "memref<?xi32>",
                                    "memref<?x5xf32>",  "memref<5x64xf32>"};
  EXPECT_EQ(got, expected);

  // The weight table names the resource; the width table has one slot per
  // unsliced nested use (qmatmul and dequantize each read theirs), with the
  // parent width.
  auto weights = (*module)->getAttrOfType<ArrayAttr>("qopt.weight_table");
  ASSERT_TRUE(weights);
  ASSERT_EQ(weights.size(), 1u);
  EXPECT_EQ(cast<StringAttr>(weights[0]).getValue(), "emb");
  auto widths = (*module)->getAttrOfType<ArrayAttr>("qopt.width_table");
  ASSERT_TRUE(widths);
  EXPECT_GE(widths.size(), 1u);
  for (Attribute entry : widths) {
    auto dict = dyn_cast<DictionaryAttr>(entry);
    ASSERT_TRUE(dict);
    auto parent = dict.getAs<IntegerAttr>("parent_bits");
    ASSERT_TRUE(parent);
    EXPECT_EQ(parent.getInt(), 8);
  }
}

/// Run-time quantization (`qopt.quantize` lowered to qopt.kernel_quantize)
/// against QuantMath's computeGroupParams / quantizeValue: the codes read
/// back with `qopt.get_codes` (which unpacks the storage form again), the
/// scales and the zero points must be bit-identical, for dense and nested
/// storage, both schemes, group / shorter last group / per-channel /
/// per-tensor grouping, at several widths.
TEST(KernelOracle, RuntimeQuantize) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  struct QCase {
    unsigned bits;
    bool nested, sym;
    int64_t k, group; // group 0: per-channel, -1: per-tensor
  };
  std::vector<QCase> cases = {
      {8, false, false, 64, 32}, {4, false, true, 64, 32},
      {3, false, false, 72, 32}, {2, false, true, 40, 0},
      {5, false, false, 24, -1}, {8, true, false, 72, 32},
      {8, true, true, 40, 0},    {6, true, false, 64, -1},
      {1, false, false, 16, 8},  {7, false, true, 48, 16}};
  const int64_t rows = 3;
  std::string source;
  for (auto [i, c] : llvm::enumerate(cases)) {
    std::string gran = c.group > 0    ? "group = " + std::to_string(c.group)
                       : c.group == 0 ? "per_channel"
                                      : "per_tensor";
    std::string q =
        llvm::formatv("!qopt.qtensor<{0}x{1}xf32, bits = {2}, {3}, {4}{5}>",
                      rows, c.k, c.bits, gran, c.sym ? "sym" : "asym",
                      c.nested ? ", layout = nested" : "");
    int64_t groups = c.group > 0 ? (c.k + c.group - 1) / c.group : 1;
    std::string scales =
        c.group < 0 ? "tensor<f32>"
                    : llvm::formatv("tensor<{0}x{1}xf32>", rows, groups).str();
    std::string codes = llvm::formatv("tensor<{0}x{1}xi8>", rows, c.k);
    source += llvm::formatv(
        "func.func @q{0}(%x: tensor<{1}x{2}xf32>) -> ({3}, {4}{5}) {{\n"
        "  %q = qopt.quantize %x : tensor<{1}x{2}xf32> -> {6}\n"
        "  %c = qopt.get_codes %q : {6} -> {3}\n"
        "  %s = qopt.get_scales %q : {6} -> {4}\n",
        i, rows, c.k, codes, scales, c.sym ? "" : ", " + scales, q);
    if (!c.sym)
      source += llvm::formatv("  %z = qopt.get_zeros %q : {0} -> {1}\n"
                              "  return %c, %s, %z : {2}, {1}, {1}\n}\n",
                              q, scales, codes);
    else
      source += llvm::formatv("  return %c, %s : {0}, {1}\n}\n", codes, scales);
  }
  llvm::Expected<Compiled> compiled = compile(source, 8);
  ASSERT_TRUE(static_cast<bool>(compiled))
      << llvm::toString(compiled.takeError());
  uint64_t state = 12345;
  for (auto [i, c] : llvm::enumerate(cases)) {
    std::vector<float> x(rows * c.k);
    for (float &v : x) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      v = static_cast<float>(static_cast<int64_t>(state >> 40) % 2001 - 900) /
          512.0f; // skewed, so asym zero points vary
    }
    int64_t groups = c.group > 0 ? (c.k + c.group - 1) / c.group : 1;
    int64_t numScales = c.group < 0 ? 1 : rows * groups;
    std::vector<uint8_t> codes(rows * c.k, 0xFF);
    std::vector<float> scales(numScales, -1), zeros(numScales, -1);
    std::vector<int64_t> table{0};
    std::vector<int32_t> widths{8};
    std::vector<Descriptor> descs;
    descs.emplace_back(x.data(), ArrayRef<int64_t>{rows, c.k});
    descs.emplace_back(table.data(), ArrayRef<int64_t>{1});
    descs.emplace_back(widths.data(), ArrayRef<int64_t>{1});
    descs.emplace_back(codes.data(), ArrayRef<int64_t>{rows, c.k});
    if (c.group < 0)
      descs.emplace_back(scales.data(), ArrayRef<int64_t>{});
    else
      descs.emplace_back(scales.data(), ArrayRef<int64_t>{rows, groups});
    if (!c.sym) {
      if (c.group < 0)
        descs.emplace_back(zeros.data(), ArrayRef<int64_t>{});
      else
        descs.emplace_back(zeros.data(), ArrayRef<int64_t>{rows, groups});
    }
    llvm::Error err = call(*compiled->engine, "q" + std::to_string(i), descs);
    ASSERT_FALSE(static_cast<bool>(err)) << llvm::toString(std::move(err));
    rt::Scheme scheme = c.sym ? rt::Scheme::Symmetric : rt::Scheme::Asymmetric;
    int64_t span = c.group > 0 ? c.group : c.k;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g = 0; g < groups; ++g) {
        int64_t k0 = g * span, n = std::min(span, c.k - k0);
        rt::GroupParams p;
        if (c.group < 0)
          p = rt::computeGroupParams(x.data(), rows * c.k, 1, c.bits, scheme);
        else
          p = rt::computeGroupParams(&x[r * c.k + k0], n, 1, c.bits, scheme);
        int64_t s = c.group < 0 ? 0 : r * groups + g;
        EXPECT_EQ(scales[s], p.scale) << "case " << i << " row " << r;
        if (!c.sym) {
          EXPECT_EQ(zeros[s], p.zero) << "case " << i << " row " << r;
        }
        for (int64_t j = 0; j < n; ++j)
          EXPECT_EQ(
              codes[r * c.k + k0 + j],
              rt::quantizeValue(x[r * c.k + k0 + j], p.scale, p.zero, c.bits))
              << "case " << i << " row " << r << " element " << k0 + j;
      }
    }
  }
}
