//===- fuzz-llama2c-tokenizer.cpp - Fuzz the llama2.c tokenizer reader ----===//
//
// The input is a llama2.c `tokenizer.bin`, read for the vocabulary size of
// the fixture model (32) and for one past its 256 byte tokens (259).
//
//===----------------------------------------------------------------------===//

#include "FuzzCheckpoint.h"

using namespace qopt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = fuzz::writeInput("tokenizer.bin", data, size);
  for (int64_t vocab : {32, 259}) {
    if (auto tok = model::loadLlama2cTokenizer(path, vocab))
      fuzz::exerciseTokenizer(**tok);
    else
      llvm::consumeError(tok.takeError());
  }
  return 0;
}
