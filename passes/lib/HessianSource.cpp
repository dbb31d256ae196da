//===- HessianSource.cpp - H of the weights' inputs from a file -----------===//
//
// See HessianSource.h.
//
//===----------------------------------------------------------------------===//

#include "HessianSource.h"

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace mlir::qopt;

namespace quant = ::qopt::quant;

LogicalResult HessianSource::open(StringRef path, ModuleOp module,
                                  const quant::MethodOptions &methodOptions) {
  method = &methodOptions;
  llvm::Expected<quant::CalibrationFile> opened =
      quant::CalibrationFile::open(path);
  if (!opened)
    return module.emitError()
           << "qopt-quantize-weights: " << llvm::toString(opened.takeError());
  file = std::move(*opened);
  // Every entry is checked now, used or not: a corrupt file is refused
  // whatever the selected roles.
  if (llvm::Error err = file->verifyChecksums())
    return module.emitError()
           << "qopt-quantize-weights: " << llvm::toString(std::move(err));
  // A module from qopt-import says which model it is: the file must have
  // been recorded on one of the same shape.
  auto dict = module->getAttrOfType<DictionaryAttr>("qopt.model");
  if (!dict)
    return success();
  auto get = [&](StringRef key) -> int64_t {
    auto attr = dict.getAs<IntegerAttr>(key);
    return attr ? attr.getInt() : -1;
  };
  quant::CalibrationModel model{get("dim"),          get("hidden_dim"),
                                get("num_layers"),   get("num_heads"),
                                get("num_kv_heads"), get("vocab_size")};
  const quant::CalibrationInfo &info = file->info();
  if (model != info.model)
    return module.emitError()
           << "qopt-quantize-weights: calibration file '" << path
           << "' was recorded on another model (" << info.model.describe()
           << "; this one has " << model.describe() << ")";
  return success();
}

LogicalResult HessianSource::lookup(Operation *user, int64_t cols,
                                    ArrayRef<double> &h,
                                    const quant::HessianFactor *&factor) {
  h = {};
  factor = nullptr;
  auto role = user->getAttrOfType<StringAttr>("qopt.role");
  auto layerAttr = user->getAttrOfType<IntegerAttr>("qopt.layer");
  if (!file || !role || !isa<LinearOp>(user))
    return success();
  int64_t layer = layerAttr ? layerAttr.getInt() : -1;
  int64_t index = file->find(layer, role.getValue());
  if (index < 0)
    return success();
  if (index != cachedIndex) {
    cachedIndex = -1;
    cachedFactor.reset();
    const quant::CalibrationEntry &entry = file->entries()[index];
    if (entry.cols != cols)
      return user->emitError()
             << "qopt-quantize-weights: calibration file '" << file->path()
             << "' records " << entry.cols << " input features for layer "
             << layer << " " << role.getValue() << ", the weight has " << cols;
    llvm::Expected<std::vector<double>> loaded = file->hessian(index);
    if (!loaded)
      return user->emitError()
             << "qopt-quantize-weights: " << llvm::toString(loaded.takeError());
    cached = std::move(*loaded);
    if (method->method != quant::Method::RTN) {
      llvm::Expected<quant::HessianFactor> f =
          quant::HessianFactor::compute(cached, cols, method->gptq);
      if (!f)
        return user->emitError()
               << "qopt-quantize-weights: H of layer " << layer << " "
               << role.getValue() << ": " << llvm::toString(f.takeError());
      cachedFactor = std::move(*f);
    }
    cachedIndex = index;
  }
  h = cached;
  factor = cachedFactor ? &*cachedFactor : nullptr;
  return success();
}
