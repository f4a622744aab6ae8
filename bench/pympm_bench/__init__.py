"""The benchmark behind bench/run and bench/profile-callgrind.

One concern per module, in the order a run uses them:

    cli        bench/run's options and the run from start to end
    console    progress lines and fatal errors
    host       where the programs and sources are, calling them, the machine
    packages   the Debian packages a run needs, installed with apt
    build      building mod_pympm and the floor module
    scenarios  the scenario table, and what a right answer is
    tree       the files every server serves, and the apps' own answers
    process    Server and Stack: what every deployment offers the bench
    httpd      httpd from a generated config
    fronts     nginx and httpd as proxies in front of an app server
    servers    every deployment (mod_pympm, mod_wsgi, nginx+uwsgi, ...): the registry
    wrk        HTTP load from wrk, and the check of one answer
    wsload     WebSocket load from tools/ws_load.c, and the check of one echo
    measure    one run, the interleaved rounds of a scenario, their summary
    sampling   CPU and memory from /proc
    targets    the goals issues set, checked against a run
    report     results.md, results.json, docs/benchmarks.md
    chart      chart.png

Adding a server: a class and a DEPLOYMENTS row in servers.py. Adding a
scenario: a row in scenarios.py (and its app in bench/apps/). See
bench/README.md.
"""
