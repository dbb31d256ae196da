//===- LoadModel.h - Load, import and compile a MODEL -----------*- C++ -*-===//
//
// The one way qopt-run's subcommands get a model: recognize MODEL by its
// contents, import a checkpoint (or parse a qopt module, or load an
// artifact), find its tokenizer, apply --pipeline and compile it.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QOPT_RUN_LOADMODEL_H
#define QOPT_TOOLS_QOPT_RUN_LOADMODEL_H

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Tokenizer.h"
#include "qopt/Tools/ModelRunner.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <memory>

namespace qopt::run {

/// Everything a subcommand needs: the model compiled and its tokenizer.
struct LoadedModel {
  std::unique_ptr<::qopt::model::Checkpoint> checkpoint;
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  /// The model's configuration, known before it is compiled.
  ::qopt::model::ModelConfig config;
  std::unique_ptr<mlir::qopt::ModelRunner> runner;
  std::unique_ptr<::qopt::model::Tokenizer> tokenizer;
  double compileSeconds = 0;
};

/// A check of the loaded model and its tokenizer that runs before the
/// (slow) compilation, e.g. that the prompt fits the context.
using BeforeCompile = llvm::function_ref<llvm::Error(LoadedModel &)>;

/// Loads modelPath(), imports it if needed, finds the tokenizer (when
/// `needTokenizer`), runs `beforeCompile` (when given) and compiles it,
/// showing the compiling indicator. With `compileTo`, compiles ahead of
/// time into that directory instead (no runner is created).
llvm::Expected<LoadedModel> loadModel(bool needTokenizer,
                                      BeforeCompile beforeCompile = nullptr,
                                      llvm::StringRef compileTo = "",
                                      bool compile = true);

/// Loads modelPath() as a module (importing a checkpoint, parsing a qopt
/// module), finds the tokenizer when `needTokenizer`, and stops there: no
/// --pipeline, no compilation. An artifact directory is an error (its IR is
/// already lowered).
llvm::Expected<LoadedModel> loadModule(bool needTokenizer);

/// Reserves the KV cache for a run of `positions` positions (or for
/// --kv-reserve, when given), so that it never re-allocates. The run needs
/// `needed` of them now: when the whole reservation cannot be had, the
/// cache holds those and grows as the run goes.
llvm::Error reserveCache(mlir::qopt::ModelRunner &runner, int64_t positions,
                         int64_t needed);

} // namespace qopt::run

#endif // QOPT_TOOLS_QOPT_RUN_LOADMODEL_H
