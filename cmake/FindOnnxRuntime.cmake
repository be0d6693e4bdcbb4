# FindOnnxRuntime: the ONNX Runtime C API headers and shared library.
#
#   ONNXRUNTIME_ROOT   a directory with include/ (onnxruntime_c_api.h, directly or under
#                      include/onnxruntime/) and lib/ (libonnxruntime.so[.1]); defaults to
#                      ${PROJECT_SOURCE_DIR}/.deps/onnxruntime, where scripts/install-deps.sh puts
#                      the npm onnxruntime-node library and Debian trixie's headers.
#
# Defines the GLOBAL imported target onnxruntime::onnxruntime and
#   OnnxRuntime_FOUND, OnnxRuntime_INCLUDE_DIR, OnnxRuntime_LIBRARY,
#   OnnxRuntime_API_VERSION (ORT_API_VERSION of the headers),
#   OnnxRuntime_RUNTIME_VERSION (what the library reports, from a configure-time probe that also
#   checks the library serves the headers' API version).
# Targets linking it get the library's directory in their build RPATH, so build/bin/hotswap and
# the tests find libonnxruntime.so.1 at run time without LD_LIBRARY_PATH.

set(ONNXRUNTIME_ROOT "${PROJECT_SOURCE_DIR}/.deps/onnxruntime"
    CACHE PATH "ONNX Runtime root (include/ and lib/)")

# A changed root forgets what an earlier configure found.
if(NOT "${ONNXRUNTIME_ROOT}" STREQUAL "${_OnnxRuntime_LAST_ROOT}")
  unset(OnnxRuntime_INCLUDE_DIR CACHE)
  unset(OnnxRuntime_LIBRARY CACHE)
  set(_OnnxRuntime_LAST_ROOT "${ONNXRUNTIME_ROOT}" CACHE INTERNAL "")
endif()

find_path(OnnxRuntime_INCLUDE_DIR onnxruntime_c_api.h
          PATHS "${ONNXRUNTIME_ROOT}/include" PATH_SUFFIXES onnxruntime
          NO_DEFAULT_PATH)
find_library(OnnxRuntime_LIBRARY NAMES onnxruntime libonnxruntime.so.1
             PATHS "${ONNXRUNTIME_ROOT}/lib" "${ONNXRUNTIME_ROOT}/lib64" NO_DEFAULT_PATH)

if(OnnxRuntime_INCLUDE_DIR)
  file(STRINGS "${OnnxRuntime_INCLUDE_DIR}/onnxruntime_c_api.h" _ort_api_line
       REGEX "^#define ORT_API_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ORT_API_VERSION ([0-9]+).*" "\\1" OnnxRuntime_API_VERSION
         "${_ort_api_line}")
endif()

# Probe once per (headers, library) pair: the library must serve the headers' API version.
if(NOT OnnxRuntime_INCLUDE_DIR OR NOT OnnxRuntime_LIBRARY)
  set(OnnxRuntime_RUNTIME_VERSION "" CACHE INTERNAL "")
  set(_OnnxRuntime_PROBED_KEY "" CACHE INTERNAL "")
else()
  get_filename_component(_ort_real "${OnnxRuntime_LIBRARY}" REALPATH)
  file(TIMESTAMP "${_ort_real}" _ort_stamp)
  set(_ort_key "${OnnxRuntime_INCLUDE_DIR}|${_ort_real}|${_ort_stamp}|${OnnxRuntime_API_VERSION}")
  if(NOT "${_ort_key}" STREQUAL "${_OnnxRuntime_PROBED_KEY}")
    set(_ort_src "${CMAKE_BINARY_DIR}/CMakeFiles/onnxruntime_probe.c")
    file(WRITE "${_ort_src}" [=[
#include <stdio.h>
#include "onnxruntime_c_api.h"
int main(void) {
  const OrtApiBase* base = OrtGetApiBase();
  if (base->GetApi(ORT_API_VERSION) == NULL) {
    printf("API-%d-NOT-SERVED-BY-%s", ORT_API_VERSION, base->GetVersionString());
    return 1;
  }
  printf("%s", base->GetVersionString());
  return 0;
}
]=])
    get_filename_component(_ort_libdir "${OnnxRuntime_LIBRARY}" DIRECTORY)
    try_run(_ort_run_rc _ort_compile_ok "${CMAKE_BINARY_DIR}/CMakeFiles/onnxruntime_probe"
            "${_ort_src}"
            CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${OnnxRuntime_INCLUDE_DIR}"
            LINK_LIBRARIES "${OnnxRuntime_LIBRARY}" "-Wl,-rpath,${_ort_libdir}"
            COMPILE_OUTPUT_VARIABLE _ort_compile_out
            RUN_OUTPUT_VARIABLE _ort_run_out)
    if(_ort_compile_ok AND "${_ort_run_rc}" STREQUAL "0")
      set(OnnxRuntime_RUNTIME_VERSION "${_ort_run_out}" CACHE INTERNAL "")
      set(_OnnxRuntime_PROBED_KEY "${_ort_key}" CACHE INTERNAL "")
    else()
      set(OnnxRuntime_RUNTIME_VERSION "" CACHE INTERNAL "")
      set(_OnnxRuntime_PROBED_KEY "" CACHE INTERNAL "")
      if(NOT _ort_compile_ok)
        message(STATUS "ONNX Runtime probe did not build:\n${_ort_compile_out}")
      else()
        message(STATUS "ONNX Runtime probe failed: ${_ort_run_out}")
      endif()
    endif()
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(
  OnnxRuntime
  REQUIRED_VARS OnnxRuntime_LIBRARY OnnxRuntime_INCLUDE_DIR OnnxRuntime_RUNTIME_VERSION
  VERSION_VAR OnnxRuntime_RUNTIME_VERSION
  REASON_FAILURE_MESSAGE
    "looked in ONNXRUNTIME_ROOT=${ONNXRUNTIME_ROOT} (headers: include/, library: lib/, and the library must serve the headers' ORT_API_VERSION). Run scripts/install-deps.sh, or pass -DONNXRUNTIME_ROOT=DIR.")

if(OnnxRuntime_FOUND)
  if(NOT TARGET onnxruntime::onnxruntime)
    add_library(onnxruntime::onnxruntime SHARED IMPORTED GLOBAL)
    set_target_properties(onnxruntime::onnxruntime PROPERTIES
      IMPORTED_LOCATION "${OnnxRuntime_LIBRARY}"
      IMPORTED_SONAME "libonnxruntime.so.1"
      INTERFACE_INCLUDE_DIRECTORIES "${OnnxRuntime_INCLUDE_DIR}")
  endif()
  if(NOT OnnxRuntime_FIND_QUIETLY)
    message(STATUS "ONNX Runtime: runtime ${OnnxRuntime_RUNTIME_VERSION} (${OnnxRuntime_LIBRARY}), "
                   "headers API ${OnnxRuntime_API_VERSION} (${OnnxRuntime_INCLUDE_DIR})")
  endif()
endif()
mark_as_advanced(OnnxRuntime_INCLUDE_DIR OnnxRuntime_LIBRARY)
