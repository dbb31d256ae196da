//===- InputTest.cpp - Tests of the untrusted-input helpers -----*- C++ -*-===//
//
// openRegularFile refuses devices, directories and FIFOs without blocking;
// parseJSON bounds the nesting depth before parsing and refuses duplicate
// keys (compared after unescaping, as llvm::json does); LineReader splits
// lines as the ppl reference does, stops at an over-long line, and never
// reads a device.
//
//===----------------------------------------------------------------------===//

#include "TestUtils.h"

#include "qopt/Model/Input.h"

#include "gmock/gmock.h"

#include <sys/stat.h>

using namespace qopt::model;
using namespace qopt::model::test;
using ::testing::HasSubstr;

namespace {

/// True if `text` parses (the error, if any, is consumed).
bool parses(llvm::StringRef text) {
  llvm::Expected<llvm::json::Value> value = parseJSON(text, "'x.json'");
  if (value)
    return true;
  llvm::consumeError(value.takeError());
  return false;
}

/// `depth` nested arrays: "[[...]]".
std::string nestedArrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(OpenRegularFileTest, RefusesWhatIsNotARegularFile) {
  TempDir dir;
  writeFile(dir.file("a.bin"), "abc");
  auto buffer = unwrap(openRegularFile(dir.file("a.bin"), "test file"));
  ASSERT_TRUE(buffer);
  EXPECT_EQ(buffer->getBuffer(), "abc");

  EXPECT_EQ(errorOf(openRegularFile("/dev/zero", "test file")),
            "test file '/dev/zero' is not a regular file (it is a character "
            "device)");
  EXPECT_EQ(errorOf(openRegularFile(dir.path, "")),
            "'" + dir.path + "' is not a regular file (it is a directory)");
  // Opening a FIFO would block until a writer comes: it is never opened.
  std::string fifo = dir.file("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(errorOf(openRegularFile(fifo, "test file")),
            "test file '" + fifo + "' is not a regular file (it is a FIFO)");
  EXPECT_THAT(
      errorOf(openRegularFile(dir.file("absent"), "test file")),
      HasSubstr("cannot open test file '" + dir.file("absent") + "': "));
}

TEST(ParseJSONTest, NestingDepthIsBounded) {
  // Exactly the limit parses; one more level is refused before parsing.
  EXPECT_TRUE(parses(nestedArrays(kMaxJSONDepth)));
  EXPECT_EQ(errorOf(parseJSON(nestedArrays(kMaxJSONDepth + 1), "'x.json'")),
            "'x.json' nests JSON arrays and objects deeper than 256 levels "
            "(at byte 256)");
  // What crashed every reader: 100000 levels, objects and arrays mixed.
  std::string deep;
  for (int i = 0; i < 50000; ++i)
    deep += "{\"a\":[";
  EXPECT_EQ(errorOf(parseJSON(deep, "'x.json'")),
            "'x.json' nests JSON arrays and objects deeper than 256 levels "
            "(at byte 768)");
  // Brackets inside strings do not count.
  std::string quoted = "{\"k\": \"" + nestedArrays(1000) + "\\\"[[[\"}";
  EXPECT_TRUE(parses(quoted));
}

TEST(ParseJSONTest, DuplicateKeysAreRefused) {
  auto duplicate = [](llvm::StringRef text) {
    return errorOf(parseJSON(text, "'x.json'"));
  };
  EXPECT_EQ(duplicate(R"({"a": 1, "b": 2, "a": 3})"),
            "'x.json' has the key \"a\" twice in one object (at byte 17); a "
            "key may appear once");
  // Keys compare as llvm::json stores them: after unescaping.
  EXPECT_THAT(duplicate(R"({"ab": 1, "a\u0062": 2})"),
              HasSubstr("the key \"ab\" twice"));
  EXPECT_THAT(duplicate(R"({"\ud83d\ude00": 1, "😀": 2})"),
              HasSubstr("twice in one object"));
  // Unpaired surrogates both become U+FFFD, so these keys are equal too.
  EXPECT_THAT(duplicate(R"({"\ud800": 1, "\udfff": 2})"),
              HasSubstr("twice in one object"));
  // In a nested object, and after a nested value.
  EXPECT_THAT(duplicate(R"({"t": {"x": [1, {"y": 1}], "x": 2}})"),
              HasSubstr("the key \"x\" twice"));
  // A key printed escaped when it is not printable.
  EXPECT_THAT(duplicate("{\"\\n\": 1, \"\\n\": 2}"),
              HasSubstr("the key \"\\0A\" twice"));

  // Equal keys in different objects, and values equal to keys, are fine.
  for (llvm::StringRef ok :
       {R"({"a": {"a": 1}, "b": {"a": 2}})", R"({"a": "a", "b": ["a", "a"]})",
        R"([{"a": 1}, {"a": 2}])", R"({"a": 1, "A": 2, "a ": 3})"})
    EXPECT_TRUE(parses(ok)) << ok.str();
  // Syntax errors are the parser's, even where a key also repeats.
  EXPECT_THAT(duplicate(R"({"a": 1, "a": })"), HasSubstr("not valid JSON"));
}

TEST(ReadJSONFileTest, NamesTheFile) {
  TempDir dir;
  std::string path = dir.file("config.json");
  writeFile(path, R"({"a": 1})");
  llvm::Expected<llvm::json::Value> value = readJSONFile(path);
  ASSERT_TRUE(bool(value)) << llvm::toString(value.takeError());
  ASSERT_TRUE(value->getAsObject());
  EXPECT_EQ(value->getAsObject()->getInteger("a"), 1);
  writeFile(path, nestedArrays(300));
  EXPECT_EQ(errorOf(readJSONFile(path, "tokenizer")),
            "tokenizer '" + path +
                "' nests JSON arrays and objects deeper than 256 levels (at "
                "byte 256)");
  EXPECT_EQ(errorOf(readJSONFile("/dev/zero")),
            "'/dev/zero' is not a regular file (it is a character device)");
  // Over the limit (a sparse file: nothing is read).
  resizeFile(path, kMaxJSONBytes + 1);
  EXPECT_EQ(errorOf(readJSONFile(path)),
            "'" + path +
                "' is 100000001 bytes, more than the 100000000 bytes a JSON "
                "file may have");
}

TEST(LineReaderTest, SplitsLines) {
  TempDir dir;
  std::string path = dir.file("text.txt");
  // Lines end at '\n' only; "\r\n" keeps the '\r'; the last line needs no
  // '\n'; lines longer than the read buffer (64 KiB) are whole.
  std::string longLine(200000, 'x');
  writeFile(path, "one\r\n\ntwo\n" + longLine + "\nlast");
  auto reader = unwrap(LineReader::open(path, 1 << 20));
  ASSERT_TRUE(reader);
  std::vector<std::string> lines;
  std::string line;
  while (unwrap(reader->next(line)))
    lines.push_back(line);
  EXPECT_EQ(lines,
            (std::vector<std::string>{"one\r", "", "two", longLine, "last"}));
  EXPECT_EQ(reader->lineNumber(), 5u);
  EXPECT_EQ(reader->bytesRead(), reader->fileSize());
  EXPECT_FALSE(unwrap(reader->next(line)));
  EXPECT_EQ(line, "");
}

TEST(LineReaderTest, BoundsTheLineLength) {
  TempDir dir;
  std::string path = dir.file("text.txt");
  writeFile(path, "short\n" + std::string(1000, 'y') + "\nafter\n");
  auto reader = unwrap(LineReader::open(path, 999));
  ASSERT_TRUE(reader);
  std::string line;
  EXPECT_TRUE(unwrap(reader->next(line)));
  EXPECT_EQ(errorOf(reader->next(line)),
            "'" + path +
                "': line 2 is longer than 999 bytes, the most a line may "
                "have");
  // An empty file has no line.
  writeFile(path, "");
  reader = unwrap(LineReader::open(path, 10));
  ASSERT_TRUE(reader);
  EXPECT_FALSE(unwrap(reader->next(line)));
  EXPECT_EQ(errorOf(LineReader::open("/dev/zero", 10)),
            "'/dev/zero' is not a regular file (it is a character device)");
}

} // namespace
