//===- Format.cpp - Recognize a model file by its contents ------*- C++ -*-===//
//
// Magic bytes and header shapes of the model formats qopt reads. Reads at
// most the first 64 bytes of a regular file.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Format.h"

#include "ModelUtils.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace qopt::model;
using namespace qopt::model::detail;

/// How many bytes detection reads.
static constexpr uint64_t kProbeBytes = 64;
/// The largest first int32 (the model dimension) a llama2.c legacy header
/// may have; text and the other formats' headers start far above it.
static constexpr int64_t kMaxLlama2cDim = int64_t(1) << 24;

llvm::StringRef qopt::model::modelFormatName(ModelFormat format) {
  switch (format) {
  case ModelFormat::GGUF:
    return "GGUF";
  case ModelFormat::Safetensors:
    return "safetensors";
  case ModelFormat::HuggingFaceJSON:
    return "Hugging Face JSON";
  case ModelFormat::HuggingFaceDirectory:
    return "Hugging Face directory";
  case ModelFormat::Llama2c:
    return "llama2.c";
  case ModelFormat::MLIRBytecode:
    return "MLIR bytecode";
  case ModelFormat::MLIRText:
    return "MLIR text";
  case ModelFormat::Directory:
    return "directory";
  case ModelFormat::Unknown:
    break;
  }
  return "unknown";
}

/// The first kProbeBytes bytes of the regular file `path` (all of it if it
/// is shorter; empty if it cannot be read).
static std::string probe(llvm::StringRef path) {
  uint64_t size = 0;
  if (llvm::sys::fs::file_size(path, size) || size == 0)
    return "";
  auto buffer = llvm::MemoryBuffer::getFileSlice(
      path, std::min(size, kProbeBytes), 0, /*IsVolatile=*/false);
  if (!buffer)
    return "";
  return (*buffer)->getBuffer().str();
}

/// Whether `head` starts like MLIR text: after whitespace, a module, an
/// operation in generic form, a comment, or an attribute or type alias.
static bool looksLikeMLIRText(llvm::StringRef head) {
  head = head.ltrim();
  for (llvm::StringRef start :
       {"module", "builtin.module", "\"builtin.module\"", "func.func", "//",
        "#", "!", "{-#"})
    if (head.starts_with(start))
      return true;
  return false;
}

/// Whether `head` is the start of a llama2.c checkpoint: the versioned
/// exports' magic, or a legacy header whose first int32 (dim) is a
/// plausible model dimension.
static bool looksLikeLlama2c(llvm::StringRef head) {
  if (head.size() < 4)
    return false;
  const uint8_t *p = reinterpret_cast<const uint8_t *>(head.data());
  if (static_cast<uint32_t>(loadI32(p)) ==
      0x616b3432u) // "ak42" read as a little-endian u32
    return true;
  int64_t dim = loadI32(p);
  return dim >= 1 && dim <= kMaxLlama2cDim;
}

/// Whether `head` starts a safetensors file of `fileSize` bytes: a u64
/// header length that fits the file, then a JSON object.
static bool looksLikeSafetensors(llvm::StringRef head, uint64_t fileSize) {
  if (head.size() < 9 || head[8] != '{')
    return false;
  uint64_t headerBytes =
      loadU64(reinterpret_cast<const uint8_t *>(head.data()));
  return headerBytes >= 2 && headerBytes <= fileSize - 8;
}

llvm::Expected<ModelFormat>
qopt::model::detectModelFormat(llvm::StringRef path) {
  llvm::sys::fs::file_status status;
  if (llvm::sys::fs::status(path, status))
    return makeError("checkpoint '" + path + "' does not exist");
  if (status.type() == llvm::sys::fs::file_type::directory_file) {
    llvm::SmallString<256> config(path);
    llvm::sys::path::append(config, "config.json");
    return llvm::sys::fs::exists(config) ? ModelFormat::HuggingFaceDirectory
                                         : ModelFormat::Directory;
  }
  if (status.type() != llvm::sys::fs::file_type::regular_file)
    return makeError("checkpoint '" + path +
                     "' is neither a regular file nor a directory");

  std::string bytes = probe(path);
  llvm::StringRef head = bytes;
  llvm::StringRef name = llvm::sys::path::filename(path);
  if (head.starts_with("GGUF"))
    return ModelFormat::GGUF;
  if (head.starts_with("ML\xEFR"))
    return ModelFormat::MLIRBytecode;
  // A safetensors file whose header is damaged still goes to the Hugging
  // Face reader, which says what is wrong with it.
  if (looksLikeSafetensors(head, status.getSize()) ||
      name.ends_with(".safetensors"))
    return ModelFormat::Safetensors;
  if ((name == "config.json" || name.ends_with(".safetensors.index.json")) &&
      head.ltrim().starts_with("{"))
    return ModelFormat::HuggingFaceJSON;
  if (looksLikeMLIRText(head))
    return ModelFormat::MLIRText;
  if (looksLikeLlama2c(head))
    return ModelFormat::Llama2c;
  return ModelFormat::Unknown;
}

llvm::Error qopt::model::unknownFormatError(llvm::StringRef path) {
  std::string bytes = probe(path);
  std::string hex;
  llvm::raw_string_ostream os(hex);
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 8); ++i)
    os << (i ? " " : "") << llvm::format_hex_no_prefix(uint8_t(bytes[i]), 2);
  return makeError(
      "'" + path + "' is not a model qopt reads (" +
      (bytes.empty() ? std::string("an empty file") : "first bytes " + hex) +
      "): expected a GGUF file, a safetensors file, a Hugging Face "
      "directory or its config.json, a llama2.c checkpoint, or a qopt "
      "module (MLIR text or bytecode)");
}
