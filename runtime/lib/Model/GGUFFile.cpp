//===- GGUFFile.cpp - The GGUF container parser -----------------*- C++ -*-===//
//
// parseGGUF: the GGUF v2/v3 container. The file is memory-mapped and parsed
// with a bounds-checked cursor: every count, length, offset and size is
// checked against the file before it is used, so a malformed or truncated
// file is an llvm::Error naming the file (and the key or tensor), never a
// crash. The header (magic "GGUF", version, tensor and KV counts), the
// key/value metadata and the tensor infos (ggml dims, fastest-varying first)
// are read, then each tensor is placed in the data section, which starts at
// the next multiple of general.alignment. Tensor data ranges must not
// overlap; keys and tensor names must be valid UTF-8 and unique.
//
//===----------------------------------------------------------------------===//

#include "GGUFFile.h"

#include "qopt/Model/Input.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <tuple>
#include <type_traits>

using namespace qopt::model;
using namespace qopt::model::gguf;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;
using llvm::Twine;

//===----------------------------------------------------------------------===//
// Value types
//===----------------------------------------------------------------------===//

/// Size in bytes of a scalar GGUF value type, or 0 for string/array/unknown.
size_t gguf::scalarSize(uint32_t type) {
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
StringRef gguf::valueTypeName(uint32_t type) {
  static const char *const names[] = {
      "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
      "bool",  "string", "array",  "uint64", "int64",  "float64"};
  return type < std::size(names) ? names[type] : "unknown";
}

namespace {

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

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

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
  std::optional<DType> dtype = dtypeOfGGMLType(ggmlType);
  if (!dtype)
    return file.error(what + " has unsupported ggml type " +
                      ggmlTypeName(ggmlType) +
                      " (qopt reads f32, f16, bf16, q8_0, q4_0, q2_K, q3_K, "
                      "q4_K, q5_K and q6_K)");
  info.dtype = *dtype;
  BlockGeometry geometry = blockGeometry(*dtype);
  if (dims[0] % uint64_t(geometry.elements) != 0)
    return file.error(what + " of type " + ggmlTypeName(ggmlType) +
                      " has a row length of " + Twine(dims[0]) +
                      ", not a multiple of the block size " +
                      Twine(geometry.elements));
  uint64_t numBytes =
      numElements / uint64_t(geometry.elements) * uint64_t(geometry.bytes);
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

/// Reads the header (magic, version, tensor and KV counts), checking the
/// counts against the bytes that remain.
Error readHeader(GGUFFile &file, Cursor &cursor, uint64_t &tensorCount,
                 uint64_t &kvCount) {
  uint32_t magic = 0;
  if (Error err = cursor.read(magic, "magic"))
    return err;
  if (magic != 0x46554747u)
    return file.error("not a GGUF file (bad magic)");
  if (Error err = cursor.read(file.version, "version"))
    return err;
  if (file.version != 2 && file.version != 3)
    return file.error("unsupported GGUF version " + Twine(file.version) +
                      " (qopt reads versions 2 and 3)");
  if (Error err = cursor.read(tensorCount, "tensor count"))
    return err;
  if (Error err = cursor.read(kvCount, "metadata count"))
    return err;
  // A KV takes at least 13 bytes (key length, type, one value byte), a
  // tensor info at least 32 (name length, n_dims, one dim, type, offset).
  if (kvCount > cursor.remaining() / 13)
    return file.error("truncated or corrupt file: the header declares " +
                      Twine(kvCount) + " metadata entries, more than the " +
                      Twine(cursor.remaining()) + " remaining bytes hold");
  if (tensorCount > cursor.remaining() / 32)
    return file.error("truncated or corrupt file: the header declares " +
                      Twine(tensorCount) + " tensors, more than the " +
                      Twine(cursor.remaining()) + " remaining bytes hold");
  return Error::success();
}

/// Reads the `kvCount` metadata entries and general.alignment.
Error readMetadata(GGUFFile &file, Cursor &cursor, uint64_t kvCount) {
  file.kvs.reserve(kvCount);
  for (uint64_t i = 0; i < kvCount; ++i) {
    StringRef key;
    if (Error err = cursor.readString(key, "metadata key " + Twine(i)))
      return err;
    if (!llvm::json::isUTF8(key))
      return file.error("metadata key " + Twine(i) +
                        " is not valid UTF-8 (GGUF strings are UTF-8)");
    uint32_t type = 0;
    if (Error err = cursor.read(type, "metadata '" + key + "' type"))
      return err;
    Value value;
    if (Error err = readValue(file, cursor, type, value, key))
      return err;
    if (file.kvIndex.count(key))
      return file.error("duplicate metadata key '" + key + "'");
    file.kvIndex[key] = file.kvs.size();
    file.kvs.emplace_back(key, std::move(value));
  }

  if (const Value *alignment = file.lookup("general.alignment")) {
    if (alignment->type != uint32_t(GGUFValueType::UInt32) ||
        alignment->u == 0 || (alignment->u & (alignment->u - 1)) != 0)
      return file.error("general.alignment must be a uint32 power of two");
    file.alignment = alignment->u;
  }
  return Error::success();
}

/// Reads the `tensorCount` tensor infos and places each tensor in the data
/// section that follows them.
Error readTensors(GGUFFile &file, Cursor &cursor, uint64_t tensorCount) {
  std::vector<uint64_t> offsets(tensorCount);
  std::vector<uint32_t> types(tensorCount);
  for (uint64_t i = 0; i < tensorCount; ++i)
    if (Error err = readTensorInfo(file, cursor, i, offsets[i], types[i]))
      return err;

  uint64_t fileSize = file.buffer->getBufferSize();
  uint64_t dataStart =
      (cursor.offset() + file.alignment - 1) / file.alignment * file.alignment;
  if (tensorCount > 0 && dataStart > fileSize)
    return file.error(llvm::formatv("truncated file: the data section would "
                                    "start at offset {0}, past the end of "
                                    "the file ({1} bytes)",
                                    dataStart, fileSize)
                          .str());
  uint64_t dataSize = tensorCount > 0 ? fileSize - dataStart : 0;
  const uint8_t *data =
      reinterpret_cast<const uint8_t *>(file.buffer->getBufferStart()) +
      dataStart;
  for (uint64_t i = 0; i < tensorCount; ++i) {
    TensorInfo &info = file.tensors[i];
    if (offsets[i] % file.alignment != 0)
      return file.error(llvm::formatv("tensor '{0}' has offset {1}, not a "
                                      "multiple of the alignment {2}",
                                      info.name, offsets[i], file.alignment)
                            .str());
    if (offsets[i] > dataSize || info.numBytes > dataSize - offsets[i])
      return file.error(llvm::formatv("tensor '{0}' ({1} bytes at data "
                                      "offset {2}) runs past the end of the "
                                      "file (data section: {3} bytes); the "
                                      "file is truncated or corrupt",
                                      info.name, info.numBytes, offsets[i],
                                      dataSize)
                            .str());
    info.data = data + offsets[i];
  }
  return checkDisjoint(file, data);
}

} // namespace

Expected<std::unique_ptr<GGUFFile>> gguf::parseGGUF(StringRef path,
                                                    bool withTensors) {
  auto file = std::make_unique<GGUFFile>();
  file->path = path.str();
  Expected<std::unique_ptr<llvm::MemoryBuffer>> bufferOr =
      openRegularFile(path, "");
  if (!bufferOr)
    return bufferOr.takeError();
  file->buffer = std::move(*bufferOr);
  Cursor cursor(*file);
  uint64_t tensorCount = 0, kvCount = 0;
  if (Error err = readHeader(*file, cursor, tensorCount, kvCount))
    return err;
  if (Error err = readMetadata(*file, cursor, kvCount))
    return err;
  if (!withTensors)
    return file;
  if (Error err = readTensors(*file, cursor, tensorCount))
    return err;
  return file;
}
