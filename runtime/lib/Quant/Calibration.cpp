//===- Calibration.cpp - Input second moments of linear layers --*- C++ -*-===//
//
// The double-precision X^T X accumulator and the versioned, checksummed
// .calib file (format in Calibration.h).
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/Calibration.h"

#include "qopt/Model/Input.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <Eigen/Core>

#include <cmath>
#include <cstring>
#include <set>

using namespace qopt::quant;
using llvm::StringRef;
using llvm::Twine;

namespace {
constexpr char kMagic[8] = {'Q', 'O', 'P', 'T', 'C', 'A', 'L', 'B'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kPrefixBytes = 32;
/// Largest input width an entry may declare: H of 2^17 columns is 64 GiB
/// of doubles, far beyond any linear layer qopt runs.
constexpr int64_t kMaxCols = int64_t(1) << 17;
/// Most entries a file may list (a 1000-layer model has 4001).
constexpr size_t kMaxEntries = 1 << 16;

llvm::Error makeError(const Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

uint64_t packedCount(int64_t cols) {
  return static_cast<uint64_t>(cols) * static_cast<uint64_t>(cols + 1) / 2;
}

uint64_t readU64(const char *p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
uint32_t readU32(const char *p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

std::string hex64(uint64_t v) { return llvm::utohexstr(v, /*LowerCase=*/true); }
} // namespace

bool qopt::quant::isCalibrationRole(StringRef role) {
  return role == "q" || role == "k" || role == "v" || role == "o" ||
         role == "gate" || role == "up" || role == "down" ||
         role == "classifier";
}

//===----------------------------------------------------------------------===//
// CalibrationModel
//===----------------------------------------------------------------------===//

bool CalibrationModel::operator==(const CalibrationModel &o) const {
  return dim == o.dim && hiddenDim == o.hiddenDim && numLayers == o.numLayers &&
         numHeads == o.numHeads && numKVHeads == o.numKVHeads &&
         vocabSize == o.vocabSize;
}

std::string CalibrationModel::describe() const {
  return ("dim " + Twine(dim) + ", hidden_dim " + Twine(hiddenDim) +
          ", n_layers " + Twine(numLayers) + ", n_heads " + Twine(numHeads) +
          ", n_kv_heads " + Twine(numKVHeads) + ", vocab_size " +
          Twine(vocabSize))
      .str();
}

//===----------------------------------------------------------------------===//
// HessianAccumulator
//===----------------------------------------------------------------------===//

struct HessianAccumulator::Impl {
  Eigen::MatrixXd h; // upper triangle valid
  Eigen::MatrixXd block;
};

HessianAccumulator::HessianAccumulator(int64_t cols)
    : numCols(cols), impl(std::make_unique<Impl>()) {
  impl->h = Eigen::MatrixXd::Zero(cols, cols);
}
HessianAccumulator::~HessianAccumulator() = default;
HessianAccumulator::HessianAccumulator(HessianAccumulator &&) = default;
HessianAccumulator &
HessianAccumulator::operator=(HessianAccumulator &&) = default;

void HessianAccumulator::add(const float *data, int64_t rows,
                             int64_t rowStride) {
  // Rows are converted to double in blocks and added as a rank-k update of
  // the upper triangle (Eigen's SYRK): exact products, double sums.
  constexpr int64_t kBlockRows = 64;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlockRows) {
    int64_t n = std::min(kBlockRows, rows - r0);
    impl->block.resize(numCols, n);
    for (int64_t r = 0; r < n; ++r) {
      const float *row = data + (r0 + r) * rowStride;
      for (int64_t c = 0; c < numCols; ++c)
        impl->block(c, r) = row[c];
    }
    impl->h.selfadjointView<Eigen::Upper>().rankUpdate(impl->block);
  }
  numTokens += rows;
}

void HessianAccumulator::reset() {
  impl->h.setZero();
  numTokens = 0;
}

std::vector<double> HessianAccumulator::hessian() const {
  std::vector<double> out(static_cast<size_t>(numCols * numCols));
  for (int64_t i = 0; i < numCols; ++i)
    for (int64_t j = i; j < numCols; ++j)
      out[i * numCols + j] = out[j * numCols + i] = impl->h(i, j);
  return out;
}

std::vector<double> HessianAccumulator::packedUpper() const {
  std::vector<double> out;
  out.reserve(packedCount(numCols));
  for (int64_t i = 0; i < numCols; ++i)
    for (int64_t j = i; j < numCols; ++j)
      out.push_back(impl->h(i, j));
  return out;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

llvm::Error qopt::quant::writeCalibrationFile(
    StringRef path, const CalibrationInfo &info,
    llvm::ArrayRef<CalibrationEntry> entries,
    llvm::ArrayRef<std::vector<double>> matrices) {
  if (entries.size() != matrices.size())
    return makeError("calibration: " + Twine(entries.size()) + " entries but " +
                     Twine(matrices.size()) + " matrices");
  llvm::json::Array list;
  uint64_t offset = 0;
  for (auto [entry, matrix] : llvm::zip(entries, matrices)) {
    if (entry.cols < 1 || entry.cols > kMaxCols ||
        matrix.size() != packedCount(entry.cols))
      return makeError("calibration: entry of layer " + Twine(entry.layer) +
                       " has " + Twine(matrix.size()) + " values for " +
                       Twine(entry.cols) + " columns");
    llvm::json::Array roles;
    for (const std::string &role : entry.roles)
      roles.push_back(role);
    uint64_t bytes = matrix.size() * sizeof(double);
    list.push_back(llvm::json::Object{
        {"layer", entry.layer},
        {"roles", std::move(roles)},
        {"cols", entry.cols},
        {"tokens", entry.tokens},
        {"offset", static_cast<int64_t>(offset)},
        {"checksum",
         hex64(llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(
             reinterpret_cast<const uint8_t *>(matrix.data()), bytes)))}});
    offset += bytes;
  }
  const CalibrationModel &m = info.model;
  llvm::json::Object header{
      {"format", "qopt-calibration"},
      {"version", static_cast<int64_t>(kVersion)},
      {"model", llvm::json::Object{{"dim", m.dim},
                                   {"hidden_dim", m.hiddenDim},
                                   {"n_layers", m.numLayers},
                                   {"n_heads", m.numHeads},
                                   {"n_kv_heads", m.numKVHeads},
                                   {"vocab_size", m.vocabSize}}},
      {"source", info.source},
      {"text", info.text},
      {"tokens", info.tokens},
      {"sequences", info.sequences},
      {"mode", info.mode},
      {"entries", std::move(list)}};
  if (!info.quantization.empty())
    header["quantization"] = info.quantization;
  std::string json;
  llvm::raw_string_ostream(json) << llvm::json::Value(std::move(header));

  llvm::SmallString<256> tmp;
  int fd;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueFile(path + ".tmp-%%%%%%", fd, tmp))
    return makeError("cannot create '" + path + "': " + ec.message());
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os.write(kMagic, sizeof(kMagic));
    uint32_t words[2] = {kVersion, 0};
    os.write(reinterpret_cast<const char *>(words), sizeof(words));
    uint64_t lengths[2] = {
        json.size(),
        llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(
            reinterpret_cast<const uint8_t *>(json.data()), json.size()))};
    os.write(reinterpret_cast<const char *>(lengths), sizeof(lengths));
    os << json;
    os.write_zeros((8 - json.size() % 8) % 8);
    for (const std::vector<double> &matrix : matrices)
      os.write(reinterpret_cast<const char *>(matrix.data()),
               matrix.size() * sizeof(double));
    os.close();
    if (os.has_error()) {
      std::error_code ec = os.error();
      os.clear_error();
      llvm::sys::fs::remove(tmp);
      return makeError("cannot write '" + path + "': " + ec.message());
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    llvm::sys::fs::remove(tmp);
    return makeError("cannot write '" + path + "': " + ec.message());
  }
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Reading
//===----------------------------------------------------------------------===//

CalibrationFile::~CalibrationFile() = default;
CalibrationFile::CalibrationFile(CalibrationFile &&) = default;
CalibrationFile &CalibrationFile::operator=(CalibrationFile &&) = default;

namespace {
/// Reads a non-negative integer member `key` of `object` into `out`.
bool getCount(const llvm::json::Object &object, StringRef key, int64_t &out,
              int64_t max = INT64_MAX) {
  std::optional<int64_t> v = object.getInteger(key);
  if (!v || *v < 0 || *v > max)
    return false;
  out = *v;
  return true;
}

/// An error about the calibration file `path`.
llvm::Error fileError(StringRef path, const Twine &rule) {
  return makeError("calibration file '" + path + "': " + rule);
}

/// Checks the prefix of the calibration file `path` (contents `data`):
/// magic, version, header length and checksum. Sets `headerBytes` and
/// returns the parsed JSON header.
llvm::Expected<llvm::json::Value> readHeaderJSON(StringRef path, StringRef data,
                                                 uint64_t &headerBytes) {
  auto bad = [&](const Twine &rule) { return fileError(path, rule); };
  if (data.size() < kPrefixBytes ||
      std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0)
    return bad("not a qopt calibration file (bad magic; write one with "
               "`qopt-run calibrate`)");
  uint32_t version = readU32(data.data() + 8);
  if (version != kVersion)
    return bad("format version " + Twine(version) + " (this qopt reads " +
               Twine(kVersion) + ")");
  headerBytes = readU64(data.data() + 16);
  uint64_t headerHash = readU64(data.data() + 24);
  if (headerBytes > data.size() - kPrefixBytes ||
      headerBytes > ::qopt::model::kMaxJSONBytes)
    return bad("header length " + Twine(headerBytes) +
               " runs past the end of the file (" + Twine(data.size()) +
               " bytes)");
  StringRef json = data.substr(kPrefixBytes, headerBytes);
  if (llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(
          reinterpret_cast<const uint8_t *>(json.data()), json.size())) !=
      headerHash)
    return bad("header checksum mismatch (the file is corrupt)");
  return ::qopt::model::parseJSON(
      json, ("calibration file '" + path + "' header").str());
}

/// Reads the description of the run in header `root` (the model, source,
/// text, token and sequence counts, mode and quantization) into `info`.
llvm::Error readInfo(StringRef path, const llvm::json::Object *root,
                     CalibrationInfo &info) {
  auto bad = [&](const Twine &rule) { return fileError(path, rule); };
  const llvm::json::Object *model = root->getObject("model");
  CalibrationModel &m = info.model;
  constexpr int64_t kMaxDim = int64_t(1) << 31;
  if (!model || !getCount(*model, "dim", m.dim, kMaxDim) ||
      !getCount(*model, "hidden_dim", m.hiddenDim, kMaxDim) ||
      !getCount(*model, "n_layers", m.numLayers, 1 << 16) ||
      !getCount(*model, "n_heads", m.numHeads, kMaxDim) ||
      !getCount(*model, "n_kv_heads", m.numKVHeads, kMaxDim) ||
      !getCount(*model, "vocab_size", m.vocabSize, kMaxDim))
    return bad("header's \"model\" needs non-negative dim, hidden_dim, "
               "n_layers, n_heads, n_kv_heads and vocab_size");
  if (std::optional<StringRef> s = root->getString("source"))
    info.source = s->str();
  if (std::optional<StringRef> s = root->getString("text"))
    info.text = s->str();
  if (!getCount(*root, "tokens", info.tokens) ||
      !getCount(*root, "sequences", info.sequences))
    return bad("header needs non-negative \"tokens\" and \"sequences\"");
  std::optional<StringRef> mode = root->getString("mode");
  if (!mode || (*mode != "float" && *mode != "sequential"))
    return bad("header's \"mode\" must be \"float\" or \"sequential\"");
  info.mode = mode->str();
  if (std::optional<StringRef> q = root->getString("quantization"))
    info.quantization = q->str();
  return llvm::Error::success();
}

/// Reads element `i` of the header's "entries" (`value`) into `entry`, its
/// data offset into `offset` and its checksum into `hash`. `seen` collects
/// the (layer, role) pairs of the entries read so far.
llvm::Error readEntry(StringRef path, size_t i, const llvm::json::Value &value,
                      int64_t numLayers,
                      std::set<std::pair<int64_t, std::string>> &seen,
                      CalibrationEntry &entry, int64_t &offset,
                      uint64_t &hash) {
  auto entryError = [&](const Twine &rule) {
    return fileError(path, "entry " + Twine(i) + ": " + rule);
  };
  const llvm::json::Object *obj = value.getAsObject();
  if (!obj)
    return entryError("not an object");
  std::optional<int64_t> layer = obj->getInteger("layer");
  if (!layer || *layer < -1 || *layer >= numLayers)
    return entryError("\"layer\" must be -1 (classifier) or in 0.." +
                      Twine(numLayers - 1));
  entry.layer = *layer;
  if (!getCount(*obj, "cols", entry.cols, kMaxCols) || entry.cols < 1)
    return entryError("\"cols\" must be in 1.." + Twine(kMaxCols));
  if (!getCount(*obj, "tokens", entry.tokens) ||
      !getCount(*obj, "offset", offset))
    return entryError("needs non-negative \"tokens\" and \"offset\"");
  const llvm::json::Array *roles = obj->getArray("roles");
  if (!roles || roles->empty())
    return entryError("needs a non-empty \"roles\" array");
  for (const llvm::json::Value &r : *roles) {
    std::optional<StringRef> role = r.getAsString();
    if (!role || !isCalibrationRole(*role))
      return entryError("unknown role (expected q k v o gate up down "
                        "classifier)");
    if (!seen.insert({entry.layer, role->str()}).second)
      return entryError("role '" + *role + "' of layer " + Twine(entry.layer) +
                        " recorded twice");
    entry.roles.push_back(role->str());
  }
  std::optional<StringRef> checksum = obj->getString("checksum");
  if (!checksum || checksum->getAsInteger(16, hash))
    return entryError("needs a hexadecimal \"checksum\"");
  return llvm::Error::success();
}
} // namespace

llvm::Expected<CalibrationFile> CalibrationFile::open(StringRef path) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buf =
      ::qopt::model::openRegularFile(path, "calibration file");
  if (!buf)
    return buf.takeError();
  CalibrationFile file;
  file.filePath = path.str();
  file.buffer = std::move(*buf);
  StringRef data = file.buffer->getBuffer();
  auto bad = [&](const Twine &rule) { return fileError(path, rule); };
  uint64_t headerBytes = 0;
  llvm::Expected<llvm::json::Value> parsed =
      readHeaderJSON(path, data, headerBytes);
  if (!parsed)
    return parsed.takeError();
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root || root->getString("format") != StringRef("qopt-calibration"))
    return bad("header is not a qopt-calibration object");
  if (llvm::Error err = readInfo(path, root, file.header))
    return std::move(err);

  const llvm::json::Array *entries = root->getArray("entries");
  if (!entries || entries->size() > kMaxEntries)
    return bad("header needs an \"entries\" array of at most " +
               Twine(kMaxEntries) + " entries");
  uint64_t dataStart = kPrefixBytes + llvm::alignTo(headerBytes, 8);
  if (dataStart > data.size())
    return bad("header padding runs past the end of the file");
  uint64_t dataBytes = data.size() - dataStart;
  uint64_t expectedOffset = 0;
  std::set<std::pair<int64_t, std::string>> seen;
  for (auto [i, value] : llvm::enumerate(*entries)) {
    auto entryError = [&](const Twine &rule) {
      return bad("entry " + Twine(i) + ": " + rule);
    };
    CalibrationEntry entry;
    int64_t offset;
    uint64_t hash;
    if (llvm::Error err = readEntry(path, i, value, file.header.model.numLayers,
                                    seen, entry, offset, hash))
      return std::move(err);
    uint64_t bytes = packedCount(entry.cols) * sizeof(double);
    if (static_cast<uint64_t>(offset) != expectedOffset)
      return entryError("offset " + Twine(offset) +
                        " overlaps or leaves a "
                        "gap (expected " +
                        Twine(expectedOffset) + ")");
    if (bytes > dataBytes - expectedOffset)
      return entryError(Twine(entry.cols) + " columns need " + Twine(bytes) +
                        " bytes past offset " + Twine(offset) +
                        ", the data section has " + Twine(dataBytes));
    expectedOffset += bytes;
    file.offsets.push_back(dataStart + offset);
    file.checksums.push_back(hash);
    file.list.push_back(std::move(entry));
  }
  if (expectedOffset != dataBytes)
    return bad("data section has " + Twine(dataBytes - expectedOffset) +
               " bytes after the last entry (truncated header or trailing "
               "data)");
  return std::move(file);
}

int64_t CalibrationFile::find(int64_t layer, StringRef role) const {
  for (auto [i, entry] : llvm::enumerate(list))
    if (entry.layer == layer && llvm::is_contained(entry.roles, role))
      return i;
  return -1;
}

llvm::Error CalibrationFile::entryError(int64_t index,
                                        const Twine &rule) const {
  const CalibrationEntry &entry = list[index];
  return makeError("calibration file '" + filePath + "': entry " +
                   Twine(index) + " (layer " + Twine(entry.layer) + ", " +
                   llvm::join(entry.roles, ",") + "): " + rule);
}

llvm::Error CalibrationFile::checkChecksum(int64_t index) const {
  uint64_t bytes = packedCount(list[index].cols) * sizeof(double);
  const char *base = buffer->getBufferStart() + offsets[index];
  if (llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(
          reinterpret_cast<const uint8_t *>(base), bytes)) != checksums[index])
    return entryError(index, "data checksum mismatch (the file is corrupt)");
  return llvm::Error::success();
}

llvm::Error CalibrationFile::verifyChecksums() const {
  for (size_t i = 0; i < list.size(); ++i)
    if (llvm::Error err = checkChecksum(i))
      return err;
  return llvm::Error::success();
}

llvm::Expected<std::vector<double>>
CalibrationFile::hessian(int64_t index) const {
  int64_t k = list[index].cols;
  const char *base = buffer->getBufferStart() + offsets[index];
  auto bad = [&](const Twine &rule) { return entryError(index, rule); };
  if (llvm::Error err = checkChecksum(index))
    return std::move(err);
  std::vector<double> h(static_cast<size_t>(k * k));
  const char *p = base;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i; j < k; ++j, p += sizeof(double)) {
      double v;
      std::memcpy(&v, p, sizeof(v));
      if (!std::isfinite(v))
        return bad("H[" + Twine(i) + "][" + Twine(j) + "] is not finite");
      if (i == j && v < 0)
        return bad("negative diagonal H[" + Twine(i) + "][" + Twine(i) + "]");
      h[i * k + j] = h[j * k + i] = v;
    }
  return h;
}

llvm::Error CalibrationFile::verify() const {
  for (size_t i = 0; i < list.size(); ++i) {
    llvm::Expected<std::vector<double>> h = hessian(i);
    if (!h)
      return h.takeError();
  }
  return llvm::Error::success();
}
