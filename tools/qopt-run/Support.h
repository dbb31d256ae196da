//===- Support.h - Helpers shared by qopt-run's subcommands -----*- C++ -*-===//
//
// Error reporting, timing, the progress bar and the compiling indicator on
// stderr, and running statistics (mean, standard deviation, standard error).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QOPT_RUN_SUPPORT_H
#define QOPT_TOOLS_QOPT_RUN_SUPPORT_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace qopt::run {

/// Prints "qopt-run: error: MESSAGE" on stderr; returns the exit code 1.
int fail(const llvm::Twine &message);
/// Prints "qopt-run: warning: MESSAGE" on stderr.
void warn(const llvm::Twine &message);

/// Seconds on a monotonic clock.
double now();

/// Whether stderr is a terminal that progress displays may draw on (and
/// --no-progress is not given).
bool canDrawProgress();

/// A one-line progress bar on stderr, drawn only on a terminal, erased by
/// finish() or the destructor, whichever comes first.
class Progress {
public:
  Progress(llvm::StringRef label, int64_t total);
  ~Progress() { finish(); }
  void update(int64_t done);
  /// Erases the bar; call it before printing the results.
  void finish();

private:
  std::string label;
  int64_t total;
  bool enabled, drawn = false;
};

/// "compiling MODEL ... 1.2 s" on stderr while the model compiles, redrawn
/// by a thread every 100 ms, on a terminal only; erased when stopped.
class CompileIndicator {
public:
  explicit CompileIndicator(llvm::StringRef what);
  ~CompileIndicator() { stop(); }
  void stop();

private:
  std::string what;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable wake;
  bool done = false;
};

/// Running mean and variance (Welford) of a series of samples.
class Stats {
public:
  void add(double x);
  int64_t count() const { return n; }
  double mean() const { return n ? m : 0.0; }
  /// The sample standard deviation (n - 1 in the denominator), 0 below two
  /// samples.
  double stddev() const;
  /// The standard error of the mean, stddev() / sqrt(n).
  double stderrOfMean() const;

private:
  int64_t n = 0;
  double m = 0, m2 = 0;
};

/// log(sum(exp(logits))) - logits[target], computed stably.
double tokenNLL(const float *logits, int64_t vocab, int32_t target);

} // namespace qopt::run

#endif // QOPT_TOOLS_QOPT_RUN_SUPPORT_H
