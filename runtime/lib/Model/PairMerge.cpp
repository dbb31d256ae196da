//===- PairMerge.cpp - Greedy merging of adjacent symbol pairs ------------===//
//
// See PairMerge.h. Candidates wait in buckets by priority, and a heap holds
// the priorities of the non-empty buckets.
//
//===----------------------------------------------------------------------===//

#include "PairMerge.h"

#include "llvm/ADT/DenseMap.h"

#include <algorithm>
#include <functional>
#include <limits>

using namespace qopt::model::detail;

namespace {
/// The candidate merges of one priority, by the position of their left
/// symbol: positions pushed in increasing order wait in a queue (most of
/// them: the initial pairs, and pairs that form to the right of the last
/// one), the others in a min-heap.
template <typename Index> struct MergeBucket {
  /// Positions in increasing order; those before `head` are taken.
  std::vector<Index> queue;
  size_t head = 0;
  /// The other positions, a min-heap.
  std::vector<Index> heap;
  /// Whether the bucket's priority is in the heap of priorities.
  bool active = false;

  bool empty() const { return head == queue.size() && heap.empty(); }
  void clear() {
    queue.clear();
    heap.clear();
    head = 0;
    active = false;
  }
  void push(Index position) {
    if (head == queue.size()) {
      queue.clear();
      head = 0;
    }
    if (queue.empty() || queue.back() < position) {
      queue.push_back(position);
      return;
    }
    heap.push_back(position);
    std::push_heap(heap.begin(), heap.end(), std::greater<Index>());
  }
  /// Removes and returns the leftmost position (the bucket is not empty).
  Index pop() {
    if (heap.empty() || (head < queue.size() && queue[head] < heap.front()))
      return queue[head++];
    std::pop_heap(heap.begin(), heap.end(), std::greater<Index>());
    Index position = heap.back();
    heap.pop_back();
    return position;
  }
};

/// Merges the adjacent pairs of a sequence of symbols, best first, with
/// positions of type `Index` (wide enough for the sequence). Its buffers are
/// reused from one sequence to the next.
template <typename Index> class PairMerger {
public:
  explicit PairMerger(PairMergeFn merge) : merge(merge) {}

  /// Merges the `n` symbols at `symbols`; the result is written over their
  /// beginning and its length returned.
  size_t run(int32_t *symbols, size_t n);

private:
  static constexpr Index none = std::numeric_limits<Index>::max();
  static constexpr int32_t removed = -1;
  /// A symbol of the doubly-linked list of those still in the sequence (one
  /// array, so that visiting a symbol reads one cache line).
  struct Symbol {
    int32_t token;
    Index prev, next;
  };

  /// Adds the candidate of the pair whose left symbol is at `left`.
  void push(Index left);

  PairMergeFn merge;
  std::vector<Symbol> list;
  std::vector<MergeBucket<Index>> buckets;
  size_t usedBuckets = 0;
  /// Bucket index by priority (widened: DenseMap reserves two keys of every
  /// type, and a priority may be any 32-bit value).
  llvm::DenseMap<uint64_t, unsigned> bucketOf;
  /// Max-heap of the priorities whose bucket is active.
  std::vector<uint32_t> priorities;
};
} // namespace

template <typename Index> void PairMerger<Index>::push(Index left) {
  std::optional<PairMerge> m =
      merge(list[left].token, list[list[left].next].token);
  if (!m)
    return;
  auto [it, inserted] = bucketOf.try_emplace(m->priority, usedBuckets);
  if (inserted && usedBuckets++ == buckets.size())
    buckets.emplace_back();
  MergeBucket<Index> &bucket = buckets[it->second];
  bucket.push(left);
  if (!bucket.active) {
    bucket.active = true;
    priorities.push_back(m->priority);
    std::push_heap(priorities.begin(), priorities.end());
  }
}

template <typename Index>
size_t PairMerger<Index>::run(int32_t *symbols, size_t n) {
  // A candidate is (priority, position of its left symbol); the best is the
  // highest priority, then the leftmost. Candidates go to the bucket of
  // their priority, and a max-heap holds the priorities of the non-empty
  // buckets. A candidate whose pair has changed since it was pushed is
  // skipped when it comes up: it is current while the pair now at its
  // position has its priority. (If that pair formed later, it has its own
  // candidate with the same key, so merging it now changes nothing.) Every
  // merge pushes at most two candidates: O(n log n) in all.
  list.resize(n);
  for (size_t i = 0; i < n; ++i)
    list[i] = {symbols[i], i == 0 ? none : static_cast<Index>(i - 1),
               i + 1 == n ? none : static_cast<Index>(i + 1)};
  for (size_t i = 0; i < usedBuckets; ++i)
    buckets[i].clear();
  usedBuckets = 0;
  bucketOf.clear();
  priorities.clear();
  for (size_t i = 0; i + 1 < n; ++i)
    push(static_cast<Index>(i));

  while (!priorities.empty()) {
    uint32_t priority = priorities.front();
    MergeBucket<Index> &bucket = buckets[bucketOf.find(priority)->second];
    if (bucket.empty()) {
      bucket.active = false;
      std::pop_heap(priorities.begin(), priorities.end());
      priorities.pop_back();
      continue;
    }
    Index left = bucket.pop();
    Symbol &l = list[left];
    if (l.token == removed || l.next == none)
      continue;
    Symbol &r = list[l.next];
    std::optional<PairMerge> m = merge(l.token, r.token);
    if (!m || m->priority != priority)
      continue; // stale: a neighbour merged since
    l.token = m->token;
    r.token = removed;
    l.next = r.next;
    if (l.next != none)
      list[l.next].prev = left;
    if (l.prev != none)
      push(l.prev);
    if (l.next != none)
      push(left);
  }
  // Position 0 is never removed: only the right symbol of a pair is.
  size_t length = 0;
  for (Index i = 0; i != none; i = list[i].next)
    symbols[length++] = list[i].token;
  return length;
}

void qopt::model::detail::mergePairs(
    std::vector<int32_t> &symbols, PairMergeFn merge,
    const std::bitset<256> &inner,
    llvm::function_ref<llvm::StringRef(int32_t)> piece) {
  size_t n = symbols.size();
  auto startsPart = [&](size_t i) {
    llvm::StringRef text = piece(symbols[i]);
    return !text.empty() && !inner[static_cast<uint8_t>(text[0])] &&
           !piece(symbols[i - 1]).empty();
  };
  PairMerger<uint32_t> merger(merge);
  size_t length = 0;
  for (size_t begin = 0, end; begin < n; begin = end) {
    end = begin + 1;
    while (end < n && !startsPart(end))
      ++end;
    // Parts only shrink: each is written at or before where it was read.
    int32_t *part = symbols.data() + begin;
    size_t merged = end - begin < std::numeric_limits<uint32_t>::max()
                        ? merger.run(part, end - begin)
                        : PairMerger<uint64_t>(merge).run(part, end - begin);
    std::copy(part, part + merged, symbols.data() + length);
    length += merged;
  }
  symbols.resize(length);
}

void qopt::model::detail::addInnerBytes(std::bitset<256> &inner,
                                        llvm::StringRef piece) {
  for (char c : piece.drop_front())
    inner.set(static_cast<uint8_t>(c));
}

/// An unsigned key ordered as the float `score` (not NaN); -0 and +0 are
