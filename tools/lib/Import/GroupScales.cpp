//===- GroupScales.cpp - Storage of imported group scales -----------------===//
//
// See GroupScales.h.
//
//===----------------------------------------------------------------------===//

#include "GroupScales.h"

#include "ResidentBlob.h"

#include "qopt/Model/GGUFWriter.h"

#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <vector>

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;

bool mlir::qopt::groupValuesFitHalf(ArrayRef<float> scales,
                                    ArrayRef<float> zeros) {
  bool scalesFit = llvm::all_of(scales, [](float v) {
    float a = std::fabs(v);
    return a <= 65504.0f &&
           (a >= 0x1p-14f || model::halfToFloat(model::floatToHalf(v)) == v);
  });
  // A zero point then moves by at most 2^-11 of itself or 2^-25.
  return scalesFit &&
         llvm::all_of(zeros, [](float v) { return std::fabs(v) <= 65504.0f; });
}

AsmResourceBlob mlir::qopt::groupValuesBlob(ArrayRef<float> values, bool half) {
  if (!half)
    return residentBlob(values);
  std::vector<uint16_t> bits(values.size());
  for (auto [h, v] : llvm::zip_equal(bits, values))
    h = model::floatToHalf(v);
  return residentBlob(ArrayRef<uint16_t>(bits));
}
