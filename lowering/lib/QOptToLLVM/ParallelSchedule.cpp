//===- ParallelSchedule.cpp - Schedules of the OpenMP loops ----*- C++ -*-===//
//
// The qopt-parallel-schedule pass: every omp.wsloop without a schedule
// gets the one the pass is given, or under `auto` (the default, here and in
// qopt-to-llvm) the one its kernel asked for (kScheduleHintAttrName on the
// loop's function, put there by qopt-outline-parallel-loops), else static.
// The matmuls' row loops ask for guided when a row is 4 KiB or more: a
// thread that finishes its share of a decode matmul early takes rows left
// to a slower one. Shorter rows stay static: guided's dispatch per chunk
// slowed the decode of 1.3 KiB q2_k rows.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_PARALLELSCHEDULEPASS
#include "qopt/Conversion/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

struct ParallelSchedulePass
    : public qopt::impl::ParallelSchedulePassBase<ParallelSchedulePass> {
  using ParallelSchedulePassBase::ParallelSchedulePassBase;

  static std::optional<omp::ClauseScheduleKind> parse(StringRef name) {
    return llvm::StringSwitch<std::optional<omp::ClauseScheduleKind>>(name)
        .Case("static", omp::ClauseScheduleKind::Static)
        .Case("guided", omp::ClauseScheduleKind::Guided)
        .Case("dynamic", omp::ClauseScheduleKind::Dynamic)
        .Default(std::nullopt);
  }

  void runOnOperation() override {
    bool useHints = schedule == "auto";
    std::optional<omp::ClauseScheduleKind> kind =
        useHints ? omp::ClauseScheduleKind::Static : parse(schedule);
    if (!kind) {
      getOperation()->emitError()
          << "qopt-parallel-schedule: schedule must be auto, static, guided "
             "or dynamic, got '"
          << schedule << "'";
      return signalPassFailure();
    }
    WalkResult result = getOperation()->walk([&](omp::WsloopOp loop) {
      if (loop.getScheduleKind())
        return WalkResult::advance();
      std::optional<omp::ClauseScheduleKind> chosen = kind;
      auto function = loop->getParentOfType<func::FuncOp>();
      auto hint =
          function
              ? function->getAttrOfType<StringAttr>(qopt::kScheduleHintAttrName)
              : StringAttr();
      if (useHints && hint) {
        chosen = parse(hint.getValue());
        if (!chosen) {
          function->emitError()
              << "qopt-parallel-schedule: schedule hint must be static, "
                 "guided or dynamic, got '"
              << hint.getValue() << "'";
          return WalkResult::interrupt();
        }
      }
      loop.setScheduleKind(*chosen);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
