//===- Calibrator.cpp - Calibration from the compiled model -----*- C++ -*-===//
//
// The runtime observer behind `qopt_observe`, the float and sequential
// calibration loops and the .calib writer (Calibrator.h).
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/Calibrator.h"

#include "qopt/Model/GGUFWriter.h"
#include "qopt/Quant/Calibration.h"
#include "qopt/Tools/ModelImporter.h"
#include "qopt/Transforms/Passes.h"

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <map>
#include <unistd.h>

using namespace mlir;
using namespace mlir::qopt;
namespace quant = ::qopt::quant;

namespace {
llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// The accumulators of every site; `qopt_observe` adds to the enabled ones.
struct Observer {
  std::vector<quant::HessianAccumulator> sites;
  std::vector<uint8_t> enabled;
  /// Set when the compiled code passed something impossible.
  std::string error;
};

/// The observer of the calibration in progress (one at a time per process).
Observer *activeObserver = nullptr;
} // namespace

/// Called by the compiled code of an instrumented model (Observe.cpp): the
/// expanded descriptor of a [rows, cols] f32 buffer.
extern "C" void qopt_observe(int64_t site, float *allocated, float *aligned,
                             int64_t offset, int64_t rows, int64_t cols,
                             int64_t rowStride, int64_t colStride) {
  (void)allocated;
  Observer *observer = activeObserver;
  if (!observer || !observer->error.empty())
    return;
  if (site < 0 || site >= static_cast<int64_t>(observer->sites.size()) ||
      observer->sites[site].cols() != cols || colStride != 1 || rows < 0) {
    observer->error = "observation site " + std::to_string(site) +
                      " received a buffer of an unexpected shape";
    return;
  }
  if (observer->enabled[site])
    observer->sites[site].add(aligned + offset, rows, rowStride);
}

llvm::Expected<std::vector<ObserveSite>>
mlir::qopt::readObserveSites(ModuleOp module) {
  auto table = module->getAttrOfType<ArrayAttr>("qopt.observe_sites");
  if (!table)
    return makeError("the module is not instrumented (no qopt.observe_sites)");
  std::vector<ObserveSite> sites;
  for (auto [i, entry] : llvm::enumerate(table)) {
    auto dict = dyn_cast<DictionaryAttr>(entry);
    auto site = dict ? dict.getAs<IntegerAttr>("site") : IntegerAttr();
    auto layer = dict ? dict.getAs<IntegerAttr>("layer") : IntegerAttr();
    auto cols = dict ? dict.getAs<IntegerAttr>("cols") : IntegerAttr();
    auto roles = dict ? dict.getAs<ArrayAttr>("roles") : ArrayAttr();
    if (!site || !layer || !cols || !roles || site.getInt() != (int64_t)i ||
        cols.getInt() < 1 || layer.getInt() < -1)
      return makeError("malformed qopt.observe_sites entry " + llvm::Twine(i));
    ObserveSite s;
    s.site = site.getInt();
    s.layer = layer.getInt();
    s.cols = cols.getInt();
    for (Attribute role : roles) {
      auto name = dyn_cast<StringAttr>(role);
      if (!name || !quant::isCalibrationRole(name.getValue()))
        return makeError("qopt.observe_sites entry " + llvm::Twine(i) +
                         " names an unknown role");
      s.roles.push_back(name.getValue().str());
    }
    sites.push_back(std::move(s));
  }
  return sites;
}

namespace {
/// A float weight the sequential mode replaces: its blob and type.
struct FloatWeight {
  std::string name;
  Type elementType;
  int64_t rows = 0, cols = 0;
  ArrayRef<char> data;
};

/// The resource weights of the role-tagged linears, by (layer, role).
llvm::Expected<std::map<std::pair<int64_t, std::string>, FloatWeight>>
collectLinearWeights(ModuleOp module) {
  std::map<std::pair<int64_t, std::string>, FloatWeight> weights;
  llvm::Error error = llvm::Error::success();
  module.walk([&](LinearOp linear) {
    auto role = linear->getAttrOfType<StringAttr>("qopt.role");
    if (!role)
      return;
    auto layerAttr = linear->getAttrOfType<IntegerAttr>("qopt.layer");
    int64_t layer = layerAttr ? layerAttr.getInt() : -1;
    FloatWeight w;
    auto cst = linear.getWeight().getDefiningOp<arith::ConstantOp>();
    auto attr =
        cst ? dyn_cast<DenseResourceElementsAttr>(cst.getValue()) : nullptr;
    auto type = cast<RankedTensorType>(linear.getWeight().getType());
    if (!attr || !type.hasStaticShape()) {
      w.name.clear(); // not replaceable: recorded as such
    } else {
      w.name = attr.getRawHandle().getKey().str();
      w.elementType = type.getElementType();
      w.rows = type.getDimSize(0);
      w.cols = type.getDimSize(1);
      w.data = attr.getData();
    }
    weights[{layer, role.getValue().str()}] = w;
  });
  return weights;
}

/// Encodes floats in `w`'s element type.
std::vector<char> encodeWeight(const FloatWeight &w,
                               llvm::ArrayRef<float> values) {
  std::vector<char> out;
  if (w.elementType.isF32()) {
    out.resize(values.size() * sizeof(float));
    std::memcpy(out.data(), values.data(), out.size());
    return out;
  }
  out.resize(values.size() * sizeof(uint16_t));
  auto *bits = reinterpret_cast<uint16_t *>(out.data());
  bool half = w.elementType.isF16();
  for (size_t i = 0; i < values.size(); ++i)
    bits[i] = half ? ::qopt::model::floatToHalf(values[i])
                   : ::qopt::model::floatToBF16(values[i]);
  return out;
}

/// A one-line progress bar on stderr (terminals only).
class ProgressLine {
public:
  explicit ProgressLine(bool enabled)
      : enabled(enabled && isatty(STDERR_FILENO)) {}
  ~ProgressLine() {
    if (enabled && drawn)
      llvm::errs() << "\r\033[K";
  }
  void update(const llvm::Twine &label, int64_t done, int64_t total) {
    if (!enabled)
      return;
    constexpr int width = 30;
    int filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
    llvm::errs() << "\r\033[K" << label << " [" << std::string(filled, '#')
                 << std::string(width - filled, '.') << "] " << done << "/"
                 << total;
    llvm::errs().flush();
    drawn = true;
  }

private:
  bool enabled, drawn = false;
};

/// Unregisters the observer however the calibration ends.
struct ObserverScope {
  explicit ObserverScope(Observer &o) { activeObserver = &o; }
  ~ObserverScope() { activeObserver = nullptr; }
};
} // namespace

llvm::Error mlir::qopt::calibrateModel(
    ModuleOp module, llvm::ArrayRef<std::vector<int32_t>> sequences,
    const CalibrateOptions &options, llvm::StringRef outPath) {
  if (activeObserver)
    return makeError("a calibration is already running in this process");
  llvm::Expected<::qopt::model::ModelConfig> cfg = readModelConfig(module);
  if (!cfg)
    return cfg.takeError();
  if (sequences.empty())
    return makeError("no calibration sequence (the text has no non-empty "
                     "line)");
  if (options.sequential)
    if (llvm::Error err = quant::checkMethodOptions(options.method))
      return err;
  llvm::StringSet<> sequentialRoles;
  for (llvm::StringRef role : llvm::split(options.roles, ',')) {
    role = role.trim();
    if (!quant::isCalibrationRole(role))
      return makeError("sequential calibration: unknown role '" + role +
                       "' (expected q k v o gate up down classifier)");
    sequentialRoles.insert(role);
  }
  llvm::Expected<std::map<std::pair<int64_t, std::string>, FloatWeight>>
      weights = collectLinearWeights(module);
  if (!weights)
    return weights.takeError();

  PassManager pm(module.getContext());
  pm.addPass(createInstrumentCalibrationPass());
  if (failed(pm.run(module)))
    return makeError("instrumenting the model for calibration failed");
  llvm::Expected<std::vector<ObserveSite>> sites = readObserveSites(module);
  if (!sites)
    return sites.takeError();
  if (sites->empty())
    return makeError("the model has no role-tagged linear layer to "
                     "calibrate (import it with qopt-import)");

  Observer observer;
  for (const ObserveSite &site : *sites) {
    observer.sites.emplace_back(site.cols);
    observer.enabled.push_back(1);
  }
  CompileOptions compile = options.compile;
  compile.symbols.push_back(
      {"qopt_observe", reinterpret_cast<void *>(&qopt_observe)});
  llvm::Expected<std::unique_ptr<ModelRunner>> runner =
      ModelRunner::compile(module, compile);
  if (!runner)
    return runner.takeError();
  // The runner serves the weights from where it put them: the JIT moves
  // those the module owns into one buffer and releases their blobs, so the
  // data read from the module above may be gone.
  for (auto &entry : *weights) {
    FloatWeight &w = entry.second;
    if (w.name.empty())
      continue;
    for (const ::qopt::model::WeightSpan &span : (*runner)->weightBuffers())
      if (span.name == w.name)
        w.data = ArrayRef<char>(span.data, span.bytes);
  }
  ObserverScope scope(observer);

  int64_t tokens = 0, longest = 0;
  for (const std::vector<int32_t> &seq : sequences) {
    tokens += seq.size();
    longest = std::max<int64_t>(longest, seq.size());
  }
  if (llvm::Error err = (*runner)->reserve(longest))
    return err;
  std::vector<float> logits(static_cast<size_t>(longest) * cfg->vocabSize);
  ProgressLine progress(options.progress);
  auto runAll = [&](const llvm::Twine &label) -> llvm::Error {
    for (auto [i, seq] : llvm::enumerate(sequences)) {
      if (llvm::Error err = (*runner)->forward(seq, 0, logits.data()))
        return err;
      if (!observer.error.empty())
        return makeError(observer.error);
      progress.update(label, i + 1, sequences.size());
    }
    return llvm::Error::success();
  };

  // The replaced weights' data must outlive the runner's use of it.
  std::vector<std::vector<char>> replaced;
  if (!options.sequential) {
    if (llvm::Error err = runAll("calibrating"))
      return err;
  } else {
    // Blocks in order, then the classifier on the fully quantized blocks.
    std::vector<int64_t> order;
    for (int64_t l = 0; l < cfg->numLayers; ++l)
      order.push_back(l);
    order.push_back(-1);
    for (int64_t layer : order) {
      bool any = false;
      for (const ObserveSite &site : *sites) {
        observer.enabled[site.site] = site.layer == layer;
        any |= site.layer == layer;
      }
      if (!any)
        continue;
      std::string label = layer < 0
                              ? std::string("calibrating classifier")
                              : ("calibrating block " + llvm::Twine(layer + 1) +
                                 "/" + llvm::Twine(cfg->numLayers))
                                    .str();
      if (llvm::Error err = runAll(label))
        return err;
      // Quantize this block's selected weights and serve them from now on.
      for (const ObserveSite &site : *sites) {
        if (site.layer != layer)
          continue;
        std::vector<double> h = observer.sites[site.site].hessian();
        std::optional<quant::HessianFactor> factor;
        if (options.method.method != quant::Method::RTN) {
          llvm::Expected<quant::HessianFactor> f =
              quant::HessianFactor::compute(h, site.cols, options.method.gptq);
          if (!f)
            return makeError("layer " + llvm::Twine(layer) + " (" +
                             llvm::join(site.roles, ",") +
                             "): " + llvm::toString(f.takeError()));
          factor = std::move(*f);
        }
        for (const std::string &role : site.roles) {
          if (!sequentialRoles.contains(role))
            continue;
          auto it = weights->find({layer, role});
          if (it == weights->end() || it->second.name.empty())
            return makeError(
                "sequential calibration needs float constant weights: "
                "the " +
                role + " weight of layer " + llvm::Twine(layer) +
                " is not one (a quantized checkpoint can be calibrated "
                "without --sequential)");
          const FloatWeight &w = it->second;
          std::vector<float> values =
              decodeFloatElements(w.data, w.elementType);
          llvm::Expected<quant::QuantizedWeight> q = quant::quantizeWithMethod(
              values, w.rows, w.cols, h, factor ? &*factor : nullptr,
              options.method);
          if (!q)
            return makeError("quantizing " + w.name + ": " +
                             llvm::toString(q.takeError()));
          replaced.push_back(encodeWeight(
              w, quant::dequantizeWeight(*q, options.method.config)));
          if (llvm::Error err = (*runner)->replaceWeight(
                  w.name, replaced.back().data(), replaced.back().size()))
            return err;
        }
      }
    }
  }

  quant::CalibrationInfo info;
  info.model = {cfg->dim,      cfg->hiddenDim,  cfg->numLayers,
                cfg->numHeads, cfg->numKVHeads, cfg->vocabSize};
  info.source = options.source;
  info.text = options.text;
  info.tokens = tokens;
  info.sequences = sequences.size();
  info.mode = options.sequential ? "sequential" : "float";
  if (options.sequential)
    info.quantization = options.method.describe() + " roles=" + options.roles;
  std::vector<quant::CalibrationEntry> entries;
  std::vector<std::vector<double>> matrices;
  for (const ObserveSite &site : *sites) {
    quant::CalibrationEntry entry;
    entry.layer = site.layer;
    entry.roles = site.roles;
    entry.cols = site.cols;
    entry.tokens = observer.sites[site.site].tokens();
    entries.push_back(std::move(entry));
    matrices.push_back(observer.sites[site.site].packedUpper());
  }
  return quant::writeCalibrationFile(outPath, info, entries, matrices);
}
