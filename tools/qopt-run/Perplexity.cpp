//===- Perplexity.cpp - qopt-run ppl ----------------------------*- C++ -*-===//
//
// Perplexity of a text file, two ways:
//
// - by line (default): BOS + each non-empty line is a sequence from
//   position 0, truncated at the context (-c, else the model's) with a
//   warning; every predicted token is scored.
// - --chunked, llama-perplexity's method: BOS + the whole file is
//   tokenized once and cut into chunks of -c tokens; each chunk is a
//   sequence from position 0 whose first token is replaced by BOS, and only
//   the second half of each chunk is scored (the predictions of tokens
//   first+1 .. c-1 from the logits at positions first .. c-2, first = c/2),
//   so every scored token has at least c/2 tokens of context. A tail that
//   does not fill a chunk is not scored (with a warning).
//
// Both report the mean NLL over the scored tokens with its standard error
// (the sample standard deviation of the per-token NLLs / sqrt(count), the
// "+/-" of llama-perplexity, which ignores the correlation between tokens of
// one sequence), and the perplexity exp(NLL) with its propagated error.
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "Subcommands.h"
#include "Support.h"

#include "qopt/Model/Input.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace qopt::run;
namespace model = ::qopt::model;

static cl::opt<std::string> textPath("text", cl::desc("Text file"),
                                     cl::value_desc("file"), cl::Required,
                                     cl::sub(pplCommand()),
                                     cl::cat(pplCategory()));
static cl::alias textShort("f", cl::desc("Alias for --text (llama.cpp's -f)"),
                           cl::aliasopt(textPath), cl::NotHidden);
static cl::opt<bool> chunked(
    "chunked",
    cl::desc("llama-perplexity's method: tokenize the whole file, cut it "
             "into chunks of -c tokens, score the second half of each"),
    cl::sub(pplCommand()), cl::cat(pplCategory()));
static cl::opt<int> maxChunks(
    "chunks",
    cl::desc("Score at most this many chunks (llama-perplexity's --chunks; "
             "implies --chunked; default: all)"),
    cl::init(0), cl::sub(pplCommand()), cl::cat(pplCategory()));

/// Longest line `ppl` reads (16 MiB): encoding is O(n log n), and a line
/// this long takes a few seconds and well under 1 GiB to encode, even with a
/// vocabulary that cannot cut it into words.
static constexpr uint64_t kMaxTextLineBytes = uint64_t(16) << 20;
/// Largest file --chunked tokenizes at once.
static constexpr uint64_t kMaxChunkedTextBytes = uint64_t(256) << 20;

namespace {
/// What either method measured.
struct PerplexityResult {
  Stats nll;
  int64_t sequences = 0;
  double seconds = 0;
  /// By line: lines cut at the context and the tokens cut off them.
  int64_t truncatedSequences = 0, truncatedTokens = 0;
  /// Chunked: tokens after the last whole chunk.
  int64_t unscoredTokens = 0;
};
} // namespace

/// Runs `tokens` from position 0 and adds the NLL of predicting tokens
/// [from + 1, size) to `result`.
static llvm::Error scoreSequence(LoadedModel &m,
                                 const std::vector<int32_t> &tokens,
                                 size_t from, std::vector<float> &logits,
                                 PerplexityResult &result) {
  const model::ModelConfig &cfg = m.runner->config();
  if (llvm::Error err = reserveCache(*m.runner, tokens.size(), tokens.size()))
    return err;
  double start = now();
  logits.resize(tokens.size() * cfg.vocabSize);
  if (llvm::Error err = m.runner->forward(tokens, 0, logits.data()))
    return err;
  for (size_t t = from; t + 1 < tokens.size(); ++t)
    result.nll.add(tokenNLL(logits.data() + t * cfg.vocabSize, cfg.vocabSize,
                            tokens[t + 1]));
  result.seconds += now() - start;
  ++result.sequences;
  return llvm::Error::success();
}

static llvm::Error byLine(LoadedModel &m, int64_t context,
                          model::LineReader &text, PerplexityResult &result) {
  // Memory is bounded by the longest line, not the file. Lines are split at
  // '\n' only: a CRLF file's '\r' stays part of its line, as in the
  // published stories260K reference (4769 tokens); empty lines are skipped.
  std::vector<float> logits;
  Progress progress("ppl", text.fileSize());
  std::string line;
  while (true) {
    llvm::Expected<bool> more = text.next(line);
    if (!more)
      return more.takeError();
    if (!*more)
      break;
    if (line.empty())
      continue;
    std::vector<int32_t> tokens = m.tokenizer->encode(line, true, false);
    if (static_cast<int64_t>(tokens.size()) > context) {
      ++result.truncatedSequences;
      result.truncatedTokens += tokens.size() - context;
      tokens.resize(context);
    }
    if (tokens.size() < 2)
      continue;
    if (llvm::Error err = scoreSequence(m, tokens, 0, logits, result))
      return err;
    progress.update(text.bytesRead());
  }
  progress.finish();
  if (result.truncatedSequences)
    warn(llvm::Twine(result.truncatedSequences) + " line(s) of '" + textPath +
         "' were longer than the " + llvm::Twine(context) +
         "-token context; their last " + llvm::Twine(result.truncatedTokens) +
         " token(s) were not scored (--chunked scores the whole file)");
  return llvm::Error::success();
}

/// The whole text for --chunked, at most kMaxChunkedTextBytes.
static llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> readWholeText() {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      model::openRegularFile(textPath, "");
  if (!buffer)
    return buffer.takeError();
  if ((*buffer)->getBufferSize() > kMaxChunkedTextBytes)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "'" + textPath + "' is larger than the " +
                                       llvm::Twine(kMaxChunkedTextBytes >> 20) +
                                       " MiB --chunked reads");
  return buffer;
}

static llvm::Error byChunk(LoadedModel &m, int64_t context,
                           const llvm::MemoryBuffer &buffer,
                           PerplexityResult &result) {
  auto error = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  std::vector<int32_t> tokens =
      m.tokenizer->encode(buffer.getBuffer(), /*bos=*/true, false);
  int64_t count = tokens.size();
  if (count < 2 * context)
    return error("'" + textPath + "' has " + llvm::Twine(count) +
                 " tokens; --chunked needs at least 2 chunks of " +
                 llvm::Twine(context) + " (" + llvm::Twine(2 * context) +
                 "); lower -c");
  int64_t chunks = count / context;
  if (maxChunks > 0)
    chunks = std::min<int64_t>(chunks, maxChunks);
  result.unscoredTokens = count - chunks * context;
  int64_t first = context / 2;
  std::vector<float> logits;
  std::vector<int32_t> chunk(context);
  Progress progress("ppl", chunks);
  for (int64_t i = 0; i < chunks; ++i) {
    std::copy(tokens.begin() + i * context, tokens.begin() + (i + 1) * context,
              chunk.begin());
    // Each chunk starts from BOS, as llama-perplexity does; a tokenizer
    // without one (Qwen2) keeps the chunk's own first token.
    if (m.tokenizer->bosId() >= 0)
      chunk[0] = m.tokenizer->bosId();
    if (llvm::Error err = scoreSequence(m, chunk, first, logits, result))
      return err;
    progress.update(i + 1);
  }
  progress.finish();
  if (result.unscoredTokens && maxChunks <= 0)
    warn("the last " + llvm::Twine(result.unscoredTokens) + " token(s) of '" +
         textPath + "' do not fill a chunk of " + llvm::Twine(context) +
         " and were not scored");
  return llvm::Error::success();
}

int qopt::run::runPerplexity() {
  if (maxChunks < 0)
    return fail("--chunks must be >= 0 (0: all), got " +
                llvm::Twine(maxChunks.getValue()));
  bool whole = chunked || maxChunks > 0;
  int64_t context = 0;
  auto checkContext = [&](LoadedModel &m) -> llvm::Error {
    context = m.config.maxSeqLen;
    if (contextSize > context)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "-c " + llvm::Twine(contextSize.getValue()) +
              " is more than the model's context of " + llvm::Twine(context) +
              " tokens");
    if (contextSize > 0)
      context = contextSize;
    if (whole && context < 4)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "--chunked needs -c 4 or more");
    return llvm::Error::success();
  };
  // The text is opened first: a missing file, or one that is not a regular
  // file (/dev/zero, a FIFO), is an error before the model is compiled.
  std::unique_ptr<model::LineReader> lines;
  std::unique_ptr<llvm::MemoryBuffer> wholeText;
  if (whole) {
    llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> text = readWholeText();
    if (!text)
      return fail(llvm::toString(text.takeError()));
    wholeText = std::move(*text);
  } else {
    llvm::Expected<std::unique_ptr<model::LineReader>> text =
        model::LineReader::open(textPath, kMaxTextLineBytes);
    if (!text)
      return fail(llvm::toString(text.takeError()));
    lines = std::move(*text);
  }
  llvm::Expected<LoadedModel> m =
      loadModel(/*needTokenizer=*/true, checkContext);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  PerplexityResult r;
  if (llvm::Error err = whole ? byChunk(*m, context, *wholeText, r)
                              : byLine(*m, context, *lines, r))
    return fail(llvm::toString(std::move(err)));
  int64_t count = r.nll.count();
  if (count == 0)
    return fail("'" + textPath + "' has no line of two or more tokens");
  double nll = r.nll.mean(), nllError = r.nll.stderrOfMean();
  double ppl = std::exp(nll), pplError = ppl * nllError;
  double rate = r.seconds > 0 ? count / r.seconds : 0.0;
  if (jsonOutput) {
    llvm::json::Object result{
        {"mode", whole ? "chunked" : "lines"},
        {"context", context},
        {"tokens", count},
        {"sequences", r.sequences},
        {"nll", nll},
        {"nll_stderr", nllError},
        {"ppl", ppl},
        {"ppl_stderr", pplError},
        {"kv_type", mlir::qopt::kvCacheTypeName(m->runner->cacheType())},
        {"kv_cache_bytes", static_cast<int64_t>(m->runner->cacheBytes())},
        {"seconds", r.seconds},
        {"tokens_per_second", rate},
        // The prefill GEMM's micro-kernel (ModelRunner::prefillGemm).
        {"prefill_gemm", m->runner->prefillGemm().empty()
                             ? std::string("as compiled")
                             : m->runner->prefillGemm().str()}};
    if (whole)
      result["unscored_tokens"] = r.unscoredTokens;
    else {
      result["truncated_sequences"] = r.truncatedSequences;
      result["truncated_tokens"] = r.truncatedTokens;
    }
    llvm::outs() << llvm::json::Value(std::move(result)) << "\n";
  } else {
    llvm::outs() << llvm::format(
        "tokens %lld  %s %lld  mean NLL %.6f +/- %.6f  perplexity %.4f +/- "
        "%.4f  (%.1f tok/s)\n",
        static_cast<long long>(count), whole ? "chunks" : "sequences",
        static_cast<long long>(r.sequences), nll, nllError, ppl, pplError,
        rate);
  }
  return 0;
}
