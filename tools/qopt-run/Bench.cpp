//===- Bench.cpp - qopt-run bench -------------------------------*- C++ -*-===//
//
// llama-bench's two tests on one model: prompt processing (ppN: a prefill
// of N tokens) and text generation (tgN: N decode steps), both from an
// empty cache as llama-bench runs them, or after --depth D tokens already
// in the cache (llama-bench -d, "ppN @ dD"). Each is repeated -r times
// after a warm-up and reported as the mean +/- the sample standard
// deviation of the per-repetition tokens per second, in a markdown table
// like llama-bench's (or --json). After each repetition's decode steps,
// passes read all the weights on the kernels' threads (-t), so that the
// decode time can be compared with the time to stream the weights.
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "Subcommands.h"
#include "Support.h"

#include "qopt/Tools/ModelRunner.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <numeric>
#include <sys/resource.h>

using namespace qopt::run;
namespace model = ::qopt::model;

static cl::opt<int> benchPrompt("prompt-tokens",
                                cl::desc("Prompt processing test: prefill "
                                         "this many tokens (llama-bench -p)"),
                                cl::init(64), cl::sub(benchCommand()),
                                cl::cat(benchCategory()));
static cl::alias benchPromptShort("p", cl::desc("Alias for --prompt-tokens"),
                                  cl::aliasopt(benchPrompt), cl::NotHidden);
static cl::opt<int> benchDecode("decode-tokens",
                                cl::desc("Generation test: this many decode "
                                         "steps (llama-bench -n)"),
                                cl::init(64), cl::sub(benchCommand()),
                                cl::cat(benchCategory()));
static cl::alias benchDecodeShort("n", cl::desc("Alias for --decode-tokens"),
                                  cl::aliasopt(benchDecode), cl::NotHidden);
static cl::opt<int> repetitions("r",
                                cl::desc("Repetitions of each test "
                                         "(llama-bench -r), 1..1000"),
                                cl::init(5), cl::sub(benchCommand()),
                                cl::cat(benchCategory()));
static cl::alias repetitionsLong("repetitions", cl::desc("Alias for -r"),
                                 cl::aliasopt(repetitions), cl::NotHidden);
static cl::opt<int> benchDepth(
    "depth",
    cl::desc("Tokens already in the KV cache when each test starts (llama-"
             "bench -d/--n-depth; default 0: both tests from an empty cache, "
             "as llama-bench). Filled before each test, untimed"),
    cl::init(0), cl::sub(benchCommand()), cl::cat(benchCategory()));
static cl::alias benchDepthShort("d", cl::desc("Alias for --depth"),
                                 cl::aliasopt(benchDepth), cl::NotHidden);
static cl::alias benchDepthLlama("n-depth", cl::desc("Alias for --depth"),
                                 cl::aliasopt(benchDepth), cl::NotHidden);

/// Peak resident set size of this process in bytes.
static uint64_t peakRSS() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

/// A field of /proc/self/status in bytes (VmRSS, VmHWM), or 0 when the
/// file cannot be read (not Linux).
static uint64_t procStatusBytes(llvm::StringRef field) {
  auto buffer = llvm::MemoryBuffer::getFileAsStream("/proc/self/status");
  if (!buffer)
    return 0;
  llvm::SmallVector<llvm::StringRef> lines;
  (*buffer)->getBuffer().split(lines, '\n');
  for (llvm::StringRef line : lines) {
    if (!line.consume_front(field) || !line.consume_front(":"))
      continue;
    uint64_t kib = 0;
    line = line.trim();
    if (line.consume_back("kB") && !line.trim().getAsInteger(10, kib))
      return kib * 1024;
  }
  return 0;
}

/// Resets the process's peak RSS (VmHWM) to its current RSS, so that a later
/// VmHWM is the peak of what ran since. Returns false where unsupported.
static bool resetPeakRSS() {
  std::error_code ec;
  llvm::raw_fd_ostream os("/proc/self/clear_refs", ec);
  if (ec)
    return false;
  os << "5";
  os.flush();
  return !os.has_error();
}

/// Sums `n` floats with four 8-wide vector accumulators. GCC builds an AVX2
/// clone and a baseline clone (two 16-byte halves per vector) and picks one
/// at load time, so the loads are as wide as the generated kernels'.
__attribute__((target_clones("avx2", "default"))) static float
sumFloats(const float *p, size_t n) {
  typedef float v8 __attribute__((vector_size(32)));
  v8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
  for (size_t i = 0; i + 32 <= n; i += 32) {
    v8 x0, x1, x2, x3;
    __builtin_memcpy(&x0, p + i, 32);
    __builtin_memcpy(&x1, p + i + 8, 32);
    __builtin_memcpy(&x2, p + i + 16, 32);
    __builtin_memcpy(&x3, p + i + 24, 32);
    a0 += x0;
    a1 += x1;
    a2 += x2;
    a3 += x3;
  }
  v8 s = a0 + a1 + a2 + a3;
  float r = 0;
  for (int i = 0; i < 8; ++i)
    r += s[i];
  return r;
}

/// Sums the floats of bytes [begin, end) of the concatenation of `spans`.
static float sumRange(llvm::ArrayRef<std::pair<const char *, size_t>> spans,
                      size_t begin, size_t end) {
  float sink = 0;
  size_t offset = 0;
  for (auto [data, bytes] : spans) {
    size_t lo = std::max(begin, offset), hi = std::min(end, offset + bytes);
    if (lo < hi)
      sink += sumFloats(reinterpret_cast<const float *>(data + (lo - offset)),
                        (hi - lo) / sizeof(float));
    offset += bytes;
  }
  return sink;
}

/// Reads every byte of `spans` once with vector loads, split in equal byte
/// ranges between the kernels' threads (their OpenMP team, -t): the time to
/// stream the weights through the threads and cores the decode uses.
static double
streamSeconds(llvm::ArrayRef<std::pair<const char *, size_t>> spans) {
  size_t total = 0;
  for (auto [data, bytes] : spans)
    total += bytes;
  std::vector<float> sinks(mlir::qopt::kernelThreads(), 0.0f);
  double start = now();
  mlir::qopt::onKernelThreads([&](unsigned t, unsigned threads) {
    size_t share = (total / threads + 63) / 64 * 64;
    float sink = sumRange(spans, std::min(total, t * share),
                          std::min(total, (t + 1) * share));
    sinks[std::min<size_t>(t, sinks.size() - 1)] += sink;
  });
  double seconds = now() - start;
  if (std::accumulate(sinks.begin(), sinks.end(), 0.0f) == 42.0f)
    llvm::errs() << "";
  return seconds;
}

static double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

/// The served widths for JSON: null without nested weights, the common
/// width if they all agree, else the list in width-table order.
static llvm::json::Value servedBitsJson(const mlir::qopt::ModelRunner &r) {
  llvm::ArrayRef<int32_t> widths = r.servedWidths();
  if (widths.empty())
    return nullptr;
  if (llvm::all_equal(widths))
    return widths.front();
  llvm::json::Array list;
  for (int32_t w : widths)
    list.push_back(w);
  return list;
}

namespace {
/// One llama-bench test: its name and per-repetition timings.
struct BenchTest {
  std::string name;
  int64_t promptTokens = 0, genTokens = 0, depth = 0;
  std::vector<double> seconds;

  int64_t tokens() const { return promptTokens + genTokens; }
  Stats rates() const {
    Stats s;
    for (double t : seconds)
      s.add(t > 0 ? tokens() / t : 0.0);
    return s;
  }
  /// llama-bench's JSON record of the test.
  llvm::json::Object toJSON() const {
    Stats ns, ts = rates();
    llvm::json::Array samplesNs, samplesTs;
    for (double t : seconds) {
      ns.add(t * 1e9);
      samplesNs.push_back(static_cast<int64_t>(t * 1e9));
      samplesTs.push_back(t > 0 ? tokens() / t : 0.0);
    }
    return llvm::json::Object{{"test", name},
                              {"n_prompt", promptTokens},
                              {"n_gen", genTokens},
                              {"n_depth", depth},
                              {"avg_ns", static_cast<int64_t>(ns.mean())},
                              {"stddev_ns", static_cast<int64_t>(ns.stddev())},
                              {"avg_ts", ts.mean()},
                              {"stddev_ts", ts.stddev()},
                              {"samples_ns", std::move(samplesNs)},
                              {"samples_ts", std::move(samplesTs)}};
  }
};
} // namespace

/// "1.23 MiB" / "4.56 GiB", as llama-bench writes sizes.
static std::string formatSize(uint64_t bytes) {
  if (bytes >= (uint64_t(1) << 30))
    return llvm::formatv("{0:F2} GiB", bytes / 1073741824.0).str();
  return llvm::formatv("{0:F2} MiB", bytes / 1048576.0).str();
}

namespace {
/// What one `bench` run measured.
struct BenchResults {
  BenchTest pp, tg;
  /// Medians: of the decode steps' times, and of the passes over the
  /// weights after them.
  double medianStep = 0, streamTime = 0;
  /// Peak RSS reset after the warm-up (VmHWM), and VmRSS at that point.
  bool peakReset = false;
  uint64_t rssBefore = 0;
};
} // namespace

/// Checks bench's options: each count within its range.
static bool benchOptionsValid() {
  auto inRange = [](llvm::StringRef name, int64_t value, int64_t lo,
                    int64_t hi) {
    return value >= lo && value <= hi
               ? true
               : !fail(llvm::formatv("{0} must be in [{1}, {2}], got {3}", name,
                                     lo, hi, value)
                           .str());
  };
  return inRange("--prompt-tokens", benchPrompt, 1, model::kMaxContextLength) &&
         inRange("--decode-tokens", benchDecode, 1, model::kMaxContextLength) &&
         inRange("--depth", benchDepth, 0, model::kMaxContextLength) &&
         inRange("-r", repetitions, 1, 1000);
}

/// Passes that read all the weights after each repetition's decode steps.
constexpr int kStreamPassesPerRepetition = 4;
/// Tokens per forward call of the depth fill (bounds its logits buffer).
constexpr int64_t kDepthChunk = 256;

/// The tokens of the benchmark: a fixed pattern over the vocabulary.
static int32_t benchToken(int64_t i, int64_t vocab) {
  return static_cast<int32_t>((i * 7 + 1) % vocab);
}

/// Fills cache positions [0, depth) (untimed), as llama-bench -d does
/// before each test.
static llvm::Error fillDepth(mlir::qopt::ModelRunner &runner, int64_t depth,
                             std::vector<float> &logits) {
  int64_t vocab = runner.config().vocabSize;
  for (int64_t at = 0; at < depth; at += kDepthChunk) {
    std::vector<int32_t> chunk;
    for (int64_t i = at; i < std::min(depth, at + kDepthChunk); ++i)
      chunk.push_back(benchToken(i, vocab));
    logits.resize(std::max(logits.size(), chunk.size() * vocab));
    if (llvm::Error err = runner.forward(chunk, at, logits.data()))
      return err;
  }
  return llvm::Error::success();
}

/// Warms up, then runs `repetitions` of the two tests, each after `depth`
/// tokens fill the cache: prompt processing over `promptLen` tokens at
/// positions depth.., and `decodeLen` decode steps back to back from
/// position depth (llama-bench's tg test). Each repetition ends with
/// `kStreamPassesPerRepetition` passes that read all the weights once: the
/// ratio compares two timings taken in the same run, and no pass (with
/// its threads) comes between two steps.
static llvm::Expected<BenchResults>
measure(LoadedModel &m, int64_t depth, int64_t promptLen, int64_t decodeLen) {
  const model::ModelConfig &cfg = m.runner->config();
  std::vector<int32_t> tokens(promptLen);
  for (int64_t i = 0; i < promptLen; ++i)
    tokens[i] = benchToken(depth + i, cfg.vocabSize);
  std::vector<float> logits(promptLen * cfg.vocabSize);
  // The context of the benchmark: the depth, then the longer test.
  int64_t context = depth + std::max(promptLen, decodeLen);
  if (llvm::Error err = reserveCache(*m.runner, context, context))
    return std::move(err);

  // Warm up (first-touch of code and weights), then measure. The peak RSS
  // of inference alone (activations on top of weights and KV cache) is
  // VmHWM after resetting it here.
  if (llvm::Error err = m.runner->forward({tokens[0]}, 0, logits.data()))
    return std::move(err);
  BenchResults r;
  r.peakReset = resetPeakRSS();
  r.rssBefore = procStatusBytes("VmRSS");
  std::string at = depth ? " @ d" + std::to_string(depth) : "";
  r.pp =
      BenchTest{"pp" + std::to_string(promptLen) + at, promptLen, 0, depth, {}};
  r.tg =
      BenchTest{"tg" + std::to_string(decodeLen) + at, 0, decodeLen, depth, {}};
  std::vector<std::pair<const char *, size_t>> spans;
  for (const model::WeightSpan &w : m.runner->weightBuffers())
    spans.push_back({w.data, w.bytes});
  std::vector<double> steps, streams;
  Progress progress("bench", repetitions * (1 + decodeLen));
  int64_t done = 0;
  for (int rep = 0; rep < repetitions; ++rep) {
    if (llvm::Error err = fillDepth(*m.runner, depth, logits))
      return std::move(err);
    double start = now();
    if (llvm::Error err = m.runner->forward(tokens, depth, logits.data()))
      return std::move(err);
    r.pp.seconds.push_back(now() - start);
    progress.update(++done);
    // The prompt test wrote positions from depth on only, so the depth fill
    // still holds; the decode test rewrites those positions, and token
    // depth + i attends to the depth and the steps before it only.
    int32_t next = benchToken(depth, cfg.vocabSize);
    double decodeSeconds = 0;
    for (int64_t i = 0; i < decodeLen; ++i) {
      double t0 = now();
      if (llvm::Error err = m.runner->forward({next}, depth + i, logits.data()))
        return std::move(err);
      double step = now() - t0;
      decodeSeconds += step;
      steps.push_back(step);
      next = static_cast<int32_t>(
          std::max_element(logits.begin(), logits.begin() + cfg.vocabSize) -
          logits.begin());
      progress.update(++done);
    }
    r.tg.seconds.push_back(decodeSeconds);
    for (int pass = 0; pass < kStreamPassesPerRepetition; ++pass)
      streams.push_back(streamSeconds(spans));
  }
  progress.finish();
  r.medianStep = median(steps);
  r.streamTime = median(streams);
  return r;
}

/// How the model runs: JIT-compiled from a module, or an AOT artifact.
static const char *backendName(const LoadedModel &m) {
  return m.module ? "qopt JIT" : "qopt AOT";
}

/// The JSON record of a bench run (scripts read these fields).
static llvm::json::Object benchJSON(const LoadedModel &m,
                                    const BenchResults &r) {
  const mlir::qopt::ModelRunner &runner = *m.runner;
  Stats ppRate = r.pp.rates(), tgRate = r.tg.rates();
  double medianStep = r.medianStep, streamTime = r.streamTime;
  uint64_t weightBytes = runner.weightBytes();
  uint64_t inferencePeak = r.peakReset ? procStatusBytes("VmHWM") : 0;
  int64_t inferenceGrowth = inferencePeak && r.rssBefore
                                ? static_cast<int64_t>(inferencePeak) -
                                      static_cast<int64_t>(r.rssBefore)
                                : -1;
  return llvm::json::Object{
      {"model", modelPath()},
      {"backend", backendName(m)},
      {"compile_seconds", m.compileSeconds},
      {"repetitions", repetitions.getValue()},
      {"prefill_tokens", r.pp.promptTokens},
      {"prefill_tokens_per_second", ppRate.mean()},
      {"prefill_tokens_per_second_stddev", ppRate.stddev()},
      {"decode_tokens", r.tg.genTokens},
      {"decode_tokens_per_second", tgRate.mean()},
      {"decode_tokens_per_second_stddev", tgRate.stddev()},
      {"decode_median_seconds", medianStep},
      {"depth", r.tg.depth},
      {"tests", llvm::json::Array{r.pp.toJSON(), r.tg.toJSON()}},
      {"weight_bytes", static_cast<int64_t>(weightBytes)},
      {"weight_bytes_read_per_token",
       static_cast<int64_t>(runner.weightBytesRead())},
      {"served_bits", servedBitsJson(runner)},
      {"kv_type", mlir::qopt::kvCacheTypeName(runner.cacheType())},
      {"kv_cache_bytes", static_cast<int64_t>(runner.cacheBytes())},
      {"kv_cache_positions", runner.cacheCapacity()},
      {"peak_rss_bytes", static_cast<int64_t>(peakRSS())},
      {"inference_peak_rss_bytes", static_cast<int64_t>(inferencePeak)},
      {"inference_rss_growth_bytes", inferenceGrowth},
      {"read_bandwidth_bytes_per_second", weightBytes / streamTime},
      {"weight_stream_seconds", streamTime},
      {"decode_over_stream_ratio", medianStep / streamTime},
      {"threads", static_cast<int64_t>(mlir::qopt::kernelThreads())},
      // The matmul path of quantized weights (JIT: --activations; an
      // artifact keeps what it was compiled with).
      {"activations",
       m.module ? std::string(activations) : std::string("as compiled")},
      // Whether f16-weight matmuls read f16 activations (JIT:
      // --f16-activations, or --activations's default for it).
      {"f16_activations", m.module ? llvm::json::Value(useF16Activations())
                                   : llvm::json::Value("as compiled")},
      // Its prefill GEMM's micro-kernel (ModelRunner::prefillGemm).
      {"prefill_gemm", runner.prefillGemm().empty()
                           ? std::string("as compiled")
                           : runner.prefillGemm().str()}};
}

/// llama-bench's markdown table, then what llama-bench does not measure.
static void printBenchTable(const LoadedModel &m, const BenchResults &r) {
  const mlir::qopt::ModelRunner &runner = *m.runner;
  double medianStep = r.medianStep, streamTime = r.streamTime;
  uint64_t weightBytes = runner.weightBytes();
  std::string name = llvm::sys::path::filename(modelPath()).str();
  if (name.empty())
    name = modelPath();
  llvm::outs() << "| model | size | backend | threads | test | t/s |\n"
               << "| --- | ---: | --- | ---: | ---: | ---: |\n";
  for (const BenchTest *test : {&r.pp, &r.tg}) {
    Stats rate = test->rates();
    llvm::outs() << llvm::formatv("| {0} | {1} | {2} | {3} | {4} | {5:F2} ± "
                                  "{6:F2} |\n",
                                  name, formatSize(weightBytes), backendName(m),
                                  mlir::qopt::kernelThreads(), test->name,
                                  rate.mean(), rate.stddev());
  }
  llvm::outs() << llvm::format(
      "\ncompile/load     %.2f s; %d repetitions\n"
      "decode           median %.3f ms/token\n"
      "weights          %.1f MiB (%.1f MiB read per token)   KV cache %.1f "
      "MiB   peak RSS %.1f MiB\n"
      "read bandwidth   %.2f GB/s (%u threads, vector loads over the weights)\n"
      "weight stream    %.3f ms (median); decode/stream = %.2fx\n",
      m.compileSeconds, repetitions.getValue(), medianStep * 1e3,
      weightBytes / 1048576.0, runner.weightBytesRead() / 1048576.0,
      runner.cacheBytes() / 1048576.0, peakRSS() / 1048576.0,
      weightBytes / streamTime / 1e9, mlir::qopt::kernelThreads(),
      streamTime * 1e3, medianStep / streamTime);
  if (weightBytes < (uint64_t(64) << 20))
    llvm::outs() << "note             the weights fit in the CPU caches: "
                    "the ratio compares against cache, not DRAM, "
                    "bandwidth\n";
}

int qopt::run::runBench() {
  if (!benchOptionsValid())
    return 1;
  llvm::Expected<LoadedModel> m = loadModel(/*needTokenizer=*/false);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  const model::ModelConfig &cfg = m->runner->config();
  if (benchDepth >= cfg.maxSeqLen)
    return fail(llvm::formatv("--depth {0} leaves no room in the model's "
                              "context of {1} positions",
                              benchDepth.getValue(), cfg.maxSeqLen)
                    .str());
  // Each test fits in the context after the depth (the test names show
  // the counts that ran).
  int64_t room = cfg.maxSeqLen - benchDepth;
  int64_t promptLen = std::min<int64_t>(benchPrompt, room);
  int64_t decodeLen = std::min<int64_t>(benchDecode, room);
  llvm::Expected<BenchResults> results =
      measure(*m, benchDepth, promptLen, decodeLen);
  if (!results)
    return fail(llvm::toString(results.takeError()));
  if (jsonOutput)
    llvm::outs() << llvm::json::Value(benchJSON(*m, *results)) << "\n";
  else
    printBenchTable(*m, *results);
  return 0;
}
