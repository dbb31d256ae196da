#===- QOptPCH.cmake - Precompiled headers of the heavy targets ------------===#
#
# Parsing the MLIR and LLVM headers is most of the compile time of a qopt
# source file (gcc -ftime-report on ModelRunner.cpp: 83% in parsing, 46% in
# template instantiation). The targets with many such files precompile the
# headers they all include once (CMake's target_precompile_headers); measured
# on the 20 files of QOptConversion, cold and without ccache, the CPU time of
# the target fell from 545 s to 364 s (QOptConversion now precompiles only
# when QOPT_UNITY_BUILD is OFF; cmake/QOptUnity.cmake).
# QOPT_PRECOMPILED_HEADERS=OFF turns it off (for tools that cannot read
# gcc's .gch, or to check that every file includes what it uses).
#
#===------------------------------------------------------------------------===#

option(QOPT_PRECOMPILED_HEADERS
       "Precompile the headers shared by the targets with many MLIR files" ON)

# qopt_precompile_headers(<target> <header>...): headers as
# target_precompile_headers takes them (<system> or "path").
function(qopt_precompile_headers target)
  if(QOPT_PRECOMPILED_HEADERS)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()
