# -DPYMPM_SANITIZE=address,undefined builds every target of the project
# (mod_pympm.so, pympm_bridge, the unit and e2e test binaries) with those
# sanitizers; -DPYMPM_SANITIZE=thread with ThreadSanitizer (alone: it cannot
# be combined with ASan). See README.md, "Sanitizers".
#
# Sets PYMPM_SANITIZER_PRELOAD: the sanitizer runtimes, colon-separated, that
# the e2e harness preloads into /usr/sbin/apache2. httpd is not instrumented
# and loads mod_pympm.so with dlopen, which ASan refuses ("ASan runtime does
# not come first in initial library list") unless its runtime was loaded with
# the program.

# pympm_sanitizer_preload(<sanitizers> <out>): the runtimes of <sanitizers>
# (comma-separated), colon-separated, in the order LD_PRELOAD needs them.
# Also used by a plain build that runs its e2e suites against a sanitizer
# build's module (tests/CMakeLists.txt, PYMPM_SANITIZED_BUILD_DIR).
function(pympm_sanitizer_preload sanitizers out)
  string(REPLACE "," ";" _pympm_sanitizers "${sanitizers}")
  set(_pympm_runtimes "")
  if("address" IN_LIST _pympm_sanitizers)
    list(APPEND _pympm_runtimes asan)   # must come first in LD_PRELOAD
  endif()
  if("thread" IN_LIST _pympm_sanitizers)
    list(APPEND _pympm_runtimes tsan)   # the same: httpd dlopens the module
  endif()
  if("undefined" IN_LIST _pympm_sanitizers)
    list(APPEND _pympm_runtimes ubsan)
  endif()
  set(_pympm_preload "")
  foreach(rt IN LISTS _pympm_runtimes)
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=lib${rt}.so
                    OUTPUT_VARIABLE _so OUTPUT_STRIP_TRAILING_WHITESPACE)
    # gcc prints the bare name when it has no such runtime.
    if(NOT IS_ABSOLUTE "${_so}" OR NOT EXISTS "${_so}")
      message(FATAL_ERROR "PYMPM_SANITIZE: ${CMAKE_CXX_COMPILER} has no lib${rt}.so (on Debian it comes with g++ through libgcc-12-dev)")
    endif()
    file(REAL_PATH "${_so}" _so)  # the dev symlink -> the real libasan.so.N
    list(APPEND _pympm_preload "${_so}")
  endforeach()
  string(REPLACE ";" ":" _joined "${_pympm_preload}")
  set(${out} "${_joined}" PARENT_SCOPE)
endfunction()

set(PYMPM_SANITIZE "" CACHE STRING
    "Sanitizers for the module and the tests, comma-separated: address, undefined, or thread alone (empty: none)")
set(PYMPM_SANITIZER_PRELOAD "")

if(PYMPM_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # The harness preloads gcc's shared runtimes (clang links its own statically).
    message(FATAL_ERROR "PYMPM_SANITIZE needs g++ (found ${CMAKE_CXX_COMPILER_ID})")
  endif()
  string(REPLACE "," ";" _pympm_sanitizers "${PYMPM_SANITIZE}")
  foreach(s IN LISTS _pympm_sanitizers)
    if(NOT s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "PYMPM_SANITIZE: '${s}' is not supported; use address, undefined or both, or thread "
                          "(the e2e harness preloads and scans only those)")
    endif()
  endforeach()
  list(LENGTH _pympm_sanitizers _n)
  if("thread" IN_LIST _pympm_sanitizers AND _n GREATER 1)
    message(FATAL_ERROR "PYMPM_SANITIZE: thread goes alone (ThreadSanitizer excludes the others)")
  endif()

  # Directory-wide, before the subdirectories: every target gets them (link
  # options apply to executables and to the MODULE library alike).
  # -O0 (after the build type's -O2, so it wins): g++ compiles instrumented
  # code 3-4x faster than at -O1 (runtime/child_runtime.cpp: 16.3 s of CPU at
  # -O1, 4.5 s at -O0), which is most of CI's sanitizer build, while the
  # module's own code is a small part of what a sanitized test run spends
  # (CPython allocating through ASan, httpd, the clients). Reports keep every
  # frame (nothing is inlined).
  # -Wno-maybe-uninitialized: gcc's manual warns that sanitizers raise its
  # false positives; here they come from <regex>, <functional> and Boost.
  add_compile_options(-fsanitize=${PYMPM_SANITIZE} -fno-omit-frame-pointer -O0 -Wno-maybe-uninitialized)
  add_link_options(-fsanitize=${PYMPM_SANITIZE})

  pympm_sanitizer_preload("${PYMPM_SANITIZE}" PYMPM_SANITIZER_PRELOAD)
  message(STATUS "Sanitizers: ${PYMPM_SANITIZE}; e2e tests preload ${PYMPM_SANITIZER_PRELOAD} into httpd")
endif()
