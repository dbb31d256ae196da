//===- TokenizerTestFiles.h - Synthetic tokenizer files ---------*- C++ -*-===//
//
// The synthetic llama2.c tokenizer.bin and Hugging Face tokenizer.json
// files that TokenizerTest.cpp and TokenizerReferenceTest.cpp build.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TESTS_RUNTIME_MODEL_TOKENIZERTESTFILES_H
#define QOPT_TESTS_RUNTIME_MODEL_TOKENIZERTESTFILES_H

#include "TestUtils.h"

#include "llvm/Support/JSON.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace qopt::model::test {

using Ids = std::vector<int32_t>;

/// "<0xXX>".
inline std::string bytePiece(int b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
  return buf;
}

/// Serializes (piece, score) pairs as a llama2.c tokenizer.bin.
inline std::string
tokenizerBin(const std::vector<std::pair<std::string, float>> &pieces) {
  std::string out;
  int32_t maxLen = 0;
  for (const auto &p : pieces)
    maxLen = std::max<int32_t>(maxLen, p.first.size());
  appendRaw(out, maxLen);
  for (const auto &p : pieces) {
    appendRaw(out, p.second);
    appendRaw(out, int32_t(p.first.size()));
    out += p.first;
  }
  return out;
}

/// The SentencePiece word-boundary mark.
inline const char *const kSpace = "\xE2\x96\x81"; // ▁

/// A SentencePiece-style tokenizer.json. `pairMerges` writes merges as
/// [a, b] instead of "a b"; `metaspace` uses a Metaspace pre-tokenizer
/// instead of the Prepend/Replace normalizer.
inline llvm::json::Object tinyTokenizerJson(bool pairMerges, bool metaspace) {
  std::string sp = kSpace;
  llvm::json::Object vocab{{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b)
    vocab[bytePiece(b)] = 3 + b;
  std::vector<std::string> pieces = {sp,       "a",  "b",       "c",
                                     sp + "a", "ab", sp + "ab", "bc"};
  for (size_t i = 0; i < pieces.size(); ++i)
    vocab[pieces[i]] = int64_t(259 + i);
  std::vector<std::pair<std::string, std::string>> merges = {
      {"b", "c"}, {"a", "b"}, {sp, "a"}, {sp + "a", "b"}};
  llvm::json::Array mergeJson;
  for (const auto &m : merges) {
    if (pairMerges)
      mergeJson.push_back(llvm::json::Array{m.first, m.second});
    else
      mergeJson.push_back(m.first + " " + m.second);
  }
  auto added = [](int64_t id, const char *s) {
    return llvm::json::Object{
        {"id", id},        {"content", s},    {"single_word", false},
        {"lstrip", false}, {"rstrip", false}, {"normalized", false},
        {"special", true}};
  };
  llvm::json::Object root{
      {"version", "1.0"},
      {"added_tokens",
       llvm::json::Array{added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")}},
      {"model", llvm::json::Object{{"type", "BPE"},
                                   {"unk_token", "<unk>"},
                                   {"fuse_unk", true},
                                   {"byte_fallback", true},
                                   {"vocab", std::move(vocab)},
                                   {"merges", std::move(mergeJson)}}},
      {"decoder",
       llvm::json::Object{
           {"type", "Sequence"},
           {"decoders",
            llvm::json::Array{
                llvm::json::Object{
                    {"type", "Replace"},
                    {"pattern", llvm::json::Object{{"String", sp}}},
                    {"content", " "}},
                llvm::json::Object{{"type", "ByteFallback"}},
                llvm::json::Object{{"type", "Fuse"}},
                llvm::json::Object{{"type", "Strip"},
                                   {"content", " "},
                                   {"start", 1},
                                   {"stop", 0}}}}}},
      {"post_processor",
       llvm::json::Object{
           {"type", "TemplateProcessing"},
           {"single",
            llvm::json::Array{
                llvm::json::Object{
                    {"SpecialToken",
                     llvm::json::Object{{"id", "<s>"}, {"type_id", 0}}}},
                llvm::json::Object{
                    {"Sequence",
                     llvm::json::Object{{"id", "A"}, {"type_id", 0}}}}}},
           {"special_tokens",
            llvm::json::Object{
                {"<s>",
                 llvm::json::Object{{"id", "<s>"},
                                    {"ids", llvm::json::Array{1}},
                                    {"tokens", llvm::json::Array{"<s>"}}}}}}}}};
  if (metaspace) {
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = llvm::json::Object{{"type", "Metaspace"},
                                               {"replacement", sp},
                                               {"prepend_scheme", "first"},
                                               {"split", false}};
  } else {
    root["normalizer"] = llvm::json::Object{
        {"type", "Sequence"},
        {"normalizers",
         llvm::json::Array{
             llvm::json::Object{{"type", "Prepend"}, {"prepend", sp}},
             llvm::json::Object{
                 {"type", "Replace"},
                 {"pattern", llvm::json::Object{{"String", " "}}},
                 {"content", sp}}}}};
    root["pre_tokenizer"] = nullptr;
  }
  return root;
}

} // namespace qopt::model::test

#endif // QOPT_TESTS_RUNTIME_MODEL_TOKENIZERTESTFILES_H
