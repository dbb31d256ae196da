//===- Quantize.cpp - qopt-run quantize -------------------------*- C++ -*-===//
//
//   qopt-run quantize MODEL [--tokenizer T] [--calibration FILE.calib]
//       --method rtn|gptq|matryoshka --bits 8 --group 32 --scheme asym|sym
//       --layout static|nested [--widths 8,4,2] -o OUT
//
// Applies --pipeline, then qopt-quantize-weights with these options, and
// writes OUT: a qopt module (.mlirbc bytecode or .mlir text) that every
// subcommand accepts as MODEL (a nested model is served at --bits R without
// re-quantizing), or a GGUF file (.gguf) for llama.cpp, where GGUF has the
// type (Q8_0, Q4_0; mlir::qopt::exportGGUF): the scales are then rounded to
// f16, as GGUF stores them.
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "QuantOptions.h"
#include "Subcommands.h"
#include "Support.h"

#include "qopt/Quant/Calibration.h"
#include "qopt/Tools/GGUFExport.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace qopt::run;

static cl::opt<std::string>
    calibrationPath("calibration",
                    cl::desc("Calibration file from `qopt-run calibrate` "
                             "(needed by gptq, matryoshka and --clip)"),
                    cl::value_desc("file.calib"), cl::init(""),
                    cl::sub(quantizeCommand()), cl::cat(quantCategory()));
static cl::opt<std::string>
    layout("layout",
           cl::desc("static: codes packed at --bits; nested: bit planes, "
                    "served at any width <= --bits with `--bits R` at run "
                    "time"),
           cl::value_desc("static|nested"), cl::init("static"),
           cl::sub(quantizeCommand()), cl::cat(quantCategory()));
static cl::opt<std::string> scaleType(
    "scale-type",
    cl::desc("Type of the scales and zero points: auto (the weights' type) "
             "or f16 (half the scale bytes of f32 weights, rounded before "
             "the codes are chosen; always f16 for a .gguf output)"),
    cl::value_desc("auto|f16"), cl::init("auto"), cl::sub(quantizeCommand()),
    cl::cat(quantCategory()));
static cl::opt<std::string>
    quantOutput("o",
                cl::desc("Output: .mlirbc (bytecode), .mlir (text) or .gguf "
                         "(llama.cpp: Q8_0/Q4_0, needs --scheme sym --group "
                         "32)"),
                cl::value_desc("file"), cl::Required,
                cl::sub(quantizeCommand()), cl::cat(outputCategory()));
static cl::opt<unsigned> exportBits(
    "export-bits",
    cl::desc(".gguf: the width a nested model is written at (default: "
             "--bits); 4 writes the int4 slice of a symmetric int8 as Q4_0"),
    cl::init(0), cl::sub(quantizeCommand()), cl::cat(quantCategory()));

/// Warns when a sequential calibration file was recorded with another
/// quantization than the one asked for now.
static llvm::Error checkCalibration(llvm::StringRef path) {
  llvm::Expected<::qopt::quant::CalibrationFile> file =
      ::qopt::quant::CalibrationFile::open(path);
  if (!file)
    return file.takeError();
  const ::qopt::quant::CalibrationInfo &info = file->info();
  if (info.mode != "sequential")
    return llvm::Error::success();
  llvm::Expected<::qopt::quant::MethodOptions> method = methodOptions();
  if (!method)
    return method.takeError();
  std::string asked = method->describe() + " roles=" + quantizedRoles();
  if (asked != info.quantization)
    warn("'" + path + "' was recorded sequentially on blocks quantized with '" +
         info.quantization + "'; this quantization is '" + asked + "'");
  return llvm::Error::success();
}

int qopt::run::runQuantize() {
  llvm::StringRef out = quantOutput;
  bool toGGUF = out.ends_with(".gguf");
  if (!toGGUF && !out.ends_with(".mlirbc") && !out.ends_with(".mlir"))
    return fail("-o must name a .mlirbc, .mlir or .gguf file, got '" + out +
                "'");
  if (exportBits > 8 || (exportBits && !toGGUF))
    return fail("--export-bits applies to a .gguf output, in 1..8");
  if (layout != "static" && layout != "nested" && layout != "dense")
    return fail("--layout must be static or nested, got '" + layout + "'");
  if (scaleType != "auto" && scaleType != "f16")
    return fail("--scale-type must be auto or f16, got '" + scaleType + "'");
  if (llvm::Expected<::qopt::quant::MethodOptions> method = methodOptions();
      !method)
    return fail(llvm::toString(method.takeError()));
  if (!calibrationPath.empty())
    if (llvm::Error err = checkCalibration(calibrationPath))
      return fail(llvm::toString(std::move(err)));
  // A given tokenizer is checked now (and recorded in OUT); GGUF stores the
  // vocabulary.
  llvm::Expected<LoadedModel> m =
      loadModule(/*needTokenizer=*/toGGUF || !tokenizerPath.empty());
  if (!m)
    return fail(llvm::toString(m.takeError()));

  // Warnings of the passes (e.g. a weight without calibration data falling
  // back to RTN) are shown; errors keep the context's default handling.
  mlir::ScopedDiagnosticHandler warnings(
      m->context.get(), [](mlir::Diagnostic &diag) {
        if (diag.getSeverity() != mlir::DiagnosticSeverity::Warning)
          return mlir::failure();
        warn(diag.str());
        return mlir::success();
      });
  mlir::PassManager pm(m->context.get());
  if (!pipeline.empty()) {
    std::string errors;
    llvm::raw_string_ostream os(errors);
    if (failed(mlir::parsePassPipeline(pipeline, pm, os)))
      return fail("invalid --pipeline '" + pipeline + "': " + errors);
  }
  mlir::qopt::QuantizeWeightsPassOptions options = quantizePassOptions();
  options.calibration = calibrationPath;
  options.layout = layout;
  if (toGGUF || scaleType == "f16")
    options.scaleType = "f16";
  pm.addPass(mlir::qopt::createQuantizeWeightsPass(options));
  double start = now();
  if (failed(pm.run(*m->module)))
    return fail("quantizing '" + modelPath() + "' failed");
  double seconds = now() - start;

  mlir::ModuleOp module = *m->module;
  mlir::Builder b(m->context.get());
  llvm::Expected<::qopt::quant::MethodOptions> method = methodOptions();
  module->setAttr("qopt.quantization",
                  b.getStringAttr(method->describe() + " layout=" + layout +
                                  " scale-type=" + options.scaleType +
                                  " roles=" + quantizedRoles()));
  if (!tokenizerPath.empty()) {
    llvm::SmallString<256> tok(tokenizerPath);
    (void)llvm::sys::fs::make_absolute(tok);
    module->setAttr("qopt.tokenizer", b.getStringAttr(tok));
  }

  if (toGGUF) {
    std::optional<::qopt::model::GGUFVocabulary> vocab =
        m->tokenizer->ggufVocabulary();
    if (!vocab)
      return fail("GGUF export needs a vocabulary with scores (llama2.c "
                  "tokenizer.bin or a GGUF file's); this tokenizer cannot "
                  "be written as GGUF's \"llama\" model");
    mlir::qopt::GGUFExportOptions exportOptions;
    exportOptions.servedBits = exportBits;
    exportOptions.name = llvm::sys::path::stem(modelPath()).str();
    std::vector<std::string> warnings;
    if (llvm::Error err = mlir::qopt::exportGGUF(module, *vocab, out,
                                                 exportOptions, warnings))
      return fail(llvm::toString(std::move(err)));
    for (const std::string &w : warnings)
      warn(w);
  } else {
    std::string error;
    std::unique_ptr<llvm::ToolOutputFile> file =
        mlir::openOutputFile(out, &error);
    if (!file)
      return fail(error);
    if (out.ends_with(".mlirbc")) {
      mlir::BytecodeWriterConfig config("qopt-run quantize");
      if (failed(mlir::writeBytecodeToFile(module, file->os(), config)))
        return fail("cannot write '" + out + "'");
    } else {
      module.print(file->os());
    }
    file->keep();
  }
  llvm::errs() << llvm::format("quantized '%s' (%s) in %.2f s: '%s'\n",
                               modelPath().c_str(), method->describe().c_str(),
                               seconds, quantOutput.c_str());
  return 0;
}
