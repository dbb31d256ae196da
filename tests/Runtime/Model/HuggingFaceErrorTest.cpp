//===- HuggingFaceErrorTest.cpp - Broken HF checkpoints ---------*- C++ -*-===//
//
// Broken Hugging Face directories: malformed safetensors headers, offsets
// and shapes, missing or misplaced tensors, unsupported configs. Each must
// give an llvm::Error naming the file and the tensor or key, never a crash.
//
//===----------------------------------------------------------------------===//

#include "CheckpointTestModels.h"
#include "TestUtils.h"

#include "qopt/Model/Checkpoint.h"

#include "llvm/Support/Path.h"

#include "gmock/gmock.h"

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

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

} // namespace
