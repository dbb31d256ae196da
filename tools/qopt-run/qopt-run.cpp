//===- qopt-run.cpp - Run a model compiled by qopt --------------*- C++ -*-===//
//
// Loads a model (a checkpoint, which is imported on the fly, or a qopt
// module written by qopt-import / qopt-opt), applies an optional pass
// pipeline, compiles it for this CPU and runs it:
//
//   qopt-run generate MODEL --prompt TEXT -n N [--temperature T] [--seed S]
//   qopt-run ppl MODEL --text FILE [--json]
//   qopt-run bench MODEL [--json]
//   qopt-run compile MODEL -o DIR
//
// --kv-type f32|f16|bf16 picks the KV cache storage type of an imported
// checkpoint; the cache is allocated for the positions a run uses and grows
// when needed.
//
// Every subcommand takes --pipeline PIPELINE and --tokenizer FILE. MODEL
// `synthetic:llama-7b-layer` (bench) is one Llama-7B-shaped decoder layer
// with random weights.
//
//===----------------------------------------------------------------------===//

#include "qopt/Model/Checkpoint.h"
#include "qopt/Model/Input.h"
#include "qopt/Model/Tokenizer.h"
#include "qopt/Tools/ModelImporter.h"
#include "qopt/Tools/ModelRunner.h"
#include "qopt/Tools/ModuleInput.h"

#include "qopt/Conversion/Passes.h"
#include "qopt/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sys/resource.h>
#include <unistd.h>

using namespace mlir;
namespace cl = llvm::cl;
namespace model = ::qopt::model;

//===----------------------------------------------------------------------===//
// Command line
//===----------------------------------------------------------------------===//

static cl::SubCommand generateCmd("generate", "Generate text from a prompt");
static cl::SubCommand pplCmd("ppl", "Perplexity of a text file "
                                    "(BOS + one line per sequence)");
static cl::SubCommand benchCmd("bench", "Prefill and decode throughput");
static cl::SubCommand compileCmd(
    "compile", "Compile ahead of time into an artifact directory "
               "(model.so + weights), itself a MODEL for the other "
               "subcommands");

static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                      cl::desc("<model>"),
                                      cl::sub(generateCmd), cl::sub(pplCmd),
                                      cl::sub(benchCmd), cl::sub(compileCmd));
static cl::opt<std::string>
    pipeline("pipeline",
             cl::desc("Extra qopt-opt passes (textual pass pipeline) applied "
                      "after import and before lowering"),
             cl::value_desc("pipeline"), cl::sub(generateCmd), cl::sub(pplCmd),
             cl::sub(benchCmd), cl::sub(compileCmd));
static cl::opt<std::string>
    tokenizerPath("tokenizer",
                  cl::desc("Tokenizer file, when it is not beside the model"),
                  cl::value_desc("file"), cl::sub(generateCmd),
                  cl::sub(pplCmd), cl::sub(benchCmd), cl::sub(compileCmd));
static cl::opt<bool> jsonOutput("json",
                                cl::desc("Print one JSON object for scripts"),
                                cl::sub(generateCmd), cl::sub(pplCmd),
                                cl::sub(benchCmd));
static cl::opt<int> vectorWidth(
    "vector-width",
    cl::desc("f32 lanes of the generated vector kernels (8, 16, 32 or 64; "
             "default: 16 with AVX-512F, else 8)"),
    cl::init(0), cl::sub(generateCmd), cl::sub(pplCmd), cl::sub(benchCmd),
    cl::sub(compileCmd));
static cl::opt<bool> noProgress("no-progress",
                                cl::desc("Never draw a progress bar"),
                                cl::sub(pplCmd), cl::sub(benchCmd));

static cl::opt<unsigned> servedBits(
    "bits",
    cl::desc("Serve every nested-layout (Matryoshka) weight at this many "
             "bits, 1..8 (default: each weight's parent width); a run-time "
             "choice, no recompilation"),
    cl::init(0), cl::sub(generateCmd), cl::sub(pplCmd), cl::sub(benchCmd));
static cl::opt<std::string> layerBits(
    "layer-bits",
    cl::desc("Per-layer widths after --bits: comma list of SELECTOR:BITS, "
             "SELECTOR a layer N, a range N-M, a role (q k v o gate up down "
             "embedding classifier attn mlp *) or LAYERS.ROLE, e.g. "
             "\"0-1:8,down:6\"; later rules win"),
    cl::value_desc("rules"), cl::init(""), cl::sub(generateCmd),
    cl::sub(pplCmd), cl::sub(benchCmd));

static cl::opt<std::string> kvTypeName(
    "kv-type",
    cl::desc("Element type of the KV cache: f32 (default), f16 or bf16 "
             "(stored rounded, computed in f32). Applies when MODEL is a "
             "checkpoint; a qopt module or artifact has its type in its IR, "
             "and a different --kv-type is an error"),
    cl::value_desc("f32|f16|bf16"), cl::init("f32"), cl::sub(generateCmd),
    cl::sub(pplCmd), cl::sub(benchCmd), cl::sub(compileCmd));
static cl::opt<int> kvReserve(
    "kv-reserve",
    cl::desc("KV cache positions to allocate up front (default: the length "
             "of the run); the cache grows past it when needed"),
    cl::init(0), cl::Hidden, cl::sub(generateCmd), cl::sub(pplCmd),
    cl::sub(benchCmd));

static cl::opt<std::string> prompt("prompt", cl::desc("Prompt text"),
                                   cl::init(""), cl::sub(generateCmd));
static cl::opt<int> numTokens("n", cl::desc("Number of tokens to generate"),
                              cl::init(256), cl::sub(generateCmd));
static cl::opt<float>
    temperature("temperature",
                cl::desc("Sampling temperature, finite and >= 0 (0: greedy)"),
                cl::init(0.0f), cl::sub(generateCmd));
static cl::opt<float> topp("top-p",
                           cl::desc("Nucleus sampling threshold in (0, 1]"),
                           cl::init(0.9f), cl::sub(generateCmd));
static cl::opt<uint64_t> seed("seed", cl::desc("Random seed"), cl::init(42),
                              cl::sub(generateCmd));

static cl::opt<std::string> textPath("text", cl::desc("Text file"),
                                     cl::value_desc("file"), cl::Required,
                                     cl::sub(pplCmd));

static cl::opt<std::string> artifactDir("o", cl::desc("Artifact directory"),
                                        cl::value_desc("dir"), cl::Required,
                                        cl::sub(compileCmd));

static cl::opt<int> benchPrompt("prompt-tokens",
                                cl::desc("Prefill length of the benchmark"),
                                cl::init(64), cl::sub(benchCmd));
static cl::opt<int> benchDecode("decode-tokens",
                                cl::desc("Decode steps of the benchmark"),
                                cl::init(64), cl::sub(benchCmd));

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "qopt-run") << message << "\n";
  return 1;
}

/// The powers of two --vector-width accepts, as the kernel lowering does: 8
/// f32 lanes (AVX2) to 64 (2048 bits, 4x AVX-512; wider kernels only take
/// longer to compile).
static constexpr int kMinVectorWidth = 8, kMaxVectorWidth = 64;

/// Longest line `ppl` reads (16 MiB): encoding is O(n log n), and a line
/// this long takes a few seconds and well under 1 GiB to encode, even with a
/// vocabulary that cannot cut it into words.
static constexpr uint64_t kMaxTextLineBytes = uint64_t(16) << 20;

/// `value` as printf's %g writes it ("nan", "inf", "-0.5").
static std::string formatFloat(float value) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%g", double(value));
  return text;
}

/// Checks every numeric option against its range before anything is
/// loaded. Each error states the allowed range and the value given.
static llvm::Error checkOptions() {
  auto error = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  auto inRange = [&](llvm::StringRef name, int64_t value, int64_t lo,
                     int64_t hi) -> llvm::Error {
    if (value >= lo && value <= hi)
      return llvm::Error::success();
    return error(
        llvm::formatv("{0} must be in [{1}, {2}], got {3}", name, lo, hi, value)
            .str());
  };
  const int64_t maxPositions = model::kMaxContextLength;
  if (!std::isfinite(temperature) || temperature < 0)
    return error("--temperature must be a finite number >= 0 (0: greedy), "
                 "got " +
                 formatFloat(temperature));
  if (!(topp > 0.0f && topp <= 1.0f))
    return error("--top-p must be in (0, 1], got " + formatFloat(topp));
  if (llvm::Error err = inRange("-n", numTokens, 0, maxPositions))
    return err;
  if (llvm::Error err = inRange("--kv-reserve", kvReserve, 0, maxPositions))
    return err;
  if (llvm::Error err =
          inRange("--prompt-tokens", benchPrompt, 1, maxPositions))
    return err;
  if (llvm::Error err =
          inRange("--decode-tokens", benchDecode, 1, maxPositions))
    return err;
  if (servedBits.getNumOccurrences())
    if (llvm::Error err = inRange("--bits", servedBits, 1, 8))
      return err;
  if (vectorWidth != 0 &&
      (vectorWidth < kMinVectorWidth || vectorWidth > kMaxVectorWidth ||
       (vectorWidth & (vectorWidth - 1)) != 0))
    return error(llvm::formatv("--vector-width must be 0 (automatic) or a "
                               "power of two in [{0}, {1}], got {2}",
                               kMinVectorWidth, kMaxVectorWidth,
                               vectorWidth.getValue())
                     .str());
  return llvm::Error::success();
}

static double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

/// A one-line progress bar on stderr, drawn only on a terminal.
class Progress {
public:
  Progress(llvm::StringRef label, int64_t total)
      : label(label.str()), total(total),
        enabled(!noProgress && total > 1 && isatty(STDERR_FILENO)) {}
  ~Progress() {
    if (enabled && drawn)
      llvm::errs() << "\r\033[K";
  }
  void update(int64_t done) {
    if (!enabled)
      return;
    constexpr int width = 30;
    int filled = static_cast<int>(width * done / std::max<int64_t>(total, 1));
    llvm::errs() << "\r" << label << " [" << std::string(filled, '#')
                 << std::string(width - filled, '.') << "] " << done << "/"
                 << total;
    llvm::errs().flush();
    drawn = true;
  }

private:
  std::string label;
  int64_t total;
  bool enabled, drawn = false;
};

/// Everything a subcommand needs: the model compiled and its tokenizer.
struct LoadedModel {
  std::unique_ptr<model::Checkpoint> checkpoint;
  std::unique_ptr<MLIRContext> context;
  OwningOpRef<ModuleOp> module;
  /// The model's configuration, known before it is compiled.
  model::ModelConfig config;
  std::unique_ptr<mlir::qopt::ModelRunner> runner;
  std::unique_ptr<model::Tokenizer> tokenizer;
  double compileSeconds = 0;
};

/// A check of the loaded model and its tokenizer that runs before the
/// (slow) compilation, e.g. that the prompt fits the context.
using BeforeCompile = llvm::function_ref<llvm::Error(LoadedModel &)>;

/// The xorshift generator the synthetic weights use.
static uint32_t xorshift(uint64_t &state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 32);
}

/// One Llama-7B-shaped decoder layer (dim 4096, FFN 11008, 32 heads) with
/// uniform random weights, a 256-token tied vocabulary and a 1024-token
/// context, built in memory.
/// A synthetic Llama checkpoint with uniform random weights. `spec` is
/// `synthetic:llama-7b-layer` (one Llama-7B-shaped layer: dim 4096, FFN
/// 11008, 32 heads, a 256-token tied vocabulary) or `synthetic:llama`
/// followed by `,key=value` overrides of those numbers: dim, hidden, layers,
/// heads, kv_heads, vocab, context (e.g. `synthetic:llama,dim=1024,
/// hidden=2816,layers=32`, for measurements that vary one dimension).
static llvm::Expected<std::unique_ptr<model::Checkpoint>>
makeSynthetic(llvm::StringRef spec) {
  auto ckpt = std::make_unique<model::Checkpoint>();
  ckpt->path = spec.str();
  ckpt->format = "synthetic";
  model::ModelConfig &c = ckpt->config;
  c.dim = 4096;
  c.hiddenDim = 11008;
  c.numLayers = 1;
  c.numHeads = 32;
  c.numKVHeads = 32;
  c.vocabSize = 256;
  c.maxSeqLen = 1024;
  c.tiedEmbeddings = true;
  llvm::StringRef rest = spec.drop_front(strlen("synthetic:"));
  if (rest != "llama-7b-layer") {
    llvm::SmallVector<llvm::StringRef> parts;
    rest.split(parts, ',');
    if (parts.empty() || parts[0] != "llama")
      return llvm::createStringError(
          "unknown synthetic model '" + spec +
          "' (synthetic:llama-7b-layer or synthetic:llama,key=value,...)");
    for (llvm::StringRef part : llvm::drop_begin(parts)) {
      auto [key, value] = part.split('=');
      int64_t v = 0;
      if (value.getAsInteger(10, v) || v < 1 || v > (int64_t(1) << 20))
        return llvm::createStringError("synthetic model option '" + part +
                                       "' needs a value in 1..2^20");
      if (key == "dim")
        c.dim = v;
      else if (key == "hidden")
        c.hiddenDim = v;
      else if (key == "layers" && v <= 256)
        c.numLayers = v;
      else if (key == "heads")
        c.numHeads = v;
      else if (key == "kv_heads")
        c.numKVHeads = v;
      else if (key == "vocab")
        c.vocabSize = v;
      else if (key == "context")
        c.maxSeqLen = v;
      else
        return llvm::createStringError(
            "unknown synthetic model option '" + part +
            "' (dim, hidden, layers <= 256, heads, kv_heads, vocab, context)");
    }
    if (c.dim % c.numHeads != 0 || c.numHeads % c.numKVHeads != 0 ||
        (c.dim / c.numHeads) % 2 != 0)
      return llvm::createStringError(
          "synthetic model: heads must divide dim into even head sizes and "
          "kv_heads must divide heads");
    uint64_t bytes = 4ull * (uint64_t(c.vocabSize) * c.dim +
                             uint64_t(c.numLayers) *
                                 (2ull * c.dim * c.dim +
                                  2ull * c.kvDim() * c.dim +
                                  3ull * c.hiddenDim * c.dim));
    if (bytes > (uint64_t(16) << 30))
      return llvm::createStringError(
          "synthetic model of " + llvm::Twine(bytes >> 20) +
          " MiB is over the 16 GiB limit");
  }
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"tok_embeddings", {c.vocabSize, c.dim}}};
  for (int64_t l = 0; l < c.numLayers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".";
    shapes.push_back({p + "attention_norm", {c.dim}});
    shapes.push_back({p + "wq", {c.dim, c.dim}});
    shapes.push_back({p + "wk", {c.kvDim(), c.dim}});
    shapes.push_back({p + "wv", {c.kvDim(), c.dim}});
    shapes.push_back({p + "wo", {c.dim, c.dim}});
    shapes.push_back({p + "ffn_norm", {c.dim}});
    shapes.push_back({p + "w1", {c.hiddenDim, c.dim}});
    shapes.push_back({p + "w2", {c.dim, c.hiddenDim}});
    shapes.push_back({p + "w3", {c.hiddenDim, c.dim}});
  }
  shapes.push_back({"norm", {c.dim}});
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (auto &[name, shape] : shapes) {
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    auto buffer = llvm::WritableMemoryBuffer::getNewUninitMemBuffer(
        count * sizeof(float), name);
    float *data = reinterpret_cast<float *>(buffer->getBufferStart());
    bool isNorm = shape.size() == 1;
    for (int64_t i = 0; i < count; ++i)
      data[i] = isNorm ? 1.0f
                       : (static_cast<float>(xorshift(state)) / 4294967296.0f -
                          0.5f) * 0.04f;
    model::TensorRef t;
    t.name = t.sourceName = name;
    t.file = ckpt->path;
    t.shape = shape;
    t.data = reinterpret_cast<const uint8_t *>(data);
    t.numBytes = count * sizeof(float);
    ckpt->tensors.push_back(std::move(t));
    ckpt->buffers.push_back(std::move(buffer));
  }
  return std::move(ckpt);
}

/// Loads, imports (if needed), finds the tokenizer, runs `beforeCompile`
/// (when given) and compiles. With `compileTo`, compiles ahead of time into
/// that directory instead of JIT-compiling (no runner is created).
static llvm::Expected<LoadedModel>
loadModel(bool needTokenizer, BeforeCompile beforeCompile = nullptr,
          llvm::StringRef compileTo = "") {
  LoadedModel m;
  DialectRegistry registry;
  mlir::qopt::registerImportDialects(registry);
  registry.insert<func::FuncDialect>();
  mlir::qopt::registerLoweringDialects(registry);
  m.context = std::make_unique<MLIRContext>(registry);
  // Passes given with --pipeline may use any dialect qopt-opt knows.
  m.context->loadAllAvailableDialects();
  auto error = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  std::optional<mlir::qopt::KVCacheType> kvType =
      mlir::qopt::parseKVCacheType(kvTypeName);
  if (!kvType)
    return error("--kv-type must be f32, f16 or bf16, got '" +
                 llvm::StringRef(kvTypeName) + "'");
  // A module or artifact was imported with its cache type: an explicit
  // --kv-type must agree with it.
  auto checkKVType = [&](mlir::qopt::KVCacheType actual) -> llvm::Error {
    if (kvTypeName.getNumOccurrences() == 0 || actual == *kvType)
      return llvm::Error::success();
    return error("--kv-type " + mlir::qopt::kvCacheTypeName(*kvType) +
                 " conflicts with the " + mlir::qopt::kvCacheTypeName(actual) +
                 " KV cache of '" + llvm::StringRef(modelPath) +
                 "' (fixed when it was imported or compiled; re-import with "
                 "--kv-type, or leave the option out)");
  };

  llvm::StringRef path = modelPath;
  std::string checkpointSource;
  double start = now();
  if (mlir::qopt::ModelRunner::isArtifactDirectory(path)) {
    if (!compileTo.empty())
      return error("'" + path + "' is already a compiled artifact");
    if (!pipeline.empty())
      return error("--pipeline cannot change an ahead-of-time compiled "
                   "artifact; pass it to `qopt-run compile`");
    llvm::Expected<std::unique_ptr<mlir::qopt::ModelRunner>> runner =
        mlir::qopt::ModelRunner::loadArtifact(*m.context, path,
                                              checkpointSource);
    if (!runner)
      return runner.takeError();
    m.runner = std::move(*runner);
    m.compileSeconds = now() - start;
    if (llvm::Error err = checkKVType(m.runner->cacheType()))
      return std::move(err);
    if (llvm::Error err = m.runner->setServedWidths(servedBits, layerBits))
      return std::move(err);
  } else if (path.starts_with("synthetic:")) {
    llvm::Expected<std::unique_ptr<model::Checkpoint>> ckpt =
        makeSynthetic(path);
    if (!ckpt)
      return ckpt.takeError();
    m.checkpoint = std::move(*ckpt);
  } else if (path.ends_with(".mlir") || path.ends_with(".mlirbc")) {
    if (!llvm::sys::fs::exists(path))
      return error("no such file: '" + path + "'");
    if (!llvm::sys::fs::is_regular_file(path))
      return error("qopt module '" + path + "' is not a regular file");
    llvm::Expected<OwningOpRef<ModuleOp>> module =
        mlir::qopt::parseModuleFile(path, *m.context);
    if (!module)
      return module.takeError();
    m.module = std::move(*module);
  } else {
    llvm::Expected<std::unique_ptr<model::Checkpoint>> ckpt =
        model::loadCheckpoint(path);
    if (!ckpt)
      return ckpt.takeError();
    m.checkpoint = std::move(*ckpt);
  }
  if (m.checkpoint) {
    llvm::Expected<OwningOpRef<ModuleOp>> module = mlir::qopt::importCheckpoint(
        *m.context, *m.checkpoint, {/*kvType=*/*kvType});
    if (!module)
      return module.takeError();
    m.module = std::move(*module);
    checkpointSource = m.checkpoint->path;
  } else if (m.module) {
    // A module from qopt-import remembers its checkpoint (for the
    // tokenizer).
    if (auto dict = (*m.module)->getAttrOfType<DictionaryAttr>(
            mlir::qopt::kModelAttr))
      if (auto source = dict.getAs<StringAttr>("source"))
        checkpointSource = source.getValue().str();
  }
  if (m.module) {
    llvm::Expected<model::ModelConfig> cfg =
        mlir::qopt::readModelConfig(*m.module);
    if (!cfg)
      return cfg.takeError();
    m.config = *cfg;
    llvm::Expected<mlir::qopt::KVCacheInfo> cache =
        mlir::qopt::readKVCacheInfo(*m.module);
    if (!cache)
      return cache.takeError();
    if (llvm::Error err = checkKVType(cache->type))
      return std::move(err);
  } else {
    m.config = m.runner->config();
  }

  if (needTokenizer) {
    llvm::Expected<std::unique_ptr<model::Tokenizer>> tok =
        model::loadTokenizerFor(checkpointSource, tokenizerPath,
                                m.config.vocabSize);
    if (!tok)
      return tok.takeError();
    m.tokenizer = std::move(*tok);
  }
  if (beforeCompile)
    if (llvm::Error err = beforeCompile(m))
      return std::move(err);
  if (m.runner)
    return std::move(m);

  mlir::qopt::CompileOptions options;
  options.pipeline = pipeline;

  options.vectorWidth = vectorWidth;
  if (!compileTo.empty()) {
    // Recorded absolute, so the artifact finds its tokenizer from anywhere.
    llvm::SmallString<256> tokenizerSource(
        !tokenizerPath.empty() ? std::string(tokenizerPath) : checkpointSource);
    if (!tokenizerSource.empty() && !tokenizerSource.starts_with("synthetic:"))
      (void)llvm::sys::fs::make_absolute(tokenizerSource);
    if (llvm::Error err = mlir::qopt::ModelRunner::compileToDirectory(
            *m.module, options, compileTo, tokenizerSource))
      return std::move(err);
    m.compileSeconds = now() - start;
    return std::move(m);
  }
  llvm::Expected<std::unique_ptr<mlir::qopt::ModelRunner>> runner =
      mlir::qopt::ModelRunner::compile(*m.module, options);
  if (!runner)
    return runner.takeError();
  m.runner = std::move(*runner);
  m.compileSeconds = now() - start;
  if (llvm::Error err = m.runner->setServedWidths(servedBits, layerBits))
    return std::move(err);
  return std::move(m);
}

/// Reserves the KV cache for a run of `positions` positions (or for
/// --kv-reserve, when given), so that it never re-allocates. The run needs
/// `needed` of them now: when the whole reservation cannot be had (-n
/// 2000000 on a long-context model), the cache holds those and grows as
/// the run goes, which may well stop early.
static llvm::Error reserveCache(mlir::qopt::ModelRunner &runner,
                                int64_t positions, int64_t needed) {
  if (kvReserve.getNumOccurrences() > 0)
    return runner.reserve(
        std::min<int64_t>(kvReserve, runner.config().maxSeqLen));
  llvm::Error err =
      runner.reserve(std::min<int64_t>(positions, runner.config().maxSeqLen));
  if (!err || positions <= needed)
    return err;
  llvm::consumeError(std::move(err));
  return runner.reserve(needed);
}

/// log(sum(exp(logits))) - logits[target], computed stably.
static double tokenNLL(const float *logits, int64_t vocab, int32_t target) {
  float maxLogit = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i)
    sum += std::exp(static_cast<double>(logits[i] - maxLogit));
  return std::log(sum) + maxLogit - logits[target];
}

//===----------------------------------------------------------------------===//
// Subcommands
//===----------------------------------------------------------------------===//

static int runGenerate() {
  // The prompt must leave room for one generated token; checked before
  // compiling.
  std::vector<int32_t> tokens;
  auto encodePrompt = [&](LoadedModel &m) -> llvm::Error {
    tokens = m.tokenizer->encode(prompt, /*bos=*/true, /*eos=*/false);
    if (static_cast<int64_t>(tokens.size()) < m.config.maxSeqLen)
      return llvm::Error::success();
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the prompt has " +
                                       llvm::Twine(tokens.size()) +
                                       " tokens; the model's context is " +
                                       llvm::Twine(m.config.maxSeqLen));
  };
  llvm::Expected<LoadedModel> m =
      loadModel(/*needTokenizer=*/true, encodePrompt);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  const model::ModelConfig &cfg = m->runner->config();
  model::Tokenizer &tok = *m->tokenizer;
  // The context this run uses: the prompt and the requested tokens.
  int64_t promptLen = tokens.size();
  if (llvm::Error err =
          reserveCache(*m->runner, promptLen + numTokens, promptLen))
    return fail(llvm::toString(std::move(err)));
  model::Sampler sampler(cfg.vocabSize, temperature, topp, seed);
  std::vector<float> logits(tokens.size() * cfg.vocabSize);
  std::string text;
  auto emit = [&](int32_t prev, int32_t token) {
    std::string piece = tok.decode(prev, token);
    text += piece;
    if (!jsonOutput) {
      llvm::outs() << piece;
      llvm::outs().flush();
    }
  };
  for (size_t i = 1; i < tokens.size(); ++i)
    emit(tokens[i - 1], tokens[i]);

  double start = now();
  if (llvm::Error err = m->runner->forward(tokens, 0, logits.data()))
    return fail(llvm::toString(std::move(err)));
  double prefillSeconds = now() - start;
  float *last = logits.data() + (tokens.size() - 1) * cfg.vocabSize;
  int64_t generated = 0;
  start = now();
  while (generated < numTokens) {
    int32_t next = sampler.sample(last);
    if (next == tok.eosId() || next == tok.bosId())
      break;
    emit(tokens.back(), next);
    tokens.push_back(next);
    ++generated;
    if (static_cast<int64_t>(tokens.size()) >= cfg.maxSeqLen ||
        generated == numTokens)
      break;
    if (llvm::Error err = m->runner->forward(
            {next}, static_cast<int64_t>(tokens.size()) - 1, logits.data()))
      return fail(llvm::toString(std::move(err)));
    last = logits.data();
  }
  double decodeSeconds = now() - start;
  if (jsonOutput) {
    llvm::json::Object result{
        {"text", text},
        {"generated_tokens", generated},
        {"kv_type", mlir::qopt::kvCacheTypeName(m->runner->cacheType())},
        {"kv_cache_bytes", static_cast<int64_t>(m->runner->cacheBytes())},
        {"prefill_seconds", prefillSeconds},
        {"decode_tokens_per_second",
         decodeSeconds > 0 ? generated / decodeSeconds : 0.0}};
    llvm::outs() << llvm::json::Value(std::move(result)) << "\n";
  } else {
    llvm::outs() << "\n";
    llvm::outs().flush();
    llvm::errs() << llvm::format("[%lld tokens, %.1f tok/s]\n",
                                 static_cast<long long>(generated),
                                 decodeSeconds > 0 ? generated / decodeSeconds
                                                   : 0.0);
  }
  return 0;
}

static int runPerplexity() {
  llvm::Expected<std::unique_ptr<model::LineReader>> text =
      model::LineReader::open(textPath, kMaxTextLineBytes);
  if (!text)
    return fail(llvm::toString(text.takeError()));
  llvm::Expected<LoadedModel> m = loadModel(/*needTokenizer=*/true);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  const model::ModelConfig &cfg = m->runner->config();
  // The text is read a line at a time: memory is bounded by the longest
  // line, not the file. Lines are split at '\n' only: a CRLF file's '\r'
  // stays part of its line, as in the published stories260K reference (4769
  // tokens); empty lines are skipped. Each line is a sequence from position
  // 0, so the cache grows to the longest.
  double totalNLL = 0, seconds = 0;
  int64_t count = 0, sequences = 0;
  std::vector<float> logits;
  Progress progress("ppl", (*text)->fileSize());
  std::string line;
  while (true) {
    llvm::Expected<bool> more = (*text)->next(line);
    if (!more)
      return fail(llvm::toString(more.takeError()));
    if (!*more)
      break;
    if (line.empty())
      continue;
    std::vector<int32_t> tokens = m->tokenizer->encode(line, true, false);
    if (static_cast<int64_t>(tokens.size()) > cfg.maxSeqLen)
      tokens.resize(cfg.maxSeqLen);
    if (tokens.size() < 2)
      continue;
    if (llvm::Error err =
            reserveCache(*m->runner, tokens.size(), tokens.size()))
      return fail(llvm::toString(std::move(err)));
    double start = now();
    logits.resize(tokens.size() * cfg.vocabSize);
    if (llvm::Error err = m->runner->forward(tokens, 0, logits.data()))
      return fail(llvm::toString(std::move(err)));
    for (size_t t = 0; t + 1 < tokens.size(); ++t)
      totalNLL += tokenNLL(logits.data() + t * cfg.vocabSize, cfg.vocabSize,
                           tokens[t + 1]);
    seconds += now() - start;
    count += tokens.size() - 1;
    ++sequences;
    progress.update((*text)->bytesRead());
  }
  if (count == 0)
    return fail("'" + textPath + "' has no line of two or more tokens");
  double nll = totalNLL / count;
  double ppl = std::exp(nll);
  if (jsonOutput) {
    llvm::json::Object result{
        {"tokens", count},
        {"sequences", sequences},
        {"nll", nll},
        {"ppl", ppl},
        {"kv_type", mlir::qopt::kvCacheTypeName(m->runner->cacheType())},
        {"kv_cache_bytes", static_cast<int64_t>(m->runner->cacheBytes())},
        {"seconds", seconds},
        {"tokens_per_second", count / seconds}};
    llvm::outs() << llvm::json::Value(std::move(result)) << "\n";
  } else {
    llvm::outs() << llvm::format(
        "tokens %lld  sequences %lld  mean NLL %.6f  perplexity %.4f  "
        "(%.1f tok/s)\n",
        static_cast<long long>(count), static_cast<long long>(sequences), nll,
        ppl, count / seconds);
  }
  return 0;
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

/// Reads every byte of `spans` once with vector loads (the time to stream
/// the weights through one core).
static double streamSeconds(
    llvm::ArrayRef<std::pair<const char *, size_t>> spans) {
  float sink = 0;
  double start = now();
  for (auto [data, bytes] : spans) {
    const float *p = reinterpret_cast<const float *>(data);
    size_t n = bytes / sizeof(float);
    sink += sumFloats(p, n);
  }
  double seconds = now() - start;
  if (sink == 42.0f)
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

static int runBench() {
  llvm::Expected<LoadedModel> m = loadModel(/*needTokenizer=*/false);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  const model::ModelConfig &cfg = m->runner->config();
  int64_t promptLen = std::min<int64_t>(benchPrompt, cfg.maxSeqLen / 2);
  int64_t decodeLen =
      std::min<int64_t>(benchDecode, cfg.maxSeqLen - promptLen - 1);
  std::vector<int32_t> tokens(promptLen);
  for (int64_t i = 0; i < promptLen; ++i)
    tokens[i] = static_cast<int32_t>((i * 7 + 1) % cfg.vocabSize);
  std::vector<float> logits(promptLen * cfg.vocabSize);
  // The context of the benchmark: the prompt, then the decode steps.
  if (llvm::Error err = reserveCache(*m->runner, promptLen + decodeLen,
                                     promptLen + decodeLen))
    return fail(llvm::toString(std::move(err)));

  // Warm up (first-touch of code and weights), then measure. The peak RSS
  // of inference alone (activations on top of weights and KV cache) is
  // VmHWM after resetting it here.
  if (llvm::Error err = m->runner->forward({tokens[0]}, 0, logits.data()))
    return fail(llvm::toString(std::move(err)));
  bool peakReset = resetPeakRSS();
  uint64_t rssBefore = procStatusBytes("VmRSS");
  double start = now();
  if (llvm::Error err = m->runner->forward(tokens, 0, logits.data()))
    return fail(llvm::toString(std::move(err)));
  double prefillSeconds = now() - start;

  // Decode steps alternate with a pass reading all the weights once, so
  // that the ratio compares two timings taken under the same conditions.
  std::vector<double> steps, streams;
  Progress progress("decode", decodeLen);
  int32_t next = tokens.back();
  auto spans = m->runner->weightBuffers();
  for (int64_t i = 0; i < decodeLen; ++i) {
    double t0 = now();
    if (llvm::Error err =
            m->runner->forward({next}, promptLen + i, logits.data()))
      return fail(llvm::toString(std::move(err)));
    steps.push_back(now() - t0);
    streams.push_back(streamSeconds(spans));
    next = static_cast<int32_t>(
        std::max_element(logits.begin(), logits.begin() + cfg.vocabSize) -
        logits.begin());
    progress.update(i + 1);
  }
  double medianStep = median(steps);
  double streamTime = median(streams);
  uint64_t weightBytes = m->runner->weightBytes();
  double bandwidth = weightBytes / streamTime;
  double ratio = medianStep / streamTime;
  uint64_t peak = peakRSS();
  uint64_t inferencePeak = peakReset ? procStatusBytes("VmHWM") : 0;
  int64_t inferenceGrowth =
      inferencePeak && rssBefore
          ? static_cast<int64_t>(inferencePeak) - static_cast<int64_t>(rssBefore)
          : -1;

  if (jsonOutput) {
    llvm::json::Object result{
        {"model", modelPath},
        {"compile_seconds", m->compileSeconds},
        {"prefill_tokens", promptLen},
        {"prefill_tokens_per_second", promptLen / prefillSeconds},
        {"decode_tokens", decodeLen},
        {"decode_tokens_per_second", 1.0 / medianStep},
        {"decode_median_seconds", medianStep},
        {"weight_bytes", static_cast<int64_t>(weightBytes)},
        {"weight_bytes_read_per_token",
         static_cast<int64_t>(m->runner->weightBytesRead())},
        {"served_bits", servedBitsJson(*m->runner)},
        {"kv_type", mlir::qopt::kvCacheTypeName(m->runner->cacheType())},
        {"kv_cache_bytes", static_cast<int64_t>(m->runner->cacheBytes())},
        {"kv_cache_positions", m->runner->cacheCapacity()},
        {"peak_rss_bytes", static_cast<int64_t>(peak)},
        {"inference_peak_rss_bytes", static_cast<int64_t>(inferencePeak)},
        {"inference_rss_growth_bytes", inferenceGrowth},
        {"read_bandwidth_bytes_per_second", bandwidth},
        {"weight_stream_seconds", streamTime},
        {"decode_over_stream_ratio", ratio},
        {"threads", 1}};
    llvm::outs() << llvm::json::Value(std::move(result)) << "\n";
  } else {
    llvm::outs() << llvm::format(
        "model            %s\n"
        "compile/load     %.2f s\n"
        "prefill          %lld tokens, %.1f tok/s\n"
        "decode           %lld tokens, %.1f tok/s (median %.3f ms/token)\n"
        "weights          %.1f MiB (%.1f MiB read per token)   KV cache %.1f "
        "MiB   peak RSS %.1f MiB\n"
        "read bandwidth   %.2f GB/s (1 thread, vector loads over the weights)\n"
        "weight stream    %.3f ms (median); decode/stream = %.2fx\n",
        modelPath.c_str(), m->compileSeconds,
        static_cast<long long>(promptLen), promptLen / prefillSeconds,
        static_cast<long long>(decodeLen), 1.0 / medianStep,
        medianStep * 1e3, weightBytes / 1048576.0,
        m->runner->weightBytesRead() / 1048576.0,
        m->runner->cacheBytes() / 1048576.0, peak / 1048576.0,
        bandwidth / 1e9, streamTime * 1e3, ratio);
    if (weightBytes < (uint64_t(64) << 20))
      llvm::outs() << "note             the weights fit in the CPU caches: "
                      "the ratio compares against cache, not DRAM, "
                      "bandwidth\n";
  }
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::qopt::registerQOptPasses();
  mlir::qopt::registerQOptConversionPasses();
  cl::ParseCommandLineOptions(
      argc, argv,
      "qopt-run: compile and run an LLM with qopt\n\n"
      "  qopt-run generate MODEL --prompt TEXT -n N [--temperature T] "
      "[--seed S]\n"
      "  qopt-run ppl MODEL --text FILE [--json]\n"
      "  qopt-run bench MODEL [--json]\n"
      "  qopt-run compile MODEL -o DIR\n"
      "Each takes [--pipeline P] [--kv-type f32|f16|bf16] [--tokenizer T].\n\n"
      "MODEL: a llama2.c .bin, a Hugging Face checkpoint directory, a GGUF "
      "file, a qopt module (.mlir/.mlirbc from qopt-import), an artifact "
      "directory from `qopt-run compile`, or synthetic:llama-7b-layer.\n");
  if (llvm::Error err = checkOptions())
    return fail(llvm::toString(std::move(err)));
  if (generateCmd)
    return runGenerate();
  if (pplCmd)
    return runPerplexity();
  if (benchCmd)
    return runBench();
  if (compileCmd) {
    llvm::Expected<LoadedModel> m =
        loadModel(/*needTokenizer=*/false, nullptr, artifactDir);
    if (!m)
      return fail(llvm::toString(m.takeError()));
    llvm::errs() << llvm::format("compiled '%s' into '%s' in %.2f s\n",
                                 modelPath.c_str(), artifactDir.c_str(),
                                 m->compileSeconds);
    return 0;
  }
  return fail("expected a subcommand: generate, ppl or bench (see --help)");
}
