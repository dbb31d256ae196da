//===- Llama2c.cpp - llama2.c legacy checkpoint reader ----------*- C++ -*-===//
//
// Reads karpathy/llama2.c's legacy (version 0) export: a header of seven
// int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; a negative vocab_size means an unshared classifier) followed by
// the fp32 weights, each kind stacked over the layers. The stacked arrays
// are split into canonical per-layer TensorRefs pointing into the mapped
// file. The file size must match the header exactly.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Input.h"

#include "ModelUtils.h"

#include "llvm/Support/Format.h"

using namespace qopt::model;
using namespace qopt::model::detail;

namespace {
/// One kind of weight in file order: per layer (stacked) or global.
struct Segment {
  const char *name;   ///< canonical name ("wq" -> layers.l.wq)
  const char *source; ///< llama2.c's name
  bool perLayer;
  std::vector<int64_t> shape; ///< per layer when perLayer
  bool keep;                  ///< false for freq_cis (skipped)
};
} // namespace

llvm::Expected<std::unique_ptr<Checkpoint>>
qopt::model::loadLlama2c(llvm::StringRef path) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> bufOrErr =
      openRegularFile(path, "llama2.c checkpoint");
  if (!bufOrErr)
    return bufOrErr.takeError();
  std::unique_ptr<llvm::MemoryBuffer> buf = std::move(*bufOrErr);
  const uint8_t *base =
      reinterpret_cast<const uint8_t *>(buf->getBufferStart());
  uint64_t fileSize = buf->getBufferSize();
  constexpr uint64_t headerBytes = 7 * sizeof(int32_t);
  if (fileSize < headerBytes)
    return makeError("llama2.c checkpoint '" + path + "' is " +
                     llvm::Twine(fileSize) + " bytes, smaller than its " +
                     llvm::Twine(headerBytes) + "-byte header");

  int32_t h[7];
  for (int i = 0; i < 7; ++i)
    h[i] = loadI32(base + 4 * i);
  // llama2.c's versioned exports start with the magic "ak42".
  if (static_cast<uint32_t>(h[0]) == 0x616b3432u)
    return makeError("llama2.c checkpoint '" + path + "' is a version " +
                     llvm::Twine(h[1]) +
                     " export (magic 'ak42'); only the legacy version 0 "
                     "format (export.py --version 0) is supported");

  int64_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3],
          kvHeads = h[4], vocab = h[5], seqLen = h[6];
  bool shared = vocab > 0;
  if (vocab < 0)
    vocab = -vocab;
  auto headerError = [&](const llvm::Twine &what) {
    return makeError("llama2.c checkpoint '" + path + "': bad header (dim=" +
                     llvm::Twine(dim) + " hidden_dim=" + llvm::Twine(hidden) +
                     " n_layers=" + llvm::Twine(layers) +
                     " n_heads=" + llvm::Twine(heads) + " n_kv_heads=" +
                     llvm::Twine(kvHeads) + " vocab_size=" + llvm::Twine(h[5]) +
                     " seq_len=" + llvm::Twine(seqLen) + "): " + what);
  };
  if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 ||
      vocab <= 0 || seqLen <= 0)
    return headerError("all sizes must be positive");
  if (seqLen > kMaxContextLength)
    return headerError("seq_len is more than the " +
                       llvm::Twine(kMaxContextLength) +
                       " positions qopt supports");
  if (dim % heads != 0)
    return headerError("dim is not a multiple of n_heads");
  if (heads % kvHeads != 0)
    return headerError("n_heads is not a multiple of n_kv_heads");
  int64_t headSize = dim / heads;
  if (headSize % 2 != 0)
    return headerError("head size must be even for RoPE");
  int64_t kvDim = dim * kvHeads / heads;

  std::vector<Segment> segments = {
      {"tok_embeddings", "token_embedding_table", false, {vocab, dim}, true},
      {"attention_norm", "rms_att_weight", true, {dim}, true},
      {"wq", "wq", true, {dim, dim}, true},
      {"wk", "wk", true, {kvDim, dim}, true},
      {"wv", "wv", true, {kvDim, dim}, true},
      {"wo", "wo", true, {dim, dim}, true},
      {"ffn_norm", "rms_ffn_weight", true, {dim}, true},
      {"w1", "w1", true, {hidden, dim}, true},
      {"w2", "w2", true, {dim, hidden}, true},
      {"w3", "w3", true, {hidden, dim}, true},
      {"norm", "rms_final_weight", false, {dim}, true},
      {"freq_cis_real", "freq_cis_real", false, {seqLen, headSize / 2}, false},
      {"freq_cis_imag", "freq_cis_imag", false, {seqLen, headSize / 2}, false},
  };
  if (!shared)
    segments.push_back({"output", "wcls", false, {vocab, dim}, true});

  // Total size, overflow-checked, before touching any weight.
  uint64_t expected = headerBytes;
  for (const Segment &s : segments) {
    uint64_t n = sizeof(float);
    for (int64_t d : s.shape)
      if (!checkedMul(n, static_cast<uint64_t>(d), n))
        return headerError("sizes overflow");
    if ((s.perLayer && !checkedMul(n, static_cast<uint64_t>(layers), n)) ||
        !checkedAdd(expected, n, expected))
      return headerError("sizes overflow");
  }
  if (fileSize != expected)
    return makeError(
        "llama2.c checkpoint '" + path + "' is " + llvm::Twine(fileSize) +
        " bytes but its header (dim=" + llvm::Twine(dim) +
        " hidden_dim=" + llvm::Twine(hidden) +
        " n_layers=" + llvm::Twine(layers) + " n_heads=" + llvm::Twine(heads) +
        " n_kv_heads=" + llvm::Twine(kvHeads) +
        " vocab_size=" + llvm::Twine(h[5]) + " seq_len=" + llvm::Twine(seqLen) +
        ") implies " + llvm::Twine(expected) + " bytes" +
        (fileSize < expected ? " (truncated file?)" : " (trailing data?)"));

  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->path = path.str();
  ckpt->format = "llama2c";
  ModelConfig &c = ckpt->config;
  c.architecture = "llama";
  c.dim = dim;
  c.hiddenDim = hidden;
  c.numLayers = layers;
  c.numHeads = heads;
  c.numKVHeads = kvHeads;
  c.vocabSize = vocab;
  c.maxSeqLen = seqLen;
  c.normEps = 1e-5f;
  c.ropeTheta = 10000.0f;
  c.ropeStyle = RopeStyle::Interleaved;
  c.tiedEmbeddings = shared;

  // Emit per-layer tensors grouped by layer, global ones in file order.
  struct Placed {
    const Segment *seg;
    uint64_t offset;    ///< of the whole (stacked) array
    uint64_t bytesEach; ///< one layer's worth
  };
  std::vector<Placed> placed;
  uint64_t offset = headerBytes;
  for (const Segment &s : segments) {
    uint64_t n = sizeof(float);
    for (int64_t d : s.shape)
      n *= static_cast<uint64_t>(d);
    placed.push_back({&s, offset, n});
    offset += s.perLayer ? n * layers : n;
  }
  auto makeRef = [&](const Placed &p, int64_t layer) {
    TensorRef t;
    t.name = p.seg->perLayer
                 ? ("layers." + llvm::Twine(layer) + "." + p.seg->name).str()
                 : std::string(p.seg->name);
    t.sourceName =
        p.seg->perLayer
            ? (llvm::Twine(p.seg->source) + "[" + llvm::Twine(layer) + "]")
                  .str()
            : std::string(p.seg->source);
    t.file = path.str();
    t.dtype = DType::F32;
    t.shape = p.seg->shape;
    t.numBytes = p.bytesEach;
    t.data = base + p.offset + (p.seg->perLayer ? layer * p.bytesEach : 0);
    return t;
  };
  for (const Placed &p : placed)
    if (!p.seg->perLayer && p.seg->keep &&
        llvm::StringRef(p.seg->name) == "tok_embeddings")
      ckpt->tensors.push_back(makeRef(p, 0));
  for (int64_t l = 0; l < layers; ++l)
    for (const Placed &p : placed)
      if (p.seg->perLayer)
        ckpt->tensors.push_back(makeRef(p, l));
  for (const Placed &p : placed)
    if (!p.seg->perLayer && p.seg->keep &&
        llvm::StringRef(p.seg->name) != "tok_embeddings")
      ckpt->tensors.push_back(makeRef(p, 0));

  ckpt->metadata.push_back({"llama2c.version", "0"});
  ckpt->buffers.push_back(std::move(buf));
  return ckpt;
}
