//===- Input.cpp - Reading untrusted files ----------------------*- C++ -*-===//
//
// Regular-file checks, the JSON pre-scan (nesting depth, duplicate keys)
// and the bounded line reader declared in Input.h.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Input.h"

#include "ModelUtils.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/ConvertUTF.h"

#include <algorithm>
#include <cstring>

using namespace qopt::model;
using namespace qopt::model::detail;

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

/// What a file that is not a regular file is, for error messages.
static llvm::StringRef fileKind(llvm::sys::fs::file_type type) {
  using llvm::sys::fs::file_type;
  switch (type) {
  case file_type::directory_file:
    return "a directory";
  case file_type::character_file:
    return "a character device";
  case file_type::block_file:
    return "a block device";
  case file_type::fifo_file:
    return "a FIFO";
  case file_type::socket_file:
    return "a socket";
  default:
    return "not a regular file";
  }
}

/// `<what> '<path>'`, or `'<path>'` without a description.
static std::string describe(llvm::StringRef path, llvm::StringRef what) {
  return ((what.empty() ? "" : what + " ") + "'" + path + "'").str();
}

/// Opens `path` for reading after checking, before and after opening, that
/// it is a regular file (checking first means a FIFO is never opened, which
/// would block). Returns the descriptor and the file's size.
static llvm::Error openForRead(llvm::StringRef path, llvm::StringRef what,
                               bool isText, llvm::sys::fs::file_t &file,
                               uint64_t &size) {
  std::string subject = describe(path, what);
  auto cannotOpen = [&](std::error_code ec) {
    return makeError("cannot open " + subject + ": " + ec.message());
  };
  auto notRegular = [&](llvm::sys::fs::file_type type) {
    return makeError(subject + " is not a regular file (it is " +
                     fileKind(type) + ")");
  };
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status))
    return cannotOpen(ec);
  if (status.type() != llvm::sys::fs::file_type::regular_file)
    return notRegular(status.type());
  llvm::Expected<llvm::sys::fs::file_t> opened =
      llvm::sys::fs::openNativeFileForRead(
          path, isText ? llvm::sys::fs::OF_Text : llvm::sys::fs::OF_None);
  if (!opened)
    return cannotOpen(llvm::errorToErrorCode(opened.takeError()));
  file = *opened;
  // The path may have been replaced since the first check.
  if (std::error_code ec = llvm::sys::fs::status(file, status)) {
    llvm::sys::fs::closeFile(file);
    return cannotOpen(ec);
  }
  if (status.type() != llvm::sys::fs::file_type::regular_file) {
    llvm::sys::fs::closeFile(file);
    return notRegular(status.type());
  }
  size = status.getSize();
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
qopt::model::openRegularFile(llvm::StringRef path, llvm::StringRef what,
                             bool isText) {
  llvm::sys::fs::file_t file;
  uint64_t size = 0;
  if (llvm::Error err = openForRead(path, what, isText, file, size))
    return std::move(err);
  llvm::scope_exit close([&] { llvm::sys::fs::closeFile(file); });
  // The size is the one just checked: a file that grows meanwhile is read
  // no further.
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getOpenFile(file, path, size,
                                      /*RequiresNullTerminator=*/isText);
  if (!buffer)
    return makeError("cannot open " + describe(path, what) + ": " +
                     buffer.getError().message());
  return std::move(*buffer);
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

namespace {
/// A single pass over JSON text that finds what llvm::json::parse must not
/// see (nesting deeper than kMaxJSONDepth) or silently resolves (an object
/// with two equal keys). Syntax errors are left to the parser: the scan
/// only tracks brackets, strings and the commas between object members.
class JSONScanner {
public:
  explicit JSONScanner(llvm::StringRef text) : text(text) {}

  /// Scans the text. Returns false if the nesting is too deep (at
  /// `errorOffset`); a duplicate key is recorded and the scan goes on.
  bool scan();

  size_t errorOffset = 0;
  /// The first key seen twice in one object, and where.
  std::optional<std::string> duplicateKey;
  size_t duplicateOffset = 0;

private:
  /// An open array or object.
  struct Frame {
    bool isObject;
    /// The next string is a key (after '{' or a ',' in an object).
    bool expectKey;
    llvm::StringSet<> keys;
  };

  /// The index just past the string whose opening quote is at `open`, or
  /// npos if it is not terminated.
  size_t skipString(size_t open) const;
  /// The string between the quotes at `open` and `close`, unescaped as
  /// llvm::json does.
  std::string unescape(size_t open, size_t close) const;

  llvm::StringRef text;
  std::vector<Frame> stack;
};
} // namespace

size_t JSONScanner::skipString(size_t open) const {
  for (size_t i = open + 1; i < text.size(); ++i) {
    if (text[i] == '\\')
      ++i;
    else if (text[i] == '"')
      return i + 1;
  }
  return llvm::StringRef::npos;
}

/// Appends code point `cp` to `out` as UTF-8.
static void appendUTF8(uint32_t cp, std::string &out) {
  char buf[UNI_MAX_UTF8_BYTES_PER_CODE_POINT];
  char *end = buf;
  if (llvm::ConvertCodePointToUTF8(cp, end))
    out.append(buf, end);
}

std::string JSONScanner::unescape(size_t open, size_t close) const {
  std::string out;
  llvm::StringRef s = text.slice(open + 1, close - 1);
  // Reads 4 hex digits at `i`; false if they are not there.
  auto hex4 = [&](size_t i, uint32_t &value) {
    if (i + 4 > s.size())
      return false;
    value = 0;
    for (size_t k = 0; k < 4; ++k) {
      if (!llvm::isHexDigit(s[i + k]))
        return false;
      value = value * 16 + llvm::hexDigitValue(s[i + k]);
    }
    return true;
  };
  const char *replacement = "\xEF\xBF\xBD"; // U+FFFD
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    char c = s[++i];
    switch (c) {
    case 'b':
      out.push_back('\b');
      continue;
    case 'f':
      out.push_back('\f');
      continue;
    case 'n':
      out.push_back('\n');
      continue;
    case 'r':
      out.push_back('\r');
      continue;
    case 't':
      out.push_back('\t');
      continue;
    case 'u':
      break;
    default: // '"', '\\', '/' (others are syntax errors for the parser)
      out.push_back(c);
      continue;
    }
    // \uXXXX, with surrogate pairs; an unpaired surrogate is U+FFFD, as
    // llvm::json's parser reads it.
    uint32_t first;
    if (!hex4(i + 1, first))
      return out;
    i += 4;
    while (true) {
      if (first < 0xD800 || first >= 0xE000) {
        appendUTF8(first, out);
        break;
      }
      if (first >= 0xDC00 || i + 2 >= s.size() || s[i + 1] != '\\' ||
          s[i + 2] != 'u') {
        out += replacement;
        break;
      }
      uint32_t second;
      if (!hex4(i + 3, second))
        return out;
      i += 6;
      if (second < 0xDC00 || second >= 0xE000) {
        out += replacement;
        first = second;
        continue;
      }
      appendUTF8(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00), out);
      break;
    }
  }
  return out;
}

bool JSONScanner::scan() {
  for (size_t i = 0; i < text.size(); ++i) {
    switch (text[i]) {
    case '"': {
      size_t end = skipString(i);
      if (end == llvm::StringRef::npos)
        return true; // unterminated: the parser reports it
      if (!stack.empty() && stack.back().isObject && stack.back().expectKey) {
        stack.back().expectKey = false;
        if (!stack.back().keys.insert(unescape(i, end)).second &&
            !duplicateKey) {
          duplicateKey = unescape(i, end);
          duplicateOffset = i;
        }
      }
      i = end - 1;
      break;
    }
    case '{':
    case '[':
      if (stack.size() == kMaxJSONDepth) {
        errorOffset = i;
        return false;
      }
      stack.push_back({text[i] == '{', text[i] == '{', {}});
      break;
    case '}':
    case ']':
      if (!stack.empty())
        stack.pop_back();
      break;
    case ',':
      if (!stack.empty() && stack.back().isObject)
        stack.back().expectKey = true;
      break;
    default:
      break;
    }
  }
  return true;
}

llvm::Expected<llvm::json::Value>
qopt::model::parseJSON(llvm::StringRef text, const llvm::Twine &subject) {
  JSONScanner scanner(text);
  if (!scanner.scan())
    return makeError(subject + " nests JSON arrays and objects deeper than " +
                     llvm::Twine(kMaxJSONDepth) + " levels (at byte " +
                     llvm::Twine(scanner.errorOffset) + ")");
  llvm::Expected<llvm::json::Value> value = llvm::json::parse(text);
  if (!value)
    return makeError(
        subject + " is not valid JSON: " + llvm::toString(value.takeError()));
  if (scanner.duplicateKey) {
    // Printable even if the key holds control bytes or invalid UTF-8.
    std::string key;
    llvm::raw_string_ostream os(key);
    llvm::printEscapedString(*scanner.duplicateKey, os);
    return makeError(
        subject + " has the key \"" + key + "\" twice in one object (at byte " +
        llvm::Twine(scanner.duplicateOffset) + "); a key may appear once");
  }
  return value;
}

llvm::Expected<llvm::json::Value>
qopt::model::readJSONFile(llvm::StringRef path, llvm::StringRef what) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      openRegularFile(path, what, /*isText=*/true);
  if (!buffer)
    return buffer.takeError();
  std::string subject = describe(path, what);
  uint64_t size = (*buffer)->getBufferSize();
  if (size > kMaxJSONBytes)
    return makeError(subject + " is " + llvm::Twine(size) +
                     " bytes, more than the " + llvm::Twine(kMaxJSONBytes) +
                     " bytes a JSON file may have");
  return parseJSON((*buffer)->getBuffer(), subject);
}

//===----------------------------------------------------------------------===//
// LineReader
//===----------------------------------------------------------------------===//

/// Bytes read from the file at a time.
static constexpr size_t kReadChunk = 1 << 16;

LineReader::LineReader(std::string path, llvm::sys::fs::file_t file,
                       uint64_t size, uint64_t maxLineBytes)
    : path(std::move(path)), file(file), size(size), maxLineBytes(maxLineBytes),
      buffer(kReadChunk) {}

LineReader::~LineReader() { llvm::sys::fs::closeFile(file); }

llvm::Expected<std::unique_ptr<LineReader>>
LineReader::open(llvm::StringRef path, uint64_t maxLineBytes) {
  llvm::sys::fs::file_t file;
  uint64_t size = 0;
  if (llvm::Error err = openForRead(path, "", /*isText=*/false, file, size))
    return std::move(err);
  return std::unique_ptr<LineReader>(
      new LineReader(path.str(), file, size, maxLineBytes));
}

llvm::Expected<bool> LineReader::next(std::string &line) {
  line.clear();
  while (true) {
    llvm::StringRef pending(buffer.data() + begin, end - begin);
    size_t newline = pending.find('\n');
    size_t take = newline == llvm::StringRef::npos ? pending.size() : newline;
    if (line.size() + take > maxLineBytes)
      return makeError("'" + path + "': line " + llvm::Twine(lines + 1) +
                       " is longer than " + llvm::Twine(maxLineBytes) +
                       " bytes, the most a line may have");
    line.append(pending.data(), take);
    if (newline != llvm::StringRef::npos) {
      begin += newline + 1;
      consumed += take + 1;
      ++lines;
      return true;
    }
    consumed += take;
    begin = end = 0;
    if (atEnd) {
      if (line.empty())
        return false;
      ++lines;
      return true;
    }
    llvm::Expected<size_t> got = llvm::sys::fs::readNativeFile(
        file, llvm::MutableArrayRef<char>(buffer.data(), buffer.size()));
    if (!got)
      return makeError("cannot read '" + path +
                       "': " + llvm::toString(got.takeError()));
    end = *got;
    // Never past the size checked at open (a file that grows meanwhile).
    if (consumed + end >= size) {
      end = static_cast<size_t>(std::min<uint64_t>(end, size - consumed));
      atEnd = true;
    }
    if (*got == 0)
      atEnd = true;
  }
}
