//===- Executor.cpp - Run a compiled qopt model ---------------------------===//
//
// See Executor.h. The KV caches are raw bytes: [layers, capacity, kvDim]
// elements of the compiled element type each.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Executor.h"
#include "qopt/Model/LargeBuffer.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace qopt::model;

namespace {
/// A ranked memref descriptor as llvm.emit_c_interface passes it.
template <typename T, int Rank> struct MemRefDescriptor {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};

template <typename T, int Rank>
MemRefDescriptor<T, Rank> describe(T *data,
                                   const std::array<int64_t, Rank> &sizes) {
  MemRefDescriptor<T, Rank> d;
  d.allocated = d.aligned = data;
  d.offset = 0;
  int64_t stride = 1;
  for (int i = Rank - 1; i >= 0; --i) {
    d.sizes[i] = sizes[i];
    d.strides[i] = stride;
    stride *= sizes[i];
  }
  return d;
}

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}
} // namespace

//===----------------------------------------------------------------------===//
// Set-up and the KV cache
//===----------------------------------------------------------------------===//

llvm::Expected<std::unique_ptr<ModelExecutor>>
ModelExecutor::create(ExecutorSetup setup) {
  const ModelConfig &cfg = setup.config;
  if (cfg.numLayers <= 0 || cfg.maxSeqLen <= 0 || cfg.kvDim() <= 0 ||
      cfg.vocabSize <= 0)
    return makeError("invalid model configuration");
  if (!setup.prefill || !setup.decode)
    return makeError("the compiled model lacks its entry points");
  if (setup.cacheElementBytes != 2 && setup.cacheElementBytes != 4)
    return makeError("invalid KV cache element size");
  std::unique_ptr<ModelExecutor> exec(new ModelExecutor());
  for (const WeightSpan &w : setup.weights) {
    exec->weightTable.push_back(reinterpret_cast<int64_t>(w.data));
    exec->weightByteCount += w.bytes;
  }
  for (const WidthSlot &slot : setup.slots)
    exec->widths.push_back(slot.parentBits);
  exec->setup = std::move(setup);
  // Code compiled for a static extent indexes the cache with it: allocate
  // all of it. Otherwise nothing is allocated until the first forward or
  // reserve call says how many positions the run uses.
  if (exec->setup.staticPositions > 0)
    if (llvm::Error err = exec->resizeCache(exec->setup.staticPositions))
      return std::move(err);
  return std::move(exec);
}

ModelExecutor::~ModelExecutor() {
  release(keyCache);
  release(valueCache);
}

void ModelExecutor::release(CacheBuffer &buffer) {
  unmapLargeBuffer(buffer.data, buffer.bytes);
  buffer = CacheBuffer();
}

llvm::Error ModelExecutor::resizeCache(int64_t positions) {
  const ModelConfig &cfg = setup.config;
  uint64_t rowBytes =
      static_cast<uint64_t>(cfg.kvDim()) * setup.cacheElementBytes;
  uint64_t layerBytes = 0, bytes = 0;
  size_t keptBytes = rowBytes * std::min(capacity, positions);
  auto cannot = [&](llvm::StringRef why) {
    return makeError("cannot allocate a KV cache of " + llvm::Twine(positions) +
                     " positions (2 x " + llvm::Twine(cfg.numLayers) +
                     " layers x " + llvm::Twine(rowBytes) +
                     " bytes per position): " + why);
  };
  if (__builtin_mul_overflow(rowBytes, static_cast<uint64_t>(positions),
                             &layerBytes) ||
      __builtin_mul_overflow(layerBytes, static_cast<uint64_t>(cfg.numLayers),
                             &bytes))
    return cannot("the size overflows");
  CacheBuffer next[2];
  for (CacheBuffer &buffer : next) {
    buffer.bytes = std::max<uint64_t>(bytes, 1);
    void *p = mapLargeBuffer(buffer.bytes);
    if (!p) {
      std::string why = std::strerror(errno);
      release(next[0]);
      return cannot(why);
    }
    buffer.data = static_cast<uint8_t *>(p);
  }
  CacheBuffer *caches[2] = {&keyCache, &valueCache};
  for (int i = 0; i < 2; ++i) {
    if (caches[i]->data)
      for (int64_t l = 0; l < cfg.numLayers; ++l)
        std::memcpy(next[i].data + l * layerBytes,
                    caches[i]->data + l * rowBytes * capacity, keptBytes);
    release(*caches[i]);
    *caches[i] = next[i];
  }
  capacity = positions;
  return llvm::Error::success();
}

llvm::Error ModelExecutor::reserve(int64_t positions) {
  if (positions <= capacity)
    return llvm::Error::success();
  if (positions > setup.config.maxSeqLen)
    return makeError("cannot reserve a KV cache of " + llvm::Twine(positions) +
                     " positions: the model's context is " +
                     llvm::Twine(setup.config.maxSeqLen) + " tokens");
  if (setup.staticPositions > 0)
    return makeError("the KV cache of this module has a static extent of " +
                     llvm::Twine(setup.staticPositions) + " positions");
  return resizeCache(positions);
}

uint64_t ModelExecutor::cacheBytes() const {
  return 2 * static_cast<uint64_t>(setup.config.numLayers) * capacity *
         setup.config.kvDim() * setup.cacheElementBytes;
}

//===----------------------------------------------------------------------===//
// forward
//===----------------------------------------------------------------------===//

llvm::Error ModelExecutor::forward(llvm::ArrayRef<int32_t> tokens,
                                   int64_t position, float *logits) {
  const ModelConfig &cfg = setup.config;
  int64_t n = tokens.size();
  if (n == 0)
    return llvm::Error::success();
  if (position < 0 || position + n > cfg.maxSeqLen)
    return makeError("positions " + llvm::Twine(position) + ".." +
                     llvm::Twine(position + n - 1) +
                     " exceed the model's context of " +
                     llvm::Twine(cfg.maxSeqLen) + " tokens");
  for (int32_t t : tokens)
    if (t < 0 || t >= cfg.vocabSize)
      return makeError("token id " + llvm::Twine(t) +
                       " is outside the vocabulary of " +
                       llvm::Twine(cfg.vocabSize));
  // Grow the cache geometrically (amortized O(1) copies per position),
  // never past the model's context; to exactly what is needed when twice
  // the capacity cannot be had.
  if (position + n > capacity) {
    if (setup.staticPositions > 0)
      return makeError("positions up to " + llvm::Twine(position + n - 1) +
                       " exceed this module's static KV cache of " +
                       llvm::Twine(setup.staticPositions) + " positions");
    int64_t grown = std::min<int64_t>(
        cfg.maxSeqLen, std::max<int64_t>(position + n, 2 * capacity));
    if (llvm::Error err = resizeCache(grown)) {
      if (grown == position + n)
        return err;
      llvm::consumeError(std::move(err));
      if (llvm::Error exact = resizeCache(position + n))
        return exact;
    }
  }
  auto tokensDesc =
      describe<int32_t, 1>(const_cast<int32_t *>(tokens.data()), {n});
  // The caches are raw bytes; the descriptor's sizes and strides count
  // elements of the compiled element type.
  std::array<int64_t, 3> cacheShape = {cfg.numLayers, capacity, cfg.kvDim()};
  auto kc = describe<uint8_t, 3>(keyCache.data, cacheShape);
  auto vc = describe<uint8_t, 3>(valueCache.data, cacheShape);
  auto table = describe<int64_t, 1>(weightTable.data(),
                                    {static_cast<int64_t>(weightTable.size())});
  // A model without nested weights still takes a (one-entry) width table.
  int32_t noWidths = 0;
  auto widthsDesc = describe<int32_t, 1>(
      widths.empty() ? &noWidths : widths.data(),
      {static_cast<int64_t>(std::max<size_t>(widths.size(), 1))});
  auto out = describe<float, 2>(logits, {n, cfg.vocabSize});
  ModelEntryFn fn = n == 1 ? setup.decode : setup.prefill;
  fn(&tokensDesc, position, &kc, &vc, &table, &widthsDesc, &out);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Weights and served widths
//===----------------------------------------------------------------------===//

llvm::Error ModelExecutor::replaceWeight(llvm::StringRef name, const void *data,
                                         size_t bytes) {
  for (auto [i, weight] : llvm::enumerate(setup.weights)) {
    if (weight.name != name)
      continue;
    if (weight.bytes != bytes)
      return makeError("weight '" + name + "' has " +
                       llvm::Twine(weight.bytes) + " bytes, the replacement " +
                       llvm::Twine(bytes));
    weightTable[i] = reinterpret_cast<int64_t>(data);
    weight.data = static_cast<const char *>(data);
    return llvm::Error::success();
  }
  return makeError("no weight named '" + name + "' in the weight table");
}

uint64_t ModelExecutor::weightBytesRead() const {
  llvm::StringMap<size_t> slotOf;
  for (auto [i, slot] : llvm::enumerate(setup.slots))
    slotOf[slot.name] = i;
  uint64_t total = 0;
  for (const WeightSpan &weight : setup.weights) {
    uint64_t bytes = weight.bytes;
    auto it = slotOf.find(weight.name);
    if (it != slotOf.end()) {
      uint64_t parent = setup.slots[it->second].parentBits;
      uint64_t planes = std::min<uint64_t>(widths[it->second] + 1, parent);
      bytes = bytes / parent * planes;
    }
    total += bytes;
  }
  return total;
}

/// Parses `N` or `N-M` into a layer range.
static bool parseLayers(llvm::StringRef text, int64_t &lo, int64_t &hi) {
  auto [a, b] = text.split('-');
  if (a.getAsInteger(10, lo) || lo < 0)
    return false;
  hi = lo;
  if (text.contains('-') && (b.getAsInteger(10, hi) || hi < lo))
    return false;
  return true;
}

/// True if `role` is selected by the role selector `sel`.
static bool roleMatches(llvm::StringRef sel, llvm::StringRef role) {
  if (sel == "*")
    return true;
  if (sel == "attn")
    return role == "q" || role == "k" || role == "v" || role == "o";
  if (sel == "mlp")
    return role == "gate" || role == "up" || role == "down";
  return sel == role;
}

static bool isRoleSelector(llvm::StringRef sel) {
  return llvm::is_contained({"*", "attn", "mlp", "q", "k", "v", "o", "gate",
                             "up", "down", "embedding", "classifier"},
                            sel);
}

namespace {
/// One parsed --layer-bits rule.
struct WidthRule {
  int64_t lo = -1, hi = -1;
  llvm::StringRef role = "*";
  unsigned width = 0;
};
} // namespace

/// Parses `SELECTOR:BITS`.
static llvm::Expected<WidthRule> parseWidthRule(llvm::StringRef rule) {
  WidthRule r;
  auto [selector, value] = rule.rsplit(':');
  if (!rule.contains(':') || value.trim().getAsInteger(10, r.width) ||
      r.width < 1 || r.width > 8)
    return makeError("--layer-bits rule '" + rule +
                     "' must be SELECTOR:BITS with BITS in 1..8");
  selector = selector.trim();
  auto [layers, roleText] = selector.split('.');
  if (selector.contains('.')) {
    if (!parseLayers(layers, r.lo, r.hi) || !isRoleSelector(roleText))
      return makeError("--layer-bits selector '" + selector +
                       "' must be LAYERS.ROLE (e.g. 0-1.down)");
    r.role = roleText;
  } else if (isRoleSelector(selector)) {
    r.role = selector;
  } else if (!parseLayers(selector, r.lo, r.hi)) {
    return makeError("--layer-bits selector '" + selector +
                     "' is not a layer, a layer range, or a role (q k v o "
                     "gate up down embedding classifier attn mlp *)");
  }
  return r;
}

llvm::Error ModelExecutor::setServedWidths(unsigned bits,
                                           llvm::StringRef layerBits) {
  const std::vector<WidthSlot> &slots = setup.slots;
  if (bits > 8)
    return makeError("--bits must be in 1..8, got " + llvm::Twine(bits));
  if (slots.empty() && (bits != 0 || !layerBits.empty()))
    return makeError(
        "--bits/--layer-bits serve nested-layout weights at run time, and "
        "this model has none; quantize with "
        "--pipeline \"qopt-quantize-weights{bits=8 layout=nested}\", or slice "
        "at compile time with qopt-slice-weights{bits=R}");
  std::vector<int32_t> next;
  for (const WidthSlot &slot : slots)
    next.push_back(bits == 0 ? slot.parentBits
                             : std::min<unsigned>(bits, slot.parentBits));
  llvm::SmallVector<llvm::StringRef> rules;
  layerBits.split(rules, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef rule : rules) {
    rule = rule.trim();
    llvm::Expected<WidthRule> r = parseWidthRule(rule);
    if (!r)
      return r.takeError();
    bool any = false;
    for (auto [i, slot] : llvm::enumerate(slots)) {
      if (r->lo >= 0 && (slot.layer < r->lo || slot.layer > r->hi))
        continue;
      if (!roleMatches(r->role, slot.role))
        continue;
      next[i] = std::min<unsigned>(r->width, slot.parentBits);
      any = true;
    }
    if (!any)
      return makeError("--layer-bits rule '" + rule +
                       "' selects no nested weight of this model");
  }
  widths = std::move(next);
  return llvm::Error::success();
}

void qopt::model::retainInferenceBuffers() {
#if defined(__GLIBC__)
  // 32 MiB is glibc's largest mmap threshold on 64-bit hosts (its dynamic
  // threshold only rises to a freed block's size, after one mmap/munmap
  // round trip per size). A trim threshold of 1 GiB keeps the freed top of
  // the heap; the memory still returns to the system at exit.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

void qopt::model::releaseFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}
