# Wasmtime C API as an IMPORTED target: wasmtime::wasmtime
#
# The library is built by scripts/build-wasmtime.sh (crate wasm-engine/) into
# a cache outside the clone. This file only points CMake at that install:
#   <dir>/lib/libwasmtime.a              the Rust staticlib (C API symbols)
#   <dir>/lib/native-static-libs.txt     system libs it needs, as rustc reported
#   <dir>/include/                       wasm.h wasi.h wasmtime.h wasmtime.hh wasmtime/*
#   <dir>/.stamp                         written last: the install is complete
#
# Input:  WASMGATE_WASMTIME_DIR (cache var), default
#         ${WASMGATE_CACHE:-/var/cache/wasmgate}/wasmtime-48.0.8
# Output: target wasmtime::wasmtime, variable WASMGATE_WASMTIME_VERSION
include_guard(GLOBAL)

set(WASMGATE_WASMTIME_VERSION 48.0.8)
if(DEFINED ENV{WASMGATE_CACHE} AND NOT "$ENV{WASMGATE_CACHE}" STREQUAL "")
  set(_wasmgate_cache_root "$ENV{WASMGATE_CACHE}")
else()
  set(_wasmgate_cache_root "/var/cache/wasmgate")
endif()
set(WASMGATE_WASMTIME_DIR "${_wasmgate_cache_root}/wasmtime-${WASMGATE_WASMTIME_VERSION}"
    CACHE PATH "Install prefix of the Wasmtime C API built by scripts/build-wasmtime.sh")
unset(_wasmgate_cache_root)

set(_wasmtime_lib "${WASMGATE_WASMTIME_DIR}/lib/libwasmtime.a")
set(_wasmtime_inc "${WASMGATE_WASMTIME_DIR}/include")
if(NOT EXISTS "${WASMGATE_WASMTIME_DIR}/.stamp"
   OR NOT EXISTS "${_wasmtime_lib}"
   OR NOT EXISTS "${_wasmtime_inc}/wasmtime.h")
  get_filename_component(_wasmgate_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  message(FATAL_ERROR
    "Wasmtime C API ${WASMGATE_WASMTIME_VERSION} not found (or incomplete) in\n"
    "  WASMGATE_WASMTIME_DIR=${WASMGATE_WASMTIME_DIR}\n"
    "Build it first (a few minutes, once per machine; needs cargo/rustc >= 1.95):\n"
    "  ${_wasmgate_root}/scripts/build-wasmtime.sh\n"
    "or point -DWASMGATE_WASMTIME_DIR=<prefix> at an existing install "
    "(it needs lib/libwasmtime.a, include/wasmtime.h and .stamp).")
endif()

# System libraries the Rust staticlib depends on (rustc --print native-static-libs),
# e.g. "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc".
set(_wasmtime_libs_file "${WASMGATE_WASMTIME_DIR}/lib/native-static-libs.txt")
set(_wasmtime_system_libs "")
if(EXISTS "${_wasmtime_libs_file}")
  file(READ "${_wasmtime_libs_file}" _wasmtime_native)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_wasmtime_libs_file}")
  separate_arguments(_wasmtime_native UNIX_COMMAND "${_wasmtime_native}")
  foreach(_flag IN LISTS _wasmtime_native)
    if(_flag MATCHES "^-l(.+)$")
      set(_name "${CMAKE_MATCH_1}")
      if(_name STREQUAL "pthread")
        list(APPEND _wasmtime_system_libs Threads::Threads)
      elseif(NOT _name STREQUAL "c")   # libc is always linked
        list(APPEND _wasmtime_system_libs "${_name}")
      endif()
    endif()
  endforeach()
else()
  set(_wasmtime_system_libs Threads::Threads dl m rt util gcc_s)
endif()
list(REMOVE_DUPLICATES _wasmtime_system_libs)
if(NOT TARGET Threads::Threads)
  find_package(Threads REQUIRED)
endif()

if(NOT TARGET wasmtime::wasmtime)
  add_library(wasmtime::wasmtime STATIC IMPORTED GLOBAL)
  set_target_properties(wasmtime::wasmtime PROPERTIES
    IMPORTED_LOCATION "${_wasmtime_lib}"
    # Imported include dirs are SYSTEM by default: our -Werror does not apply.
    INTERFACE_INCLUDE_DIRECTORIES "${_wasmtime_inc}"
    INTERFACE_LINK_LIBRARIES "${_wasmtime_system_libs}")
endif()
message(STATUS "Wasmtime ${WASMGATE_WASMTIME_VERSION}: ${WASMGATE_WASMTIME_DIR} (system libs: ${_wasmtime_system_libs})")
unset(_wasmtime_lib)
unset(_wasmtime_inc)
unset(_wasmtime_libs_file)
unset(_wasmtime_native)
unset(_wasmtime_system_libs)
