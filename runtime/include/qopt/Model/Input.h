//===- Input.h - Reading untrusted files ------------------------*- C++ -*-===//
//
// Model files, tokenizers, artifact manifests and texts come from strangers,
// so every reader starts here:
//  - files must be regular files (a device such as /dev/zero, or a FIFO,
//    would never end) and are mapped, never read past their size;
//  - JSON is scanned before llvm::json::parse, which recurses once per
//    nesting level (deep nesting overflows the stack) and keeps the last of
//    two equal keys silently: nesting is bounded and duplicate keys refused;
//  - texts are read one line at a time through a fixed buffer, with a bound
//    on the line length, so memory does not grow with the file.
// Depends on LLVM Support only.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_MODEL_INPUT_H
#define QOPT_MODEL_INPUT_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qopt {
namespace model {

/// Deepest nesting of JSON arrays and objects a reader accepts. Real files
/// nest a few levels (tokenizer.json: about 6).
constexpr unsigned kMaxJSONDepth = 256;

/// Largest JSON document a reader accepts, in bytes: the safetensors
/// format's own limit on its header (100 MB), which every config.json,
/// tokenizer.json, index and manifest is far below.
constexpr uint64_t kMaxJSONBytes = 100'000'000;

/// Maps the whole of `path`, which must be a regular file. `what` describes
/// the file in errors ("cannot open <what> '<path>': <reason>", "<what>
/// '<path>' is not a regular file (<kind>)"); an empty `what` leaves it out.
/// A text buffer (`isText`) is null-terminated.
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
openRegularFile(llvm::StringRef path, llvm::StringRef what,
                bool isText = false);

/// Parses the JSON document `text` after checking that it nests at most
/// kMaxJSONDepth levels; then refuses an object with two equal keys
/// (compared after unescaping, as llvm::json does). `subject` starts every
/// error message: "<subject> is not valid JSON: ...", "<subject> nests JSON
/// arrays and objects deeper than 256 levels (at byte N)", "<subject> has
/// the key \"K\" twice in one object (at byte N)".
llvm::Expected<llvm::json::Value> parseJSON(llvm::StringRef text,
                                            const llvm::Twine &subject);

/// Reads the regular file at `path` (at most kMaxJSONBytes) and parses it
/// with parseJSON. Errors name the file as "<what> '<path>'" ("tokenizer
/// '<path>' is not valid JSON: ..."), or "'<path>'" with an empty `what`.
llvm::Expected<llvm::json::Value> readJSONFile(llvm::StringRef path,
                                               llvm::StringRef what = "");

/// Reads a text file one line at a time through a fixed buffer. Lines end
/// at '\n', which is dropped ("\r\n" keeps its '\r'); a last line without
/// '\n' counts. Memory stays bounded by the longest line, and a line longer
/// than the limit is an error naming the file and the line number.
class LineReader {
public:
  /// Opens `path`, which must be a regular file, for lines of at most
  /// `maxLineBytes` bytes.
  static llvm::Expected<std::unique_ptr<LineReader>>
  open(llvm::StringRef path, uint64_t maxLineBytes);
  ~LineReader();
  LineReader(const LineReader &) = delete;
  LineReader &operator=(const LineReader &) = delete;

  /// Reads the next line into `line`. Returns false (and clears `line`) at
  /// the end of the file, or an error for a line over the limit or a read
  /// failure.
  llvm::Expected<bool> next(std::string &line);

  /// The 1-based number of the line `next` returned last.
  uint64_t lineNumber() const { return lines; }
  /// Bytes consumed so far and the size of the file.
  uint64_t bytesRead() const { return consumed; }
  uint64_t fileSize() const { return size; }

private:
  LineReader(std::string path, llvm::sys::fs::file_t file, uint64_t size,
             uint64_t maxLineBytes);

  std::string path;
  llvm::sys::fs::file_t file;
  uint64_t size, maxLineBytes;
  std::vector<char> buffer;
  size_t begin = 0, end = 0; ///< unread bytes in `buffer`
  bool atEnd = false;
  uint64_t lines = 0, consumed = 0;
};

} // namespace model
} // namespace qopt

#endif // QOPT_MODEL_INPUT_H
