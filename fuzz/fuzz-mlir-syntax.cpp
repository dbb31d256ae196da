//===- fuzz-mlir-syntax.cpp - Fuzz qopt's types, attributes and ops -------===//
//
// The input is MLIR text. It is checked as qopt-opt checks a file (bracket
// nesting), then parsed as a type, as an attribute and as a module with the
// dialects of a qopt model: the custom parsers of !qopt.qtensor and the
// qopt attributes, and the verifiers of the qopt ops. A type or attribute
// that parses must print to text that parses back to itself.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelImporter.h"
#include "qopt/Tools/ModuleInput.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Bytecode/BytecodeReader.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

using namespace mlir;

/// A context for the next input. Types and attributes stay uniqued in a
/// context forever, so it is replaced every 4096 inputs to keep the
/// fuzzer's memory bounded.
static MLIRContext &context() {
  static std::unique_ptr<MLIRContext> ctx;
  static unsigned uses = 0;
  if (!ctx || ++uses % 4096 == 0) {
    DialectRegistry registry;
    mlir::qopt::registerImportDialects(registry);
    registry.insert<func::FuncDialect>();
    ctx = std::make_unique<MLIRContext>(registry,
                                        MLIRContext::Threading::DISABLED);
    ctx->loadAllAvailableDialects();
    // Diagnostics of rejected inputs are expected: drop them.
    ctx->getDiagEngine().registerHandler(
        [](Diagnostic &) { return success(); });
  }
  return *ctx;
}

template <typename T> static std::string print(T value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  value.print(os);
  return text;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  // MLIR's lexer needs a null-terminated buffer, as files are read.
  std::string owned = text.str();
  llvm::MemoryBufferRef buffer(owned, "input.mlir");
  MLIRContext &ctx = context();
  if (llvm::Error err = mlir::qopt::checkModuleInput(
          buffer, "input.mlir", ctx.getDialectRegistry())) {
    llvm::consumeError(std::move(err));
    return 0;
  }
  if (isBytecode(buffer))
    return 0; // fuzz-bytecode's input

  size_t read = 0;
  if (Type type = parseType(owned, &ctx, &read); type && read == owned.size()) {
    std::string printed = print(type);
    if (parseType(printed, &ctx) != type) {
      std::fprintf(stderr, "type does not round-trip: %s\n", printed.c_str());
      std::abort();
    }
  }
  if (Attribute attr = parseAttribute(owned, &ctx, Type(), &read);
      attr && read == owned.size()) {
    std::string printed = print(attr);
    if (parseAttribute(printed, &ctx) != attr) {
      std::fprintf(stderr, "attribute does not round-trip: %s\n",
                   printed.c_str());
      std::abort();
    }
  }
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(owned, ParserConfig(&ctx));
  if (module) {
    if (auto cfg = mlir::qopt::readModelConfig(*module); !cfg)
      llvm::consumeError(cfg.takeError());
  }
  return 0;
}
