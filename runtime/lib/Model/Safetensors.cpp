//===- Safetensors.cpp - safetensors files and their index ------*- C++ -*-===//
//
// readSafetensorsWeights: model.safetensors, or
// model.safetensors.index.json and the shards its weight_map names, mapped
// into memory. Safetensors headers are validated in full: offsets inside
// the file, byte sizes matching shape and dtype, no two tensors sharing a
// byte.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Input.h"

#include "HFCheckpoint.h"
#include "ModelUtils.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <tuple>

using namespace qopt::model;
using namespace qopt::model::detail;

/// Prints a shape as "[a, b]".
std::string detail::shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// A JSON number that must be a non-negative integer (64.0 is accepted).
std::optional<int64_t> detail::getNonNegInt(const llvm::json::Value &v) {
  if (std::optional<int64_t> i = v.getAsInteger())
    return *i >= 0 ? i : std::nullopt;
  if (std::optional<double> d = v.getAsNumber())
    if (*d >= 0 && *d < 9.0e18 &&
        *d == static_cast<double>(static_cast<int64_t>(*d)))
      return static_cast<int64_t>(*d);
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// safetensors
//===----------------------------------------------------------------------===//

/// Checks that no two tensors of `file` share a byte of its data section
/// (which starts at `data`): each tensor must own its bytes.
static llvm::Error checkDisjoint(const SafetensorsFile &file,
                                 const uint8_t *data) {
  std::vector<const TensorRef *> byOffset;
  for (const auto &kv : file.tensors)
    if (kv.second.numBytes > 0)
      byOffset.push_back(&kv.second);
  // By offset, then name: the error names the same pair every time.
  llvm::sort(byOffset, [](const TensorRef *a, const TensorRef *b) {
    return std::tie(a->data, a->name) < std::tie(b->data, b->name);
  });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const TensorRef &prev = *byOffset[i - 1], &next = *byOffset[i];
    if (next.data >= prev.data + prev.numBytes)
      continue;
    auto range = [&](const TensorRef &t) {
      return ("[" + llvm::Twine(t.data - data) + ", " +
              llvm::Twine(t.data - data + t.numBytes) + "]")
          .str();
    };
    return makeError("safetensors file '" + file.path + "': tensors '" +
                     prev.name + "' (data_offsets " + range(prev) + ") and '" +
                     next.name + "' (data_offsets " + range(next) +
                     ") overlap; every tensor must have bytes of its own");
  }
  return llvm::Error::success();
}

/// Parses the header entry `name` of safetensors file `path` into `t`,
/// checking it against the data section (`dataSize` bytes at `data`).
static llvm::Error readTensorEntry(llvm::StringRef path,
                                   const std::string &name,
                                   const llvm::json::Value &entry,
                                   const uint8_t *data, uint64_t dataSize,
                                   TensorRef &t) {
  auto bad = [&](const llvm::Twine &what) {
    return makeError("safetensors file '" + path + "', tensor '" + name +
                     "': " + what);
  };
  const llvm::json::Object *info = entry.getAsObject();
  if (!info)
    return bad("entry is not a JSON object");
  std::optional<llvm::StringRef> dtype = info->getString("dtype");
  const llvm::json::Array *shape = info->getArray("shape");
  const llvm::json::Array *offsets = info->getArray("data_offsets");
  if (!dtype || !shape || !offsets)
    return bad("entry needs \"dtype\", \"shape\" and \"data_offsets\"");

  uint64_t eltSize;
  if (*dtype == "F32") {
    t.dtype = DType::F32;
    eltSize = 4;
  } else if (*dtype == "F16") {
    t.dtype = DType::F16;
    eltSize = 2;
  } else if (*dtype == "BF16") {
    t.dtype = DType::BF16;
    eltSize = 2;
  } else {
    return bad("unsupported dtype '" + *dtype +
               "' (supported: F32, F16, BF16)");
  }
  uint64_t numBytes = eltSize;
  for (const llvm::json::Value &d : *shape) {
    std::optional<int64_t> dim = getNonNegInt(d);
    if (!dim)
      return bad("shape must be a list of non-negative integers");
    t.shape.push_back(*dim);
    if (!checkedMul(numBytes, static_cast<uint64_t>(*dim), numBytes))
      return bad("shape " + shapeString(t.shape) + " overflows");
  }
  if (offsets->size() != 2)
    return bad("data_offsets must be [begin, end]");
  std::optional<int64_t> begin = getNonNegInt((*offsets)[0]);
  std::optional<int64_t> end = getNonNegInt((*offsets)[1]);
  if (!begin || !end || *begin > *end)
    return bad("data_offsets must be integers with begin <= end");
  if (static_cast<uint64_t>(*end) > dataSize)
    return bad("data_offsets [" + llvm::Twine(*begin) + ", " +
               llvm::Twine(*end) + "] exceed the " + llvm::Twine(dataSize) +
               "-byte data section (truncated file?)");
  if (static_cast<uint64_t>(*end - *begin) != numBytes)
    return bad("data_offsets span " + llvm::Twine(*end - *begin) +
               " bytes but " + *dtype + " shape " + shapeString(t.shape) +
               " needs " + llvm::Twine(numBytes));
  t.name = name;
  t.sourceName = name;
  t.file = path.str();
  t.data = data + *begin;
  t.numBytes = numBytes;
  return llvm::Error::success();
}

/// Maps and validates the safetensors file at `path`.
static llvm::Error readSafetensors(llvm::StringRef path, SafetensorsFile &out) {
  out.path = path.str();
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> bufOrErr =
      openRegularFile(path, "safetensors file");
  if (!bufOrErr)
    return bufOrErr.takeError();
  out.buffer = std::move(*bufOrErr);
  const uint8_t *base =
      reinterpret_cast<const uint8_t *>(out.buffer->getBufferStart());
  uint64_t fileSize = out.buffer->getBufferSize();
  if (fileSize < 8)
    return makeError("safetensors file '" + path + "' is " +
                     llvm::Twine(fileSize) +
                     " bytes, too small for the 8-byte header length");
  uint64_t headerLen = loadU64(base);
  if (headerLen > fileSize - 8)
    return makeError("safetensors file '" + path + "': header length " +
                     llvm::Twine(headerLen) + " exceeds the " +
                     llvm::Twine(fileSize - 8) +
                     " bytes that follow it (truncated file?)");
  if (headerLen > kMaxJSONBytes)
    return makeError("safetensors file '" + path + "': header length " +
                     llvm::Twine(headerLen) +
                     " exceeds the format's limit of " +
                     llvm::Twine(kMaxJSONBytes) + " bytes");
  llvm::StringRef headerText(reinterpret_cast<const char *>(base + 8),
                             headerLen);
  // Duplicate keys are refused here: a tensor named twice would otherwise
  // silently be the last entry.
  llvm::Expected<llvm::json::Value> header =
      parseJSON(headerText, "safetensors file '" + path + "': header");
  if (!header)
    return header.takeError();
  const llvm::json::Object *obj = header->getAsObject();
  if (!obj)
    return makeError("safetensors file '" + path +
                     "': header is not a JSON object");

  const uint8_t *data = base + 8 + headerLen;
  uint64_t dataSize = fileSize - 8 - headerLen;
  for (const auto &kv : *obj) {
    std::string name = kv.first.str();
    if (name == "__metadata__") {
      if (const llvm::json::Object *meta = kv.second.getAsObject())
        for (const auto &m : *meta)
          if (std::optional<llvm::StringRef> s = m.second.getAsString())
            out.metadata.push_back({m.first.str(), s->str()});
      continue;
    }
    TensorRef t;
    if (llvm::Error e =
            readTensorEntry(path, name, kv.second, data, dataSize, t))
      return e;
    out.tensors[name] = std::move(t);
  }
  return checkDisjoint(out, data);
}

//===----------------------------------------------------------------------===//
// Checkpoint directories
//===----------------------------------------------------------------------===//

/// `directory`/`name`.
static std::string joinPath(llvm::StringRef directory, llvm::StringRef name) {
  llvm::SmallString<256> p(directory);
  llvm::sys::path::append(p, name);
  return std::string(p);
}

/// Reads the model.safetensors.index.json at `indexPath` and the shards of
/// `directory` that its weight_map names.
static llvm::Error readShards(llvm::StringRef directory,
                              const std::string &indexPath,
                              SafetensorsWeights &out) {
  std::vector<SafetensorsFile> &files = out.files;
  std::map<std::string, const TensorRef *> &where = out.where;
  llvm::Expected<llvm::json::Value> index = readJSONFile(indexPath);
  if (!index)
    return index.takeError();
  const llvm::json::Object *obj = index->getAsObject();
  const llvm::json::Object *map = obj ? obj->getObject("weight_map") : nullptr;
  if (!map)
    return makeError("'" + indexPath +
                     "' has no \"weight_map\" object (tensor -> shard)");
  std::map<std::string, std::string> tensorToShard;
  std::map<std::string, size_t> shardIndex;
  for (const auto &kv : *map) {
    std::optional<llvm::StringRef> shard = kv.second.getAsString();
    if (!shard || shard->empty() || llvm::sys::path::is_absolute(*shard) ||
        shard->contains(".."))
      return makeError("'" + indexPath + "': weight_map entry for '" +
                       kv.first.str() + "' is not a shard file name");
    tensorToShard[kv.first.str()] = shard->str();
    shardIndex.emplace(shard->str(), 0);
  }
  files.resize(shardIndex.size());
  size_t i = 0;
  for (auto &kv : shardIndex) {
    kv.second = i;
    std::string shardPath = joinPath(directory, kv.first);
    if (!llvm::sys::fs::exists(shardPath))
      return makeError("'" + indexPath + "' names shard '" + kv.first +
                       "', which does not exist in '" + directory + "'");
    if (llvm::Error e = readSafetensors(shardPath, files[i]))
      return e;
    ++i;
  }
  for (const auto &kv : tensorToShard) {
    SafetensorsFile &f = files[shardIndex[kv.second]];
    auto it = f.tensors.find(kv.first);
    if (it == f.tensors.end())
      return makeError("'" + indexPath + "' places tensor '" + kv.first +
                       "' in '" + f.path + "', which does not contain it");
    where[kv.first] = &it->second;
  }
  return llvm::Error::success();
}

llvm::Error detail::readSafetensorsWeights(llvm::StringRef directory,
                                           SafetensorsWeights &out) {
  // Locate every tensor: one file, or an index and its shards.
  std::string single = joinPath(directory, "model.safetensors");
  std::string indexPath = joinPath(directory, "model.safetensors.index.json");
  if (llvm::sys::fs::exists(single)) {
    out.weightsDesc = single;
    out.files.resize(1);
    if (llvm::Error e = readSafetensors(single, out.files[0]))
      return e;
    for (auto &kv : out.files[0].tensors)
      out.where[kv.first] = &kv.second;
    return llvm::Error::success();
  }
  if (llvm::sys::fs::exists(indexPath)) {
    out.weightsDesc = indexPath;
    return readShards(directory, indexPath, out);
  }
  return makeError("Hugging Face checkpoint '" + directory +
                   "' has neither model.safetensors nor "
                   "model.safetensors.index.json");
}
