//===- Artifact.cpp - Load an ahead-of-time compiled model ----------------===//
//
// See Artifact.h. Loading maps weights.bin read-only, checks every weight
// of the table against its size, refuses code compiled for instruction set
// features this CPU lacks (instead of dying of SIGILL in the first call),
// and only then dlopens model.so.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Artifact.h"
#include "qopt/Model/LargeBuffer.h"
#include "qopt/Runtime/AmxTiles.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace qopt::model;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static std::string joinPath(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, name);
  return std::string(path);
}

bool qopt::model::isArtifactDirectory(llvm::StringRef path) {
  return llvm::sys::fs::is_directory(path) &&
         llvm::sys::fs::exists(joinPath(path, kArtifactManifest));
}

Artifact::~Artifact() {
  exec.reset();
  if (library)
    dlclose(library);
  if (weightData)
    munmap(weightData, weightSize);
}

llvm::Error Artifact::setThreads(int threads) {
  if (threads < 1 || threads > 1024)
    return makeError("threads must be in [1, 1024], got " +
                     llvm::Twine(threads));
  // model.so was loaded RTLD_LOCAL: its libomp is found through its handle.
  auto set =
      reinterpret_cast<void (*)(int)>(dlsym(library, "omp_set_num_threads"));
  if (!set)
    return makeError("'" + joinPath(dir, info.library) +
                     "' does not use the OpenMP runtime (compiled without "
                     "threads); it runs on one thread");
  set(threads);
  return llvm::Error::success();
}

int Artifact::threads() const {
  auto get = reinterpret_cast<int (*)()>(dlsym(library, "omp_get_max_threads"));
  return get ? std::max(1, get()) : 1;
}

std::string Artifact::tokenizerPath() const {
  return info.tokenizer.empty() ? std::string() : joinPath(dir, info.tokenizer);
}

llvm::Error Artifact::mapWeights(llvm::StringRef path, bool copy) {
  if (!llvm::sys::fs::is_regular_file(path))
    return makeError("the artifact's weights '" + path +
                     "' are not a regular file");
  int fd = ::open(std::string(path).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return makeError("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return makeError("cannot read '" + path + "': " + why);
  }
  weightSize = static_cast<size_t>(st.st_size);
  if (weightSize > 0 && copy) {
    // Read, not mapped: an anonymous buffer on huge pages (--no-mmap).
    auto *p = static_cast<char *>(mapLargeBuffer(weightSize));
    if (!p) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return makeError("cannot allocate " + llvm::Twine(weightSize) +
                       " bytes for '" + path + "': " + why);
    }
    weightData = p;
    size_t done = 0;
    while (done < weightSize) {
      ssize_t n = ::read(fd, p + done, weightSize - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        std::string why = n < 0 ? std::strerror(errno) : "it ended early";
        ::close(fd);
        return makeError("cannot read '" + path + "': " + why);
      }
      done += static_cast<size_t>(n);
    }
  } else if (weightSize > 0) {
    void *p = mmap(nullptr, weightSize, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return makeError("cannot map '" + path + "': " + why);
    }
    weightData = p;
#if defined(MADV_HUGEPAGE)
    // Advice only: where the kernel supports large folios for the file,
    // the pages read in from disk by this mapping's faults come in as
    // 2 MiB folios, mapped with 2 MiB pages. Pages already in the page
    // cache keep their folios. On the 2-core VM, a q4_0 7B-shaped
    // weights.bin read cold had 446 of its 447 MB on 2 MiB pages with
    // this advice against 348-397 without; its decode ran at 53-55 tok/s
    // (2 threads) with half the file on 2 MiB pages, 63-68 with 346 MB and
    // 70-71 with all of it, as fast as a copy (--no-mmap).
    (void)madvise(p, weightSize, MADV_HUGEPAGE);
#endif
  }
  ::close(fd);
  for (const ArtifactWeight &w : info.weightTable) {
    uint64_t end = 0;
    if (__builtin_add_overflow(w.offset, w.bytes, &end) || end > weightSize)
      return makeError("weight '" + w.name + "' (bytes " +
                       llvm::Twine(w.offset) + ".." + llvm::Twine(end) +
                       ") lies outside '" + path + "' of " +
                       llvm::Twine(weightSize) + " bytes");
  }
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<Artifact>> Artifact::open(llvm::StringRef dir,
                                                         bool copyWeights) {
  std::string manifestPath = joinPath(dir, kArtifactManifest);
  llvm::Expected<ArtifactManifest> manifest =
      readArtifactManifest(manifestPath);
  if (!manifest)
    return manifest.takeError();
  std::unique_ptr<Artifact> a(new Artifact());
  a->dir = dir.str();
  a->info = std::move(*manifest);
  const ArtifactManifest &m = a->info;
  std::vector<std::string> missing = missingHostFeatures(m.targetFeatures);
  if (!missing.empty())
    return makeError("'" + dir + "' was compiled for CPU '" + m.targetCPU +
                     "' and needs " + llvm::join(missing, ", ") +
                     ", which this CPU lacks; compile it for this CPU "
                     "(qopt-run compile --target-cpu native)");
  // Code for a CPU with AMX may multiply with tiles (the prefill GEMM):
  // Linux lets a process use them only once it asked.
  if (llvm::is_contained(m.targetFeatures, "amx-tile") &&
      !qopt::runtime::requestAmxTiles())
    return makeError("'" + dir +
                     "' was compiled for AMX tiles and the OS does not let "
                     "this process use them (arch_prctl "
                     "ARCH_REQ_XCOMP_PERM); compile it without AMX "
                     "(qopt-run compile --mattr=-amx-tile)");
  if (llvm::Error err = a->mapWeights(joinPath(dir, m.weights), copyWeights))
    return std::move(err);

  std::string libraryPath = joinPath(dir, m.library);
  if (!llvm::sys::fs::is_regular_file(libraryPath))
    return makeError("the artifact's code '" + libraryPath +
                     "' is not a regular file");
  a->library = dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!a->library)
    return makeError("cannot load '" + libraryPath + "': " + dlerror());
  ExecutorSetup setup;
  setup.prefill =
      reinterpret_cast<ModelEntryFn>(dlsym(a->library, "_mlir_ciface_prefill"));
  setup.decode =
      reinterpret_cast<ModelEntryFn>(dlsym(a->library, "_mlir_ciface_decode"));
  if (!setup.prefill || !setup.decode)
    return makeError("'" + libraryPath +
                     "' lacks _mlir_ciface_prefill/_mlir_ciface_decode");
  setup.config = m.config;
  setup.cacheElementBytes = kvElementBytes(m.kvType);
  setup.staticPositions = m.staticPositions;
  const char *base = static_cast<const char *>(a->weightData);
  for (const ArtifactWeight &w : m.weightTable)
    setup.weights.push_back({w.name, base ? base + w.offset : nullptr,
                             static_cast<size_t>(w.bytes)});
  setup.slots = m.widthTable;
  llvm::Expected<std::unique_ptr<ModelExecutor>> exec =
      ModelExecutor::create(std::move(setup));
  if (!exec)
    return exec.takeError();
  a->exec = std::move(*exec);
  return std::move(a);
}
