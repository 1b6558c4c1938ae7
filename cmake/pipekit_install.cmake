# pipekit's install rules (PIPEKIT_INSTALL), included from the top-level
# CMakeLists.txt: headers, library, CMake package, pkg-config file, license.
include(CMakePackageConfigHelpers)
# Not CMAKE_INSTALL_DOCDIR: as a subproject that would name the parent project.
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/pipekit)
install(DIRECTORY include/pipekit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS pipekit pipekit_topology EXPORT pipekit-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT pipekit-targets NAMESPACE pipekit::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pipekit)
get_target_property(pipekit_type pipekit TYPE)
# The CMake package looks for what the exported target links: threads always,
# libcrypto only for a static POSIX libpipekit (a shared one hides it), and
# not on Linux, where libpipekit loads libcrypto itself when it needs it.
if(pipekit_type STREQUAL "STATIC_LIBRARY" AND NOT WIN32 AND NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(PIPEKIT_CONFIG_NEEDS_OPENSSL ON)
else()
  set(PIPEKIT_CONFIG_NEEDS_OPENSSL OFF)
endif()
configure_package_config_file(cmake/pipekit-config.cmake.in
        ${CMAKE_CURRENT_BINARY_DIR}/pipekit-config.cmake
        INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pipekit)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/pipekit-config-version.cmake
        COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pipekit-config.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/pipekit-config-version.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/pipekit)
# The .pc file finds its prefix from its own location, so installing with
# --prefix or DESTDIR after configuring still gives correct paths.
# (Any absolute stand-in prefix gives the same relative path.)
file(RELATIVE_PATH PIPEKIT_PC_PREFIX_FROM_PCFILEDIR /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" PIPEKIT_PC_PREFIX_FROM_PCFILEDIR "${PIPEKIT_PC_PREFIX_FROM_PCFILEDIR}")
# What the library's own dependencies add for a consumer. A static
# libpipekit (the default) always needs them, so they go where a plain
# `pkg-config --libs pipekit` gives them; a shared one needs them only for
# `--static`. POSIX: libcrypto (authentication; on Linux loaded with
# dlopen() from libdl instead); Windows: CNG and ntdll.
# The .pc file sets no -std: a consumer compiles as C++20 or later, and a
# -std=c++20 here would lower a consumer's -std=c++23.
if(WIN32)
  set(pipekit_pc_deps_requires "")
  set(pipekit_pc_deps_libs "-lbcrypt -lntdll")
elseif(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  set(pipekit_pc_deps_requires "")
  set(pipekit_pc_deps_libs "-ldl")
else()
  set(pipekit_pc_deps_requires libcrypto)
  set(pipekit_pc_deps_libs "")
endif()
set(PIPEKIT_PC_REQUIRES "")
set(PIPEKIT_PC_REQUIRES_PRIVATE "")
set(PIPEKIT_PC_LIBS "-L\${libdir} -lpipekit_topology -lpipekit -pthread")
set(PIPEKIT_PC_LIBS_PRIVATE "")
if(pipekit_type STREQUAL "SHARED_LIBRARY")
  set(PIPEKIT_PC_REQUIRES_PRIVATE "${pipekit_pc_deps_requires}")
  set(PIPEKIT_PC_LIBS_PRIVATE "${pipekit_pc_deps_libs}")
else()
  set(PIPEKIT_PC_REQUIRES "${pipekit_pc_deps_requires}")
  string(APPEND PIPEKIT_PC_LIBS " ${pipekit_pc_deps_libs}")
endif()
string(STRIP "${PIPEKIT_PC_LIBS}" PIPEKIT_PC_LIBS)
configure_file(cmake/pipekit.pc.in ${CMAKE_CURRENT_BINARY_DIR}/pipekit.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pipekit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
