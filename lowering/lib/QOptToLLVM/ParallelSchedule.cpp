//===- ParallelSchedule.cpp - Schedules of the OpenMP loops ----*- C++ -*-===//
//
// The qopt-parallel-schedule pass: every omp.wsloop without a schedule
// gets the one the pass is given. Run alone its default is guided (a thread
// that finishes its part of a matmul early takes rows left to a slower
// one); qopt-to-llvm runs it with `parallel-schedule`, static by default,
// because guided's dispatch per chunk slowed the decode of small rows.
//
//===----------------------------------------------------------------------===//

#include "qopt/Conversion/Patterns.h"

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

  void runOnOperation() override {
    std::optional<omp::ClauseScheduleKind> kind =
        llvm::StringSwitch<std::optional<omp::ClauseScheduleKind>>(schedule)
            .Case("static", omp::ClauseScheduleKind::Static)
            .Case("guided", omp::ClauseScheduleKind::Guided)
            .Case("dynamic", omp::ClauseScheduleKind::Dynamic)
            .Default(std::nullopt);
    if (!kind) {
      getOperation()->emitError()
          << "qopt-parallel-schedule: schedule must be static, guided or "
             "dynamic, got '"
          << schedule << "'";
      return signalPassFailure();
    }
    getOperation()->walk([&](omp::WsloopOp loop) {
      if (!loop.getScheduleKind())
        loop.setScheduleKind(*kind);
    });
  }
};

} // namespace
