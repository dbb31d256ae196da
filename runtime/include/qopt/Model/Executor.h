//===- Executor.h - Run a compiled qopt model -------------------*- C++ -*-===//
//
// The run-time half of a compiled model, shared by the JIT (qopt-run's
// ModelRunner) and ahead-of-time artifacts (Artifact.h, the C API of
// QOptArtifact.h): the KV cache, the weight table, the served widths of the
// nested weights and the calling convention of the compiled entry points
// (llvm.emit_c_interface memref descriptors). Depends on LLVM Support only:
// no MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_EXECUTOR_H
#define QOPT_MODEL_EXECUTOR_H

#include "qopt/Model/Checkpoint.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qopt {
namespace model {

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

/// A weight the compiled code reads: its name and bytes.
struct WeightSpan {
  std::string name;
  const char *data = nullptr;
  size_t bytes = 0;
};

/// The compiled entry points `prefill` and `decode`:
/// (tokens, position, key cache, value cache, weight table, widths, logits),
/// each a pointer to a memref descriptor except the position.
using ModelEntryFn = void (*)(void *, int64_t, void *, void *, void *, void *,
                              void *);

/// What an executor needs of the compiled code.
struct ExecutorSetup {
  ModelConfig config;
  /// Bytes of one KV cache element (4 for f32, 2 for f16/bf16).
  unsigned cacheElementBytes = 4;
  /// The code's static sequence extent (the cache cannot grow), or 0.
  int64_t staticPositions = 0;
  ModelEntryFn prefill = nullptr, decode = nullptr;
  /// In the order of the compiled code's weight table.
  std::vector<WeightSpan> weights;
  std::vector<WidthSlot> slots;
};

/// Makes the C heap keep the buffers a forward pass frees (glibc: no mmap
/// for blocks under 32 MiB, no trimming of the heap's top) so that the next
/// pass reuses them instead of mapping and zero-filling fresh pages: the
/// compiled code allocates its activations per call (tens of MB each in a
/// 7B prefill). The process's RSS then stays at its peak. A process-wide
/// policy, for tools that run inference (qopt-run); a no-op elsewhere.
void retainInferenceBuffers();

/// Returns the C heap's free pages to the system (glibc `malloc_trim`), not
/// only its top: for the end of a compilation, whose memory is then free
/// but scattered through the heap. A no-op elsewhere.
void releaseFreedMemory();

/// Runs a compiled model: owns its KV cache and weight table.
class ModelExecutor {
public:
  /// Checks `setup` and makes an executor; allocates the whole cache when
  /// the code has a static extent.
  static llvm::Expected<std::unique_ptr<ModelExecutor>>
  create(ExecutorSetup setup);
  ~ModelExecutor();

  const ModelConfig &config() const { return setup.config; }

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
  /// many if it has to grow). Fails beyond the model's context. Never
  /// shrinks.
  llvm::Error reserve(int64_t positions);
  /// Positions the KV cache holds now.
  int64_t cacheCapacity() const { return capacity; }
  /// Bytes of the KV cache allocated now (keys and values).
  uint64_t cacheBytes() const;

  /// Total bytes of the weights the compiled code reads.
  uint64_t weightBytes() const { return weightByteCount; }
  /// Bytes of weights one forward call reads at the current served widths:
  /// a nested weight served at r of its P bits reads min(r + 1, P) of its P
  /// bit planes.
  uint64_t weightBytesRead() const;
  /// The weights, in weight-table order.
  llvm::ArrayRef<WeightSpan> weights() const { return setup.weights; }
  /// Makes the compiled code read weight `name` from `data` from now on.
  /// `data` must hold exactly as many bytes as the weight it replaces and
  /// outlive its use.
  llvm::Error replaceWeight(llvm::StringRef name, const void *data,
                            size_t bytes);

  /// The nested weights whose width is chosen at run time.
  llvm::ArrayRef<WidthSlot> widthSlots() const { return setup.slots; }
  /// Their current served widths (slot order).
  llvm::ArrayRef<int32_t> servedWidths() const { return widths; }
  /// Serves every nested weight at `bits` (0: its parent width), then
  /// applies `layerBits`, a comma list of `SELECTOR:BITS` rules (later rules
  /// win). SELECTOR is a layer `N`, a range `N-M`, a role (`q k v o gate up
  /// down embedding classifier`, `attn`, `mlp`), `*`, or `LAYERS.ROLE`.
  /// Fails, changing nothing, on a malformed rule or one that selects no
  /// weight.
  llvm::Error setServedWidths(unsigned bits, llvm::StringRef layerBits);

private:
  ModelExecutor() = default;
  /// Re-allocates both caches for `positions` positions, keeping each
  /// layer's stored rows. Fails, changing nothing, when the memory cannot be
  /// had.
  llvm::Error resizeCache(int64_t positions);

  /// Anonymous zero pages, committed on first write.
  struct CacheBuffer {
    uint8_t *data = nullptr;
    size_t bytes = 0;
  };
  static void release(CacheBuffer &buffer);

  ExecutorSetup setup;
  std::vector<int64_t> weightTable;
  uint64_t weightByteCount = 0;
  std::vector<int32_t> widths;
  int64_t capacity = 0;
  CacheBuffer keyCache, valueCache;
};

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_EXECUTOR_H
