# -*- Python -*-
# lit configuration of the qopt test suites.
#
#   check-qopt              everything but Integration/ (fast, no JIT)
#   check-qopt-integration  Integration/: compiled real models (lit param
#                           integration=1)

import os
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "QOPT"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.qopt_obj_root, "tests")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py",
                   "Runtime", "Embedding", "Inputs"]
if lit_config.params.get("integration", "0") != "1":
    config.excludes.append("Integration")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%python", sys.executable))
# The libraries the build made (libqopt_artifact.so).
config.substitutions.append(("%qopt_libs",
                             os.path.join(config.qopt_obj_root, "lib")))
config.substitutions.append(("%qopt_tools_dir", config.qopt_tools_dir))
config.substitutions.append(("%shared", config.shared_dir))
config.substitutions.append(("%inputs",
                             os.path.join(config.test_source_root, "Inputs")))

# The bundled model. Tests that need it say `REQUIRES: stories260k`; they
# never skip: without ../shared the suite stops with a clear message (CI
# always has it).
stories = os.path.join(config.shared_dir, "models", "stories260K",
                       "stories260K.bin")
if not os.path.exists(stories):
    if lit_config.params.get("integration", "0") == "1":
        lit_config.fatal("%s not found: the integration tests need ../shared "
                         "beside the checkout (with models/stories260K)"
                         % stories)
    lit_config.warning("%s not found: tests that need it will fail" % stories)
config.available_features.add("stories260k")

# Tests of hostile inputs bound the memory a command may take with
# `%limit_memory` (2 GiB of address space). ASan reserves terabytes of
# address space for its shadow memory, so a sanitizer build bounds the
# resident set instead.
sanitizers = config.qopt_sanitizers.upper() in ("ON", "1", "TRUE", "YES")
if sanitizers:
    config.available_features.add("sanitizers")
    config.substitutions.append(
        ("%limit_memory", 'export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}'
                          'hard_rss_limit_mb=2048"'))
else:
    config.substitutions.append(("%limit_memory", "ulimit -v 2097152"))

# Tests of inputs that used to hang bound a command with `%{timeout}`: 60 s,
# or 300 s in a sanitizer build, where qopt-run compiles and runs a model
# several times slower (as kTimeScale scales the unit tests' bounds).
config.substitutions.append(
    ("%{timeout}", "timeout 300" if sanitizers else "timeout 60"))

# The mutation tests (Dialect/QOpt/malformed.test, Tools/hostile-modules.test)
# feed hundreds of corrupted files to the tools. A sanitizer build runs a
# quarter of them, `--divisor %{mutant_divisor}`: there every process costs
# several times as much, and the libFuzzer targets (docs/hardening.md) search
# the same readers far deeper.
config.substitutions.append(
    ("%{mutant_divisor}", "4" if sanitizers else "1"))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# Every qopt-opt RUN line verifies the IR after each pass (`--verify-each`)
# and checks that its input survives a round trip through the textual and
# bytecode forms (`--verify-roundtrip`), both spelled out so that no test
# depends on the driver's defaults. `--param verify_roundtrip=0` leaves the
# round trip out.
opt_args = ["--verify-each"]
if lit_config.params.get("verify_roundtrip", "1") == "1":
    opt_args.append("--verify-roundtrip")

tool_dirs = [config.qopt_tools_dir, config.llvm_tools_dir]
tools = [
    ToolSubst("qopt-opt", unresolved="fatal", extra_args=opt_args),
    ToolSubst("qopt-import", unresolved="fatal"),
    ToolSubst("qopt-run", unresolved="fatal"),
    ToolSubst("qopt-gguf-convert", unresolved="ignore"),
    ToolSubst("qopt-example-generate", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)
