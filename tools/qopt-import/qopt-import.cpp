//===- qopt-import.cpp - Checkpoints to qopt MLIR ---------------*- C++ -*-===//
//
// Reads a llama2.c .bin, a Hugging Face checkpoint directory or a GGUF file
// and writes the qopt model module: MLIR bytecode by default (weights as
// resources, mapped not copied), textual MLIR with --emit=mlir.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelImporter.h"
#include "qopt/Tools/Version.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<checkpoint: .bin | HF dir | "
                                               ".gguf>"));
static cl::opt<std::string> outputPath("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"));
enum class EmitKind { Bytecode, Text };
static cl::opt<EmitKind> emitKind(
    "emit", cl::desc("Output format"), cl::init(EmitKind::Bytecode),
    cl::values(clEnumValN(EmitKind::Bytecode, "bytecode",
                          "MLIR bytecode, weights as resources (default)"),
               clEnumValN(EmitKind::Text, "mlir",
                          "textual MLIR (weights as hex resource blobs)")));
static cl::opt<bool> elideWeights(
    "elide-weights",
    cl::desc("With --emit=mlir, print the IR without the weight blobs "
             "(for reading; the result cannot be run)"),
    cl::init(false));
static cl::opt<std::string> kvType(
    "kv-type",
    cl::desc("Element type of the KV cache arguments: f32 (default), f16 or "
             "bf16 (stored rounded, computed in f32)"),
    cl::value_desc("f32|f16|bf16"), cl::init("f32"));
static cl::opt<std::string> kquantScales(
    "kquant-scales",
    cl::desc("Storage of GGUF K-quant sub-block scales and minimums: "
             "two-level (default: the file's f16 super-block scales and "
             "integer sub-scales, exact, about the file's bytes), f32 (one "
             "scale and zero point per group, zero points to a few ulp) or "
             "f16 (rounded; a matrix with a value outside f16's normal range "
             "keeps f32)"),
    cl::value_desc("two-level|f32|f16"), cl::init("two-level"));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::SetVersionPrinter(mlir::qopt::printToolVersion);
  cl::ParseCommandLineOptions(
      argc, argv,
      "qopt-import: convert an LLM checkpoint into a qopt model module\n");
  auto fail = [](const llvm::Twine &message) {
    llvm::WithColor::error(llvm::errs(), "qopt-import") << message << "\n";
    return 1;
  };

  std::optional<mlir::qopt::KVCacheType> kv =
      mlir::qopt::parseKVCacheType(kvType);
  if (!kv)
    return fail("--kv-type must be f32, f16 or bf16, got '" + kvType + "'");
  std::optional<mlir::qopt::KQuantScales> scales =
      mlir::qopt::parseKQuantScales(kquantScales);
  if (!scales)
    return fail("--kquant-scales must be two-level, f32 or f16, got '" +
                kquantScales + "'");
  mlir::qopt::ImportOptions importOptions;
  importOptions.kvType = *kv;
  importOptions.kquantScales = *scales;

  llvm::Expected<std::unique_ptr<::qopt::model::Checkpoint>> checkpoint =
      ::qopt::model::loadCheckpoint(inputPath);
  if (!checkpoint)
    return fail(llvm::toString(checkpoint.takeError()));
  // The module records its checkpoint (qopt.model's `source`), where
  // qopt-run looks for the tokenizer: make it independent of the directory
  // qopt-run is started from.
  {
    llvm::SmallString<256> absolute((*checkpoint)->path);
    if (!llvm::sys::fs::make_absolute(absolute))
      (*checkpoint)->path = std::string(absolute);
  }

  DialectRegistry registry;
  mlir::qopt::registerImportDialects(registry);
  MLIRContext context(registry);
  llvm::Expected<OwningOpRef<ModuleOp>> module =
      mlir::qopt::importCheckpoint(context, **checkpoint, importOptions);
  if (!module)
    return fail(llvm::toString(module.takeError()));

  if (emitKind == EmitKind::Bytecode && outputPath == "-" &&
      llvm::sys::Process::StandardOutIsDisplayed())
    return fail("refusing to write bytecode to a terminal; use -o FILE or "
                "--emit=mlir");
  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);
  if (emitKind == EmitKind::Bytecode) {
    BytecodeWriterConfig config("qopt-import");
    if (failed(writeBytecodeToFile(**module, output->os(), config)))
      return fail("failed to write bytecode");
  } else {
    OpPrintingFlags flags;
    if (elideWeights)
      flags.elideLargeResourceString(64);
    (*module)->print(output->os(), flags);
  }
  output->keep();
  return 0;
}
