//===- CalibrationTest.cpp - HessianAccumulator and .calib ------*- C++ -*-===//
//
// The accumulator against a direct double sum, the file round trip, and the
// corruptions a reader must refuse: every byte of the prefix, header and
// data checked by flipping or truncating it.
//
//===----------------------------------------------------------------------===//

#include "qopt/Quant/Calibration.h"
#include "qopt/Quant/Methods.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace qopt::quant;

namespace {
/// A temporary file removed at the end of the test.
struct TempPath {
  llvm::SmallString<128> path;
  TempPath() {
    int fd;
    EXPECT_FALSE(
        llvm::sys::fs::createTemporaryFile("qopt-calib", "calib", fd, path));
    llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  }
  ~TempPath() { llvm::sys::fs::remove(path); }
};

std::vector<float> randomRows(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> x(rows * cols);
  for (float &v : x)
    v = normal(gen);
  return x;
}

/// Writes a two-entry file (q/k/v of layer 0 with 6 columns, the classifier
/// with 4) and returns its matrices.
std::vector<std::vector<double>> writeSample(llvm::StringRef path) {
  HessianAccumulator a(6), b(4);
  std::vector<float> x = randomRows(10, 6, 1), y = randomRows(7, 4, 2);
  a.add(x.data(), 10, 6);
  b.add(y.data(), 7, 4);
  CalibrationInfo info;
  info.model = {6, 12, 1, 2, 1, 32};
  info.source = "model.bin";
  info.text = "calib.txt";
  info.tokens = 17;
  info.sequences = 3;
  CalibrationEntry e0{0, {"k", "q", "v"}, 6, a.tokens()};
  CalibrationEntry e1{-1, {"classifier"}, 4, b.tokens()};
  std::vector<std::vector<double>> packed = {a.packedUpper(), b.packedUpper()};
  EXPECT_FALSE(writeCalibrationFile(path, info, {e0, e1}, packed));
  return {a.hessian(), b.hessian()};
}

std::string readAll(llvm::StringRef path) {
  auto buf = llvm::MemoryBuffer::getFile(path);
  EXPECT_TRUE(bool(buf));
  return (*buf)->getBuffer().str();
}

void writeAll(llvm::StringRef path, llvm::StringRef bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  ASSERT_FALSE(ec);
  os << bytes;
}

/// Opens `path` and loads every matrix; the first error, or "".
std::string openAndVerify(llvm::StringRef path) {
  llvm::Expected<CalibrationFile> file = CalibrationFile::open(path);
  if (!file)
    return llvm::toString(file.takeError());
  if (llvm::Error err = file->verify())
    return llvm::toString(std::move(err));
  return "";
}
} // namespace

TEST(HessianAccumulator, MatchesDirectSum) {
  const int64_t rows = 37, cols = 9;
  std::vector<float> x = randomRows(rows, cols + 3, 7);
  HessianAccumulator acc(cols);
  // Two calls, a strided view (every row has 3 extra values).
  acc.add(x.data(), 20, cols + 3);
  acc.add(x.data() + 20 * (cols + 3), rows - 20, cols + 3);
  std::vector<double> h = acc.hessian();
  EXPECT_EQ(acc.tokens(), rows);
  for (int64_t i = 0; i < cols; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double direct = 0;
      for (int64_t r = 0; r < rows; ++r)
        direct += double(x[r * (cols + 3) + i]) * double(x[r * (cols + 3) + j]);
      EXPECT_NEAR(h[i * cols + j], direct, 1e-9 * (1 + std::fabs(direct)));
      EXPECT_EQ(h[i * cols + j], h[j * cols + i]);
    }
  acc.reset();
  EXPECT_EQ(acc.tokens(), 0);
  for (double v : acc.hessian())
    EXPECT_EQ(v, 0.0);
}

TEST(CalibrationFile, RoundTrip) {
  TempPath tmp;
  std::vector<std::vector<double>> h = writeSample(tmp.path);
  llvm::Expected<CalibrationFile> file = CalibrationFile::open(tmp.path);
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  const CalibrationInfo &info = file->info();
  EXPECT_EQ(info.model, (CalibrationModel{6, 12, 1, 2, 1, 32}));
  EXPECT_EQ(info.source, "model.bin");
  EXPECT_EQ(info.text, "calib.txt");
  EXPECT_EQ(info.tokens, 17);
  EXPECT_EQ(info.sequences, 3);
  EXPECT_EQ(info.mode, "float");
  ASSERT_EQ(file->entries().size(), 2u);
  EXPECT_EQ(file->find(0, "q"), 0);
  EXPECT_EQ(file->find(0, "v"), 0);
  EXPECT_EQ(file->find(-1, "classifier"), 1);
  EXPECT_EQ(file->find(0, "o"), -1);
  EXPECT_EQ(file->entries()[0].tokens, 10);
  for (int64_t i = 0; i < 2; ++i) {
    llvm::Expected<std::vector<double>> loaded = file->hessian(i);
    ASSERT_TRUE(bool(loaded)) << llvm::toString(loaded.takeError());
    EXPECT_EQ(*loaded, h[i]); // bit for bit
  }
}

TEST(CalibrationFile, RejectsEveryFlippedByte) {
  TempPath tmp, bad;
  writeSample(tmp.path);
  std::string bytes = readAll(tmp.path);
  // Every byte of the file is covered by the magic, version, lengths, a
  // checksum or the checked zero padding... except the 4 reserved bytes at
  // offset 12 and the header's padding, which carry no information.
  uint64_t headerBytes;
  std::memcpy(&headerBytes, bytes.data() + 16, 8);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if ((i >= 12 && i < 16) ||
        (i >= 32 + headerBytes && i < 32 + ((headerBytes + 7) & ~7ull)))
      continue;
    std::string mutated = bytes;
    mutated[i] ^= 0x20;
    writeAll(bad.path, mutated);
    EXPECT_NE(openAndVerify(bad.path), "") << "flipped byte " << i;
  }
}

TEST(CalibrationFile, RejectsTruncationAndTrailingBytes) {
  TempPath tmp, bad;
  writeSample(tmp.path);
  std::string bytes = readAll(tmp.path);
  for (size_t n : {size_t(0), size_t(7), size_t(31), size_t(40),
                   bytes.size() / 2, bytes.size() - 8, bytes.size() - 1}) {
    writeAll(bad.path, llvm::StringRef(bytes).take_front(n));
    EXPECT_NE(openAndVerify(bad.path), "") << "truncated to " << n;
  }
  writeAll(bad.path, bytes + std::string(8, '\0'));
  std::string error = openAndVerify(bad.path);
  EXPECT_NE(error.find("after the last entry"), std::string::npos) << error;
}

TEST(CalibrationFile, ClearErrors) {
  TempPath bad;
  writeAll(bad.path, "GGUF and then some bytes that are not a calibration");
  std::string error = openAndVerify(bad.path);
  EXPECT_NE(error.find("not a qopt calibration file"), std::string::npos)
      << error;
  EXPECT_NE(error.find(bad.path.str().str()), std::string::npos) << error;
  error = openAndVerify("/nonexistent/x.calib");
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

TEST(CalibrationFile, RejectsNonFiniteAndNegativeDiagonal) {
  TempPath tmp;
  CalibrationInfo info;
  info.model = {2, 2, 1, 1, 1, 4};
  CalibrationEntry e{0, {"o"}, 2, 1};
  // Written with valid checksums, so only the value checks can refuse it.
  ASSERT_FALSE(writeCalibrationFile(tmp.path, info, {e}, {{1.0, NAN, 1.0}}));
  std::string error = openAndVerify(tmp.path);
  EXPECT_NE(error.find("not finite"), std::string::npos) << error;
  ASSERT_FALSE(writeCalibrationFile(tmp.path, info, {e}, {{-1.0, 0.0, 1.0}}));
  error = openAndVerify(tmp.path);
  EXPECT_NE(error.find("negative diagonal"), std::string::npos) << error;
}

TEST(CalibrationFile, WriterRefusesMismatchedSizes) {
  TempPath tmp;
  CalibrationInfo info;
  CalibrationEntry e{0, {"o"}, 3, 1};
  llvm::Error err = writeCalibrationFile(tmp.path, info, {e}, {{1.0, 2.0}});
  ASSERT_TRUE(bool(err));
  llvm::consumeError(std::move(err));
}

TEST(Methods, DispatchMatchesTheDirectCalls) {
  const int64_t rows = 8, cols = 64;
  std::vector<float> w = randomRows(rows, cols, 3);
  std::vector<float> x = randomRows(200, cols, 4);
  HessianAccumulator acc(cols);
  acc.add(x.data(), 200, cols);
  std::vector<double> h = acc.hessian();
  MethodOptions options;
  options.config.bits = 4;
  options.method = Method::GPTQ;
  llvm::Expected<QuantizedWeight> viaMethod =
      quantizeWithMethod(w, rows, cols, h, nullptr, options);
  llvm::Expected<QuantizedWeight> direct =
      gptqQuantize(w, rows, cols, h, options.config, options.gptq);
  ASSERT_TRUE(bool(viaMethod) && bool(direct));
  EXPECT_EQ(viaMethod->codes, direct->codes);
  EXPECT_EQ(viaMethod->scales, direct->scales);
  // Dequantizing at the parent width is a * (q - z); at a narrower width,
  // the slice.
  options.config.bits = 8;
  options.method = Method::RTN;
  llvm::Expected<QuantizedWeight> rtn =
      quantizeWithMethod(w, rows, cols, {}, nullptr, options);
  ASSERT_TRUE(bool(rtn));
  std::vector<float> full = dequantizeWeight(*rtn, options.config);
  std::vector<float> two = dequantizeWeight(*rtn, options.config, 2);
  double errFull = 0, errTwo = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    errFull += std::fabs(full[i] - w[i]);
    errTwo += std::fabs(two[i] - w[i]);
  }
  EXPECT_LT(errFull, errTwo);
  EXPECT_LT(errFull / w.size(), 0.02);
  // clip needs H; gptq options are checked.
  options.clip = true;
  options.method = Method::GPTQ;
  llvm::Error err = checkMethodOptions(options);
  ASSERT_TRUE(bool(err));
  llvm::consumeError(std::move(err));
}
