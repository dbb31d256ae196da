//===- FormatTest.cpp - Tests of model format detection ---------*- C++ -*-===//
//
// detectModelFormat on files built in the test: each format by its magic
// or header shape, whatever the file's name, and an unknown file refused
// with its first bytes.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Format.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include <cstring>
#include <string>

using namespace qopt::model;
using ::testing::HasSubstr;

namespace {

/// A temporary directory, removed with its files.
struct TempDir {
  std::string path;
  TempDir() {
    llvm::SmallString<128> p;
    EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("qopt-format", p));
    path = std::string(p);
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path); }
  std::string file(llvm::StringRef name) const {
    llvm::SmallString<128> p(path);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }
};

static void writeFile(const std::string &path, const std::string &bytes) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  ASSERT_FALSE(ec);
  os << bytes;
}

static std::string le32(uint32_t v) { return std::string((char *)&v, 4); }
static std::string le64(uint64_t v) { return std::string((char *)&v, 8); }

/// The detected format of a file holding `bytes`, named `name`.
static ModelFormat detect(const TempDir &dir, const std::string &name,
                          const std::string &bytes) {
  writeFile(dir.file(name), bytes);
  llvm::Expected<ModelFormat> format = detectModelFormat(dir.file(name));
  if (!format) {
    ADD_FAILURE() << llvm::toString(format.takeError());
    return ModelFormat::Unknown;
  }
  return *format;
}

TEST(FormatTest, MagicBytesWhateverTheName) {
  TempDir dir;
  EXPECT_EQ(detect(dir, "a.bin", "GGUF" + le32(3) + std::string(32, '\0')),
            ModelFormat::GGUF);
  std::string header = "{\"__metadata__\":{}}";
  EXPECT_EQ(detect(dir, "weights", le64(header.size()) + header),
            ModelFormat::Safetensors);
  EXPECT_EQ(detect(dir, "m.gguf", std::string("ML\xEFR", 4) + "\x06rest"),
            ModelFormat::MLIRBytecode);
  EXPECT_EQ(detect(dir, "m.txt", "  module {\n}\n"), ModelFormat::MLIRText);
  EXPECT_EQ(detect(dir, "m2.txt", "// a comment\nfunc.func @f()"),
            ModelFormat::MLIRText);
  EXPECT_EQ(detect(dir, "m3.txt", "#map = affine_map<(d0) -> (d0)>"),
            ModelFormat::MLIRText);
}

TEST(FormatTest, Llama2cByHeaderShape) {
  TempDir dir;
  std::string header;
  for (int32_t v : {64, 172, 5, 8, 4, -512, 512})
    header += le32(static_cast<uint32_t>(v));
  EXPECT_EQ(detect(dir, "model.dat", header), ModelFormat::Llama2c);
  // The versioned exports, refused later by the reader with a message.
  EXPECT_EQ(detect(dir, "v1.bin", le32(0x616b3432) + le32(1)),
            ModelFormat::Llama2c);
  // A dimension past 2^24 is no llama2.c header.
  EXPECT_EQ(detect(dir, "big.bin", le32((1u << 24) + 1) + le32(1)),
            ModelFormat::Unknown);
  EXPECT_EQ(detect(dir, "zero.bin", le32(0) + le32(1)), ModelFormat::Unknown);
}

TEST(FormatTest, UnknownFilesAreRefused) {
  TempDir dir;
  EXPECT_EQ(detect(dir, "notes.bin", "hello world\n"), ModelFormat::Unknown);
  EXPECT_EQ(detect(dir, "model.pth", std::string("PK\x03\x04", 4) + "zip"),
            ModelFormat::Unknown);
  EXPECT_EQ(detect(dir, "tiny.bin", "ab"), ModelFormat::Unknown);
  EXPECT_EQ(detect(dir, "empty.bin", ""), ModelFormat::Unknown);
  std::string message =
      llvm::toString(unknownFormatError(dir.file("notes.bin")));
  EXPECT_THAT(message, HasSubstr("'" + dir.file("notes.bin") +
                                 "' is not a model qopt reads (first bytes "
                                 "68 65 6c 6c 6f 20 77 6f)"));
  EXPECT_THAT(llvm::toString(unknownFormatError(dir.file("empty.bin"))),
              HasSubstr("(an empty file)"));
  // JSON is a Hugging Face file only under its names.
  EXPECT_EQ(detect(dir, "other.json", "{}"), ModelFormat::Unknown);
  EXPECT_EQ(detect(dir, "config.json", "{\"model_type\": \"llama\"}"),
            ModelFormat::HuggingFaceJSON);
}

TEST(FormatTest, DirectoriesAndMissingPaths) {
  TempDir dir;
  llvm::Expected<ModelFormat> bare = detectModelFormat(dir.path);
  ASSERT_TRUE(bool(bare));
  EXPECT_EQ(*bare, ModelFormat::Directory);
  writeFile(dir.file("config.json"), "{}");
  llvm::Expected<ModelFormat> hf = detectModelFormat(dir.path);
  ASSERT_TRUE(bool(hf));
  EXPECT_EQ(*hf, ModelFormat::HuggingFaceDirectory);
  EXPECT_EQ(llvm::toString(detectModelFormat(dir.file("absent")).takeError()),
            "checkpoint '" + dir.file("absent") + "' does not exist");
  EXPECT_EQ(llvm::toString(detectModelFormat("/dev/zero").takeError()),
            "checkpoint '/dev/zero' is neither a regular file nor a "
            "directory");
}

} // namespace
