//===- KernelBench.cpp - Benchmarks of the matmul kernels -------*- C++ -*-===//
//
// `qopt.kernel_matmul` (what `qopt.qmatmul` and float linears lower to),
// lowered with the qopt-to-llvm pipeline at the host's vector width and
// JIT-compiled once per weight type and shape, on Llama-7B / Llama-3-8B
// shapes N x K (4096x4096, 11008x4096, 4096x11008, 14336x4096) and M = 1, 8,
// 64, 512 tokens, on 1 and 2 threads (the OpenMP team the kernels'
// parallel row loop uses), with hot weights (the same copy every iteration)
// or cold ones (enough copies, cycled, to exceed the caches).
//
// Weight types: f32, f16, 8-bit and 4-bit symmetric groups of 32 (q8_0 and
// q4_0 style, f32 scales), the 8-bit nested bit-plane layout served at
// r = 8, 4 and 2 bits (the top r + 1 planes are read), and GGUF's K-quants
// as qopt-import keeps them (two-level scales, `super = 256`: Q4_K asym
// groups of 32 with 8-bit sub-scales, Q6_K sym groups of 16, Q2_K asym
// groups of 16 with 4-bit sub-scales). The quantized ones
// run on the exact path (int8 = 0: f32 activations) and on the integer path
// (int8 = 1: activations quantized to int8, VNNI dot products where the host
// has them), so the two compare as ratios within one run. For M >= 8,
// int8 = 2 is the integer path with the packed GEMM turned off
// (panel-tokens=0: the row-wise kernel), the baseline of IntegerPanels.cpp.
// On a host with GFNI (and AVX-512 BW, VBMI), int8 = 3 is the integer path
// of nested weights with the select-based code reader instead of the GFNI
// transpose (IntegerPlan.cpp), the baseline of the latter. On a host with
// AMX, int8 = 1 multiplies the packed GEMM's tiles with AMX and int8 = 4
// (M >= 8) is the same path with VNNI instead (IntegerAmx.cpp). On a host
// with AMX-BF16, int8 = 5 (M >= 8) is the packed GEMM on bf16 tiles
// (AmxBf16.cpp): weights dequantized to bf16 once per call, activations in
// bf16, f32 sums.
//
// Counters: bytes_per_second = weight bytes read (codes, scales) per second;
// gops = 2 M N K / time (G multiply-adds x 2); bw_share = that byte rate
// over the stream bandwidth this benchmark measured itself at the same
// thread count (vector loads over 1 GiB split between the threads), so
// decode-shaped cases (M = 1) near 1.0 are bandwidth-bound. See
// bench/README.md.
//
//===----------------------------------------------------------------------===//

#include "BenchJit.h"

#include "qopt/Conversion/Passes.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"

#include "benchmark/benchmark.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

extern "C" void omp_set_num_threads(int);

using namespace mlir;

namespace {

enum class Kind { F32, F16, Q8, Q4, Nested8, Q4K, Q6K, Q2K };

constexpr int64_t kGroup = 32;
/// Elements per two-level record (GGUF's K-quant super-block).
constexpr int64_t kSuper = 256;

/// The buffers of one weight of `kind` and shape n x k, as the kernel reads
/// them, and the MLIR types of its parts.
struct WeightLayout {
  std::vector<std::vector<int64_t>> shapes; // per part
  std::vector<std::string> elementTypes;    // per part
  std::vector<int64_t> elementBytes;        // per part
  std::string weightType;                   // the op's weight_type
  bool runtimeWidth = false;
  /// Two-level scales: bytes per record (each starts with an f16
  /// super-scale) of the parts after the codes; 0 otherwise.
  int64_t recordBytes = 0;
};

WeightLayout layoutOf(Kind kind, int64_t n, int64_t k) {
  WeightLayout l;
  std::string qtype = llvm::formatv("!qopt.qtensor<{0}x{1}xf32, bits = {{0}, "
                                    "group = 32, sym{{1}>",
                                    n, k)
                          .str();
  auto quantized = [&](int64_t bits, const char *layout) {
    return llvm::formatv(qtype.c_str(), bits, layout).str();
  };
  switch (kind) {
  case Kind::F32:
  case Kind::F16: {
    const char *et = kind == Kind::F32 ? "f32" : "f16";
    l.shapes = {{n, k}};
    l.elementTypes = {et};
    l.elementBytes = {kind == Kind::F32 ? 4 : 2};
    l.weightType = llvm::formatv("tensor<{0}x{1}x{2}>", n, k, et).str();
    break;
  }
  case Kind::Q8:
  case Kind::Q4: {
    int64_t bits = kind == Kind::Q8 ? 8 : 4;
    l.shapes = {{n, k * bits / 8}, {n, k / kGroup}};
    l.elementTypes = {"i8", "f32"};
    l.elementBytes = {1, 4};
    l.weightType = quantized(bits, "");
    break;
  }
  case Kind::Nested8:
    l.shapes = {{8, n, k / 8}, {n, k / kGroup}};
    l.elementTypes = {"i8", "f32"};
    l.elementBytes = {1, 4};
    l.weightType = quantized(8, ", layout = nested");
    l.runtimeWidth = true;
    break;
  case Kind::Q4K:
  case Kind::Q6K:
  case Kind::Q2K: {
    // bits, group, sub-scale bits, asym: as KQuants.cpp imports them.
    auto [bits, group, sub, asym] =
        kind == Kind::Q4K   ? std::tuple(4, 32, 8, true)
        : kind == Kind::Q6K ? std::tuple(6, 16, 8, false)
                            : std::tuple(2, 16, 4, true);
    l.recordBytes = 2 + (kSuper / group * sub + 7) / 8;
    l.shapes = {{n, k * bits / 8}, {n, k / kSuper, l.recordBytes}};
    if (asym)
      l.shapes.push_back(l.shapes.back());
    l.elementTypes.assign(l.shapes.size(), "i8");
    l.elementBytes.assign(l.shapes.size(), 1);
    l.weightType =
        llvm::formatv("!qopt.qtensor<{0}x{1}xf32, bits = {2}, group = {3}, "
                      "{4}, scale = f16, super = {5}{6}>",
                      n, k, bits, group, asym ? "asym" : "sym", kSuper,
                      sub == 8 ? "" : ", sub = 4")
            .str();
    break;
  }
  }
  return l;
}

std::string memrefType(const std::vector<int64_t> &shape,
                       const std::string &element) {
  std::string s = "memref<";
  for (int64_t d : shape)
    s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return s + element + ">";
}

/// A strided memref descriptor for the C interface: {allocated, aligned,
/// offset, sizes..., strides...}.
std::vector<int64_t> descriptor(const void *data,
                                const std::vector<int64_t> &shape) {
  std::vector<int64_t> d = {reinterpret_cast<int64_t>(data),
                            reinterpret_cast<int64_t>(data), 0};
  d.insert(d.end(), shape.begin(), shape.end());
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  d.insert(d.end(), strides.begin(), strides.end());
  return d;
}

/// One JIT-compiled `@mm(x, parts..., [width], y)` per (kind, n, k).
class CompiledMatmul {
public:
  /// `mode`: 0 exact path, 1 integer path, 2 integer path without the
  /// packed GEMM, 3 integer path without the GFNI nested-code reader.
  static CompiledMatmul &get(Kind kind, int64_t n, int64_t k, int64_t mode) {
    static std::map<std::tuple<int, int64_t, int64_t, int64_t>,
                    std::unique_ptr<CompiledMatmul>>
        cache;
    auto &slot = cache[{static_cast<int>(kind), n, k, mode}];
    if (!slot)
      slot.reset(new CompiledMatmul(kind, n, k, mode));
    return *slot;
  }

  const WeightLayout &layout() const { return weight; }

  void run(const float *x, int64_t m, const std::vector<const void *> &parts,
           int64_t width, float *y) {
    std::vector<std::vector<int64_t>> descriptors;
    descriptors.push_back(descriptor(x, {m, k}));
    for (auto [i, part] : llvm::enumerate(parts))
      descriptors.push_back(descriptor(part, weight.shapes[i]));
    std::vector<int64_t> out = descriptor(y, {m, n});
    int64_t table[5] = {reinterpret_cast<int64_t>(&dummy),
                        reinterpret_cast<int64_t>(&dummy), 0, 1, 1};
    int64_t widths[5] = {table[0], table[1], 0, 1, 1};
    std::vector<void *> pointers;
    for (auto &d : descriptors)
      pointers.push_back(d.data());
    std::vector<void *> args;
    for (void *&p : pointers)
      args.push_back(&p);
    if (weight.runtimeWidth)
      args.push_back(&width);
    void *outPtr = out.data(), *tablePtr = table, *widthsPtr = widths;
    args.push_back(&outPtr);
    args.push_back(&tablePtr);
    args.push_back(&widthsPtr);
    if (llvm::Error err = engine->invokePacked("_mlir_ciface_mm", args)) {
      std::fprintf(stderr, "%s\n", llvm::toString(std::move(err)).c_str());
      std::abort();
    }
  }

private:
  CompiledMatmul(Kind kind, int64_t n, int64_t k, int64_t mode)
      : weight(layoutOf(kind, n, k)), n(n), k(k) {
    context = ::qopt::bench::makeLoweringContext();
    std::string params = "%x: " + memrefType({-1, k}, "f32");
    std::string operands, types;
    for (size_t i = 0; i < weight.shapes.size(); ++i) {
      std::string t = memrefType(weight.shapes[i], weight.elementTypes[i]);
      params += llvm::formatv(", %p{0}: {1}", i, t).str();
      operands += (i ? ", %p" : "%p") + std::to_string(i);
      types += (i ? ", " : "") + t;
    }
    if (weight.runtimeWidth)
      params += ", %r: index";
    std::string outType = memrefType({-1, n}, "f32");
    params += ", %y: " + outType;
    std::string source = llvm::formatv(
        "func.func @mm({0}) {{\n  qopt.kernel_matmul ins(%x : {1}) "
        "weight({2} : {3}){4} outs(%y : {5}) {{weight_type = {6}}\n  "
        "return\n}\n",
        params, memrefType({-1, k}, "f32"), operands, types,
        weight.runtimeWidth ? " width(%r)" : "", outType, weight.weightType);
    engine = ::qopt::bench::jitKernels(*context, source, mode != 0,
                                       mode == 2 ? 0 : -1,
                                       /*gfni=*/mode != 3, /*amx=*/mode != 4,
                                       /*amxBf16=*/mode == 5);
  }

  WeightLayout weight;
  int64_t n, k;
  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<ExecutionEngine> engine;
  int64_t dummy = 0;
};

/// Stream bandwidth (bytes/s) at `threads` threads: the best of 5 passes of
/// vector loads over 1 GiB, each thread reading its own slice (first touched
/// by that thread). Measured once per thread count.
double streamBandwidth(int threads) {
  static std::map<int, double> measured;
  if (auto it = measured.find(threads); it != measured.end())
    return it->second;
  constexpr size_t kBytes = size_t(1) << 30;
  size_t perThread = kBytes / threads / 64 * 64;
  std::vector<float *> slices(threads);
  std::vector<float> sinks(threads);
  auto forEachThread = [&](auto &&fn) {
    std::vector<std::thread> workers;
    for (int t = 1; t < threads; ++t)
      workers.emplace_back(fn, t);
    fn(0);
    for (std::thread &w : workers)
      w.join();
  };
  forEachThread([&](int t) {
    slices[t] = static_cast<float *>(std::aligned_alloc(64, perThread));
    std::memset(slices[t], 1, perThread);
  });
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    auto start = std::chrono::steady_clock::now();
    forEachThread([&](int t) {
      const float *p = slices[t];
      size_t count = perThread / sizeof(float);
      float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (size_t i = 0; i + 4 <= count; i += 4) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
      }
      sinks[t] = a0 + a1 + a2 + a3;
    });
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    best = std::max(best, perThread * threads / seconds);
  }
  benchmark::DoNotOptimize(sinks.data());
  for (float *s : slices)
    std::free(s);
  return measured[threads] = best;
}

/// Random bytes for a part of a weight (codes, or small float scales).
std::vector<char> randomPart(const WeightLayout &l, size_t part,
                             std::mt19937 &rng) {
  int64_t count = 1;
  for (int64_t d : l.shapes[part])
    count *= d;
  std::vector<char> bytes(count * l.elementBytes[part]);
  if (l.elementTypes[part] == "f32") {
    std::uniform_real_distribution<float> dist(0.001f, 0.01f);
    for (int64_t i = 0; i < count; ++i) {
      float v = dist(rng);
      std::memcpy(bytes.data() + 4 * i, &v, 4);
    }
  } else if (l.elementTypes[part] == "f16") {
    std::uniform_int_distribution<int> dist(0x2000, 0x2400); // small halves
    for (int64_t i = 0; i < count; ++i) {
      uint16_t v = static_cast<uint16_t>(dist(rng));
      std::memcpy(bytes.data() + 2 * i, &v, 2);
    }
  } else {
    std::uniform_int_distribution<int> dist(0, 255);
    for (char &b : bytes)
      b = static_cast<char>(dist(rng));
    // Two-level records: a small finite f16 super-scale first.
    if (part > 0 && l.recordBytes) {
      std::uniform_int_distribution<int> half(0x2000, 0x2400);
      for (size_t r = 0; r < bytes.size(); r += l.recordBytes) {
        uint16_t v = static_cast<uint16_t>(half(rng));
        std::memcpy(bytes.data() + r, &v, 2);
      }
    }
  }
  return bytes;
}

/// Bytes of the weight a call reads: every part, except that a nested
/// weight served at r < 8 bits reads r + 1 of its 8 planes.
int64_t bytesRead(const WeightLayout &l, int64_t width) {
  int64_t total = 0;
  for (size_t i = 0; i < l.shapes.size(); ++i) {
    int64_t count = l.elementBytes[i];
    for (int64_t d : l.shapes[i])
      count *= d;
    if (l.runtimeWidth && i == 0 && width < 8)
      count = count / 8 * (width + 1);
    total += count;
  }
  return total;
}

/// Args: N, K, M, threads, cold (0/1), width (nested only, else 0), int8
/// activations (0: no, 1: yes, 2: yes without the packed GEMM, 3: yes
/// without the GFNI nested-code reader).
void BM_Matmul(benchmark::State &state, Kind kind) {
  int64_t n = state.range(0), k = state.range(1), m = state.range(2);
  int threads = static_cast<int>(state.range(3));
  bool cold = state.range(4) != 0;
  int64_t width = state.range(5);
  int64_t mode = state.range(6);
  CompiledMatmul &mm = CompiledMatmul::get(kind, n, k, mode);
  const WeightLayout &l = mm.layout();
  int64_t bytes = bytesRead(l, width ? width : 8);
  // Cold: enough copies to read 512 MiB before a copy comes back.
  int64_t copies =
      cold ? std::max<int64_t>(2, (int64_t(512) << 20) / bytes) : 1;
  std::mt19937 rng(42);
  std::vector<std::vector<std::vector<char>>> weights(copies);
  for (auto &w : weights)
    for (size_t p = 0; p < l.shapes.size(); ++p)
      w.push_back(randomPart(l, p, rng));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(m * k), y(m * n);
  for (float &v : x)
    v = dist(rng);
  double bandwidth = streamBandwidth(threads);
  omp_set_num_threads(threads);
  int64_t next = 0;
  for (auto _ : state) {
    std::vector<const void *> parts;
    for (auto &p : weights[next])
      parts.push_back(p.data());
    next = (next + 1) % copies;
    mm.run(x.data(), m, parts, width, y.data());
    benchmark::ClobberMemory();
  }
  double iterations = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(iterations * bytes));
  state.counters["gops"] = benchmark::Counter(
      iterations * 2.0 * m * n * k / 1e9, benchmark::Counter::kIsRate);
  state.counters["bw_share"] = benchmark::Counter(
      iterations * bytes / bandwidth, benchmark::Counter::kIsRate);
  state.counters["stream_GBps"] = bandwidth / 1e9;
}

constexpr int64_t kShapes[][2] = {
    {4096, 4096}, {11008, 4096}, {4096, 11008}, {14336, 4096}};

void shapes(benchmark::internal::Benchmark *b, bool nested,
            bool quantized = true) {
  b->ArgNames({"N", "K", "M", "threads", "cold", "r", "int8"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  int64_t width = mlir::qopt::hostVectorWidth();
  bool gfni = mlir::qopt::hostGfni(width), amx = mlir::qopt::hostAmx(width);
  bool amxBf16 = mlir::qopt::hostAmxBf16(width);
  for (auto [n, k] : kShapes)
    for (int64_t m : {1, 8, 64, 512})
      for (int64_t threads : {1, 2})
        for (int64_t cold : {0, 1}) {
          // Cold weights matter where the weights are streamed once per
          // call (decode-shaped M); large M is compute-bound.
          if (cold && m > 8)
            continue;
          for (int64_t int8 : {0, 1, 2, 3, 4, 5}) {
            if ((int8 && !quantized) || (int8 == 2 && m < 8))
              continue;
            // Without GFNI: nested weights, where the host has it.
            if (int8 == 3 && (!nested || !gfni))
              continue;
            // Without AMX tiles: the packed GEMM's sizes, where the host
            // has them.
            if (int8 == 4 && (m < 8 || !amx))
              continue;
            // bf16 tiles: the packed GEMM's sizes, where the host has them.
            if (int8 == 5 && (m < 8 || !amxBf16))
              continue;
            if (!nested) {
              b->Args({n, k, m, threads, cold, 0, int8});
              continue;
            }
            for (int64_t r : {8, 4, 2})
              b->Args({n, k, m, threads, cold, r, int8});
          }
        }
}

} // namespace

BENCHMARK_CAPTURE(BM_Matmul, f32, Kind::F32)->Apply([](auto *b) {
  shapes(b, false, /*quantized=*/false);
});
BENCHMARK_CAPTURE(BM_Matmul, f16, Kind::F16)->Apply([](auto *b) {
  shapes(b, false, /*quantized=*/false);
});
BENCHMARK_CAPTURE(BM_Matmul, q8g32, Kind::Q8)->Apply([](auto *b) {
  shapes(b, false);
});
BENCHMARK_CAPTURE(BM_Matmul, q4g32, Kind::Q4)->Apply([](auto *b) {
  shapes(b, false);
});
BENCHMARK_CAPTURE(BM_Matmul, nested8g32, Kind::Nested8)->Apply([](auto *b) {
  shapes(b, true);
});
BENCHMARK_CAPTURE(BM_Matmul, q4_k, Kind::Q4K)->Apply([](auto *b) {
  shapes(b, false);
});
BENCHMARK_CAPTURE(BM_Matmul, q6_k, Kind::Q6K)->Apply([](auto *b) {
  shapes(b, false);
});
BENCHMARK_CAPTURE(BM_Matmul, q2_k, Kind::Q2K)->Apply([](auto *b) {
  shapes(b, false);
});
