//===- FuzzCheckpoint.h - Shared body of the reader fuzzers -----*- C++ -*-===//
//
// Shared by the fuzz targets of the checkpoint and tokenizer readers: once a
// reader accepts an input, everything a tool does with the result must stay
// in bounds too, so the targets read every tensor and run the tokenizer.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_FUZZ_FUZZCHECKPOINT_H
#define QOPT_FUZZ_FUZZCHECKPOINT_H

#include "FuzzInput.h"

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Tokenizer.h"

#include "llvm/Support/Error.h"

#include <cstdlib>
#include <string>

namespace qopt {
namespace fuzz {

/// The directory of fixed valid files some targets combine with the input
/// (QOPT_FUZZ_FIXTURES, written by scripts/fuzz.sh), or aborts.
inline std::string fixture(const std::string &name) {
  const char *dir = std::getenv("QOPT_FUZZ_FIXTURES");
  if (!dir) {
    std::fprintf(stderr, "qopt fuzz: set QOPT_FUZZ_FIXTURES (scripts/fuzz.sh "
                         "does)\n");
    std::abort();
  }
  return std::string(dir) + "/" + name;
}

/// Converts every tensor of an accepted checkpoint the way the importer
/// does (at most a few million elements, so that a valid but large
/// declaration does not stall the fuzzer).
inline void exerciseCheckpoint(const model::Checkpoint &ckpt) {
  int64_t budget = int64_t(1) << 22;
  for (const model::TensorRef &tensor : ckpt.tensors) {
    int64_t n = tensor.numElements();
    if (n < 0 || n > budget)
      continue;
    budget -= n;
    llvm::Expected<std::vector<float>> values = model::toF32(tensor);
    if (!values)
      llvm::consumeError(values.takeError());
    if (model::isBlockQuantized(tensor.dtype)) {
      llvm::Expected<model::BlockQuantized> q = model::toBlockQuantized(tensor);
      if (!q)
        llvm::consumeError(q.takeError());
    }
  }
}

/// Encodes and decodes a few texts with an accepted tokenizer.
inline void exerciseTokenizer(const model::Tokenizer &tok) {
  for (llvm::StringRef text :
       {"", "Hello world", " a b  c\n\t", "\xff\xfe\x80 \xe2\x96\x81x",
        "<s></s><unk> abcabc"}) {
    std::vector<int32_t> ids = tok.encode(text, true, true);
    int32_t prev = tok.bosId();
    for (int32_t id : ids) {
      (void)tok.decode(prev, id);
      prev = id;
    }
  }
  for (int32_t id :
       {int32_t(0), tok.bosId(), tok.eosId(), int32_t(tok.vocabSize() - 1),
        int32_t(-1), int32_t(tok.vocabSize())})
    (void)tok.decode(tok.bosId(), id);
}

} // namespace fuzz
} // namespace qopt

#endif // QOPT_FUZZ_FUZZCHECKPOINT_H
