//===- Generation.h - Text generation loop ----------------------*- C++ -*-===//
//
// The loop of `qopt-run generate` and of the artifact C API
// (qopt_artifact_generate): prefill the prompt, then sample and decode one
// token at a time until EOS, the requested length or the context. One loop,
// so that both produce the same tokens for the same model, prompt and
// sampler.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_GENERATION_H
#define QOPT_MODEL_GENERATION_H

#include "qopt/Model/Executor.h"
#include "qopt/Model/Sampler.h"
#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace qopt {
namespace model {

/// How a generation ended and how long it took.
struct GenerationResult {
  int64_t generated = 0;
  /// "eos" (the model ended the text, or `emit` asked to stop), "length"
  /// (maxTokens generated) or "context" (the context is full).
  llvm::StringRef stopReason = "length";
  double prefillSeconds = 0, decodeSeconds = 0;
};

/// Called with the text of each token as it is generated (and of the
/// prompt's tokens, BOS left out, first); returns false to stop.
using EmitFn = llvm::function_ref<bool(llvm::StringRef piece)>;

/// Generates up to `maxTokens` tokens after `tokens` (the encoded prompt,
/// non-empty and shorter than `context`), appending them to `tokens`.
/// Echoes the prompt through `emit` first. Stops at the tokenizer's EOS or
/// BOS, after `maxTokens`, or when `context` positions are used.
llvm::Expected<GenerationResult>
generate(ModelExecutor &exec, const Tokenizer &tokenizer, Sampler &sampler,
         std::vector<int32_t> &tokens, int64_t maxTokens, int64_t context,
         EmitFn emit);

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_GENERATION_H
