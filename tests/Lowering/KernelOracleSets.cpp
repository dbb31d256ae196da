//===- KernelOracleSets.cpp - The sampled sets of oracle cases --*- C++ -*-===//
//
// The sets of cases the kernel oracle runs (KernelOracle.h has the
// overview): the float runs' sets A-L (every width, scheme, layout and
// serving mode, rotated over the groupings and scale types; the GGUF
// K-quants' widths; two-level scales) and the integer runs' cases (the
// matmuls of those sets, multi-part superblocks, a model-shaped prefill).
//
//===----------------------------------------------------------------------===//

#include "KernelOracle.h"

#include "llvm/Support/FormatVariadic.h"

#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace qopt::oracle {

std::vector<Case> makeCases() {
  std::vector<Case> cases;
  int counter = 0;
  auto add = [&](Case c, const std::string &set) {
    // Rotate groupings and scale types together: 11 and 4 are coprime, so
    // all 44 pairs appear in every block of 44 cases; each block shifts the
    // scale types by two, so that a pair does not meet the same position of
    // the width sequence every time (every grouping x scale type pair then
    // sees at least three widths, which Coverage checks).
    static_assert(std::gcd(kNumGroupings, kNumScales) == 1,
                  "groupings and scales must be coprime counts");
    constexpr int kBlock = kNumGroupings * kNumScales;
    c.grouping = counter % kNumGroupings;
    c.scale = kScales[(counter + 2 * (counter / kBlock)) % kNumScales];
    ++counter;
    c.k = c.g().k;
    if (c.op == OpKind::Dequantize)
      c.n = 3;
    c.name = llvm::formatv(
        "{0}{1}_{2}{3}{4}_{5}_{6}_{7}_{8}{9}", set, cases.size(),
        c.nested ? "nested" : "dense", c.bits,
        c.serve == Serve::Slice     ? "_to" + std::to_string(c.sliceBits)
        : c.serve == Serve::Runtime ? std::string("_rt")
                                    : std::string(),
        c.sym ? "sym" : "asym", granName(c.g()) + "k" + std::to_string(c.k),
        scaleName(c.scale),
        c.op == OpKind::Matmul ? "mm_t" + std::to_string(c.tokens)
                               : std::string("dq"),
        c.unpackedBits ? "_u" + std::to_string(c.unpackedBits) : std::string());
    cases.push_back(std::move(c));
  };
  auto opVariants = [](bool bothTokenCounts) {
    std::vector<std::pair<OpKind, int64_t>> v{{OpKind::Matmul, 3},
                                              {OpKind::Dequantize, 0}};
    if (bothTokenCounts)
      v.insert(v.begin(), {OpKind::Matmul, 1});
    return v;
  };

  // A. dense, storage form, every width x scheme x {mm T=1, mm T=3, dq}.
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (bool sym : {false, true})
      for (auto [op, tokens] : opVariants(true)) {
        Case c;
        c.op = op, c.tokens = tokens, c.bits = bits, c.sym = sym;
        add(c, "A");
      }
  // B. dense, one code per element.
  for (unsigned bits = 1; bits <= 8; ++bits)
    for (auto [op, tokens] : opVariants(false)) {
      Case c;
      c.op = op, c.tokens = bits % 2 ? 3 : 1, c.bits = bits;
      (void)tokens;
      c.sym = (bits + (op == OpKind::Matmul)) % 2;
      c.unpackedBits = bits == 8 ? 16 : (bits % 3 == 0 ? 32 : 8);
      add(c, "B");
    }
  // C. nested P = 8, static slices.
  for (unsigned r = 1; r <= 7; ++r)
    for (bool sym : {false, true})
      for (auto [op, tokens] : opVariants(false)) {
        Case c;
        c.op = op, c.tokens = r % 2 ? 1 : 3, c.bits = 8, c.nested = true;
        (void)tokens;
        c.serve = Serve::Slice, c.sliceBits = r, c.sym = sym;
        add(c, "C");
      }
  // D. nested P = 8, run-time width (two groupings each).
  for (int variant = 0; variant < 2; ++variant)
    for (bool sym : {false, true})
      for (auto [op, tokens] : opVariants(true)) {
        Case c;
        c.op = op, c.tokens = tokens, c.bits = 8, c.nested = true;
        c.serve = Serve::Runtime, c.sym = sym;
        add(c, "D");
      }
  // E. nested P = 4: static slices 1..3 and the width table.
  for (unsigned r = 1; r <= 3; ++r)
    for (auto [op, tokens] : opVariants(false)) {
      Case c;
      c.op = op, c.tokens = 3, c.bits = 4, c.nested = true;
      (void)tokens;
      c.serve = Serve::Slice, c.sliceBits = r, c.sym = r % 2;
      add(c, "E");
    }
  for (bool sym : {false, true})
    for (auto [op, tokens] : opVariants(false)) {
      Case c;
      c.op = op, c.tokens = 3, c.bits = 4, c.nested = true;
      (void)tokens;
      c.serve = Serve::Runtime, c.sym = sym;
      add(c, "E");
    }
  // F. nested from one code per element.
  for (auto [op, tokens] : opVariants(false))
    for (Serve serve : {Serve::Slice, Serve::Runtime}) {
      Case c;
      c.op = op, c.tokens = 3, c.bits = 8, c.nested = true, c.serve = serve;
      (void)tokens;
      c.sliceBits = 3, c.unpackedBits = op == OpKind::Matmul ? 8 : 32;
      c.sym = serve == Serve::Slice;
      add(c, "F");
    }
  // G. dense slices (run-time repack at r bits).
  std::vector<std::pair<unsigned, unsigned>> denseSlices;
  for (unsigned r = 1; r <= 7; ++r)
    denseSlices.push_back({8, r});
  for (auto cr : {std::pair<unsigned, unsigned>{7, 5},
                  {6, 3},
                  {5, 2},
                  {4, 3},
                  {4, 1},
                  {3, 2},
                  {2, 1}})
    denseSlices.push_back(cr);
  for (auto [bits, r] : denseSlices)
    for (auto [op, tokens] : opVariants(false)) {
      Case c;
      c.op = op, c.tokens = r % 2 ? 3 : 1, c.bits = bits;
      (void)tokens;
      c.serve = Serve::Slice, c.sliceBits = r;
      c.sym = (bits + r + (op == OpKind::Matmul)) % 2;
      if (bits < 8 && r % 2)
        c.unpackedBits = 16;
      add(c, "G");
    }
  // K. the GGUF K-quants' widths and schemes (Q2_K..Q6_K: 2 asym, 3 sym,
  // 4 and 5 asym, 6 sym), and 7 bits (an interpolated Matryoshka width):
  // decode, a token tile and dequantize.
  for (auto [bits, sym] :
       {std::pair{2u, false}, std::pair{3u, true}, std::pair{4u, false},
        std::pair{5u, false}, std::pair{6u, true}, std::pair{7u, false}})
    for (auto [op, tokens] : opVariants(true)) {
      Case c;
      c.op = op, c.tokens = tokens, c.bits = bits, c.sym = sym;
      add(c, "K");
    }
  // L. two-level scales: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K as imported, and
  // 8-bit codes and 4-bit symmetric sub-scales. Groupings 10 (16) and 0
  // (32) of kGroupings, K = 512 (two super-groups).
  struct TwoLevel {
    unsigned bits;
    bool sym;
    int grouping;
    unsigned subBits;
  };
  for (TwoLevel t : {TwoLevel{2, false, 10, 4}, TwoLevel{3, true, 10, 8},
                     TwoLevel{4, false, 0, 8}, TwoLevel{5, false, 0, 8},
                     TwoLevel{6, true, 10, 8}, TwoLevel{8, true, 0, 8},
                     TwoLevel{4, true, 0, 4}})
    for (auto [op, tokens] : opVariants(true)) {
      Case c;
      c.op = op, c.tokens = tokens, c.bits = t.bits, c.sym = t.sym;
      c.grouping = t.grouping, c.subBits = t.subBits, c.k = 512;
      c.n = op == OpKind::Dequantize ? 3 : 5;
      c.name = llvm::formatv(
          "L{0}_dense{1}_{2}_{3}k512_sub{4}_{5}", cases.size(), t.bits,
          t.sym ? "sym" : "asym", granName(c.g()), t.subBits,
          op == OpKind::Matmul ? "mm_t" + std::to_string(tokens)
                               : std::string("dq"));
      cases.push_back(std::move(c));
    }
  return cases;
}

/// The widths every run-time case is served at.
std::vector<unsigned> runtimeWidths() { return {1, 2, 3, 4, 5, 6, 7, 8}; }

std::vector<Case> integerCases() {
  std::vector<Case> cases;
  bool panel = false;
  for (Case c : makeCases()) {
    if (c.op != OpKind::Matmul)
      continue;
    if (c.tokens > 1) {
      c.tokens = panel ? 11 : 6;
      if (panel)
        c.n = 37;
      panel = !panel;
    }
    cases.push_back(std::move(c));
  }
  // Multi-part superblocks (IntegerPlan::parts): dense rows of 1..7 bits
  // whose storage units unpack into several vectors (256 elements of 2 or
  // 6 bits, 128 of 4, 512 of 1, 3, 5 or 7 where the groups allow), K =
  // 512, groups of 16, 32 and 64 and per-channel; decode and the packed
  // GEMM by turns. Groupings 10, 0, 2 and 4 of kGroupings, their K widened.
  int turn = 0;
  for (unsigned bits = 1; bits <= 7; ++bits)
    for (int grouping : {10, 0, 2, 4}) {
      Case c;
      c.bits = bits;
      c.grouping = grouping;
      c.k = 512;
      c.sym = turn % 2;
      c.scale = turn % 3 ? Scale::F32 : Scale::F16InF32;
      c.tokens = turn % 2 ? 11 : 1;
      c.n = turn % 2 ? 37 : 5;
      c.name = llvm::formatv("P{0}_dense{1}_{2}_{3}k512_{4}_mm_t{5}", turn,
                             bits, c.sym ? "sym" : "asym", granName(c.g()),
                             scaleName(c.scale), c.tokens);
      cases.push_back(std::move(c));
      ++turn;
    }
  // Model-shaped: stories260K's gate projection on a 409-token prefill.
  Case model;
  model.name = "M_dense4_sym_g32k64_f32_mm_t409";
  model.tokens = 409;
  model.n = 172;
  model.bits = 4;
  model.sym = true;
  model.grouping = 0;
  model.k = model.g().k;
  cases.push_back(model);
  return cases;
}

} // namespace qopt::oracle
