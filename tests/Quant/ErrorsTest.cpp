//===- ErrorsTest.cpp - Invalid inputs of qopt_gptq -------------*- C++ -*-===//
//
// Every entry point rejects invalid inputs with a message that names the
// problem: sizes, bits, schemes, Hessians (indefinite after dampening,
// asymmetric, negative diagonal, non-finite), options, served widths and
// lambdas, factors prepared for other options.
//
//===----------------------------------------------------------------------===//

#include "QuantTestUtils.h"

#include "qopt/Quant/GPTQ.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include <cmath>
#include <limits>
#include <vector>

using namespace qopt::quant;
using namespace qopt::quant::testing;
using ::testing::HasSubstr;
namespace rt = ::qopt::runtime;

namespace {

class Errors : public ::testing::Test {
protected:
  const int64_t rows = 4, cols = 8;
  std::vector<float> w = randomWeight(rows, cols, 1);
  std::vector<double> h = correlatedHessian(cols, 16, 0.5, 2);
  QuantConfig config;
  GPTQOptions gptq;

  std::string gptqError() {
    return errorMessage(gptqQuantize(w, rows, cols, h, config, gptq));
  }
  std::string matryoshkaError(const MatryoshkaOptions &o) {
    return errorMessage(matryoshkaQuantize(w, rows, cols, h, config, gptq, o));
  }
};

TEST_F(Errors, NotPositiveDefiniteAfterDampening) {
  // An indefinite 2 x 2 block: eigenvalues 3 and -1.
  h = {1.0, 2.0, 2.0, 1.0};
  w.assign(2, 1.0f);
  std::string message = errorMessage(gptqQuantize(w, 1, 2, h, config, gptq));
  EXPECT_THAT(message, HasSubstr("not positive definite after dampening"));
  EXPECT_THAT(errorMessage(HessianFactor::compute(h, 2, gptq)),
              HasSubstr("not positive definite"));
}

TEST_F(Errors, MismatchedSizes) {
  w.pop_back();
  EXPECT_THAT(gptqError(), HasSubstr("the weight has 31 elements, expected "
                                     "rows * cols = 4 * 8"));
  w.push_back(0.0f);
  h.pop_back();
  EXPECT_THAT(gptqError(),
              HasSubstr("the Hessian has 63 elements, expected cols * cols"));
  EXPECT_THAT(errorMessage(rtnQuantize(w, 0, cols, config)),
              HasSubstr("positive rows and cols"));
}

TEST_F(Errors, BitsAndScheme) {
  config.bits = 9;
  EXPECT_THAT(gptqError(), HasSubstr("bits must be in 1..8, got 9"));
  config.bits = 0;
  EXPECT_THAT(errorMessage(rtnQuantize(w, rows, cols, config)),
              HasSubstr("bits must be in 1..8, got 0"));
  config.bits = 1;
  config.scheme = rt::Scheme::Symmetric;
  EXPECT_THAT(gptqError(),
              HasSubstr("the symmetric scheme needs at least 2 bits"));
  config.bits = 4;
  config.scheme = rt::Scheme::Asymmetric;
  config.groupSize = -3;
  EXPECT_THAT(gptqError(), HasSubstr("group size must be positive"));
}

TEST_F(Errors, InvalidHessians) {
  std::vector<double> good = h;
  h[1 * cols + 2] += 1.0;
  EXPECT_THAT(gptqError(), HasSubstr("the Hessian is not symmetric"));
  h = good;
  h[3 * cols + 3] = -1.0;
  EXPECT_THAT(gptqError(), HasSubstr("diagonal entry (3, 3) = -1 is negative"));
  h = good;
  h[5 * cols + 1] = h[1 * cols + 5] = std::numeric_limits<double>::infinity();
  EXPECT_THAT(gptqError(), HasSubstr("is not finite"));
  h = good;
  w[6] = std::nanf("");
  EXPECT_THAT(gptqError(), HasSubstr("weight element 6 is not finite"));
}

TEST_F(Errors, GPTQOptions) {
  gptq.percDamp = -0.5;
  EXPECT_THAT(gptqError(), HasSubstr("percdamp must be finite and >= 0"));
  gptq.percDamp = 0.01;
  gptq.blockSize = 0;
  EXPECT_THAT(gptqError(), HasSubstr("the block size must be positive"));
}

TEST_F(Errors, FactorPreparedForOtherOptions) {
  HessianFactor f = valueOf(HessianFactor::compute(h, cols, gptq));
  GPTQOptions other = gptq;
  other.actOrder = true;
  EXPECT_THAT(errorMessage(gptqQuantize(w, rows, cols, f, config, other)),
              HasSubstr("prepared with other dampening or act-order"));
  std::vector<float> wide = randomWeight(rows, 2 * cols, 3);
  EXPECT_THAT(errorMessage(gptqQuantize(wide, rows, 2 * cols, f, config, gptq)),
              HasSubstr("the Hessian factor has 8 columns, expected 16"));
}

TEST_F(Errors, ServedWidths) {
  MatryoshkaOptions o;
  o.widths = {8, 4, 9};
  o.lambdas = {1, 1, 1};
  EXPECT_THAT(matryoshkaError(o),
              HasSubstr("served width 9 is outside 1..8 (the parent bits)"));
  config.bits = 4;
  o.widths = {4, 8};
  o.lambdas = {1, 1};
  EXPECT_THAT(matryoshkaError(o), HasSubstr("served width 8 is outside 1..4"));
  config.bits = 8;
  o.widths = {8, 4, 4};
  o.lambdas = {1, 1, 1};
  EXPECT_THAT(matryoshkaError(o), HasSubstr("served width 4 is listed twice"));
  o.widths = {8, 4};
  EXPECT_THAT(matryoshkaError(o), HasSubstr("2 widths but 3 lambdas"));
  o.lambdas = {1, -1};
  EXPECT_THAT(matryoshkaError(o), HasSubstr("the lambda of width 4 must be"));
  o.lambdas = {0, 0};
  EXPECT_THAT(matryoshkaError(o), HasSubstr("must not all be zero"));
  o.widths = {};
  o.lambdas = {};
  EXPECT_THAT(matryoshkaError(o), HasSubstr("at least one served width"));
  o.widths = {8, 2};
  o.lambdas = {1, 1};
  o.rangeSearch = {4, 1.2, 0.9};
  EXPECT_THAT(matryoshkaError(o), HasSubstr("range factors must satisfy"));
}

TEST_F(Errors, OutputErrorAndClip) {
  QuantizedWeight q = valueOf(rtnQuantize(w, rows, cols, config));
  EXPECT_THAT(errorMessage(outputError(w, rows, cols, h, q, config, 9)),
              HasSubstr("served width 9 is outside 1..8"));
  q.scales.pop_back();
  EXPECT_THAT(errorMessage(outputError(w, rows, cols, h, q, config, 8)),
              HasSubstr("does not match a 4 x 8 weight"));
  ClipOptions clip;
  clip.rangeSearch = {3, 0.5, 1.5};
  EXPECT_THAT(errorMessage(clipQuantize(w, rows, cols, h, config, clip)),
              HasSubstr("clipping search's range factors must satisfy 0 < "
                        "min <= max <= 1"));
}

} // namespace
