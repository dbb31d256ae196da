//===- ArtifactManifest.h - The manifest of a compiled artifact -*- C++ -*-===//
//
// An ahead-of-time artifact directory (ModelRunner::compileToDirectory) is
// described by manifest.json. Reading it needs no MLIR: the reader is
// separate so that it can be fuzzed on its own (fuzz/fuzz-manifest.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_ARTIFACTMANIFEST_H
#define QOPT_TOOLS_ARTIFACTMANIFEST_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir {
namespace qopt {

/// The manifest's file name in an artifact directory, and its format tag.
inline constexpr llvm::StringLiteral kArtifactManifest = "manifest.json";
inline constexpr llvm::StringLiteral kArtifactFormat = "qopt-aot-1";

/// A weight stored in the nested (Matryoshka bit-plane) layout whose served
/// width is a run-time parameter of the compiled code: one entry of the
/// module's `qopt.width_table`.
struct WidthSlot {
  /// The resource name of its codes (e.g. `layers.0.wq.codes`).
  std::string name;
  /// The parent width P: serving P bits (the default) is the full model.
  unsigned parentBits = 8;
  /// The decoder layer, or -1 (embedding, classifier, untagged).
  int64_t layer = -1;
  /// q, k, v, o, gate, up, down, embedding, classifier, or empty.
  std::string role;
};

/// What manifest.json records.
struct ArtifactManifest {
  /// File names inside the artifact directory (never paths out of it).
  std::string library, weights;
  /// The tokenizer the artifact was compiled with (may be empty).
  std::string tokenizerSource;
  /// The KV cache type recorded (may be empty: older artifacts).
  std::string kvType;
  /// Resource names of the weights, in the order of the compiled code's
  /// weight table.
  std::vector<std::string> weightTable;
  /// The nested weights whose width is chosen at run time.
  std::vector<WidthSlot> widthTable;
};

/// Reads and checks the manifest `path`: JSON under qopt's limits
/// (qopt/Model/Input.h), the format tag, the required keys and their types.
/// Errors name the file and what is wrong.
llvm::Expected<ArtifactManifest> readArtifactManifest(llvm::StringRef path);

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_ARTIFACTMANIFEST_H
