//===- SentencePieceTest.cpp - SentencePiece .model tokenizers --*- C++ -*-===//
//
// SentencePieceReferenceTest.*: a BPE model with byte fallback trained by
// spm_train on ../shared's TinyStories text (train_sentencepiece.sh, the
// ctest fixture QOptSentencePieceModel) encodes every line to exactly the
// ids spm_encode gives, decodes them back to the line, and is found as an
// HF directory's tokenizer.model. SentencePieceTest.*: hostile files are
// errors, never crashes.
//
//===----------------------------------------------------------------------===//

#include "TestUtils.h"

#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include "gmock/gmock.h"

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

std::string modelDir() { return QOPT_SENTENCEPIECE_DIR; }

std::vector<std::string> readLines(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  EXPECT_TRUE(bool(buffer)) << path << " is missing: run the test through "
                            << "ctest (fixture QOptSentencePieceModel)";
  std::vector<std::string> lines;
  if (!buffer)
    return lines;
  llvm::SmallVector<llvm::StringRef> parts;
  (*buffer)->getBuffer().split(parts, '\n', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef part : parts)
    lines.push_back(part.str());
  return lines;
}

TEST(SentencePieceReferenceTest, MatchesSpmEncode) {
  std::unique_ptr<Tokenizer> tok =
      unwrap(loadTokenizerFor("unused.bin", joinPath(modelDir(), "sp.model"),
                              /*vocabSize=*/400));
  EXPECT_EQ(tok->vocabSize(), 400);
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  std::vector<std::string> text = readLines(
      joinPath(sharedDir(), "models/stories260K/tinystories-dev.txt"));
  std::vector<std::string> ids = readLines(joinPath(modelDir(), "ids.txt"));
  ASSERT_EQ(text.size(), ids.size());
  ASSERT_FALSE(text.empty());
  for (size_t i = 0; i < text.size(); ++i) {
    std::vector<int32_t> got = tok->encode(text[i], /*bos=*/true, false);
    std::vector<std::string> gotText;
    for (int32_t id : llvm::ArrayRef(got).drop_front())
      gotText.push_back(std::to_string(id));
    EXPECT_EQ(llvm::join(gotText, " "), ids[i]) << "line " << i;
    ASSERT_EQ(got.front(), 1);
    std::string decoded;
    for (size_t j = 1; j < got.size(); ++j)
      decoded += tok->decode(got[j - 1], got[j]);
    // The text up to SentencePiece's normalization, which drops the '\r'
    // of the file's CRLF lines.
    EXPECT_EQ(decoded, llvm::StringRef(text[i]).rtrim('\r')) << "line " << i;
  }
}

TEST(SentencePieceReferenceTest, ByteFallbackAndDirectory) {
  // An HF directory with tokenizer.model and no tokenizer.json.
  TempDir dir;
  auto model = llvm::MemoryBuffer::getFile(joinPath(modelDir(), "sp.model"));
  ASSERT_TRUE(bool(model));
  writeFile(dir.file("tokenizer.model"), (*model)->getBuffer());
  std::unique_ptr<Tokenizer> tok =
      unwrap(loadTokenizerFor(dir.path, "", /*vocabSize=*/0));
  // Characters outside the training text fall back to their UTF-8 bytes.
  std::string text = "Hello, w\xC3\xB6rld \xF0\x9F\xA4\x97";
  std::vector<int32_t> ids = tok->encode(text, false, true);
  EXPECT_EQ(ids.back(), 2);
  std::string decoded;
  int32_t prev = -1;
  for (int32_t id : ids) {
    decoded += tok->decode(prev, id);
    prev = id;
  }
  EXPECT_EQ(decoded, text); // EOS decodes to nothing
  // <0xC3> is byte piece 3 + 0xC3 after <unk>, <s>, </s>.
  EXPECT_TRUE(llvm::is_contained(ids, 3 + 0xC3));
  std::optional<GGUFVocabulary> vocab = tok->ggufVocabulary();
  ASSERT_TRUE(vocab.has_value());
  EXPECT_EQ(vocab->tokens[3 + 0xC3], "<0xC3>");
  EXPECT_EQ(vocab->types[3 + 0xC3], 6);
  EXPECT_EQ(vocab->types[1], 3);
  EXPECT_EQ(vocab->types[0], 2);
}

TEST(SentencePieceTest, HostileFiles) {
  TempDir dir;
  writeFile(dir.file("bad.model"), "not a protobuf \xFF\xFF\xFF\xFF");
  EXPECT_THAT(errorOf(loadSentencePieceTokenizer(dir.file("bad.model"))),
              HasSubstr("is not valid"));
  writeFile(dir.file("empty.model"), "");
  EXPECT_THAT(errorOf(loadSentencePieceTokenizer(dir.file("empty.model"))),
              HasSubstr("empty.model"));
  resizeFile(dir.file("huge.model"), (64 << 20) + 1);
  EXPECT_THAT(errorOf(loadSentencePieceTokenizer(dir.file("huge.model"))),
              HasSubstr("more than"));
  EXPECT_THAT(errorOf(loadTokenizerFor(dir.path, "", 0)),
              HasSubstr("has no tokenizer.json or tokenizer.model"));
}

} // namespace
