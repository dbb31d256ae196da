//===- ModelImporter.h - Checkpoints to qopt MLIR ---------------*- C++ -*-===//
//
// Builds the qopt model module of a loaded checkpoint: `prefill` and
// `decode` functions made of qopt model ops, with every weight held in a
// `dense_resource` blob (never a text literal), referencing the checkpoint's
// mapped memory where the dtype is f32.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_MODELIMPORTER_H
#define QOPT_TOOLS_MODELIMPORTER_H

#include "qopt/Model/Checkpoint.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <vector>

namespace mlir {
class MLIRContext;
namespace qopt {

/// Names of the functions and module attributes of an imported model.
inline constexpr llvm::StringLiteral kPrefillFunction = "prefill";
inline constexpr llvm::StringLiteral kDecodeFunction = "decode";
inline constexpr llvm::StringLiteral kModelAttr = "qopt.model";

/// The storage type of the KV cache (the element type of the cache
/// arguments; the attention arithmetic is f32 whatever it is).
enum class KVCacheType { F32, F16, BF16 };

/// Parses "f32", "f16" or "bf16".
std::optional<KVCacheType> parseKVCacheType(llvm::StringRef name);
/// "f32", "f16" or "bf16".
llvm::StringRef kvCacheTypeName(KVCacheType type);
/// Bytes of one cache element.
int64_t kvCacheElementBytes(KVCacheType type);
/// The MLIR element type of `type`.
Type getKVCacheElementType(MLIRContext &context, KVCacheType type);

/// The storage of a GGUF K-quant matrix's sub-block scales (and minimums),
/// which the file derives from an f16 super-block scale and 4/6/8-bit
/// integers (--kquant-scales).
enum class KQuantScales {
  /// As the file has them: `super = 256` records (QOptTypes.td), exact and
  /// about the file's bytes.
  TwoLevel,
  /// One f32 scale and zero point per group (the zero points of Q2_K, Q4_K
  /// and Q5_K rounded: a few ulp).
  F32,
  /// One f16 scale and zero point per group, rounded (a matrix whose values
  /// do not fit keeps f32).
  F16,
};
/// `two-level`, `f32` or `f16`; nothing for other names.
std::optional<KQuantScales> parseKQuantScales(llvm::StringRef name);

/// How a checkpoint is imported.
struct ImportOptions {
  /// Element type of the KV cache arguments.
  KVCacheType kvType = KVCacheType::F32;
  /// Copy every weight into memory the module owns (large ones on huge
  /// pages, qopt/Model/LargeBuffer.h) instead of referencing f32/f16/bf16
  /// matrices in place in the mapped checkpoint (qopt-run --no-mmap).
  bool copyWeights = false;
  /// The storage of GGUF K-quant scales (--kquant-scales).
  KQuantScales kquantScales = KQuantScales::TwoLevel;
};

/// Imports `checkpoint` into a new module in `context`. f32 weights are
/// referenced in place (the checkpoint must outlive the module); other
/// dtypes are converted to f32 into blobs the module owns.
///
/// The functions are
///   func.func @prefill(%tokens: tensor<?xi32>, %pos: index,
///                      %key_cache: memref<L x ? x KV x T>,
///                      %value_cache: memref<L x ? x KV x T>)
///       -> tensor<?x V x f32>
///   func.func @decode(%tokens: tensor<1xi32>, ...) -> tensor<1 x V x f32>
/// where T is `options.kvType` and the cache's sequence dimension is
/// dynamic (the runtime allocates the positions it uses, at most the
/// model's `max_seq_len`). The module carries a `qopt.model` dictionary with
/// the configuration, including `kv_type = T`.
llvm::Expected<OwningOpRef<ModuleOp>>
importCheckpoint(MLIRContext &context,
                 const ::qopt::model::Checkpoint &checkpoint,
                 const ImportOptions &options = {});

/// The KV cache of a model module's entry points.
struct KVCacheInfo {
  KVCacheType type = KVCacheType::F32;
  /// The static sequence extent of the cache arguments (modules imported
  /// before the extent became dynamic), or 0 when it is dynamic.
  int64_t staticPositions = 0;
};

/// Reads the KV cache type from the key cache argument of `@prefill` (the
/// IR is the truth), checked against `@decode` and against `qopt.model`'s
/// `kv_type` when present. Call it before lowering.
llvm::Expected<KVCacheInfo> readKVCacheInfo(ModuleOp module);

/// The dialects an imported module uses (for building a context).
void registerImportDialects(DialectRegistry &registry);

/// Reads the configuration back from a module's `qopt.model` attribute and
/// checks it before anything is sized by it: every size in [1, 2^31 - 1],
/// `max_seq_len` at most kMaxContextLength, heads dividing the dimension,
/// and `vocab_size`, `num_layers` and the KV dimension equal to the static
/// extents of the entry points' logits and key cache.
llvm::Expected<::qopt::model::ModelConfig> readModelConfig(ModuleOp module);

/// Copies the data of every resource weight of `module` (an arith.constant
/// of a dense_resource) into memory the module owns, as the importer's
/// copyWeights does (blobs of kLargeBufferBytes and more in mappings advised
/// to use huge pages, the others on the heap), and drops the old blobs:
/// afterwards no weight references the buffer the module was parsed from
/// (a mapped .mlirbc file, whose page-cache pages do not get huge pages;
/// qopt-run --no-mmap). A blob named by several constants is copied once.
/// Returns the bytes copied.
uint64_t makeWeightsResident(ModuleOp module);

/// The floats of the raw bytes of f32, f16 or bf16 (`elementType`)
/// elements, as weight blobs store them.
std::vector<float> decodeFloatElements(llvm::ArrayRef<char> bytes,
                                       Type elementType);

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_MODELIMPORTER_H
