#!/usr/bin/env bash
# What the interpreter build alone costs the same Python code: FastAPI's
# request path (fastapi_in_process.py) on Debian's /usr/bin/python3 (a static
# build with PGO and LTO) and on libpython3.X.so (built without; what
# mod_pympm, mod_wsgi and uWSGI's plugin embed), alternated three times.
#   bench/probes/libpython/run.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=/usr/bin/python3
gcc -O2 "$here/../../tools/python_on_libpython.c" -o "$work/python3-on-libpython" \
    $("$python-config" --includes) $("$python-config" --ldflags --embed)
for _ in 1 2 3; do
    echo "static python3:  $("$python" "$here/fastapi_in_process.py")"
    echo "libpython.so:    $("$work/python3-on-libpython" "$here/fastapi_in_process.py")"
done
