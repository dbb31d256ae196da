//===- KernelOracleRun.cpp - Compile, call and check cases ------*- C++ -*-===//
//
// The runs of the kernel oracle (KernelOracle.h has the overview): memref
// descriptors and calls through `_mlir_ciface_<name>`, the check of one call
// against the reference (and against the integer path's definition where a
// matmul takes it), compiling a module with qopt-to-llvm and the JIT, and the
// oracle runs of the sampled cases and of qopt.hadamard.
//
//===----------------------------------------------------------------------===//

#include "KernelOracle.h"

#include "qopt/Conversion/Patterns.h"
#include "qopt/Runtime/Hadamard.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace mlir;
namespace rt = ::qopt::runtime;

// The OpenMP runtime the kernels' parallel loops run on.
extern "C" void omp_set_num_threads(int);

namespace qopt::oracle {

//===----------------------------------------------------------------------===//
// Memref descriptors and calls
//===----------------------------------------------------------------------===//

Descriptor::Descriptor(const void *data, ArrayRef<int64_t> sizes) {
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

namespace {

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

/// `v` rounded to bf16 (to nearest even, as vcvtneps2bf16 and arith.truncf).
double roundBf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  bits += 0x7fff + ((bits >> 16) & 1);
  bits &= 0xffff0000u;
  float rounded;
  std::memcpy(&rounded, &bits, sizeof(rounded));
  return rounded;
}

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
  // Rows [0, bf16Rows) take the bf16 GEMM: their reference rounds x and
  // the f32 weights (two-level minimums: f32(f32(a * v) - m), w) to bf16.
  int64_t bf16Rows = 0;
  std::vector<double> xsBf16, wBf16;
  if (takesIntegerPath(c, runtimeWidth, integer)) {
    ++stats.integerRuns;
    label += " (int8 activations)";
    if (integer->amxBf16 && c.tokens >= kPanelTokens)
      bf16Rows = c.n / 16 * 16;
    if (bf16Rows > 0) {
      ++stats.bf16Runs;
      label += " (bf16 tiles on rows below " + std::to_string(bf16Rows) + ")";
      for (float v : c.x)
        xsBf16.push_back(roundBf16(v));
      bool minimums = c.subBits && !c.sym;
      for (int64_t i = 0; i < c.n * c.k; ++i)
        wBf16.push_back(
            roundBf16(static_cast<float>(minimums ? w[i] : exact[i])));
    }
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
        bool bf16 = n < bf16Rows;
        const std::vector<double> &xRef = bf16 ? xsBf16 : xs;
        const std::vector<double> &wRef = bf16 ? wBf16 : w;
        for (int64_t k = 0; k < c.k; ++k) {
          double xk = xRef[t * c.k + k];
          double term = xk * wRef[n * c.k + k];
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

} // namespace

//===----------------------------------------------------------------------===//
// Compile and run
//===----------------------------------------------------------------------===//

std::unique_ptr<MLIRContext> makeContext() {
  DialectRegistry registry;
  mlir::qopt::registerLoweringDialects(registry);
  mlir::qopt::registerLoweringTranslations(registry);
  return std::make_unique<MLIRContext>(registry);
}

/// Lowers `source` with qopt-to-llvm at `vectorWidth` lanes and JITs it.
llvm::Expected<Compiled>
compile(const std::string &source, int64_t vectorWidth,
        const mlir::qopt::QOptToLLVMPipelineOptions *pipeline) {
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

/// Runs every case at `vectorWidth`; with `intDot`, with int8 activations
/// and the integer dot products emitted that way ("generic" or "vnni"), and
/// with `gfni` the GFNI reader of nested codes and with `amx` AMX tiles.
void runOracle(int64_t vectorWidth, StringRef intDot, bool gfni, bool amx,
               bool amxBf16) {
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
  pipeline.gfni = gfni;
  pipeline.amx = amx;
  pipeline.amxBf16 = amxBf16;
  auto start = std::chrono::steady_clock::now();
  llvm::Expected<Compiled> compiled = compile(source, vectorWidth, &pipeline);
  ASSERT_TRUE(static_cast<bool>(compiled))
      << llvm::toString(compiled.takeError());
  auto compiledAt = std::chrono::steady_clock::now();
  Stats stats;
  IntegerRun integer{compiled->ctx.get(), vectorWidth, amxBf16};
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
  std::printf(
      "[oracle] vector width %lld%s%s%s%s%s: %zu functions, %d runs (%d on "
      "the integer path, %d with bf16 tiles), %d failed runs; worst "
      "normalized error "
      "%.3g (%s); compile %.1f s, run %.2f s\n",
      static_cast<long long>(vectorWidth),
      intDot.empty() ? "" : ", int8 activations, int-dot ",
      intDot.str().c_str(), gfni ? ", gfni" : "", amx ? ", amx" : "",
      amxBf16 ? ", amx-bf16" : "", cases.size(), stats.runs, stats.integerRuns,
      stats.bf16Runs, stats.failures, stats.worst, stats.worstCase.c_str(),
      seconds(start, compiledAt), seconds(compiledAt, done));
  EXPECT_EQ(stats.failures, 0);
  // The integer path must carry most matmul runs (every dense and nested
  // case with K a multiple of 32); the rest take the exact path.
  if (!intDot.empty()) {
    EXPECT_GT(stats.integerRuns, stats.runs / 3);
  }
  // Every packed-GEMM case (11 tokens x 37 rows, the 409-token one) has
  // whole panels.
  if (amxBf16) {
    EXPECT_GT(stats.bf16Runs, 0);
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

} // namespace qopt::oracle
