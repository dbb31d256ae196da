//===- ExportWeights.h - Weights of the GGUF export ------------*- C++ -*-===//
//
// Pieces of the GGUF export (GGUFExport.cpp) that read a weight's constant
// data and write K-quant tensors: an imported K-quant (two-level scales,
// `super = 256`) goes back into the file as the blocks it came from.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_LIB_EXPORT_EXPORTWEIGHTS_H
#define QOPT_TOOLS_LIB_EXPORT_EXPORTWEIGHTS_H

#include "qopt/Dialect/QOpt/QOptOps.h"
#include "qopt/Model/GGUFWriter.h"

#include "llvm/Support/Error.h"

#include <vector>

namespace mlir::qopt::gguf_export {

/// An error of the export with `message`.
llvm::Error exportError(const llvm::Twine &message);

/// The element bytes of constant `value` (a splat expanded); `what` names
/// it in errors (not a constant, elided data, sub-byte elements).
llvm::Expected<std::vector<char>> constantBytes(Value value,
                                                const llvm::Twine &what);

/// The storage bytes of a constant pack's parts (`zeros` empty when it has
/// none); `name` names the weight in errors.
struct PackBytes {
  std::vector<char> codes, scales, zeros;
};
llvm::Expected<PackBytes> packBytes(PackOp pack, const llvm::Twine &name);

/// An error when weight `name` of `type` would be exported at `servedBits`
/// (0: its own width) below its width without being nested.
llvm::Error checkExportWidth(StringRef name, QTensorType type,
                             unsigned servedBits);

/// The original row of output row `row` when q/k rows are permuted from
/// rotate-half to interleaved pairs (identity when `headDim` is 0).
int64_t sourceRow(int64_t row, int64_t headDim);

/// Writes the two-level weight `pack` (a constant pack of dense codes and
/// `super = 256` records) as tensor `name` of the K-quant type its form is
/// (model::kquantTypeOf), holding exactly its numbers, rows permuted as
/// sourceRow(., headDim) says. Returns that type; an error for a form no
/// K-quant has, numbers that do not fit the type, or `servedBits` below
/// the weight's width (a static weight is exported at its own width).
llvm::Expected<::qopt::model::GGMLType>
writeKQuantWeight(::qopt::model::GGUFWriter &writer, StringRef name,
                  PackOp pack, int64_t headDim, unsigned servedBits);

} // namespace mlir::qopt::gguf_export

#endif // QOPT_TOOLS_LIB_EXPORT_EXPORTWEIGHTS_H
