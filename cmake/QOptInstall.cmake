#===- QOptInstall.cmake - install rules and the QOpt CMake package -------===#
#
# `cmake --install build --prefix P` installs headers (sources and generated
# .inc), the libraries, qopt-opt and P/lib/cmake/qopt/QOptConfig.cmake, so
# another project can `find_package(QOpt)` and link QOpt::QOptTransforms.
#
#===----------------------------------------------------------------------===#

include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(QOPT_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/qopt)

foreach(component ${QOPT_COMPONENTS})
  install(DIRECTORY ${QOPT_SOURCE_DIR}/${component}/include/qopt
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    COMPONENT qopt-headers
    FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
  install(DIRECTORY ${QOPT_BINARY_DIR}/${component}/include/qopt
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    COMPONENT qopt-headers
    OPTIONAL
    FILES_MATCHING PATTERN "*.inc")
endforeach()

foreach(lib QOptDialect QOptTransforms QOptConversion QOptImport QOptModuleInput
           QOptRunner)
  target_include_directories(${lib} INTERFACE
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()

install(TARGETS qopt_runtime qopt_model qopt_exec qopt_gptq QOptDialect QOptTransforms
                QOptConversion QOptImport QOptModuleInput QOptRunner
  EXPORT QOptTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS qopt-opt qopt-import qopt-run
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT QOptTargets
  NAMESPACE QOpt::
  DESTINATION ${QOPT_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${QOPT_SOURCE_DIR}/cmake/QOptConfig.cmake.in
  ${QOPT_BINARY_DIR}/QOptConfig.cmake
  INSTALL_DESTINATION ${QOPT_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(
  ${QOPT_BINARY_DIR}/QOptConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${QOPT_BINARY_DIR}/QOptConfig.cmake
  ${QOPT_BINARY_DIR}/QOptConfigVersion.cmake
  DESTINATION ${QOPT_INSTALL_CMAKEDIR})
