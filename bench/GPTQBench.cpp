//===- GPTQBench.cpp - Benchmarks of qopt_gptq ------------------*- C++ -*-===//
//
// Time per layer of GPTQ on Llama-7B shapes (4096 x 4096: q/k/v/o; 11008 x
// 4096: gate/up), random weights and a random positive-definite H (rank-256
// correlated inputs plus a ridge), 4-bit asymmetric groups of 32, on 1 and 2
// threads: the whole call, its two parts (the Hessian factor, the column
// pass with a prepared factor), Matryoshka over {8, 4, 2} and clipped RTN.
// Each benchmark runs one iteration per repetition: a layer takes seconds.
//
// BM_MatryoshkaFeedback compares the error-propagation choices of the
// Matryoshka method on a 512 x 512 layer (H of full rank, 2048 inputs): its
// counters r8 ... r2 are the
// output error at each served width divided by that of GPTQ run directly at
// that width. See bench/README.md and docs/gptq.md.
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/GPTQ.h"

#include "benchmark/benchmark.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
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

/// H = sum of `samples` outer products of inputs correlated along the
/// channels (x_k = 0.9 x_(k-1) + noise), plus 1e-2 * mean(diag) on the
/// diagonal.
const std::vector<double> &hessian(int64_t cols, int samples = 256) {
  static std::map<std::pair<int64_t, int>, std::vector<double>> cache;
  std::vector<double> &h = cache[{cols, samples}];
  if (h.empty()) {
    std::mt19937 rng(2);
    std::normal_distribution<double> normal(0.0, 1.0);
    h.assign(cols * cols, 0.0);
    std::vector<double> x(cols);
    for (int t = 0; t < samples; ++t) {
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

/// The variants BM_MatryoshkaFeedback compares.
enum Variant : int64_t {
  /// GPTQ at 8 bits, sliced.
  SlicedGPTQ,
  /// The GPTQ pass alone (no range search, no sweeps), mean feedback.
  MeanPass,
  /// The GPTQ pass alone, per-width feedback.
  PerWidthPass,
  /// The default options (range search, sweeps), mean feedback.
  MeanDefault,
  /// The default options, per-width feedback.
  PerWidthDefault,
};

void BM_MatryoshkaFeedback(benchmark::State &state) {
  const int64_t rows = 512, cols = 512;
  const std::vector<float> &w = weights(rows, cols);
  const std::vector<double> &h = hessian(cols, 4 * cols);
  const std::vector<unsigned> served = {8, 4, 2};
  const std::vector<unsigned> reported = {8, 6, 4, 3, 2};
  QuantConfig config = config4();
  config.bits = 8;
  GPTQOptions gptq;
  gptq.numThreads = 1;
  // The output error of GPTQ run directly at each reported width.
  static std::map<unsigned, double> direct;
  for (unsigned r : reported) {
    if (direct.count(r))
      continue;
    QuantConfig c = config;
    c.bits = r;
    auto q = gptqQuantize(w, rows, cols, h, c, gptq);
    if (!check(q, state))
      return;
    auto e = outputError(w, rows, cols, h, *q, c, r);
    if (!check(e, state))
      return;
    direct[r] = *e;
  }
  auto variant = static_cast<Variant>(state.range(0));
  MatryoshkaOptions o;
  o.widths = served;
  o.lambdas = state.range(1) ? balancedLambdas(served, 8)
                             : std::vector<double>(served.size(), 1.0);
  o.feedback = variant == MeanPass || variant == MeanDefault
                   ? ErrorFeedback::Mean
                   : ErrorFeedback::PerWidth;
  if (variant == MeanPass || variant == PerWidthPass) {
    o.rangeSearch.points = 0;
    o.sweeps = 0;
  }
  QuantizedWeight q;
  for (auto _ : state) {
    if (variant == SlicedGPTQ) {
      auto g = gptqQuantize(w, rows, cols, h, config, gptq);
      if (!check(g, state))
        return;
      q = std::move(*g);
      continue;
    }
    auto m = matryoshkaQuantize(w, rows, cols, h, config, gptq, o);
    if (!check(m, state))
      return;
    q = std::move(m->weight);
  }
  for (unsigned r : reported) {
    auto e = outputError(w, rows, cols, h, q, config, r);
    if (!check(e, state))
      return;
    state.counters["r" + std::to_string(r)] = *e / direct[r];
  }
}

/// One iteration per repetition, in seconds of wall-clock time, with the
/// minimum over repetitions: on a shared machine the fastest repetition is
/// the least disturbed.
void oneLayerPerIteration(benchmark::internal::Benchmark *b) {
  b->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
  b->ComputeStatistics("min", [](const std::vector<double> &v) {
    return *std::min_element(v.begin(), v.end());
  });
}

/// Llama-7B shapes [N, K] on 1 and 2 threads.
void layerShapes(benchmark::internal::Benchmark *b) {
  b->ArgNames({"N", "K", "threads"});
  for (int64_t rows : {4096, 11008})
    for (int64_t threads : {1, 2})
      b->Args({rows, 4096, threads});
  oneLayerPerIteration(b);
}

/// The Hessian factor of K = 4096 on 1 and 2 threads (N unused).
void factorShapes(benchmark::internal::Benchmark *b) {
  b->ArgNames({"N", "K", "threads"});
  for (int64_t threads : {1, 2})
    b->Args({0, 4096, threads});
  oneLayerPerIteration(b);
}

/// One 4096 x 4096 layer on 2 threads.
void squareLayer(benchmark::internal::Benchmark *b) {
  b->ArgNames({"N", "K", "threads"})->Args({4096, 4096, 2});
  oneLayerPerIteration(b);
}

} // namespace

BENCHMARK(BM_GPTQ)->Apply(layerShapes);
BENCHMARK(BM_GPTQPrepared)->Apply(layerShapes);
BENCHMARK(BM_HessianFactor)->Apply(factorShapes);
BENCHMARK(BM_Matryoshka)->Apply(squareLayer);
BENCHMARK(BM_Clip)->Apply(squareLayer);
BENCHMARK(BM_MatryoshkaFeedback)
    ->ArgNames({"variant", "balanced"})
    ->ArgsProduct({{SlicedGPTQ, MeanPass, PerWidthPass, MeanDefault,
                    PerWidthDefault},
                   {0, 1}})
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
