//===- GaloisField.h - GF(p^e) for the Paley constructions ------*- C++ -*-===//
//
// Private to Hadamard.cpp: prime powers and arithmetic in GF(p^e), whose
// quadratic character the Paley constructions of base Hadamard matrices
// use (docs/hadamard.md).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_RUNTIME_LIB_GALOISFIELD_H
#define QOPT_RUNTIME_LIB_GALOISFIELD_H

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace qopt::runtime::detail {

/// The base-p digits d_0..d_{count-1} of x (x = sum_i d_i p^i).
inline std::vector<int64_t> digitsOf(int64_t x, int64_t p, int count) {
  std::vector<int64_t> d(count);
  for (int i = 0; i < count; ++i, x /= p)
    d[i] = x % p;
  return d;
}

/// q = p^e with p prime, e >= 1.
struct PrimePower {
  int64_t p;
  int e;
};

/// GF(p^e). An element is the integer 0..q-1 whose base-p digits are the
/// coefficients of a polynomial of degree < e (digit i = coefficient of
/// x^i), reduced modulo the monic irreducible polynomial x^e + m(x) with the
/// smallest m(x) when m's coefficients are read as base-p digits.
class GaloisField {
public:
  explicit GaloisField(PrimePower pp) : p(pp.p), e(pp.e), q(1) {
    for (int i = 0; i < e; ++i)
      q *= p;
    for (int64_t m = 0; m < q; ++m) {
      modulus = digitsOf(m, p, e);
      if (modulusIsIrreducible())
        break;
    }
  }

  /// x - y.
  int64_t sub(int64_t x, int64_t y) const {
    int64_t result = 0, place = 1;
    for (int i = 0; i < e; ++i, x /= p, y /= p, place *= p)
      result += ((x % p - y % p + p) % p) * place;
    return result;
  }

  /// x * y.
  int64_t mul(int64_t x, int64_t y) const {
    std::vector<int64_t> a = digitsOf(x, p, e), b = digitsOf(y, p, e);
    std::vector<int64_t> prod(2 * e - 1, 0);
    for (int i = 0; i < e; ++i)
      for (int j = 0; j < e; ++j)
        prod[i + j] = (prod[i + j] + a[i] * b[j]) % p;
    reduce(prod, modulus);
    int64_t result = 0;
    for (int i = e - 1; i >= 0; --i)
      result = result * p + prod[i];
    return result;
  }

  /// The quadratic character, indexed by element: 0 for 0, 1 for a nonzero
  /// square, -1 for a non-square.
  std::vector<int8_t> quadraticCharacter() const {
    std::vector<int8_t> chi(q, -1);
    chi[0] = 0;
    for (int64_t x = 1; x < q; ++x)
      chi[mul(x, x)] = 1;
    return chi;
  }

private:
  /// Replaces `poly` (coefficients mod p, lowest first) by its remainder
  /// modulo the monic polynomial x^d + low(x), d = low.size(); the remainder
  /// is in poly[0..d), the higher coefficients become 0.
  void reduce(std::vector<int64_t> &poly,
              const std::vector<int64_t> &low) const {
    size_t d = low.size();
    for (size_t k = poly.size(); k-- > d;) {
      int64_t c = poly[k];
      poly[k] = 0;
      for (size_t i = 0; i < d; ++i)
        poly[k - d + i] = ((poly[k - d + i] - c * low[i]) % p + p) % p;
    }
  }

  /// True if x^e + modulus(x) has no monic factor of degree 1..e/2 (trial
  /// division by every such polynomial).
  bool modulusIsIrreducible() const {
    int64_t count = 1;
    for (int d = 1; 2 * d <= e; ++d) {
      count *= p;
      for (int64_t g = 0; g < count; ++g) {
        std::vector<int64_t> poly = modulus;
        poly.push_back(1);
        reduce(poly, digitsOf(g, p, d));
        if (std::all_of(poly.begin(), poly.end(),
                        [](int64_t c) { return c == 0; }))
          return false;
      }
    }
    return true;
  }

  int64_t p;
  int e;
  int64_t q;
  /// Low coefficients of the modulus x^e + sum_i modulus[i] x^i.
  std::vector<int64_t> modulus;
};

/// p and e if q = p^e with p prime and e >= 1.
inline std::optional<PrimePower> asPrimePower(int64_t q) {
  if (q < 2)
    return std::nullopt;
  for (int64_t p = 2; p * p <= q; ++p) {
    if (q % p != 0)
      continue;
    int e = 0;
    while (q % p == 0) {
      q /= p;
      ++e;
    }
    if (q != 1)
      return std::nullopt;
    return PrimePower{p, e};
  }
  return PrimePower{q, 1};
}

} // namespace qopt::runtime::detail

#endif // QOPT_RUNTIME_LIB_GALOISFIELD_H
