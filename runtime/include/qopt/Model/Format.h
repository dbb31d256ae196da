//===- Format.h - Recognize a model file by its contents --------*- C++ -*-===//
//
// Which kind of model a path holds, decided by magic bytes where the format
// has them (GGUF, safetensors, MLIR bytecode, llama2.c's versioned exports)
// and by the shape of the header where it has none (llama2.c's legacy
// export, MLIR text), never by the file name alone. An unknown file gets a
// clear error instead of being read as llama2.c. Depends on LLVM Support
// only.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_FORMAT_H
#define QOPT_MODEL_FORMAT_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace qopt {
namespace model {

enum class ModelFormat {
  /// A GGUF file (magic "GGUF").
  GGUF,
  /// A .safetensors file (a little-endian u64 header size, then '{').
  Safetensors,
  /// A Hugging Face config.json or model.safetensors.index.json: a JSON
  /// object naming its checkpoint directory.
  HuggingFaceJSON,
  /// A directory with a config.json.
  HuggingFaceDirectory,
  /// karpathy/llama2.c's legacy export (seven int32, the first the model
  /// dimension), or one of its versioned exports (magic "ak42").
  Llama2c,
  /// MLIR bytecode (magic "ML\xEFR").
  MLIRBytecode,
  /// MLIR text (a module, a comment or an attribute alias first).
  MLIRText,
  /// A directory without a config.json (e.g. a qopt-run artifact; the
  /// caller knows those).
  Directory,
  /// None of the above.
  Unknown,
};

/// A short name of `format` for messages ("GGUF", "llama2.c", ...).
llvm::StringRef modelFormatName(ModelFormat format);

/// The format of `path` by its contents. Fails (naming the path) when it
/// does not exist or is neither a regular file nor a directory; only a
/// regular file is read, and only its first bytes.
llvm::Expected<ModelFormat> detectModelFormat(llvm::StringRef path);

/// The error for a file of unknown format: what qopt reads, and the file's
/// first bytes in hex.
llvm::Error unknownFormatError(llvm::StringRef path);

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_FORMAT_H
