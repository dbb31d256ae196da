//===- HadamardBench.cpp - Benchmarks of the Hadamard transform -*- C++ -*-===//
//
// fastHadamardTransform on `rows` x n floats in place, against the dense
// baseline: an Eigen product of the rows with the n x n normalized Hadamard
// matrix (H_n / sqrt(n))^T. Both are single-threaded and count the same bytes
// per iteration (the rows * n floats transformed), so the ratio of their
// bytes_per_second is the inverse ratio of their times. See bench/README.md.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/Hadamard.h"

#include "benchmark/benchmark.h"

#include <Eigen/Dense>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace qopt::runtime;

namespace {

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
  for (int64_t n : {4096, 11008, 14336})
    for (int64_t rows : {1, 64})
      b->Args({n, rows});
}

} // namespace

BENCHMARK(BM_FastHadamard)->Apply(sizes);
BENCHMARK(BM_DenseHadamardEigen)->Apply(sizes);
