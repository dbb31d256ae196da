//===- Options.h - qopt-run's subcommands and shared options ----*- C++ -*-===//
//
// The subcommands of qopt-run and the options more than one of them takes.
// A subcommand's own options live in its file (Generate.cpp, ...). To add a
// subcommand: declare its accessor here, define it in Options.cpp, add it to
// modelCommands() (and runCommands() if it runs the model) so the shared
// options apply to it, and add its entry point to the table in qopt-run.cpp.
//
// The subcommands are function-local statics, so that an option in any file
// can name one (cl::sub(generateCommand())) whatever the order in which the
// files' globals are constructed.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_TOOLS_QOPT_RUN_OPTIONS_H
#define QOPT_TOOLS_QOPT_RUN_OPTIONS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

#include <string>

namespace qopt::run {

namespace cl = llvm::cl;

//===----------------------------------------------------------------------===//
// Subcommands and option categories
//===----------------------------------------------------------------------===//

cl::SubCommand &generateCommand();
cl::SubCommand &pplCommand();
cl::SubCommand &benchCommand();
cl::SubCommand &compileCommand();
cl::SubCommand &calibrateCommand();
cl::SubCommand &quantizeCommand();
cl::SubCommand &chatCommand();

/// Every subcommand that loads a MODEL.
llvm::ArrayRef<cl::SubCommand *> modelCommands();
/// The subcommands that run the model (not `compile`).
llvm::ArrayRef<cl::SubCommand *> runCommands();

/// cl modifiers: the option belongs to modelCommands() / runCommands().
struct ModelCommands {
  template <typename Opt> void apply(Opt &o) const {
    for (cl::SubCommand *sub : modelCommands())
      o.addSubCommand(*sub);
  }
};
struct RunCommands {
  template <typename Opt> void apply(Opt &o) const {
    for (cl::SubCommand *sub : runCommands())
      o.addSubCommand(*sub);
  }
};

/// The categories --help groups qopt's options in; every other option (the
/// LLVM and MLIR libraries') is hidden, shown by --help-hidden.
cl::OptionCategory &modelCategory();
cl::OptionCategory &generateCategory();
cl::OptionCategory &samplingCategory();
cl::OptionCategory &pplCategory();
cl::OptionCategory &benchCategory();
cl::OptionCategory &outputCategory();
cl::OptionCategory &quantCategory();
llvm::ArrayRef<const cl::OptionCategory *> qoptCategories();

//===----------------------------------------------------------------------===//
// Options shared by several subcommands
//===----------------------------------------------------------------------===//

/// MODEL: the positional argument or -m/--model (exactly one); see
/// checkOptions().
extern cl::opt<std::string> modelPositional;
extern cl::opt<std::string> modelOption;
/// The model path, whichever way it was given.
const std::string &modelPath();

extern cl::opt<std::string> pipeline;
extern cl::opt<std::string> tokenizerPath;
extern cl::opt<int> vectorWidth;
extern cl::opt<std::string> activations;
extern cl::opt<bool> f16Activations;
/// Whether matmuls of f16 weights round their activations to f16:
/// --f16-activations where given, else on with --activations=int8 and off
/// with --activations=f32 (the exact path everywhere).
bool useF16Activations();
extern cl::opt<std::string> intDot;
extern cl::opt<bool> amx;
extern cl::opt<bool> amxBf16;
extern cl::opt<std::string> kvTypeName;
extern cl::opt<std::string> kquantScales;
extern cl::opt<bool> noMmap;
extern cl::opt<int> kvReserve;
extern cl::opt<unsigned> servedBits;
extern cl::opt<std::string> layerBits;
extern cl::opt<int> threads;
extern cl::opt<bool> jsonOutput;
extern cl::opt<bool> noProgress;
/// -c: the context of generate, the chunk or line limit of ppl (0: the
/// model's).
extern cl::opt<int> contextSize;
/// compile's --target-cpu and --mattr (defined in Compile.cpp).
extern cl::opt<std::string> targetCPU;
extern cl::opt<std::string> targetFeatures;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// Checks every numeric option against its range, and that MODEL is given
/// once, before anything is loaded. Each error states the allowed range and
/// the value given.
llvm::Error checkOptions();

/// Hides every option outside qoptCategories() (makes it cl::Hidden, shown
/// by --help-hidden) in every subcommand.
void hideForeignOptions();

/// The overview --help prints: a usage line per registered subcommand.
std::string overview();

/// "generate, ppl, bench or compile": the registered subcommands.
std::string subcommandList();

/// `value` as printf's %g writes it ("nan", "inf", "-0.5").
std::string formatFloat(double value);

} // namespace qopt::run

#endif // QOPT_TOOLS_QOPT_RUN_OPTIONS_H
