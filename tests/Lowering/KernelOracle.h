//===- KernelOracle.h - Kernels against QuantMath ---------------*- C++ -*-===//
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
//     storage-form and one-per-element sources;
//  K. the K-quants' widths and schemes with one-level scales;
//  L. two-level scales (`super = 256`, the K-quants as imported): each
//     K-quant's width, scheme, group and sub-scale width, and two more, K =
//     512, {qmatmul T = 1, T = 3, dequantize}. The asymmetric ones hold
//     minimums: the reference is f32(f32(a * v) - dmin * m), the type's
//     definition, bit for bit.
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
// own f32 arithmetic (int8Activations in KernelOracleRun.cpp), weights
// a * (v - z) not rounded to a 16-bit scale type, the sum in double; same
// tolerance. With bf16 AMX tiles (AmxBf16.cpp), the packed GEMM's rows
// (calls of kPanelTokens tokens or more, the first n / 16 * 16 rows) are
// checked against their own definition: x rounded to bf16 (to nearest
// even), the weights in f32 arithmetic rounded to bf16, the products
// (exact in f32) summed in double; same tolerance, which bounds the f32
// accumulation of the tiles.
//
// The test is split in three files: KernelOracleCases.cpp (the cases, their
// data and reference weights), KernelOracleRun.cpp (compiling, calling and
// checking) and KernelOracleTest.cpp (the tests). This header declares what
// they share.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TESTS_LOWERING_KERNELORACLE_H
#define QOPT_TESTS_LOWERING_KERNELORACLE_H

#include "qopt/Conversion/Passes.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace qopt::oracle {

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
inline constexpr Grouping kGroupings[] = {
    {Gran::Group, 32, 64},      {Gran::Group, 64, 96},
    {Gran::Group, 64, 256},     {Gran::Group, 128, 256},
    {Gran::PerChannel, 0, 64},  {Gran::PerTensor, 0, 64},
    {Gran::Group, 32, 172},     {Gran::Group, 128, 192},
    {Gran::PerChannel, 0, 172}, {Gran::PerTensor, 0, 256},
    {Gran::Group, 16, 256},
};
inline constexpr int kNumGroupings = sizeof(kGroupings) / sizeof(kGroupings[0]);
inline constexpr Scale kScales[] = {Scale::F32, Scale::F16, Scale::BF16,
                                    Scale::F16InF32};
inline constexpr int kNumScales = sizeof(kScales) / sizeof(kScales[0]);

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
  /// 0, or two-level scales (`super = kSuperGroup`, f32 values) with
  /// sub-scales of 4 or 8 bits: `scales` then holds a = d * s per group and
  /// `zeros` the minimums dmin * m (asym), the buffers the i8 records.
  unsigned subBits = 0;

  // Data.
  std::vector<float> x;
  std::vector<uint8_t> codes;        // one per element, n x k
  std::vector<double> scales, zeros; // values exactly representable
  std::vector<uint8_t> codesBuf, scalesBuf, zerosBuf;

  const Grouping &g() const { return kGroupings[grouping]; }
};

/// The super-group of two-level cases (GGUF's K-quant block).
inline constexpr int64_t kSuperGroup = 256;

/// The expressed type (of w and of a dequantized result).
Scale expressedOf(Scale s);
const char *scaleName(Scale s);
std::string granName(const Grouping &g);

/// `!qopt.qtensor<...>` of the case at `bits` (with `parent` if > 0).
std::string qtype(const Case &c, unsigned bits, unsigned parent);
std::vector<int64_t> scalesShape(const Case &c);
std::vector<int64_t> codesShape(const Case &c);
/// The function of one case.
std::string caseFunction(const Case &c);

//===----------------------------------------------------------------------===//
// Numbers
//===----------------------------------------------------------------------===//

/// The value of the scale type's bytes at `p`.
double readValue(const uint8_t *p, Scale s);
unsigned scaleBytes(Scale s);
/// Served width of a run (r only matters for Serve::Runtime).
unsigned servedOf(const Case &c, unsigned runtimeWidth);
/// Random activations, codes, scales and zero points, and their buffers.
void fillData(Case &c, std::mt19937 &rng);
/// The reference weight [n, k] in the expressed type (as double); with
/// `exact`, a * (v - z) before that rounding (for diagnostics only).
std::vector<double> referenceWeight(const Case &c, unsigned runtimeWidth,
                                    bool exact = false);

//===----------------------------------------------------------------------===//
// The sampled cases
//===----------------------------------------------------------------------===//

/// The cases of the float runs (the sets A to G and K).
std::vector<Case> makeCases();
/// The widths every run-time case is served at.
std::vector<unsigned> runtimeWidths();

/// The integer matmul runs: only the matmul cases. Multi-token cases take
/// turns: six tokens instead of three (the row-wise kernel: a full tile of
/// four and a remainder), or eleven tokens and 37 rows (the packed GEMM,
/// from kPanelTokens tokens on: two or four whole panels of 16 or 8 rows
/// plus five rows for the row-wise kernel; a tile of 8 or two of 4, and
/// three remainder tokens).
inline constexpr int64_t kPanelTokens = 8;
std::vector<Case> integerCases();

//===----------------------------------------------------------------------===//
// Memref descriptors and calls
//===----------------------------------------------------------------------===//

/// A ranked memref descriptor as llvm.emit_c_interface takes it:
/// {allocated, aligned, offset, sizes[rank], strides[rank]}, all 8 bytes.
struct Descriptor {
  std::vector<int64_t> words;
  Descriptor(const void *data, llvm::ArrayRef<int64_t> sizes);
};

/// Calls `_mlir_ciface_<name>` with pointers to `descs`.
llvm::Error call(mlir::ExecutionEngine &engine, llvm::StringRef name,
                 std::vector<Descriptor> &descs);

struct Stats {
  double worst = 0; // max over outputs of |got - ref| / bound-scale
  std::string worstCase;
  int runs = 0, failures = 0;
  /// Runs that took the integer matmul path.
  int integerRuns = 0;
  /// Of those, runs whose panels' rows took bf16 AMX tiles.
  int bf16Runs = 0;
};

/// The integer path of the matmul kernel, when a run takes it.
struct IntegerRun {
  mlir::MLIRContext *ctx = nullptr;
  int64_t vectorWidth = 8;
  /// The packed GEMM multiplies bf16 tiles (AmxBf16.cpp): calls of
  /// kPanelTokens tokens or more compute the whole panels' rows (the first
  /// n / 16 * 16) in bf16.
  bool amxBf16 = false;
};

//===----------------------------------------------------------------------===//
// Compile and run
//===----------------------------------------------------------------------===//

struct Compiled {
  std::unique_ptr<mlir::MLIRContext> ctx;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  int64_t numWidthSlots = 0;
};

/// A context with the lowering's dialects and translations.
std::unique_ptr<mlir::MLIRContext> makeContext();

/// Lowers `source` with qopt-to-llvm at `vectorWidth` lanes and JITs it.
llvm::Expected<Compiled>
compile(const std::string &source, int64_t vectorWidth,
        const mlir::qopt::QOptToLLVMPipelineOptions *pipeline = nullptr);

/// Runs every case at `vectorWidth`; with `intDot`, with int8 activations
/// and the integer dot products emitted that way ("generic" or "vnni"), and
/// with `gfni` the GFNI reader of nested codes (IntegerPlan.cpp) and with
/// `amx` AMX tiles in the packed GEMM (IntegerAmx.cpp), with `amxBf16` bf16
/// AMX tiles (AmxBf16.cpp).
void runOracle(int64_t vectorWidth, llvm::StringRef intDot = "",
               bool gfni = false, bool amx = false, bool amxBf16 = false);

/// qopt.hadamard, compiled, against the dense definition in double precision
/// (y = H_n x / sqrt(n) on each block of n elements of each row).
void runHadamardOracle(int64_t vectorWidth);

/// qopt.kernel_attention, compiled, against causal grouped-query attention
/// in double precision (AttentionOracle.cpp).
void runAttentionOracle(int64_t vectorWidth);
/// qopt.kernel_matmul with plain float weights (f32, f16, bf16) against the
/// products summed in double (FloatMatmulOracle.cpp); with
/// `f16Activations`, f16-weight matmuls against the activations rounded as
/// that option defines.
void runFloatMatmulOracle(int64_t vectorWidth, bool f16Activations = false);

} // namespace qopt::oracle

#endif // QOPT_TESTS_LOWERING_KERNELORACLE_H
