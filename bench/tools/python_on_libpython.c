/* The python3 command, linked against the libpython3.X.so that mod_pympm
 * (and mod_wsgi) embed. Debian's /usr/bin/python3 is a static build of the
 * same interpreter with PGO and LTO; the shared library comes from a second
 * build without --enable-optimizations. bench/run's "uvicorn-libpython" runs
 * uvicorn with this, so the table shows what the same Python code costs in
 * the library an embedding server runs. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

int main(int argc, char** argv) { return Py_BytesMain(argc, argv); }
