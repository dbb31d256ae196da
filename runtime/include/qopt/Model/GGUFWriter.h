//===- GGUFWriter.h - Writing GGUF v3 files ---------------------*- C++ -*-===//
//
// A small GGUF v3 writer: metadata key/values of the common value types and
// tensors of types F32, F16, BF16, Q8_0 and Q4_0, laid out with the alignment
// that general.alignment declares (32 by default) and zero padding. Used by
// the tests to produce GGUF files and by tools that export checkpoints.
//
// Also the scalar conversions (f32 <-> f16, f32 -> bf16) and ggml's reference
// Q8_0 / Q4_0 row quantizers (quantize_row_q8_0_ref, quantize_row_q4_0_ref),
// bit for bit.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_GGUFWRITER_H
#define QOPT_MODEL_GGUFWRITER_H

#include "qopt/Model/Checkpoint.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qopt {
namespace model {

/// GGUF metadata value types (gguf_type).
enum class GGUFValueType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

/// The ggml tensor types qopt reads and writes (a subset of ggml_type).
enum class GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

/// The DType of ggml type number `ggmlType` (a GGMLType or any other
/// ggml_type), or nullopt when qopt does not read that type.
std::optional<DType> dtypeOfGGMLType(uint32_t ggmlType);

/// Elements per block of Q8_0 / Q4_0.
constexpr int64_t kGGMLBlockSize = 32;
/// Bytes per Q8_0 block: f16 scale + 32 int8.
constexpr int64_t kQ8_0BlockBytes = 34;
/// Bytes per Q4_0 block: f16 scale + 16 bytes of nibbles.
constexpr int64_t kQ4_0BlockBytes = 18;

/// IEEE binary16 bits of `value`, rounded to nearest even (ggml's
/// GGML_FP32_TO_FP16 reference conversion; overflow gives infinity).
uint16_t floatToHalf(float value);
/// The float value of IEEE binary16 bits `bits` (exact).
float halfToFloat(uint16_t bits);
/// bfloat16 bits of `value`, rounded to nearest even (NaN stays NaN).
uint16_t floatToBF16(float value);
/// The float value of bfloat16 bits `bits` (exact).
float bf16ToFloat(uint16_t bits);

/// Quantizes `values` (a multiple of 32 elements) to Q8_0 blocks exactly as
/// ggml's quantize_row_q8_0_ref: d = amax / 127, q = round(x / d).
std::vector<uint8_t> quantizeQ8_0(llvm::ArrayRef<float> values);
/// Quantizes `values` (a multiple of 32 elements) to Q4_0 blocks exactly as
/// ggml's quantize_row_q4_0_ref: d = max / -8 where max is the element of
/// largest magnitude (with its sign), q = min(15, (int8)(x / d + 8.5)).
std::vector<uint8_t> quantizeQ4_0(llvm::ArrayRef<float> values);
/// Quantizes `values` (a multiple of 256 elements) to blocks of K-quant
/// `type` (Q2_K..Q6_K) with qopt's round-to-nearest encoder, not ggml's
/// search (make_qkx2_quants and friends), so the bytes differ from
/// llama-quantize's: per sub-block the range [min(0, lo), hi] (Q2_K, Q4_K,
/// Q5_K) or the signed largest magnitude (Q3_K, Q6_K) sets the scale, and
/// the sub-block scales and minimums are rounded to the format's integer
/// grid under f16 super-block scales.
std::vector<uint8_t> quantizeKQuant(GGMLType type,
                                    llvm::ArrayRef<float> values);

/// The K-quant type whose blocks hold two-level weights of this form
/// (TwoLevelQuantized, as toTwoLevelQuantized makes them): Q2_K 2-bit
/// asymmetric groups of 16 with 4-bit sub-codes, Q3_K 3-bit symmetric
/// groups of 16, Q4_K and Q5_K 4- and 5-bit asymmetric groups of 32, Q6_K
/// 6-bit symmetric groups of 16 (8-bit sub-codes, super-groups of 256), or
/// nullopt.
std::optional<GGMLType> kquantTypeOf(unsigned bits, int64_t groupSize,
                                     bool asymmetric, int64_t superSize,
                                     unsigned subBits);
/// The blocks of `q` (a multiple of 256 codes, row-major) as its K-quant
/// type, holding exactly its codes and records: the inverse of
/// toTwoLevelQuantized. An error for a form no K-quant has, or naming the
/// first super-block whose numbers do not fit the type's fields (e.g. a
/// Q4_K sub-scale outside 0..63).
llvm::Expected<std::vector<uint8_t>>
packTwoLevelKQuant(const TwoLevelQuantized &q);

/// `values` stored as `type`: converted (f32, f16, bf16) or quantized
/// (Q8_0, Q4_0: a multiple of 32 values; K-quants: of 256) as above.
std::vector<uint8_t> encodeValues(GGMLType type, llvm::ArrayRef<float> values);

/// Builds a GGUF v3 file in memory. Keys and tensors are written in the
/// order they were added; nothing is validated beyond what is needed to lay
/// the file out (so tests can also produce unusual files).
class GGUFWriter {
public:
  /// Sets the data alignment and records it as the general.alignment KV
  /// (without a call, the alignment is GGUF's default 32 and no KV is
  /// written). `alignment` must be a nonzero power of two.
  void setAlignment(uint32_t alignment);
  /// The data alignment in bytes.
  uint32_t getAlignment() const { return alignment; }

  /// Adds `key` with a uint8 value.
  void addUInt8(llvm::StringRef key, uint8_t value);
  /// Adds `key` with a uint32 value.
  void addUInt32(llvm::StringRef key, uint32_t value);
  /// Adds `key` with an int32 value.
  void addInt32(llvm::StringRef key, int32_t value);
  /// Adds `key` with a uint64 value.
  void addUInt64(llvm::StringRef key, uint64_t value);
  /// Adds `key` with a float32 value.
  void addFloat32(llvm::StringRef key, float value);
  /// Adds `key` with a bool value.
  void addBool(llvm::StringRef key, bool value);
  /// Adds `key` with a string value.
  void addString(llvm::StringRef key, llvm::StringRef value);
  /// Adds `key` with an array-of-strings value.
  void addStringArray(llvm::StringRef key, llvm::ArrayRef<std::string> values);
  /// Adds `key` with an array-of-float32 value.
  void addFloat32Array(llvm::StringRef key, llvm::ArrayRef<float> values);
  /// Adds `key` with an array-of-int32 value.
  void addInt32Array(llvm::StringRef key, llvm::ArrayRef<int32_t> values);
  /// Adds a KV whose value type is `type` and whose encoded value is the raw
  /// bytes `payload` (for arrays: element type, count and elements).
  void addRaw(llvm::StringRef key, uint32_t type,
              llvm::ArrayRef<uint8_t> payload);

  /// Adds a tensor of ggml type `type` whose PyTorch-order shape is `shape`
  /// (written reversed, as ggml dims) and whose encoded bytes are `data`.
  void addTensor(llvm::StringRef name, GGMLType type,
                 llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<uint8_t> data);
  /// Adds f32 `values` of shape `shape` stored as `type` (converted or
  /// quantized along rows; Q8_0/Q4_0 need a last dimension that is a
  /// multiple of 32, the K-quants one that is a multiple of 256).
  void addTensorF32(llvm::StringRef name, llvm::ArrayRef<int64_t> shape,
                    llvm::ArrayRef<float> values,
                    GGMLType type = GGMLType::F32);

  /// The file's bytes.
  std::vector<uint8_t> serialize() const;
  /// Writes the file to `path`.
  llvm::Error write(llvm::StringRef path) const;

private:
  /// Appends one key with a scalar value of `type`.
  template <typename T>
  void addScalar(llvm::StringRef key, GGUFValueType type, T value);

  struct TensorEntry {
    std::string name;
    GGMLType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  uint32_t alignment = 32;
  uint64_t numKVs = 0;
  /// Encoded key/value pairs, back to back.
  std::vector<uint8_t> kvBytes;
  std::vector<TensorEntry> tensors;
};

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_GGUFWRITER_H
