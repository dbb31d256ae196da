//===- Tokenizer.h - Tokenizers and samplers ----------------------*- C++ -*-===//
//
// Text <-> token ids for the formats qopt-run accepts: llama2.c's
// tokenizer.bin, Hugging Face tokenizer.json (BPE, SentencePiece-style or
// ByteLevel) and a GGUF file's own tokenizer.ggml.* vocabulary; plus the
// sampler (greedy, temperature, top-p, seed). Depends on LLVM Support only.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_TOKENIZER_H
#define QOPT_MODEL_TOKENIZER_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace qopt {
namespace model {

/// A tokenizer. Implementations match the reference behaviour of their
/// format (llama2.c's encode/decode for tokenizer.bin, including its dummy
/// prefix space and byte fallback <0xXX> tokens).
class Tokenizer {
public:
  virtual ~Tokenizer();
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
/// The tokenizer.ggml.* vocabulary of a GGUF file (model "llama").
llvm::Expected<std::unique_ptr<Tokenizer>>
loadGGUFTokenizer(llvm::StringRef path);

/// Finds the tokenizer for a checkpoint: an explicit `tokenizerPath` if
/// given; otherwise the GGUF file itself, tokenizer.json in an HF directory,
/// or tokenizer.bin / tok<vocab>.bin beside a llama2.c .bin.
llvm::Expected<std::unique_ptr<Tokenizer>>
loadTokenizerFor(llvm::StringRef checkpointPath, llvm::StringRef tokenizerPath,
                 int64_t vocabSize);

/// Samples the next token from logits (llama2.c's semantics): temperature 0
/// is greedy argmax; otherwise softmax(logits / T), then nucleus (top-p)
/// sampling when 0 < topp < 1. Deterministic for a given seed.
class Sampler {
public:
  Sampler(int64_t vocabSize, float temperature, float topp, uint64_t seed);
  /// `logits` has vocabSize entries and may be overwritten.
  int32_t sample(float *logits);

private:
  int64_t vocabSize;
  float temperature, topp;
  uint64_t state;
  std::vector<std::pair<float, int32_t>> scratch;
};

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_TOKENIZER_H
