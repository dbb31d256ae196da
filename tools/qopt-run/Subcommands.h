//===- Subcommands.h - Entry points of qopt-run's subcommands ---*- C++ -*-===//
//
// One function per subcommand, each in its own file; each checks its own
// options, loads the model (LoadModel.h) and returns the exit code.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QOPT_RUN_SUBCOMMANDS_H
#define QOPT_TOOLS_QOPT_RUN_SUBCOMMANDS_H

namespace qopt::run {

int runGenerate();   // Generate.cpp
int runPerplexity(); // Perplexity.cpp
int runBench();      // Bench.cpp
int runCompile();    // Compile.cpp
int runCalibrate();  // Calibrate.cpp
int runQuantize();   // Quantize.cpp

} // namespace qopt::run

#endif // QOPT_TOOLS_QOPT_RUN_SUBCOMMANDS_H
