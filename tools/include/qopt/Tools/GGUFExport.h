//===- GGUFExport.h - A qopt model as a llama.cpp GGUF file -----*- C++ -*-===//
//
// Writes an imported (and possibly quantized) qopt model as a GGUF v3
// "llama" file that llama.cpp loads: the model's hyperparameters, the
// tokenizer's vocabulary (GGUF's SentencePiece "llama" form) and every
// weight. A weight quantized by qopt-quantize-weights with a type GGUF
// has is written bit for bit in that type, so llama.cpp computes with
// exactly qopt's codes and scales:
//   symmetric, groups of 32, 8 bits         -> Q8_0 (d = a, q = code - 128)
//   symmetric, groups of 32, 4 bits         -> Q4_0 (d = a, q = code)
//   symmetric int8 served at 4 bits (nested) -> Q4_0 (d = 16 a, q = S(code, 4))
// A weight imported from a K-quant with its two-level scales (`super =
// 256`, qopt-import's default) goes back as the K-quant blocks it came
// from (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), the same bytes as in the original
// file, so a K-quant GGUF re-quantized in part (e.g. `qopt-run quantize
// --roles`) keeps its other weights as they were. general.file_type is the
// type most quantized weights have (Q4_K: MOSTLY_Q4_K_M).
// A quantized weight whose rows are not a multiple of 32 cannot be a ggml
// block type: it is written dequantized as F32 (llama.cpp's own converter
// keeps such tensors in float). Any other quantization (asymmetric, other
// group sizes, other widths) is an error naming the weight. Float weights
// keep their type (F32, F16, BF16); norms are F32. A model with online
// Hadamard transforms (qopt-fold-rotations R3/R4) is refused: llama.cpp
// does not compute them. q/k rows of a rotate-half (Hugging Face) model
// are permuted to the interleaved order of GGUF llama.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_GGUFEXPORT_H
#define QOPT_TOOLS_GGUFEXPORT_H

#include "qopt/Model/Tokenizer.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace mlir {
namespace qopt {

struct GGUFExportOptions {
  /// The width a nested (Matryoshka) weight is exported at; 0: its parent
  /// width.
  unsigned servedBits = 0;
  /// general.name.
  std::string name = "qopt";
};

/// Writes `module` with `vocabulary` to the GGUF file `path`. Warnings (a
/// quantized weight written as F32) go to `warnings`, one line each.
llvm::Error exportGGUF(ModuleOp module,
                       const ::qopt::model::GGUFVocabulary &vocabulary,
                       llvm::StringRef path, const GGUFExportOptions &options,
                       std::vector<std::string> &warnings);

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_GGUFEXPORT_H
