#===- RunEmbeddingTest.cmake - install qopt, build a consumer, run it ----===#
#
# cmake -P script driven by ctest (see CMakeLists.txt beside it):
#   1. cmake --install the build tree into WORK_DIR/prefix;
#   2. configure and build consumer/ with find_package(QOpt) from there;
#   3. run it and FileCheck its output.
#
#===----------------------------------------------------------------------===#

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${step} failed (${rc}):\n${out}\n${err}")
  endif()
  set(RUN_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run("install" ${CMAKE_COMMAND} --install ${QOPT_BINARY_DIR} --prefix ${prefix})
run("configure consumer" ${CMAKE_COMMAND} -G "${GENERATOR}"
    -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build
    -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_CXX_FLAGS=${CONSUMER_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_FLAGS}"
    -DMLIR_DIR=${MLIR_DIR})
run("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("run consumer" ${WORK_DIR}/build/qopt-consumer)
file(WRITE ${WORK_DIR}/output.mlir "${RUN_OUTPUT}")
run("FileCheck" ${FILECHECK} ${CHECK_FILE} --input-file ${WORK_DIR}/output.mlir)
message(STATUS "consumer output:\n${RUN_OUTPUT}")
