//===- ModuleInput.cpp - Reading untrusted MLIR module files --------------===//
//
// See ModuleInput.h and docs/hardening.md.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModuleInput.h"

#include "qopt/Model/Input.h"

#include "mlir/Bytecode/BytecodeReader.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define QOPT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QOPT_ASAN 1
#endif
#endif

// A sanitizer's hook that a fuzzer sets to write the input it is running
// when the process dies (weak: absent without sanitizers).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void))
    __attribute__((weak));

using namespace mlir;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// The deepest bracket nesting of MLIR text, with the byte where it first
/// exceeds `limit` (or the text's size). Strings and `//` comments are
/// skipped, and `->` is not a closing bracket.
static size_t findExcessiveNesting(llvm::StringRef text, unsigned limit) {
  unsigned depth = 0;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    switch (c) {
    case '"':
      for (++i; i < e && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
      break;
    case '/':
      if (i + 1 < e && text[i + 1] == '/')
        while (i < e && text[i] != '\n')
          ++i;
      break;
    case '-':
      if (i + 1 < e && text[i + 1] == '>')
        ++i;
      break;
    case '(':
    case '[':
    case '{':
    case '<':
      if (++depth > limit)
        return i;
      break;
    case ')':
    case ']':
    case '}':
    case '>':
      if (depth > 0)
        --depth;
      break;
    default:
      break;
    }
  }
  return text.size();
}

/// A hex blob of a textual module's file metadata (`{-# ... #-}`) that MLIR
/// 22 mishandles, and where it is.
struct BadBlob {
  std::string key;
  size_t offset = 0;
  uint32_t alignment = 0;
  bool empty = false;
};

/// The first hex blob (`"0x..."`) in a `{-# ... #-}` section of `text` whose
/// alignment (its first four bytes, little-endian) is not a power of two, or
/// that holds no data after it. MLIR 22's text parser accepts alignment 0
/// and then aborts the process allocating the blob ("LLVM ERROR: out of
/// memory"); and it drops the alignment of an empty blob, which its bytecode
/// writer then writes as alignment 0, a file its own reader refuses
/// (`--verify-roundtrip` and `--emit-bytecode` of such a module fail).
/// Strings that are not whole hex blobs are left to the parser, which
/// rejects them as blobs itself.
static std::optional<BadBlob> findBadResourceBlob(llvm::StringRef text) {
  bool inMetadata = false;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '/' && i + 1 < e && text[i + 1] == '/') {
      while (i < e && text[i] != '\n')
        ++i;
      continue;
    }
    if (!inMetadata) {
      if (c == '"') {
        for (++i; i < e && text[i] != '"'; ++i)
          if (text[i] == '\\')
            ++i;
      } else if (text.substr(i).starts_with("{-#")) {
        inMetadata = true;
        i += 2;
      }
      continue;
    }
    if (text.substr(i).starts_with("#-}")) {
      inMetadata = false;
      i += 2;
      continue;
    }
    if (c != '"')
      continue;
    size_t begin = i + 1;
    for (++i; i < e && text[i] != '"'; ++i)
      if (text[i] == '\\')
        ++i;
    llvm::StringRef value = text.slice(begin, std::min(i, e));
    if (!value.consume_front("0x") || value.size() < 8 ||
        value.size() % 2 != 0 || !llvm::all_of(value, llvm::isHexDigit))
      continue;
    uint32_t alignment = 0;
    for (unsigned byte = 0; byte < 4; ++byte)
      alignment |= static_cast<uint32_t>(llvm::hexFromNibbles(
                       value[2 * byte], value[2 * byte + 1]))
                   << (8 * byte);
    bool empty = value.size() == 8;
    if (llvm::isPowerOf2_32(alignment) && !empty)
      continue;
    // The key is the identifier before the `:` that precedes the string.
    llvm::StringRef before = text.take_front(begin - 1).rtrim();
    std::string key;
    if (before.consume_back(":")) {
      before = before.rtrim();
      size_t start = before.size();
      while (start > 0 && (llvm::isAlnum(before[start - 1]) ||
                           llvm::StringRef("_.$-").contains(before[start - 1])))
        --start;
      key = before.substr(start).str();
    }
    return BadBlob{key, begin - 1, alignment, empty};
  }
  return std::nullopt;
}

namespace {
/// How the child that parses a bytecode file ends: exit codes other than
/// these (an ASan report, LLVM's fatal error handler) count as crashes.
enum ChildExit : int { kParsed = 0, kRejected = 3 };
} // namespace

/// In the child: parses and verifies `buffer` with the dialects of
/// `registry`, writes the first error to `fd` and exits. Never returns.
[[noreturn]] static void parseInChild(llvm::MemoryBufferRef buffer,
                                      const DialectRegistry &registry, int fd,
                                      uint64_t addressSpace, unsigned seconds) {
  // The child's own reports (LLVM's stack dumps, ASan) are not the tool's
  // output: the parent says what happened in one line.
  // QOPT_DEBUG_MODULE_CHECK=1 keeps them, to debug the child.
  int devNull = std::getenv("QOPT_DEBUG_MODULE_CHECK")
                    ? -1
                    : ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devNull >= 0) {
    ::dup2(devNull, STDERR_FILENO);
    ::dup2(devNull, STDOUT_FILENO);
  }
  // A crash is the parent's to report: no handler (LLVM's stack dump, a
  // sanitizer's or a fuzzer's) runs in the child.
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP, SIGXCPU})
    ::signal(sig, SIG_DFL);
  if (__sanitizer_set_death_callback)
    __sanitizer_set_death_callback(nullptr);
  struct rlimit none = {0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  struct rlimit cpu = {seconds, seconds + 1};
  ::setrlimit(RLIMIT_CPU, &cpu);
#ifndef QOPT_ASAN
  if (addressSpace) {
    struct rlimit as = {addressSpace, addressSpace};
    ::setrlimit(RLIMIT_AS, &as);
  }
#else
  (void)addressSpace;
#endif
  MLIRContext context(registry, MLIRContext::Threading::DISABLED);
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    if (diag.getSeverity() == DiagnosticSeverity::Error && message.empty())
      message = diag.str();
    return success();
  });
  auto sourceMgr = std::make_shared<llvm::SourceMgr>();
  sourceMgr->AddNewSourceBuffer(llvm::MemoryBuffer::getMemBuffer(
                                    buffer, /*RequiresNullTerminator=*/false),
                                llvm::SMLoc());
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&context));
  if (!module && message.empty())
    message = "it does not hold a module";
  // One line, at most a few hundred bytes.
  message = message.substr(0, message.find('\n')).substr(0, 400);
  for (size_t done = 0; done < message.size();) {
    ssize_t n = ::write(fd, message.data() + done, message.size() - done);
    if (n <= 0)
      break;
    done += n;
  }
  ::_exit(module ? kParsed : kRejected);
}

/// The size of this process's address space, in bytes (0 if unknown).
static uint64_t currentAddressSpace() {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> statm =
      llvm::MemoryBuffer::getFileAsStream("/proc/self/statm");
  if (!statm)
    return 0;
  unsigned long long pages = 0;
  if ((*statm)->getBuffer().split(' ').first.getAsInteger(10, pages))
    return 0;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

static llvm::Error vetBytecode(llvm::MemoryBufferRef buffer,
                               const llvm::Twine &subject,
                               const DialectRegistry &registry,
                               const mlir::qopt::ModuleInputLimits &limits) {
  uint64_t size = buffer.getBufferSize();
  unsigned seconds =
      limits.seconds ? limits.seconds : 30 + static_cast<unsigned>(size >> 25);
  // QOPT_MODULE_CHECK_SECONDS overrides the default (the tests of a hang).
  if (const char *env = std::getenv("QOPT_MODULE_CHECK_SECONDS");
      env && !limits.seconds) {
    unsigned value = 0;
    if (!llvm::StringRef(env).getAsInteger(10, value) && value > 0)
      seconds = value;
  }
  uint64_t extra =
      limits.memoryBytes ? limits.memoryBytes : (uint64_t(1) << 30) + 4 * size;
  uint64_t base = currentAddressSpace();
  uint64_t addressSpace = base ? base + extra : 0;

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return makeError("cannot check " + subject +
                     ": pipe: " + std::strerror(errno));
  llvm::outs().flush();
  llvm::errs().flush();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return makeError("cannot check " + subject +
                     ": fork: " + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    parseInChild(buffer, registry, fds[1], addressSpace, seconds);
  }
  ::close(fds[1]);

  // Read the child's message until it closes the pipe (it exits) or the
  // deadline passes.
  std::string message;
  bool timedOut = false;
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int ready = ::poll(
        &pfd, 1, static_cast<int>(std::min<long long>(left, 1000 * 1000)));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      continue;
    char chunk[512];
    ssize_t n = ::read(fds[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (message.size() < 4096)
      message.append(chunk, n);
  }
  ::close(fds[0]);
  if (timedOut)
    ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  std::string what = subject.str();
  if (timedOut)
    return makeError(what + ": MLIR's bytecode reader did not finish within " +
                     llvm::Twine(seconds) +
                     " s; the file is corrupt or hostile, and was not read");
  if (WIFEXITED(status) && WEXITSTATUS(status) == kParsed)
    return llvm::Error::success();
  if (WIFEXITED(status) && WEXITSTATUS(status) == kRejected)
    return makeError(what + " is not a valid module: " + message);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    if (sig == SIGXCPU)
      return makeError(what + ": MLIR's bytecode reader used more than " +
                       llvm::Twine(seconds) +
                       " s of CPU time; the file is corrupt or hostile, and "
                       "was not read");
    return makeError(what + ": MLIR's bytecode reader failed on it (" +
                     ::strsignal(sig) +
                     "); the file is corrupt or hostile, and was not read");
  }
  return makeError(what + ": MLIR's bytecode reader failed on it (exit " +
                   llvm::Twine(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                   (addressSpace ? ", or ran out of its memory limit" : "") +
                   "); the file is corrupt or hostile, and was not read");
}

llvm::Error mlir::qopt::checkModuleInput(llvm::MemoryBufferRef buffer,
                                         const llvm::Twine &subject,
                                         const DialectRegistry &registry,
                                         const ModuleInputLimits &limits) {
  if (isBytecode(buffer))
    return vetBytecode(buffer, subject, registry, limits);
  llvm::StringRef text = buffer.getBuffer();
  size_t at = findExcessiveNesting(text, kMaxModuleNesting);
  if (at < text.size()) {
    size_t line = 1 + text.take_front(at).count('\n');
    return makeError(subject + " nests brackets deeper than " +
                     llvm::Twine(kMaxModuleNesting) + " levels (at line " +
                     llvm::Twine(line) + ")");
  }
  if (std::optional<BadBlob> bad = findBadResourceBlob(text)) {
    size_t line = 1 + text.take_front(bad->offset).count('\n');
    std::string where =
        (bad->key.empty() ? "a resource blob" : "resource '" + bad->key + "'") +
        " (line " + std::to_string(line) + ")";
    if (!bad->empty)
      return makeError(subject + ": " + where + " declares alignment " +
                       llvm::Twine(bad->alignment) +
                       "; a blob's first 4 bytes must be a power-of-two "
                       "alignment");
    return makeError(subject + ": " + where +
                     " holds no data after its alignment; MLIR would write "
                     "it to bytecode in a form it cannot read back (leave "
                     "an elided weight out of dialect_resources instead)");
  }
  return llvm::Error::success();
}

llvm::Expected<OwningOpRef<ModuleOp>>
mlir::qopt::parseModuleFile(llvm::StringRef path, MLIRContext &context,
                            llvm::StringRef what) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> file =
      ::qopt::model::openRegularFile(path, what, /*isText=*/true);
  if (!file)
    return file.takeError();
  if (llvm::Error err =
          checkModuleInput((*file)->getMemBufferRef(), what + " '" + path + "'",
                           context.getDialectRegistry()))
    return std::move(err);
  // The bytes the check saw are the bytes parsed.
  auto sourceMgr = std::make_shared<llvm::SourceMgr>();
  sourceMgr->AddNewSourceBuffer(std::move(*file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&context));
  if (!module)
    return makeError("cannot parse " + what + " '" + path + "'");
  return std::move(module);
}
