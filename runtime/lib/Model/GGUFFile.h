//===- GGUFFile.h - The GGUF container parser -------------------*- C++ -*-===//
//
// The parsed form of a GGUF file: key/value metadata (scalars widened,
// strings and arrays pointing into the mapped file) and validated tensor
// infos, with typed metadata getters whose errors name the file and key.
// parseGGUF (GGUFFile.cpp) builds it; GGUF.cpp maps it to a Checkpoint and
// GGUFTokenizer.cpp to a tokenizer. Private to runtime/lib/Model.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_MODEL_GGUFFILE_H
#define QOPT_LIB_MODEL_GGUFFILE_H

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/GGUFWriter.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qopt {
namespace model {
namespace gguf {

/// Size in bytes of a scalar GGUF value type, or 0 for string/array/unknown.
size_t scalarSize(uint32_t type);

/// Printable name of a GGUF value type.
llvm::StringRef valueTypeName(uint32_t type);

/// A parsed metadata value. Scalars are widened; strings and arrays point
/// into the mapped file.
struct Value {
  uint32_t type = 0;
  uint64_t u = 0;                       ///< unsigned integer types and bool
  int64_t i = 0;                        ///< signed integer types
  double f = 0;                         ///< float types
  llvm::StringRef str;                  ///< string
  uint32_t elemType = 0;                ///< array element type
  uint64_t count = 0;                   ///< array length
  const uint8_t *elems = nullptr;       ///< scalar array elements
  std::vector<llvm::StringRef> strings; ///< string array elements

  bool isUnsigned() const {
    return type == uint32_t(GGUFValueType::UInt8) ||
           type == uint32_t(GGUFValueType::UInt16) ||
           type == uint32_t(GGUFValueType::UInt32) ||
           type == uint32_t(GGUFValueType::UInt64);
  }
  bool isSigned() const {
    return type == uint32_t(GGUFValueType::Int8) ||
           type == uint32_t(GGUFValueType::Int16) ||
           type == uint32_t(GGUFValueType::Int32) ||
           type == uint32_t(GGUFValueType::Int64);
  }
  bool isFloat() const {
    return type == uint32_t(GGUFValueType::Float32) ||
           type == uint32_t(GGUFValueType::Float64);
  }
};

/// A tensor info entry, validated against the file.
struct TensorInfo {
  llvm::StringRef name;
  std::vector<int64_t> shape; ///< PyTorch order (ggml dims reversed)
  DType dtype = DType::F32;
  const uint8_t *data = nullptr;
  size_t numBytes = 0;
};

/// A parsed GGUF file.
struct GGUFFile {
  std::string path;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  uint32_t version = 0;
  uint64_t alignment = 32;
  std::vector<std::pair<llvm::StringRef, Value>> kvs;
  llvm::StringMap<size_t> kvIndex;
  std::vector<TensorInfo> tensors;
  llvm::StringMap<size_t> tensorIndex;

  llvm::Error error(const llvm::Twine &message) const {
    return llvm::createStringError(llvm::Twine(path) + ": " + message);
  }

  const Value *lookup(llvm::StringRef key) const {
    auto it = kvIndex.find(key);
    return it == kvIndex.end() ? nullptr : &kvs[it->second].second;
  }

  /// An integer KV of any integer type, range-checked to [minValue, maxValue].
  llvm::Expected<std::optional<int64_t>>
  getOptionalInt(llvm::StringRef key, int64_t minValue = 0,
                 int64_t maxValue = std::numeric_limits<int32_t>::max()) const {
    const Value *value = lookup(key);
    if (!value)
      return std::nullopt;
    int64_t result;
    if (value->isUnsigned()) {
      if (value->u > uint64_t(std::numeric_limits<int64_t>::max()))
        return error("metadata '" + key + "' is out of range");
      result = int64_t(value->u);
    } else if (value->isSigned()) {
      result = value->i;
    } else {
      return error("metadata '" + key + "' has type " +
                   valueTypeName(value->type) + ", expected an integer");
    }
    if (result < minValue || result > maxValue)
      return error(llvm::formatv("metadata '{0}' = {1} is out of range "
                                 "[{2}, {3}]",
                                 key, result, minValue, maxValue)
                       .str());
    return result;
  }

  llvm::Expected<int64_t>
  getInt(llvm::StringRef key, int64_t minValue = 0,
         int64_t maxValue = std::numeric_limits<int32_t>::max()) const {
    auto value = getOptionalInt(key, minValue, maxValue);
    if (!value)
      return value.takeError();
    if (!*value)
      return error("missing metadata '" + key + "'");
    return **value;
  }

  llvm::Expected<std::optional<double>>
  getOptionalFloat(llvm::StringRef key) const {
    const Value *value = lookup(key);
    if (!value)
      return std::nullopt;
    if (!value->isFloat())
      return error("metadata '" + key + "' has type " +
                   valueTypeName(value->type) + ", expected a float");
    return value->f;
  }

  llvm::Expected<std::optional<llvm::StringRef>>
  getOptionalString(llvm::StringRef key) const {
    const Value *value = lookup(key);
    if (!value)
      return std::nullopt;
    if (value->type != uint32_t(GGUFValueType::String))
      return error("metadata '" + key + "' has type " +
                   valueTypeName(value->type) + ", expected a string");
    return value->str;
  }
};

/// Maps and parses `path`; tensor infos are read and checked against the
/// file only when `withTensors`.
llvm::Expected<std::unique_ptr<GGUFFile>> parseGGUF(llvm::StringRef path,
                                                    bool withTensors);

} // namespace gguf
} // namespace model
} // namespace qopt

#endif // QOPT_LIB_MODEL_GGUFFILE_H
