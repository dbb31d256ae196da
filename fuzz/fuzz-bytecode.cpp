//===- fuzz-bytecode.cpp - Fuzz qopt's policy for MLIR bytecode input -----===//
//
// The input is an MLIR bytecode file, given to checkModuleInput as qopt-run
// and qopt-opt give it (docs/hardening.md): the upstream reader runs in a
// child process, whose crash, hang or memory exhaustion must come back as
// an error. What the check accepts is then parsed in this process, as the
// tools do, and its qopt.model attribute read. A crash of this process, or
// a hang, is a finding; a crash in the child is the policy at work.
//
// The child's coverage is lost to the fuzzer (it exits), so the mutations
// are guided only by the parent's code and the seeds: qopt-import's output.
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/ModelImporter.h"
#include "qopt/Tools/ModuleInput.h"

#include "mlir/Bytecode/BytecodeReader.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <memory>

using namespace mlir;

/// A context for the next input, replaced every 1024 inputs: what is
/// uniqued in a context stays there.
static MLIRContext &context() {
  static std::unique_ptr<MLIRContext> ctx;
  static unsigned uses = 0;
  if (!ctx || ++uses % 1024 == 0) {
    DialectRegistry registry;
    mlir::qopt::registerImportDialects(registry);
    registry.insert<func::FuncDialect>();
    ctx = std::make_unique<MLIRContext>(registry,
                                        MLIRContext::Threading::DISABLED);
    ctx->getDiagEngine().registerHandler(
        [](Diagnostic &) { return success(); });
  }
  return *ctx;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  llvm::MemoryBufferRef buffer(bytes, "input.mlirbc");
  if (!isBytecode(buffer))
    return 0;
  MLIRContext &ctx = context();
  mlir::qopt::ModuleInputLimits limits;
  limits.seconds = 10;
  limits.memoryBytes = uint64_t(1) << 30;
  if (llvm::Error err = mlir::qopt::checkModuleInput(
          buffer, "input.mlirbc", ctx.getDialectRegistry(), limits)) {
    llvm::consumeError(std::move(err));
    return 0;
  }
  auto sourceMgr = std::make_shared<llvm::SourceMgr>();
  sourceMgr->AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(bytes),
                                llvm::SMLoc());
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&ctx));
  if (!module) {
    std::fprintf(stderr, "accepted by the child but not parsed here\n");
    std::abort();
  }
  if (auto cfg = mlir::qopt::readModelConfig(*module); !cfg)
    llvm::consumeError(cfg.takeError());
  if (auto kv = mlir::qopt::readKVCacheInfo(*module); !kv)
    llvm::consumeError(kv.takeError());
  return 0;
}
