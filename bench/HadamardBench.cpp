//===- HadamardBench.cpp - Benchmarks of the Hadamard transform -*- C++ -*-===//
//
// Three implementations on `rows` x n floats, all single-threaded and
// counting the same bytes per iteration (the rows * n floats transformed), so
// the ratio of their bytes_per_second is the inverse ratio of their times:
//  - BM_CompiledHadamard: the code models run, `qopt.kernel_hadamard` (what
//    `qopt.hadamard` lowers to) in place on the buffer, lowered with the
//    qopt-to-llvm pipeline at the host's vector width and JIT-compiled once;
//  - BM_FastHadamard: the runtime's reference fastHadamardTransform;
//  - BM_DenseHadamardEigen: the dense baseline, an Eigen product of the rows
//    with the n x n normalized Hadamard matrix (H_n / sqrt(n))^T.
// See bench/README.md.
//
//===----------------------------------------------------------------------===//

#include "BenchJit.h"

#include "qopt/Conversion/Passes.h"
#include "qopt/Runtime/Hadamard.h"

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

#include <Eigen/Dense>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

using namespace qopt::runtime;
using namespace mlir;

namespace {

constexpr int64_t kSizes[] = {4096, 11008, 14336};
constexpr int64_t kRows[] = {1, 64};

/// Row-major rows x n floats.
using RowMajorMatrix =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// `count` random floats in [-1, 1), fixed seed.
std::vector<float> randomFloats(int64_t count) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(count);
  for (float &v : x)
    v = dist(rng);
  return x;
}

/// (H_n / sqrt(n))^T as a dense float matrix. The last one built is kept, so
/// the repetitions of one size build it once.
const Eigen::MatrixXf &denseTransposedHadamard(int64_t n) {
  static int64_t builtFor = 0;
  static Eigen::MatrixXf ht;
  if (builtFor != n) {
    ht.resize(0, 0);
    std::vector<int8_t> h = hadamardMatrix(n);
    float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
    ht.resize(n, n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        ht(j, i) = scale * h[i * n + j];
    builtFor = n;
  }
  return ht;
}

void setBytes(benchmark::State &state, int64_t rows, int64_t n) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * rows * n *
                          static_cast<int64_t>(sizeof(float)));
}

/// One module with a function `@h<n>_<rows>(memref<rows x n x f32>)` per
/// benchmarked shape, lowered and JIT-compiled on first use.
class CompiledKernels {
public:
  static CompiledKernels &get() {
    static CompiledKernels kernels;
    return kernels;
  }

  /// Transforms `rows` x `n` floats at `data` in place.
  void run(int64_t n, int64_t rows, float *data) {
    // memref descriptor {allocated, aligned, offset, sizes[2], strides[2]},
    // then the (unused) weight table and width table descriptors.
    int64_t x[7] = {reinterpret_cast<int64_t>(data),
                    reinterpret_cast<int64_t>(data),
                    0,
                    rows,
                    n,
                    n,
                    1};
    int64_t table[5] = {reinterpret_cast<int64_t>(&dummy),
                        reinterpret_cast<int64_t>(&dummy), 0, 1, 1};
    int64_t widths[5] = {table[0], table[1], 0, 1, 1};
    void *pointers[3] = {x, table, widths};
    void *args[3] = {&pointers[0], &pointers[1], &pointers[2]};
    std::string name = llvm::formatv("_mlir_ciface_h{0}_{1}", n, rows);
    if (llvm::Error err = engine->invokePacked(name, args)) {
      std::fprintf(stderr, "%s\n", llvm::toString(std::move(err)).c_str());
      std::abort();
    }
  }

private:
  CompiledKernels() {
    context = ::qopt::bench::makeLoweringContext();
    std::string source;
    for (int64_t n : kSizes)
      for (int64_t rows : kRows)
        source += llvm::formatv(
            "func.func @h{0}_{1}(%x: memref<{1}x{0}xf32>) {{\n"
            "  qopt.kernel_hadamard outs(%x : memref<{1}x{0}xf32>) "
            "{{size = {0} : i64}\n  return\n}\n",
            n, rows);
    engine = ::qopt::bench::jitKernels(*context, source);
  }

  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<ExecutionEngine> engine;
  int64_t dummy = 0;
};

/// The compiled kernel (the code models run).
void BM_CompiledHadamard(benchmark::State &state) {
  int64_t n = state.range(0), rows = state.range(1);
  CompiledKernels &kernels = CompiledKernels::get();
  std::vector<float> x = randomFloats(rows * n);
  for (auto _ : state) {
    kernels.run(n, rows, x.data());
    benchmark::ClobberMemory();
  }
  setBytes(state, rows, n);
}

void BM_FastHadamard(benchmark::State &state) {
  int64_t n = state.range(0), rows = state.range(1);
  std::vector<float> x = randomFloats(rows * n);
  for (auto _ : state) {
    if (!fastHadamardTransform(x.data(), rows, n))
      state.SkipWithError("unsupported size");
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  setBytes(state, rows, n);
}

void BM_DenseHadamardEigen(benchmark::State &state) {
  int64_t n = state.range(0), rows = state.range(1);
  const Eigen::MatrixXf &ht = denseTransposedHadamard(n);
  std::vector<float> data = randomFloats(rows * n);
  Eigen::Map<RowMajorMatrix> x(data.data(), rows, n);
  RowMajorMatrix y(rows, n);
  for (auto _ : state) {
    y.noalias() = x * ht;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  setBytes(state, rows, n);
}

void sizes(benchmark::internal::Benchmark *b) {
  b->ArgNames({"n", "rows"})->Unit(benchmark::kMicrosecond);
  for (int64_t n : kSizes)
    for (int64_t rows : kRows)
      b->Args({n, rows});
}

} // namespace

BENCHMARK(BM_CompiledHadamard)->Apply(sizes);
BENCHMARK(BM_FastHadamard)->Apply(sizes);
BENCHMARK(BM_DenseHadamardEigen)->Apply(sizes);
