//===- CheckpointTest.cpp - Tests of the checkpoint readers -----*- C++ -*-===//
//
// Synthetic llama2.c .bin files and Hugging Face directories (config.json in
// transformers 4.x and 5.x spellings, single and sharded safetensors) are
// written to a temporary directory and loaded; broken variants must give an
// llvm::Error naming the file and tensor, never a crash. Also covers the
// dtype conversions (toF32, toBlockQuantized).
//
//===----------------------------------------------------------------------===//

#include "TestUtils.h"

#include "qopt/Model/Checkpoint.h"

#include "llvm/Support/Path.h"

#include "gmock/gmock.h"

#include <cmath>
#include <map>

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

//===----------------------------------------------------------------------===//
// llama2.c
//===----------------------------------------------------------------------===//

/// Header of a tiny llama2.c model: dim 8, hidden 12, 2 layers, 2 heads,
/// 1 KV head, vocab 10, seq_len 4.
struct Llama2cHeader {
  int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kvHeads = 1, vocab = 10,
          seqLen = 4;
};

/// Number of floats the weights of `h` take (wcls included if unshared).
static int64_t llama2cFloats(const Llama2cHeader &h) {
  int64_t vocab = std::abs(h.vocab), kvDim = h.dim * h.kvHeads / h.heads;
  int64_t headSize = h.dim / h.heads;
  int64_t n = vocab * h.dim;
  n += h.layers * (h.dim + h.dim * h.dim + 2 * kvDim * h.dim + h.dim * h.dim +
                   h.dim + 3 * h.hidden * h.dim);
  n += h.dim + 2 * h.seqLen * headSize / 2;
  if (h.vocab < 0)
    n += vocab * h.dim;
  return n;
}

/// A llama2.c file whose i-th weight float is i; `weights` overrides the
/// count of floats written (to truncate or pad).
static std::string llama2cFile(const Llama2cHeader &h, int64_t weights = -1) {
  std::string out;
  for (int32_t v :
       {h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seqLen})
    appendRaw(out, v);
  if (weights < 0)
    weights = llama2cFloats(h);
  for (int64_t i = 0; i < weights; ++i)
    appendRaw(out, static_cast<float>(i));
  return out;
}

/// First float of a tensor.
static float firstValue(const TensorRef &t) {
  float v;
  std::memcpy(&v, t.data, sizeof(v));
  return v;
}

TEST(Llama2cTest, LoadsSharedClassifier) {
  TempDir dir;
  Llama2cHeader h;
  std::string path = dir.file("tiny.bin");
  writeFile(path, llama2cFile(h));
  auto ckpt = unwrap(loadCheckpoint(path));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->format, "llama2c");
  const ModelConfig &c = ckpt->config;
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.hiddenDim, 12);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 2);
  EXPECT_EQ(c.numKVHeads, 1);
  EXPECT_EQ(c.vocabSize, 10);
  EXPECT_EQ(c.maxSeqLen, 4);
  EXPECT_EQ(c.kvDim(), 4);
  EXPECT_TRUE(c.tiedEmbeddings);
  EXPECT_EQ(c.ropeStyle, RopeStyle::Interleaved);
  EXPECT_FLOAT_EQ(c.normEps, 1e-5f);
  EXPECT_FLOAT_EQ(c.ropeTheta, 10000.0f);
  EXPECT_EQ(ckpt->tensors.size(), 1u + 9u * 2u + 1u);
  EXPECT_EQ(ckpt->find("output"), nullptr);
  EXPECT_EQ(ckpt->find("freq_cis_real"), nullptr);

  // Offsets (in floats) of each array, as the file lays them out.
  int64_t emb = 0, rmsAtt = emb + 80, wq = rmsAtt + 2 * 8, wk = wq + 2 * 64,
          wv = wk + 2 * 32, wo = wv + 2 * 32, rmsFfn = wo + 2 * 64,
          w1 = rmsFfn + 2 * 8, w2 = w1 + 2 * 96, w3 = w2 + 2 * 96,
          norm = w3 + 2 * 96;
  struct {
    const char *name;
    std::vector<int64_t> shape;
    int64_t first;
  } expected[] = {
      {"tok_embeddings", {10, 8}, emb},
      {"layers.0.attention_norm", {8}, rmsAtt},
      {"layers.1.attention_norm", {8}, rmsAtt + 8},
      {"layers.0.wq", {8, 8}, wq},
      {"layers.1.wq", {8, 8}, wq + 64},
      {"layers.1.wk", {4, 8}, wk + 32},
      {"layers.1.wv", {4, 8}, wv + 32},
      {"layers.1.wo", {8, 8}, wo + 64},
      {"layers.1.ffn_norm", {8}, rmsFfn + 8},
      {"layers.1.w1", {12, 8}, w1 + 96},
      {"layers.1.w2", {8, 12}, w2 + 96},
      {"layers.1.w3", {12, 8}, w3 + 96},
      {"norm", {8}, norm},
  };
  for (const auto &e : expected) {
    const TensorRef *t = ckpt->find(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->shape, e.shape) << e.name;
    EXPECT_EQ(t->dtype, DType::F32);
    EXPECT_EQ(t->file, path);
    EXPECT_EQ(t->numBytes, size_t(t->numElements() * 4)) << e.name;
    EXPECT_EQ(firstValue(*t), float(e.first)) << e.name;
  }
  // Data is mapped, not copied: layer 1 follows layer 0 in the file.
  EXPECT_EQ(ckpt->find("layers.1.wq")->data,
            ckpt->find("layers.0.wq")->data + 64 * 4);
  auto wv1 = unwrap(toF32(*ckpt->find("layers.1.wv")));
  ASSERT_EQ(wv1.size(), 32u);
  EXPECT_EQ(wv1[31], float(wv + 63));
}

TEST(Llama2cTest, LoadsUnsharedClassifier) {
  TempDir dir;
  Llama2cHeader h;
  h.vocab = -10;
  std::string path = dir.file("unshared.bin");
  writeFile(path, llama2cFile(h));
  auto ckpt = unwrap(loadLlama2c(path));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->config.vocabSize, 10);
  EXPECT_FALSE(ckpt->config.tiedEmbeddings);
  auto out = unwrap(ckpt->get("output"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->shape, (std::vector<int64_t>{10, 8}));
  EXPECT_EQ(firstValue(*out), float(llama2cFloats(h) - 80));
}

TEST(Llama2cTest, TruncatedFile) {
  TempDir dir;
  Llama2cHeader h;
  std::string path = dir.file("trunc.bin");
  writeFile(path, llama2cFile(h, llama2cFloats(h) - 3));
  std::string msg = errorOf(loadCheckpoint(path));
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("truncated"));
  EXPECT_THAT(msg, HasSubstr(std::to_string(28 + 4 * llama2cFloats(h))));
}

TEST(Llama2cTest, HeaderClaimsMoreLayers) {
  TempDir dir;
  Llama2cHeader h;
  std::string bytes = llama2cFile(h);
  int32_t layers = 3;
  std::memcpy(&bytes[8], &layers, 4);
  std::string path = dir.file("lies.bin");
  writeFile(path, bytes);
  std::string msg = errorOf(loadLlama2c(path));
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("n_layers=3"));
  EXPECT_THAT(msg, HasSubstr("implies"));
}

TEST(Llama2cTest, TrailingData) {
  TempDir dir;
  Llama2cHeader h;
  std::string path = dir.file("pad.bin");
  writeFile(path, llama2cFile(h, llama2cFloats(h) + 1));
  EXPECT_THAT(errorOf(loadLlama2c(path)), HasSubstr("trailing"));
}

TEST(Llama2cTest, BadHeaders) {
  TempDir dir;
  std::string path = dir.file("bad.bin");
  auto check = [&](Llama2cHeader h, const char *what) {
    std::string bytes;
    for (int32_t v :
         {h.dim, h.hidden, h.layers, h.heads, h.kvHeads, h.vocab, h.seqLen})
      appendRaw(bytes, v);
    bytes += std::string(64, '\0');
    writeFile(path, bytes);
    std::string msg = errorOf(loadLlama2c(path));
    EXPECT_THAT(msg, HasSubstr(path)) << what;
    EXPECT_THAT(msg, HasSubstr(what));
  };
  Llama2cHeader h;
  h.dim = 0;
  check(h, "positive");
  h = Llama2cHeader();
  h.heads = 3;
  check(h, "dim is not a multiple of n_heads");
  h = Llama2cHeader();
  h.kvHeads = 3;
  h.heads = 4;
  check(h, "n_heads is not a multiple of n_kv_heads");
  h = Llama2cHeader();
  h.layers = -1;
  check(h, "positive");
  // Huge sizes must not overflow into a plausible total.
  h = Llama2cHeader();
  h.dim = h.hidden = h.vocab = 1 << 30;
  h.layers = INT32_MAX;
  h.heads = h.kvHeads = 1 << 29;
  check(h, "overflow");
  // A context beyond kMaxContextLength, however large the file.
  h = Llama2cHeader();
  h.seqLen = (1 << 24) + 1;
  check(h, "seq_len is more than the 16777216 positions qopt supports");

  writeFile(path, "abc");
  EXPECT_THAT(errorOf(loadLlama2c(path)), HasSubstr("smaller than"));
  writeFile(path, "");
  EXPECT_THAT(errorOf(loadCheckpoint(path)), HasSubstr(path));
  std::string v1;
  appendRaw(v1, uint32_t(0x616b3432)); // export.py's struct.pack('I', ...)
  appendRaw(v1, int32_t(1));
  v1 += std::string(300, '\0');
  writeFile(path, v1);
  EXPECT_THAT(errorOf(loadCheckpoint(path)), HasSubstr("version 1"));
  EXPECT_THAT(errorOf(loadCheckpoint(dir.file("absent.bin"))),
              HasSubstr("does not exist"));
}

TEST(CheckpointTest, GetNamesCheckpointAndTensor) {
  TempDir dir;
  std::string path = dir.file("tiny.bin");
  writeFile(path, llama2cFile(Llama2cHeader()));
  auto ckpt = unwrap(loadCheckpoint(path));
  ASSERT_TRUE(ckpt);
  std::string msg = errorOf(ckpt->get("layers.7.wq"));
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("layers.7.wq"));
}

//===----------------------------------------------------------------------===//
// Hugging Face
//===----------------------------------------------------------------------===//

/// A tiny HF Llama: dim 8, hidden 12, 2 layers, 2 heads, `kvHeads` KV heads.
struct HFModel {
  int64_t dim = 8, hidden = 12, layers = 2, heads = 2, kvHeads = 1, vocab = 10;
  bool lmHead = true;

  /// (name, shape) of every tensor, HF names.
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors() const {
    int64_t kvDim = dim / heads * kvHeads;
    std::vector<std::pair<std::string, std::vector<int64_t>>> t;
    t.push_back({"model.embed_tokens.weight", {vocab, dim}});
    for (int64_t l = 0; l < layers; ++l) {
      std::string p = "model.layers." + std::to_string(l) + ".";
      t.push_back({p + "input_layernorm.weight", {dim}});
      t.push_back({p + "self_attn.q_proj.weight", {dim, dim}});
      t.push_back({p + "self_attn.k_proj.weight", {kvDim, dim}});
      t.push_back({p + "self_attn.v_proj.weight", {kvDim, dim}});
      t.push_back({p + "self_attn.o_proj.weight", {dim, dim}});
      t.push_back({p + "post_attention_layernorm.weight", {dim}});
      t.push_back({p + "mlp.gate_proj.weight", {hidden, dim}});
      t.push_back({p + "mlp.down_proj.weight", {dim, hidden}});
      t.push_back({p + "mlp.up_proj.weight", {hidden, dim}});
    }
    t.push_back({"model.norm.weight", {dim}});
    if (lmHead)
      t.push_back({"lm_head.weight", {vocab, dim}});
    return t;
  }

  /// The value of element `i` of tensor number `k`.
  static float value(size_t k, int64_t i) { return k * 1000.0f + i; }

  /// Writes tensors [begin, end) into `w` (f32, values from value()).
  void write(SafetensorsWriter &w, size_t begin = 0, size_t end = ~0ull) const {
    auto all = tensors();
    for (size_t k = begin; k < std::min(end, all.size()); ++k) {
      int64_t n = 1;
      for (int64_t d : all[k].second)
        n *= d;
      std::vector<float> v(n);
      for (int64_t i = 0; i < n; ++i)
        v[i] = value(k, i);
      w.addF32(all[k].first, all[k].second, v);
    }
  }

  /// config.json in transformers 4.x spelling.
  llvm::json::Object config4x(bool tied) const {
    return llvm::json::Object{
        {"architectures", llvm::json::Array{"LlamaForCausalLM"}},
        {"model_type", "llama"},
        {"hidden_size", dim},
        {"intermediate_size", hidden},
        {"num_hidden_layers", layers},
        {"num_attention_heads", heads},
        {"num_key_value_heads", kvHeads},
        {"vocab_size", vocab},
        {"max_position_embeddings", 32},
        {"rms_norm_eps", 1e-6},
        {"rope_theta", 500000.0},
        {"rope_scaling", nullptr},
        {"tie_word_embeddings", tied},
        {"hidden_act", "silu"},
        {"torch_dtype", "float32"},
        {"transformers_version", "4.46.0"}};
  }
};

/// Serializes `obj` to `path`.
static void writeJson(const std::string &path, llvm::json::Value obj) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << obj;
  os.flush();
  writeFile(path, text);
}

TEST(HuggingFaceTest, LoadsConfig4x) {
  TempDir dir;
  HFModel m;
  writeJson(dir.file("config.json"), m.config4x(/*tied=*/false));
  SafetensorsWriter w;
  m.write(w);
  writeFile(dir.file("model.safetensors"), w.str());

  auto ckpt = unwrap(loadCheckpoint(dir.path));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->format, "safetensors");
  const ModelConfig &c = ckpt->config;
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.hiddenDim, 12);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 2);
  EXPECT_EQ(c.numKVHeads, 1);
  EXPECT_EQ(c.vocabSize, 10);
  EXPECT_EQ(c.maxSeqLen, 32);
  EXPECT_FLOAT_EQ(c.normEps, 1e-6f);
  EXPECT_FLOAT_EQ(c.ropeTheta, 500000.0f);
  EXPECT_EQ(c.ropeStyle, RopeStyle::RotateHalf);
  EXPECT_FALSE(c.tiedEmbeddings);
  EXPECT_EQ(ckpt->tensors.size(), 1u + 9u * 2u + 2u);

  // Each canonical tensor is the HF tensor of the same index.
  auto all = m.tensors();
  std::map<std::string, std::string> canon = {
      {"model.embed_tokens.weight", "tok_embeddings"},
      {"model.layers.1.input_layernorm.weight", "layers.1.attention_norm"},
      {"model.layers.1.self_attn.q_proj.weight", "layers.1.wq"},
      {"model.layers.1.self_attn.k_proj.weight", "layers.1.wk"},
      {"model.layers.1.self_attn.v_proj.weight", "layers.1.wv"},
      {"model.layers.0.self_attn.o_proj.weight", "layers.0.wo"},
      {"model.layers.1.post_attention_layernorm.weight", "layers.1.ffn_norm"},
      {"model.layers.1.mlp.gate_proj.weight", "layers.1.w1"},
      {"model.layers.1.mlp.down_proj.weight", "layers.1.w2"},
      {"model.layers.1.mlp.up_proj.weight", "layers.1.w3"},
      {"model.norm.weight", "norm"},
      {"lm_head.weight", "output"}};
  for (size_t k = 0; k < all.size(); ++k) {
    auto it = canon.find(all[k].first);
    if (it == canon.end())
      continue;
    const TensorRef *t = ckpt->find(it->second);
    ASSERT_NE(t, nullptr) << it->second;
    EXPECT_EQ(t->sourceName, all[k].first);
    EXPECT_EQ(t->shape, all[k].second);
    EXPECT_EQ(t->file, dir.file("model.safetensors"));
    auto v = unwrap(toF32(*t));
    ASSERT_EQ(int64_t(v.size()), t->numElements());
    EXPECT_EQ(v.front(), HFModel::value(k, 0)) << it->second;
    EXPECT_EQ(v.back(), HFModel::value(k, v.size() - 1)) << it->second;
  }
}

TEST(HuggingFaceTest, LoadsConfig5xTiedAndDefaultKVHeads) {
  TempDir dir;
  HFModel m;
  m.kvHeads = 2; // num_key_value_heads omitted: defaults to the head count
  llvm::json::Object cfg{
      {"architectures", llvm::json::Array{"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", m.dim},
      {"intermediate_size", m.hidden},
      {"num_hidden_layers", m.layers},
      {"num_attention_heads", m.heads},
      {"vocab_size", m.vocab},
      {"max_position_embeddings", 64},
      {"rms_norm_eps", 1e-5},
      {"rope_parameters",
       llvm::json::Object{{"rope_theta", 20000.0}, {"rope_type", "default"}}},
      {"tie_word_embeddings", true},
      {"dtype", "bfloat16"},
      {"transformers_version", "5.0.0"}};
  writeJson(dir.file("config.json"), std::move(cfg));
  SafetensorsWriter w;
  m.write(w); // includes lm_head, which tied checkpoints ignore
  writeFile(dir.file("model.safetensors"), w.str());

  auto ckpt = unwrap(loadHuggingFace(dir.path));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->config.numKVHeads, 2);
  EXPECT_FLOAT_EQ(ckpt->config.ropeTheta, 20000.0f);
  EXPECT_FLOAT_EQ(ckpt->config.normEps, 1e-5f);
  EXPECT_TRUE(ckpt->config.tiedEmbeddings);
  EXPECT_EQ(ckpt->find("output"), nullptr);
  EXPECT_EQ(ckpt->find("layers.0.wk")->shape, (std::vector<int64_t>{8, 8}));
  // The tensors' dtype (F32) wins over the informational config dtype.
  EXPECT_EQ(ckpt->find("norm")->dtype, DType::F32);
}

/// The committed checkpoints of tests/Inputs/arch (transformers 5.17).
static std::unique_ptr<Checkpoint> loadArch(llvm::StringRef name) {
  llvm::SmallString<256> dir(QOPT_ARCH_INPUTS);
  llvm::sys::path::append(dir, name);
  llvm::Expected<std::unique_ptr<Checkpoint>> ckpt = loadHuggingFace(dir);
  EXPECT_TRUE(bool(ckpt)) << name.str() << ": "
                          << llvm::toString(ckpt.takeError());
  return ckpt ? std::move(*ckpt) : nullptr;
}

TEST(HuggingFaceTest, ModelFamilies) {
  auto qwen = loadArch("qwen2");
  ASSERT_TRUE(qwen);
  EXPECT_EQ(qwen->config.architecture, "qwen2");
  EXPECT_TRUE(qwen->config.attentionBias);
  EXPECT_FALSE(qwen->config.tiedEmbeddings);
  EXPECT_FLOAT_EQ(qwen->config.ropeTheta, 1e6f);
  ASSERT_NE(qwen->find("layers.1.bq"), nullptr);
  EXPECT_EQ(qwen->find("layers.1.bq")->shape, std::vector<int64_t>{32});
  EXPECT_EQ(qwen->find("layers.1.bk")->shape, std::vector<int64_t>{16});
  EXPECT_EQ(qwen->find("layers.1.bv")->sourceName,
            "model.layers.1.self_attn.v_proj.bias");
  auto tied = loadArch("qwen2-tied");
  ASSERT_TRUE(tied);
  EXPECT_TRUE(tied->config.tiedEmbeddings);
  EXPECT_EQ(tied->find("output"), nullptr);

  auto mistral = loadArch("mistral");
  ASSERT_TRUE(mistral);
  EXPECT_EQ(mistral->config.architecture, "mistral");
  EXPECT_EQ(mistral->config.slidingWindow, 0);
  EXPECT_FALSE(mistral->config.attentionBias);
  auto swa = loadArch("mistral-swa");
  ASSERT_TRUE(swa);
  EXPECT_EQ(swa->config.slidingWindow, 24);
}

TEST(HuggingFaceTest, RopeScalingTypes) {
  auto linear = loadArch("llama-rope-linear");
  ASSERT_TRUE(linear);
  EXPECT_EQ(linear->config.ropeScaling.type, RopeScalingType::Linear);
  EXPECT_DOUBLE_EQ(linear->config.ropeScaling.factor, 4.0);

  auto dynamic = loadArch("llama-rope-dynamic");
  ASSERT_TRUE(dynamic);
  EXPECT_EQ(dynamic->config.ropeScaling.type, RopeScalingType::Dynamic);
  EXPECT_EQ(dynamic->config.ropeScaling.originalMaxPositions, 16);
  // Scaling starts at max_position_embeddings; the context is qopt's.
  EXPECT_EQ(dynamic->config.maxSeqLen, kMaxContextLength);

  auto llama3 = loadArch("llama-rope-llama3");
  ASSERT_TRUE(llama3);
  const RopeScaling &l3 = llama3->config.ropeScaling;
  EXPECT_EQ(l3.type, RopeScalingType::Llama3);
  EXPECT_DOUBLE_EQ(l3.factor, 8.0);
  EXPECT_DOUBLE_EQ(l3.lowFreqFactor, 1.0);
  EXPECT_DOUBLE_EQ(l3.highFreqFactor, 4.0);
  EXPECT_EQ(l3.originalMaxPositions, 16);

  auto yarn = loadArch("llama-rope-yarn");
  ASSERT_TRUE(yarn);
  const RopeScaling &y = yarn->config.ropeScaling;
  EXPECT_EQ(y.type, RopeScalingType::Yarn);
  EXPECT_DOUBLE_EQ(y.factor, 4.0);
  EXPECT_EQ(y.originalMaxPositions, 16);
  EXPECT_DOUBLE_EQ(y.betaFast, 32.0);
  EXPECT_DOUBLE_EQ(y.betaSlow, 1.0);
  EXPECT_TRUE(y.truncate);
}

TEST(RopeFrequenciesTest, Tables) {
  const int64_t d = 16;
  const float theta = 10000.0f;
  auto plain = [&](int64_t j) {
    return 1.0 / std::pow(10000.0, double(2 * j) / double(d));
  };
  // default and dynamic: no table, the op computes it.
  EXPECT_TRUE(computeRopeFrequencies(d, theta, RopeScaling()).invFreq.empty());
  RopeScaling dyn;
  dyn.type = RopeScalingType::Dynamic;
  dyn.factor = 2.0;
  EXPECT_TRUE(computeRopeFrequencies(d, theta, dyn).invFreq.empty());

  RopeScaling linear;
  linear.type = RopeScalingType::Linear;
  linear.factor = 4.0;
  RopeFrequencies lf = computeRopeFrequencies(d, theta, linear);
  ASSERT_EQ(lf.invFreq.size(), 8u);
  for (int64_t j = 0; j < 8; ++j)
    EXPECT_FLOAT_EQ(lf.invFreq[j], float(plain(j) / 4.0)) << j;
  EXPECT_EQ(lf.scale, 1.0f);

  // llama3 with a long original context: the high frequencies (wavelength
  // below 8192 / 4) are unchanged, the low ones (above 8192) divided by 8.
  RopeScaling l3;
  l3.type = RopeScalingType::Llama3;
  l3.factor = 8.0;
  l3.lowFreqFactor = 1.0;
  l3.highFreqFactor = 4.0;
  l3.originalMaxPositions = 8192;
  RopeFrequencies f3 = computeRopeFrequencies(d, theta, l3);
  ASSERT_EQ(f3.invFreq.size(), 8u);
  const double pi = 3.14159265358979323846;
  for (int64_t j = 0; j < 8; ++j) {
    double wavelen = 2 * pi / plain(j);
    if (wavelen < 2048)
      EXPECT_FLOAT_EQ(f3.invFreq[j], float(plain(j))) << j;
    else if (wavelen > 8192)
      EXPECT_FLOAT_EQ(f3.invFreq[j], float(plain(j) / 8)) << j;
    else
      EXPECT_TRUE(f3.invFreq[j] < plain(j) && f3.invFreq[j] > plain(j) / 8);
  }

  // yarn: extrapolated (unchanged) high frequencies, interpolated low ones,
  // and the attention factor 0.1 ln(factor) + 1 unless given.
  RopeScaling yarn;
  yarn.type = RopeScalingType::Yarn;
  yarn.factor = 4.0;
  yarn.originalMaxPositions = 16;
  RopeFrequencies fy = computeRopeFrequencies(d, theta, yarn);
  ASSERT_EQ(fy.invFreq.size(), 8u);
  EXPECT_FLOAT_EQ(fy.invFreq[0], float(plain(0)));
  EXPECT_FLOAT_EQ(fy.invFreq[7], float(plain(7) / 4.0));
  EXPECT_FLOAT_EQ(fy.scale, float(0.1 * std::log(4.0) + 1.0));
  yarn.attentionFactor = 1.5;
  EXPECT_FLOAT_EQ(computeRopeFrequencies(d, theta, yarn).scale, 1.5f);
  yarn.attentionFactor = 0.0;
  yarn.mscale = 1.0;
  yarn.mscaleAllDim = 1.0;
  EXPECT_FLOAT_EQ(computeRopeFrequencies(d, theta, yarn).scale, 1.0f);
}

TEST(HuggingFaceTest, HalfPrecisionTensors) {
  TempDir dir;
  HFModel m;
  writeJson(dir.file("config.json"), m.config4x(/*tied=*/true));
  m.lmHead = false;
  SafetensorsWriter w;
  auto all = m.tensors();
  // Embeddings in F16 (value 1.5 everywhere), final norm in BF16 (-2.0).
  std::string f16, bf16;
  for (int i = 0; i < 80; ++i)
    appendRaw(f16, uint16_t(0x3E00));
  for (int i = 0; i < 8; ++i)
    appendRaw(bf16, uint16_t(0xC000));
  w.add(all[0].first, "F16", all[0].second, f16);
  m.write(w, 1, all.size() - 1);
  w.add(all.back().first, "BF16", all.back().second, bf16);
  writeFile(dir.file("model.safetensors"), w.str());

  auto ckpt = unwrap(loadHuggingFace(dir.path));
  ASSERT_TRUE(ckpt);
  const TensorRef *emb = ckpt->find("tok_embeddings");
  EXPECT_EQ(emb->dtype, DType::F16);
  EXPECT_EQ(emb->numBytes, 160u);
  auto e = unwrap(toF32(*emb));
  EXPECT_EQ(e.size(), 80u);
  EXPECT_EQ(e[79], 1.5f);
  EXPECT_EQ(ckpt->find("norm")->dtype, DType::BF16);
  EXPECT_EQ(unwrap(toF32(*ckpt->find("norm")))[7], -2.0f);
}

TEST(HuggingFaceTest, LoadsShardedCheckpoint) {
  TempDir dir;
  HFModel m;
  writeJson(dir.file("config.json"), m.config4x(/*tied=*/false));
  auto all = m.tensors();
  size_t half = all.size() / 2;
  SafetensorsWriter a, b;
  m.write(a, 0, half);
  m.write(b, half);
  writeFile(dir.file("model-00001-of-00002.safetensors"), a.str());
  writeFile(dir.file("model-00002-of-00002.safetensors"), b.str());
  llvm::json::Object map;
  for (size_t k = 0; k < all.size(); ++k)
    map[all[k].first] = k < half ? "model-00001-of-00002.safetensors"
                                 : "model-00002-of-00002.safetensors";
  writeJson(
      dir.file("model.safetensors.index.json"),
      llvm::json::Object{{"metadata", llvm::json::Object{{"total_size", 1234}}},
                         {"weight_map", std::move(map)}});

  auto ckpt = unwrap(loadCheckpoint(dir.path));
  ASSERT_TRUE(ckpt);
  EXPECT_EQ(ckpt->buffers.size(), 2u);
  EXPECT_EQ(ckpt->find("tok_embeddings")->file,
            dir.file("model-00001-of-00002.safetensors"));
  EXPECT_EQ(ckpt->find("output")->file,
            dir.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(unwrap(toF32(*ckpt->find("output")))[3],
            HFModel::value(all.size() - 1, 3));

  // A shard that the index names but that is missing.
  llvm::sys::fs::remove(dir.file("model-00002-of-00002.safetensors"));
  std::string msg = errorOf(loadCheckpoint(dir.path));
  EXPECT_THAT(msg, HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_THAT(msg, HasSubstr("does not exist"));
}

/// Fixture for broken Hugging Face directories.
class BrokenHFTest : public ::testing::Test {
protected:
  /// Writes config (4.x) and a safetensors file from `w`, then loads.
  std::string load(const SafetensorsWriter &w, bool tied = false) {
    writeJson(dir.file("config.json"), m.config4x(tied));
    writeFile(dir.file("model.safetensors"), w.str());
    return errorOf(loadHuggingFace(dir.path));
  }
  TempDir dir;
  HFModel m;
};

TEST_F(BrokenHFTest, HeaderLengthLargerThanFile) {
  std::string bytes;
  appendRaw(bytes, uint64_t(1) << 40);
  bytes += "{}";
  writeJson(dir.file("config.json"), m.config4x(false));
  writeFile(dir.file("model.safetensors"), bytes);
  std::string msg = errorOf(loadHuggingFace(dir.path));
  EXPECT_THAT(msg, HasSubstr(dir.file("model.safetensors")));
  EXPECT_THAT(msg, HasSubstr("header length"));
  writeFile(dir.file("model.safetensors"), "1234");
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)), HasSubstr("too small"));
  // A header within the file but over the format's 100 MB (a sparse file).
  bytes.clear();
  appendRaw(bytes, uint64_t(100000001));
  writeFile(dir.file("model.safetensors"), bytes);
  resizeFile(dir.file("model.safetensors"), 8 + 100000001);
  EXPECT_EQ(errorOf(loadHuggingFace(dir.path)),
            "safetensors file '" + dir.file("model.safetensors") +
                "': header length 100000001 exceeds the format's limit of "
                "100000000 bytes");
}

TEST_F(BrokenHFTest, ShapeOverflows) {
  SafetensorsWriter w;
  m.write(w);
  (*w.header.getObject("model.norm.weight"))["shape"] =
      llvm::json::Array{int64_t(1) << 40, int64_t(1) << 40};
  EXPECT_EQ(load(w), "safetensors file '" + dir.file("model.safetensors") +
                         "', tensor 'model.norm.weight': shape "
                         "[1099511627776, 1099511627776] overflows");
}

TEST_F(BrokenHFTest, DataOffsetsOutOfRange) {
  SafetensorsWriter w;
  m.write(w);
  (*w.header.getObject("model.norm.weight"))["data_offsets"] =
      llvm::json::Array{int64_t(w.data.size() - 16),
                        int64_t(w.data.size() + 16)};
  std::string msg = load(w);
  EXPECT_THAT(msg, HasSubstr(dir.file("model.safetensors")));
  EXPECT_THAT(msg, HasSubstr("model.norm.weight"));
  EXPECT_THAT(msg, HasSubstr("exceed"));
}

TEST_F(BrokenHFTest, DataOffsetsDisagreeWithShape) {
  SafetensorsWriter w;
  m.write(w);
  (*w.header.getObject("model.norm.weight"))["shape"] =
      llvm::json::Array{int64_t(9)};
  std::string msg = load(w);
  EXPECT_THAT(msg, HasSubstr("model.norm.weight"));
  EXPECT_THAT(msg, HasSubstr("needs 36"));
}

TEST_F(BrokenHFTest, TruncatedData) {
  SafetensorsWriter w;
  m.write(w);
  std::string bytes = w.str();
  writeJson(dir.file("config.json"), m.config4x(false));
  writeFile(dir.file("model.safetensors"), bytes.substr(0, bytes.size() - 4));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)), HasSubstr("lm_head.weight"));
}

TEST_F(BrokenHFTest, MissingTensor) {
  SafetensorsWriter w;
  auto all = m.tensors();
  m.write(w, 0, 5);
  m.write(w, 6); // drops model.layers.0.post_attention_layernorm.weight
  std::string msg = load(w);
  EXPECT_THAT(msg, HasSubstr(dir.file("model.safetensors")));
  EXPECT_THAT(msg, HasSubstr("missing tensor '" + all[5].first + "'"));
}

TEST_F(BrokenHFTest, UntiedWithoutLmHead) {
  m.lmHead = false;
  SafetensorsWriter w;
  m.write(w);
  EXPECT_THAT(load(w, /*tied=*/false), HasSubstr("'lm_head.weight'"));
}

TEST_F(BrokenHFTest, WrongShape) {
  SafetensorsWriter w;
  auto all = m.tensors();
  m.write(w, 0, 3);
  w.addF32(all[3].first, {8, 8}, std::vector<float>(64)); // k_proj: [4, 8]
  m.write(w, 4);
  std::string msg = load(w);
  EXPECT_THAT(msg, HasSubstr(all[3].first));
  EXPECT_THAT(msg, HasSubstr("[8, 8]"));
  EXPECT_THAT(msg, HasSubstr("expected [4, 8]"));
}

TEST_F(BrokenHFTest, UnsupportedDtype) {
  SafetensorsWriter w;
  auto all = m.tensors();
  m.write(w, 0, 1);
  w.add(all[1].first, "I8", all[1].second, std::string(8, '\1'));
  m.write(w, 2);
  std::string msg = load(w);
  EXPECT_THAT(msg, HasSubstr(dir.file("model.safetensors")));
  EXPECT_THAT(msg, HasSubstr(all[1].first));
  EXPECT_THAT(msg, HasSubstr("unsupported dtype 'I8'"));

  SafetensorsWriter w2;
  w2.add("model.norm.weight", "F64", {8}, std::string(64, '\0'));
  EXPECT_THAT(load(w2), HasSubstr("unsupported dtype 'F64'"));
}

TEST_F(BrokenHFTest, BadSafetensorsHeaderJson) {
  std::string bytes;
  std::string header = "{\"a\": [1, 2";
  appendRaw(bytes, uint64_t(header.size()));
  writeJson(dir.file("config.json"), m.config4x(false));
  writeFile(dir.file("model.safetensors"), bytes + header);
  std::string msg = errorOf(loadHuggingFace(dir.path));
  EXPECT_THAT(msg, HasSubstr(dir.file("model.safetensors")));
  EXPECT_THAT(msg, HasSubstr("not valid JSON"));
}

TEST_F(BrokenHFTest, NonLlamaArchitecture) {
  llvm::json::Object cfg = m.config4x(false);
  cfg["model_type"] = "phi3";
  cfg["architectures"] = llvm::json::Array{"Phi3ForCausalLM"};
  writeJson(dir.file("config.json"), std::move(cfg));
  std::string msg = errorOf(loadHuggingFace(dir.path));
  EXPECT_THAT(msg, HasSubstr(dir.file("config.json")));
  EXPECT_THAT(msg, HasSubstr("phi3"));
  EXPECT_THAT(msg, HasSubstr("supported: Llama"));

  // model_type and architectures must name the same family.
  cfg = m.config4x(false);
  cfg["architectures"] = llvm::json::Array{"Qwen2ForCausalLM"};
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("unsupported architecture (model_type 'llama', "
                        "architectures [Qwen2ForCausalLM])"));

  cfg = m.config4x(false);
  cfg["architectures"] = llvm::json::Array{"GPT2LMHeadModel"};
  cfg.erase("model_type");
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)), HasSubstr("GPT2LMHeadModel"));
}

TEST_F(BrokenHFTest, BadConfigs) {
  writeFile(dir.file("config.json"), "{\"model_type\": \"llama\",");
  std::string msg = errorOf(loadHuggingFace(dir.path));
  EXPECT_THAT(msg, HasSubstr(dir.file("config.json")));
  EXPECT_THAT(msg, HasSubstr("not valid JSON"));

  llvm::json::Object cfg = m.config4x(false);
  cfg["rope_scaling"] =
      llvm::json::Object{{"rope_type", "llama3"}, {"factor", 8.0}};
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("\"rope_scaling\": missing required key "
                        "\"low_freq_factor\""));

  cfg = m.config4x(false);
  cfg["rope_parameters"] =
      llvm::json::Object{{"rope_type", "yarn"}, {"rope_theta", 1e4}};
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("\"rope_parameters\": missing required key "
                        "\"factor\""));

  cfg = m.config4x(false);
  cfg["rope_scaling"] =
      llvm::json::Object{{"rope_type", "longrope"}, {"factor", 2.0}};
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("unsupported RoPE type 'longrope'"));

  cfg = m.config4x(false);
  cfg.erase("hidden_size");
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)), HasSubstr("\"hidden_size\""));

  cfg = m.config4x(false);
  cfg["num_key_value_heads"] = 3;
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("num_key_value_heads"));

  cfg = m.config4x(false);
  cfg["num_attention_heads"] = -2;
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("positive integer"));

  // No weights at all.
  writeJson(dir.file("config.json"), m.config4x(false));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("neither model.safetensors"));
  // No config at all.
  llvm::sys::fs::remove(dir.file("config.json"));
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)), HasSubstr("no config.json"));
}

TEST_F(BrokenHFTest, IndexNamesTensorAbsentFromShard) {
  writeJson(dir.file("config.json"), m.config4x(false));
  SafetensorsWriter w;
  m.write(w, 0, 3);
  writeFile(dir.file("shard.safetensors"), w.str());
  writeJson(dir.file("model.safetensors.index.json"),
            llvm::json::Object{
                {"weight_map", llvm::json::Object{{"model.norm.weight",
                                                   "shard.safetensors"}}}});
  std::string msg = errorOf(loadHuggingFace(dir.path));
  EXPECT_THAT(msg, HasSubstr("model.norm.weight"));
  EXPECT_THAT(msg, HasSubstr("shard.safetensors"));

  writeJson(dir.file("model.safetensors.index.json"), llvm::json::Object{});
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)), HasSubstr("weight_map"));
}

TEST_F(BrokenHFTest, OverlappingTensors) {
  // The up projection of layer 1 moved 4 bytes into the gate projection of
  // the same size: both would read the same bytes.
  SafetensorsWriter w;
  m.write(w);
  const llvm::json::Array &gate =
      *w.header.getObject("model.layers.1.mlp.gate_proj.weight")
           ->getArray("data_offsets");
  int64_t begin = *gate[0].getAsInteger() + 4;
  int64_t size = *gate[1].getAsInteger() - *gate[0].getAsInteger();
  (*w.header.getObject("model.layers.1.mlp.up_proj.weight"))["data_offsets"] =
      llvm::json::Array{begin, begin + size};
  std::string msg = load(w);
  EXPECT_EQ(msg,
            "safetensors file '" + dir.file("model.safetensors") +
                "': tensors 'model.layers.1.mlp.gate_proj.weight' "
                "(data_offsets [" +
                std::to_string(begin - 4) + ", " +
                std::to_string(begin - 4 + size) +
                "]) and 'model.layers.1.mlp.up_proj.weight' (data_offsets [" +
                std::to_string(begin) + ", " + std::to_string(begin + size) +
                "]) overlap; every tensor must have bytes of its own");
  // Empty tensors own no bytes: two at one offset are fine.
  SafetensorsWriter empty;
  m.write(empty);
  empty.add("extra.a", "F32", {0}, "");
  empty.add("extra.b", "F32", {4, 0}, "");
  writeFile(dir.file("model.safetensors"), empty.str());
  EXPECT_TRUE(bool(unwrap(loadHuggingFace(dir.path))));
}

TEST_F(BrokenHFTest, TensorNamedTwice) {
  // The header text with model.norm.weight a second time, pointing at the
  // embedding's bytes: the last entry used to win silently.
  SafetensorsWriter w;
  m.write(w);
  std::string bytes = w.str();
  uint64_t length;
  std::memcpy(&length, bytes.data(), 8);
  std::string header = llvm::StringRef(bytes).substr(8, length).rtrim().str();
  header.pop_back(); // the closing brace
  header += ", \"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [8], "
            "\"data_offsets\": [0, 32]}}";
  std::string rewritten;
  appendRaw(rewritten, uint64_t(header.size()));
  writeJson(dir.file("config.json"), m.config4x(false));
  writeFile(dir.file("model.safetensors"),
            rewritten + header + bytes.substr(8 + length));
  std::string msg = errorOf(loadHuggingFace(dir.path));
  EXPECT_THAT(msg,
              HasSubstr("safetensors file '" + dir.file("model.safetensors") +
                        "': header has the key \"model.norm.weight\" "
                        "twice in one object"));
  EXPECT_THAT(msg, HasSubstr("a key may appear once"));
}

TEST_F(BrokenHFTest, NonUTF8TensorName) {
  // A name byte turned into 0xFF: the header is not JSON (JSON is UTF-8).
  SafetensorsWriter w;
  m.write(w);
  std::string bytes = w.str();
  bytes[bytes.find("model.norm.weight") + 2] = '\xFF';
  writeJson(dir.file("config.json"), m.config4x(false));
  writeFile(dir.file("model.safetensors"), bytes);
  std::string msg = errorOf(loadHuggingFace(dir.path));
  EXPECT_THAT(msg,
              HasSubstr("safetensors file '" + dir.file("model.safetensors") +
                        "': header is not valid JSON: "));
  EXPECT_THAT(msg, HasSubstr("Invalid UTF-8 sequence"));
}

TEST_F(BrokenHFTest, DeepNestingAndHugeContext) {
  // 100000 nested arrays in the header and in config.json: refused before
  // the recursive parser sees them.
  SafetensorsWriter w;
  m.write(w);
  w.header["deep"] = llvm::json::Array{};
  std::string bytes = w.str();
  size_t at = bytes.find("\"deep\":[]") + 8;
  bytes.replace(at, 1, std::string(100000, '[') + std::string(100001, ']'));
  uint64_t length;
  std::memcpy(&length, bytes.data(), 8);
  length += 200000;
  std::memcpy(bytes.data(), &length, 8);
  writeJson(dir.file("config.json"), m.config4x(false));
  writeFile(dir.file("model.safetensors"), bytes);
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("safetensors file '" + dir.file("model.safetensors") +
                        "': header nests JSON arrays and objects deeper than "
                        "256 levels"));

  writeFile(dir.file("config.json"), "{\"a\": " + std::string(100000, '[') +
                                         std::string(100000, ']') + "}");
  EXPECT_THAT(errorOf(loadHuggingFace(dir.path)),
              HasSubstr("'" + dir.file("config.json") +
                        "' nests JSON arrays and objects deeper than 256 "
                        "levels"));

  // A declared context of 2^31 - 1: refused, not allocated.
  llvm::json::Object cfg = m.config4x(false);
  cfg["max_position_embeddings"] = int64_t(INT32_MAX);
  writeJson(dir.file("config.json"), std::move(cfg));
  EXPECT_EQ(errorOf(loadHuggingFace(dir.path)),
            "'" + dir.file("config.json") +
                "': \"max_position_embeddings\" is 2147483647, more than the "
                "16777216 positions qopt supports");
}

TEST(CheckpointTest, NonRegularFilesAreNeverRead) {
  EXPECT_EQ(errorOf(loadCheckpoint("/dev/zero")),
            "checkpoint '/dev/zero' is neither a regular file nor a "
            "directory");
  EXPECT_EQ(errorOf(loadLlama2c("/dev/zero")),
            "llama2.c checkpoint '/dev/zero' is not a regular file (it is a "
            "character device)");
  EXPECT_EQ(errorOf(loadGGUF("/dev/zero")),
            "'/dev/zero' is not a regular file (it is a character device)");
}

TEST(CorruptionTest, NeverCrashes) {
  // Truncations and byte flips of valid files must load or fail cleanly.
  TempDir dir;
  HFModel m;
  writeJson(dir.file("config.json"), m.config4x(/*tied=*/false));
  SafetensorsWriter w;
  m.write(w);
  std::string good = w.str();
  std::string bin = llama2cFile(Llama2cHeader());
  uint64_t headerEnd = 8 + *reinterpret_cast<const uint64_t *>(good.data());
  uint32_t rng = 12345;
  auto next = [&]() {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
  };
  for (int i = 0; i < 200; ++i) {
    std::string st = good, b = bin;
    if (i % 2) {
      st.resize(next() % good.size());
      b.resize(next() % bin.size());
    } else {
      for (int k = 0; k < 4; ++k) {
        st[next() % headerEnd] = static_cast<char>(next());
        b[next() % 28] = static_cast<char>(next());
      }
    }
    writeFile(dir.file("model.safetensors"), st);
    writeFile(dir.file("x.bin"), b);
    for (const std::string &p : {dir.path, dir.file("x.bin")}) {
      auto ckpt = loadCheckpoint(p);
      if (!ckpt) {
        EXPECT_FALSE(llvm::toString(ckpt.takeError()).empty());
        continue;
      }
      for (const TensorRef &t : (*ckpt)->tensors) {
        auto v = toF32(t);
        EXPECT_TRUE(bool(v)) << t.name;
        if (!v)
          llvm::consumeError(v.takeError());
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// Conversions
//===----------------------------------------------------------------------===//

/// A tensor over `bytes` (kept alive by the caller).
static TensorRef makeTensor(DType dtype, std::vector<int64_t> shape,
                            const std::string &bytes) {
  TensorRef t;
  t.name = "t";
  t.file = "mem";
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = reinterpret_cast<const uint8_t *>(bytes.data());
  t.numBytes = bytes.size();
  return t;
}

TEST(ConvertTest, HalfAndBFloat16) {
  std::string f16;
  for (uint16_t h : {0x3C00, 0xC000, 0x3800, 0x0001, 0x7C00, 0x0000, 0x7BFF})
    appendRaw(f16, h);
  auto v = unwrap(toF32(makeTensor(DType::F16, {7}, f16)));
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 0.5f);
  EXPECT_EQ(v[3], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(v[4]));
  EXPECT_EQ(v[5], 0.0f);
  EXPECT_EQ(v[6], 65504.0f);
  std::string bf;
  for (uint16_t h : {0x3F80, 0xC0A0})
    appendRaw(bf, h);
  v = unwrap(toF32(makeTensor(DType::BF16, {2}, bf)));
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -5.0f);
  EXPECT_EQ(dtypeName(DType::BF16), "bf16");
  EXPECT_EQ(dtypeName(DType::Q4_0), "q4_0");
}

TEST(ConvertTest, Q8_0) {
  // Two blocks: scale 0.5 with q = j - 16; scale 2 with q = -j.
  std::string bytes;
  appendRaw(bytes, uint16_t(0x3800));
  for (int j = 0; j < 32; ++j)
    appendRaw(bytes, int8_t(j - 16));
  appendRaw(bytes, uint16_t(0x4000));
  for (int j = 0; j < 32; ++j)
    appendRaw(bytes, int8_t(-j));
  TensorRef t = makeTensor(DType::Q8_0, {1, 64}, bytes);
  auto v = unwrap(toF32(t));
  ASSERT_EQ(v.size(), 64u);
  EXPECT_EQ(v[0], -8.0f);
  EXPECT_EQ(v[31], 7.5f);
  EXPECT_EQ(v[33], -2.0f);
  auto q = unwrap(toBlockQuantized(t));
  EXPECT_EQ(q.bits, 8u);
  EXPECT_EQ(q.groupSize, 32);
  ASSERT_EQ(q.codes.size(), 64u);
  ASSERT_EQ(q.scales.size(), 2u);
  EXPECT_EQ(q.codes[0], 112);
  EXPECT_EQ(q.codes[33], 127);
  EXPECT_EQ(q.scales[1], 2.0f);
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(q.scales[i / 32] * (int(q.codes[i]) - 128), v[i]);
  EXPECT_THAT(errorOf(toBlockQuantized(t, 4)), HasSubstr("not 4-bit"));
  // Wrong byte count or a last dim that is not a multiple of 32.
  TensorRef bad = makeTensor(DType::Q8_0, {1, 64}, bytes.substr(0, 60));
  EXPECT_THAT(errorOf(toF32(bad)), HasSubstr("expected 68"));
  EXPECT_THAT(errorOf(toF32(makeTensor(DType::Q8_0, {2, 16}, bytes))),
              HasSubstr("multiple of 32"));
}

TEST(ConvertTest, Q4_0) {
  // ggml layout: byte j = element j (low nibble) | element j+16 (high).
  std::string bytes;
  appendRaw(bytes, uint16_t(0x4000)); // scale 2
  for (int j = 0; j < 16; ++j)
    appendRaw(bytes, uint8_t(j | (15 - j) << 4));
  TensorRef t = makeTensor(DType::Q4_0, {32}, bytes);
  auto v = unwrap(toF32(t));
  ASSERT_EQ(v.size(), 32u);
  EXPECT_EQ(v[0], -16.0f);
  EXPECT_EQ(v[15], 14.0f);
  EXPECT_EQ(v[16], 14.0f);
  EXPECT_EQ(v[31], -16.0f);
  auto q = unwrap(toBlockQuantized(t));
  EXPECT_EQ(q.bits, 4u);
  ASSERT_EQ(q.codes.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    EXPECT_LT(q.codes[i], 16);
    EXPECT_EQ(q.scales[0] * (int(q.codes[i]) - 8), v[i]);
  }
}

TEST(ConvertTest, QuantizeFloatTensors) {
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i)
    x[i] = std::sin(0.37f * i) * (i < 32 ? 1.0f : 100.0f);
  std::string bytes(reinterpret_cast<const char *>(x.data()), 64 * 4);
  TensorRef t = makeTensor(DType::F32, {2, 32}, bytes);
  for (unsigned bits : {8u, 4u}) {
    auto q = unwrap(bits == 8 ? toBlockQuantized(t) : toBlockQuantized(t, 4));
    EXPECT_EQ(q.bits, bits);
    ASSERT_EQ(q.codes.size(), 64u);
    ASSERT_EQ(q.scales.size(), 2u);
    int zero = 1 << (bits - 1);
    for (int i = 0; i < 64; ++i) {
      float amax = i < 32 ? 1.0f : 100.0f;
      float tol = amax / (bits == 8 ? 127.0f : 7.0f);
      EXPECT_NEAR(q.scales[i / 32] * (int(q.codes[i]) - zero), x[i], tol)
          << bits << " " << i;
    }
  }
  std::string sixteen = bytes.substr(0, 64);
  EXPECT_THAT(errorOf(toBlockQuantized(makeTensor(DType::F32, {16}, sixteen))),
              HasSubstr("multiple of 32"));
  EXPECT_THAT(errorOf(toBlockQuantized(t, 3)), HasSubstr("3 bits"));
  EXPECT_THAT(errorOf(toF32(makeTensor(DType::F32, {3, 32}, bytes))),
              HasSubstr("expected 384"));
}

} // namespace
