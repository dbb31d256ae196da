//===- Version.h - qopt's version and git commit ----------------*- C++ -*-===//
//
// The --version text of every qopt tool, from QOPT_VERSION (CMake's project
// version) and the git commit of the build's checkout.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_VERSION_H
#define QOPT_TOOLS_VERSION_H

#include "llvm/Support/raw_ostream.h"

namespace mlir {
namespace qopt {

/// Prints qopt's version and git commit, then the LLVM version. Install it
/// with llvm::cl::SetVersionPrinter before parsing the command line.
void printToolVersion(llvm::raw_ostream &os);

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_VERSION_H
