//===- find-williamson.cpp - Search for Williamson matrices -----*- C++ -*-===//
//
// Finds four symmetric circulant +-1 matrices A, B, C, D of odd order t with
// A^2 + B^2 + C^2 + D^2 = 4t I (Williamson matrices), the input of the
// Williamson array that runtime/lib/Hadamard.cpp uses for the Hadamard orders
// 4t that no Paley construction reaches (156 = 4*39, 172 = 4*43, ...).
//
// A symmetric circulant matrix is given by its first row x_0..x_{t-1} with
// x_j = x_{t-j}, i.e. by the h + 1 = (t + 1) / 2 signs x_0..x_h. Four of them
// are Williamson iff their periodic autocorrelations cancel,
//   PAF_A(s) + PAF_B(s) + PAF_C(s) + PAF_D(s) = 0  for s = 1..h,
// equivalently iff their (real) power spectral densities add up,
//   PSD_A(k) + PSD_B(k) + PSD_C(k) + PSD_D(k) = 4t  for k = 0..h,
// where PSD_X(k) = (x_0 + 2 sum_{j=1..h} x_j cos(2 pi j k / t))^2. At k = 0
// this says that the row sums (a, b, c, d) satisfy a^2 + b^2 + c^2 + d^2 = 4t.
//
// The search is an exhaustive meet-in-the-middle, one row-sum quadruple at a
// time:
//  1. every symmetric sequence with a positive row sum r, r^2 <= 4t (negating
//     a matrix keeps the identity), is enumerated (2^(h+1) of them) and kept
//     if PSD(k) <= 4t for all k (the PSD test); its PAF vector is reduced to a
//     64-bit linear hash sum_s w_s PAF(s), so that the hash of a sum of PAF
//     vectors is the sum of the hashes;
//  2. for a quadruple a >= b >= c >= d with a^2 + b^2 + c^2 + d^2 = 4t, the
//     four positions are split into a left pair (A, B) and a right pair
//     (C, D). Left pairs passing PSD_A + PSD_B <= 4t are stored in a hash
//     table under hash(PAF_A + PAF_B); every right pair passing the same test
//     looks up -hash(PAF_C + PAF_D), and a hit is verified exactly;
//  3. a multiplier x -> u x (u a unit mod t) applied to all four sequences
//     maps Williamson matrices to Williamson matrices, so A is restricted to
//     the sequences that are lexicographically smallest in their multiplier
//     orbit, which divides the left side by about phi(t) / 2. The split is
//     the one with the fewest candidate pairs.
// Every solution of a quadruple is found (up to that symmetry); the program
// stops at the first one, verifies A^2 + B^2 + C^2 + D^2 = 4t I by direct
// matrix multiplication, and prints the four first rows as strings of '+' and
// '-' (row i of X is the first row rotated right by i).
//
// Build: the CMake target qopt-find-williamson (build/bin), or by hand with
// any C++17 compiler, e.g.
//   g++ -O3 -march=native -pthread runtime/tools/find-williamson.cpp -o fw
// Run: `qopt-find-williamson t [threads]` (t odd, 3..61; threads defaults to
// the hardware concurrency). With one thread the search order, and so the
// solution printed, is deterministic: `qopt-find-williamson t 1` prints the
// rows embedded in runtime/lib/Hadamard.cpp (both builds print the same
// rows). Run times with one thread on the shared 2-core AMD EPYC development
// machine (wall clock, to the first solution): the g++ build above took
// 0.02 s for t = 23, 0.07 s for t = 29, 14 s for t = 39 and 79 s for t = 43;
// the CMake build (baseline ISA, busier machine) 27 s and 4 min for 39, 43.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

/// Floating-point slack of the PSD tests (PSD values are sums of cosines).
static constexpr double kPsdSlack = 1e-3;

static constexpr double kPi = 3.14159265358979323846;

namespace {

/// The candidate sequences of one order: signs, PSD vectors and PAF hashes.
struct Candidates {
  /// Order t and h = (t - 1) / 2.
  int t = 0, h = 0;
  /// PSD row stride: h rounded up to a multiple of 16 (zero padding).
  int stride = 0;
  /// Per candidate: bit j set iff x_j = -1, for j = 0..h.
  std::vector<uint64_t> masks;
  /// Per candidate: row sum.
  std::vector<int> rowSums;
  /// Per candidate: PSD(1..h), then zeros up to `stride`.
  std::vector<float> psd;
  /// Per candidate: sum_s w_s PAF(s) (mod 2^64).
  std::vector<uint64_t> hashes;
  /// Per candidate: true if its mask is the smallest in its multiplier orbit.
  std::vector<bool> canonical;
};

} // namespace

/// The full first row (t signs) of the symmetric sequence `mask`.
static std::vector<int> expand(uint64_t mask, int t) {
  std::vector<int> x(t);
  for (int i = 0; i < t; ++i) {
    int j = std::min(i, t - i);
    x[i] = (mask >> j) & 1 ? -1 : 1;
  }
  return x;
}

/// Periodic autocorrelation of `x` at shifts 1..h.
static std::vector<int> paf(const std::vector<int> &x, int h) {
  int t = static_cast<int>(x.size());
  std::vector<int> r(h);
  for (int s = 1; s <= h; ++s) {
    int sum = 0;
    for (int i = 0; i < t; ++i)
      sum += x[i] * x[(i + s) % t];
    r[s - 1] = sum;
  }
  return r;
}

/// Enumerates and filters the symmetric sequences of order t (see step 1).
static Candidates enumerate(int t, const std::vector<uint64_t> &weights) {
  Candidates c;
  c.t = t;
  c.h = (t - 1) / 2;
  c.stride = (c.h + 15) / 16 * 16;
  int h = c.h;
  // cosTable[k][j] = 2 cos(2 pi j k / t) (j >= 1), 1 for j = 0.
  std::vector<std::vector<double>> cosTable(h + 1,
                                            std::vector<double>(h + 1, 1.0));
  for (int k = 1; k <= h; ++k)
    for (int j = 1; j <= h; ++j)
      cosTable[k][j] = 2.0 * std::cos(2.0 * kPi * j * k / t);
  std::vector<int> units;
  for (int u = 2; u <= h; ++u)
    if (std::gcd(u, t) == 1)
      units.push_back(u);

  uint64_t count = uint64_t(1) << (h + 1);
  std::vector<double> psd(h + 1);
  for (uint64_t mask = 0; mask < count; ++mask) {
    // x_0 + 2 (x_1 + ... + x_h) with t = 1 + 2h.
    int rowSum = t - 2 * static_cast<int>(mask & 1) -
                 4 * __builtin_popcountll(mask >> 1);
    if (rowSum <= 0 || rowSum * rowSum > 4 * t)
      continue;
    bool ok = true;
    for (int k = 1; k <= h && ok; ++k) {
      double v = 0;
      for (int j = 0; j <= h; ++j)
        v += ((mask >> j) & 1 ? -1.0 : 1.0) * cosTable[k][j];
      psd[k] = v * v;
      ok = psd[k] <= 4.0 * t + kPsdSlack;
    }
    if (!ok)
      continue;
    bool canonical = true;
    for (int u : units) {
      uint64_t image = mask & 1;
      for (int j = 1; j <= h; ++j) {
        int uj = (u * j) % t;
        uj = std::min(uj, t - uj);
        image |= ((mask >> uj) & 1) << j;
      }
      if (image < mask) {
        canonical = false;
        break;
      }
    }
    std::vector<int> r = paf(expand(mask, t), h);
    uint64_t hash = 0;
    for (int s = 0; s < h; ++s)
      hash += weights[s] * static_cast<uint64_t>(static_cast<int64_t>(r[s]));
    c.masks.push_back(mask);
    c.rowSums.push_back(rowSum);
    for (int k = 1; k <= c.stride; ++k)
      c.psd.push_back(k <= h ? static_cast<float>(psd[k]) : 0.0f);
    c.hashes.push_back(hash);
    c.canonical.push_back(canonical);
  }
  return c;
}

namespace {

/// Open-addressing hash table from a 64-bit key to a pair of candidate ids.
class PairTable {
public:
  explicit PairTable(size_t n) {
    size_t size = 16;
    while (size < 2 * n)
      size *= 2;
    slots.assign(size, Slot{0, -1, -1});
    shift = 64 - __builtin_ctzll(size);
  }
  void insert(uint64_t key, int32_t a, int32_t b) {
    size_t i = index(key);
    while (slots[i].a >= 0)
      i = (i + 1) & (slots.size() - 1);
    slots[i] = Slot{key, a, b};
  }
  /// Calls f(a, b) for every stored pair with key `key`.
  template <typename F> void forEach(uint64_t key, F f) const {
    for (size_t i = index(key); slots[i].a >= 0;
         i = (i + 1) & (slots.size() - 1))
      if (slots[i].key == key)
        f(slots[i].a, slots[i].b);
  }

private:
  struct Slot {
    uint64_t key;
    int32_t a, b;
  };
  size_t index(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift);
  }
  std::vector<Slot> slots;
  int shift;
};

} // namespace

/// Number of PSD entries of candidates x and y whose sum exceeds `bound`.
static inline int psdViolations(const float *x, const float *y, int stride,
                                float bound) {
  int bad = 0;
  for (int k = 0; k < stride; ++k)
    bad += (x[k] + y[k] > bound);
  return bad;
}

/// Returns true (and prints the matrices) if the four candidates are
/// Williamson, checked by multiplying the full circulant matrices.
static bool verifyAndPrint(const Candidates &c, const int ids[4]) {
  int t = c.t;
  std::vector<std::vector<int>> rows;
  for (int q = 0; q < 4; ++q)
    rows.push_back(expand(c.masks[ids[q]], t));
  // (X^2)[i][j] = sum_l x[(l - i) mod t] x[(j - l) mod t].
  for (int i = 0; i < t; ++i)
    for (int j = 0; j < t; ++j) {
      int sum = 0;
      for (const std::vector<int> &x : rows)
        for (int l = 0; l < t; ++l)
          sum += x[((l - i) % t + t) % t] * x[((j - l) % t + t) % t];
      if (sum != (i == j ? 4 * t : 0))
        return false;
    }
  const char *names = "ABCD";
  for (int q = 0; q < 4; ++q) {
    std::string s;
    for (int v : rows[q])
      s += v > 0 ? '+' : '-';
    std::printf("%c (row sum %3d): %s\n", names[q], c.rowSums[ids[q]],
                s.c_str());
  }
  return true;
}

/// Runs the meet-in-the-middle search of one row-sum quadruple (step 2).
/// Returns true if a solution was found and printed.
static bool searchQuad(const Candidates &c, const int sums[4],
                       unsigned threads) {
  int t = c.t, stride = c.stride;
  float bound = static_cast<float>(4.0 * t + kPsdSlack);
  auto listOf = [&](int rowSum, bool canonicalOnly) {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < c.masks.size(); ++i)
      if (c.rowSums[i] == rowSum && (!canonicalOnly || c.canonical[i]))
        ids.push_back(static_cast<int32_t>(i));
    return ids;
  };
  // Choose the split (left pair with a canonical first member, right pair)
  // with the fewest pairs to enumerate.
  static const int kSplits[6][4] = {{0, 1, 2, 3}, {0, 2, 1, 3}, {0, 3, 1, 2},
                                    {1, 2, 0, 3}, {1, 3, 0, 2}, {2, 3, 0, 1}};
  double bestCost = 0;
  int best[4] = {0, 1, 2, 3};
  for (const auto &split : kSplits)
    for (int swap = 0; swap < 2; ++swap) {
      int p[4] = {split[swap], split[1 - swap], split[2], split[3]};
      double left = static_cast<double>(listOf(sums[p[0]], true).size()) *
                    listOf(sums[p[1]], false).size();
      double right = static_cast<double>(listOf(sums[p[2]], false).size()) *
                     listOf(sums[p[3]], false).size();
      if (sums[p[2]] == sums[p[3]])
        right /= 2;
      if (bestCost == 0 || left + right < bestCost) {
        bestCost = left + right;
        std::copy(p, p + 4, best);
      }
    }
  std::vector<int32_t> la = listOf(sums[best[0]], true);
  std::vector<int32_t> lb = listOf(sums[best[1]], false);
  std::vector<int32_t> lc = listOf(sums[best[2]], false);
  std::vector<int32_t> ld = listOf(sums[best[3]], false);
  bool sameRight = sums[best[2]] == sums[best[3]];
  std::printf("quadruple (%d, %d, %d, %d): left %zu x %zu, right %zu x %zu\n",
              sums[best[0]], sums[best[1]], sums[best[2]], sums[best[3]],
              la.size(), lb.size(), lc.size(), ld.size());
  std::fflush(stdout);

  // Left pairs, in parallel over A.
  std::vector<std::vector<std::pair<int32_t, int32_t>>> perThread(threads);
  std::atomic<size_t> next{0};
  auto leftWork = [&](unsigned id) {
    for (size_t i; (i = next++) < la.size();) {
      const float *pa = &c.psd[static_cast<size_t>(la[i]) * stride];
      for (int32_t b : lb)
        if (!psdViolations(pa, &c.psd[static_cast<size_t>(b) * stride], stride,
                           bound))
          perThread[id].push_back({la[i], b});
    }
  };
  std::vector<std::thread> pool;
  for (unsigned id = 0; id < threads; ++id)
    pool.emplace_back(leftWork, id);
  for (std::thread &th : pool)
    th.join();
  size_t leftCount = 0;
  for (const auto &v : perThread)
    leftCount += v.size();
  PairTable table(leftCount);
  for (auto &v : perThread) {
    for (auto [a, b] : v)
      table.insert(c.hashes[a] + c.hashes[b], a, b);
    v = {};
  }
  std::printf("  %zu left pairs pass the PSD test\n", leftCount);
  std::fflush(stdout);

  // Right pairs, in parallel over C.
  std::atomic<bool> found{false};
  std::atomic<uint64_t> probes{0};
  std::mutex printMutex;
  next = 0;
  auto rightWork = [&]() {
    uint64_t localProbes = 0;
    for (size_t i; !found && (i = next++) < lc.size();) {
      int32_t cc = lc[i];
      const float *pc = &c.psd[static_cast<size_t>(cc) * stride];
      for (size_t j = sameRight ? i : 0; j < ld.size(); ++j) {
        int32_t dd = ld[j];
        if (psdViolations(pc, &c.psd[static_cast<size_t>(dd) * stride], stride,
                          bound))
          continue;
        ++localProbes;
        uint64_t want = 0 - (c.hashes[cc] + c.hashes[dd]);
        table.forEach(want, [&](int32_t a, int32_t b) {
          int ids[4];
          ids[best[0]] = a;
          ids[best[1]] = b;
          ids[best[2]] = cc;
          ids[best[3]] = dd;
          std::lock_guard<std::mutex> lock(printMutex);
          if (!found && verifyAndPrint(c, ids))
            found = true;
        });
      }
    }
    probes += localProbes;
  };
  pool.clear();
  for (unsigned id = 0; id < threads; ++id)
    pool.emplace_back(rightWork);
  for (std::thread &th : pool)
    th.join();
  std::printf("  %llu right pairs pass the PSD test\n",
              static_cast<unsigned long long>(probes.load()));
  return found;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s t [threads]\n  t odd, 3 <= t <= 61\n",
                 argv[0]);
    return 2;
  }
  int t = std::atoi(argv[1]);
  unsigned threads = argc > 2
                         ? static_cast<unsigned>(std::atoi(argv[2]))
                         : std::max(1u, std::thread::hardware_concurrency());
  if (t < 3 || t > 61 || t % 2 == 0 || threads == 0) {
    std::fprintf(stderr, "t must be odd in 3..61, threads positive\n");
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(12345);
  std::vector<uint64_t> weights((t - 1) / 2);
  for (uint64_t &w : weights)
    w = rng() | 1;
  Candidates c = enumerate(t, weights);
  std::printf("order %d: %zu candidate sequences\n", t, c.masks.size());

  // Row-sum quadruples a >= b >= c >= d > 0, all odd, squares adding to 4t.
  bool found = false;
  for (int a = 1; a * a <= 4 * t && !found; a += 2)
    for (int b = 1; b <= a && !found; b += 2)
      for (int cs = 1; cs <= b && !found; cs += 2)
        for (int d = 1; d <= cs && !found; d += 2) {
          if (a * a + b * b + cs * cs + d * d != 4 * t)
            continue;
          int sums[4] = {a, b, cs, d};
          found = searchQuad(c, sums, threads);
        }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("%s after %.1f s\n", found ? "found" : "no solution", seconds);
  return found ? 0 : 1;
}
