//===- fuzz-gguf.cpp - Fuzz the GGUF checkpoint and tokenizer readers -----===//
//
// The input is a GGUF file: loadGGUF reads its header, metadata and tensor
// table; loadGGUFTokenizer its tokenizer metadata.
//
//===----------------------------------------------------------------------===//

#include "FuzzCheckpoint.h"

using namespace qopt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = fuzz::writeInput("model.gguf", data, size);
  if (auto ckpt = model::loadGGUF(path))
    fuzz::exerciseCheckpoint(**ckpt);
  else
    llvm::consumeError(ckpt.takeError());
  if (auto tok = model::loadGGUFTokenizer(path))
    fuzz::exerciseTokenizer(**tok);
  else
    llvm::consumeError(tok.takeError());
  return 0;
}
