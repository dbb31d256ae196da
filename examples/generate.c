/*===- generate.c - Generate text from a compiled qopt artifact -----------===//
 *
 * The smallest program that ships a compiled model: it links only
 * libqopt_artifact (no MLIR, no LLVM shared library).
 *
 *   qopt-run compile MODEL -o DIR            # once, where qopt is installed
 *   qopt-example-generate DIR "Once upon a time" 100 [temperature [seed
 *                         [threads]]]
 *
 * prints the prompt and up to 100 generated tokens (greedy by default), and
 * the stop reason and the thread count on stderr. Exit code 1 with a message
 * on any error.
 *
 *===----------------------------------------------------------------------===*/

#include "qopt/Runtime/QOptArtifact.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints each piece as it comes. */
static int printPiece(const char *piece, size_t length, void *user) {
  (void)user;
  fwrite(piece, 1, length, stdout);
  fflush(stdout);
  return 0;
}

/* Parses a non-negative integer argument; -1 if it is not one. */
static long long parseCount(const char *text) {
  char *end = NULL;
  long long value = strtoll(text, &end, 10);
  return (end == text || *end != '\0' || value < 0) ? -1 : value;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 7) {
    fprintf(stderr,
            "usage: %s ARTIFACT_DIR PROMPT N [TEMPERATURE [SEED [THREADS]]]\n",
            argv[0]);
    return 1;
  }
  long long n = parseCount(argv[3]);
  if (n < 0) {
    fprintf(stderr, "error: N must be a non-negative integer, got '%s'\n",
            argv[3]);
    return 1;
  }
  char error[1024];
  qopt_artifact *artifact =
      qopt_artifact_open(argv[1], NULL, error, sizeof(error));
  if (!artifact) {
    fprintf(stderr, "error: %s\n", error);
    return 1;
  }
  if (argc > 6) {
    /* The range is the library's to check; only the number is ours. */
    long long threads = parseCount(argv[6]);
    const char *why = threads < 0 || threads > INT_MAX
                          ? "THREADS must be a positive integer"
                      : qopt_artifact_set_threads(artifact, (int)threads) != 0
                          ? qopt_artifact_last_error(artifact)
                          : NULL;
    if (why) {
      fprintf(stderr, "error: %s\n", why);
      qopt_artifact_close(artifact);
      return 1;
    }
  }
  qopt_sampling_params params;
  qopt_sampling_params_default(&params);
  if (argc > 4)
    params.temperature = strtof(argv[4], NULL);
  if (argc > 5)
    params.seed = strtoull(argv[5], NULL, 10);
  qopt_sampler *sampler =
      qopt_sampler_create(qopt_artifact_vocab_size(artifact), &params);
  if (!sampler) {
    fprintf(stderr, "error: invalid sampling parameters\n");
    qopt_artifact_close(artifact);
    return 1;
  }
  int64_t generated =
      qopt_artifact_generate(artifact, argv[2], n, sampler, printPiece, NULL);
  int status = 0;
  if (generated < 0) {
    fprintf(stderr, "\nerror: %s\n", qopt_artifact_last_error(artifact));
    status = 1;
  } else {
    printf("\n");
    fprintf(stderr, "[%lld tokens] stopped: %s (%d threads)\n",
            (long long)generated, qopt_artifact_stop_reason(artifact),
            qopt_artifact_threads(artifact));
  }
  qopt_sampler_free(sampler);
  qopt_artifact_close(artifact);
  return status;
}
