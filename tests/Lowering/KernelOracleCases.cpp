//===- KernelOracleCases.cpp - Cases and reference values -------*- C++ -*-===//
//
// The cases of the kernel oracle (KernelOracle.h has the overview): the
// function of each case in the qopt dialect, its random data in the storage
// form and the reference weights in double precision from QuantMath.h.
// The sampled sets of cases are in KernelOracleSets.cpp.
//
//===----------------------------------------------------------------------===//

#include "KernelOracle.h"

#include "qopt/Runtime/QuantMath.h"
#include "qopt/Runtime/Storage.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace mlir;
namespace rt = ::qopt::runtime;

namespace qopt::oracle {

//===----------------------------------------------------------------------===//
// Cases
//===----------------------------------------------------------------------===//

namespace {

/// The type the scales and zero points are stored in.
Scale storedScale(Scale s) { return s == Scale::F16InF32 ? Scale::F16 : s; }

std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  for (int64_t d : shape)
    s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return s;
}

std::string tensorStr(ArrayRef<int64_t> shape, StringRef element) {
  return "tensor<" + shapeStr(shape) + element.str() + ">";
}

} // namespace

Scale expressedOf(Scale s) { return s == Scale::F16InF32 ? Scale::F32 : s; }

const char *scaleName(Scale s) {
  switch (s) {
  case Scale::F32:
    return "f32";
  case Scale::F16:
    return "f16";
  case Scale::BF16:
    return "bf16";
  case Scale::F16InF32:
    return "f16inf32";
  }
  return "";
}

std::string granName(const Grouping &g) {
  switch (g.gran) {
  case Gran::Group:
    return "g" + std::to_string(g.group);
  case Gran::PerChannel:
    return "pc";
  case Gran::PerTensor:
    return "pt";
  }
  return "";
}

/// `!qopt.qtensor<...>` of the case at `bits` (with `parent` if > 0).
std::string qtype(const Case &c, unsigned bits, unsigned parent) {
  std::string s = llvm::formatv("!qopt.qtensor<{0}x{1}x{2}, bits = {3}", c.n,
                                c.k, scaleName(expressedOf(c.scale)), bits)
                      .str();
  if (parent)
    s += ", parent = " + std::to_string(parent);
  switch (c.g().gran) {
  case Gran::Group:
    s += ", group = " + std::to_string(c.g().group);
    break;
  case Gran::PerChannel:
    s += ", per_channel";
    break;
  case Gran::PerTensor:
    s += ", per_tensor";
    break;
  }
  s += c.sym ? ", sym" : ", asym";
  if (c.nested)
    s += ", layout = nested";
  if (c.subBits)
    return s + ", scale = f16, super = " + std::to_string(kSuperGroup) +
           ", sub = " + std::to_string(c.subBits) + ">";
  if (storedScale(c.scale) != expressedOf(c.scale))
    s += std::string(", scale = ") + scaleName(storedScale(c.scale));
  return s + ">";
}

/// Bytes of a two-level record of case `c`.
static int64_t recordBytes(const Case &c) {
  return 2 + (kSuperGroup / c.g().group * c.subBits + 7) / 8;
}

std::vector<int64_t> scalesShape(const Case &c) {
  if (c.subBits)
    return {c.n, c.k / kSuperGroup, recordBytes(c)};
  switch (c.g().gran) {
  case Gran::Group:
    return {c.n, (c.k + c.g().group - 1) / c.g().group};
  case Gran::PerChannel:
    return {c.n, 1};
  case Gran::PerTensor:
    return {};
  }
  return {};
}

std::vector<int64_t> codesShape(const Case &c) {
  if (c.unpackedBits)
    return {c.n, c.k};
  if (c.nested)
    return {c.bits, c.n, static_cast<int64_t>(rt::nestedRowBytes(c.k))};
  return {c.n, static_cast<int64_t>(rt::denseRowBytes(c.k, c.bits))};
}

/// The function of one case.
std::string caseFunction(const Case &c) {
  std::string codesT = tensorStr(
      codesShape(c), c.unpackedBits ? "i" + std::to_string(c.unpackedBits)
                                    : std::string("i8"));
  std::string scalesT = tensorStr(
      scalesShape(c), c.subBits ? "i8" : scaleName(storedScale(c.scale)));
  std::string packedT = qtype(c, c.bits, 0);
  std::string servedT =
      c.serve == Serve::Slice ? qtype(c, c.sliceBits, c.bits) : packedT;
  std::string xT = llvm::formatv("tensor<?x{0}xf32>", c.k).str();
  std::string yT = c.op == OpKind::Matmul
                       ? llvm::formatv("tensor<?x{0}xf32>", c.n).str()
                       : tensorStr({c.n, c.k}, scaleName(expressedOf(c.scale)));
  std::string s = "func.func @" + c.name + "(";
  if (c.op == OpKind::Matmul)
    s += "%x: " + xT + ", ";
  s += "%codes: " + codesT + ", %s: " + scalesT;
  if (!c.sym)
    s += ", %z: " + scalesT;
  s += ") -> " + yT + " {\n";
  s += "  %w = qopt.pack %codes, %s" + std::string(c.sym ? "" : ", %z") +
       " : " + codesT + ", " + scalesT + (c.sym ? "" : ", " + scalesT) +
       " -> " + packedT + "\n";
  std::string w = "%w";
  if (c.serve == Serve::Slice) {
    s += "  %ws = qopt.slice %w to " + std::to_string(c.sliceBits) + " : " +
         packedT + "\n";
    w = "%ws";
  }
  if (c.op == OpKind::Matmul)
    s += "  %y = qopt.qmatmul %x, " + w + " : " + xT + ", " + servedT + " -> " +
         yT + "\n";
  else
    s += "  %y = qopt.dequantize " + w + " : " + servedT + " -> " + yT + "\n";
  s += "  return %y : " + yT + "\n}\n";
  return s;
}

//===----------------------------------------------------------------------===//
// Numbers
//===----------------------------------------------------------------------===//

namespace {

const llvm::fltSemantics &semantics(Scale s) {
  return s == Scale::F16 ? llvm::APFloat::IEEEhalf() : llvm::APFloat::BFloat();
}

/// `v` rounded (to nearest even) to the scale type.
double roundTo(double v, Scale s) {
  if (s == Scale::F32)
    return static_cast<float>(v);
  llvm::APFloat f(v);
  bool loses;
  f.convert(semantics(s), llvm::APFloat::rmNearestTiesToEven, &loses);
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &loses);
  return f.convertToDouble();
}

/// Appends `v` (exactly representable) in the scale type's bytes.
void appendValue(std::vector<uint8_t> &buf, double v, Scale s) {
  if (s == Scale::F32) {
    float f = static_cast<float>(v);
    const auto *p = reinterpret_cast<const uint8_t *>(&f);
    buf.insert(buf.end(), p, p + 4);
    return;
  }
  llvm::APFloat f(v);
  bool loses;
  f.convert(semantics(s), llvm::APFloat::rmNearestTiesToEven, &loses);
  uint16_t b = static_cast<uint16_t>(f.bitcastToAPInt().getZExtValue());
  buf.push_back(b & 0xff);
  buf.push_back(b >> 8);
}

/// The parent width: scales and zero points are in its units.
unsigned parentOf(const Case &c) { return c.bits; }

} // namespace

double readValue(const uint8_t *p, Scale s) {
  if (s == Scale::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t b = p[0] | (p[1] << 8);
  llvm::APFloat f(semantics(s), llvm::APInt(16, b));
  bool loses;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &loses);
  return f.convertToDouble();
}

unsigned scaleBytes(Scale s) { return s == Scale::F32 ? 4 : 2; }

/// Served width of a run (r only matters for Serve::Runtime).
unsigned servedOf(const Case &c, unsigned runtimeWidth) {
  if (c.serve == Serve::Slice)
    return c.sliceBits;
  if (c.serve == Serve::Runtime)
    return std::clamp(runtimeWidth, 1u, c.bits);
  return c.bits;
}

/// Two-level records of random f16 super-scales in [2^-12, 2^-8] and
/// random sub-codes (4-bit: 0..15; 8-bit: -128..127, minimums 0..127), and
/// the group values they define: c.scales[g] = d * s, c.zeros[g] = dmin * m.
static void fillTwoLevel(Case &c, std::mt19937 &rng) {
  auto uniform = [&](double lo, double hi) {
    return lo + (hi - lo) * (rng() / 4294967296.0);
  };
  int64_t perSuper = kSuperGroup / c.g().group;
  auto record = [&](std::vector<uint8_t> &buf, std::vector<double> &values,
                    bool minimums) {
    double d = roundTo(std::exp2(uniform(-12.0, -8.0)), Scale::F16);
    appendValue(buf, d, Scale::F16);
    std::vector<int> sub(perSuper);
    for (int &v : sub) {
      v = c.subBits == 4
              ? int(rng() % 16)
              : (minimums ? int(rng() % 128) : int(rng() % 256) - 128);
      values.push_back(d * v);
    }
    if (c.subBits == 4) {
      for (int64_t g = 0; g < perSuper; g += 2)
        buf.push_back(uint8_t(sub[g] | (sub[g + 1] << 4)));
      return;
    }
    for (int v : sub)
      buf.push_back(uint8_t(int8_t(v)));
  };
  for (int64_t r = 0; r < c.n; ++r)
    for (int64_t b = 0; b < c.k / kSuperGroup; ++b) {
      record(c.scalesBuf, c.scales, false);
      if (!c.sym)
        record(c.zerosBuf, c.zeros, true);
    }
}

void fillData(Case &c, std::mt19937 &rng) {
  auto uniform = [&](double lo, double hi) {
    return lo + (hi - lo) * (rng() / 4294967296.0);
  };
  int64_t tokens = c.op == OpKind::Matmul ? c.tokens : 0;
  c.x.resize(tokens * c.k);
  for (float &v : c.x)
    v = static_cast<float>(uniform(-1.0, 1.0));
  c.codes.resize(c.n * c.k);
  for (uint8_t &q : c.codes)
    q = static_cast<uint8_t>(rng() % (1u << c.bits));
  int64_t numScales = 1;
  for (int64_t d : scalesShape(c))
    numScales *= d;
  c.scales.clear();
  c.zeros.clear();
  c.scalesBuf.clear();
  c.zerosBuf.clear();
  if (c.subBits) {
    fillTwoLevel(c, rng);
    numScales = 0;
  }
  for (int64_t i = 0; i < numScales; ++i) {
    // Scales spread over [2^-8, 2^-3]: exercises the rounding of w.
    double a = roundTo(std::exp2(uniform(-8.0, -3.0)), storedScale(c.scale));
    c.scales.push_back(a);
    appendValue(c.scalesBuf, a, storedScale(c.scale));
    if (!c.sym) {
      double z = static_cast<double>(rng() % (1u << parentOf(c)));
      c.zeros.push_back(z);
      appendValue(c.zerosBuf, z, storedScale(c.scale));
    }
  }
  if (c.unpackedBits) {
    unsigned bytes = c.unpackedBits / 8;
    c.codesBuf.assign(c.codes.size() * bytes, 0);
    for (size_t i = 0; i < c.codes.size(); ++i)
      c.codesBuf[i * bytes] = c.codes[i]; // little-endian
  } else if (c.nested) {
    c.codesBuf.resize(rt::nestedStorageBytes(c.n, c.k, c.bits));
    rt::packNestedPlanes(c.codes.data(), c.n, c.k, c.bits, c.codesBuf.data());
  } else {
    c.codesBuf.resize(rt::denseStorageBytes(c.n, c.k, c.bits));
    rt::packDenseRows(c.codes.data(), c.n, c.k, c.bits, c.codesBuf.data());
  }
}

/// The reference weight [n, k] in the expressed type (as double); with
/// `exact`, a * (v - z) before that rounding (for diagnostics only).
std::vector<double> referenceWeight(const Case &c, unsigned runtimeWidth,
                                    bool exact) {
  unsigned p = parentOf(c), r = servedOf(c, runtimeWidth);
  rt::GroupIndexer groups = rt::GroupIndexer::perTensor(c.n * c.k);
  int64_t shape[2] = {c.n, c.k};
  if (c.g().gran == Gran::Group)
    groups = rt::GroupIndexer(shape, 2, 1, c.g().group);
  else if (c.g().gran == Gran::PerChannel)
    groups = rt::GroupIndexer(shape, 2, 1, c.k);
  std::vector<double> w(c.n * c.k);
  for (int64_t i = 0; i < c.n * c.k; ++i) {
    uint32_t v = rt::sliceValue(c.codes[i], p, r);
    int64_t g = groups.scaleIndex(i);
    if (c.subBits && !c.sym) {
      // a * v - minimum, each product and the difference rounded to f32.
      double av = static_cast<float>(c.scales[g] * v);
      w[i] = exact ? c.scales[g] * v - c.zeros[g]
                   : static_cast<float>(av - c.zeros[g]);
      continue;
    }
    double z = c.sym ? rt::symmetricZero(p) : c.zeros[g];
    double value = c.scales[g] * (static_cast<double>(v) - z);
    w[i] = exact ? value : roundTo(value, expressedOf(c.scale));
  }
  return w;
}

} // namespace qopt::oracle
