//===- AmxBench.cpp - What the AMX micro-kernel's steps cost
//---------------===//
//
// The prefill GEMM's AMX micro-kernel (lowering/lib/Kernels/IntegerAmx.cpp)
// does, per lane set of 16 tokens x 16 weight rows: two tile loads, a
// zeroed i32 tile, one tdpbssd (or tdpbsud) of K = 32 bytes (a weight group
// and an activation block: the largest K that one scale pair covers), a
// tile store, and then, on the vector units, 16 rows of convert, multiply
// by the weight scales times the token's activation scale, and FMA. These
// benchmarks time each step alone and together, on data in L1, so that
// the kernel's measured time per set can be read against its floor. Per
// iteration the counters give ns per lane set (`ns_per_set`) or per
// instruction. BM_AmxBf16Chain times tdpbf16ps accumulating into one tile
// across K (16 x 16 x 32 products per instruction, as the int8 set), the
// step that a bf16 micro-kernel (no store, no float epilogue per set)
// would repeat.
//
// Skips with a message where the CPU has no AMX-TILE, AMX-INT8 and
// AMX-BF16, or the OS does not grant the tile data.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/AmxTiles.h"

#include <benchmark/benchmark.h>

#include <cpuid.h>
#include <cstdint>
#include <cstring>
#include <immintrin.h>

namespace {

#define QOPT_AMX_TARGET                                                        \
  __attribute__((target("amx-tile,amx-int8,amx-bf16,avx512f")))

/// CPUID.(EAX=7,ECX=0):EDX bits 22 (AMX-BF16), 24 (AMX-TILE), 25
/// (AMX-INT8), and the OS's permission.
bool hostHasAmx() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
    return false;
  constexpr unsigned kBits = (1u << 22) | (1u << 24) | (1u << 25);
  if ((edx & kBits) != kBits)
    return false;
  return qopt::runtime::requestAmxTiles();
}

/// The tile configuration of the micro-kernel: tmm0, tmm1 activations (16
/// rows of 32 bytes), tmm2, tmm3 codes (8 rows of 64 bytes), tmm4 .. tmm7
/// i32 sums (16 rows of 16). BM_AmxBf16Chain reconfigures for bf16.
struct alignas(64) TileConfig {
  uint8_t palette = 1, startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t colBytes[16] = {};
  uint8_t rows[16] = {};
};

/// ldtilecfg. GCC 12 does not tell the optimizer that it reads `config`,
/// and would drop the stores of the rows and columns before it (the first
/// tile load then faults): DoNotOptimize makes them happen first.
QOPT_AMX_TARGET void loadConfig(TileConfig &config) {
  benchmark::DoNotOptimize(config);
  _tile_loadconfig(&config);
}

QOPT_AMX_TARGET void configureInt8() {
  TileConfig config;
  for (int t = 0; t < 2; ++t) {
    config.rows[t] = 16;
    config.colBytes[t] = 32;
  }
  for (int t = 2; t < 4; ++t) {
    config.rows[t] = 8;
    config.colBytes[t] = 64;
  }
  for (int t = 4; t < 8; ++t) {
    config.rows[t] = 16;
    config.colBytes[t] = 64;
  }
  loadConfig(config);
}

/// Operands and sums, in L1.
struct alignas(64) Buffers {
  int8_t a[2][16 * 32] = {};
  int8_t b[2][8 * 64] = {};
  int32_t sums[4][16 * 16] = {};
  float activationScale[32] = {};
};

bool skipWithoutAmx(benchmark::State &state) {
  static const bool amx = hostHasAmx();
  if (!amx)
    state.SkipWithError("needs AMX-TILE, AMX-INT8 and AMX-BF16 and the OS's "
                        "permission to use tile data");
  return !amx;
}

void perSet(benchmark::State &state, int64_t setsPerIteration) {
  state.counters["ns_per_set"] = benchmark::Counter(
      static_cast<double>(state.iterations() * setsPerIteration),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

/// Four independent tdpbssd of K = 32 (no loads, no stores).
QOPT_AMX_TARGET void BM_AmxDot(benchmark::State &state) {
  if (skipWithoutAmx(state))
    return;
  Buffers buffers;
  configureInt8();
  _tile_loadd(0, buffers.a[0], 32);
  _tile_loadd(1, buffers.a[1], 32);
  _tile_loadd(2, buffers.b[0], 64);
  _tile_loadd(3, buffers.b[1], 64);
  _tile_zero(4);
  _tile_zero(5);
  _tile_zero(6);
  _tile_zero(7);
  for (auto _ : state) {
    _tile_dpbssd(4, 0, 2);
    _tile_dpbssd(5, 1, 3);
    _tile_dpbssd(6, 0, 3);
    _tile_dpbssd(7, 1, 2);
  }
  _tile_stored(4, buffers.sums[0], 64);
  benchmark::DoNotOptimize(buffers.sums[0][0]);
  _tile_release();
  perSet(state, 4);
}
BENCHMARK(BM_AmxDot);

/// One tile store of 16 x 16 i32.
QOPT_AMX_TARGET void BM_AmxStore(benchmark::State &state) {
  if (skipWithoutAmx(state))
    return;
  Buffers buffers;
  configureInt8();
  _tile_zero(4);
  int64_t i = 0;
  for (auto _ : state) {
    _tile_stored(4, buffers.sums[i & 3], 64);
    ++i;
    benchmark::ClobberMemory();
  }
  _tile_release();
  perSet(state, 1);
}
BENCHMARK(BM_AmxStore);

/// The micro-kernel's AMX steps for two sets: loads, zero, dot, store.
QOPT_AMX_TARGET void amxSteps(Buffers &buffers, int slot) {
  _tile_loadd(0, buffers.a[0], 32);
  _tile_loadd(2, buffers.b[0], 64);
  _tile_loadd(1, buffers.a[1], 32);
  _tile_loadd(3, buffers.b[1], 64);
  _tile_zero(4);
  _tile_dpbssd(4, 0, 2);
  _tile_zero(5);
  _tile_dpbssd(5, 1, 3);
  _tile_stored(4, buffers.sums[2 * slot], 64);
  _tile_stored(5, buffers.sums[2 * slot + 1], 64);
}

/// The micro-kernel's float work for two sets of sums: per row, convert,
/// multiply the weight scales by the token's activation scale, FMA.
QOPT_AMX_TARGET void scaleSteps(const Buffers &buffers, int slot,
                                __m512 (&acc)[16]) {
  for (int set = 0; set < 2; ++set) {
    const int32_t *sums = buffers.sums[2 * slot + set];
    __m512 weights = _mm512_set1_ps(0.5f + set);
    for (int row = 0; row < 16; ++row) {
      __m512 sum = _mm512_cvtepi32_ps(_mm512_load_si512(sums + 16 * row));
      __m512 scale = _mm512_mul_ps(
          weights, _mm512_set1_ps(buffers.activationScale[row + set]));
      acc[row] = _mm512_fmadd_ps(sum, scale, acc[row]);
    }
  }
}

QOPT_AMX_TARGET void BM_AmxSets(benchmark::State &state) {
  if (skipWithoutAmx(state))
    return;
  Buffers buffers;
  configureInt8();
  int slot = 0;
  for (auto _ : state) {
    amxSteps(buffers, slot);
    slot ^= 1;
    benchmark::ClobberMemory();
  }
  _tile_release();
  perSet(state, 2);
}
BENCHMARK(BM_AmxSets);

/// The float steps of two sets per iteration; with `withTiles`, after the
/// AMX steps of the next superblock, as the micro-kernel interleaves them
/// (the sums of the previous superblock are scaled while the next one
/// multiplies).
QOPT_AMX_TARGET void scaleLoop(benchmark::State &state, bool withTiles) {
  if (skipWithoutAmx(state))
    return;
  Buffers buffers;
  if (withTiles)
    configureInt8();
  __m512 acc[16];
  for (__m512 &a : acc)
    a = _mm512_setzero_ps();
  int slot = 0;
  for (auto _ : state) {
    if (withTiles)
      amxSteps(buffers, slot);
    scaleSteps(buffers, slot ^ 1, acc);
    slot ^= 1;
    benchmark::ClobberMemory();
  }
  for (__m512 &a : acc)
    benchmark::DoNotOptimize(a);
  if (withTiles)
    _tile_release();
  perSet(state, 2);
}

void BM_AmxScale(benchmark::State &state) { scaleLoop(state, false); }
BENCHMARK(BM_AmxScale);

/// Against BM_AmxSets + BM_AmxScale, how much of one hides behind the
/// other.
void BM_AmxSetsAndScale(benchmark::State &state) { scaleLoop(state, true); }
BENCHMARK(BM_AmxSetsAndScale);

/// tdpbf16ps: 16 x 16 f32 sums += 16 rows of 32 bf16 x 16 pairs of rows of
/// 16 bf16 columns, chained into one accumulator per pair of operands
/// (four chains), loads of both operands included (from L1), no store.
QOPT_AMX_TARGET void BM_AmxBf16Chain(benchmark::State &state) {
  if (skipWithoutAmx(state))
    return;
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = 16;
    config.colBytes[t] = 64;
  }
  loadConfig(config);
  alignas(64) static uint16_t a[2][16 * 32], b[2][16 * 32];
  alignas(64) static float sums[16 * 16];
  for (int i = 0; i < 16 * 32; ++i) {
    a[0][i] = a[1][i] = 0x3f80; // 1.0 in bf16
    b[0][i] = b[1][i] = 0x3f00; // 0.5
  }
  _tile_zero(4);
  _tile_zero(5);
  _tile_zero(6);
  _tile_zero(7);
  for (auto _ : state) {
    _tile_loadd(0, a[0], 64);
    _tile_loadd(1, a[1], 64);
    _tile_loadd(2, b[0], 64);
    _tile_loadd(3, b[1], 64);
    _tile_dpbf16ps(4, 0, 2);
    _tile_dpbf16ps(5, 0, 3);
    _tile_dpbf16ps(6, 1, 2);
    _tile_dpbf16ps(7, 1, 3);
  }
  _tile_stored(4, sums, 64);
  benchmark::DoNotOptimize(sums[0]);
  _tile_release();
  perSet(state, 4);
}
BENCHMARK(BM_AmxBf16Chain);

} // namespace
