//===- ExportWeights.cpp - Weights of the GGUF export ---------------------===//
//
// See ExportWeights.h.
//
//===----------------------------------------------------------------------===//

#include "ExportWeights.h"

#include "qopt/Runtime/Storage.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;
namespace rt = ::qopt::runtime;

llvm::Error gguf_export::exportError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// The element bytes of a constant (a splat expanded).
llvm::Expected<std::vector<char>>
gguf_export::constantBytes(Value value, const llvm::Twine &what) {
  auto cst = value.getDefiningOp<arith::ConstantOp>();
  if (!cst)
    return exportError(what + " is not a constant");
  auto type = cast<ShapedType>(cst.getType());
  int64_t n = type.getNumElements();
  unsigned width = type.getElementType().getIntOrFloatBitWidth();
  if (width % 8 != 0)
    return exportError(what + " has " + llvm::Twine(width) + "-bit elements");
  size_t bytes = static_cast<size_t>(n) * (width / 8);
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(cst.getValue())) {
    ArrayRef<char> data = resource.getData();
    if (data.size() != bytes)
      return exportError(what + " has no data (elided resource)");
    return std::vector<char>(data.begin(), data.end());
  }
  auto dense = dyn_cast<DenseElementsAttr>(cst.getValue());
  if (!dense)
    return exportError(what + " is not a dense constant");
  ArrayRef<char> raw = dense.getRawData();
  std::vector<char> out(bytes);
  if (dense.isSplat()) {
    for (size_t i = 0; i < bytes; i += width / 8)
      std::memcpy(out.data() + i, raw.data(), width / 8);
  } else {
    std::memcpy(out.data(), raw.data(), bytes);
  }
  return out;
}

/// The original row of output row `row` when q/k rows are permuted from
/// rotate-half to interleaved pairs (identity when `headDim` is 0).
llvm::Expected<gguf_export::PackBytes>
gguf_export::packBytes(PackOp pack, const llvm::Twine &name) {
  PackBytes bytes;
  auto read = [&](Value part, const char *what,
                  std::vector<char> &out) -> llvm::Error {
    llvm::Expected<std::vector<char>> data =
        constantBytes(part, name + " " + what);
    if (!data)
      return data.takeError();
    out = std::move(*data);
    return llvm::Error::success();
  };
  if (llvm::Error err = read(pack.getCodes(), "codes", bytes.codes))
    return std::move(err);
  if (llvm::Error err = read(pack.getScales(), "scales", bytes.scales))
    return std::move(err);
  if (pack.getZeros())
    if (llvm::Error err = read(pack.getZeros(), "zeros", bytes.zeros))
      return std::move(err);
  return bytes;
}

llvm::Error gguf_export::checkExportWidth(StringRef name, QTensorType type,
                                          unsigned servedBits) {
  unsigned c = type.getBits();
  if (servedBits == 0 || servedBits >= c || type.getLayout() == Layout::Nested)
    return llvm::Error::success();
  return exportError("weight '" + name + "' is static " + llvm::Twine(c) +
                     "-bit; only a nested model is exported at another width");
}

int64_t gguf_export::sourceRow(int64_t row, int64_t headDim) {
  if (headDim == 0)
    return row;
  int64_t head = row / headDim, i = row % headDim, half = headDim / 2;
  return head * headDim + (i % 2) * half + i / 2;
}

llvm::Expected<model::GGMLType>
gguf_export::writeKQuantWeight(model::GGUFWriter &writer, StringRef name,
                               PackOp pack, int64_t headDim,
                               unsigned servedBits) {
  auto qt = cast<QTensorType>(pack.getType());
  unsigned c = qt.getBits();
  if (llvm::Error err = checkExportWidth(name, qt, servedBits))
    return std::move(err);
  std::optional<model::GGMLType> type =
      model::kquantTypeOf(c, qt.getGroupSize(), qt.isAsymmetric(),
                          qt.getSuperGroup(), qt.getSubBits());
  if (qt.getLayout() != Layout::Dense || !type)
    return exportError(
        "weight '" + name + "' has two-level scales (" + llvm::Twine(c) +
        "-bit, groups of " + llvm::Twine(qt.getGroupSize()) +
        ", sub = " + llvm::Twine(qt.getSubBits()) +
        ") that no GGUF K-quant holds (Q2_K..Q6_K as qopt-import makes "
        "them)");
  llvm::Expected<PackBytes> parts = packBytes(pack, name);
  if (!parts)
    return parts.takeError();
  const std::vector<char> &scales = parts->scales, &zeros = parts->zeros;
  int64_t rows = qt.getShape()[0], cols = qt.getShape()[1];
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
  rt::unpackDenseRows(reinterpret_cast<const uint8_t *>(parts->codes.data()),
                      rows, cols, c, codes.data());
  // The rows in the file's order.
  model::TwoLevelQuantized q;
  q.bits = c;
  q.groupSize = qt.getGroupSize();
  q.superSize = qt.getSuperGroup();
  q.subBits = qt.getSubBits();
  q.asymmetric = qt.isAsymmetric();
  q.recordBytes = qt.getRecordBytes();
  int64_t rowRecords = cols / q.superSize * q.recordBytes;
  q.codes.resize(codes.size());
  q.scaleRecords.resize(static_cast<size_t>(rows * rowRecords));
  q.minRecords.resize(q.asymmetric ? q.scaleRecords.size() : 0);
  for (int64_t row = 0; row < rows; ++row) {
    int64_t src = sourceRow(row, headDim);
    std::memcpy(q.codes.data() + row * cols, codes.data() + src * cols, cols);
    std::memcpy(q.scaleRecords.data() + row * rowRecords,
                scales.data() + src * rowRecords, rowRecords);
    if (q.asymmetric)
      std::memcpy(q.minRecords.data() + row * rowRecords,
                  zeros.data() + src * rowRecords, rowRecords);
  }
  llvm::Expected<std::vector<uint8_t>> blocks = model::packTwoLevelKQuant(q);
  if (!blocks)
    return exportError("weight '" + name +
                       "': " + llvm::toString(blocks.takeError()));
  writer.addTensor(name, *type, qt.getShape(), *blocks);
  return *type;
}
