//===- Registration.h - Dialects and passes of the qopt tools ---*- C++ -*-===//
//
// The one registry of the dialects and passes qopt's tools know: qopt-opt
// parses and runs them, and qopt-run --pipeline accepts exactly the same
// passes (a test compares the two tools' --list-passes).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_REGISTRATION_H
#define QOPT_TOOLS_REGISTRATION_H

namespace mlir {
class DialectRegistry;
namespace qopt {

/// Inserts every dialect the qopt tools parse or produce, with the
/// interfaces the lowering needs.
void registerToolDialects(DialectRegistry &registry);

/// Registers every pass and pass pipeline the qopt tools run: qopt's own,
/// its conversions and pipeline, and the upstream passes qopt pipelines use.
void registerToolPasses();

} // namespace qopt
} // namespace mlir

#endif // QOPT_TOOLS_REGISTRATION_H
