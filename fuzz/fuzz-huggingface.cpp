//===- fuzz-huggingface.cpp - Fuzz the Hugging Face checkpoint reader -----===//
//
// One target per file of a Hugging Face checkpoint directory, chosen at
// build time by QOPT_FUZZ_HF_INPUT; the other files are the fixture's
// (scripts/fuzz.sh writes them with tests/Inputs/make_checkpoint.py):
//   0  model.safetensors              (header and data; config.json fixed)
//   1  config.json                    (model.safetensors fixed)
//   2  model.safetensors.index.json   (config.json and two shards fixed)
//
//===----------------------------------------------------------------------===//

#include "FuzzCheckpoint.h"

#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace qopt;

#ifndef QOPT_FUZZ_HF_INPUT
#error "define QOPT_FUZZ_HF_INPUT"
#endif

namespace {
struct Layout {
  const char *input;
  const char *fixtureDir;
  std::vector<const char *> fixed;
};
const Layout &layout() {
  static const Layout layouts[] = {
      {"model.safetensors", "hf", {"config.json"}},
      {"config.json", "hf", {"model.safetensors"}},
      {"model.safetensors.index.json",
       "hf-sharded",
       {"config.json", "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors"}},
  };
  return layouts[QOPT_FUZZ_HF_INPUT];
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "qopt fuzz: cannot read fixture '%s'\n", path.c_str());
    std::abort();
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  const Layout &l = layout();
  for (const char *name : l.fixed)
    fuzz::writeInput(
        name, readFile(fuzz::fixture(std::string(l.fixtureDir) + "/" + name)));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz::writeInput(layout().input, data, size);
  if (auto ckpt = model::loadHuggingFace(fuzz::scratchDirectory()))
    fuzz::exerciseCheckpoint(**ckpt);
  else
    llvm::consumeError(ckpt.takeError());
  return 0;
}
