//===- RuntimeBench.cpp - Benchmarks of the qopt runtime --------*- C++ -*-===//
//
// Google Benchmark suite of the runtime's packing kernels on 1 << 20 codes:
// dense pack / unpack at 2, 3, 4 and 8 bits, nested (bit-plane) pack and
// unpack at 8 bits, and the Matryoshka comparison of serving r bits either by
// slicing the 8-bit nested layout (reading r+1 planes) or by unpacking a
// static r-bit dense layout. Bytes processed count the packed bytes read or
// written, so GB/s compare memory traffic. See bench/README.md.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptRuntime.h"

#include "benchmark/benchmark.h"

#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

/// Number of codes every benchmark works on.
constexpr size_t kNumCodes = size_t(1) << 20;

/// Random `bits`-bit codes, fixed seed.
std::vector<uint8_t> makeCodes(unsigned bits) {
  std::mt19937 rng(42);
  std::vector<uint8_t> codes(kNumCodes);
  for (auto &q : codes)
    q = static_cast<uint8_t>(rng() & ((1u << bits) - 1u));
  return codes;
}

/// Aborts the benchmark run on a runtime error (never expected).
void check(qopt_status s, benchmark::State &state) {
  if (s != QOPT_OK)
    state.SkipWithError(qopt_status_string(s));
}

void BM_PackDense(benchmark::State &state) {
  unsigned bits = static_cast<unsigned>(state.range(0));
  std::vector<uint8_t> codes = makeCodes(bits);
  std::vector<uint8_t> packed(qopt_dense_size(kNumCodes, bits));
  for (auto _ : state) {
    check(qopt_pack_dense(codes.data(), kNumCodes, bits, packed.data()), state);
    benchmark::DoNotOptimize(packed.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(packed.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kNumCodes));
}

void BM_UnpackDense(benchmark::State &state) {
  unsigned bits = static_cast<unsigned>(state.range(0));
  std::vector<uint8_t> codes = makeCodes(bits);
  std::vector<uint8_t> packed(qopt_dense_size(kNumCodes, bits));
  qopt_pack_dense(codes.data(), kNumCodes, bits, packed.data());
  for (auto _ : state) {
    check(qopt_unpack_dense(packed.data(), kNumCodes, bits, codes.data()),
          state);
    benchmark::DoNotOptimize(codes.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(packed.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kNumCodes));
}

void BM_PackNested(benchmark::State &state) {
  unsigned bits = static_cast<unsigned>(state.range(0));
  std::vector<uint8_t> codes = makeCodes(bits);
  std::vector<uint8_t> nested(qopt_nested_size(kNumCodes, bits));
  for (auto _ : state) {
    check(qopt_pack_nested(codes.data(), kNumCodes, bits, nested.data()),
          state);
    benchmark::DoNotOptimize(nested.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(nested.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kNumCodes));
}

void BM_UnpackNested(benchmark::State &state) {
  unsigned bits = static_cast<unsigned>(state.range(0));
  std::vector<uint8_t> codes = makeCodes(bits);
  std::vector<uint8_t> nested(qopt_nested_size(kNumCodes, bits));
  qopt_pack_nested(codes.data(), kNumCodes, bits, nested.data());
  for (auto _ : state) {
    check(
        qopt_unpack_nested(nested.data(), kNumCodes, bits, bits, codes.data()),
        state);
    benchmark::DoNotOptimize(codes.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(nested.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kNumCodes));
}

/// r-bit codes from the 8-bit nested layout; reads min(r + 1, 8) planes.
void BM_SliceNested8(benchmark::State &state) {
  unsigned r = static_cast<unsigned>(state.range(0));
  std::vector<uint8_t> codes = makeCodes(8);
  std::vector<uint8_t> nested(qopt_nested_size(kNumCodes, 8));
  qopt_pack_nested(codes.data(), kNumCodes, 8, nested.data());
  for (auto _ : state) {
    check(qopt_slice_nested(nested.data(), kNumCodes, 8, r, codes.data()),
          state);
    benchmark::DoNotOptimize(codes.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(
      static_cast<int64_t>(state.iterations()) *
      static_cast<int64_t>(qopt_nested_slice_bytes(kNumCodes, 8, r)));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kNumCodes));
}

/// The static alternative to BM_SliceNested8: r-bit codes unpacked from an
/// r-bit dense layout.
void BM_UnpackDenseStatic(benchmark::State &state) { BM_UnpackDense(state); }

void BM_SliceCodes8(benchmark::State &state) {
  unsigned r = static_cast<unsigned>(state.range(0));
  std::vector<uint8_t> codes = makeCodes(8);
  std::vector<uint8_t> out(kNumCodes);
  for (auto _ : state) {
    check(qopt_slice_codes(codes.data(), kNumCodes, 8, r, out.data()), state);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kNumCodes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kNumCodes));
}

} // namespace

BENCHMARK(BM_PackDense)->ArgName("bits")->Arg(2)->Arg(3)->Arg(4)->Arg(8);
BENCHMARK(BM_UnpackDense)->ArgName("bits")->Arg(2)->Arg(3)->Arg(4)->Arg(8);
BENCHMARK(BM_PackNested)->ArgName("bits")->Arg(8);
BENCHMARK(BM_UnpackNested)->ArgName("bits")->Arg(8);
BENCHMARK(BM_SliceNested8)->ArgName("r")->Arg(2)->Arg(4)->Arg(8);
BENCHMARK(BM_UnpackDenseStatic)->ArgName("r")->Arg(2)->Arg(4)->Arg(8);
BENCHMARK(BM_SliceCodes8)->ArgName("r")->Arg(2)->Arg(4);
