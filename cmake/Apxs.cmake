# Locate Apache httpd through apxs: include dirs, flags, module dir and the
# httpd binary the end-to-end tests start. Nothing is linked against APR or
# httpd: their symbols come from the running server.
find_program(APXS_EXECUTABLE NAMES apxs apxs2
             PATHS /usr/bin /usr/sbin /usr/local/apache2/bin
             DOC "apxs from the httpd development package")
if(NOT APXS_EXECUTABLE)
  message(FATAL_ERROR "apxs not found: install apache2-dev (Debian) or httpd-devel (Fedora), or pass -DAPXS_EXECUTABLE=/path/to/apxs")
endif()

function(_pympm_apxs_query var key)
  execute_process(COMMAND "${APXS_EXECUTABLE}" -q ${key}
                  OUTPUT_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "apxs -q ${key} failed (${rc})")
  endif()
  set(${var} "${out}" PARENT_SCOPE)
endfunction()

_pympm_apxs_query(HTTPD_INCLUDE_DIR INCLUDEDIR)
_pympm_apxs_query(HTTPD_APR_INCLUDE_DIR APR_INCLUDEDIR)
_pympm_apxs_query(HTTPD_APU_INCLUDE_DIR APU_INCLUDEDIR)
_pympm_apxs_query(HTTPD_EXTRA_CPPFLAGS EXTRA_CPPFLAGS)
_pympm_apxs_query(HTTPD_MODULES_DIR LIBEXECDIR)
_pympm_apxs_query(HTTPD_SBINDIR SBINDIR)
_pympm_apxs_query(HTTPD_TARGET TARGET)
set(HTTPD_EXECUTABLE "${HTTPD_SBINDIR}/${HTTPD_TARGET}" CACHE FILEPATH "httpd binary used by the end-to-end tests")
separate_arguments(HTTPD_EXTRA_CPPFLAGS UNIX_COMMAND "${HTTPD_EXTRA_CPPFLAGS}")

add_library(httpd_headers INTERFACE)
target_include_directories(httpd_headers SYSTEM INTERFACE
  ${HTTPD_INCLUDE_DIR} ${HTTPD_APR_INCLUDE_DIR} ${HTTPD_APU_INCLUDE_DIR})
target_compile_options(httpd_headers INTERFACE ${HTTPD_EXTRA_CPPFLAGS})

message(STATUS "httpd: ${HTTPD_EXECUTABLE}, modules in ${HTTPD_MODULES_DIR}")
