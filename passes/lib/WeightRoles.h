//===- WeightRoles.h - Selecting weights by qopt.role -----------*- C++ -*-===//
//
// Private helpers of the weight passes (qopt-quantize-weights,
// qopt-slice-weights): parsing their `layers` option and deciding whether a
// qopt.linear / qopt.embedding is selected by its `qopt.role` attribute
// (which qopt-import sets on every op it emits).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_PASSES_LIB_WEIGHTROLES_H
#define QOPT_PASSES_LIB_WEIGHTROLES_H

#include "qopt/Dialect/QOpt/QOptOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"

#include <string>

namespace mlir {
namespace qopt {

/// The roles qopt-import tags ops with.
inline constexpr llvm::StringLiteral kWeightRoles[] = {
    "q", "k", "v", "o", "gate", "up", "down", "embedding", "classifier"};

/// The set of roles a `layers` option selects.
struct RoleSelection {
  bool all = false;
  llvm::StringSet<> roles;

  /// True if `op` (a qopt.linear or qopt.embedding) is selected: every op
  /// for `all`, else the ops whose `qopt.role` is in the set.
  bool selects(Operation *op) const {
    if (all)
      return true;
    auto role = op->getAttrOfType<StringAttr>("qopt.role");
    return role && roles.contains(role.getValue());
  }

  /// The weight operands (linear weights, embedding tables) of the selected
  /// ops under `root`, in walk order.
  SmallVector<OpOperand *> selectedWeights(Operation *root) const {
    SmallVector<OpOperand *> uses;
    root->walk([&](Operation *op) {
      if (!selects(op))
        return;
      if (auto linear = dyn_cast<LinearOp>(op))
        uses.push_back(&linear.getWeightMutable());
      else if (auto embedding = dyn_cast<EmbeddingOp>(op))
        uses.push_back(&embedding.getTableMutable());
    });
    return uses;
  }
};

/// Parses a comma list of roles (spaces allowed) or `all`. On an unknown or
/// empty entry (an empty list has one) returns false and sets `error`.
inline bool parseRoleSelection(llvm::StringRef spec, RoleSelection &out,
                               std::string &error) {
  llvm::SmallVector<llvm::StringRef> items;
  spec.split(items, ',');
  for (llvm::StringRef item : items) {
    item = item.trim();
    if (item == "all") {
      out.all = true;
      continue;
    }
    if (!llvm::is_contained(kWeightRoles, item)) {
      error = ("unknown role '" + item +
               "' in layers (expected a comma list of q, k, v, o, gate, up, "
               "down, embedding, classifier, or all)")
                  .str();
      return false;
    }
    out.roles.insert(item);
  }
  return true;
}

} // namespace qopt
} // namespace mlir

#endif // QOPT_PASSES_LIB_WEIGHTROLES_H
