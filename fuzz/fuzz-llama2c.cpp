//===- fuzz-llama2c.cpp - Fuzz the llama2.c checkpoint reader -------------===//
//
// The input is a llama2.c `.bin` checkpoint (a 7 x int32 header and f32
// weights).
//
//===----------------------------------------------------------------------===//

#include "FuzzCheckpoint.h"

using namespace qopt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = fuzz::writeInput("model.bin", data, size);
  if (auto ckpt = model::loadLlama2c(path))
    fuzz::exerciseCheckpoint(**ckpt);
  else
    llvm::consumeError(ckpt.takeError());
  return 0;
}
