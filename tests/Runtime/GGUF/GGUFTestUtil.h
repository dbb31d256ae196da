//===- GGUFTestUtil.h - Helpers for the GGUF tests --------------*- C++ -*-===//
//
// A temporary directory, error-to-string, test-side dequantization of GGUF
// tensor data (independent of Checkpoint.cpp's toF32) and a builder for a
// tiny synthetic Llama GGUF whose parts each test can omit or corrupt.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TESTS_RUNTIME_GGUF_GGUFTESTUTIL_H
#define QOPT_TESTS_RUNTIME_GGUF_GGUFTESTUTIL_H

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/GGUFWriter.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace qopt {
namespace model {
namespace testing {

/// A unique temporary directory, removed with its contents on destruction.
class TempDir {
public:
  TempDir() {
    std::error_code ec =
        llvm::sys::fs::createUniqueDirectory("qopt-gguf-test", dir);
    EXPECT_FALSE(ec) << ec.message();
  }
  ~TempDir() { llvm::sys::fs::remove_directories(dir); }
  /// The path of `name` inside the directory.
  std::string path(llvm::StringRef name) const {
    llvm::SmallString<256> result(dir);
    llvm::sys::path::append(result, name);
    return std::string(result);
  }

private:
  llvm::SmallString<256> dir;
};

/// The message of `err` (consumed); "" on success.
inline std::string errorText(llvm::Error err) {
  std::string text;
  llvm::handleAllErrors(std::move(err), [&](const llvm::ErrorInfoBase &info) {
    text += info.message();
  });
  return text;
}

/// loadGGUF's error for `path`, or "" if it loads.
inline std::string loadError(const std::string &path) {
  auto ckpt = loadGGUF(path);
  if (ckpt)
    return "";
  return errorText(ckpt.takeError());
}

/// Writes `bytes` to `path`.
inline void writeBytes(const std::string &path,
                       const std::vector<uint8_t> &bytes) {
  std::ofstream os(path, std::ios::binary);
  os.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

/// Reads the whole file `path`.
inline std::vector<uint8_t> readBytes(const std::string &path) {
  std::ifstream is(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(is), {});
}

/// Little-endian load/store of a T at `offset` of `bytes`.
template <typename T> T loadAt(const std::vector<uint8_t> &bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}
template <typename T>
void storeAt(std::vector<uint8_t> &bytes, size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

/// Offset of the first occurrence of `needle` in `bytes` (npos if none).
inline size_t findBytes(const std::vector<uint8_t> &bytes,
                        llvm::StringRef needle) {
  auto it = std::search(bytes.begin(), bytes.end(), needle.bytes_begin(),
                        needle.bytes_end());
  return it == bytes.end() ? std::string::npos : size_t(it - bytes.begin());
}

/// Offset of the u64 data offset field in tensor info `name` of a GGUF.
inline size_t tensorOffsetField(const std::vector<uint8_t> &bytes,
                                llvm::StringRef name) {
  size_t at = findBytes(bytes, name);
  EXPECT_NE(at, std::string::npos) << name.str();
  at += name.size();
  uint32_t numDims = loadAt<uint32_t>(bytes, at);
  return at + 4 + 8 * numDims + 4;
}

/// Dequantizes `numElements` values of `dtype` at `data` (test-side
/// reference, written from the GGUF block layouts).
inline std::vector<float> dequantize(DType dtype, const uint8_t *data,
                                     int64_t numElements) {
  std::vector<float> out(numElements);
  for (int64_t i = 0; i < numElements; ++i) {
    switch (dtype) {
    case DType::F32:
      std::memcpy(&out[i], data + 4 * i, 4);
      break;
    case DType::F16:
      out[i] = halfToFloat(uint16_t(data[2 * i] | data[2 * i + 1] << 8));
      break;
    case DType::BF16:
      out[i] = bf16ToFloat(uint16_t(data[2 * i] | data[2 * i + 1] << 8));
      break;
    case DType::Q8_0: {
      const uint8_t *block = data + (i / 32) * 34;
      float d = halfToFloat(uint16_t(block[0] | block[1] << 8));
      out[i] = d * float(int8_t(block[2 + i % 32]));
      break;
    }
    case DType::Q4_0: {
      const uint8_t *block = data + (i / 32) * 18;
      float d = halfToFloat(uint16_t(block[0] | block[1] << 8));
      int64_t j = i % 32;
      int nibble = j < 16 ? (block[2 + j] & 0xF) : (block[2 + j - 16] >> 4);
      out[i] = d * float(nibble - 8);
      break;
    }
    default:
      // K-quants are checked against ggml's own output (KQuantTest.cpp).
      ADD_FAILURE() << "no test-side dequantizer for "
                    << dtypeName(dtype).str();
      return out;
    }
  }
  return out;
}

/// Deterministic pseudo-random values in [-scale, scale].
inline std::vector<float> randomValues(size_t count, unsigned seed,
                                       float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> values(count);
  for (float &value : values)
    value = dist(rng);
  return values;
}

/// A tiny Llama in GGUF form. Rows are multiples of 32 so every weight can
/// be stored as Q8_0 or Q4_0.
struct TinyLlama {
  int64_t dim = 64, hiddenDim = 96, numLayers = 2, numHeads = 4, numKVHeads = 2,
          vocabSize = 40, contextLength = 128;
  float eps = 1e-6f, ropeTheta = 500000.0f;
  /// Storage type of the 2-D weights (norms are always f32).
  GGMLType weightType = GGMLType::F32;
  bool tied = false;
  std::string architecture = "llama";
  /// GGUF tensor names to leave out.
  std::vector<std::string> skip;
  /// GGUF tensor name -> shape replacing the correct one.
  std::map<std::string, std::vector<int64_t>> shapeOverride;
  /// GGUF tensor name -> raw ggml type (with garbage data of the f32 size).
  std::map<std::string, uint32_t> typeOverride;
  /// GGUF tensor name -> f32 values written, in PyTorch order.
  std::map<std::string, std::vector<float>> values;
  /// GGUF tensor name -> PyTorch shape, in the order written.
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;

  int64_t kvDim() const { return dim / numHeads * numKVHeads; }

  /// Adds the metadata and tensors to `writer`.
  void build(GGUFWriter &writer) {
    writer.addString("general.architecture", architecture);
    writer.addString("general.name", "tiny");
    writer.addUInt32(architecture + ".embedding_length", uint32_t(dim));
    writer.addUInt32(architecture + ".feed_forward_length",
                     uint32_t(hiddenDim));
    writer.addUInt32(architecture + ".block_count", uint32_t(numLayers));
    writer.addUInt32(architecture + ".attention.head_count",
                     uint32_t(numHeads));
    writer.addUInt32(architecture + ".attention.head_count_kv",
                     uint32_t(numKVHeads));
    writer.addUInt32(architecture + ".context_length", uint32_t(contextLength));
    writer.addFloat32(architecture + ".attention.layer_norm_rms_epsilon", eps);
    writer.addFloat32(architecture + ".rope.freq_base", ropeTheta);
    writer.addUInt32(architecture + ".rope.dimension_count",
                     uint32_t(dim / numHeads));

    unsigned seed = 1;
    auto add = [&](const std::string &name, std::vector<int64_t> shape,
                   bool isNorm) {
      seed++;
      for (const std::string &skipped : skip)
        if (skipped == name)
          return;
      auto shapeIt = shapeOverride.find(name);
      if (shapeIt != shapeOverride.end())
        shape = shapeIt->second;
      int64_t count = 1;
      for (int64_t d : shape)
        count *= d;
      std::vector<float> data = randomValues(size_t(count), seed);
      auto typeIt = typeOverride.find(name);
      if (typeIt != typeOverride.end()) {
        std::vector<uint8_t> raw(size_t(count) * 4, 0x55);
        writer.addTensor(name, GGMLType(typeIt->second), shape, raw);
      } else {
        writer.addTensorF32(name, shape, data,
                            isNorm ? GGMLType::F32 : weightType);
      }
      values[name] = data;
      shapes.emplace_back(name, shape);
    };
    add("token_embd.weight", {vocabSize, dim}, false);
    for (int64_t l = 0; l < numLayers; ++l) {
      std::string p = "blk." + std::to_string(l) + ".";
      add(p + "attn_norm.weight", {dim}, true);
      add(p + "attn_q.weight", {dim, dim}, false);
      add(p + "attn_k.weight", {kvDim(), dim}, false);
      add(p + "attn_v.weight", {kvDim(), dim}, false);
      add(p + "attn_output.weight", {dim, dim}, false);
      add(p + "ffn_norm.weight", {dim}, true);
      add(p + "ffn_gate.weight", {hiddenDim, dim}, false);
      add(p + "ffn_down.weight", {dim, hiddenDim}, false);
      add(p + "ffn_up.weight", {hiddenDim, dim}, false);
    }
    add("output_norm.weight", {dim}, true);
    if (!tied)
      add("output.weight", {vocabSize, dim}, false);
  }

  /// Writes the model to `path` and returns the file's bytes.
  std::vector<uint8_t> write(const std::string &path) {
    GGUFWriter writer;
    build(writer);
    std::vector<uint8_t> bytes = writer.serialize();
    writeBytes(path, bytes);
    return bytes;
  }
};

} // namespace testing
} // namespace model
} // namespace qopt

#endif // QOPT_TESTS_RUNTIME_GGUF_GGUFTESTUTIL_H
