//===- Calibration.h - Input second moments of linear layers ----*- C++ -*-===//
//
// What GPTQ and the Matryoshka method need from calibration data: for every
// linear layer the second moment H = X^T X of its inputs (X: one row per
// calibration token), accumulated in double precision. `qopt-run calibrate`
// records it from the compiled model (docs/calibration.md) and writes a
// `.calib` file; `qopt-quantize-weights calibration=FILE` and `qopt-run
// quantize --calibration FILE` read it.
//
// File format, version 1 (little-endian):
//   offset  0  8 bytes   magic "QOPTCALB"
//           8  u32       version (1)
//          12  u32       0
//          16  u64       n, bytes of the JSON header
//          24  u64       xxh3_64 of the JSON header
//          32  n bytes   JSON header, then zero padding to a multiple of 8
//   then the data section: for each entry, the upper triangle of its H
//   (row-major, diagonal included, cols * (cols + 1) / 2 doubles) at the
//   entry's `offset` bytes from the start of the data section, which ends
//   exactly at the end of the file.
// The header is
//   {"format": "qopt-calibration", "version": 1,
//    "model": {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads",
//              "vocab_size"},
//    "source": "...", "text": "...", "tokens": N, "sequences": S,
//    "mode": "float" | "sequential", "quantization": "..." (sequential),
//    "entries": [{"layer": L, "roles": ["q", "k", "v"], "cols": K,
//                 "tokens": N, "offset": O, "checksum": "<xxh3_64 hex>"}]}
// Reading validates everything before it allocates: magic, version, header
// checksum and schema, entry sizes and offsets against the file length (no
// overlap, no gap), known roles, no (layer, role) twice; an entry's data
// checksum, finiteness and non-negative diagonal when it is loaded.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_QUANT_CALIBRATION_H
#define QOPT_QUANT_CALIBRATION_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class MemoryBuffer;
} // namespace llvm

namespace qopt {
namespace quant {

/// The shape of the model a calibration file was recorded on.
struct CalibrationModel {
  int64_t dim = 0;
  int64_t hiddenDim = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKVHeads = 0;
  int64_t vocabSize = 0;

  bool operator==(const CalibrationModel &other) const;
  bool operator!=(const CalibrationModel &other) const {
    return !(*this == other);
  }
  /// "dim 64, hidden_dim 172, ..." for error messages.
  std::string describe() const;
};

/// H = X^T X of one linear input. Several linear layers reading the same
/// input (q, k, v; gate, up) share one entry.
struct CalibrationEntry {
  /// Decoder layer, or -1 for the classifier.
  int64_t layer = -1;
  /// The roles reading this input: q k v o gate up down classifier.
  std::vector<std::string> roles;
  /// Input features K (H is K x K).
  int64_t cols = 0;
  /// Rows of X accumulated (calibration tokens).
  int64_t tokens = 0;
};

/// Everything a calibration file records, except the matrices.
struct CalibrationInfo {
  CalibrationModel model;
  /// The checkpoint calibrated (informative).
  std::string source;
  /// The calibration text (informative).
  std::string text;
  /// Tokens and sequences run.
  int64_t tokens = 0;
  int64_t sequences = 0;
  /// "float": every H from the float model; "sequential": block i's H from
  /// the model whose blocks 0..i-1 are quantized as `quantization` says.
  std::string mode = "float";
  /// The quantization of the earlier blocks in sequential mode (the
  /// qopt-quantize-weights options), empty otherwise.
  std::string quantization;
};

/// Accumulates H = X^T X in double precision, one row block at a time.
class HessianAccumulator {
public:
  explicit HessianAccumulator(int64_t cols);
  ~HessianAccumulator();
  HessianAccumulator(HessianAccumulator &&);
  HessianAccumulator &operator=(HessianAccumulator &&);

  /// Adds the `rows` rows of X at `data` (row r at data + r * rowStride).
  void add(const float *data, int64_t rows, int64_t rowStride);
  /// Forgets everything added.
  void reset();

  int64_t cols() const { return numCols; }
  int64_t tokens() const { return numTokens; }
  /// H, cols x cols, row-major, symmetric.
  std::vector<double> hessian() const;
  /// Upper triangle, row-major, diagonal included (the file's form).
  std::vector<double> packedUpper() const;

private:
  struct Impl;
  int64_t numCols = 0;
  int64_t numTokens = 0;
  std::unique_ptr<Impl> impl;
};

/// Writes a calibration file: `entries[i]` with the packed upper triangle
/// `matrices[i]` (cols * (cols + 1) / 2 doubles). Written to a temporary
/// file and renamed, so a failed write leaves no partial file.
llvm::Error writeCalibrationFile(llvm::StringRef path,
                                 const CalibrationInfo &info,
                                 llvm::ArrayRef<CalibrationEntry> entries,
                                 llvm::ArrayRef<std::vector<double>> matrices);

/// A calibration file opened for reading (mapped, not copied).
class CalibrationFile {
public:
  ~CalibrationFile();
  CalibrationFile(CalibrationFile &&);
  CalibrationFile &operator=(CalibrationFile &&);

  /// Opens and validates `path` (everything but the matrices' contents).
  static llvm::Expected<CalibrationFile> open(llvm::StringRef path);

  const CalibrationInfo &info() const { return header; }
  llvm::ArrayRef<CalibrationEntry> entries() const { return list; }
  llvm::StringRef path() const { return filePath; }
  /// The entry recording the input of (layer, role), or -1.
  int64_t find(int64_t layer, llvm::StringRef role) const;
  /// Entry `index`'s H (cols x cols, row-major, symmetric), after checking
  /// its checksum, that every value is finite and the diagonal is not
  /// negative.
  llvm::Expected<std::vector<double>> hessian(int64_t index) const;
  /// Checks every entry's data checksum (cheap: no matrix is expanded).
  llvm::Error verifyChecksums() const;
  /// Loads every entry once: the whole file checked.
  llvm::Error verify() const;

private:
  CalibrationFile() = default;
  /// An error about entry `index`, naming the file, layer and roles.
  llvm::Error entryError(int64_t index, const llvm::Twine &rule) const;
  llvm::Error checkChecksum(int64_t index) const;

  std::string filePath;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  CalibrationInfo header;
  std::vector<CalibrationEntry> list;
  std::vector<uint64_t> offsets;   // absolute, in bytes
  std::vector<uint64_t> checksums; // xxh3_64 of each entry's bytes
};

/// The roles a calibration entry may name.
bool isCalibrationRole(llvm::StringRef role);

} // namespace quant
} // namespace qopt

#endif // QOPT_QUANT_CALIBRATION_H
