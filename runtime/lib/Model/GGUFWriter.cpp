//===- GGUFWriter.cpp - Writing GGUF v3 files -------------------*- C++ -*-===//
//
// Serializes metadata and tensors into the GGUF v3 layout: header, key/value
// pairs, tensor infos (ggml dims, fastest-varying first), zero padding to the
// alignment, then each tensor's bytes at an aligned offset relative to the
// start of the data section. Also the f16/bf16 conversions and ggml's
// reference Q8_0 / Q4_0 quantizers.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/GGUFWriter.h"

#include "KQuants.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

using namespace qopt::model;

//===----------------------------------------------------------------------===//
// Scalar conversions
//===----------------------------------------------------------------------===//

static uint32_t floatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

static float bitsFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

uint16_t qopt::model::floatToHalf(float value) {
  // The branch-free conversion of ggml / FP16 (Maratos Dukhan): scaling into
  // the f16 range lets the FPU do the round-to-nearest-even.
  const float scaleToInf = 0x1.0p+112f;
  const float scaleToZero = 0x1.0p-110f;
  float base = (std::fabs(value) * scaleToInf) * scaleToZero;
  const uint32_t w = floatBits(value);
  const uint32_t shl1W = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1W & 0xFF000000u;
  if (bias < 0x71000000u)
    bias = 0x71000000u;
  base = bitsFloat((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = floatBits(base);
  const uint32_t expBits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissaBits = bits & 0x00000FFFu;
  const uint32_t nonsign = expBits + mantissaBits;
  return static_cast<uint16_t>((sign >> 16) |
                               (shl1W > 0xFF000000u ? 0x7E00u : nonsign));
}

float qopt::model::halfToFloat(uint16_t bits) {
  const uint32_t w = static_cast<uint32_t>(bits) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t twoW = w + w;
  const uint32_t expOffset = 0xE0u << 23;
  const float expScale = 0x1.0p-112f;
  const float normalized = bitsFloat((twoW >> 4) + expOffset) * expScale;
  const uint32_t magicMask = 126u << 23;
  const float magicBias = 0.5f;
  const float denormalized = bitsFloat((twoW >> 17) | magicMask) - magicBias;
  const uint32_t denormalizedCutoff = 1u << 27;
  const uint32_t result =
      sign | (twoW < denormalizedCutoff ? floatBits(denormalized)
                                        : floatBits(normalized));
  return bitsFloat(result);
}

uint16_t qopt::model::floatToBF16(float value) {
  uint32_t bits = floatBits(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) // NaN: keep it quiet
    return static_cast<uint16_t>((bits >> 16) | 64);
  return static_cast<uint16_t>((bits + (0x7FFFu + ((bits >> 16) & 1))) >> 16);
}

float qopt::model::bf16ToFloat(uint16_t bits) {
  return bitsFloat(static_cast<uint32_t>(bits) << 16);
}

//===----------------------------------------------------------------------===//
// Reference quantizers
//===----------------------------------------------------------------------===//

static void putHalf(uint8_t *out, float value) {
  uint16_t half = floatToHalf(value);
  out[0] = static_cast<uint8_t>(half & 0xFF);
  out[1] = static_cast<uint8_t>(half >> 8);
}

std::vector<uint8_t> qopt::model::quantizeQ8_0(llvm::ArrayRef<float> values) {
  assert(values.size() % kGGMLBlockSize == 0 && "partial Q8_0 block");
  size_t numBlocks = values.size() / kGGMLBlockSize;
  std::vector<uint8_t> out(numBlocks * kQ8_0BlockBytes);
  for (size_t b = 0; b < numBlocks; ++b) {
    const float *x = values.data() + b * kGGMLBlockSize;
    uint8_t *block = out.data() + b * kQ8_0BlockBytes;
    float amax = 0.0f;
    for (int64_t j = 0; j < kGGMLBlockSize; ++j)
      amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    putHalf(block, d);
    for (int64_t j = 0; j < kGGMLBlockSize; ++j) {
      int8_t q = static_cast<int8_t>(std::roundf(x[j] * id));
      block[2 + j] = static_cast<uint8_t>(q);
    }
  }
  return out;
}

std::vector<uint8_t> qopt::model::quantizeQ4_0(llvm::ArrayRef<float> values) {
  assert(values.size() % kGGMLBlockSize == 0 && "partial Q4_0 block");
  size_t numBlocks = values.size() / kGGMLBlockSize;
  std::vector<uint8_t> out(numBlocks * kQ4_0BlockBytes);
  const int64_t half = kGGMLBlockSize / 2;
  for (size_t b = 0; b < numBlocks; ++b) {
    const float *x = values.data() + b * kGGMLBlockSize;
    uint8_t *block = out.data() + b * kQ4_0BlockBytes;
    float amax = 0.0f; // absolute max
    float max = 0.0f;  // the value with that magnitude, sign kept
    for (int64_t j = 0; j < kGGMLBlockSize; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    putHalf(block, d);
    for (int64_t j = 0; j < half; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[half + j] * id;
      const uint8_t xi0 = static_cast<uint8_t>(
          std::min<int8_t>(15, static_cast<int8_t>(x0 + 8.5f)));
      const uint8_t xi1 = static_cast<uint8_t>(
          std::min<int8_t>(15, static_cast<int8_t>(x1 + 8.5f)));
      block[2 + j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
  return out;
}

//===----------------------------------------------------------------------===//
// GGUFWriter
//===----------------------------------------------------------------------===//

template <typename T>
static void putScalar(std::vector<uint8_t> &out, T value) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T)); // GGUF is little-endian, as are we
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

static void putString(std::vector<uint8_t> &out, llvm::StringRef value) {
  putScalar<uint64_t>(out, value.size());
  out.insert(out.end(), value.bytes_begin(), value.bytes_end());
}

/// Appends the key and value type of a new KV to `out`.
static void putKey(std::vector<uint8_t> &out, llvm::StringRef key,
                   GGUFValueType type) {
  putString(out, key);
  putScalar<uint32_t>(out, static_cast<uint32_t>(type));
}

void GGUFWriter::setAlignment(uint32_t newAlignment) {
  assert(newAlignment && (newAlignment & (newAlignment - 1)) == 0 &&
         "alignment must be a power of two");
  alignment = newAlignment;
  addUInt32("general.alignment", newAlignment);
}

template <typename T>
void GGUFWriter::addScalar(llvm::StringRef key, GGUFValueType type, T value) {
  putKey(kvBytes, key, type);
  putScalar<T>(kvBytes, value);
  ++numKVs;
}

void GGUFWriter::addUInt8(llvm::StringRef key, uint8_t value) {
  addScalar(key, GGUFValueType::UInt8, value);
}

void GGUFWriter::addUInt32(llvm::StringRef key, uint32_t value) {
  addScalar(key, GGUFValueType::UInt32, value);
}

void GGUFWriter::addInt32(llvm::StringRef key, int32_t value) {
  addScalar(key, GGUFValueType::Int32, value);
}

void GGUFWriter::addUInt64(llvm::StringRef key, uint64_t value) {
  addScalar(key, GGUFValueType::UInt64, value);
}

void GGUFWriter::addFloat32(llvm::StringRef key, float value) {
  addScalar(key, GGUFValueType::Float32, value);
}

void GGUFWriter::addBool(llvm::StringRef key, bool value) {
  addScalar<uint8_t>(key, GGUFValueType::Bool, value ? 1 : 0);
}

void GGUFWriter::addString(llvm::StringRef key, llvm::StringRef value) {
  putKey(kvBytes, key, GGUFValueType::String);
  putString(kvBytes, value);
  ++numKVs;
}

void GGUFWriter::addStringArray(llvm::StringRef key,
                                llvm::ArrayRef<std::string> values) {
  putKey(kvBytes, key, GGUFValueType::Array);
  putScalar<uint32_t>(kvBytes, static_cast<uint32_t>(GGUFValueType::String));
  putScalar<uint64_t>(kvBytes, values.size());
  for (const std::string &value : values)
    putString(kvBytes, value);
  ++numKVs;
}

void GGUFWriter::addFloat32Array(llvm::StringRef key,
                                 llvm::ArrayRef<float> values) {
  putKey(kvBytes, key, GGUFValueType::Array);
  putScalar<uint32_t>(kvBytes, static_cast<uint32_t>(GGUFValueType::Float32));
  putScalar<uint64_t>(kvBytes, values.size());
  for (float value : values)
    putScalar(kvBytes, value);
  ++numKVs;
}

void GGUFWriter::addInt32Array(llvm::StringRef key,
                               llvm::ArrayRef<int32_t> values) {
  putKey(kvBytes, key, GGUFValueType::Array);
  putScalar<uint32_t>(kvBytes, static_cast<uint32_t>(GGUFValueType::Int32));
  putScalar<uint64_t>(kvBytes, values.size());
  for (int32_t value : values)
    putScalar(kvBytes, value);
  ++numKVs;
}

void GGUFWriter::addRaw(llvm::StringRef key, uint32_t type,
                        llvm::ArrayRef<uint8_t> payload) {
  putString(kvBytes, key);
  putScalar<uint32_t>(kvBytes, type);
  kvBytes.insert(kvBytes.end(), payload.begin(), payload.end());
  ++numKVs;
}

void GGUFWriter::addTensor(llvm::StringRef name, GGMLType type,
                           llvm::ArrayRef<int64_t> shape,
                           llvm::ArrayRef<uint8_t> data) {
  tensors.push_back({name.str(), type, shape.vec(), data.vec()});
}

std::vector<uint8_t> qopt::model::encodeValues(GGMLType type,
                                               llvm::ArrayRef<float> values) {
  std::vector<uint8_t> data;
  switch (type) {
  case GGMLType::F32:
    data.resize(values.size() * 4);
    if (!values.empty())
      std::memcpy(data.data(), values.data(), data.size());
    break;
  case GGMLType::F16:
    for (float value : values)
      putScalar<uint16_t>(data, floatToHalf(value));
    break;
  case GGMLType::BF16:
    for (float value : values)
      putScalar<uint16_t>(data, floatToBF16(value));
    break;
  case GGMLType::Q8_0:
    // Rows are a whole number of blocks, so quantizing the flat array is the
    // same as quantizing row by row.
    data = quantizeQ8_0(values);
    break;
  case GGMLType::Q4_0:
    data = quantizeQ4_0(values);
    break;
  case GGMLType::Q2_K:
  case GGMLType::Q3_K:
  case GGMLType::Q4_K:
  case GGMLType::Q5_K:
  case GGMLType::Q6_K:
    data = quantizeKQuant(type, values);
    break;
  }
  return data;
}

void GGUFWriter::addTensorF32(llvm::StringRef name,
                              llvm::ArrayRef<int64_t> shape,
                              llvm::ArrayRef<float> values, GGMLType type) {
  addTensor(name, type, shape, encodeValues(type, values));
}

std::optional<DType> qopt::model::dtypeOfGGMLType(uint32_t ggmlType) {
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
  case uint32_t(GGMLType::Q2_K):
    return DType::Q2_K;
  case uint32_t(GGMLType::Q3_K):
    return DType::Q3_K;
  case uint32_t(GGMLType::Q4_K):
    return DType::Q4_K;
  case uint32_t(GGMLType::Q5_K):
    return DType::Q5_K;
  case uint32_t(GGMLType::Q6_K):
    return DType::Q6_K;
  default:
    return std::nullopt;
  }
}

std::vector<uint8_t> qopt::model::quantizeKQuant(GGMLType type,
                                                 llvm::ArrayRef<float> values) {
  std::optional<DType> known = dtypeOfGGMLType(uint32_t(type));
  assert(known && isKQuant(*known) && "not a K-quant type");
  if (!known || !isKQuant(*known))
    return {};
  DType dtype = *known;
  assert(values.size() % detail::kKQuantBlock == 0 &&
         "K-quants need a multiple of 256 values");
  size_t blocks = values.size() / detail::kKQuantBlock;
  size_t blockBytes = size_t(detail::kquantFormat(dtype).blockBytes);
  std::vector<uint8_t> out(blocks * blockBytes);
  for (size_t b = 0; b < blocks; ++b)
    detail::quantizeKBlock(dtype, values.data() + b * detail::kKQuantBlock,
                           out.data() + b * blockBytes);
  return out;
}

std::optional<GGMLType>
qopt::model::kquantTypeOf(unsigned bits, int64_t groupSize, bool asymmetric,
                          int64_t superSize, unsigned subBits) {
  for (GGMLType type : {GGMLType::Q2_K, GGMLType::Q3_K, GGMLType::Q4_K,
                        GGMLType::Q5_K, GGMLType::Q6_K}) {
    DType dtype = *dtypeOfGGMLType(uint32_t(type));
    detail::KQuantFormat format = detail::kquantFormat(dtype);
    if (format.bits == bits && format.groupSize == groupSize &&
        format.asymmetric == asymmetric && superSize == detail::kKQuantBlock &&
        detail::kquantSubBits(dtype) == subBits)
      return type;
  }
  return std::nullopt;
}

llvm::Expected<std::vector<uint8_t>>
qopt::model::packTwoLevelKQuant(const TwoLevelQuantized &q) {
  std::optional<GGMLType> type =
      kquantTypeOf(q.bits, q.groupSize, q.asymmetric, q.superSize, q.subBits);
  auto fail = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  if (!type)
    return fail(llvm::Twine(q.bits) + "-bit " +
                (q.asymmetric ? "asymmetric" : "symmetric") + " groups of " +
                llvm::Twine(q.groupSize) + " with " + llvm::Twine(q.subBits) +
                "-bit sub-scales in super-groups of " +
                llvm::Twine(q.superSize) + " are no GGUF K-quant");
  DType dtype = *dtypeOfGGMLType(uint32_t(*type));
  int64_t recordBytes = detail::kquantRecordBytes(dtype);
  size_t blocks = q.codes.size() / detail::kKQuantBlock;
  if (q.codes.size() % detail::kKQuantBlock != 0 ||
      q.recordBytes != recordBytes ||
      q.scaleRecords.size() != blocks * recordBytes ||
      q.minRecords.size() != (q.asymmetric ? blocks * recordBytes : 0))
    return fail("two-level " + llvm::Twine(dtypeName(dtype)) + " weights of " +
                llvm::Twine(q.codes.size()) +
                " codes with records of the wrong size");
  size_t blockBytes = size_t(detail::kquantFormat(dtype).blockBytes);
  std::vector<uint8_t> out(blocks * blockBytes);
  for (size_t b = 0; b < blocks; ++b) {
    detail::KBlockParts parts = detail::partsFromTwoLevel(
        dtype, q.codes.data() + b * detail::kKQuantBlock,
        q.scaleRecords.data() + b * recordBytes,
        q.asymmetric ? q.minRecords.data() + b * recordBytes : nullptr);
    if (!detail::kblockPartsFit(dtype, parts))
      return fail("super-block " + llvm::Twine(b) + " does not fit " +
                  dtypeName(dtype) +
                  ": a code, sub-scale or sub-minimum is outside its field");
    detail::packKBlock(dtype, parts, out.data() + b * blockBytes);
  }
  return out;
}

static uint64_t alignTo(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

std::vector<uint8_t> GGUFWriter::serialize() const {
  std::vector<uint8_t> out;
  putScalar<uint32_t>(out, 0x46554747u); // "GGUF"
  putScalar<uint32_t>(out, 3);
  putScalar<uint64_t>(out, tensors.size());
  putScalar<uint64_t>(out, numKVs);
  out.insert(out.end(), kvBytes.begin(), kvBytes.end());

  uint64_t offset = 0;
  for (const TensorEntry &tensor : tensors) {
    putString(out, tensor.name);
    putScalar<uint32_t>(out, static_cast<uint32_t>(tensor.shape.size()));
    for (auto it = tensor.shape.rbegin(); it != tensor.shape.rend(); ++it)
      putScalar<uint64_t>(out, static_cast<uint64_t>(*it));
    putScalar<uint32_t>(out, static_cast<uint32_t>(tensor.type));
    putScalar<uint64_t>(out, offset);
    offset = alignTo(offset + tensor.data.size(), alignment);
  }

  out.resize(alignTo(out.size(), alignment), 0);
  for (const TensorEntry &tensor : tensors) {
    out.insert(out.end(), tensor.data.begin(), tensor.data.end());
    out.resize(alignTo(out.size(), alignment), 0);
  }
  return out;
}

llvm::Error GGUFWriter::write(llvm::StringRef path) const {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return llvm::createStringError(ec, "cannot open '%s' for writing: %s",
                                   path.str().c_str(), ec.message().c_str());
  std::vector<uint8_t> bytes = serialize();
  os.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  os.close();
  if (os.has_error())
    return llvm::createStringError(os.error(), "cannot write '%s': %s",
                                   path.str().c_str(),
                                   os.error().message().c_str());
  return llvm::Error::success();
}
