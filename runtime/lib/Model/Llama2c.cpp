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

/// A llama2.c header: its seven int32 fields, vocab_size made positive.
struct Header {
  int64_t dim, hidden, layers, heads, kvHeads, vocab, seqLen;
  /// vocab_size as stored: negative for an unshared classifier.
  int32_t storedVocab;
};
} // namespace

/// The size of the header: seven int32.
constexpr uint64_t kHeaderBytes = 7 * sizeof(int32_t);

/// A "bad header" error of the checkpoint `path` with header `h`.
static llvm::Error headerError(llvm::StringRef path, const Header &h,
                               const llvm::Twine &what) {
  return makeError("llama2.c checkpoint '" + path + "': bad header (dim=" +
                   llvm::Twine(h.dim) + " hidden_dim=" + llvm::Twine(h.hidden) +
                   " n_layers=" + llvm::Twine(h.layers) +
                   " n_heads=" + llvm::Twine(h.heads) +
                   " n_kv_heads=" + llvm::Twine(h.kvHeads) +
                   " vocab_size=" + llvm::Twine(h.storedVocab) +
                   " seq_len=" + llvm::Twine(h.seqLen) + "): " + what);
}

/// Reads and checks the header of the llama2.c checkpoint `path`
/// (`fileSize` bytes at `base`).
static llvm::Expected<Header>
readHeader(llvm::StringRef path, const uint8_t *base, uint64_t fileSize) {
  if (fileSize < kHeaderBytes)
    return makeError("llama2.c checkpoint '" + path + "' is " +
                     llvm::Twine(fileSize) + " bytes, smaller than its " +
                     llvm::Twine(kHeaderBytes) + "-byte header");

  int32_t h[7];
  for (int i = 0; i < 7; ++i)
    h[i] = loadI32(base + 4 * i);
  // llama2.c's versioned exports start with the magic "ak42".
  if (static_cast<uint32_t>(h[0]) == 0x616b3432u)
    return makeError("llama2.c checkpoint '" + path + "' is a version " +
                     llvm::Twine(h[1]) +
                     " export (magic 'ak42'); only the legacy version 0 "
                     "format (export.py --version 0) is supported");

  Header hd{h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[5]};
  if (hd.vocab < 0)
    hd.vocab = -hd.vocab;
  if (hd.dim <= 0 || hd.hidden <= 0 || hd.layers <= 0 || hd.heads <= 0 ||
      hd.kvHeads <= 0 || hd.vocab <= 0 || hd.seqLen <= 0)
    return headerError(path, hd, "all sizes must be positive");
  if (hd.seqLen > kMaxContextLength)
    return headerError(path, hd,
                       "seq_len is more than the " +
                           llvm::Twine(kMaxContextLength) +
                           " positions qopt supports");
  if (hd.dim % hd.heads != 0)
    return headerError(path, hd, "dim is not a multiple of n_heads");
  if (hd.heads % hd.kvHeads != 0)
    return headerError(path, hd, "n_heads is not a multiple of n_kv_heads");
  if ((hd.dim / hd.heads) % 2 != 0)
    return headerError(path, hd, "head size must be even for RoPE");
  return hd;
}

/// The weights of a checkpoint with header `h`, in file order.
static std::vector<Segment> segmentsOf(const Header &h) {
  int64_t dim = h.dim, hidden = h.hidden, vocab = h.vocab, seqLen = h.seqLen;
  int64_t headSize = dim / h.heads;
  int64_t kvDim = dim * h.kvHeads / h.heads;
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
  if (h.storedVocab <= 0) // an unshared classifier
    segments.push_back({"output", "wcls", false, {vocab, dim}, true});
  return segments;
}

/// Checks that the file is `fileSize` bytes, as header `h` and its
/// `segments` imply.
static llvm::Error checkFileSize(llvm::StringRef path, const Header &h,
                                 const std::vector<Segment> &segments,
                                 uint64_t fileSize) {
  // Total size, overflow-checked, before touching any weight.
  uint64_t expected = kHeaderBytes;
  for (const Segment &s : segments) {
    uint64_t n = sizeof(float);
    for (int64_t d : s.shape)
      if (!checkedMul(n, static_cast<uint64_t>(d), n))
        return headerError(path, h, "sizes overflow");
    if ((s.perLayer && !checkedMul(n, static_cast<uint64_t>(h.layers), n)) ||
        !checkedAdd(expected, n, expected))
      return headerError(path, h, "sizes overflow");
  }
  if (fileSize != expected)
    return makeError(
        "llama2.c checkpoint '" + path + "' is " + llvm::Twine(fileSize) +
        " bytes but its header (dim=" + llvm::Twine(h.dim) + " hidden_dim=" +
        llvm::Twine(h.hidden) + " n_layers=" + llvm::Twine(h.layers) +
        " n_heads=" + llvm::Twine(h.heads) + " n_kv_heads=" +
        llvm::Twine(h.kvHeads) + " vocab_size=" + llvm::Twine(h.storedVocab) +
        " seq_len=" + llvm::Twine(h.seqLen) + ") implies " +
        llvm::Twine(expected) + " bytes" +
        (fileSize < expected ? " (truncated file?)" : " (trailing data?)"));
  return llvm::Error::success();
}

/// Adds the tensors of `segments` (in the file at `path`, mapped at `base`)
/// to ckpt.tensors: per-layer tensors grouped by layer, global ones in file
/// order.
static void addTensors(Checkpoint &ckpt, llvm::StringRef path,
                       const uint8_t *base,
                       const std::vector<Segment> &segments, int64_t layers) {
  struct Placed {
    const Segment *seg;
    uint64_t offset;    ///< of the whole (stacked) array
    uint64_t bytesEach; ///< one layer's worth
  };
  std::vector<Placed> placed;
  uint64_t offset = kHeaderBytes;
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
      ckpt.tensors.push_back(makeRef(p, 0));
  for (int64_t l = 0; l < layers; ++l)
    for (const Placed &p : placed)
      if (p.seg->perLayer)
        ckpt.tensors.push_back(makeRef(p, l));
  for (const Placed &p : placed)
    if (!p.seg->perLayer && p.seg->keep &&
        llvm::StringRef(p.seg->name) != "tok_embeddings")
      ckpt.tensors.push_back(makeRef(p, 0));
}

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
  llvm::Expected<Header> header = readHeader(path, base, fileSize);
  if (!header)
    return header.takeError();
  const Header &h = *header;
  std::vector<Segment> segments = segmentsOf(h);
  if (llvm::Error e = checkFileSize(path, h, segments, fileSize))
    return std::move(e);

  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->path = path.str();
  ckpt->format = "llama2c";
  ModelConfig &c = ckpt->config;
  c.architecture = "llama";
  c.dim = h.dim;
  c.hiddenDim = h.hidden;
  c.numLayers = h.layers;
  c.numHeads = h.heads;
  c.numKVHeads = h.kvHeads;
  c.vocabSize = h.vocab;
  c.maxSeqLen = h.seqLen;
  c.normEps = 1e-5f;
  c.ropeTheta = 10000.0f;
  c.ropeStyle = RopeStyle::Interleaved;
  c.tiedEmbeddings = h.storedVocab > 0;
  addTensors(*ckpt, path, base, segments, h.layers);

  ckpt->metadata.push_back({"llama2c.version", "0"});
  ckpt->buffers.push_back(std::move(buf));
  return ckpt;
}
