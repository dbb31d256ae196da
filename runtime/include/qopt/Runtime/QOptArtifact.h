/*===- QOptArtifact.h - C API for ahead-of-time compiled models ---*- C -*-===//
 *
 * libqopt_artifact runs an artifact directory written by `qopt-run compile
 * -o DIR` (see docs/runtime.md): it reads the manifest, maps the weights,
 * loads model.so, owns the KV cache, and has the model's tokenizer and
 * llama.cpp's sampler chain. It links neither MLIR nor the LLVM shared
 * library, so a program that ships a compiled model needs only this library,
 * the artifact and libomp. Plain C; every function is safe to call with
 * NULL handles (it fails).
 *
 * Functions returning int return 0 on success and -1 on failure; then
 * qopt_artifact_last_error says why.
 *
 *===----------------------------------------------------------------------===*/

#ifndef QOPT_RUNTIME_QOPTARTIFACT_H
#define QOPT_RUNTIME_QOPTARTIFACT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QOPT_ARTIFACT_EXPORT __attribute__((visibility("default")))

/** A loaded artifact: compiled code, weights, KV cache and tokenizer. */
typedef struct qopt_artifact qopt_artifact;
/** A sampler: llama.cpp's chain (penalty, top-k, top-p, min-p, temp). */
typedef struct qopt_sampler qopt_sampler;

/** Sampling parameters with llama.cpp's meanings; see
 *  qopt_sampling_params_default for the values that turn each off. */
typedef struct qopt_sampling_params {
  float temperature;     /**< <= 0: greedy */
  int32_t top_k;         /**< <= 0: off */
  float top_p;           /**< >= 1: off */
  float min_p;           /**< <= 0: off */
  float repeat_penalty;  /**< 1: off */
  int32_t repeat_last_n; /**< 0: off, -1: the whole history */
  uint64_t seed;
} qopt_sampling_params;

/** Opens the artifact directory `dir`. `tokenizer` overrides the artifact's
 *  own tokenizer (NULL: the artifact's). Returns NULL on failure and writes
 *  the reason, NUL-terminated, to `error` (`error_size` bytes; may be NULL).
 *  Refuses an artifact compiled for CPU features this CPU lacks. */
QOPT_ARTIFACT_EXPORT qopt_artifact *qopt_artifact_open(const char *dir,
                                                       const char *tokenizer,
                                                       char *error,
                                                       size_t error_size);
/** Frees everything of `artifact` (NULL is fine). */
QOPT_ARTIFACT_EXPORT void qopt_artifact_close(qopt_artifact *artifact);
/** The reason the last failing call on `artifact` failed ("" if none). */
QOPT_ARTIFACT_EXPORT const char *
qopt_artifact_last_error(const qopt_artifact *artifact);

/** The model's vocabulary, context (positions), BOS and EOS (-1: none). */
QOPT_ARTIFACT_EXPORT int64_t
qopt_artifact_vocab_size(const qopt_artifact *artifact);
QOPT_ARTIFACT_EXPORT int64_t
qopt_artifact_context_length(const qopt_artifact *artifact);
QOPT_ARTIFACT_EXPORT int32_t qopt_artifact_bos(const qopt_artifact *artifact);
QOPT_ARTIFACT_EXPORT int32_t qopt_artifact_eos(const qopt_artifact *artifact);

/** Serves the nested (Matryoshka) weights at `bits` (0: their full width),
 *  then applies the `layer_bits` rules (NULL or "": none), as qopt-run's
 *  --bits and --layer-bits. */
QOPT_ARTIFACT_EXPORT int qopt_artifact_set_widths(qopt_artifact *artifact,
                                                  unsigned bits,
                                                  const char *layer_bits);
/** Runs the compiled kernels on `threads` threads, 1..1024. The default is
 *  the OpenMP runtime's (OMP_NUM_THREADS, else every core). It is an OpenMP
 *  setting of the calling thread: it applies to the forward and generate
 *  calls that thread makes. */
QOPT_ARTIFACT_EXPORT int qopt_artifact_set_threads(qopt_artifact *artifact,
                                                   int threads);
/** The threads the calling thread's forward and generate calls use. */
QOPT_ARTIFACT_EXPORT int qopt_artifact_threads(const qopt_artifact *artifact);
/** Makes the KV cache hold `positions` positions up front. */
QOPT_ARTIFACT_EXPORT int qopt_artifact_reserve(qopt_artifact *artifact,
                                               int64_t positions);
/** Runs `n` tokens at positions `position ..` and writes their logits
 *  (n x vocab floats) to `logits`. */
QOPT_ARTIFACT_EXPORT int qopt_artifact_forward(qopt_artifact *artifact,
                                               const int32_t *tokens, int64_t n,
                                               int64_t position, float *logits);

/** Encodes `text` (with BOS first when `add_bos`). Writes at most
 *  `capacity` ids to `tokens` and returns how many the text has (call
 *  again with more room when that is larger), or -1. */
QOPT_ARTIFACT_EXPORT int64_t qopt_artifact_encode(qopt_artifact *artifact,
                                                  const char *text, int add_bos,
                                                  int32_t *tokens,
                                                  int64_t capacity);
/** The text of `token` after `prev` (-1: none): writes at most `capacity`
 *  bytes, NUL-terminated, to `out` and returns the text's length, or -1. */
QOPT_ARTIFACT_EXPORT int64_t qopt_artifact_decode(qopt_artifact *artifact,
                                                  int32_t prev, int32_t token,
                                                  char *out, size_t capacity);

/** Fills `params` with every sampler off (greedy) and seed 42. */
QOPT_ARTIFACT_EXPORT void
qopt_sampling_params_default(qopt_sampling_params *params);
/** A sampler for `vocab_size` logits, or NULL on invalid parameters. */
QOPT_ARTIFACT_EXPORT qopt_sampler *
qopt_sampler_create(int64_t vocab_size, const qopt_sampling_params *params);
QOPT_ARTIFACT_EXPORT void qopt_sampler_free(qopt_sampler *sampler);
/** The next token for `logits` (vocab_size floats, overwritten) after the
 *  `n` tokens of `history`, or -1. */
QOPT_ARTIFACT_EXPORT int32_t qopt_sampler_sample(qopt_sampler *sampler,
                                                 float *logits,
                                                 const int32_t *history,
                                                 int64_t n);

/** Receives the text of each token (`length` bytes, not NUL-terminated);
 *  returns 0 to go on, non-zero to stop. */
typedef int (*qopt_piece_fn)(const char *piece, size_t length, void *user);

/** Encodes `prompt` with BOS, echoes it through `on_piece` (BOS left out),
 *  then generates up to `max_tokens` tokens with `sampler`, stopping at EOS
 *  or when the context is full: what `qopt-run generate` does. Returns the
 *  number of tokens generated, or -1; qopt_artifact_stop_reason says why it
 *  stopped ("eos", "length" or "context"). */
QOPT_ARTIFACT_EXPORT int64_t qopt_artifact_generate(
    qopt_artifact *artifact, const char *prompt, int64_t max_tokens,
    qopt_sampler *sampler, qopt_piece_fn on_piece, void *user);
QOPT_ARTIFACT_EXPORT const char *
qopt_artifact_stop_reason(const qopt_artifact *artifact);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_RUNTIME_QOPTARTIFACT_H */
