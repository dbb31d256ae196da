//===- Tokenizer.h - Tokenizers ---------------------------------*- C++ -*-===//
//
// Text <-> token ids for the formats qopt-run accepts: llama2.c's
// tokenizer.bin, Hugging Face tokenizer.json (BPE, SentencePiece-style or
// ByteLevel) and a GGUF file's own tokenizer.ggml.* vocabulary. Model I/O
// (libqopt_model); the sampler is the execution runtime's (Sampler.h,
// libqopt_exec). Depends on LLVM Support only.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_TOKENIZER_H
#define QOPT_MODEL_TOKENIZER_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace qopt {
namespace model {

/// A vocabulary as GGUF's tokenizer.ggml.* "llama" (SentencePiece) model
/// stores it, for writing a GGUF file.
struct GGUFVocabulary {
  /// Each token's piece, ' ' written as U+2581.
  std::vector<std::string> tokens;
  std::vector<float> scores;
  /// 1 normal, 2 unknown, 3 control, 6 byte (<0xXX>).
  std::vector<int32_t> types;
  int32_t bos = 1, eos = 2, unknown = 0;
};

/// A tokenizer. Implementations match the reference behaviour of their
/// format (llama2.c's encode/decode for tokenizer.bin, including its dummy
/// prefix space and byte fallback <0xXX> tokens).
class Tokenizer {
public:
  virtual ~Tokenizer();
  /// The vocabulary in GGUF's "llama" form (llama2.c and GGUF vocabularies
  /// with scores), or nullopt for a tokenizer GGUF's "llama" model cannot
  /// express.
  virtual std::optional<GGUFVocabulary> ggufVocabulary() const {
    return std::nullopt;
  }
  /// Token ids of `text`, with BOS first if `bos`, EOS last if `eos` (a
  /// tokenizer without one, whose id is -1, adds none). Takes O(n log n)
  /// time in the length of the text.
  virtual std::vector<int32_t> encode(llvm::StringRef text, bool bos,
                                      bool eos) const = 0;
  /// The text of `token` when it follows `prev` (llama2.c strips the leading
  /// space after BOS and turns <0xXX> into the raw byte; ByteLevel returns
  /// the token's bytes, possibly part of a UTF-8 character).
  virtual std::string decode(int32_t prev, int32_t token) const = 0;
  /// BOS and EOS, or -1 if the tokenizer has none.
  virtual int32_t bosId() const = 0;
  virtual int32_t eosId() const = 0;
  virtual int64_t vocabSize() const = 0;
};

/// llama2.c tokenizer.bin for a model with `vocabSize` tokens.
llvm::Expected<std::unique_ptr<Tokenizer>>
loadLlama2cTokenizer(llvm::StringRef path, int64_t vocabSize);
/// Hugging Face tokenizer.json (model.type == "BPE"): SentencePiece-style
/// with byte_fallback and the ▁ space marker (Llama 1/2, Mistral), or
/// ByteLevel with the GPT-2, Llama-3 or Qwen2 Split regex (GPT-2, Llama 3,
/// Qwen2/3, SmolLM). Ids match Hugging Face tokenizers'; see
/// docs/tokenizers.md.
llvm::Expected<std::unique_ptr<Tokenizer>>
loadHuggingFaceTokenizer(llvm::StringRef path);
/// A SentencePiece tokenizer.model, encoded and decoded by the
/// SentencePiece library (an error if qopt was built without it).
llvm::Expected<std::unique_ptr<Tokenizer>>
loadSentencePieceTokenizer(llvm::StringRef path);
/// The tokenizer.ggml.* vocabulary of a GGUF file (model "llama").
llvm::Expected<std::unique_ptr<Tokenizer>>
loadGGUFTokenizer(llvm::StringRef path);

/// Finds the tokenizer for a checkpoint: an explicit `tokenizerPath` if
/// given (a .model file is SentencePiece's); otherwise the GGUF file
/// itself, tokenizer.json in an HF directory (else its SentencePiece
/// tokenizer.model), or tokenizer.bin / tok<vocab>.bin beside a llama2.c
/// .bin.
llvm::Expected<std::unique_ptr<Tokenizer>>
loadTokenizerFor(llvm::StringRef checkpointPath, llvm::StringRef tokenizerPath,
                 int64_t vocabSize);

/// The tokenizer file loadTokenizerFor would read: `tokenizerPath` (or its
/// tokenizer.json when it is a directory), else the one found for the
/// checkpoint.
llvm::Expected<std::string> findTokenizerFor(llvm::StringRef checkpointPath,
                                             llvm::StringRef tokenizerPath,
                                             int64_t vocabSize);

/// Loads the tokenizer file `path`, choosing the reader by its form: `.json`
/// is Hugging Face, a GGUF magic is GGUF, anything else llama2.c.
llvm::Expected<std::unique_ptr<Tokenizer>>
loadTokenizerFile(llvm::StringRef path, int64_t vocabSize);

/// Copies the tokenizer file `path` into the directory `dir` under a fixed
/// name and returns that name: tokenizer.json (with the
/// tokenizer_config.json beside it, if any), tokenizer.bin, or, for a GGUF
/// file, tokenizer.gguf holding only its vocabulary.
llvm::Expected<std::string>
copyTokenizerInto(llvm::StringRef path, llvm::StringRef dir, int64_t vocabSize);

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_TOKENIZER_H
