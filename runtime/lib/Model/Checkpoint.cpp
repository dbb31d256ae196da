//===- Checkpoint.cpp - Format-independent checkpoint access ----*- C++ -*-===//
//
// The format-independent half of qopt_model: dispatching loadCheckpoint on
// the format of the path it is given (Format.h), tensor lookup, and
// converting tensors of any supported dtype to f32 or to qopt's
// block-quantized form.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Format.h"

#include "KQuants.h"
#include "ModelUtils.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cmath>
#include <sys/mman.h>
#include <unistd.h>

using namespace qopt::model;
using namespace qopt::model::detail;

//===----------------------------------------------------------------------===//
// DType and TensorRef
//===----------------------------------------------------------------------===//

llvm::StringRef qopt::model::dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::Q8_0:
    return "q8_0";
  case DType::Q4_0:
    return "q4_0";
  case DType::Q2_K:
    return "q2_K";
  case DType::Q3_K:
    return "q3_K";
  case DType::Q4_K:
    return "q4_K";
  case DType::Q5_K:
    return "q5_K";
  case DType::Q6_K:
    return "q6_K";
  }
  return "unknown";
}

BlockGeometry qopt::model::blockGeometry(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return {1, 4};
  case DType::F16:
  case DType::BF16:
    return {1, 2};
  case DType::Q8_0:
    return {32, 34};
  case DType::Q4_0:
    return {32, 18};
  case DType::Q2_K:
  case DType::Q3_K:
  case DType::Q4_K:
  case DType::Q5_K:
  case DType::Q6_K:
    return {kKQuantBlock, kquantFormat(dtype).blockBytes};
  }
  return {1, 4};
}

bool qopt::model::isBlockQuantized(DType dtype) {
  return blockGeometry(dtype).elements > 1;
}

int64_t TensorRef::numElements() const {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || !checkedMul(n, static_cast<uint64_t>(d), n) ||
        n > static_cast<uint64_t>(INT64_MAX))
      return -1;
  }
  return static_cast<int64_t>(n);
}

//===----------------------------------------------------------------------===//
// Checkpoint
//===----------------------------------------------------------------------===//

const TensorRef *Checkpoint::find(llvm::StringRef name) const {
  for (const TensorRef &t : tensors)
    if (t.name == name)
      return &t;
  return nullptr;
}

void Checkpoint::releasePages(const TensorRef &tensor) const {
  const char *begin = reinterpret_cast<const char *>(tensor.data);
  const char *end = begin + tensor.numBytes;
  for (const std::unique_ptr<llvm::MemoryBuffer> &buffer : buffers) {
    if (begin < buffer->getBufferStart() || end > buffer->getBufferEnd())
      continue;
    // Only a file mapping gives the pages back unchanged (a read-only
    // llvm::MemoryBuffer maps its file shared and never writes it); in a
    // heap buffer MADV_DONTNEED would zero them.
    if (buffer->getBufferKind() != llvm::MemoryBuffer::MemoryBuffer_MMap)
      return;
    uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    uintptr_t first =
        (reinterpret_cast<uintptr_t>(begin) + page - 1) & ~(page - 1);
    uintptr_t last = reinterpret_cast<uintptr_t>(end) & ~(page - 1);
    if (first < last)
      madvise(reinterpret_cast<void *>(first), last - first, MADV_DONTNEED);
    return;
  }
}

llvm::Expected<const TensorRef *> Checkpoint::get(llvm::StringRef name) const {
  if (const TensorRef *t = find(name))
    return t;
  return makeError("checkpoint '" + path + "' (" + format +
                   ") has no tensor '" + name + "'");
}

llvm::Expected<std::unique_ptr<Checkpoint>>
qopt::model::loadCheckpoint(llvm::StringRef path) {
  llvm::Expected<ModelFormat> format = detectModelFormat(path);
  if (!format)
    return format.takeError();
  switch (*format) {
  case ModelFormat::HuggingFaceDirectory:
  case ModelFormat::Directory:
    // A directory without config.json: the reader says what is missing.
    return loadHuggingFace(path);
  case ModelFormat::Safetensors:
  case ModelFormat::HuggingFaceJSON: {
    // A safetensors file or config.json names its Hugging Face directory.
    llvm::StringRef dir = llvm::sys::path::parent_path(path);
    return loadHuggingFace(dir.empty() ? llvm::StringRef(".") : dir);
  }
  case ModelFormat::GGUF:
    return loadGGUF(path);
  case ModelFormat::Llama2c:
    return loadLlama2c(path);
  case ModelFormat::MLIRBytecode:
  case ModelFormat::MLIRText:
    return makeError("'" + path + "' is a qopt module (" +
                     modelFormatName(*format) +
                     "), not a checkpoint; qopt-run and qopt-opt take it");
  case ModelFormat::Unknown:
    break;
  }
  return unknownFormatError(path);
}

//===----------------------------------------------------------------------===//
// Conversions
//===----------------------------------------------------------------------===//

/// Bytes per block and elements per block of the quantized dtypes.
static constexpr uint64_t kQBlock = 32;
static constexpr uint64_t kQ8Bytes = 34;
static constexpr uint64_t kQ4Bytes = 18;

/// Checks that `t` is well formed: known shape, non-null data, and numBytes
/// equal to what its dtype and shape require. Returns the element count.
static llvm::Expected<uint64_t> checkTensor(const TensorRef &t) {
  int64_t n = t.numElements();
  auto where = [&]() -> std::string {
    return ("tensor '" + t.name + "' (" + dtypeName(t.dtype) + ") of '" +
            t.file + "'")
        .str();
  };
  if (n < 0)
    return makeError(where() + " has an invalid shape");
  BlockGeometry geometry = blockGeometry(t.dtype);
  if (geometry.elements > 1 &&
      (t.shape.empty() || t.shape.back() % geometry.elements != 0))
    return makeError(where() + ": last dimension must be a multiple of " +
                     llvm::Twine(geometry.elements));
  uint64_t expected = static_cast<uint64_t>(n) / geometry.elements *
                      static_cast<uint64_t>(geometry.bytes);
  if (t.numBytes != expected)
    return makeError(where() + " holds " + llvm::Twine(t.numBytes) +
                     " bytes, expected " + llvm::Twine(expected));
  if (n > 0 && !t.data)
    return makeError(where() + " has no data");
  return static_cast<uint64_t>(n);
}

llvm::Expected<std::vector<float>> qopt::model::toF32(const TensorRef &tensor) {
  llvm::Expected<uint64_t> n = checkTensor(tensor);
  if (!n)
    return n.takeError();
  std::vector<float> out(*n);
  const uint8_t *p = tensor.data;
  switch (tensor.dtype) {
  case DType::F32:
    if (*n)
      std::memcpy(out.data(), p, *n * sizeof(float));
    break;
  case DType::F16:
    for (uint64_t i = 0; i < *n; ++i)
      out[i] = halfToFloat(loadU16(p + 2 * i));
    break;
  case DType::BF16:
    for (uint64_t i = 0; i < *n; ++i)
      out[i] = bf16ToFloat(loadU16(p + 2 * i));
    break;
  case DType::Q8_0:
    for (uint64_t b = 0; b < *n / kQBlock; ++b) {
      const uint8_t *block = p + b * kQ8Bytes;
      float d = halfToFloat(loadU16(block));
      for (uint64_t j = 0; j < kQBlock; ++j)
        out[b * kQBlock + j] = d * static_cast<int8_t>(block[2 + j]);
    }
    break;
  case DType::Q4_0:
    // ggml layout: byte j holds element j (low nibble) and j + 16 (high).
    for (uint64_t b = 0; b < *n / kQBlock; ++b) {
      const uint8_t *block = p + b * kQ4Bytes;
      float d = halfToFloat(loadU16(block));
      for (uint64_t j = 0; j < kQBlock / 2; ++j) {
        uint8_t q = block[2 + j];
        out[b * kQBlock + j] = d * (static_cast<int>(q & 0x0f) - 8);
        out[b * kQBlock + j + 16] = d * (static_cast<int>(q >> 4) - 8);
      }
    }
    break;
  case DType::Q2_K:
  case DType::Q3_K:
  case DType::Q4_K:
  case DType::Q5_K:
  case DType::Q6_K: {
    int64_t blockBytes = kquantFormat(tensor.dtype).blockBytes;
    for (uint64_t b = 0; b < *n / kKQuantBlock; ++b)
      dequantizeKBlock(tensor.dtype, p + b * blockBytes,
                       out.data() + b * kKQuantBlock);
    break;
  }
  }
  return out;
}

/// Quantizes `values` (one row-major tensor whose last dim is a multiple of
/// 32) with ggml's reference Q8_0 / Q4_0 rounding, scales kept in f32.
static BlockQuantized quantizeBlocks(const std::vector<float> &values,
                                     unsigned bits) {
  BlockQuantized q;
  q.bits = bits;
  q.groupSize = kQBlock;
  q.codes.resize(values.size());
  q.scales.resize(values.size() / kQBlock);
  for (size_t b = 0; b < q.scales.size(); ++b) {
    const float *x = values.data() + b * kQBlock;
    uint8_t *codes = q.codes.data() + b * kQBlock;
    if (bits == 8) {
      float amax = 0.0f;
      for (uint64_t j = 0; j < kQBlock; ++j)
        amax = std::max(amax, std::fabs(x[j]));
      float d = amax / 127.0f;
      float id = d != 0.0f ? 1.0f / d : 0.0f;
      for (uint64_t j = 0; j < kQBlock; ++j)
        codes[j] =
            static_cast<uint8_t>(static_cast<int>(std::round(x[j] * id)) + 128);
      q.scales[b] = d;
    } else {
      float amax = 0.0f, max = 0.0f;
      for (uint64_t j = 0; j < kQBlock; ++j) {
        if (std::fabs(x[j]) > amax) {
          amax = std::fabs(x[j]);
          max = x[j];
        }
      }
      float d = max / -8.0f;
      float id = d != 0.0f ? 1.0f / d : 0.0f;
      for (uint64_t j = 0; j < kQBlock; ++j) {
        int v = static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f));
        codes[j] = static_cast<uint8_t>(std::min(15, std::max(0, v)));
      }
      q.scales[b] = d;
    }
  }
  return q;
}

/// The code width of block-quantized `dtype` (8 for the float types, which
/// toBlockQuantized quantizes to Q8_0 by default).
static unsigned blockBits(DType dtype) {
  if (isKQuant(dtype))
    return kquantFormat(dtype).bits;
  return dtype == DType::Q4_0 ? 4 : 8;
}

/// The codes, scales and zero points of the `n` values of K-quant `tensor`
/// (checked by checkTensor).
static BlockQuantized unpackKQuants(const TensorRef &tensor, uint64_t n) {
  KQuantFormat format = kquantFormat(tensor.dtype);
  BlockQuantized q;
  q.bits = format.bits;
  q.groupSize = format.groupSize;
  q.asymmetric = format.asymmetric;
  q.codes.resize(n);
  q.scales.resize(n / format.groupSize);
  if (format.asymmetric)
    q.zeros.resize(q.scales.size());
  int64_t groupsPerBlock = kKQuantBlock / format.groupSize;
  for (uint64_t b = 0; b < n / kKQuantBlock; ++b)
    unpackKBlock(
        tensor.dtype, tensor.data + b * format.blockBytes,
        q.codes.data() + b * kKQuantBlock, q.scales.data() + b * groupsPerBlock,
        format.asymmetric ? q.zeros.data() + b * groupsPerBlock : nullptr);
  return q;
}

llvm::Expected<TwoLevelQuantized>
qopt::model::toTwoLevelQuantized(const TensorRef &tensor) {
  if (!isKQuant(tensor.dtype))
    return makeError("tensor '" + tensor.name + "' is " +
                     dtypeName(tensor.dtype) +
                     ", not a K-quant: it has no two-level scales");
  llvm::Expected<uint64_t> n = checkTensor(tensor);
  if (!n)
    return n.takeError();
  KQuantFormat format = kquantFormat(tensor.dtype);
  TwoLevelQuantized q;
  q.bits = format.bits;
  q.groupSize = format.groupSize;
  q.superSize = kKQuantBlock;
  q.subBits = kquantSubBits(tensor.dtype);
  q.asymmetric = format.asymmetric;
  q.recordBytes = kquantRecordBytes(tensor.dtype);
  uint64_t blocks = *n / kKQuantBlock;
  q.codes.resize(*n);
  q.scaleRecords.resize(blocks * q.recordBytes);
  if (format.asymmetric)
    q.minRecords.resize(blocks * q.recordBytes);
  for (uint64_t b = 0; b < blocks; ++b)
    unpackKBlockTwoLevel(
        tensor.dtype, tensor.data + b * format.blockBytes,
        q.codes.data() + b * kKQuantBlock,
        q.scaleRecords.data() + b * q.recordBytes,
        format.asymmetric ? q.minRecords.data() + b * q.recordBytes : nullptr);
  return q;
}

llvm::Expected<BlockQuantized>
qopt::model::toBlockQuantized(const TensorRef &tensor, unsigned bits) {
  llvm::Expected<uint64_t> n = checkTensor(tensor);
  if (!n)
    return n.takeError();
  const uint8_t *p = tensor.data;
  switch (tensor.dtype) {
  case DType::F32:
  case DType::F16:
  case DType::BF16: {
    if (bits != 4 && bits != 8)
      return makeError("tensor '" + tensor.name +
                       "': cannot block-quantize to " + llvm::Twine(bits) +
                       " bits (4 or 8 supported)");
    if (tensor.shape.empty() || tensor.shape.back() % kQBlock != 0)
      return makeError("tensor '" + tensor.name + "' of '" + tensor.file +
                       "': last dimension must be a multiple of 32 to "
                       "block-quantize");
    llvm::Expected<std::vector<float>> values = toF32(tensor);
    if (!values)
      return values.takeError();
    return quantizeBlocks(*values, bits);
  }
  case DType::Q8_0:
  case DType::Q4_0:
  case DType::Q2_K:
  case DType::Q3_K:
  case DType::Q4_K:
  case DType::Q5_K:
  case DType::Q6_K:
    break;
  }
  if (blockBits(tensor.dtype) != bits)
    return makeError("tensor '" + tensor.name + "' is " +
                     dtypeName(tensor.dtype) + ", not " + llvm::Twine(bits) +
                     "-bit");
  if (isKQuant(tensor.dtype))
    return unpackKQuants(tensor, *n);
  BlockQuantized q;
  q.bits = bits;
  q.groupSize = kQBlock;
  q.halfScales = true;
  q.codes.resize(*n);
  q.scales.resize(*n / kQBlock);
  for (uint64_t b = 0; b < *n / kQBlock; ++b) {
    uint8_t *codes = q.codes.data() + b * kQBlock;
    if (bits == 8) {
      const uint8_t *block = p + b * kQ8Bytes;
      q.scales[b] = halfToFloat(loadU16(block));
      for (uint64_t j = 0; j < kQBlock; ++j)
        codes[j] =
            static_cast<uint8_t>(static_cast<int8_t>(block[2 + j]) + 128);
    } else {
      const uint8_t *block = p + b * kQ4Bytes;
      q.scales[b] = halfToFloat(loadU16(block));
      for (uint64_t j = 0; j < kQBlock / 2; ++j) {
        codes[j] = block[2 + j] & 0x0f;
        codes[j + 16] = block[2 + j] >> 4;
      }
    }
  }
  return q;
}

llvm::Expected<BlockQuantized>
qopt::model::toBlockQuantized(const TensorRef &tensor) {
  return toBlockQuantized(tensor, blockBits(tensor.dtype));
}
