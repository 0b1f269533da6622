# SPDX-License-Identifier: MIT
# install.cmake - what `cmake --install BUILD --prefix P` puts under P (spec section 10):
#
#   bin/ndlc                                    the compiler
#   include/ndlc/runtime/ndlrt.h                the runtime header, which includes
#   include/ndlc/ir/eltwise.def                 "../ir/eltwise.def": keep this layout
#   lib/cmake/ndlc/ndlcConfig.cmake             find_package(ndlc) + ndlc_add_model()
#   lib/cmake/ndlc/ndlcConfigVersion.cmake      0.x: compatible within the same minor version
#
# The package is relocatable: ndlcConfig.cmake finds everything relative to itself.
# Included at the end of the top-level CMakeLists.txt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NDLC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/ndlc)

# Keep the run path to shared libraries outside the system directories (an LLVM under
# /usr/lib/llvm-NN), which installing would otherwise strip.
set_target_properties(ndlc PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS ndlc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/runtime/ndlrt.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ndlc/runtime)
install(FILES ${CMAKE_SOURCE_DIR}/ir/eltwise.def
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ndlc/ir)

configure_package_config_file(
  ${CMAKE_SOURCE_DIR}/cmake/ndlcConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/ndlcConfig.cmake
  INSTALL_DESTINATION ${NDLC_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_BINDIR CMAKE_INSTALL_INCLUDEDIR)
# Before 1.0 a minor version may change the generated API, so only x.y.* match.
write_basic_package_version_file(
  ${CMAKE_BINARY_DIR}/cmake/ndlcConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/ndlcConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/ndlcConfigVersion.cmake
        DESTINATION ${NDLC_INSTALL_CMAKEDIR})
