//===- GGUF.cpp - Reading GGUF checkpoints and tokenizers -------*- C++ -*-===//
//
// loadGGUF and loadGGUFTokenizer. The file is memory-mapped and parsed with a
// bounds-checked cursor: every count, length, offset and size is checked
// against the file before it is used, so a malformed or truncated file is an
// llvm::Error naming the file (and the key or tensor), never a crash.
//
// GGUF v2 and v3 are read: header (magic "GGUF", version, tensor and KV
// counts), key/value metadata, tensor infos (ggml dims, fastest-varying
// first), then the data section at the next multiple of general.alignment.
// Only architecture "llama" is accepted; its tensors are renamed to qopt's
// canonical names (Checkpoint.h) and their shapes reversed to PyTorch order.
// llama.cpp's convert script has already permuted q/k into the interleaved
// RoPE order, so the checkpoint's ropeStyle is Interleaved.
//
// The tokenizer is tokenizer.ggml.model == "llama" (SentencePiece vocabulary
// with scores), run by the llama2.c encoder of ScoredBPE.h after turning the
// vocabulary's U+2581 space marker back into ' ' as llama2.c's tokenizer.bin
// stores it. Tensor data ranges must not overlap; keys and tensor names must
// be valid UTF-8 and unique.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/ChatTemplate.h"
#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/GGUFWriter.h"
#include "qopt/Model/Input.h"
#include "qopt/Model/Tokenizer.h"

#include "ScoredBPE.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <tuple>
#include <type_traits>

using namespace qopt::model;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;
using llvm::Twine;

namespace {

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

/// Size in bytes of a scalar GGUF value type, or 0 for string/array/unknown.
size_t scalarSize(uint32_t type) {
  switch (static_cast<GGUFValueType>(type)) {
  case GGUFValueType::UInt8:
  case GGUFValueType::Int8:
  case GGUFValueType::Bool:
    return 1;
  case GGUFValueType::UInt16:
  case GGUFValueType::Int16:
    return 2;
  case GGUFValueType::UInt32:
  case GGUFValueType::Int32:
  case GGUFValueType::Float32:
    return 4;
  case GGUFValueType::UInt64:
  case GGUFValueType::Int64:
  case GGUFValueType::Float64:
    return 8;
  case GGUFValueType::String:
  case GGUFValueType::Array:
    return 0;
  }
  return 0;
}

/// Printable name of a GGUF value type.
StringRef valueTypeName(uint32_t type) {
  static const char *const names[] = {
      "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
      "bool",  "string", "array",  "uint64", "int64",  "float64"};
  return type < std::size(names) ? names[type] : "unknown";
}

/// Printable name of a ggml tensor type (ggml_type_name spelling).
std::string ggmlTypeName(uint32_t type) {
  static const char *const names[] = {
      "f32",        "f16",        "q4_0",       "q4_1",     "q4_2",    "q4_3",
      "q5_0",       "q5_1",       "q8_0",       "q8_1",     "q2_K",    "q3_K",
      "q4_K",       "q5_K",       "q6_K",       "q8_K",     "iq2_xxs", "iq2_xs",
      "iq3_xxs",    "iq1_s",      "iq4_nl",     "iq3_s",    "iq2_s",   "iq4_xs",
      "i8",         "i16",        "i32",        "i64",      "f64",     "iq1_m",
      "bf16",       "q4_0_4_4",   "q4_0_4_8",   "q4_0_8_8", "tq1_0",   "tq2_0",
      "iq4_nl_4_4", "iq4_nl_4_8", "iq4_nl_8_8", "mxfp4"};
  if (type < std::size(names))
    return names[type];
  return "unknown type " + std::to_string(type);
}

/// A parsed metadata value. Scalars are widened; strings and arrays point
/// into the mapped file.
struct Value {
  uint32_t type = 0;
  uint64_t u = 0;                 ///< unsigned integer types and bool
  int64_t i = 0;                  ///< signed integer types
  double f = 0;                   ///< float types
  StringRef str;                  ///< string
  uint32_t elemType = 0;          ///< array element type
  uint64_t count = 0;             ///< array length
  const uint8_t *elems = nullptr; ///< scalar array elements
  std::vector<StringRef> strings; ///< string array elements

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
  StringRef name;
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
  std::vector<std::pair<StringRef, Value>> kvs;
  llvm::StringMap<size_t> kvIndex;
  std::vector<TensorInfo> tensors;
  llvm::StringMap<size_t> tensorIndex;

  Error error(const Twine &message) const {
    return llvm::createStringError(Twine(path) + ": " + message);
  }

  const Value *lookup(StringRef key) const {
    auto it = kvIndex.find(key);
    return it == kvIndex.end() ? nullptr : &kvs[it->second].second;
  }

  /// An integer KV of any integer type, range-checked to [minValue, maxValue].
  Expected<std::optional<int64_t>>
  getOptionalInt(StringRef key, int64_t minValue = 0,
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

  Expected<int64_t>
  getInt(StringRef key, int64_t minValue = 0,
         int64_t maxValue = std::numeric_limits<int32_t>::max()) const {
    auto value = getOptionalInt(key, minValue, maxValue);
    if (!value)
      return value.takeError();
    if (!*value)
      return error("missing metadata '" + key + "'");
    return **value;
  }

  Expected<std::optional<double>> getOptionalFloat(StringRef key) const {
    const Value *value = lookup(key);
    if (!value)
      return std::nullopt;
    if (!value->isFloat())
      return error("metadata '" + key + "' has type " +
                   valueTypeName(value->type) + ", expected a float");
    return value->f;
  }

  Expected<std::optional<StringRef>> getOptionalString(StringRef key) const {
    const Value *value = lookup(key);
    if (!value)
      return std::nullopt;
    if (value->type != uint32_t(GGUFValueType::String))
      return error("metadata '" + key + "' has type " +
                   valueTypeName(value->type) + ", expected a string");
    return value->str;
  }
};

/// A bounds-checked little-endian reader over the mapped file.
class Cursor {
public:
  Cursor(const GGUFFile &file)
      : file(file),
        begin(reinterpret_cast<const uint8_t *>(file.buffer->getBufferStart())),
        size(file.buffer->getBufferSize()) {}

  uint64_t offset() const { return pos; }
  uint64_t remaining() const { return size - pos; }
  const uint8_t *here() const { return begin + pos; }

  Error truncated(const Twine &what) const {
    return file.error(llvm::formatv("truncated file: {0} at offset {1} runs "
                                    "past the end of the file ({2} bytes)",
                                    what.str(), pos, size)
                          .str());
  }

  template <typename T> Error read(T &out, const Twine &what) {
    if (remaining() < sizeof(T))
      return truncated(what);
    std::memcpy(&out, begin + pos, sizeof(T));
    pos += sizeof(T);
    return Error::success();
  }

  Error skip(uint64_t numBytes, const Twine &what) {
    if (remaining() < numBytes)
      return truncated(what);
    pos += numBytes;
    return Error::success();
  }

  Error readString(StringRef &out, const Twine &what) {
    uint64_t length = 0;
    if (Error err = read(length, what + " length"))
      return err;
    if (length > remaining())
      return file.error(llvm::formatv("{0} at offset {1} has length {2}, past "
                                      "the end of the file ({3} bytes)",
                                      what.str(), pos - 8, length, size)
                            .str());
    out = StringRef(reinterpret_cast<const char *>(begin + pos), length);
    pos += length;
    return Error::success();
  }

private:
  const GGUFFile &file;
  const uint8_t *begin;
  uint64_t size;
  uint64_t pos = 0;
};

/// Reads one scalar of `type` into `value` (type already set).
Error readScalar(Cursor &cursor, uint32_t type, Value &value,
                 const Twine &what) {
  auto readAs = [&](auto tag) -> Error {
    decltype(tag) raw = 0;
    if (Error err = cursor.read(raw, what))
      return err;
    if constexpr (std::is_floating_point_v<decltype(tag)>)
      value.f = raw;
    else if constexpr (std::is_signed_v<decltype(tag)>)
      value.i = raw;
    else
      value.u = raw;
    return Error::success();
  };
  switch (static_cast<GGUFValueType>(type)) {
  case GGUFValueType::UInt8:
  case GGUFValueType::Bool:
    return readAs(uint8_t());
  case GGUFValueType::Int8:
    return readAs(int8_t());
  case GGUFValueType::UInt16:
    return readAs(uint16_t());
  case GGUFValueType::Int16:
    return readAs(int16_t());
  case GGUFValueType::UInt32:
    return readAs(uint32_t());
  case GGUFValueType::Int32:
    return readAs(int32_t());
  case GGUFValueType::Float32:
    return readAs(float());
  case GGUFValueType::UInt64:
    return readAs(uint64_t());
  case GGUFValueType::Int64:
    return readAs(int64_t());
  case GGUFValueType::Float64:
    return readAs(double());
  case GGUFValueType::String:
  case GGUFValueType::Array:
    break;
  }
  llvm_unreachable("not a scalar type");
}

/// Reads a value of `type`; arrays may nest up to a small depth (nested
/// arrays are validated and skipped).
Error readValue(const GGUFFile &file, Cursor &cursor, uint32_t type,
                Value &value, StringRef key, unsigned depth = 0) {
  value.type = type;
  if (type > uint32_t(GGUFValueType::Float64))
    return file.error(
        llvm::formatv("metadata '{0}' has unknown value type {1}", key, type)
            .str());
  if (type == uint32_t(GGUFValueType::String))
    return cursor.readString(value.str, "metadata '" + key + "' string");
  if (type != uint32_t(GGUFValueType::Array))
    return readScalar(cursor, type, value, "metadata '" + key + "' value");

  if (depth > 4)
    return file.error("metadata '" + key + "' nests arrays too deeply");
  if (Error err = cursor.read(value.elemType,
                              "metadata '" + key + "' array element type"))
    return err;
  if (Error err =
          cursor.read(value.count, "metadata '" + key + "' array length"))
    return err;
  if (value.elemType > uint32_t(GGUFValueType::Float64))
    return file.error(llvm::formatv("metadata '{0}' is an array of unknown "
                                    "value type {1}",
                                    key, value.elemType)
                          .str());
  // Every element takes at least one byte (strings: 8, arrays: 12).
  uint64_t minElemSize = scalarSize(value.elemType);
  if (value.elemType == uint32_t(GGUFValueType::String))
    minElemSize = 8;
  else if (value.elemType == uint32_t(GGUFValueType::Array))
    minElemSize = 12;
  if (value.count > cursor.remaining() / minElemSize)
    return file.error(llvm::formatv("metadata '{0}' declares {1} array "
                                    "elements, more than the file can hold",
                                    key, value.count)
                          .str());
  if (size_t elemSize = scalarSize(value.elemType)) {
    value.elems = cursor.here();
    return cursor.skip(value.count * elemSize, "metadata '" + key + "' array");
  }
  if (value.elemType == uint32_t(GGUFValueType::String)) {
    value.strings.resize(value.count);
    for (uint64_t i = 0; i < value.count; ++i)
      if (Error err = cursor.readString(
              value.strings[i], "metadata '" + key + "' element " + Twine(i)))
        return err;
    return Error::success();
  }
  for (uint64_t i = 0; i < value.count; ++i) {
    Value nested;
    if (Error err =
            readValue(file, cursor, value.elemType, nested, key, depth + 1))
      return err;
  }
  return Error::success();
}

/// Element `index` of a numeric array value as a double.
double arrayElement(const Value &value, uint64_t index) {
  const uint8_t *p = value.elems + index * scalarSize(value.elemType);
  auto load = [&](auto tag) -> double {
    decltype(tag) raw = 0;
    std::memcpy(&raw, p, sizeof(raw));
    return double(raw);
  };
  switch (static_cast<GGUFValueType>(value.elemType)) {
  case GGUFValueType::UInt8:
  case GGUFValueType::Bool:
    return load(uint8_t());
  case GGUFValueType::Int8:
    return load(int8_t());
  case GGUFValueType::UInt16:
    return load(uint16_t());
  case GGUFValueType::Int16:
    return load(int16_t());
  case GGUFValueType::UInt32:
    return load(uint32_t());
  case GGUFValueType::Int32:
    return load(int32_t());
  case GGUFValueType::Float32:
    return load(float());
  case GGUFValueType::UInt64:
    return load(uint64_t());
  case GGUFValueType::Int64:
    return load(int64_t());
  case GGUFValueType::Float64:
    return load(double());
  default:
    return 0;
  }
}

/// Maps a ggml type to a DType, or nullopt when qopt does not read it.
std::optional<DType> dtypeOf(uint32_t ggmlType) {
  switch (ggmlType) {
  case uint32_t(GGMLType::F32):
    return DType::F32;
  case uint32_t(GGMLType::F16):
    return DType::F16;
  case uint32_t(GGMLType::BF16):
    return DType::BF16;
  case uint32_t(GGMLType::Q8_0):
    return DType::Q8_0;
  case uint32_t(GGMLType::Q4_0):
    return DType::Q4_0;
  default:
    return std::nullopt;
  }
}

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string result = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    result += (i ? ", " : "") + std::to_string(shape[i]);
  return result + "]";
}

/// Reads and validates the tensor info `index`.
Error readTensorInfo(GGUFFile &file, Cursor &cursor, uint64_t index,
                     uint64_t &offset, uint32_t &ggmlType) {
  TensorInfo info;
  if (Error err =
          cursor.readString(info.name, "tensor " + Twine(index) + " name"))
    return err;
  if (!llvm::json::isUTF8(info.name))
    return file.error("the name of tensor " + Twine(index) +
                      " is not valid UTF-8 (GGUF strings are UTF-8)");
  std::string what = ("tensor '" + info.name + "'").str();
  uint32_t numDims = 0;
  if (Error err = cursor.read(numDims, what + " dimension count"))
    return err;
  if (numDims < 1 || numDims > 4)
    return file.error(what + " has " + Twine(numDims) +
                      " dimensions (1 to 4 expected)");
  uint64_t dims[4] = {0, 0, 0, 0};
  uint64_t numElements = 1;
  for (uint32_t d = 0; d < numDims; ++d) {
    if (Error err = cursor.read(dims[d], what + " dimensions"))
      return err;
    if (dims[d] == 0 ||
        dims[d] > uint64_t(std::numeric_limits<int64_t>::max()) / numElements)
      return file.error(what + " has invalid dimension " + Twine(dims[d]));
    numElements *= dims[d];
  }
  if (Error err = cursor.read(ggmlType, what + " type"))
    return err;
  if (Error err = cursor.read(offset, what + " offset"))
    return err;

  for (uint32_t d = numDims; d > 0; --d)
    info.shape.push_back(int64_t(dims[d - 1]));
  std::optional<DType> dtype = dtypeOf(ggmlType);
  if (!dtype)
    return file.error(what + " has unsupported ggml type " +
                      ggmlTypeName(ggmlType) +
                      " (qopt reads f32, f16, bf16, q8_0 and q4_0)");
  info.dtype = *dtype;
  uint64_t numBytes;
  switch (*dtype) {
  case DType::F32:
    numBytes = numElements * 4;
    break;
  case DType::F16:
  case DType::BF16:
    numBytes = numElements * 2;
    break;
  case DType::Q8_0:
  case DType::Q4_0:
    if (dims[0] % kGGMLBlockSize != 0)
      return file.error(what + " of type " + ggmlTypeName(ggmlType) +
                        " has a row length of " + Twine(dims[0]) +
                        ", not a multiple of the block size 32");
    numBytes = numElements / kGGMLBlockSize *
               (*dtype == DType::Q8_0 ? kQ8_0BlockBytes : kQ4_0BlockBytes);
    break;
  }
  // numElements < 2^63, so numBytes (at most 4x) can only overflow on
  // 32-bit hosts; check against the file later anyway.
  if (numElements > std::numeric_limits<uint64_t>::max() / 4)
    return file.error(what + " is too large");
  info.numBytes = size_t(numBytes);
  if (file.tensorIndex.count(info.name))
    return file.error("duplicate " + what);
  file.tensorIndex[info.name] = file.tensors.size();
  file.tensors.push_back(std::move(info));
  return Error::success();
}

/// Checks that no two tensors of `file` share a byte of the data section
/// that starts at `data`: each tensor must own its bytes.
Error checkDisjoint(const GGUFFile &file, const uint8_t *data) {
  std::vector<const TensorInfo *> byOffset;
  for (const TensorInfo &info : file.tensors)
    byOffset.push_back(&info);
  // By offset, then name: the error names the same pair every time.
  llvm::sort(byOffset, [](const TensorInfo *a, const TensorInfo *b) {
    return std::tie(a->data, a->name) < std::tie(b->data, b->name);
  });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const TensorInfo &prev = *byOffset[i - 1], &next = *byOffset[i];
    if (next.data >= prev.data + prev.numBytes)
      continue;
    return file.error(llvm::formatv("tensors '{0}' (data offsets [{1}, {2})) "
                                    "and '{3}' (data offsets [{4}, {5})) "
                                    "overlap; every tensor must have bytes of "
                                    "its own",
                                    prev.name, prev.data - data,
                                    prev.data - data + prev.numBytes, next.name,
                                    next.data - data,
                                    next.data - data + next.numBytes)
                          .str());
  }
  return Error::success();
}

/// Maps and parses `path`; tensor infos are read and checked against the
/// file only when `withTensors`.
Expected<std::unique_ptr<GGUFFile>> parseGGUF(StringRef path,
                                              bool withTensors) {
  auto file = std::make_unique<GGUFFile>();
  file->path = path.str();
  Expected<std::unique_ptr<llvm::MemoryBuffer>> bufferOr =
      openRegularFile(path, "");
  if (!bufferOr)
    return bufferOr.takeError();
  file->buffer = std::move(*bufferOr);
  Cursor cursor(*file);

  uint32_t magic = 0;
  if (Error err = cursor.read(magic, "magic"))
    return err;
  if (magic != 0x46554747u)
    return file->error("not a GGUF file (bad magic)");
  if (Error err = cursor.read(file->version, "version"))
    return err;
  if (file->version != 2 && file->version != 3)
    return file->error("unsupported GGUF version " + Twine(file->version) +
                       " (qopt reads versions 2 and 3)");
  uint64_t tensorCount = 0, kvCount = 0;
  if (Error err = cursor.read(tensorCount, "tensor count"))
    return err;
  if (Error err = cursor.read(kvCount, "metadata count"))
    return err;
  // A KV takes at least 13 bytes (key length, type, one value byte), a
  // tensor info at least 32 (name length, n_dims, one dim, type, offset).
  if (kvCount > cursor.remaining() / 13)
    return file->error("truncated or corrupt file: the header declares " +
                       Twine(kvCount) + " metadata entries, more than the " +
                       Twine(cursor.remaining()) + " remaining bytes hold");
  if (tensorCount > cursor.remaining() / 32)
    return file->error("truncated or corrupt file: the header declares " +
                       Twine(tensorCount) + " tensors, more than the " +
                       Twine(cursor.remaining()) + " remaining bytes hold");

  file->kvs.reserve(kvCount);
  for (uint64_t i = 0; i < kvCount; ++i) {
    StringRef key;
    if (Error err = cursor.readString(key, "metadata key " + Twine(i)))
      return err;
    if (!llvm::json::isUTF8(key))
      return file->error("metadata key " + Twine(i) +
                         " is not valid UTF-8 (GGUF strings are UTF-8)");
    uint32_t type = 0;
    if (Error err = cursor.read(type, "metadata '" + key + "' type"))
      return err;
    Value value;
    if (Error err = readValue(*file, cursor, type, value, key))
      return err;
    if (file->kvIndex.count(key))
      return file->error("duplicate metadata key '" + key + "'");
    file->kvIndex[key] = file->kvs.size();
    file->kvs.emplace_back(key, std::move(value));
  }

  if (const Value *alignment = file->lookup("general.alignment")) {
    if (alignment->type != uint32_t(GGUFValueType::UInt32) ||
        alignment->u == 0 || (alignment->u & (alignment->u - 1)) != 0)
      return file->error("general.alignment must be a uint32 power of two");
    file->alignment = alignment->u;
  }
  if (!withTensors)
    return file;

  std::vector<uint64_t> offsets(tensorCount);
  std::vector<uint32_t> types(tensorCount);
  for (uint64_t i = 0; i < tensorCount; ++i)
    if (Error err = readTensorInfo(*file, cursor, i, offsets[i], types[i]))
      return err;

  uint64_t fileSize = file->buffer->getBufferSize();
  uint64_t dataStart = (cursor.offset() + file->alignment - 1) /
                       file->alignment * file->alignment;
  if (tensorCount > 0 && dataStart > fileSize)
    return file->error(llvm::formatv("truncated file: the data section would "
                                     "start at offset {0}, past the end of "
                                     "the file ({1} bytes)",
                                     dataStart, fileSize)
                           .str());
  uint64_t dataSize = tensorCount > 0 ? fileSize - dataStart : 0;
  const uint8_t *data =
      reinterpret_cast<const uint8_t *>(file->buffer->getBufferStart()) +
      dataStart;
  for (uint64_t i = 0; i < tensorCount; ++i) {
    TensorInfo &info = file->tensors[i];
    if (offsets[i] % file->alignment != 0)
      return file->error(llvm::formatv("tensor '{0}' has offset {1}, not a "
                                       "multiple of the alignment {2}",
                                       info.name, offsets[i], file->alignment)
                             .str());
    if (offsets[i] > dataSize || info.numBytes > dataSize - offsets[i])
      return file->error(llvm::formatv("tensor '{0}' ({1} bytes at data "
                                       "offset {2}) runs past the end of the "
                                       "file (data section: {3} bytes); the "
                                       "file is truncated or corrupt",
                                       info.name, info.numBytes, offsets[i],
                                       dataSize)
                             .str());
    info.data = data + offsets[i];
  }
  if (Error err = checkDisjoint(*file, data))
    return err;
  return file;
}

//===----------------------------------------------------------------------===//
// Checkpoint
//===----------------------------------------------------------------------===//

/// The canonical name of GGUF llama tensor `name`, or "" if it is not one of
/// the known names. Sets `layer` for blk.N tensors (-1 otherwise).
std::string canonicalName(StringRef name, int64_t &layer) {
  layer = -1;
  if (name == "token_embd.weight")
    return "tok_embeddings";
  if (name == "output_norm.weight")
    return "norm";
  if (name == "output.weight")
    return "output";
  if (!name.consume_front("blk."))
    return "";
  auto [index, suffix] = name.split('.');
  unsigned long long n;
  if (index.empty() || index.getAsInteger(10, n) || n > (1u << 30))
    return "";
  static const std::pair<const char *, const char *> suffixes[] = {
      {"attn_norm.weight", "attention_norm"},
      {"attn_q.weight", "wq"},
      {"attn_k.weight", "wk"},
      {"attn_v.weight", "wv"},
      {"attn_output.weight", "wo"},
      {"ffn_norm.weight", "ffn_norm"},
      {"ffn_gate.weight", "w1"},
      {"ffn_down.weight", "w2"},
      {"ffn_up.weight", "w3"},
  };
  for (const auto &[gguf, canonical] : suffixes) {
    if (suffix == gguf) {
      layer = int64_t(n);
      return "layers." + std::to_string(n) + "." + canonical;
    }
  }
  return "";
}

/// Stringified scalar metadata value, or nullopt for arrays.
std::optional<std::string> stringify(const Value &value) {
  if (value.type == uint32_t(GGUFValueType::String))
    return value.str.str();
  if (value.type == uint32_t(GGUFValueType::Bool))
    return std::string(value.u ? "true" : "false");
  if (value.isUnsigned())
    return std::to_string(value.u);
  if (value.isSigned())
    return std::to_string(value.i);
  if (value.isFloat())
    return llvm::formatv("{0}", value.f).str();
  return std::nullopt;
}

} // namespace

Expected<std::unique_ptr<Checkpoint>> qopt::model::loadGGUF(StringRef path) {
  auto fileOr = parseGGUF(path, /*withTensors=*/true);
  if (!fileOr)
    return fileOr.takeError();
  GGUFFile &file = **fileOr;

  auto arch = file.getOptionalString("general.architecture");
  if (!arch)
    return arch.takeError();
  if (!*arch)
    return file.error("missing metadata 'general.architecture'");
  if (**arch != "llama")
    return file.error("unsupported GGUF architecture '" + **arch +
                      "' (qopt reads 'llama')");

  auto ckpt = std::make_unique<Checkpoint>();
  ckpt->path = path.str();
  ckpt->format = "gguf";
  ModelConfig &config = ckpt->config;
  config.architecture = "llama";
  config.ropeStyle = RopeStyle::Interleaved;

  auto getPositive = [&](StringRef key, int64_t &out) -> Error {
    auto value = file.getInt(key, 1);
    if (!value)
      return value.takeError();
    out = *value;
    return Error::success();
  };
  if (Error err = getPositive("llama.embedding_length", config.dim))
    return err;
  if (Error err = getPositive("llama.feed_forward_length", config.hiddenDim))
    return err;
  if (Error err = getPositive("llama.block_count", config.numLayers))
    return err;
  if (Error err = getPositive("llama.attention.head_count", config.numHeads))
    return err;
  auto context = file.getInt("llama.context_length", 1, kMaxContextLength);
  if (!context)
    return context.takeError();
  config.maxSeqLen = *context;
  auto kvHeads = file.getOptionalInt("llama.attention.head_count_kv", 1);
  if (!kvHeads)
    return kvHeads.takeError();
  config.numKVHeads = kvHeads->value_or(config.numHeads);
  if (config.dim % config.numHeads != 0)
    return file.error(llvm::formatv("embedding_length {0} is not a multiple "
                                    "of head_count {1}",
                                    config.dim, config.numHeads)
                          .str());
  if (config.numHeads % config.numKVHeads != 0)
    return file.error(llvm::formatv("head_count {0} is not a multiple of "
                                    "head_count_kv {1}",
                                    config.numHeads, config.numKVHeads)
                          .str());
  auto eps = file.getOptionalFloat("llama.attention.layer_norm_rms_epsilon");
  if (!eps)
    return eps.takeError();
  config.normEps = float(eps->value_or(1e-5));
  auto theta = file.getOptionalFloat("llama.rope.freq_base");
  if (!theta)
    return theta.takeError();
  config.ropeTheta = float(theta->value_or(10000.0));
  if (!(config.normEps > 0) || !(config.ropeTheta > 0))
    return file.error("layer_norm_rms_epsilon and rope.freq_base must be "
                      "positive");
  auto ropeDims = file.getOptionalInt("llama.rope.dimension_count");
  if (!ropeDims)
    return ropeDims.takeError();
  if (*ropeDims && **ropeDims != config.headDim())
    return file.error(llvm::formatv("rope.dimension_count {0} differs from "
                                    "the head size {1}; partial RoPE is not "
                                    "supported",
                                    **ropeDims, config.headDim())
                          .str());
  // RoPE scaling as llama.cpp writes it: llama.rope.scaling.type "none" or
  // "linear" (llama.rope.scaling.factor, or the older
  // llama.rope.scale_linear, divides the frequencies); other types (yarn,
  // longrope) are refused. rope_freqs.weight is read with the tensors.
  auto scalingType = file.getOptionalString("llama.rope.scaling.type");
  if (!scalingType)
    return scalingType.takeError();
  auto scalingFactor = file.getOptionalFloat("llama.rope.scaling.factor");
  if (!scalingFactor)
    return scalingFactor.takeError();
  auto scaleLinear = file.getOptionalFloat("llama.rope.scale_linear");
  if (!scaleLinear)
    return scaleLinear.takeError();
  llvm::StringRef ropeType = scalingType->value_or("");
  if (ropeType.empty() && *scaleLinear)
    ropeType = "linear";
  if (ropeType == "linear") {
    std::optional<double> factor =
        *scalingFactor ? *scalingFactor : *scaleLinear;
    if (!factor || !(*factor > 0) || !std::isfinite(*factor))
      return file.error("llama.rope.scaling.type 'linear' needs a positive "
                        "llama.rope.scaling.factor");
    config.ropeScaling.type = RopeScalingType::Linear;
    config.ropeScaling.factor = *factor;
  } else if (!ropeType.empty() && ropeType != "none") {
    return file.error("unsupported llama.rope.scaling.type '" + ropeType +
                      "' (supported: none, linear, and rope_freqs.weight)");
  }
  auto experts = file.getOptionalInt("llama.expert_count");
  if (!experts)
    return experts.takeError();
  if (experts->value_or(0) > 0)
    return file.error(llvm::formatv("mixture-of-experts llama (expert_count "
                                    "{0}) is not supported",
                                    **experts)
                          .str());

  // Tensors, renamed.
  llvm::StringMap<size_t> byCanonical;
  for (const TensorInfo &info : file.tensors) {
    int64_t layer;
    std::string name = canonicalName(info.name, layer);
    if (layer >= config.numLayers)
      return file.error(llvm::formatv("tensor '{0}' belongs to block {1}, but "
                                      "block_count is {2}",
                                      info.name, layer, config.numLayers)
                            .str());
    TensorRef ref;
    // Tensors qopt does not know (rope_freqs.weight, ...) keep their name.
    ref.name = name.empty() ? info.name.str() : name;
    ref.sourceName = info.name.str();
    ref.file = file.path;
    ref.dtype = info.dtype;
    ref.shape = info.shape;
    ref.data = info.data;
    ref.numBytes = info.numBytes;
    byCanonical[ref.name] = ckpt->tensors.size();
    ckpt->tensors.push_back(std::move(ref));
  }

  // Vocabulary size: the tokenizer's token list, else the embedding rows.
  const Value *tokens = file.lookup("tokenizer.ggml.tokens");
  auto embedding = byCanonical.find("tok_embeddings");
  if (tokens) {
    if (tokens->type != uint32_t(GGUFValueType::Array))
      return file.error("metadata 'tokenizer.ggml.tokens' is not an array");
    config.vocabSize = int64_t(tokens->count);
  } else if (embedding != byCanonical.end() &&
             ckpt->tensors[embedding->second].shape.size() == 2) {
    config.vocabSize = ckpt->tensors[embedding->second].shape[0];
  }

  auto expect = [&](StringRef canonical, StringRef gguf,
                    std::vector<int64_t> shape, bool optional) -> Error {
    auto it = byCanonical.find(canonical);
    if (it == byCanonical.end()) {
      if (optional)
        return Error::success();
      return file.error("missing tensor '" + gguf + "' (" + canonical + ")");
    }
    const TensorRef &ref = ckpt->tensors[it->second];
    if (ref.shape != shape)
      return file.error("tensor '" + gguf + "' has shape " +
                        formatShape(ref.shape) + ", expected " +
                        formatShape(shape));
    return Error::success();
  };

  int64_t dim = config.dim, kvDim = config.kvDim(), hidden = config.hiddenDim,
          vocab = config.vocabSize;
  if (Error err =
          expect("tok_embeddings", "token_embd.weight", {vocab, dim}, false))
    return err;
  for (int64_t l = 0; l < config.numLayers; ++l) {
    std::string c = "layers." + std::to_string(l) + ".";
    std::string g = "blk." + std::to_string(l) + ".";
    const struct {
      const char *canonical, *gguf;
      std::vector<int64_t> shape;
    } layerTensors[] = {
        {"attention_norm", "attn_norm.weight", {dim}},
        {"wq", "attn_q.weight", {dim, dim}},
        {"wk", "attn_k.weight", {kvDim, dim}},
        {"wv", "attn_v.weight", {kvDim, dim}},
        {"wo", "attn_output.weight", {dim, dim}},
        {"ffn_norm", "ffn_norm.weight", {dim}},
        {"w1", "ffn_gate.weight", {hidden, dim}},
        {"w2", "ffn_down.weight", {dim, hidden}},
        {"w3", "ffn_up.weight", {hidden, dim}},
    };
    for (const auto &t : layerTensors)
      if (Error err = expect(c + t.canonical, g + t.gguf, t.shape, false))
        return err;
  }
  if (Error err = expect("norm", "output_norm.weight", {dim}, false))
    return err;
  if (Error err = expect("output", "output.weight", {vocab, dim}, true))
    return err;
  config.tiedEmbeddings = !byCanonical.count("output");

  // rope_freqs.weight: llama.cpp divides frequency j by its entry j (how
  // convert_hf_to_gguf stores Llama 3.1's llama3 scaling).
  if (auto it = byCanonical.find("rope_freqs.weight");
      it != byCanonical.end()) {
    const TensorRef &ref = ckpt->tensors[it->second];
    int64_t half = config.headDim() / 2;
    if (ref.shape != std::vector<int64_t>{half})
      return file.error("tensor 'rope_freqs.weight' has shape " +
                        formatShape(ref.shape) + ", expected " +
                        formatShape({half}));
    Expected<std::vector<float>> factors = toF32(ref);
    if (!factors)
      return factors.takeError();
    for (float f : *factors)
      if (!(f > 0) || !std::isfinite(f))
        return file.error("tensor 'rope_freqs.weight' has an entry that is "
                          "not positive and finite");
    config.ropeScaling.freqFactors = std::move(*factors);
  }

  for (const auto &[key, value] : file.kvs)
    if (!key.starts_with("tokenizer."))
      if (std::optional<std::string> text = stringify(value))
        ckpt->metadata.emplace_back(key.str(), std::move(*text));
  ckpt->metadata.emplace_back("gguf.version", std::to_string(file.version));

  ckpt->buffers.push_back(std::move(file.buffer));
  return ckpt;
}

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

/// True if `piece` is a byte-fallback piece "<0xXX>".
static bool isBytePiece(StringRef piece) {
  return piece.size() == 6 && piece.starts_with("<0x") &&
         piece.ends_with(">") && llvm::isHexDigit(piece[3]) &&
         llvm::isHexDigit(piece[4]);
}

Expected<std::unique_ptr<Tokenizer>>
qopt::model::loadGGUFTokenizer(StringRef path) {
  auto fileOr = parseGGUF(path, /*withTensors=*/false);
  if (!fileOr)
    return fileOr.takeError();
  GGUFFile &file = **fileOr;

  auto model = file.getOptionalString("tokenizer.ggml.model");
  if (!model)
    return model.takeError();
  if (!*model)
    return file.error("missing metadata 'tokenizer.ggml.model'; the file has "
                      "no tokenizer");
  if (**model != "llama")
    return file.error("unsupported tokenizer model '" + **model +
                      "' (qopt reads SentencePiece 'llama' vocabularies)");

  const Value *tokens = file.lookup("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != uint32_t(GGUFValueType::Array) ||
      tokens->elemType != uint32_t(GGUFValueType::String))
    return file.error("metadata 'tokenizer.ggml.tokens' is missing or not an "
                      "array of strings");
  if (tokens->count == 0 ||
      tokens->count > uint64_t(std::numeric_limits<int32_t>::max()))
    return file.error("metadata 'tokenizer.ggml.tokens' has " +
                      Twine(tokens->count) + " entries");
  int64_t numTokens = int64_t(tokens->count);

  detail::ScoredVocabulary vocab;
  vocab.pieces.reserve(numTokens);
  for (auto [index, piece] : llvm::enumerate(tokens->strings)) {
    if (piece.size() > detail::kMaxPieceBytes)
      return file.error(llvm::formatv("metadata 'tokenizer.ggml.tokens' "
                                      "element {0} is {1} bytes long, more "
                                      "than the {2} a piece may have",
                                      index, piece.size(),
                                      detail::kMaxPieceBytes)
                            .str());
    std::string text;
    text.reserve(piece.size());
    for (size_t i = 0; i < piece.size(); ++i) {
      if (piece.substr(i).starts_with("\xE2\x96\x81")) { // U+2581
        text.push_back(' ');
        i += 2;
      } else {
        text.push_back(piece[i]);
      }
    }
    vocab.pieces.push_back(std::move(text));
  }

  vocab.scores.assign(numTokens, 0.0f);
  if (const Value *scores = file.lookup("tokenizer.ggml.scores")) {
    if (scores->type != uint32_t(GGUFValueType::Array) ||
        !scalarSize(scores->elemType) || int64_t(scores->count) != numTokens)
      return file.error("metadata 'tokenizer.ggml.scores' must be a numeric "
                        "array with one entry per token (" +
                        Twine(numTokens) + ")");
    for (int64_t i = 0; i < numTokens; ++i)
      vocab.scores[i] = float(arrayElement(*scores, i));
  }
  if (const Value *types = file.lookup("tokenizer.ggml.token_type")) {
    if (types->type != uint32_t(GGUFValueType::Array) ||
        int64_t(types->count) != numTokens)
      return file.error("metadata 'tokenizer.ggml.token_type' must be an "
                        "array with one entry per token (" +
                        Twine(numTokens) + ")");
  }

  auto getId = [&](StringRef key, int32_t defaultId, int32_t &out) -> Error {
    auto id = file.getOptionalInt(key, 0, numTokens - 1);
    if (!id)
      return id.takeError();
    out = int32_t(id->value_or(defaultId));
    if (out >= numTokens)
      return file.error("metadata '" + key + "' is missing and the default " +
                        Twine(defaultId) + " is not a token id");
    return Error::success();
  };
  if (Error err = getId("tokenizer.ggml.bos_token_id", 1, vocab.bos))
    return err;
  if (Error err = getId("tokenizer.ggml.eos_token_id", 2, vocab.eos))
    return err;
  if (Error err = getId("tokenizer.ggml.unknown_token_id", 0, vocab.unknown))
    return err;

  // Byte fallback: the first "<0xXX>" piece of each byte.
  vocab.byteTokens.fill(-1);
  for (int64_t i = 0; i < numTokens; ++i) {
    StringRef piece = vocab.pieces[i];
    if (!isBytePiece(piece))
      continue;
    unsigned byte =
        llvm::hexDigitValue(piece[3]) * 16 + llvm::hexDigitValue(piece[4]);
    if (vocab.byteTokens[byte] == -1)
      vocab.byteTokens[byte] = int32_t(i);
  }
  return detail::makeScoredBPETokenizer(std::move(vocab));
}

//===----------------------------------------------------------------------===//
// Chat template
//===----------------------------------------------------------------------===//

Expected<ChatTemplateSource> qopt::model::readGGUFChatTemplate(StringRef path) {
  auto fileOr = parseGGUF(path, /*withTensors=*/false);
  if (!fileOr)
    return fileOr.takeError();
  GGUFFile &file = **fileOr;
  ChatTemplateSource source;
  source.origin = path.str();
  auto jinja = file.getOptionalString("tokenizer.chat_template");
  if (!jinja)
    return jinja.takeError();
  if (*jinja)
    source.jinja = (*jinja)->str();
  // The text of BOS/EOS, when the vocabulary names them.
  const Value *tokens = file.lookup("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != uint32_t(GGUFValueType::Array) ||
      tokens->elemType != uint32_t(GGUFValueType::String))
    return source;
  int64_t numTokens = int64_t(tokens->strings.size());
  for (auto [key, out] : {std::pair<StringRef, std::string *>{
                              "tokenizer.ggml.bos_token_id", &source.bosToken},
                          {"tokenizer.ggml.eos_token_id", &source.eosToken}}) {
    auto id = file.getOptionalInt(key, 0, std::max<int64_t>(numTokens - 1, 0));
    if (!id)
      return id.takeError();
    if (*id && **id < numTokens)
      *out = tokens->strings[**id].str();
  }
  return source;
}
