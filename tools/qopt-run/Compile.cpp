//===- Compile.cpp - qopt-run compile ---------------------------*- C++ -*-===//
//
// Compiles MODEL ahead of time into an artifact directory (model.so and the
// weights), itself a MODEL for the other subcommands.
//
//===----------------------------------------------------------------------===//

#include "LoadModel.h"
#include "Options.h"
#include "Subcommands.h"
#include "Support.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace qopt::run;

static cl::opt<std::string> artifactDir("o", cl::desc("Artifact directory"),
                                        cl::value_desc("dir"), cl::Required,
                                        cl::sub(compileCommand()),
                                        cl::cat(outputCategory()));

int qopt::run::runCompile() {
  llvm::Expected<LoadedModel> m =
      loadModel(/*needTokenizer=*/false, nullptr, artifactDir);
  if (!m)
    return fail(llvm::toString(m.takeError()));
  llvm::errs() << llvm::format("compiled '%s' into '%s' in %.2f s\n",
                               modelPath().c_str(), artifactDir.c_str(),
                               m->compileSeconds);
  return 0;
}
