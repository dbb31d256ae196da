//===- Support.cpp - Helpers shared by qopt-run's subcommands ---*- C++ -*-===//

#include "Support.h"
#include "Options.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unistd.h>

using namespace qopt::run;

int qopt::run::fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "qopt-run") << message << "\n";
  return 1;
}

void qopt::run::warn(const llvm::Twine &message) {
  llvm::WithColor::warning(llvm::errs(), "qopt-run") << message << "\n";
}

double qopt::run::now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool qopt::run::canDrawProgress() {
  return !noProgress && isatty(STDERR_FILENO);
}

//===----------------------------------------------------------------------===//
// Progress
//===----------------------------------------------------------------------===//

/// Returns the cursor to the start of the line and erases it.
static constexpr const char *kEraseLine = "\r\033[K";

Progress::Progress(llvm::StringRef label, int64_t total)
    : label(label.str()), total(total),
      enabled(total > 1 && canDrawProgress()) {}

void Progress::update(int64_t done) {
  if (!enabled)
    return;
  constexpr int width = 30;
  int filled = static_cast<int>(width * std::min(done, total) /
                                std::max<int64_t>(total, 1));
  llvm::errs() << "\r" << label << " [" << std::string(filled, '#')
               << std::string(width - filled, '.') << "] " << done << "/"
               << total;
  llvm::errs().flush();
  drawn = true;
}

void Progress::finish() {
  if (enabled && drawn) {
    llvm::errs() << kEraseLine;
    llvm::errs().flush();
  }
  drawn = false;
}

//===----------------------------------------------------------------------===//
// CompileIndicator
//===----------------------------------------------------------------------===//

CompileIndicator::CompileIndicator(llvm::StringRef what) : what(what.str()) {
  if (!canDrawProgress())
    return;
  thread = std::thread([this] {
    double start = now();
    std::unique_lock<std::mutex> lock(mutex);
    do {
      llvm::errs() << "\rcompiling " << this->what << " ... "
                   << llvm::format("%.1f s", now() - start) << "\033[K";
      llvm::errs().flush();
    } while (!wake.wait_for(lock, std::chrono::milliseconds(100),
                            [this] { return done; }));
    llvm::errs() << kEraseLine;
    llvm::errs().flush();
  });
}

void CompileIndicator::stop() {
  if (!thread.joinable())
    return;
  {
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
  }
  wake.notify_one();
  thread.join();
}

//===----------------------------------------------------------------------===//
// Statistics
//===----------------------------------------------------------------------===//

void Stats::add(double x) {
  ++n;
  double delta = x - m;
  m += delta / n;
  m2 += delta * (x - m);
}

double Stats::stddev() const { return n > 1 ? std::sqrt(m2 / (n - 1)) : 0.0; }

double Stats::stderrOfMean() const {
  return n > 1 ? stddev() / std::sqrt(static_cast<double>(n)) : 0.0;
}

double qopt::run::tokenNLL(const float *logits, int64_t vocab, int32_t target) {
  float maxLogit = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i)
    sum += std::exp(static_cast<double>(logits[i] - maxLogit));
  return std::log(sum) + maxLogit - logits[target];
}
