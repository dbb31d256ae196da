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

#include "qopt/Model/Checkpoint.h"
#include "qopt/Tools/ArtifactManifest.h"
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

/// How a model is compiled.
struct CompileOptions {
  /// Extra passes (textual pass pipeline, e.g. "func.func(canonicalize)")
  /// run on the imported module before lowering.
  std::string pipeline;
  /// LLVM optimization level for the generated code.
  unsigned optLevel = 3;
  /// f32 lanes of the vector kernels; 0 picks the host's (16 with AVX-512F,
  /// else 8).
  int64_t vectorWidth = 0;
  /// Matmuls of quantized weights quantize their activations to int8 per
  /// block of 32 and use integer dot products (the integer path of
  /// docs/lowering.md, as llama.cpp does); false: the exact f32 path.
  bool int8Activations = true;
  /// How the integer path emits its dot products: "vnni" or "generic";
  /// empty picks the host's (hostIntDot).
  std::string intDot;
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
/// The cores this process may run on (its CPU affinity mask), at least 1:
/// the default for tools' -t.
unsigned availableCores();

/// A compiled model with its KV cache.
class ModelRunner {
public:
  ~ModelRunner();

  /// Compiles `module` (consumed: it is lowered in place) for this host.
  static llvm::Expected<std::unique_ptr<ModelRunner>>
  compile(ModuleOp module, const CompileOptions &options);

  /// Ahead-of-time compilation: writes the artifact directory `dir`:
  ///   model.mlirbc   the module after the user pipeline (weights)
  ///   model.o        position-independent object code for this CPU
  ///   model.so       model.o linked as a shared library (needs `cc`)
  ///   manifest.json  configuration, weight table order, tokenizer source
  /// `module` is lowered in place. `tokenizerSource` is recorded so the
  /// artifact can find its tokenizer later.
  static llvm::Error compileToDirectory(ModuleOp module,
                                        const CompileOptions &options,
                                        llvm::StringRef dir,
                                        llvm::StringRef tokenizerSource);

  /// True if `path` is an artifact directory written by compileToDirectory.
  static bool isArtifactDirectory(llvm::StringRef path);

  /// Loads an artifact directory: dlopens model.so and binds its weight
  /// table to the resources of model.mlirbc, parsed into `context` (which
  /// must outlive the runner). Returns the tokenizer source recorded in the
  /// manifest through `tokenizerSource`.
  static llvm::Expected<std::unique_ptr<ModelRunner>>
  loadArtifact(MLIRContext &context, llvm::StringRef dir,
               std::string &tokenizerSource);

  const ::qopt::model::ModelConfig &config() const { return cfg; }

  /// Runs `tokens` at positions `position .. position + n - 1` and writes
  /// the logits of every token to `logits` (n x vocab). One token uses the
  /// decode function, more use prefill. Fails (without running) if a token
  /// id or a position is out of range. Grows the KV cache when the
  /// positions exceed its capacity (geometrically, at most to the model's
  /// context; exactly as needed when twice the capacity cannot be
  /// allocated), keeping the rows already stored, and fails when even that
  /// memory cannot be had.
  llvm::Error forward(llvm::ArrayRef<int32_t> tokens, int64_t position,
                      float *logits);

  /// Makes the KV cache hold at least `positions` positions (exactly that
  /// many if it has to grow), so that a run whose length is known up front
  /// never re-allocates. Fails beyond the model's context. Never shrinks.
  llvm::Error reserve(int64_t positions);
  /// Positions the KV cache holds now.
  int64_t cacheCapacity() const { return capacity; }
  /// The storage type of the KV cache (from the module's IR).
  KVCacheType cacheType() const { return kvType; }

  /// Total bytes of the weights the compiled code reads.
  uint64_t weightBytes() const { return weightByteCount; }
  /// Bytes of weights one forward call reads at the current served widths:
  /// a nested weight served at r of its P bits reads min(r + 1, P) of its P
  /// bit planes.
  uint64_t weightBytesRead() const;
  /// The nested weights whose width is chosen at run time.
  llvm::ArrayRef<WidthSlot> widthSlots() const { return slots; }
  /// Their current served widths (slot order).
  llvm::ArrayRef<int32_t> servedWidths() const { return widths; }
  /// Serves every nested weight at `bits` (0: its parent width), then
  /// applies `layerBits`, a comma list of `SELECTOR:BITS` rules applied in
  /// order (later rules win). SELECTOR is a layer `N`, a layer range `N-M`,
  /// a role (`q k v o gate up down embedding classifier`, also `attn` for
  /// q,k,v,o and `mlp` for gate,up,down), `*`, or `LAYERS.ROLE` (e.g.
  /// `0-1.down`). BITS in 1..8; a width at or above a weight's parent width
  /// serves the parent. Fails, changing nothing, on a malformed rule or one
  /// that selects no weight.
  llvm::Error setServedWidths(unsigned bits, llvm::StringRef layerBits);
  /// The weight buffers, in weight-table order.
  llvm::ArrayRef<std::pair<const char *, size_t>> weightBuffers() const {
    return weightSpans;
  }
  /// Makes the compiled code read weight `name` (a resource name of the
  /// weight table) from `data` from now on, instead of the module's blob.
  /// `data` must hold exactly as many bytes as the weight it replaces and
  /// outlive its use. Sequential calibration runs the model with the
  /// weights of its first blocks replaced by their quantized values.
  llvm::Error replaceWeight(llvm::StringRef name, const void *data,
                            size_t bytes);
  /// Bytes of the KV cache allocated now (keys and values).
  uint64_t cacheBytes() const;

private:
  ModelRunner() = default;

  /// Binds the entry points and sets up the KV cache of type `cache`.
  llvm::Error finishSetup(void *prefill, void *decode,
                          const KVCacheInfo &cache);
  /// Re-allocates both caches for `positions` positions, copying each
  /// layer's stored rows. Fails, changing nothing, when the memory cannot be
  /// had.
  llvm::Error resizeCache(int64_t positions);

  /// A zero-initialized, page-aligned byte buffer of anonymous memory: its
  /// pages take memory when first written, so positions that a run
  /// reserves but never reaches cost none.
  struct CacheBuffer {
    /// Unmaps the `bytes` bytes of a buffer.
    struct Unmap {
      size_t bytes;
      void operator()(uint8_t *p) const;
    };
    std::unique_ptr<uint8_t, Unmap> data;
  };

  ::qopt::model::ModelConfig cfg;
  std::unique_ptr<ExecutionEngine> engine;
  /// dlopen handle of an ahead-of-time compiled model.
  void *library = nullptr;
  /// Keeps the parsed weights of an artifact alive.
  OwningOpRef<ModuleOp> weightsModule;
  using EntryFn = void (*)(void *, int64_t, void *, void *, void *, void *,
                           void *);
  EntryFn prefillFn = nullptr, decodeFn = nullptr;
  std::vector<int64_t> weightTable;
  /// Resource names of the weight table entries.
  std::vector<std::string> weightNames;
  /// The width table: the width each nested weight is served at.
  std::vector<WidthSlot> slots;
  std::vector<int32_t> widths;
  std::vector<std::pair<const char *, size_t>> weightSpans;
  uint64_t weightByteCount = 0;
  /// The KV cache: [layers, capacity, kvDim] elements of `kvType` each
  /// (raw bytes: 16-bit types are stored as their bit patterns).
  KVCacheType kvType = KVCacheType::F32;
  /// The compiled code's static sequence extent (a module imported before
  /// the extent became dynamic: the cache cannot grow), or 0.
  int64_t staticPositions = 0;
  int64_t capacity = 0;
  CacheBuffer keyCache, valueCache;
};

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_MODELRUNNER_H
