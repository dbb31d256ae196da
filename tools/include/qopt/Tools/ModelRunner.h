//===- ModelRunner.h - Compile and run a qopt model -------------*- C++ -*-===//
//
// Takes an imported qopt model module, applies an optional user pipeline,
// lowers it with qopt-to-llvm and JIT-compiles it with MLIR's
// ExecutionEngine (or emits an object file for ahead-of-time use). The
// runner owns the KV cache and binds the weight table to the module's
// resource blobs, so weights are never copied.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_MODELRUNNER_H
#define QOPT_TOOLS_MODELRUNNER_H

#include "qopt/Model/Artifact.h"
#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Executor.h"
#include "qopt/Model/LargeBuffer.h"
#include "qopt/Tools/ModelImporter.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
namespace qopt {

using WidthSlot = ::qopt::model::WidthSlot;

/// Checks an ahead-of-time target: `cpu` must be an x86-64 CPU LLVM knows
/// (or empty / "native"), and every item of `features` ("+a,-b") a feature
/// of the x86 target. One-line errors.
llvm::Error checkTarget(llvm::StringRef cpu, llvm::StringRef features);

/// How a model is compiled.
struct CompileOptions {
  /// Extra passes (textual pass pipeline, e.g. "func.func(canonicalize)")
  /// run on the imported module before lowering.
  std::string pipeline;
  /// LLVM optimization level for the generated code.
  unsigned optLevel = 3;
  /// f32 lanes of the vector kernels; 0 picks the target's (16 with
  /// AVX-512F, else 8).
  int64_t vectorWidth = 0;
  /// Matmuls of quantized weights quantize their activations to int8 per
  /// block of 32 and use integer dot products (the integer path of
  /// docs/lowering.md, as llama.cpp does); false: the exact f32 path.
  bool int8Activations = true;
  /// Matmuls of f16 weights round their activations to f16 with a
  /// power-of-two scale per token (as llama.cpp's f16 path; docs/lowering.md,
  /// "f16 activations"); false: f32 activations, the exact path.
  bool f16Activations = true;
  /// How the integer path emits its dot products: "vnni" or "generic";
  /// empty picks the host's (hostIntDot).
  std::string intDot;
  /// The prefill GEMM multiplies with AMX tiles where the target has them
  /// (amxFor, amxBf16For); false: never.
  bool amx = true;
  /// With `amx`, the prefill GEMM multiplies bf16 weights (dequantized once
  /// per call) and bf16 activations on AMX-BF16 tiles where the target has
  /// them (amxBf16For) instead of int8 codes on AMX-INT8 tiles; decode keeps
  /// int8 activations.
  bool amxBf16 = true;
  /// Ahead of time only: the x86-64 CPU to compile for (LLVM's names, e.g.
  /// x86-64-v3, skylake-avx512) and features to add or remove ("+a,-b");
  /// empty or "native" is the host with all its features.
  std::string targetCPU;
  std::string targetFeatures;
  /// Extra symbols the JIT resolves for the compiled code (name, address):
  /// e.g. `qopt_observe` for a model instrumented for calibration. JIT only;
  /// an ahead-of-time artifact must not need any.
  std::vector<std::pair<std::string, void *>> symbols;
};

/// Threads of the compiled kernels' parallel loops (matmul rows, attention
/// heads): the OpenMP runtime's team size for calls from the calling thread.
/// `n` must be at least 1.
void setKernelThreads(unsigned n);
/// The team size the kernels use now.
unsigned kernelThreads();
/// Runs `body(thread, threads)` once on each thread of the kernels' OpenMP
/// team (the threads the compiled parallel loops run on, `thread` in
/// [0, threads)) and returns when all have: host code measured under the
/// kernels' own threads, with no thread started for it.
void onKernelThreads(llvm::function_ref<void(unsigned, unsigned)> body);
/// The cores this process may run on (its CPU affinity mask), at least 1:
/// the default for tools' -t.
unsigned availableCores();

/// A compiled model with its KV cache: JIT-compiled here, or an
/// ahead-of-time artifact loaded through the MLIR-free runtime
/// (qopt/Model/Artifact.h, the code libqopt_artifact runs). Either way the
/// runtime's ModelExecutor runs it.
class ModelRunner {
public:
  ~ModelRunner();

  /// Compiles `module` (consumed: it is lowered in place) for this host.
  static llvm::Expected<std::unique_ptr<ModelRunner>>
  compile(ModuleOp module, const CompileOptions &options);

  /// Ahead-of-time compilation: writes the artifact directory `dir`
  /// (qopt/Model/Artifact.h: manifest.json, model.so, weights.bin and a copy
  /// of the tokenizer file `tokenizerFile`, if not empty) for
  /// options.targetCPU. The object file is written to a temporary directory
  /// that is removed, and a failure removes what it wrote. `module` is
  /// lowered in place.
  static llvm::Error compileToDirectory(ModuleOp module,
                                        const CompileOptions &options,
                                        llvm::StringRef dir,
                                        llvm::StringRef tokenizerFile);

  /// True if `path` is an artifact directory written by compileToDirectory.
  static bool isArtifactDirectory(llvm::StringRef path);

  /// Loads an artifact directory (no MLIR involved). Returns the path of its
  /// tokenizer (empty if it has none) through `tokenizerPath`. With
  /// `copyWeights`, weights.bin is read into memory instead of mapped.
  static llvm::Expected<std::unique_ptr<ModelRunner>>
  loadArtifact(llvm::StringRef dir, std::string &tokenizerPath,
               bool copyWeights = false);

  const ::qopt::model::ModelConfig &config() const { return exec->config(); }
  /// The runtime's executor of the compiled code.
  ::qopt::model::ModelExecutor &executor() { return *exec; }

  /// See ModelExecutor::forward.
  llvm::Error forward(llvm::ArrayRef<int32_t> tokens, int64_t position,
                      float *logits) {
    return exec->forward(tokens, position, logits);
  }
  /// See ModelExecutor::reserve.
  llvm::Error reserve(int64_t positions) { return exec->reserve(positions); }
  /// Positions the KV cache holds now.
  int64_t cacheCapacity() const { return exec->cacheCapacity(); }
  /// The storage type of the KV cache.
  KVCacheType cacheType() const { return kvType; }
  /// Total bytes of the weights the compiled code reads.
  uint64_t weightBytes() const { return exec->weightBytes(); }
  /// See ModelExecutor::weightBytesRead.
  uint64_t weightBytesRead() const { return exec->weightBytesRead(); }
  /// The nested weights whose width is chosen at run time.
  llvm::ArrayRef<WidthSlot> widthSlots() const { return exec->widthSlots(); }
  /// Their current served widths (slot order).
  llvm::ArrayRef<int32_t> servedWidths() const { return exec->servedWidths(); }
  /// See ModelExecutor::setServedWidths.
  llvm::Error setServedWidths(unsigned bits, llvm::StringRef layerBits) {
    return exec->setServedWidths(bits, layerBits);
  }
  /// The weights, in weight-table order.
  llvm::ArrayRef<::qopt::model::WeightSpan> weightBuffers() const {
    return exec->weights();
  }
  /// See ModelExecutor::replaceWeight.
  llvm::Error replaceWeight(llvm::StringRef name, const void *data,
                            size_t bytes) {
    return exec->replaceWeight(name, data, bytes);
  }
  /// Bytes of the KV cache allocated now (keys and values).
  uint64_t cacheBytes() const { return exec->cacheBytes(); }
  /// The micro-kernel compiled for the prefill GEMM of quantized weights:
  /// "exact" (f32 activations), "amx-bf16", "amx-int8", "vnni" or "generic"
  /// (int8 activations); for an artifact, what its manifest records (empty
  /// if it records none).
  llvm::StringRef prefillGemm() const { return prefillGemmName; }

private:
  ModelRunner() = default;

  std::unique_ptr<ExecutionEngine> engine;
  /// The JIT's weights, moved out of the module's resource blobs
  /// (packWeights in ModelRunner.cpp).
  ::qopt::model::LargeBuffer weightArena;
  /// An ahead-of-time artifact (owns the executor's code and weights).
  std::unique_ptr<::qopt::model::Artifact> artifact;
  /// The executor, pointing into `engine` or `artifact`.
  std::unique_ptr<::qopt::model::ModelExecutor> ownExecutor;
  ::qopt::model::ModelExecutor *exec = nullptr;
  KVCacheType kvType = KVCacheType::F32;
  std::string prefillGemmName;
};

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_MODELRUNNER_H
