//===- Methods.h - One entry point for every weight quantizer ---*- C++ -*-===//
//
// The quantization methods qopt-quantize-weights and `qopt-run quantize`
// offer (RTN, RTN with an H-weighted clipping search, GPTQ, Matryoshka-aware
// GPTQ) behind one call, so the pass and sequential calibration quantize a
// weight identically. docs/gptq.md describes the methods.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_METHODS_H
#define QOPT_QUANT_METHODS_H

#include "qopt/Quant/GPTQ.h"

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace qopt {
namespace quant {

enum class Method : uint8_t { RTN, GPTQ, Matryoshka };

/// "rtn", "gptq", "matryoshka".
std::optional<Method> parseMethod(llvm::StringRef name);
llvm::StringRef methodName(Method method);

/// A method and all of its options.
struct MethodOptions {
  Method method = Method::RTN;
  QuantConfig config;
  /// RTN only: the H-weighted clipping search of clipQuantize.
  bool clip = false;
  ClipOptions clipOptions;
  GPTQOptions gptq;
  /// Matryoshka only: widths, lambdas, feedback,
  /// range search and sweeps.
  MatryoshkaOptions matryoshka;

  /// Whether the method reads H (everything but plain RTN).
  bool needsHessian() const { return method != Method::RTN || clip; }
  /// A canonical spelling of the options, for provenance and for checking
  /// that a sequential calibration file matches the quantization asked for.
  std::string describe() const;
};

/// Fills `out` from the textual Matryoshka options of
/// qopt-quantize-weights and `qopt-run quantize` (the same spellings):
/// `widths` a comma list (empty: 8,4,2, for bits = 8 only), `weights` the
/// lambdas (empty: servingLambdas), `feedback` per-width or mean, `sweeps`
/// at most 100. The error names the option (without a `--` or `=`).
llvm::Error parseMatryoshkaOptions(llvm::StringRef widths,
                                   llvm::StringRef weights,
                                   llvm::StringRef feedback, unsigned sweeps,
                                   unsigned bits, MatryoshkaOptions &out);

/// Checks the options (config, widths within bits, lambdas) before any
/// weight is touched.
llvm::Error checkMethodOptions(const MethodOptions &options);

/// Quantizes the [rows, cols] weight with `options`. `hessian` (cols x cols)
/// is read when options.needsHessian(); `factor`, when given, is H's GPTQ
/// factor prepared with options.gptq (shared by weights reading the same
/// input) and is otherwise computed here.
llvm::Expected<QuantizedWeight>
quantizeWithMethod(llvm::ArrayRef<float> weight, int64_t rows, int64_t cols,
                   llvm::ArrayRef<double> hessian, const HessianFactor *factor,
                   const MethodOptions &options);

/// The float weight a quantized one stands for, served at `width` bits
/// (0 or >= config.bits: the codes themselves; less: the Matryoshka slice).
std::vector<float> dequantizeWeight(const QuantizedWeight &quantized,
                                    const QuantConfig &config,
                                    unsigned width = 0);

} // namespace quant
} // namespace qopt

#endif // QOPT_QUANT_METHODS_H
