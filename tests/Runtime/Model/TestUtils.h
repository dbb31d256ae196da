//===- TestUtils.h - Helpers for the qopt_model unit tests ------*- C++ -*-===//
//
// Temporary directories, file writing, a minimal safetensors writer and
// error-message helpers shared by the qopt_model tests.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TESTS_RUNTIME_MODEL_TESTUTILS_H
#define QOPT_TESTS_RUNTIME_MODEL_TESTUTILS_H

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define QOPT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QOPT_TEST_SANITIZED 1
#endif
#endif

namespace qopt {
namespace model {
namespace test {

/// The factor on the wall-clock bounds of timing tests: instrumented code
/// (the sanitizer suite, docs/hardening.md) runs several times slower. The
/// bounds tell linear from quadratic time, which a constant factor keeps.
#ifdef QOPT_TEST_SANITIZED
constexpr double kTimeScale = 5.0;
#else
constexpr double kTimeScale = 1.0;
#endif

/// The shared directory (../shared from the project root).
inline std::string sharedDir() { return QOPT_SHARED_DIR; }

/// `dir`/`name`.
inline std::string joinPath(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> p(dir);
  llvm::sys::path::append(p, name);
  return std::string(p);
}

/// A fresh directory that is removed with its contents on destruction.
class TempDir {
public:
  TempDir() {
    llvm::SmallString<256> p;
    std::error_code ec =
        llvm::sys::fs::createUniqueDirectory("qopt-model-test", p);
    EXPECT_FALSE(ec) << ec.message();
    path = std::string(p);
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path); }
  /// `name` inside the directory.
  std::string file(llvm::StringRef name) const { return joinPath(path, name); }
  std::string path;
};

/// Writes `bytes` to `path`, replacing it.
inline void writeFile(const std::string &path, llvm::StringRef bytes) {
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  os.write(bytes.data(), bytes.size());
  ASSERT_TRUE(os.good()) << "cannot write " << path;
}

/// Writes `obj` to `path` as JSON text.
inline void writeJson(const std::string &path, llvm::json::Value obj) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << obj;
  os.flush();
  writeFile(path, text);
}

/// Extends (or cuts) the file at `path` to `size` bytes; the bytes added
/// are a hole, so a huge file costs no disk.
inline void resizeFile(const std::string &path, uint64_t size) {
  int fd;
  ASSERT_FALSE(
      llvm::sys::fs::openFileForWrite(path, fd, llvm::sys::fs::CD_OpenAlways));
  std::error_code ec = llvm::sys::fs::resize_file_sparse(fd, size);
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  ASSERT_FALSE(ec) << ec.message();
}

/// Appends the raw bytes of `v` to `out`.
template <typename T> void appendRaw(std::string &out, const T &v) {
  out.append(reinterpret_cast<const char *>(&v), sizeof(T));
}

/// The message of a failed Expected/Error ("" and a test failure on
/// success).
template <typename T> std::string errorOf(llvm::Expected<T> &&value) {
  if (value) {
    ADD_FAILURE() << "expected an error";
    return "";
  }
  return llvm::toString(value.takeError());
}

/// Unwraps an Expected, failing the test with its message on error.
template <typename T> T unwrap(llvm::Expected<T> &&value) {
  if (!value) {
    ADD_FAILURE() << llvm::toString(value.takeError());
    return T();
  }
  return std::move(*value);
}

/// A minimal safetensors writer: tensors are appended in order.
class SafetensorsWriter {
public:
  /// Adds a tensor with raw `bytes` (dtype string as in the format).
  void add(llvm::StringRef name, llvm::StringRef dtype,
           std::vector<int64_t> shape, llvm::StringRef bytes) {
    llvm::json::Array jsonShape;
    for (int64_t d : shape)
      jsonShape.push_back(d);
    int64_t begin = data.size();
    data += bytes.str();
    // Owning strings: json::ObjectKey/Value do not copy a StringRef.
    header[name.str()] = llvm::json::Object{
        {"dtype", dtype.str()},
        {"shape", std::move(jsonShape)},
        {"data_offsets", llvm::json::Array{begin, int64_t(data.size())}}};
  }
  /// Adds an f32 tensor.
  void addF32(llvm::StringRef name, std::vector<int64_t> shape,
              const std::vector<float> &values) {
    add(name, "F32", std::move(shape),
        llvm::StringRef(reinterpret_cast<const char *>(values.data()),
                        values.size() * sizeof(float)));
  }
  /// The serialized file (header padded with spaces to 8 bytes).
  std::string str() const {
    llvm::json::Object h = header;
    h["__metadata__"] = llvm::json::Object{{"format", "pt"}};
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::json::Value(std::move(h));
    os.flush();
    while (text.size() % 8)
      text.push_back(' ');
    std::string out;
    appendRaw(out, uint64_t(text.size()));
    return out + text + data;
  }
  llvm::json::Object header;
  std::string data;
};

} // namespace test
} // namespace model
} // namespace qopt

#endif // QOPT_TESTS_RUNTIME_MODEL_TESTUTILS_H
