//===- Artifact.h - Ahead-of-time compiled model artifacts ------*- C++ -*-===//
//
// An artifact directory (`qopt-run compile -o DIR`) holds
//   manifest.json   this file's ArtifactManifest: the model's configuration,
//                   the weight table (name, offset, bytes), the width table,
//                   the target CPU and features, the tokenizer's file name
//   model.so        the compiled code (position-independent, links libomp)
//   weights.bin     the weights, each at a 64-byte aligned offset
//   tokenizer.*     a copy of the tokenizer (tokenizer.json with its
//                   tokenizer_config.json, tokenizer.bin, or tokenizer.gguf)
// Every file is named relative to the directory, so an artifact can be moved.
// Reading and loading one needs no MLIR: this is what libqopt_artifact (the C
// API, QOptArtifact.h) and qopt-run share. Everything in a manifest is
// untrusted.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_ARTIFACT_H
#define QOPT_MODEL_ARTIFACT_H

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Executor.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qopt {
namespace model {

/// The manifest's file name in an artifact directory, and its format tag.
inline constexpr llvm::StringLiteral kArtifactManifest = "manifest.json";
inline constexpr llvm::StringLiteral kArtifactFormat = "qopt-aot-2";
/// The alignment of every weight in weights.bin.
inline constexpr uint64_t kArtifactWeightAlignment = 64;

/// One entry of the weight table: a weight's bytes in the weights file.
struct ArtifactWeight {
  std::string name;
  uint64_t offset = 0, bytes = 0;
};

/// What manifest.json records.
struct ArtifactManifest {
  /// File names inside the artifact directory (never paths out of it).
  std::string library, weights;
  /// The tokenizer's file name, or empty: none was found at compile time.
  std::string tokenizer;
  /// The model's shape (what running it needs; the rest is in the code).
  ModelConfig config;
  /// The KV cache's element type: f32, f16 or bf16.
  std::string kvType;
  /// The code's static sequence extent, or 0 (the cache grows).
  int64_t staticPositions = 0;
  /// In the order of the compiled code's weight table.
  std::vector<ArtifactWeight> weightTable;
  /// The nested weights whose width is chosen at run time.
  std::vector<WidthSlot> widthTable;
  /// What the code was compiled for. `targetFeatures` are the instruction
  /// set features it may use (LLVM's names: avx2, avx512f, ...): a CPU
  /// without one of them cannot run it.
  std::string targetTriple, targetCPU;
  std::vector<std::string> targetFeatures;
  /// The micro-kernel of the prefill GEMM of quantized weights the code was
  /// compiled with (exact, amx-bf16, amx-int8, vnni or generic), or empty:
  /// not recorded (artifacts written before it was).
  std::string prefillGemm;
};

/// Bytes of one KV cache element of type `kvType` (f32, f16, bf16), or 0.
unsigned kvElementBytes(llvm::StringRef kvType);

/// Reads and checks the manifest `path`: JSON under qopt's limits
/// (qopt/Model/Input.h), the format tag, the required keys, their types and
/// ranges, and that every file it names is a plain file name (no absolute
/// path, no `..`, no directory). Errors name the file and what is wrong.
llvm::Expected<ArtifactManifest> readArtifactManifest(llvm::StringRef path);

/// Writes `manifest` to `path` as JSON.
llvm::Error writeArtifactManifest(llvm::StringRef path,
                                  const ArtifactManifest &manifest);

/// The target features of `features` that this CPU lacks (empty: it can run
/// code compiled for them).
std::vector<std::string>
missingHostFeatures(llvm::ArrayRef<std::string> features);

/// A loaded artifact: its weights mapped, its code loaded, its executor.
class Artifact {
public:
  /// Loads the artifact directory `dir`: reads the manifest, refuses an
  /// artifact whose target features this CPU lacks, maps weights.bin and
  /// dlopens model.so. Nothing of `dir` is trusted.
  /// With `copyWeights`, weights.bin is read into memory the artifact owns
  /// (huge pages, qopt/Model/LargeBuffer.h) instead of mapped.
  static llvm::Expected<std::unique_ptr<Artifact>>
  open(llvm::StringRef dir, bool copyWeights = false);
  ~Artifact();

  const ArtifactManifest &manifest() const { return info; }
  ModelExecutor &executor() { return *exec; }
  /// The path of the artifact's tokenizer, or empty if it has none.
  std::string tokenizerPath() const;
  /// The threads of the compiled kernels, 1..1024: the OpenMP team size
  /// (omp_set_num_threads of the libomp that model.so links), which applies
  /// to the parallel regions the calling thread starts.
  llvm::Error setThreads(int threads);
  /// The team size of the calling thread's next parallel region.
  int threads() const;

private:
  Artifact() = default;
  /// Maps (or reads) the weights file and checks the weight table against
  /// its size.
  llvm::Error mapWeights(llvm::StringRef path, bool copy);

  std::string dir;
  ArtifactManifest info;
  std::unique_ptr<ModelExecutor> exec;
  void *library = nullptr;
  void *weightData = nullptr;
  size_t weightSize = 0;
};

/// True if `path` is a directory with a manifest.json.
bool isArtifactDirectory(llvm::StringRef path);

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_ARTIFACT_H
