//===- Checkpoint.h - Reading LLM checkpoints -------------------*- C++ -*-===//
//
// Format-independent view of a Llama-family checkpoint: the model
// configuration and the weight tensors under canonical names, read from a
// llama2.c `.bin`, a Hugging Face directory (config.json + safetensors,
// sharded or not) or a GGUF file. Tensor data is memory-mapped, never copied
// unless a conversion is asked for.
//
// Depends on LLVM Support only (json, MemoryBuffer); nothing from MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_CHECKPOINT_H
#define QOPT_MODEL_CHECKPOINT_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qopt {
namespace model {

/// Element types a checkpoint tensor may have.
enum class DType {
  F32,
  F16,
  BF16,
  /// GGUF Q8_0: blocks of 32 int8 values with one f16 scale (34 bytes).
  Q8_0,
  /// GGUF Q4_0: blocks of 32 4-bit values with one f16 scale (18 bytes);
  /// value = scale * (nibble - 8).
  Q4_0,
  /// GGUF K-quants: super-blocks of 256 values with f16 super-block scales
  /// and 4-8 bit sub-block scales (docs/model-io.md has the layouts).
  /// Q2_K: 16 x 16 2-bit values, scale and min per sub-block (84 bytes).
  Q2_K,
  /// Q3_K: 16 x 16 3-bit values, signed 6-bit scales (110 bytes).
  Q3_K,
  /// Q4_K: 8 x 32 4-bit values, 6-bit scale and min per sub-block (144 bytes).
  Q4_K,
  /// Q5_K: 8 x 32 5-bit values, 6-bit scale and min per sub-block (176 bytes).
  Q5_K,
  /// Q6_K: 16 x 16 6-bit values, int8 scales (210 bytes).
  Q6_K,
};

/// How a dtype stores its elements: `elements` per block of `bytes` bytes
/// (1 and the element size for f32/f16/bf16). Block-quantized dtypes need
/// the last dimension of a tensor to be a multiple of `elements`.
struct BlockGeometry {
  int64_t elements = 1;
  int64_t bytes = 4;
};
BlockGeometry blockGeometry(DType dtype);

/// True for the block-quantized dtypes (Q8_0, Q4_0 and the K-quants).
bool isBlockQuantized(DType dtype);

/// True for the K-quants (Q2_K .. Q6_K), whose scales are computed from the
/// file's f16 super-block scales and small integers.
bool isKQuant(DType dtype);

/// Printable name of `dtype` ("f32", "q4_0", ...).
llvm::StringRef dtypeName(DType dtype);

/// How RoPE pairs the dimensions of a head.
enum class RopeStyle {
  /// Pairs (2i, 2i+1): llama2.c, Meta's reference code, GGUF llama.
  Interleaved,
  /// Pairs (i, i + head_dim/2): Hugging Face transformers ("rotate_half").
  RotateHalf,
};

/// RoPE frequency scaling (the `rope_type`s of transformers' Llama).
enum class RopeScalingType {
  None,    ///< theta^(-2j / head_dim)
  Linear,  ///< frequencies divided by `factor`
  Dynamic, ///< NTK: the base grows with the length of each call
  Llama3,  ///< Llama 3.1: low frequencies divided by `factor`, smoothly
  Yarn,    ///< YaRN: ramp between interpolation and extrapolation, and an
           ///< attention factor on cos/sin
};

/// Printable name of `type` ("default", "linear", "dynamic", "llama3",
/// "yarn": the Hugging Face `rope_type` spelling).
llvm::StringRef ropeScalingName(RopeScalingType type);

/// The parameters of a scaled RoPE; which fields are used depends on `type`.
struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1.0;
  /// Context the frequencies were trained for (llama3, yarn; yarn defaults
  /// to max_position_embeddings).
  int64_t originalMaxPositions = 0;
  double lowFreqFactor = 1.0, highFreqFactor = 4.0; ///< llama3
  double betaFast = 32.0, betaSlow = 1.0;           ///< yarn
  double mscale = 0.0, mscaleAllDim = 0.0;          ///< yarn, 0 = unset
  double attentionFactor = 0.0;                     ///< yarn, 0 = derived
  bool truncate = true;                             ///< yarn
  /// llama.cpp's rope_freqs.weight (GGUF): head_dim / 2 divisors applied to
  /// the frequencies after the type's own scaling; empty when absent.
  std::vector<float> freqFactors;
};

/// The frequencies of a RoPE as the importer hands them to the rope ops.
struct RopeFrequencies {
  /// head_dim / 2 inverse frequencies; empty when the op's own formula
  /// (theta, or dynamic NTK) applies.
  std::vector<float> invFreq;
  /// Multiplies cos and sin (YaRN's attention factor), else 1.
  float scale = 1.0f;
};

/// The frequency table of a static scaled RoPE (linear, llama3, yarn),
/// computed as transformers does (`rope_type` functions of
/// modeling_rope_utils.py); None and Dynamic give an empty table.
RopeFrequencies computeRopeFrequencies(int64_t headDim, float theta,
                                       const RopeScaling &scaling);

/// The longest context (positions) a checkpoint or module may declare: 2^24,
/// above every released model (the longest declare 10M). The KV cache is
/// allocated for the positions a run uses, not for this; the limit keeps
/// sizes derived from a hostile declaration far from overflow.
constexpr int64_t kMaxContextLength = int64_t(1) << 24;

/// Architecture hyper-parameters of a Llama-family decoder.
struct ModelConfig {
  std::string architecture = "llama";
  int64_t dim = 0;       ///< hidden size
  int64_t hiddenDim = 0; ///< FFN inner size
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKVHeads = 0; ///< grouped-query attention: numHeads % this == 0
  int64_t vocabSize = 0;
  int64_t maxSeqLen = 0; ///< context the model declares
  float normEps = 1e-5f;
  float ropeTheta = 10000.0f;
  RopeStyle ropeStyle = RopeStyle::Interleaved;
  RopeScaling ropeScaling;
  bool tiedEmbeddings = true; ///< classifier shares tok_embeddings
  /// q/k/v projections have biases (Qwen2): layers.l.bq, bk, bv.
  bool attentionBias = false;
  /// Mistral's sliding window: each position attends to this many most
  /// recent positions (itself included); 0 = the whole context.
  int64_t slidingWindow = 0;

  int64_t headDim() const { return numHeads ? dim / numHeads : 0; }
  int64_t kvDim() const { return headDim() * numKVHeads; }
};

/// One weight tensor of a checkpoint. Linear weights are [out, in]
/// row-major (y = x * W^T), as in llama2.c and PyTorch.
struct TensorRef {
  std::string name;       ///< canonical name, see below
  std::string sourceName; ///< name in the file ("model.layers.0...")
  std::string file;       ///< path of the file holding the data
  DType dtype = DType::F32;
  std::vector<int64_t> shape;    ///< logical shape (elements, not blocks)
  const uint8_t *data = nullptr; ///< points into a mapped file
  size_t numBytes = 0;

  int64_t numElements() const;
};

/// A loaded checkpoint. Canonical tensor names (l = layer index):
///   tok_embeddings                [vocab, dim]
///   layers.l.attention_norm       [dim]
///   layers.l.wq                   [numHeads*headDim, dim]
///   layers.l.wk, layers.l.wv      [numKVHeads*headDim, dim]
///   layers.l.bq, bk, bv           [numHeads*headDim], [kvDim], [kvDim]
///                                 (only with config.attentionBias)
///   layers.l.wo                   [dim, numHeads*headDim]
///   layers.l.ffn_norm             [dim]
///   layers.l.w1 (gate), layers.l.w3 (up)  [hiddenDim, dim]
///   layers.l.w2 (down)            [dim, hiddenDim]
///   norm                          [dim]
///   output                        [vocab, dim]   (absent when tied)
/// q/k rows are in the order of `config.ropeStyle` (no permutation is done).
class Checkpoint {
public:
  ModelConfig config;
  std::vector<TensorRef> tensors;
  /// The path the checkpoint was loaded from (file or directory).
  std::string path;
  /// Format: "llama2c", "safetensors" or "gguf".
  std::string format;
  /// Key/value metadata worth keeping (GGUF general.*, HF model_type, ...).
  std::vector<std::pair<std::string, std::string>> metadata;

  /// The tensor named `name`, or nullptr.
  const TensorRef *find(llvm::StringRef name) const;
  /// The tensor named `name`, or an error naming the checkpoint and tensor.
  llvm::Expected<const TensorRef *> get(llvm::StringRef name) const;

  /// Drops the resident pages of `tensor` from the process (the whole pages
  /// inside its bytes) when it lies in a memory-mapped file, for a caller
  /// that has copied it: the file's contents are unchanged and read back
  /// from the page cache if touched again. A no-op for tensors in heap
  /// buffers.
  void releasePages(const TensorRef &tensor) const;

  /// Keeps mapped files alive for the lifetime of the checkpoint.
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> buffers;
};

/// Loads `path`: a directory (Hugging Face: config.json plus model.safetensors
/// or model.safetensors.index.json and its shards), a `.gguf` file (by magic)
/// or a llama2.c `.bin` (legacy v0 header). Every inconsistency (truncated
/// file, header sizes that disagree with the file, missing tensor, wrong
/// shape, unsupported architecture or dtype) is an llvm::Error whose message
/// names the file and, where relevant, the tensor. A path that is neither a
/// directory nor a regular file is refused, never read.
llvm::Expected<std::unique_ptr<Checkpoint>>
loadCheckpoint(llvm::StringRef path);

/// Individual loaders (loadCheckpoint dispatches to these).
llvm::Expected<std::unique_ptr<Checkpoint>> loadLlama2c(llvm::StringRef path);
llvm::Expected<std::unique_ptr<Checkpoint>>
loadHuggingFace(llvm::StringRef directory);
llvm::Expected<std::unique_ptr<Checkpoint>> loadGGUF(llvm::StringRef path);

/// Converts any tensor to f32 (f16/bf16 widened, block-quantized types
/// dequantized with ggml's arithmetic, so the values are ggml's).
llvm::Expected<std::vector<float>> toF32(const TensorRef &tensor);

/// A GGUF block-quantized tensor in qopt's terms (DESIGN.md: w = a * (q -
/// z)): unsigned codes one per byte, one f32 scale `a` per group along the
/// last dim and, when asymmetric, one f32 zero point `z` (in code units) per
/// group; symmetric tensors have z = 2^(bits-1).
///   Q8_0: 8 bits, group 32, code q + 128.  Q4_0: 4 bits, group 32, nibble.
///   Q6_K: 6 bits, group 16, a = d * scale.  Q3_K: 3 bits, group 16,
///   a = d * (scale - 32).  Q4_K / Q5_K: 4 / 5 bits, group 32, asymmetric,
///   a = d * scale, z = dmin * min / a.  Q2_K: 2 bits, group 16, asymmetric,
///   likewise. A K-quant group with a = 0 and a non-zero min (every value
///   -dmin * min) is stored exactly as codes 0, a = dmin * min, z = 1.
struct BlockQuantized {
  unsigned bits = 0;
  int64_t groupSize = 32;
  bool asymmetric = false;
  std::vector<uint8_t> codes; ///< numElements
  std::vector<float> scales;  ///< numElements / groupSize
  std::vector<float> zeros;   ///< as scales when asymmetric, else empty
  /// True when every scale is an f16 value of the file (Q8_0, Q4_0 blocks),
  /// which the importer then keeps at 16 bits; false for computed scales
  /// (K-quant products, or quantization at import).
  bool halfScales = false;
};
/// Block-quantized tensors are unpacked (Q8_0, Q4_0, Q3_K and Q6_K
/// exactly; the zero points of Q2_K, Q4_K and Q5_K are rounded to f32, so
/// a * (q - z) is within a few ulp of ggml's a * q - min). f32/f16/bf16
/// tensors are quantized to 8 bits with ggml's Q8_0 rounding (scale =
/// max|x| / 127).
llvm::Expected<BlockQuantized> toBlockQuantized(const TensorRef &tensor);
/// As above, but quantizes f32/f16/bf16 tensors to `bits` (8: ggml Q8_0
/// rounding; 4: ggml Q4_0 rounding, scale = signed max / -8). For a tensor
/// that is already block-quantized, `bits` must match its dtype.
llvm::Expected<BlockQuantized> toBlockQuantized(const TensorRef &tensor,
                                                unsigned bits);

/// A K-quant tensor with the file's two-level scales (qopt's `super = 256`
/// qtensor form, QOptTypes.td): unsigned codes one per byte and, per
/// super-block of 256 values along the last dimension, a record of
/// `recordBytes` bytes: the f16 bits of d, then the block's integer
/// sub-scales (`subBits` = 4: Q2_K's unsigned nibbles, two a byte; 8: one
/// signed byte each). Group g's scale is d * s[g]. Asymmetric types (Q2_K,
/// Q4_K, Q5_K) have the same records of dmin and the sub-minimums, and a
/// value is d * s[g] * q - dmin * m[g], ggml's arithmetic: the values are
/// ggml's bit for bit. Symmetric ones (Q3_K, Q6_K) are
/// d * s[g] * (q - 2^(bits-1)).
struct TwoLevelQuantized {
  unsigned bits = 0;
  int64_t groupSize = 0;
  int64_t superSize = 256;
  unsigned subBits = 8;
  bool asymmetric = false;
  int64_t recordBytes = 0;
  std::vector<uint8_t> codes;        ///< numElements
  std::vector<uint8_t> scaleRecords; ///< numElements / 256 * recordBytes
  std::vector<uint8_t> minRecords;   ///< as scaleRecords when asymmetric
};
/// The two-level form of a K-quant tensor; an error for other dtypes.
llvm::Expected<TwoLevelQuantized> toTwoLevelQuantized(const TensorRef &tensor);

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_CHECKPOINT_H
