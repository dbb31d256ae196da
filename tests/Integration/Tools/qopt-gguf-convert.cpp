//===- qopt-gguf-convert.cpp - llama2.c checkpoint to GGUF ------*- C++ -*-===//
//
// A test utility: converts a llama2.c legacy (version 0) checkpoint and its
// llama2.c tokenizer.bin into a llama GGUF v3 file, so that the GGUF path of
// qopt-import and qopt-run can be tested on a real model:
//
//   qopt-gguf-convert INPUT.bin --tokenizer tok.bin -o OUT.gguf
//                     [--type f32|f16|q8_0|q4_0|q2_K..q6_K|kmix]
//                     [--pad-to N] [--dequantize]
//
// 2-D weights are stored as --type; a weight whose rows are not a multiple
// of the type's block (32, or 256 for the K-quants) stays f32, and 1-D norms
// always stay f32. `kmix` gives each kind of weight its own K-quant, so one
// file holds all five (below). The K-quants are qopt's own encoder
// (GGUFWriter.h quantizeKQuant).
//
// --pad-to N pads the model with zeros to a dim, FFN size and head size
// that are multiples of N, keeping its function: the K-quants need rows of
// 256 and stories260K's are 64 and 172. Padded dims of the residual stream
// stay 0, so RMSNorm's mean shrinks by dim/dim': the norm weights are
// scaled by sqrt(dim/dim') and eps by dim/dim'. Heads of size hd grow to
// hd' = dim'/heads: the RoPE base becomes theta^(hd'/hd) (so the original
// pairs keep their frequencies) and wq is scaled by sqrt(hd'/hd) to undo
// the softmax's 1/sqrt(hd'). Exact when the ratios are powers of 4 (dim 64
// -> 256: factors 1/2, 1/4 and 2).
//
// --dequantize writes the quantized values back as f32: the same function
// as the quantized file, for checking a kernel against the float path.
// llama2.c's q/k rows are already in the interleaved RoPE order GGUF llama
// uses, so nothing is permuted. The vocabulary is written as
// tokenizer.ggml.model "llama" (Tokenizer::ggufVocabulary: pieces with
// U+2581 for ' ', <0xXX> byte tokens typed 6, <unk>/<s>/</s> at ids 0/1/2).
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/GGUFWriter.h"
#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"

#include <cmath>
#include <cstring>

namespace cl = llvm::cl;
using namespace qopt::model;

static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<llama2.c checkpoint .bin>"));
static cl::opt<std::string> tokenizerPath("tokenizer", cl::Required,
                                          cl::desc("llama2.c tokenizer.bin"),
                                          cl::value_desc("file"));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("Output GGUF file"),
                                       cl::value_desc("file"));
/// Not a ggml type: --type kmix.
static constexpr GGMLType kMixType = GGMLType(1000);

static cl::opt<GGMLType> weightType(
    "type", cl::desc("Type of the 2-D weights"), cl::init(GGMLType::F32),
    cl::values(clEnumValN(GGMLType::F32, "f32", "float32 (default)"),
               clEnumValN(GGMLType::F16, "f16", "float16"),
               clEnumValN(GGMLType::Q8_0, "q8_0",
                          "ggml Q8_0 (rows not a multiple of 32 stay f32)"),
               clEnumValN(GGMLType::Q4_0, "q4_0",
                          "ggml Q4_0 (rows not a multiple of 32 stay f32)"),
               clEnumValN(GGMLType::Q2_K, "q2_K", "ggml Q2_K (rows of 256)"),
               clEnumValN(GGMLType::Q3_K, "q3_K", "ggml Q3_K (rows of 256)"),
               clEnumValN(GGMLType::Q4_K, "q4_K", "ggml Q4_K (rows of 256)"),
               clEnumValN(GGMLType::Q5_K, "q5_K", "ggml Q5_K (rows of 256)"),
               clEnumValN(GGMLType::Q6_K, "q6_K", "ggml Q6_K (rows of 256)"),
               clEnumValN(kMixType, "kmix",
                          "each kind of weight its own K-quant (rows of "
                          "256)")));
static cl::opt<unsigned>
    padTo("pad-to", cl::init(0),
          cl::desc("Pad dim, FFN size and head size with zeros to multiples "
                   "of N, keeping the model's function (0: no padding)"),
          cl::value_desc("N"));
static cl::opt<bool>
    dequantizeWeights("dequantize", cl::init(false),
                      cl::desc("Store the quantized weights' values as f32"));

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "qopt-gguf-convert") << message << "\n";
  return 1;
}

/// The GGUF name of canonical tensor `name` (Checkpoint.h).
static std::string ggufName(llvm::StringRef name) {
  static const llvm::StringMap<const char *> global = {
      {"tok_embeddings", "token_embd.weight"},
      {"norm", "output_norm.weight"},
      {"output", "output.weight"}};
  static const llvm::StringMap<const char *> perLayer = {
      {"attention_norm", "attn_norm.weight"},
      {"wq", "attn_q.weight"},
      {"wk", "attn_k.weight"},
      {"wv", "attn_v.weight"},
      {"wo", "attn_output.weight"},
      {"ffn_norm", "ffn_norm.weight"},
      {"w1", "ffn_gate.weight"},
      {"w2", "ffn_down.weight"},
      {"w3", "ffn_up.weight"}};
  auto it = global.find(name);
  if (it != global.end())
    return it->second;
  // layers.L.KIND
  llvm::StringRef rest = name;
  if (!rest.consume_front("layers."))
    return "";
  auto [layer, kind] = rest.split('.');
  auto jt = perLayer.find(kind);
  if (jt == perLayer.end())
    return "";
  return ("blk." + layer + "." + jt->second).str();
}

/// Elements per block of `type` (1 for the float types).
static int64_t blockOf(GGMLType type) {
  switch (type) {
  case GGMLType::Q8_0:
  case GGMLType::Q4_0:
    return kGGMLBlockSize;
  case GGMLType::Q2_K:
  case GGMLType::Q3_K:
  case GGMLType::Q4_K:
  case GGMLType::Q5_K:
  case GGMLType::Q6_K:
    return 256;
  default:
    return 1;
  }
}

/// --type kmix: every K-quant on some kind of matrix of every layer.
static GGMLType mixType(llvm::StringRef name) {
  static const llvm::StringMap<GGMLType> types = {
      {"tok_embeddings", GGMLType::Q6_K},
      {"output", GGMLType::Q4_K},
      {"wq", GGMLType::Q2_K},
      {"wk", GGMLType::Q3_K},
      {"wv", GGMLType::Q4_K},
      {"wo", GGMLType::Q5_K},
      {"w1", GGMLType::Q6_K},
      {"w2", GGMLType::Q5_K},
      {"w3", GGMLType::Q3_K}};
  auto it = types.find(
      name.rsplit('.').second.empty() ? name : name.rsplit('.').second);
  return it == types.end() ? GGMLType::F32 : it->second;
}

/// The values `values` of `type` take once stored (quantized and back).
static std::vector<float> storedValues(GGMLType type,
                                       const std::vector<float> &values,
                                       llvm::ArrayRef<int64_t> shape) {
  std::vector<uint8_t> bytes = encodeValues(type, values);
  TensorRef ref;
  ref.name = "stored";
  ref.shape = shape.vec();
  ref.dtype = *dtypeOfGGMLType(uint32_t(type));
  ref.data = bytes.data();
  ref.numBytes = bytes.size();
  llvm::Expected<std::vector<float>> back = toF32(ref);
  if (!back) {
    llvm::consumeError(back.takeError());
    return {};
  }
  return std::move(*back);
}

/// The padded sizes of --pad-to and how weights map into them.
struct Padding {
  int64_t dim, hidden, headDim, fromHeadDim;
  /// Index `i` of a dimension of kind `axis` ('d' dim, 'h' hidden, 'q'
  /// heads x head size) in the padded model.
  int64_t map(char axis, int64_t i) const {
    return axis == 'q' ? (i / fromHeadDim) * headDim + i % fromHeadDim : i;
  }
  int64_t size(char axis, int64_t from) const {
    return axis == 'd'   ? dim
           : axis == 'h' ? hidden
                         : from / fromHeadDim * headDim;
  }
};

/// Pads tensor `name` (canonical, shape `shape`) in place; false for a
/// tensor the padding does not know.
static bool pad(const Padding &p, llvm::StringRef name,
                std::vector<int64_t> &shape, std::vector<float> &values,
                const ModelConfig &c) {
  llvm::StringRef kind =
      name.rsplit('.').second.empty() ? name : name.rsplit('.').second;
  // Axes of [rows, cols] (or [n] for norms) and a scale.
  static const llvm::StringMap<std::pair<const char *, int>> axes = {
      {"tok_embeddings", {"vd", 0}},
      {"output", {"vd", 0}},
      {"norm", {"d", 1}},
      {"attention_norm", {"d", 1}},
      {"ffn_norm", {"d", 1}},
      {"wq", {"qd", 2}},
      {"wk", {"qd", 0}},
      {"wv", {"qd", 0}},
      {"wo", {"dq", 0}},
      {"w1", {"hd", 0}},
      {"w3", {"hd", 0}},
      {"w2", {"dh", 0}}};
  auto [axis, scaleKind] = axes.lookup(kind);
  if (!axis || std::strlen(axis) != shape.size())
    return false;
  float scale = scaleKind == 1 ? std::sqrt(float(c.dim) / float(p.dim))
                : scaleKind == 2
                    ? std::sqrt(float(p.headDim) / float(p.fromHeadDim))
                    : 1.0f;
  std::vector<int64_t> padded = shape;
  for (size_t d = 0; d < shape.size(); ++d)
    if (axis[d] != 'v')
      padded[d] = p.size(axis[d], shape[d]);
  int64_t rows = shape.size() == 2 ? shape[0] : 1, cols = shape.back();
  int64_t paddedCols = padded.back();
  std::vector<float> out(
      size_t(padded[0] * (shape.size() == 2 ? paddedCols : 1)), 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t pr = shape.size() == 2 && axis[0] != 'v' ? p.map(axis[0], r) : r;
    for (int64_t k = 0; k < cols; ++k)
      out[size_t(pr * paddedCols + p.map(axis[shape.size() - 1], k))] =
          values[size_t(r * cols + k)] * scale;
  }
  shape = padded;
  values = std::move(out);
  return true;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(
      argc, argv,
      "qopt-gguf-convert: llama2.c checkpoint + tokenizer to a llama GGUF\n");

  llvm::Expected<std::unique_ptr<Checkpoint>> ckptOr = loadLlama2c(inputPath);
  if (!ckptOr)
    return fail(llvm::toString(ckptOr.takeError()));
  const Checkpoint &ckpt = **ckptOr;
  const ModelConfig &c = ckpt.config;

  llvm::Expected<std::unique_ptr<Tokenizer>> tokenizer =
      loadLlama2cTokenizer(tokenizerPath, c.vocabSize);
  if (!tokenizer)
    return fail(llvm::toString(tokenizer.takeError()));
  std::optional<GGUFVocabulary> vocab = (*tokenizer)->ggufVocabulary();
  if (!vocab)
    return fail("tokenizer '" + tokenizerPath + "' has no GGUF form");

  // --pad-to: the padded sizes.
  Padding p{c.dim, c.hiddenDim, c.headDim(), c.headDim()};
  float eps = c.normEps, theta = c.ropeTheta;
  if (padTo > 0) {
    auto up = [](int64_t n, int64_t m) { return (n + m - 1) / m * m; };
    p.dim = up(c.dim, padTo);
    p.hidden = up(c.hiddenDim, padTo);
    if (p.dim % c.numHeads != 0)
      return fail(llvm::formatv("--pad-to {0}: dim {1} is not a multiple of "
                                "the {2} heads",
                                unsigned(padTo), p.dim, c.numHeads)
                      .str());
    p.headDim = p.dim / c.numHeads;
    eps = c.normEps * float(c.dim) / float(p.dim);
    theta = float(std::pow(double(c.ropeTheta),
                           double(p.headDim) / double(p.fromHeadDim)));
  }

  GGUFWriter writer;
  writer.addString("general.architecture", "llama");
  writer.addString("general.name", "llama2.c");
  // ggml's LLAMA_FTYPE: the type most weights have.
  uint32_t fileType = 0;
  switch (weightType) {
  case GGMLType::F16:
    fileType = 1;
    break;
  case GGMLType::Q4_0:
    fileType = 2;
    break;
  case GGMLType::Q8_0:
    fileType = 7;
    break;
  case GGMLType::Q2_K:
    fileType = 10;
    break;
  case GGMLType::Q3_K:
    fileType = 12;
    break;
  case GGMLType::Q4_K:
    fileType = 15;
    break;
  case GGMLType::Q5_K:
    fileType = 17;
    break;
  case GGMLType::Q6_K:
    fileType = 18;
    break;
  default:
    break;
  }
  if (dequantizeWeights)
    fileType = 0;
  writer.addUInt32("general.file_type", fileType);
  writer.addUInt32("llama.context_length", uint32_t(c.maxSeqLen));
  writer.addUInt32("llama.embedding_length", uint32_t(p.dim));
  writer.addUInt32("llama.feed_forward_length", uint32_t(p.hidden));
  writer.addUInt32("llama.block_count", uint32_t(c.numLayers));
  writer.addUInt32("llama.attention.head_count", uint32_t(c.numHeads));
  writer.addUInt32("llama.attention.head_count_kv", uint32_t(c.numKVHeads));
  writer.addFloat32("llama.attention.layer_norm_rms_epsilon", eps);
  writer.addFloat32("llama.rope.freq_base", theta);
  writer.addUInt32("llama.rope.dimension_count", uint32_t(p.headDim));

  writer.addString("tokenizer.ggml.model", "llama");
  writer.addStringArray("tokenizer.ggml.tokens", vocab->tokens);
  writer.addFloat32Array("tokenizer.ggml.scores", vocab->scores);
  writer.addInt32Array("tokenizer.ggml.token_type", vocab->types);
  writer.addUInt32("tokenizer.ggml.bos_token_id", 1);
  writer.addUInt32("tokenizer.ggml.eos_token_id", 2);
  writer.addUInt32("tokenizer.ggml.unknown_token_id", 0);

  for (const TensorRef &t : ckpt.tensors) {
    std::string name = ggufName(t.name);
    if (name.empty())
      return fail("'" + inputPath + "': no GGUF name for tensor '" + t.name +
                  "'");
    llvm::Expected<std::vector<float>> values = toF32(t);
    if (!values)
      return fail(llvm::toString(values.takeError()));
    std::vector<int64_t> shape = t.shape;
    if (padTo > 0 && !pad(p, t.name, shape, *values, c))
      return fail("--pad-to: no padding rule for tensor '" + t.name + "'");
    GGMLType type = GGMLType::F32;
    if (shape.size() == 2) {
      type = weightType == kMixType ? mixType(t.name) : weightType.getValue();
      if (shape[1] % blockOf(type) != 0)
        type = GGMLType::F32;
    }
    if (dequantizeWeights) {
      *values = storedValues(type, *values, shape);
      type = GGMLType::F32;
    }
    writer.addTensorF32(name, shape, *values, type);
  }
  if (llvm::Error err = writer.write(outputPath))
    return fail(llvm::toString(std::move(err)));
  return 0;
}
