//===- QOptArtifact.cpp - C API for ahead-of-time compiled models ---------===//
//
// QOptArtifact.h over the MLIR-free runtime: qopt/Model/Artifact.h (loading,
// KV cache, forward), Tokenizer.h, Sampler.h and Generation.h (the loop that
// qopt-run generate runs too). No error crosses the C boundary as anything
// but a message.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/QOptArtifact.h"

#include "qopt/Model/Artifact.h"
#include "qopt/Model/Generation.h"
#include "qopt/Model/Sampler.h"
#include "qopt/Model/Tokenizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

namespace model = ::qopt::model;

struct qopt_artifact {
  std::unique_ptr<model::Artifact> artifact;
  std::unique_ptr<model::Tokenizer> tokenizer;
  std::string error;
  std::string stopReason;
};

struct qopt_sampler {
  explicit qopt_sampler(int64_t vocab, const model::SamplingParams &params,
                        uint64_t seed)
      : sampler(vocab, params, seed), vocabSize(vocab) {}
  model::Sampler sampler;
  int64_t vocabSize;
};

/// Records `err` as the artifact's last error; returns `value`.
template <typename T>
static T failWith(qopt_artifact *a, llvm::Error err, T value) {
  std::string message = llvm::toString(std::move(err));
  if (a)
    a->error = message;
  return value;
}

template <typename T>
static T failWith(qopt_artifact *a, const char *message, T value) {
  if (a)
    a->error = message;
  return value;
}

static void copyMessage(const std::string &message, char *out, size_t size) {
  if (!out || size == 0)
    return;
  size_t n = std::min(message.size(), size - 1);
  std::memcpy(out, message.data(), n);
  out[n] = '\0';
}

qopt_artifact *qopt_artifact_open(const char *dir, const char *tokenizer,
                                  char *error, size_t errorSize) {
  if (!dir) {
    copyMessage("qopt_artifact_open: no directory", error, errorSize);
    return nullptr;
  }
  llvm::Expected<std::unique_ptr<model::Artifact>> artifact =
      model::Artifact::open(dir);
  if (!artifact) {
    copyMessage(llvm::toString(artifact.takeError()), error, errorSize);
    return nullptr;
  }
  std::string path =
      tokenizer ? std::string(tokenizer) : (*artifact)->tokenizerPath();
  if (path.empty()) {
    copyMessage("the artifact '" + std::string(dir) +
                    "' has no tokenizer; pass one to qopt_artifact_open",
                error, errorSize);
    return nullptr;
  }
  int64_t vocab = (*artifact)->manifest().config.vocabSize;
  // Checked against the model's vocabulary.
  llvm::Expected<std::unique_ptr<model::Tokenizer>> tok =
      model::loadTokenizerFor(dir, path, vocab);
  if (!tok) {
    copyMessage(llvm::toString(tok.takeError()), error, errorSize);
    return nullptr;
  }
  auto *a = new qopt_artifact();
  a->artifact = std::move(*artifact);
  a->tokenizer = std::move(*tok);
  copyMessage("", error, errorSize);
  return a;
}

void qopt_artifact_close(qopt_artifact *artifact) { delete artifact; }

const char *qopt_artifact_last_error(const qopt_artifact *artifact) {
  return artifact ? artifact->error.c_str() : "no artifact";
}

int64_t qopt_artifact_vocab_size(const qopt_artifact *a) {
  return a ? a->artifact->manifest().config.vocabSize : -1;
}

int64_t qopt_artifact_context_length(const qopt_artifact *a) {
  return a ? a->artifact->manifest().config.maxSeqLen : -1;
}

int32_t qopt_artifact_bos(const qopt_artifact *a) {
  return a ? a->tokenizer->bosId() : -1;
}

int32_t qopt_artifact_eos(const qopt_artifact *a) {
  return a ? a->tokenizer->eosId() : -1;
}

int qopt_artifact_set_widths(qopt_artifact *a, unsigned bits,
                             const char *layerBits) {
  if (!a)
    return -1;
  if (llvm::Error err = a->artifact->executor().setServedWidths(
          bits, layerBits ? layerBits : ""))
    return failWith(a, std::move(err), -1);
  return 0;
}

int qopt_artifact_set_threads(qopt_artifact *a, int threads) {
  if (!a)
    return -1;
  if (llvm::Error err = a->artifact->setThreads(threads))
    return failWith(a, std::move(err), -1);
  return 0;
}

int qopt_artifact_threads(const qopt_artifact *a) {
  return a ? a->artifact->threads() : -1;
}

int qopt_artifact_reserve(qopt_artifact *a, int64_t positions) {
  if (!a)
    return -1;
  if (llvm::Error err = a->artifact->executor().reserve(positions))
    return failWith(a, std::move(err), -1);
  return 0;
}

int qopt_artifact_forward(qopt_artifact *a, const int32_t *tokens, int64_t n,
                          int64_t position, float *logits) {
  if (!a)
    return -1;
  if (n < 0 || (n > 0 && (!tokens || !logits)))
    return failWith(a, "qopt_artifact_forward: invalid tokens or logits", -1);
  if (llvm::Error err = a->artifact->executor().forward(
          llvm::ArrayRef<int32_t>(tokens, n), position, logits))
    return failWith(a, std::move(err), -1);
  return 0;
}

int64_t qopt_artifact_encode(qopt_artifact *a, const char *text, int addBos,
                             int32_t *tokens, int64_t capacity) {
  if (!a)
    return -1;
  if (!text || capacity < 0 || (capacity > 0 && !tokens))
    return failWith(a, "qopt_artifact_encode: invalid text or buffer",
                    int64_t(-1));
  std::vector<int32_t> ids =
      a->tokenizer->encode(text, addBos != 0, /*eos=*/false);
  std::copy_n(ids.begin(), std::min<int64_t>(capacity, ids.size()), tokens);
  return static_cast<int64_t>(ids.size());
}

int64_t qopt_artifact_decode(qopt_artifact *a, int32_t prev, int32_t token,
                             char *out, size_t capacity) {
  if (!a)
    return -1;
  int64_t vocab = a->tokenizer->vocabSize();
  if (token < 0 || token >= vocab || prev < -1 || prev >= vocab)
    return failWith(a, "qopt_artifact_decode: token outside the vocabulary",
                    int64_t(-1));
  std::string piece = a->tokenizer->decode(prev, token);
  copyMessage(piece, out, capacity);
  return static_cast<int64_t>(piece.size());
}

void qopt_sampling_params_default(qopt_sampling_params *params) {
  if (!params)
    return;
  model::SamplingParams d;
  params->temperature = d.temperature;
  params->top_k = d.topK;
  params->top_p = d.topP;
  params->min_p = d.minP;
  params->repeat_penalty = d.repeatPenalty;
  params->repeat_last_n = d.repeatLastN;
  params->seed = 42;
}

qopt_sampler *qopt_sampler_create(int64_t vocabSize,
                                  const qopt_sampling_params *p) {
  if (!p || vocabSize <= 0 || !std::isfinite(p->temperature) ||
      p->temperature < 0 || !(p->top_p > 0 && p->top_p <= 1) ||
      !(p->min_p >= 0 && p->min_p <= 1) || !(p->repeat_penalty > 0) ||
      !std::isfinite(p->repeat_penalty) || p->top_k < 0 ||
      p->repeat_last_n < -1)
    return nullptr;
  model::SamplingParams params;
  params.temperature = p->temperature;
  params.topK = p->top_k;
  params.topP = p->top_p;
  params.minP = p->min_p;
  params.repeatPenalty = p->repeat_penalty;
  params.repeatLastN = p->repeat_last_n;
  return new qopt_sampler(vocabSize, params, p->seed);
}

void qopt_sampler_free(qopt_sampler *sampler) { delete sampler; }

int32_t qopt_sampler_sample(qopt_sampler *s, float *logits,
                            const int32_t *history, int64_t n) {
  if (!s || !logits || n < 0 || (n > 0 && !history))
    return -1;
  return s->sampler.sample(logits, llvm::ArrayRef<int32_t>(history, n));
}

int64_t qopt_artifact_generate(qopt_artifact *a, const char *prompt,
                               int64_t maxTokens, qopt_sampler *sampler,
                               qopt_piece_fn onPiece, void *user) {
  if (!a)
    return -1;
  if (!prompt || !sampler || maxTokens < 0)
    return failWith(a,
                    "qopt_artifact_generate: invalid prompt, sampler or "
                    "max_tokens",
                    int64_t(-1));
  model::ModelExecutor &exec = a->artifact->executor();
  if (sampler->vocabSize != exec.config().vocabSize)
    return failWith(a,
                    "qopt_artifact_generate: the sampler is for another "
                    "vocabulary size",
                    int64_t(-1));
  std::vector<int32_t> tokens =
      a->tokenizer->encode(prompt, /*bos=*/true, /*eos=*/false);
  int64_t context = exec.config().maxSeqLen;
  // The whole run's cache up front, as qopt-run does (it grows if needed).
  int64_t positions = std::min<int64_t>(tokens.size() + maxTokens, context);
  if (llvm::Error err = exec.reserve(positions))
    llvm::consumeError(std::move(err));
  auto emit = [&](llvm::StringRef piece) {
    return !onPiece || onPiece(piece.data(), piece.size(), user) == 0;
  };
  llvm::Expected<model::GenerationResult> result = model::generate(
      exec, *a->tokenizer, sampler->sampler, tokens, maxTokens, context, emit);
  if (!result)
    return failWith(a, result.takeError(), int64_t(-1));
  a->stopReason = result->stopReason.str();
  return result->generated;
}

const char *qopt_artifact_stop_reason(const qopt_artifact *a) {
  return a ? a->stopReason.c_str() : "";
}
