//===- Generation.cpp - Text generation loop ------------------------------===//
//
// See Generation.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Generation.h"

#include <chrono>

using namespace qopt::model;

static double seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

llvm::Expected<GenerationResult>
qopt::model::generate(ModelExecutor &exec, const Tokenizer &tokenizer,
                      Sampler &sampler, std::vector<int32_t> &tokens,
                      int64_t maxTokens, int64_t context, EmitFn emit) {
  GenerationResult result;
  if (tokens.empty() || static_cast<int64_t>(tokens.size()) >= context)
    return llvm::createStringError(
        "the prompt has " + llvm::Twine(tokens.size()) +
        " tokens; it must have at least one and fewer than the context of " +
        llvm::Twine(context));
  int64_t vocab = exec.config().vocabSize;
  // Echo the prompt: every token but a leading BOS (a tokenizer without
  // one, such as Qwen2's, starts with the prompt's first token).
  bool stopped = false;
  for (size_t i = 0; i < tokens.size() && !stopped; ++i)
    if (i > 0 || tokens[0] != tokenizer.bosId())
      stopped = !emit(tokenizer.decode(i > 0 ? tokens[i - 1] : -1, tokens[i]));
  std::vector<float> logits(tokens.size() * vocab);
  double start = seconds();
  if (llvm::Error err = exec.forward(tokens, 0, logits.data()))
    return std::move(err);
  result.prefillSeconds = seconds() - start;
  float *last = logits.data() + (tokens.size() - 1) * vocab;
  start = seconds();
  while (!stopped && result.generated < maxTokens) {
    int32_t next = sampler.sample(last, tokens);
    if (next == tokenizer.eosId() || next == tokenizer.bosId()) {
      result.stopReason = "eos";
      break;
    }
    stopped = !emit(tokenizer.decode(tokens.back(), next));
    tokens.push_back(next);
    ++result.generated;
    if (stopped) {
      result.stopReason = "eos";
      break;
    }
    if (result.generated == maxTokens)
      break;
    if (static_cast<int64_t>(tokens.size()) >= context) {
      result.stopReason = "context";
      break;
    }
    if (llvm::Error err = exec.forward(
            {next}, static_cast<int64_t>(tokens.size()) - 1, logits.data()))
      return std::move(err);
    last = logits.data();
  }
  result.decodeSeconds = seconds() - start;
  return result;
}
