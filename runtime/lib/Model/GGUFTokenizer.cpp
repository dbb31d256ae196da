//===- GGUFTokenizer.cpp - GGUF tokenizers and chat templates ---*- C++ -*-===//
//
// loadGGUFTokenizer and readGGUFChatTemplate, from the metadata of a parsed
// GGUF file (GGUFFile.h; tensor infos are not read). The tokenizer is
// tokenizer.ggml.model == "llama" (SentencePiece vocabulary with scores),
// run by the llama2.c encoder of ScoredBPE.h after turning the vocabulary's
// U+2581 space marker back into ' ' as llama2.c's tokenizer.bin stores it.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/ChatTemplate.h"
#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Tokenizer.h"

#include "GGUFFile.h"
#include "ScoredBPE.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

using namespace qopt::model;
using namespace qopt::model::gguf;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;
using llvm::Twine;

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

/// Element `index` of a numeric array value as a double.
static double arrayElement(const Value &value, uint64_t index) {
  const uint8_t *p = value.elems + index * scalarSize(value.elemType);
  auto load = [&](auto tag) -> double {
    decltype(tag) raw = 0;
    std::memcpy(&raw, p, sizeof(raw));
    return double(raw);
  };
  switch (static_cast<GGUFValueType>(value.elemType)) {
  case GGUFValueType::UInt8:
  case GGUFValueType::Bool:
    return load(uint8_t());
  case GGUFValueType::Int8:
    return load(int8_t());
  case GGUFValueType::UInt16:
    return load(uint16_t());
  case GGUFValueType::Int16:
    return load(int16_t());
  case GGUFValueType::UInt32:
    return load(uint32_t());
  case GGUFValueType::Int32:
    return load(int32_t());
  case GGUFValueType::Float32:
    return load(float());
  case GGUFValueType::UInt64:
    return load(uint64_t());
  case GGUFValueType::Int64:
    return load(int64_t());
  case GGUFValueType::Float64:
    return load(double());
  default:
    return 0;
  }
}

/// True if `piece` is a byte-fallback piece "<0xXX>".
static bool isBytePiece(StringRef piece) {
  return piece.size() == 6 && piece.starts_with("<0x") &&
         piece.ends_with(">") && llvm::isHexDigit(piece[3]) &&
         llvm::isHexDigit(piece[4]);
}

/// Reads the pieces of `tokens` into vocab.pieces, with U+2581 turned back
/// into ' '.
static Error readPieces(const GGUFFile &file, const Value &tokens,
                        detail::ScoredVocabulary &vocab) {
  vocab.pieces.reserve(tokens.count);
  for (auto [index, piece] : llvm::enumerate(tokens.strings)) {
    if (piece.size() > detail::kMaxPieceBytes)
      return file.error(llvm::formatv("metadata 'tokenizer.ggml.tokens' "
                                      "element {0} is {1} bytes long, more "
                                      "than the {2} a piece may have",
                                      index, piece.size(),
                                      detail::kMaxPieceBytes)
                            .str());
    std::string text;
    text.reserve(piece.size());
    for (size_t i = 0; i < piece.size(); ++i) {
      if (piece.substr(i).starts_with("\xE2\x96\x81")) { // U+2581
        text.push_back(' ');
        i += 2;
      } else {
        text.push_back(piece[i]);
      }
    }
    vocab.pieces.push_back(std::move(text));
  }
  return Error::success();
}

Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadGGUFTokenizer(StringRef path) {
  auto fileOr = parseGGUF(path, /*withTensors=*/false);
  if (!fileOr)
    return fileOr.takeError();
  GGUFFile &file = **fileOr;

  auto model = file.getOptionalString("tokenizer.ggml.model");
  if (!model)
    return model.takeError();
  if (!*model)
    return file.error("missing metadata 'tokenizer.ggml.model'; the file has "
                      "no tokenizer");
  if (**model != "llama")
    return file.error("unsupported tokenizer model '" + **model +
                      "' (qopt reads SentencePiece 'llama' vocabularies)");

  const Value *tokens = file.lookup("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != uint32_t(GGUFValueType::Array) ||
      tokens->elemType != uint32_t(GGUFValueType::String))
    return file.error("metadata 'tokenizer.ggml.tokens' is missing or not an "
                      "array of strings");
  if (tokens->count == 0 ||
      tokens->count > uint64_t(std::numeric_limits<int32_t>::max()))
    return file.error("metadata 'tokenizer.ggml.tokens' has " +
                      Twine(tokens->count) + " entries");
  int64_t numTokens = int64_t(tokens->count);

  detail::ScoredVocabulary vocab;
  if (Error err = readPieces(file, *tokens, vocab))
    return err;

  vocab.scores.assign(numTokens, 0.0f);
  if (const Value *scores = file.lookup("tokenizer.ggml.scores")) {
    if (scores->type != uint32_t(GGUFValueType::Array) ||
        !scalarSize(scores->elemType) || int64_t(scores->count) != numTokens)
      return file.error("metadata 'tokenizer.ggml.scores' must be a numeric "
                        "array with one entry per token (" +
                        Twine(numTokens) + ")");
    for (int64_t i = 0; i < numTokens; ++i)
      vocab.scores[i] = float(arrayElement(*scores, i));
  }
  if (const Value *types = file.lookup("tokenizer.ggml.token_type")) {
    if (types->type != uint32_t(GGUFValueType::Array) ||
        int64_t(types->count) != numTokens)
      return file.error("metadata 'tokenizer.ggml.token_type' must be an "
                        "array with one entry per token (" +
                        Twine(numTokens) + ")");
  }

  auto getId = [&](StringRef key, int32_t defaultId, int32_t &out) -> Error {
    auto id = file.getOptionalInt(key, 0, numTokens - 1);
    if (!id)
      return id.takeError();
    out = int32_t(id->value_or(defaultId));
    if (out >= numTokens)
      return file.error("metadata '" + key + "' is missing and the default " +
                        Twine(defaultId) + " is not a token id");
    return Error::success();
  };
  if (Error err = getId("tokenizer.ggml.bos_token_id", 1, vocab.bos))
    return err;
  if (Error err = getId("tokenizer.ggml.eos_token_id", 2, vocab.eos))
    return err;
  if (Error err = getId("tokenizer.ggml.unknown_token_id", 0, vocab.unknown))
    return err;

  // Byte fallback: the first "<0xXX>" piece of each byte.
  vocab.byteTokens.fill(-1);
  for (int64_t i = 0; i < numTokens; ++i) {
    StringRef piece = vocab.pieces[i];
    if (!isBytePiece(piece))
      continue;
    unsigned byte =
        llvm::hexDigitValue(piece[3]) * 16 + llvm::hexDigitValue(piece[4]);
    if (vocab.byteTokens[byte] == -1)
      vocab.byteTokens[byte] = int32_t(i);
  }
  return detail::makeScoredBPETokenizer(std::move(vocab));
}

//===----------------------------------------------------------------------===//
// Chat template
//===----------------------------------------------------------------------===//

Expected<ChatTemplateSource> qopt::model::readGGUFChatTemplate(StringRef path) {
  auto fileOr = parseGGUF(path, /*withTensors=*/false);
  if (!fileOr)
    return fileOr.takeError();
  GGUFFile &file = **fileOr;
  ChatTemplateSource source;
  source.origin = path.str();
  auto jinja = file.getOptionalString("tokenizer.chat_template");
  if (!jinja)
    return jinja.takeError();
  if (*jinja)
    source.jinja = (*jinja)->str();
  // The text of BOS/EOS, when the vocabulary names them.
  const Value *tokens = file.lookup("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != uint32_t(GGUFValueType::Array) ||
      tokens->elemType != uint32_t(GGUFValueType::String))
    return source;
  int64_t numTokens = int64_t(tokens->strings.size());
  for (auto [key, out] : {std::pair<StringRef, std::string *>{
                              "tokenizer.ggml.bos_token_id", &source.bosToken},
                          {"tokenizer.ggml.eos_token_id", &source.eosToken}}) {
    auto id = file.getOptionalInt(key, 0, std::max<int64_t>(numTokens - 1, 0));
    if (!id)
      return id.takeError();
    if (*id && **id < numTokens)
      *out = tokens->strings[**id].str();
  }
  return source;
}
