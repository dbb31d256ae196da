//===- KernelOracleTest.cpp - Kernels against QuantMath ---------*- C++ -*-===//
//
// The tests of the kernel oracle (KernelOracle.h has the overview): the
// coverage of the sampled cases, the oracle runs at each vector width, with
// float and with int8 activations, qopt.hadamard, a reproducer of the f16
// rounding of qmatmul's weights, qopt-prepare-abi's calling convention, and
// run-time quantization against QuantMath.
//
//===----------------------------------------------------------------------===//

#include "KernelOracle.h"

#include "qopt/Conversion/Patterns.h"
#include "qopt/Runtime/QuantMath.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using namespace mlir;
using namespace ::qopt::oracle;
namespace rt = ::qopt::runtime;

//===----------------------------------------------------------------------===//
// Tests
//===----------------------------------------------------------------------===//

/// The sampling covers what the overview in KernelOracle.h promises.
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

/// Every two-level case (set L) parses, and its matmuls take the integer
/// path at both vector widths, so the int8 runs check the two-level
/// readers of IntegerMatmul.cpp and IntegerPanels.cpp, not only the exact
/// kernel.
TEST(KernelOracle, TwoLevelCasesTakeIntegerPath) {
  std::unique_ptr<MLIRContext> ctx = makeContext();
  std::set<std::tuple<unsigned, bool, unsigned, OpKind>> seen;
  for (const Case &c : makeCases()) {
    if (!c.subBits)
      continue;
    seen.insert({c.bits, c.sym, c.subBits, c.op});
    auto type = llvm::dyn_cast_or_null<mlir::qopt::QTensorType>(
        mlir::parseType(qtype(c, c.bits, 0), ctx.get()));
    ASSERT_TRUE(type) << c.name;
    EXPECT_TRUE(type.isTwoLevel()) << c.name;
    if (c.op == OpKind::Matmul) {
      for (int64_t width : {8, 16}) {
        EXPECT_TRUE(mlir::qopt::integerMatmulApplies(type, width))
            << c.name << " at width " << width;
      }
    }
  }
  // Q2_K, Q3_K, Q4_K, Q5_K and Q6_K as the importer makes them.
  for (auto [bits, sym, sub] :
       {std::tuple{2u, false, 4u}, std::tuple{3u, true, 8u},
        std::tuple{4u, false, 8u}, std::tuple{5u, false, 8u},
        std::tuple{6u, true, 8u}})
    for (OpKind op : {OpKind::Matmul, OpKind::Dequantize})
      EXPECT_TRUE(seen.count({bits, sym, sub, op})) << bits;
}

TEST(KernelOracle, VectorWidth8) { runOracle(8); }

/// The decode prefetch policy by CPU name: AMD Zen prefetches only rows of
/// 3 bits or fewer (measured there: 4- and 8-bit rows decode faster
/// without it), every other CPU every width. The oracle runs check both
/// kinds of row with the prefetch (the default, 8); it reads nothing the
/// loads do not, so the results do not depend on it.
TEST(KernelOracle, DecodePrefetchBitsFor) {
  EXPECT_EQ(mlir::qopt::decodePrefetchBitsFor("znver4"), 3);
  EXPECT_EQ(mlir::qopt::decodePrefetchBitsFor("znver3"), 3);
  EXPECT_EQ(mlir::qopt::decodePrefetchBitsFor("sapphirerapids"), 8);
  EXPECT_EQ(mlir::qopt::decodePrefetchBitsFor("x86-64-v3"), 8);
  EXPECT_EQ(mlir::qopt::decodePrefetchBitsFor(""), 8);
}

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
    // The GFNI nested-code reader where the host has it (width 16): the
    // select-based one is checked at width 8.
    runOracle(width, "vnni", mlir::qopt::hostGfni(width));
    any = true;
  }
  if (!any)
    GTEST_SKIP() << "host has no AVX-512 VNNI or AVX-VNNI (the generic run "
                    "covers the arithmetic)";
}

/// The packed GEMM with AMX tiles (tdpbsud), where the host has them and the
/// OS lets this process use them; the VNNI run above covers the same
/// cases with its vector micro-kernel.
TEST(KernelOracle, Int8ActivationsAmx) {
  if (!mlir::qopt::hostAmx(16))
    GTEST_SKIP() << "host has no AMX-INT8 tiles at vector width 16, or the "
                    "OS does not grant them (the VNNI and generic runs cover "
                    "the arithmetic)";
  runOracle(16, "vnni", mlir::qopt::hostGfni(16), /*amx=*/true);
}

/// The packed GEMM with bf16 AMX tiles (tdpbf16ps), where the host has them
/// and the OS lets this process use them, against its own definition (x and
/// the f32 weights rounded to bf16).
TEST(KernelOracle, Int8ActivationsAmxBf16) {
  if (!mlir::qopt::hostAmxBf16(16))
    GTEST_SKIP() << "host has no AMX-BF16 tiles at vector width 16, or the "
                    "OS does not grant them (the VNNI and generic runs cover "
                    "the rest of the integer path)";
  runOracle(16, "vnni", mlir::qopt::hostGfni(16), /*amx=*/true,
            /*amxBf16=*/true);
}

TEST(KernelOracle, Attention) {
  runAttentionOracle(8);
  if (mlir::qopt::hostVectorWidth() >= 16)
    runAttentionOracle(16);
}

TEST(KernelOracle, FloatWeights) {
  runFloatMatmulOracle(8);
  if (mlir::qopt::hostVectorWidth() >= 16)
    runFloatMatmulOracle(16);
}

TEST(KernelOracle, FloatWeightsF16Activations) {
  runFloatMatmulOracle(8, /*f16Activations=*/true);
  if (mlir::qopt::hostVectorWidth() >= 16)
    runFloatMatmulOracle(16, /*f16Activations=*/true);
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
