//===- GPTQBench.cpp - Benchmarks of qopt_gptq ------------------*- C++ -*-===//
//
// Time per layer of GPTQ on Llama-7B shapes (4096 x 4096: q/k/v/o; 11008 x
// 4096: gate/up), random weights and a random positive-definite H (rank-256
// correlated inputs plus a ridge), 4-bit asymmetric groups of 32, on 1 and 2
// threads: the whole call, its two parts (the Hessian factor, the column
// pass with a prepared factor), Matryoshka over {8, 4, 2} and clipped RTN.
// Each benchmark runs one iteration per repetition: a layer takes seconds.
// See bench/README.md.
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/GPTQ.h"

#include "benchmark/benchmark.h"

#include <cmath>
#include <map>
#include <random>
#include <vector>

using namespace qopt::quant;

namespace {

/// Gaussian rows x cols weights, fixed seed.
const std::vector<float> &weights(int64_t rows, int64_t cols) {
  static std::map<std::pair<int64_t, int64_t>, std::vector<float>> cache;
  std::vector<float> &w = cache[{rows, cols}];
  if (w.empty()) {
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    w.resize(rows * cols);
    for (float &x : w)
      x = normal(rng);
  }
  return w;
}

/// H = sum of 256 outer products of inputs correlated along the channels
/// (x_k = 0.9 x_(k-1) + noise), plus 1e-2 * mean(diag) on the diagonal.
const std::vector<double> &hessian(int64_t cols) {
  static std::map<int64_t, std::vector<double>> cache;
  std::vector<double> &h = cache[cols];
  if (h.empty()) {
    std::mt19937 rng(2);
    std::normal_distribution<double> normal(0.0, 1.0);
    h.assign(cols * cols, 0.0);
    std::vector<double> x(cols);
    for (int t = 0; t < 256; ++t) {
      double prev = normal(rng);
      for (double &v : x)
        v = prev = 0.9 * prev + std::sqrt(1.0 - 0.81) * normal(rng);
      for (int64_t a = 0; a < cols; ++a) {
        double *row = h.data() + a * cols;
        for (int64_t b = 0; b < cols; ++b)
          row[b] += x[a] * x[b];
      }
    }
    double mean = 0.0;
    for (int64_t k = 0; k < cols; ++k)
      mean += h[k * cols + k] / cols;
    for (int64_t k = 0; k < cols; ++k)
      h[k * cols + k] += 1e-2 * mean;
  }
  return h;
}

QuantConfig config4() {
  QuantConfig c;
  c.bits = 4;
  c.groupSize = 32;
  return c;
}

GPTQOptions optionsFor(const benchmark::State &state) {
  GPTQOptions o;
  o.numThreads = static_cast<unsigned>(state.range(2));
  return o;
}

/// Aborts the benchmark on an error (never expected).
template <typename T>
bool check(llvm::Expected<T> &value, benchmark::State &state) {
  if (value)
    return true;
  state.SkipWithError(llvm::toString(value.takeError()).c_str());
  return false;
}

void BM_GPTQ(benchmark::State &state) {
  int64_t rows = state.range(0), cols = state.range(1);
  const std::vector<float> &w = weights(rows, cols);
  const std::vector<double> &h = hessian(cols);
  for (auto _ : state) {
    auto q = gptqQuantize(w, rows, cols, h, config4(), optionsFor(state));
    if (!check(q, state))
      break;
    benchmark::DoNotOptimize(q->codes.data());
  }
}

void BM_HessianFactor(benchmark::State &state) {
  int64_t cols = state.range(1);
  const std::vector<double> &h = hessian(cols);
  for (auto _ : state) {
    auto f = HessianFactor::compute(h, cols, optionsFor(state));
    if (!check(f, state))
      break;
    benchmark::DoNotOptimize(f->upper().data());
  }
}

void BM_GPTQPrepared(benchmark::State &state) {
  int64_t rows = state.range(0), cols = state.range(1);
  const std::vector<float> &w = weights(rows, cols);
  auto f = HessianFactor::compute(hessian(cols), cols, optionsFor(state));
  if (!check(f, state))
    return;
  for (auto _ : state) {
    auto q = gptqQuantize(w, rows, cols, *f, config4(), optionsFor(state));
    if (!check(q, state))
      break;
    benchmark::DoNotOptimize(q->codes.data());
  }
}

void BM_Matryoshka(benchmark::State &state) {
  int64_t rows = state.range(0), cols = state.range(1);
  const std::vector<float> &w = weights(rows, cols);
  const std::vector<double> &h = hessian(cols);
  QuantConfig config = config4();
  config.bits = 8;
  MatryoshkaOptions o;
  o.widths = {8, 4, 2};
  o.lambdas = {1.0, 1.0, 1.0};
  o.sweeps = 2;
  for (auto _ : state) {
    auto r = matryoshkaQuantize(w, rows, cols, h, config, optionsFor(state), o);
    if (!check(r, state))
      break;
    benchmark::DoNotOptimize(r->weight.codes.data());
  }
}

void BM_Clip(benchmark::State &state) {
  int64_t rows = state.range(0), cols = state.range(1);
  const std::vector<float> &w = weights(rows, cols);
  const std::vector<double> &h = hessian(cols);
  ClipOptions o;
  o.numThreads = static_cast<unsigned>(state.range(2));
  for (auto _ : state) {
    auto q = clipQuantize(w, rows, cols, h, config4(), o);
    if (!check(q, state))
      break;
    benchmark::DoNotOptimize(q->codes.data());
  }
}

/// Llama-7B shapes [N, K] on 1 and 2 threads.
void layerShapes(benchmark::internal::Benchmark *b) {
  b->ArgNames({"N", "K", "threads"});
  for (int64_t rows : {4096, 11008})
    for (int64_t threads : {1, 2})
      b->Args({rows, 4096, threads});
  b->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
}

} // namespace

BENCHMARK(BM_GPTQ)->Apply(layerShapes);
BENCHMARK(BM_GPTQPrepared)->Apply(layerShapes);
BENCHMARK(BM_HessianFactor)
    ->ArgNames({"N", "K", "threads"})
    ->Args({0, 4096, 1})
    ->Args({0, 4096, 2})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
BENCHMARK(BM_Matryoshka)
    ->ArgNames({"N", "K", "threads"})
    ->Args({4096, 4096, 2})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
BENCHMARK(BM_Clip)
    ->ArgNames({"N", "K", "threads"})
    ->Args({4096, 4096, 2})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
