//===- TokenizerFiles.cpp - Copy a tokenizer into an artifact -------------===//
//
// copyTokenizerInto (Tokenizer.h): an ahead-of-time artifact carries its own
// tokenizer under a fixed name, so that it can be moved anywhere. A GGUF
// model's tokenizer is its vocabulary: only that is written, not the
// weights.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/GGUFWriter.h"
#include "qopt/Model/Tokenizer.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace qopt::model;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static std::string inDir(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, name);
  return std::string(path);
}

/// Copies the regular file `from` to `to`.
static llvm::Error copyFile(llvm::StringRef from, llvm::StringRef to) {
  if (!llvm::sys::fs::is_regular_file(from))
    return makeError("tokenizer '" + from + "' is not a regular file");
  if (std::error_code ec = llvm::sys::fs::copy_file(from, to))
    return makeError("cannot copy the tokenizer '" + from + "' to '" + to +
                     "': " + ec.message());
  return llvm::Error::success();
}

/// Writes the vocabulary of the GGUF file `path` as a GGUF file `to` with
/// only the tokenizer.ggml.* keys.
static llvm::Error writeGGUFVocabulary(llvm::StringRef path,
                                       llvm::StringRef to) {
  llvm::Expected<std::unique_ptr<Tokenizer>> tok = loadGGUFTokenizer(path);
  if (!tok)
    return tok.takeError();
  std::optional<GGUFVocabulary> vocabulary = (*tok)->ggufVocabulary();
  if (!vocabulary)
    return makeError("the tokenizer of '" + path +
                     "' cannot be written as a GGUF vocabulary");
  GGUFWriter w;
  w.addString("tokenizer.ggml.model", "llama");
  w.addStringArray("tokenizer.ggml.tokens", vocabulary->tokens);
  w.addFloat32Array("tokenizer.ggml.scores", vocabulary->scores);
  w.addInt32Array("tokenizer.ggml.token_type", vocabulary->types);
  w.addUInt32("tokenizer.ggml.bos_token_id", uint32_t(vocabulary->bos));
  w.addUInt32("tokenizer.ggml.eos_token_id", uint32_t(vocabulary->eos));
  w.addUInt32("tokenizer.ggml.unknown_token_id", uint32_t(vocabulary->unknown));
  return w.write(to);
}

llvm::Expected<std::string> qopt::model::copyTokenizerInto(llvm::StringRef path,
                                                           llvm::StringRef dir,
                                                           int64_t vocabSize) {
  // The copy must load as the original does: try it first.
  llvm::Expected<std::unique_ptr<Tokenizer>> check =
      loadTokenizerFile(path, vocabSize);
  if (!check)
    return check.takeError();
  if (path.ends_with(".json")) {
    if (llvm::Error err = copyFile(path, inDir(dir, "tokenizer.json")))
      return std::move(err);
    // BOS/EOS come from the tokenizer_config.json beside it.
    std::string config =
        inDir(llvm::sys::path::parent_path(path), "tokenizer_config.json");
    if (llvm::sys::fs::exists(config))
      if (llvm::Error err =
              copyFile(config, inDir(dir, "tokenizer_config.json")))
        return std::move(err);
    return std::string("tokenizer.json");
  }
  auto magic = llvm::MemoryBuffer::getFileSlice(path, 4, 0,
                                                /*IsVolatile=*/false);
  if (magic && (*magic)->getBuffer() == "GGUF") {
    if (llvm::Error err =
            writeGGUFVocabulary(path, inDir(dir, "tokenizer.gguf")))
      return std::move(err);
    return std::string("tokenizer.gguf");
  }
  if (llvm::Error err = copyFile(path, inDir(dir, "tokenizer.bin")))
    return std::move(err);
  return std::string("tokenizer.bin");
}
