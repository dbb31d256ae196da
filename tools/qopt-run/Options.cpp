//===- Options.cpp - qopt-run's subcommands and shared options --*- C++ -*-===//
//
// Definitions of the subcommands, the option categories and the options
// several subcommands share, their range checks, and the help layout: only
// qopt's options are shown by --help, the libraries' by --help-hidden.
//
//===----------------------------------------------------------------------===//

#include "Options.h"

#include "qopt/Conversion/Passes.h"
#include "qopt/Model/Checkpoint.h"
#include "qopt/Tools/ModelRunner.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace qopt::run;

//===----------------------------------------------------------------------===//
// Subcommands and categories
//===----------------------------------------------------------------------===//

cl::SubCommand &qopt::run::generateCommand() {
  static cl::SubCommand sub("generate", "Generate text from a prompt");
  return sub;
}
cl::SubCommand &qopt::run::pplCommand() {
  static cl::SubCommand sub(
      "ppl", "Perplexity of a text file (BOS + one line per sequence, or "
             "llama-perplexity's chunks with --chunked)");
  return sub;
}
cl::SubCommand &qopt::run::benchCommand() {
  static cl::SubCommand sub(
      "bench", "Prompt processing and generation throughput, llama-bench "
               "style");
  return sub;
}
cl::SubCommand &qopt::run::compileCommand() {
  static cl::SubCommand sub(
      "compile", "Compile ahead of time into an artifact directory (model.so "
                 "+ weights), itself a MODEL for the other subcommands");
  return sub;
}

cl::SubCommand &qopt::run::calibrateCommand() {
  static cl::SubCommand sub(
      "calibrate", "Record H = X^T X of every linear layer's input on a "
                   "text (for GPTQ and Matryoshka quantization)");
  return sub;
}
cl::SubCommand &qopt::run::quantizeCommand() {
  static cl::SubCommand sub(
      "quantize", "Quantize the weights (RTN, GPTQ or Matryoshka) and write "
                  "the quantized model (.mlirbc, .mlir or .gguf), itself a "
                  "MODEL for the other subcommands");
  return sub;
}

cl::SubCommand &qopt::run::chatCommand() {
  static cl::SubCommand sub(
      "chat", "Chat with an instruct model through its chat template (turns "
              "from stdin, one a line, or -p), keeping the KV cache");
  return sub;
}

llvm::ArrayRef<cl::SubCommand *> qopt::run::modelCommands() {
  static cl::SubCommand *subs[] = {&generateCommand(),  &pplCommand(),
                                   &benchCommand(),     &compileCommand(),
                                   &calibrateCommand(), &quantizeCommand(),
                                   &chatCommand()};
  return subs;
}
llvm::ArrayRef<cl::SubCommand *> qopt::run::runCommands() {
  static cl::SubCommand *subs[] = {&generateCommand(), &pplCommand(),
                                   &benchCommand(), &chatCommand()};
  return subs;
}

#define QOPT_CATEGORY(fn, name)                                                \
  cl::OptionCategory &qopt::run::fn() {                                        \
    static cl::OptionCategory category(name);                                  \
    return category;                                                           \
  }
QOPT_CATEGORY(modelCategory, "Model options")
QOPT_CATEGORY(generateCategory, "Generation options")
QOPT_CATEGORY(samplingCategory,
              "Sampling options (llama.cpp's samplers, in its order)")
QOPT_CATEGORY(pplCategory, "Perplexity options")
QOPT_CATEGORY(benchCategory, "Benchmark options")
QOPT_CATEGORY(outputCategory, "Output options")
QOPT_CATEGORY(quantCategory, "Quantization options (calibrate, quantize)")
#undef QOPT_CATEGORY

llvm::ArrayRef<const cl::OptionCategory *> qopt::run::qoptCategories() {
  static const cl::OptionCategory *categories[] = {
      &modelCategory(), &generateCategory(), &samplingCategory(),
      &pplCategory(),   &benchCategory(),    &outputCategory(),
      &quantCategory()};
  return categories;
}

//===----------------------------------------------------------------------===//
// Shared options
//===----------------------------------------------------------------------===//

cl::opt<std::string> qopt::run::modelPositional(cl::Positional,
                                                cl::desc("<model>"),
                                                ModelCommands(),
                                                cl::cat(modelCategory()));
cl::opt<std::string> qopt::run::modelOption(
    "m", cl::desc("Model (llama.cpp's -m; the same as the positional MODEL)"),
    cl::value_desc("model"), ModelCommands(), cl::cat(modelCategory()));
static cl::alias modelLong("model", cl::desc("Alias for -m"),
                           cl::aliasopt(modelOption), cl::NotHidden);

const std::string &qopt::run::modelPath() {
  return modelOption.getNumOccurrences() ? modelOption.getValue()
                                         : modelPositional.getValue();
}

cl::opt<std::string> qopt::run::pipeline(
    "pipeline",
    cl::desc("Extra passes (a textual pass pipeline; every pass qopt-opt "
             "knows) applied after import and before lowering"),
    cl::value_desc("pipeline"), ModelCommands(), cl::cat(modelCategory()));
cl::opt<std::string> qopt::run::tokenizerPath(
    "tokenizer",
    cl::desc("Tokenizer (tokenizer.json, SentencePiece .model, llama2.c "
             ".bin or GGUF), when it is not beside the model"),
    cl::value_desc("file"), ModelCommands(), cl::cat(modelCategory()));
cl::opt<int> qopt::run::vectorWidth(
    "vector-width",
    cl::desc("f32 lanes of the generated vector kernels (8, 16, 32 or 64; "
             "default: 16 with AVX-512F, else 8)"),
    cl::init(0), ModelCommands(), cl::cat(modelCategory()));
cl::opt<std::string> qopt::run::activations(
    "activations",
    cl::desc("Activations of quantized-weight matmuls: int8 (default: "
             "quantized per block of 32, integer dot products, as llama.cpp "
             "does) or f32 (the exact path). Applies when qopt-run compiles "
             "the model (not to an artifact, which was compiled with its "
             "choice)"),
    cl::value_desc("int8|f32"), cl::init("int8"), ModelCommands(),
    cl::cat(modelCategory()));
cl::opt<bool> qopt::run::f16Activations(
    "f16-activations",
    cl::desc("Matmuls of f16 weights round their activations to f16, with a "
             "power-of-two scale per token, and multiply in f32 (as "
             "llama.cpp's f16 path; faster decode, docs/lowering.md). "
             "Default: on with --activations=int8, off with "
             "--activations=f32 (exact). Applies when qopt-run compiles the "
             "model"),
    cl::init(true), ModelCommands(), cl::cat(modelCategory()));
bool qopt::run::useF16Activations() {
  return f16Activations.getNumOccurrences() ? f16Activations
                                            : activations == "int8";
}
cl::opt<std::string> qopt::run::intDot(
    "int-dot",
    cl::desc("How int8 dot products are emitted: vnni (vpdpbusd; needs "
             "AVX-512 VNNI, or AVX-VNNI at --vector-width 8) or generic "
             "(default: vnni where the CPU compiled for has it: the host, or "
             "compile's --target-cpu)"),
    cl::value_desc("vnni|generic"), ModelCommands(), cl::cat(modelCategory()));
cl::opt<bool> qopt::run::amx(
    "amx",
    cl::desc("Multiply the integer path's prefill GEMM with AMX tiles where "
             "the CPU compiled for has AMX-INT8 at vector width 16 (default "
             "true); --amx=false keeps the VNNI micro-kernel (and turns "
             "--amx-bf16 off)"),
    cl::init(true), ModelCommands(), cl::cat(modelCategory()));
cl::opt<bool> qopt::run::amxBf16(
    "amx-bf16",
    cl::desc("With --amx, the prefill GEMM dequantizes the weights to bf16 "
             "once per call and multiplies them by bf16 activations on "
             "AMX-BF16 tiles (f32 sums) where the CPU compiled for has them "
             "(default true); --amx-bf16=false keeps int8 activations on "
             "AMX-INT8 tiles. Decode always takes the int8 path"),
    cl::init(true), ModelCommands(), cl::cat(modelCategory()));
cl::opt<std::string> qopt::run::kvTypeName(
    "kv-type",
    cl::desc("Element type of the KV cache: f32 (default), f16 or bf16 "
             "(stored rounded, computed in f32). Applies when MODEL is a "
             "checkpoint; a qopt module or artifact has its type in its IR, "
             "and a different --kv-type is an error"),
    cl::value_desc("f32|f16|bf16"), cl::init("f32"), ModelCommands(),
    cl::cat(modelCategory()));
cl::opt<std::string> qopt::run::kquantScales(
    "kquant-scales",
    cl::desc("Storage of a GGUF K-quant matrix's sub-block scales and "
             "minimums, which the file derives from an f16 super-block scale "
             "and small integers: two-level (default: as the file has them, "
             "exact, about the file's bytes), f32 (one scale and zero point "
             "per group, zero points to a few ulp; 2-4x the scale bytes) or "
             "f16 (rounded; moved the NLL by up to 1.3e-3 on the padded "
             "stories260K files, docs/model-io.md; a matrix whose values do "
             "not fit f16 keeps f32). Applies when MODEL is a checkpoint"),
    cl::value_desc("two-level|f32|f16"), cl::init("two-level"), ModelCommands(),
    cl::cat(modelCategory()));
cl::opt<bool> qopt::run::noMmap(
    "no-mmap",
    cl::desc("Read the weights into memory (transparent huge pages where the "
             "system allows) instead of mapping the model file: a GGUF's "
             "f32/f16 matrices, a checkpoint's, an artifact's weights.bin, "
             "a qopt module's weights (quantized GGUF matrices are always "
             "copied). llama.cpp's "
             "--no-mmap"),
    cl::init(false), ModelCommands(), cl::cat(modelCategory()));
cl::opt<int> qopt::run::kvReserve(
    "kv-reserve",
    cl::desc("KV cache positions to allocate up front (default: the length "
             "of the run); the cache grows past it when needed"),
    cl::init(0), cl::Hidden, RunCommands(), cl::cat(modelCategory()));
cl::opt<unsigned> qopt::run::servedBits(
    "bits",
    cl::desc("Serve every nested-layout (Matryoshka) weight at this many "
             "bits, 1..8 (default: each weight's parent width); a run-time "
             "choice, no recompilation"),
    cl::init(0), RunCommands(), cl::cat(modelCategory()));
cl::opt<std::string> qopt::run::layerBits(
    "layer-bits",
    cl::desc("Per-layer widths after --bits: comma list of SELECTOR:BITS, "
             "SELECTOR a layer N, a range N-M, a role (q k v o gate up down "
             "embedding classifier attn mlp *) or LAYERS.ROLE, e.g. "
             "\"0-1:8,down:6\"; later rules win"),
    cl::value_desc("rules"), cl::init(""), RunCommands(),
    cl::cat(modelCategory()));
cl::opt<int> qopt::run::threads(
    "t",
    cl::desc("Threads of the compiled kernels (llama.cpp's -t), 1..1024 "
             "(default: the cores this process may use)"),
    cl::init(0), RunCommands(), cl::cat(modelCategory()));
static cl::alias threadsLong("threads", cl::desc("Alias for -t"),
                             cl::aliasopt(threads), cl::NotHidden);

cl::opt<bool>
    qopt::run::jsonOutput("json", cl::desc("Print one JSON object for scripts"),
                          RunCommands(), cl::cat(outputCategory()));
cl::opt<bool> qopt::run::noProgress(
    "no-progress",
    cl::desc("Never draw a progress bar or the compiling indicator"),
    RunCommands(), cl::sub(compileCommand()), cl::cat(outputCategory()));

cl::opt<int> qopt::run::contextSize(
    "c",
    cl::desc("Context size (llama.cpp's -c): generate stops there; ppl "
             "truncates lines there, or cuts --chunked text into chunks of "
             "this many tokens. 0 (default): the model's context"),
    cl::init(0), cl::sub(generateCommand()), cl::sub(pplCommand()),
    cl::sub(chatCommand()), cl::cat(modelCategory()));
static cl::alias contextLong("ctx-size", cl::desc("Alias for -c"),
                             cl::aliasopt(contextSize), cl::NotHidden);

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The powers of two --vector-width accepts, as the kernel lowering does: 8
/// f32 lanes (AVX2) to 64 (2048 bits, 4x AVX-512; wider kernels only take
/// longer to compile).
static constexpr int kMinVectorWidth = 8, kMaxVectorWidth = 64;
/// The most threads -t accepts.
static constexpr int kMaxThreads = 1024;

std::string qopt::run::formatFloat(double value) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%g", value);
  return text;
}

llvm::Error qopt::run::checkOptions() {
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
  if (modelPositional.getNumOccurrences() && modelOption.getNumOccurrences())
    return error("the model is given twice ('" + modelPositional +
                 "' and -m '" + modelOption + "'); give one");
  const int64_t maxPositions = ::qopt::model::kMaxContextLength;
  if (llvm::Error err = inRange("--kv-reserve", kvReserve, 0, maxPositions))
    return err;
  if (llvm::Error err = inRange("-c", contextSize, 0, maxPositions))
    return err;
  if (threads.getNumOccurrences()) {
    if (llvm::Error err = inRange("-t", threads, 1, kMaxThreads))
      return err;
  } else {
    threads = static_cast<int>(
        std::min<unsigned>(mlir::qopt::availableCores(), kMaxThreads));
  }
  if (servedBits.getNumOccurrences())
    if (llvm::Error err = inRange("--bits", servedBits, 1, 8))
      return err;
  if (activations != "int8" && activations != "f32")
    return error("--activations must be int8 or f32, got '" + activations +
                 "'");
  if (!mlir::qopt::parseKQuantScales(kquantScales))
    return error("--kquant-scales must be two-level, f32 or f16, got '" +
                 kquantScales + "'");
  if (!intDot.empty() && intDot != "vnni" && intDot != "generic")
    return error("--int-dot must be vnni or generic, got '" + intDot + "'");
  if (vectorWidth != 0 &&
      (vectorWidth < kMinVectorWidth || vectorWidth > kMaxVectorWidth ||
       (vectorWidth & (vectorWidth - 1)) != 0))
    return error(llvm::formatv("--vector-width must be 0 (automatic) or a "
                               "power of two in [{0}, {1}], got {2}",
                               kMinVectorWidth, kMaxVectorWidth,
                               vectorWidth.getValue())
                     .str());
  if (modelPath().empty())
    return error("no model given (MODEL or -m MODEL; see --help)");
  return llvm::Error::success();
}

void qopt::run::hideForeignOptions() {
  llvm::ArrayRef<const cl::OptionCategory *> ours = qoptCategories();
  const cl::OptionCategory &generic = cl::getGeneralCategory();
  auto hide = [&](cl::SubCommand &sub) {
    for (auto &entry : cl::getRegisteredOptions(sub)) {
      cl::Option *option = entry.second;
      bool keep = llvm::any_of(option->Categories, [&](cl::OptionCategory *c) {
        return llvm::is_contained(ours, c);
      });
      // --help, --help-hidden, --version and --print-options are in LLVM's
      // "Generic Options", the only category besides ours not listed in
      // `General`.
      if (!keep && llvm::any_of(option->Categories, [&](auto *c) {
            return c != &generic && c->getName() == "Generic Options";
          }))
        keep = true;
      if (!keep && option->getOptionHiddenFlag() == cl::NotHidden)
        option->setHiddenFlag(cl::Hidden);
    }
  };
  hide(cl::SubCommand::getTopLevel());
  for (cl::SubCommand *sub : cl::getRegisteredSubcommands())
    hide(*sub);
}

std::string qopt::run::subcommandList() {
  llvm::ArrayRef<cl::SubCommand *> subs = modelCommands();
  std::string text;
  for (size_t i = 0; i < subs.size(); ++i) {
    if (i)
      text += i + 1 == subs.size() ? " or " : ", ";
    text += subs[i]->getName();
  }
  return text;
}

std::string qopt::run::overview() {
  std::string text = "qopt-run: compile and run an LLM with qopt\n\n"
                     "  qopt-run SUBCOMMAND [MODEL | -m MODEL] [options]\n\n";
  for (cl::SubCommand *sub : modelCommands())
    text +=
        llvm::formatv("  {0,-9} {1}\n", sub->getName(), sub->getDescription())
            .str();
  text += "\n`qopt-run SUBCOMMAND --help` lists a subcommand's options "
          "(llama.cpp's short options included).\n"
          "MODEL: a GGUF file, a Hugging Face checkpoint directory (or its "
          "config.json/.safetensors), a llama2.c .bin, a qopt module "
          "(.mlir/.mlirbc from qopt-import), an artifact directory from "
          "`qopt-run compile`, or synthetic:llama-7b-layer; recognized by "
          "their contents.\n";
  return text;
}
