//===- Subcommands.h - Entry points of qopt-run's subcommands ---*- C++ -*-===//
//
// One function per subcommand, each in its own file; each checks its own
// options, loads the model (LoadModel.h) and returns the exit code.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QOPT_RUN_SUBCOMMANDS_H
#define QOPT_TOOLS_QOPT_RUN_SUBCOMMANDS_H

#include "qopt/Model/Sampler.h"

#include "llvm/Support/Error.h"

#include <cstdint>

namespace qopt::run {

int runGenerate();   // Generate.cpp
int runPerplexity(); // Perplexity.cpp
int runBench();      // Bench.cpp
int runCompile();    // Compile.cpp
int runCalibrate();  // Calibrate.cpp
int runQuantize();   // Quantize.cpp
int runChat();       // Chat.cpp

/// generate's sampling options, -n and --seed, which chat shares
/// (Generate.cpp): their range checks, the sampler parameters, the seed
/// (given, or a random one) and -n.
llvm::Error checkGenerateOptions();
::qopt::model::SamplingParams samplingParams();
uint64_t generationSeed();
int maxNewTokens();

} // namespace qopt::run

#endif // QOPT_TOOLS_QOPT_RUN_SUBCOMMANDS_H
