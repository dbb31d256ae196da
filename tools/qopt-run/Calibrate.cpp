//===- Calibrate.cpp - qopt-run calibrate -----------------------*- C++ -*-===//
//
//   qopt-run calibrate MODEL --tokenizer T --text FILE -o FILE.calib
//       [--sequential --method gptq|matryoshka|rtn --bits 8 --group 32 ...]
//
// Runs BOS + each non-empty line of FILE (truncated at the model's context,
// as `ppl` does) through the model compiled with calibration observers and
// writes H = X^T X of every linear input (mlir::qopt::calibrateModel,
// docs/calibration.md). --pipeline applies first, so a rotated model is
// calibrated as it will be quantized.
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "QuantOptions.h"
#include "Subcommands.h"
#include "Support.h"

#include "qopt/Model/Input.h"
#include "qopt/Tools/Calibrator.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace qopt::run;
namespace model = ::qopt::model;

static cl::opt<std::string> calibText("text",
                                      cl::desc("Calibration text: BOS + one "
                                               "line per sequence"),
                                      cl::value_desc("file"), cl::Required,
                                      cl::sub(calibrateCommand()),
                                      cl::cat(quantCategory()));
static cl::opt<std::string> calibOutput("o", cl::desc("Calibration file"),
                                        cl::value_desc("file.calib"),
                                        cl::Required,
                                        cl::sub(calibrateCommand()),
                                        cl::cat(outputCategory()));
static cl::opt<bool> sequential(
    "sequential",
    cl::desc("Record block i on the model whose blocks 0..i-1 are quantized "
             "with --method/--bits/... (GPTQ's sequential order); quantize "
             "with the same options"),
    cl::sub(calibrateCommand()), cl::cat(quantCategory()));
static cl::opt<int64_t>
    maxTokens("max-tokens",
              cl::desc("Stop reading the text after this many tokens (0: all)"),
              cl::init(0), cl::sub(calibrateCommand()),
              cl::cat(quantCategory()));
static cl::opt<bool> calibNoProgress("no-progress",
                                     cl::desc("Never draw a progress bar"),
                                     cl::sub(calibrateCommand()),
                                     cl::cat(outputCategory()));

/// Longest text line read, as for `ppl`.
static constexpr uint64_t kMaxCalibrationLineBytes = uint64_t(16) << 20;

int qopt::run::runCalibrate() {
  if (maxTokens < 0)
    return fail("--max-tokens must be >= 0, got " + llvm::Twine(maxTokens));
  mlir::qopt::CalibrateOptions options;
  options.sequential = sequential;
  if (sequential) {
    llvm::Expected<::qopt::quant::MethodOptions> method = methodOptions();
    if (!method)
      return fail(llvm::toString(method.takeError()));
    options.method = std::move(*method);
    options.roles = quantizedRoles();
    if (options.roles == "all")
      options.roles = "q,k,v,o,gate,up,down,classifier";
  }
  llvm::Expected<std::unique_ptr<model::LineReader>> text =
      model::LineReader::open(calibText, kMaxCalibrationLineBytes);
  if (!text)
    return fail(llvm::toString(text.takeError()));
  llvm::Expected<LoadedModel> m = loadModule(/*needTokenizer=*/true);
  if (!m)
    return fail(llvm::toString(m.takeError()));

  // The sequences, encoded up front (their token ids are small next to the
  // activations they produce).
  std::vector<std::vector<int32_t>> sequences;
  int64_t tokens = 0, truncated = 0;
  std::string line;
  while (maxTokens == 0 || tokens < maxTokens) {
    llvm::Expected<bool> more = (*text)->next(line);
    if (!more)
      return fail(llvm::toString(more.takeError()));
    if (!*more)
      break;
    if (line.empty())
      continue;
    std::vector<int32_t> ids = m->tokenizer->encode(line, true, false);
    if (static_cast<int64_t>(ids.size()) > m->config.maxSeqLen) {
      ++truncated;
      ids.resize(m->config.maxSeqLen);
    }
    if (maxTokens > 0 && tokens + static_cast<int64_t>(ids.size()) > maxTokens)
      ids.resize(maxTokens - tokens);
    tokens += ids.size();
    sequences.push_back(std::move(ids));
  }
  if (truncated)
    warn(llvm::Twine(truncated) + " line(s) of '" + calibText +
         "' are longer than the model's context (" +
         llvm::Twine(m->config.maxSeqLen) + " tokens) and were truncated");

  // --pipeline first: calibration sees the model that will be quantized.
  if (!pipeline.empty()) {
    mlir::PassManager pm(m->context.get());
    std::string errors;
    llvm::raw_string_ostream os(errors);
    if (failed(mlir::parsePassPipeline(pipeline, pm, os)))
      return fail("invalid --pipeline '" + pipeline + "': " + errors);
    if (failed(pm.run(*m->module)))
      return fail("the --pipeline passes failed on the model");
  }
  options.compile.vectorWidth = vectorWidth;
  options.compile.int8Activations = activations == "int8";
  options.compile.f16Activations = useF16Activations();
  options.compile.intDot = intDot;
  options.compile.amx = amx;
  options.compile.amxBf16 = amxBf16;
  options.source = modelPath();
  options.text = calibText;
  options.progress = !calibNoProgress && canDrawProgress();
  double start = now();
  if (llvm::Error err = mlir::qopt::calibrateModel(*m->module, sequences,
                                                   options, calibOutput))
    return fail(llvm::toString(std::move(err)));
  llvm::errs() << llvm::format(
      "calibrated %lld tokens in %lld sequences (%s) in %.2f s: '%s'\n",
      static_cast<long long>(tokens), static_cast<long long>(sequences.size()),
      sequential ? "sequential" : "float", now() - start, calibOutput.c_str());
  return 0;
}
