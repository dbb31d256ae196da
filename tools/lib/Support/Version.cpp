//===- Version.cpp - qopt's version and git commit --------------*- C++ -*-===//
//
// QOPT_VERSION and QOPT_GIT_COMMIT come from QOptVersion.inc, which CMake
// rewrites at every build when the checkout's commit changes
// (cmake/QOptVersion.cmake).
//
//===----------------------------------------------------------------------===//

#include "qopt/Tools/Version.h"

#include "QOptVersion.inc"

#include "llvm/Config/llvm-config.h"

void mlir::qopt::printToolVersion(llvm::raw_ostream &os) {
  os << "qopt version " << QOPT_VERSION << " (git commit " << QOPT_GIT_COMMIT
     << ")\n  built with LLVM/MLIR " << LLVM_VERSION_STRING << "\n";
}
