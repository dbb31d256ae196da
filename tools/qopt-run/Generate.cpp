//===- Generate.cpp - qopt-run generate -------------------------*- C++ -*-===//
//
// Generates text from a prompt with llama.cpp's sampler chain
// (qopt/Model/Sampler.h) and a seed that is random unless given, and says
// why it stopped: "eos" (the model ended the text), "length" (-n tokens)
// or "context" (the context, the model's or -c, is full).
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "Subcommands.h"
#include "Support.h"

#include "qopt/Model/Generation.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <random>

using namespace qopt::run;
namespace model = ::qopt::model;

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

static cl::opt<std::string> prompt("prompt", cl::desc("Prompt text"),
                                   cl::init(""), cl::sub(generateCommand()),
                                   cl::cat(generateCategory()));
static cl::alias promptShort("p", cl::desc("Alias for --prompt"),
                             cl::aliasopt(prompt), cl::NotHidden);
static cl::opt<std::string>
    promptFile("f", cl::desc("Read the prompt from this file (llama.cpp's -f)"),
               cl::value_desc("file"), cl::sub(generateCommand()),
               cl::cat(generateCategory()));
static cl::alias promptFileLong("file", cl::desc("Alias for -f"),
                                cl::aliasopt(promptFile), cl::NotHidden);
static cl::opt<int> numTokens("n", cl::desc("Number of tokens to generate"),
                              cl::init(256), cl::sub(generateCommand()),
                              cl::sub(chatCommand()),
                              cl::cat(generateCategory()));
static cl::alias numTokensLong("n-predict", cl::desc("Alias for -n"),
                               cl::aliasopt(numTokens), cl::NotHidden);
static cl::opt<uint64_t>
    seed("seed",
         cl::desc("Random seed (default: a random one, printed on stderr)"),
         cl::sub(generateCommand()), cl::sub(chatCommand()),
         cl::cat(generateCategory()));
static cl::alias seedShort("s", cl::desc("Alias for --seed"),
                           cl::aliasopt(seed), cl::NotHidden);

static cl::opt<float>
    temperature("temperature",
                cl::desc("Temperature, finite and >= 0; 0 (default) is greedy"),
                cl::init(0.0f), cl::sub(generateCommand()),
                cl::sub(chatCommand()), cl::cat(samplingCategory()));
static cl::alias temperatureShort("temp", cl::desc("Alias for --temperature"),
                                  cl::aliasopt(temperature), cl::NotHidden);
static cl::opt<int> topK("top-k",
                         cl::desc("Keep the k most likely tokens (0: off)"),
                         cl::init(0), cl::sub(generateCommand()),
                         cl::sub(chatCommand()), cl::cat(samplingCategory()));
static cl::opt<float>
    topP("top-p",
         cl::desc("Nucleus: keep the most likely tokens up to this total "
                  "probability, in (0, 1] (1: off)"),
         cl::init(0.9f), cl::sub(generateCommand()), cl::sub(chatCommand()),
         cl::cat(samplingCategory()));
static cl::opt<float> minP(
    "min-p",
    cl::desc("Keep tokens at least this times as likely as the most likely "
             "one, in [0, 1] (0: off)"),
    cl::init(0.0f), cl::sub(generateCommand()), cl::sub(chatCommand()),
    cl::cat(samplingCategory()));
static cl::opt<float> repeatPenalty(
    "repeat-penalty",
    cl::desc("Penalize the tokens of the last --repeat-last-n (> 0; 1: off)"),
    cl::init(1.0f), cl::sub(generateCommand()), cl::sub(chatCommand()),
    cl::cat(samplingCategory()));
static cl::opt<int> repeatLastN(
    "repeat-last-n",
    cl::desc("Tokens the repetition penalty looks back at, prompt included "
             "(0: off, -1: the whole context)"),
    cl::init(64), cl::sub(generateCommand()), cl::sub(chatCommand()),
    cl::cat(samplingCategory()));

static llvm::Error optionError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// Range checks of generate's options, before anything is loaded.
llvm::Error qopt::run::checkGenerateOptions() {
  if (!std::isfinite(temperature) || temperature < 0)
    return optionError("--temperature must be a finite number >= 0 (0: "
                       "greedy), got " +
                       formatFloat(temperature));
  if (!(topP > 0.0f && topP <= 1.0f))
    return optionError("--top-p must be in (0, 1], got " + formatFloat(topP));
  if (!(minP >= 0.0f && minP <= 1.0f))
    return optionError("--min-p must be in [0, 1], got " + formatFloat(minP));
  if (!(repeatPenalty > 0.0f) || !std::isfinite(repeatPenalty))
    return optionError("--repeat-penalty must be a finite number > 0 (1: "
                       "off), got " +
                       formatFloat(repeatPenalty));
  if (topK < 0)
    return optionError("--top-k must be >= 0 (0: off), got " +
                       llvm::Twine(topK.getValue()));
  if (repeatLastN < -1)
    return optionError("--repeat-last-n must be >= -1 (-1: the whole "
                       "context), got " +
                       llvm::Twine(repeatLastN.getValue()));
  if (numTokens < 0 || numTokens > model::kMaxContextLength)
    return optionError(llvm::formatv("-n must be in [0, {0}], got {1}",
                                     model::kMaxContextLength,
                                     numTokens.getValue())
                           .str());
  if (prompt.getNumOccurrences() && promptFile.getNumOccurrences())
    return optionError("give the prompt with --prompt or -f, not both");
  return llvm::Error::success();
}

model::SamplingParams qopt::run::samplingParams() {
  model::SamplingParams params;
  params.temperature = temperature;
  params.topK = topK;
  params.topP = topP;
  params.minP = minP;
  params.repeatPenalty = repeatPenalty;
  params.repeatLastN = repeatLastN;
  return params;
}

uint64_t qopt::run::generationSeed() {
  // Given, or drawn (and printed by the caller) so that the run can be
  // repeated.
  if (seed.getNumOccurrences())
    return seed;
  std::random_device device;
  return device(); // 32 bits, as llama.cpp's seeds
}

int qopt::run::maxNewTokens() { return numTokens; }

//===----------------------------------------------------------------------===//
// generate
//===----------------------------------------------------------------------===//

int qopt::run::runGenerate() {
  if (llvm::Error err = checkGenerateOptions())
    return fail(llvm::toString(std::move(err)));
  std::string promptText = prompt;
  if (promptFile.getNumOccurrences()) {
    auto buffer = llvm::MemoryBuffer::getFile(promptFile, /*IsText=*/true);
    if (!buffer)
      return fail("cannot read the prompt file '" + promptFile +
                  "': " + buffer.getError().message());
    promptText = (*buffer)->getBuffer().str();
  }
  uint64_t runSeed = generationSeed();

  // The prompt must leave room for one generated token within the context;
  // checked before compiling.
  std::vector<int32_t> tokens;
  int64_t context = 0;
  auto encodePrompt = [&](LoadedModel &m) -> llvm::Error {
    context = m.config.maxSeqLen;
    if (contextSize > context)
      return optionError("-c " + llvm::Twine(contextSize.getValue()) +
                         " is more than the model's context of " +
                         llvm::Twine(context) + " tokens");
    if (contextSize > 0)
      context = contextSize;
    tokens = m.tokenizer->encode(promptText, /*bos=*/true, /*eos=*/false);
    if (tokens.empty())
      return optionError("the prompt is empty and the tokenizer has no BOS "
                         "token to start from; give a prompt");
    if (static_cast<int64_t>(tokens.size()) < context)
      return llvm::Error::success();
    return optionError("the prompt has " + llvm::Twine(tokens.size()) +
                       " tokens; the context is " + llvm::Twine(context));
  };
  llvm::Expected<LoadedModel> m =
      loadModel(/*needTokenizer=*/true, encodePrompt);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  const model::ModelConfig &cfg = m->runner->config();
  model::Tokenizer &tok = *m->tokenizer;
  int64_t promptLen = tokens.size();
  if (llvm::Error err = reserveCache(
          *m->runner, std::min<int64_t>(promptLen + numTokens, context),
          promptLen))
    return fail(llvm::toString(std::move(err)));

  model::SamplingParams params = samplingParams();
  // Printed once the model is loaded and the prompt fits, so that an error
  // stays the only line on stderr.
  llvm::errs() << "seed: " << runSeed << "\n";
  model::Sampler sampler(cfg.vocabSize, params, runSeed);
  std::string text;
  auto emit = [&](llvm::StringRef piece) {
    text += piece;
    if (!jsonOutput) {
      llvm::outs() << piece;
      llvm::outs().flush();
    }
    return true;
  };
  // The loop the artifact C API runs too (qopt/Model/Generation.h).
  llvm::Expected<model::GenerationResult> result = model::generate(
      m->runner->executor(), tok, sampler, tokens, numTokens, context, emit);
  if (!result)
    return fail(llvm::toString(result.takeError()));
  int64_t generated = result->generated;
  llvm::StringRef stopReason = result->stopReason;
  double prefillSeconds = result->prefillSeconds;
  double decodeSeconds = result->decodeSeconds;
  double rate = decodeSeconds > 0 ? generated / decodeSeconds : 0.0;
  if (jsonOutput) {
    llvm::json::Object result{
        {"text", text},
        {"generated_tokens", generated},
        {"prompt_tokens", promptLen},
        {"context", context},
        {"seed", runSeed},
        {"stop_reason", stopReason},
        {"kv_type", mlir::qopt::kvCacheTypeName(m->runner->cacheType())},
        {"kv_cache_bytes", static_cast<int64_t>(m->runner->cacheBytes())},
        {"prefill_seconds", prefillSeconds},
        {"decode_tokens_per_second", rate}};
    llvm::outs() << llvm::json::Value(std::move(result)) << "\n";
  } else {
    llvm::outs() << "\n";
    llvm::outs().flush();
    llvm::errs() << llvm::format("[%lld tokens, %.1f tok/s] stopped: ",
                                 static_cast<long long>(generated), rate)
                 << stopReason;
    if (stopReason == "eos")
      llvm::errs() << " (end of text)";
    else if (stopReason == "length")
      llvm::errs() << " (-n " << numTokens << ")";
    else
      llvm::errs() << " (context of " << context << " tokens full)";
    llvm::errs() << "\n";
  }
  return 0;
}
