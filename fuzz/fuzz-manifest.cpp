//===- fuzz-manifest.cpp - Fuzz the artifact manifest reader --------------===//
//
// The input is the manifest.json of an ahead-of-time artifact directory.
//
//===----------------------------------------------------------------------===//

#include "FuzzInput.h"

#include "qopt/Model/Artifact.h"

using namespace qopt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = fuzz::writeInput("manifest.json", data, size);
  if (auto manifest = model::readArtifactManifest(path)) {
    // Names of files inside the directory only.
    for (const std::string &name : {manifest->library, manifest->weights})
      if (name.empty() || name.find('/') != std::string::npos || name == "..")
        __builtin_trap();
    if (manifest->tokenizer.find('/') != std::string::npos ||
        manifest->tokenizer == "..")
      __builtin_trap();
  } else {
    llvm::consumeError(manifest.takeError());
  }
  return 0;
}
