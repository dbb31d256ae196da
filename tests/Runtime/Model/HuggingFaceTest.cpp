//===- HuggingFaceTest.cpp - Tests of the Hugging Face reader ---*- C++ -*-===//
//
// Synthetic Hugging Face directories (config.json in transformers 4.x and
// 5.x spellings, single and sharded safetensors, f16/bf16 tensors) and the
// committed checkpoints of tests/Inputs/arch are loaded; also covers the
// RoPE scaling types and the frequency tables they give.
//
//===----------------------------------------------------------------------===//

#include "CheckpointTestModels.h"
#include "TestUtils.h"

#include "qopt/Model/Checkpoint.h"

#include "llvm/Support/Path.h"

#include <cmath>
#include <map>

#include "gmock/gmock.h"

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

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

} // namespace
