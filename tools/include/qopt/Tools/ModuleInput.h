//===- ModuleInput.h - Reading untrusted MLIR module files ------*- C++ -*-===//
//
// qopt's policy for MLIR module files given to qopt-run and qopt-opt
// (docs/hardening.md, "MLIR modules"). Upstream MLIR's parsers are not
// hardened against hostile input: a mutated bytecode file can crash, hang
// or exhaust the memory of the bytecode reader, and a deeply nested text
// overflows the text parser's stack. So before a module file is parsed in
// the tool's own process:
//   - text must nest brackets at most kMaxModuleNesting levels deep (checked
//     by a linear scan, with a one-line error);
//   - bytecode is first parsed and verified in a child process with a time
//     limit and (without ASan) an address-space limit; only when the child
//     parses it cleanly is it parsed again in the tool. A crash, a hang or
//     exhausted memory in the child becomes a one-line error.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_MODULEINPUT_H
#define QOPT_TOOLS_MODULEINPUT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBufferRef.h"

#include <cstdint>

namespace mlir {
namespace qopt {

/// Levels of brackets (`(`, `[`, `{`, `<`) a textual module may nest. Real
/// qopt modules nest fewer than 20; MLIR's recursive-descent parser
/// overflows an 8 MiB stack somewhere past 10 000.
constexpr unsigned kMaxModuleNesting = 1000;

/// Limits of the child process that vets a bytecode file.
struct ModuleInputLimits {
  /// Wall-clock seconds; 0: the environment's QOPT_MODULE_CHECK_SECONDS
  /// if set, else 30 s plus one second per 32 MiB of input.
  unsigned seconds = 0;
  /// Address space the child may add to what it inherits; 0: 1 GiB plus
  /// four times the input's size. Not enforced in ASan builds (ASan
  /// reserves terabytes of address space up front).
  uint64_t memoryBytes = 0;
};

/// Checks that MLIR's parsers may be given `buffer`, a module file, in this
/// process (see above). Bytecode is parsed in a child with the dialects of
/// `registry`. Returns a one-line error that starts with `subject` (e.g.
/// "qopt module 'F'") and says which rule was broken or how the child
/// failed.
llvm::Error checkModuleInput(llvm::MemoryBufferRef buffer,
                             const llvm::Twine &subject,
                             const DialectRegistry &registry,
                             const ModuleInputLimits &limits = {});

/// Reads the module file `path`, checks it with checkModuleInput (with the
/// dialects of `context`) and parses it into `context`. Parse errors are
/// reported through `context`'s diagnostics as usual; the returned error
/// then says the module cannot be parsed.
llvm::Expected<OwningOpRef<ModuleOp>>
parseModuleFile(llvm::StringRef path, MLIRContext &context,
                llvm::StringRef what = "qopt module");

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_MODULEINPUT_H
