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

namespace mlir {
class MLIRContext;
namespace qopt {

/// Names of the functions and module attributes of an imported model.
inline constexpr llvm::StringLiteral kPrefillFunction = "prefill";
inline constexpr llvm::StringLiteral kDecodeFunction = "decode";
inline constexpr llvm::StringLiteral kModelAttr = "qopt.model";

/// Imports `checkpoint` into a new module in `context`. f32 weights are
/// referenced in place (the checkpoint must outlive the module); other
/// dtypes are converted to f32 into blobs the module owns.
///
/// The functions are
///   func.func @prefill(%tokens: tensor<?xi32>, %pos: index,
///                      %key_cache: memref<L x S x KV x f32>,
///                      %value_cache: memref<L x S x KV x f32>)
///       -> tensor<?x V x f32>
///   func.func @decode(%tokens: tensor<1xi32>, ...) -> tensor<1 x V x f32>
/// and the module carries a `qopt.model` dictionary with the configuration.
llvm::Expected<OwningOpRef<ModuleOp>>
importCheckpoint(MLIRContext &context, const ::qopt::model::Checkpoint &checkpoint);

/// The dialects an imported module uses (for building a context).
void registerImportDialects(DialectRegistry &registry);

/// Reads the configuration back from a module's `qopt.model` attribute.
llvm::Expected<::qopt::model::ModelConfig> readModelConfig(ModuleOp module);

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_MODELIMPORTER_H
