//===- QuantizedWeight.cpp - Block-quantized matrices of a checkpoint -----===//
//
// See QuantizedWeight.h.
//
//===----------------------------------------------------------------------===//

#include "QuantizedWeight.h"

#include "GroupScales.h"
#include "ResidentBlob.h"

#include "qopt/Runtime/Storage.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::qopt;
namespace model = ::qopt::model;

/// `codes` (one per byte) as the dense storage form of `bits`-bit codes of a
/// [rows, cols] matrix: packed rows below 8 bits, so a quantized model
/// takes about the memory of its file.
static DenseResourceElementsAttr codesAttr(OpBuilder &b, StringRef name,
                                           ArrayRef<int64_t> shape,
                                           const std::vector<uint8_t> &codes,
                                           unsigned bits) {
  int64_t rows = shape[0], cols = shape[1];
  SmallVector<int64_t> codesShape(shape);
  std::vector<uint8_t> packed;
  const std::vector<uint8_t> *codeBytes = &codes;
  if (bits < 8) {
    codesShape.back() = int64_t(::qopt::runtime::denseRowBytes(cols, bits));
    packed.resize(::qopt::runtime::denseStorageBytes(rows, cols, bits));
    ::qopt::runtime::packDenseRows(codes.data(), rows, cols, bits,
                                   packed.data());
    codeBytes = &packed;
  }
  return DenseResourceElementsAttr::get(
      RankedTensorType::get(codesShape, b.getI8Type()), (name + ".codes").str(),
      residentBlob(ArrayRef<uint8_t>(*codeBytes)));
}

/// A K-quant matrix with its two-level scales (KQuantScales::TwoLevel).
static llvm::Expected<QuantizedWeight>
twoLevelWeight(MLIRContext &ctx, const model::Checkpoint &ckpt, StringRef name,
               const model::TensorRef &t) {
  OpBuilder b(&ctx);
  Type f32 = b.getF32Type();
  llvm::Expected<model::TwoLevelQuantized> q = model::toTwoLevelQuantized(t);
  if (!q)
    return q.takeError();
  QuantizedWeight w;
  w.type = QTensorType::get(
      &ctx, t.shape, f32, q->bits, /*parentBits=*/0u,
      q->asymmetric ? QuantScheme::Asymmetric : QuantScheme::Symmetric,
      Granularity::Group, q->groupSize, /*axis=*/1, Layout::Dense,
      b.getF16Type(), q->superSize, q->subBits);
  w.codes = codesAttr(b, name, t.shape, q->codes, q->bits);
  RankedTensorType recordsType = w.type.getScalesType();
  w.scales = DenseResourceElementsAttr::get(
      recordsType, (name + ".scales").str(),
      residentBlob(ArrayRef<uint8_t>(q->scaleRecords)));
  if (q->asymmetric)
    w.zeros = DenseResourceElementsAttr::get(
        recordsType, (name + ".zeros").str(),
        residentBlob(ArrayRef<uint8_t>(q->minRecords)));
  ckpt.releasePages(t);
  return w;
}

llvm::Expected<QuantizedWeight> mlir::qopt::importQuantizedWeight(
    MLIRContext &ctx, const model::Checkpoint &ckpt, StringRef name,
    const model::TensorRef &t, KQuantScales kquantScales) {
  if (model::isKQuant(t.dtype) && kquantScales == KQuantScales::TwoLevel)
    return twoLevelWeight(ctx, ckpt, name, t);
  OpBuilder b(&ctx);
  Type f32 = b.getF32Type();
  llvm::Expected<model::BlockQuantized> q = model::toBlockQuantized(t);
  if (!q)
    return q.takeError();
  int64_t rows = t.shape[0], cols = t.shape[1];
  if (cols % q->groupSize != 0)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        llvm::Twine(ckpt.path) + ": tensor '" + name + "' has rows of " +
            llvm::Twine(cols) + " elements, not a multiple of its block size");
  QuantizedWeight w;
  // The file's f16 block scales stay f16 (the kernels widen them exactly):
  // the weight then takes the file's bytes, as llama.cpp reads them.
  // K-quant scales and zero points are computed values, f16 only when
  // asked (rounded; a 2-bit weight's f32 pair costs 4 bits per weight).
  bool half = q->halfScales ||
              (kquantScales == KQuantScales::F16 && model::isKQuant(t.dtype) &&
               groupValuesFitHalf(q->scales, q->zeros));
  Type scaleType = half ? Type(b.getF16Type()) : Type(f32);
  w.type = QTensorType::get(
      &ctx, t.shape, f32, q->bits, /*parentBits=*/0u,
      q->asymmetric ? QuantScheme::Asymmetric : QuantScheme::Symmetric,
      Granularity::Group, q->groupSize, /*axis=*/1, Layout::Dense, scaleType,
      /*superGroup=*/0, /*subBits=*/0);
  w.codes = codesAttr(b, name, t.shape, q->codes, q->bits);
  auto groupsType =
      RankedTensorType::get({rows, cols / q->groupSize}, scaleType);
  w.scales = DenseResourceElementsAttr::get(
      groupsType, (name + ".scales").str(), groupValuesBlob(q->scales, half));
  // The module holds its own copy: the file's pages need not stay resident.
  ckpt.releasePages(t);
  if (q->asymmetric)
    w.zeros = DenseResourceElementsAttr::get(
        groupsType, (name + ".zeros").str(), groupValuesBlob(q->zeros, half));
  return w;
}
