//===- QuantOptions.cpp - Options of calibrate and quantize -----*- C++ -*-===//

#include "QuantOptions.h"

#include "Options.h"

#include "qopt/Runtime/QuantMath.h"

#include "llvm/ADT/StringExtras.h"

#include <cmath>

using namespace qopt::run;
namespace quant = ::qopt::quant;

namespace {
/// Applies an option to calibrate and quantize.
struct QuantCommands {
  template <typename Opt> void apply(Opt &o) const {
    o.addSubCommand(calibrateCommand());
    o.addSubCommand(quantizeCommand());
  }
};
} // namespace

static cl::opt<std::string> method(
    "method",
    cl::desc("rtn (round to nearest), gptq, or matryoshka (one int8 whose "
             "slices serve every --widths well); gptq and matryoshka need "
             "--calibration"),
    cl::value_desc("rtn|gptq|matryoshka"), cl::init("rtn"), QuantCommands(),
    cl::cat(quantCategory()));
static cl::opt<unsigned> bits("bits",
                              cl::desc("Code width, 1..8 (the parent width "
                                       "of a nested model)"),
                              cl::init(8), QuantCommands(),
                              cl::cat(quantCategory()));
static cl::opt<int64_t> group("group",
                              cl::desc("Weights per scale along the input "
                                       "dimension; 0: one per output row"),
                              cl::init(32), QuantCommands(),
                              cl::cat(quantCategory()));
static cl::opt<std::string> scheme("scheme",
                                   cl::desc("Zero points: asym, or sym "
                                            "(fixed at 2^(bits-1))"),
                                   cl::value_desc("asym|sym"), cl::init("asym"),
                                   QuantCommands(), cl::cat(quantCategory()));
static cl::opt<std::string>
    widths("widths",
           cl::desc("matryoshka: served widths the int8 is optimized for "
                    "(default 8,4,2)"),
           cl::value_desc("list"), cl::init(""), QuantCommands(),
           cl::cat(quantCategory()));
static cl::opt<std::string>
    lambdas("weights",
            cl::desc("matryoshka: lambda_r of each width (default 2^(r - "
                     "bits))"),
            cl::value_desc("list"), cl::init(""), QuantCommands(),
            cl::cat(quantCategory()));
static cl::opt<std::string>
    feedback("feedback",
             cl::desc("matryoshka: error feedback per-width (qopt) or mean "
                      "(MatGPTQ)"),
             cl::value_desc("per-width|mean"), cl::init("per-width"),
             QuantCommands(), cl::cat(quantCategory()));
static cl::opt<unsigned> sweeps("sweeps",
                                cl::desc("matryoshka: coordinate-descent "
                                         "sweeps after the GPTQ pass"),
                                cl::init(2), QuantCommands(),
                                cl::cat(quantCategory()));
static cl::opt<bool> clip("clip",
                          cl::desc("rtn: H-weighted clipping search of each "
                                   "group's range (needs --calibration)"),
                          QuantCommands(), cl::cat(quantCategory()));
static cl::opt<double> damp("damp",
                            cl::desc("gptq/matryoshka: relative dampening of "
                                     "H's diagonal"),
                            cl::init(0.01), QuantCommands(),
                            cl::cat(quantCategory()));
static cl::opt<bool> actOrder("act-order",
                              cl::desc("gptq/matryoshka: columns by "
                                       "decreasing H diagonal"),
                              QuantCommands(), cl::cat(quantCategory()));
static cl::opt<std::string>
    layers("layers",
           cl::desc("Roles to quantize: comma list of q k v o gate up down "
                    "embedding classifier, or all"),
           cl::init("q,k,v,o,gate,up,down"), QuantCommands(),
           cl::cat(quantCategory()));

const std::string &qopt::run::quantizedRoles() { return layers; }

mlir::qopt::QuantizeWeightsPassOptions qopt::run::quantizePassOptions() {
  mlir::qopt::QuantizeWeightsPassOptions o;
  o.method = method;
  o.bits = bits;
  o.group = group;
  o.scheme = scheme;
  o.layers = layers;
  o.widths = widths;
  o.weights = lambdas;
  o.feedback = feedback;
  o.sweeps = sweeps;
  o.clip = clip;
  o.damp = damp;
  o.actOrder = actOrder;
  return o;
}

namespace {
llvm::Error optionError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}
} // namespace

llvm::Expected<quant::MethodOptions> qopt::run::methodOptions() {
  quant::MethodOptions m;
  std::optional<quant::Method> parsed = quant::parseMethod(method);
  if (!parsed)
    return optionError("--method must be rtn, gptq or matryoshka, got '" +
                       method + "'");
  m.method = *parsed;
  if (bits < 1 || bits > 8)
    return optionError("--bits must be in 1..8, got " + llvm::Twine(bits));
  m.config.bits = bits;
  if (group < 0)
    return optionError("--group must be >= 0, got " + llvm::Twine(group));
  m.config.groupSize = group;
  if (scheme != "asym" && scheme != "sym")
    return optionError("--scheme must be asym or sym, got '" + scheme + "'");
  m.config.scheme = scheme == "sym" ? ::qopt::runtime::Scheme::Symmetric
                                    : ::qopt::runtime::Scheme::Asymmetric;
  m.clip = clip;
  if (!(damp >= 0 && damp <= 10))
    return optionError("--damp must be in [0, 10], got " + formatFloat(damp));
  m.gptq.percDamp = damp;
  m.gptq.actOrder = actOrder;
  if (m.method == quant::Method::Matryoshka) {
    if (llvm::Error err = quant::parseMatryoshkaOptions(
            widths, lambdas, feedback, sweeps, bits, m.matryoshka))
      return optionError(llvm::toString(std::move(err)));
  }
  if (llvm::Error err = quant::checkMethodOptions(m))
    return std::move(err);
  return m;
}
