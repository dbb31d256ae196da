//===- fuzz-hf-tokenizer.cpp - Fuzz the tokenizer.json reader -------------===//
//
// The input is a Hugging Face `tokenizer.json` (BPE). tokenizer_config.json
// is absent, as in many checkpoints.
//
//===----------------------------------------------------------------------===//

#include "FuzzCheckpoint.h"

using namespace qopt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = fuzz::writeInput("tokenizer.json", data, size);
  if (auto tok = model::loadHuggingFaceTokenizer(path))
    fuzz::exerciseTokenizer(**tok);
  else
    llvm::consumeError(tok.takeError());
  return 0;
}
