//===- Methods.cpp - One entry point for every weight quantizer -*- C++ -*-===//

#include "qopt/Quant/Methods.h"

#include "QuantCommon.h"

#include <cmath>

#include "qopt/Runtime/QuantMath.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/raw_ostream.h"

using namespace qopt;
using namespace qopt::quant;
using namespace qopt::quant::detail;
namespace rt = ::qopt::runtime;

std::optional<Method> quant::parseMethod(llvm::StringRef name) {
  if (name == "rtn")
    return Method::RTN;
  if (name == "gptq")
    return Method::GPTQ;
  if (name == "matryoshka")
    return Method::Matryoshka;
  return std::nullopt;
}

llvm::StringRef quant::methodName(Method method) {
  switch (method) {
  case Method::RTN:
    return "rtn";
  case Method::GPTQ:
    return "gptq";
  case Method::Matryoshka:
    return "matryoshka";
  }
  return "?";
}

std::string MethodOptions::describe() const {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "method=" << methodName(method) << " bits=" << config.bits
     << " group=" << config.groupSize
     << " scheme=" << (config.scheme == rt::Scheme::Symmetric ? "sym" : "asym");
  if (method == Method::RTN) {
    if (clip)
      os << " clip=true";
    return s;
  }
  os << " damp=" << formatDouble(gptq.percDamp)
     << " act-order=" << (gptq.actOrder ? "true" : "false");
  if (method == Method::Matryoshka) {
    os << " widths="
       << llvm::join(
              llvm::map_range(matryoshka.widths,
                              [](unsigned w) { return std::to_string(w); }),
              ",");
    os << " weights="
       << llvm::join(llvm::map_range(matryoshka.lambdas, formatDouble), ",");
  }
  return s;
}

namespace {
/// Parses a comma list of numbers; false on a malformed entry.
template <typename T>
bool parseList(llvm::StringRef spec, std::vector<T> &out) {
  out.clear();
  for (llvm::StringRef item : llvm::split(spec, ',')) {
    item = item.trim();
    if constexpr (std::is_integral_v<T>) {
      unsigned long long v;
      if (item.getAsInteger(10, v) || v > 64)
        return false;
      out.push_back(static_cast<T>(v));
    } else {
      double v;
      if (item.getAsDouble(v) || !std::isfinite(v))
        return false;
      out.push_back(v);
    }
  }
  return true;
}
} // namespace

llvm::Error quant::parseMatryoshkaOptions(llvm::StringRef widths,
                                          llvm::StringRef weights,
                                          llvm::StringRef feedback,
                                          unsigned sweeps, unsigned bits,
                                          MatryoshkaOptions &out) {
  std::string spec = widths.str();
  if (spec.empty()) {
    if (bits != 8)
      return invalidArgument("matryoshka with bits " + llvm::Twine(bits) +
                             " needs widths (the default 8,4,2 is for 8)");
    spec = "8,4,2";
  }
  if (!parseList(spec, out.widths))
    return invalidArgument("widths must be a comma list of widths in 1.." +
                           llvm::Twine(bits) + ", got '" + spec + "'");
  for (unsigned w : out.widths)
    if (w < 1 || w > bits)
      return invalidArgument("width " + llvm::Twine(w) + " is outside 1.." +
                             llvm::Twine(bits));
  if (weights.empty())
    out.lambdas = servingLambdas(out.widths, bits);
  else if (!parseList(weights, out.lambdas))
    return invalidArgument("weights must be a comma list of finite numbers, "
                           "got '" +
                           weights + "'");
  if (feedback == "per-width")
    out.feedback = ErrorFeedback::PerWidth;
  else if (feedback == "mean")
    out.feedback = ErrorFeedback::Mean;
  else
    return invalidArgument("feedback must be per-width or mean, got '" +
                           feedback + "'");
  if (sweeps > 100)
    return invalidArgument("sweeps must be at most 100, got " +
                           llvm::Twine(sweeps));
  out.sweeps = sweeps;
  return llvm::Error::success();
}

llvm::Error quant::checkMethodOptions(const MethodOptions &options) {
  if (llvm::Error err = checkConfig(options.config))
    return err;
  if (options.clip && options.method != Method::RTN)
    return invalidArgument("clip applies to method=rtn only (GPTQ chooses "
                           "its own ranges)");
  if (options.method == Method::Matryoshka) {
    const MatryoshkaOptions &m = options.matryoshka;
    if (llvm::Error err = checkWidths(m.widths, m.lambdas, options.config.bits))
      return err;
  }
  if (options.method != Method::RTN)
    if (!(options.gptq.percDamp >= 0.0) ||
        !std::isfinite(options.gptq.percDamp))
      return invalidArgument("dampening must be finite and >= 0, got " +
                             formatDouble(options.gptq.percDamp));
  return llvm::Error::success();
}

llvm::Expected<QuantizedWeight>
quant::quantizeWithMethod(llvm::ArrayRef<float> weight, int64_t rows,
                          int64_t cols, llvm::ArrayRef<double> hessian,
                          const HessianFactor *factor,
                          const MethodOptions &options) {
  const QuantConfig &config = options.config;
  switch (options.method) {
  case Method::RTN:
    if (options.clip)
      return clipQuantize(weight, rows, cols, hessian, config,
                          options.clipOptions);
    return rtnQuantize(weight, rows, cols, config);
  case Method::GPTQ:
    if (factor)
      return gptqQuantize(weight, rows, cols, *factor, config, options.gptq);
    return gptqQuantize(weight, rows, cols, hessian, config, options.gptq);
  case Method::Matryoshka: {
    llvm::Expected<MatryoshkaResult> result =
        factor ? matryoshkaQuantize(weight, rows, cols, hessian, *factor,
                                    config, options.gptq, options.matryoshka)
               : matryoshkaQuantize(weight, rows, cols, hessian, config,
                                    options.gptq, options.matryoshka);
    if (!result)
      return result.takeError();
    return std::move(result->weight);
  }
  }
  return invalidArgument("unknown quantization method");
}

std::vector<float> quant::dequantizeWeight(const QuantizedWeight &q,
                                           const QuantConfig &config,
                                           unsigned width) {
  unsigned c = config.bits;
  unsigned r = width == 0 || width >= c ? c : width;
  std::vector<float> out(static_cast<size_t>(q.rows * q.cols));
  int64_t groupSize = groupSizeOf(config, q.cols);
  for (int64_t i = 0; i < q.rows; ++i)
    for (int64_t j = 0; j < q.cols; ++j) {
      int64_t g = i * q.groupsPerRow + j / groupSize;
      uint32_t code = q.codes[i * q.cols + j];
      if (r < c)
        code = rt::sliceValue(code, c, r);
      out[i * q.cols + j] = rt::dequantizeValue(code, q.scales[g], q.zeros[g]);
    }
  return out;
}
