//===- make_kquant_reference.c - llama.cpp K-quant test vectors ---*- C -*-===//
//
// Writes kquant-reference.gguf: GGUF K-quant tensors quantized and
// dequantized by llama.cpp's own ggml, for testing qopt's GGUF reader
// against the reference implementation. Not part of the qopt build; it links
// ggml (libggml-base) from a llama.cpp build.
//
// The file holds, with ne0 = 512 (two 256-element super-blocks per row) and
// ne1 = 4 rows:
//   "source"                  F32  the input values;
//   "q2_K" ... "q6_K"         the ggml type of that name: ggml's quantization
//                             of "source" by ggml_quantize_chunk(type, src,
//                             dst, 0, 4, 512, NULL); with no importance matrix
//                             it calls quantize_row_<type>_ref, and the
//                             program checks that the bytes equal those of
//                             ggml_get_type_traits(type)->from_float_ref;
//   "q2_K.ref" ... "q6_K.ref" F32  ggml's dequantization of exactly those
//                             bytes, by ggml_get_type_traits(type)->to_float
//                             (dequantize_row_<type>);
// and the string "qopt.reference.llama_cpp", the llama.cpp version given as
// the first argument. The rows of "source" exercise the formats:
//   0: N(0, 0.02);
//   1: N(0, 0.02) with outliers of +-0.5 at a few positions;
//   2: |N(0, 0.02)| (all >= 0), then a constant block (its dmin is 0);
//   3: a block of exact zeros, then a linear ramp from -3 to +1.
// The normal values come from a fixed-seed splitmix64 generator and the
// Box-Muller transform written here, so no libc rand() is involved.
//
// Build and run with make_kquant_reference.sh, or by hand:
//   B=$LLAMA_BUILD/bin
//   cc -I$LLAMA_SRC/ggml/include -o make_kquant_reference
//      make_kquant_reference.c -L$B -Wl,-rpath,$B -lggml-base -lm
//   ./make_kquant_reference "<llama.cpp version>" kquant-reference.gguf
//
//===----------------------------------------------------------------------===//

#include "ggml.h"
#include "gguf.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NE0 = 512, NE1 = 4, NUM_TYPES = 5 };

static const enum ggml_type kTypes[NUM_TYPES] = {GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
                                                 GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                                 GGML_TYPE_Q6_K};

/// The generator state; the seed is "qopt" in ASCII.
static uint64_t prngState = 0x716F7074ull;

/// splitmix64: the next 64 random bits.
static uint64_t nextU64(void) {
  uint64_t z = (prngState += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// A uniform double in (0, 1).
static double nextUniform(void) {
  return ((double)(nextU64() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/// A sample of N(0, sigma^2) by the Box-Muller transform.
static float nextNormal(double sigma) {
  double u1 = nextUniform(), u2 = nextUniform();
  return (float)(sigma * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void fillSource(float *x) {
  float *row0 = x, *row1 = x + NE0, *row2 = x + 2 * NE0, *row3 = x + 3 * NE0;
  static const int outlierPos[] = {3, 77, 200, 300, 511};
  static const float outlierVal[] = {0.5f, -0.5f, 0.5f, -0.5f, 0.5f};
  for (int i = 0; i < NE0; ++i)
    row0[i] = nextNormal(0.02);
  for (int i = 0; i < NE0; ++i)
    row1[i] = nextNormal(0.02);
  for (size_t k = 0; k < sizeof(outlierPos) / sizeof(outlierPos[0]); ++k)
    row1[outlierPos[k]] = outlierVal[k];
  for (int i = 0; i < 256; ++i)
    row2[i] = fabsf(nextNormal(0.02));
  for (int i = 256; i < NE0; ++i)
    row2[i] = 0.0375f;
  for (int i = 0; i < 256; ++i)
    row3[i] = 0.0f;
  for (int i = 0; i < 256; ++i)
    row3[256 + i] = -3.0f + 4.0f * (float)i / 255.0f;
}

static struct ggml_tensor *newTensor(struct ggml_context *ctx,
                                     enum ggml_type type, const char *name) {
  struct ggml_tensor *t = ggml_new_tensor_2d(ctx, type, NE0, NE1);
  ggml_set_name(t, name);
  return t;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s LLAMA_CPP_VERSION OUTPUT.gguf\n", argv[0]);
    return 2;
  }
  const char *version = argv[1], *outPath = argv[2];

  struct ggml_init_params params = {/*mem_size=*/4 << 20, /*mem_buffer=*/NULL,
                                    /*no_alloc=*/false};
  struct ggml_context *ctx = ggml_init(params);
  if (!ctx) {
    fprintf(stderr, "make_kquant_reference: ggml_init failed\n");
    return 1;
  }
  struct gguf_context *gguf = gguf_init_empty();
  gguf_set_val_str(gguf, "qopt.reference.llama_cpp", version);

  struct ggml_tensor *source = newTensor(ctx, GGML_TYPE_F32, "source");
  float *src = (float *)source->data;
  fillSource(src);
  gguf_add_tensor(gguf, source);

  for (int k = 0; k < NUM_TYPES; ++k) {
    enum ggml_type type = kTypes[k];
    const char *name = ggml_type_name(type);
    const struct ggml_type_traits *traits = ggml_get_type_traits(type);
    size_t rowSize = ggml_row_size(type, NE0);
    char refName[64];
    snprintf(refName, sizeof(refName), "%s.ref", name);

    struct ggml_tensor *q = newTensor(ctx, type, name);
    size_t written = ggml_quantize_chunk(type, src, q->data, 0, NE1, NE0, NULL);
    if (written != rowSize * NE1 || ggml_nbytes(q) != written) {
      fprintf(stderr, "make_kquant_reference: %s: %zu bytes, expected %zu\n",
              name, written, rowSize * NE1);
      return 1;
    }
    // ggml_quantize_chunk without an importance matrix must give the bytes of
    // the reference quantizer, row by row.
    unsigned char *check = malloc(rowSize);
    for (int r = 0; r < NE1; ++r) {
      traits->from_float_ref(src + (size_t)r * NE0, check, NE0);
      if (memcmp(check, (char *)q->data + (size_t)r * rowSize, rowSize) != 0) {
        fprintf(stderr,
                "make_kquant_reference: %s row %d: ggml_quantize_chunk "
                "differs from from_float_ref\n",
                name, r);
        return 1;
      }
    }
    free(check);

    struct ggml_tensor *ref = newTensor(ctx, GGML_TYPE_F32, refName);
    float *out = (float *)ref->data;
    double maxErr = 0.0;
    for (int r = 0; r < NE1; ++r)
      traits->to_float((char *)q->data + (size_t)r * rowSize,
                       out + (size_t)r * NE0, NE0);
    for (int i = 0; i < NE0 * NE1; ++i)
      maxErr = fmax(maxErr, fabs((double)out[i] - (double)src[i]));

    gguf_add_tensor(gguf, q);
    gguf_add_tensor(gguf, ref);
    printf("%-5s %4zu bytes  max |ref - source| = %.6g\n", name, written,
           maxErr);
  }

  if (!gguf_write_to_file(gguf, outPath, /*only_meta=*/false)) {
    fprintf(stderr, "make_kquant_reference: cannot write %s\n", outPath);
    return 1;
  }
  printf("wrote %s (llama.cpp %s)\n", outPath, version);
  gguf_free(gguf);
  ggml_free(ctx);
  return 0;
}
