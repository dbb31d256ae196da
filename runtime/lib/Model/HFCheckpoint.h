//===- HFCheckpoint.h - Hugging Face checkpoint reader parts ----*- C++ -*-===//
//
// The two halves of loadHuggingFace (HuggingFace.cpp): the safetensors
// container and model.safetensors.index.json (Safetensors.cpp), and the
// mapping of config.json to a ModelConfig (HFConfig.cpp). Private to
// runtime/lib/Model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODEL_HFCHECKPOINT_H
#define QOPT_LIB_MODEL_HFCHECKPOINT_H

#include "qopt/Model/Checkpoint.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qopt {
namespace model {
namespace detail {

/// The tensors of one safetensors file, by their name in the file.
struct SafetensorsFile {
  std::string path;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::map<std::string, TensorRef> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
};

/// The weights of a checkpoint directory: model.safetensors, or the shards
/// that model.safetensors.index.json names.
struct SafetensorsWeights {
  std::vector<SafetensorsFile> files;
  /// Every tensor by its Hugging Face name (pointing into `files`).
  std::map<std::string, const TensorRef *> where;
  /// The file that names the weights (model.safetensors or the index), for
  /// errors.
  std::string weightsDesc;
};

/// Maps and validates the weights of the Hugging Face checkpoint
/// `directory` into `out`.
llvm::Error readSafetensorsWeights(llvm::StringRef directory,
                                   SafetensorsWeights &out);

/// Fills `c` from the parsed config.json at `path`; informational keys go
/// to ckpt.metadata.
llvm::Error parseHFConfig(llvm::StringRef path, const llvm::json::Value &json,
                          ModelConfig &c, Checkpoint &ckpt);

/// Prints a shape as "[a, b]".
std::string shapeString(const std::vector<int64_t> &shape);

/// A JSON number that must be a non-negative integer (64.0 is accepted).
std::optional<int64_t> getNonNegInt(const llvm::json::Value &v);

} // namespace detail
} // namespace model
} // namespace qopt

#endif // QOPT_LIB_MODEL_HFCHECKPOINT_H
