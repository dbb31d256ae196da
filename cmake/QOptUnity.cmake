#===- QOptUnity.cmake - Unity builds of the heaviest libraries -----------===#
#
# With the headers precompiled (QOptPCH.cmake), what is left of a file of
# QOptConversion is mostly instantiating and optimizing the same MLIR
# templates (patterns, builders, type converters) that its siblings
# instantiate too. Compiling the files in batches of 10 (CMake's
# UNITY_BUILD: one translation unit per batch) does that once per batch:
# cold, without ccache, the CPU time (user + system) of obj.QOptConversion
# fell from 381 s to 141 s (half of it system time: each translation unit
# maps the target's 1 GB precompiled header, 2 times instead of 20), and
# to 91 s without the precompiled header, whose own compile two
# translation units do not repay: a unity target precompiles no header
# (lowering/lib/CMakeLists.txt). The cost is on incremental builds (an edit recompiles its
# batch) and on names: the files of a batch share one translation unit, so
# their static functions, anonymous-namespace names and using-directives
# must not clash (QOptTransforms' do: it stays file by file).
# QOPT_UNITY_BUILD=OFF compiles every file on its own.
#
#===------------------------------------------------------------------------===#

option(QOPT_UNITY_BUILD
       "Compile the heaviest MLIR libraries in batches of files (unity)" ON)

# qopt_unity_build(<target> <batch size>)
function(qopt_unity_build target batch_size)
  if(QOPT_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES
      UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${batch_size})
  endif()
endfunction()
