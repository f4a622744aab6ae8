#!/bin/bash
# The WebSocket parking study of issue 21 (mod_ws_park_probe.c says what it
# does; docs/asgi.md "Why an idle WebSocket still holds a thread under
# event" what it found): builds the probe module with apxs, runs httpd's
# event MPM as root (1 child, ThreadsPerChild 25) on 127.0.0.1:$PORT (and
# TLS on PORT+1), and prints the figures. Needs apache2-dev, openssl, curl,
# python3. Takes about 8 minutes; run it under `nice`.
#
#   bench/probes/ws_park/run.sh [N]      N idle sockets (1000)
#   SECTIONS=BD bench/probes/ws_park/run.sh   only some of A B C D E
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export WORK=${WORK:-/tmp/ws_park_probe}
PORT=${PORT:-18473}
N=${1:-1000}
SECTIONS=${SECTIONS:-ABCDE}
M=/usr/lib/apache2/modules
mkdir -p "$WORK" && chmod 755 "$WORK"
cp "$HERE/mod_ws_park_probe.c" "$WORK/" && (cd "$WORK" && apxs -c -Wc,-std=gnu11 mod_ws_park_probe.c >build.log 2>&1) ||
    { cat "$WORK/build.log"; exit 1; }
cc -O2 -o "$WORK/ws_load" "$HERE/../../tools/ws_load.c" || exit 1
[ -f "$WORK/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -days 2 -subj /CN=localhost 2>/dev/null
echo hello > "$WORK/index.html"
C=$WORK/httpd.conf

# conf MODE [directives...]
conf() {
    local mode=$1; shift
    cat > "$C" <<CONF
ServerRoot $WORK
ServerName localhost
Listen 127.0.0.1:$PORT
PidFile $WORK/httpd.pid
ErrorLog $WORK/error.log
LogLevel warn
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule ws_park_probe_module $WORK/.libs/mod_ws_park_probe.so
User www-data
Group www-data
StartServers 1
ServerLimit 1
MinSpareThreads 1
MaxSpareThreads 1000
ThreadsPerChild 25
ThreadLimit 25
MaxRequestWorkers 25
ListenBacklog 4096
DocumentRoot $WORK
<Location /ws>
  SetHandler ws-park-probe
  WsParkProbe $mode
</Location>
<Location /probe-status>
  SetHandler ws-park-probe-status
</Location>
$(printf '%s\n' "$@")
CONF
}
start() { : > "$WORK/error.log"; apache2 -f "$C" -k start && sleep 1.5; CHILD=$(pgrep -P "$(cat "$WORK/httpd.pid")" | head -1); }
stop() {
    apache2 -f "$C" -k stop 2>/dev/null
    for _ in $(seq 20); do [ -f "$WORK/httpd.pid" ] || break; sleep 0.5; done
}
rss() { awk '/VmRSS/{print $2}' "/proc/$CHILD/status"; }
http5() {
    local ok=0
    for _ in 1 2 3 4 5; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$PORT/index.html")" = 200 ] && ok=$((ok + 1))
    done
    echo "$ok/5"
}

if [[ $SECTIONS == *A* ]]; then
# A. capacity: N idle sockets held 15 s, HTTP during the hold, one echo each after it
for mode in thread park; do
    conf $mode "AsyncRequestWorkerFactor 100"
    start
    r0=$(rss)
    timeout 150 "$WORK/ws_load" "ws://127.0.0.1:$PORT/ws" idle "$N" 15 > "$WORK/ws.json" &
    wl=$!
    sleep 8
    echo "A $mode: rss_kb $r0 -> $(rss) threads $(ls /proc/$CHILD/task | wc -l) http_during_hold $(http5)"
    wait $wl
    echo "A $mode: ws_load $(cat "$WORK/ws.json")"
    stop
done

fi
if [[ $SECTIONS == *B* ]]; then
# B. server push while parked (every 2 s), plain and TLS
conf park "AsyncRequestWorkerFactor 100" "WsParkProbePush 2" \
    "LoadModule socache_shmcb_module $M/mod_socache_shmcb.so" "LoadModule ssl_module $M/mod_ssl.so" \
    "Listen 127.0.0.1:$((PORT + 1))" "<VirtualHost 127.0.0.1:$((PORT + 1))>" "SSLEngine on" \
    "SSLCertificateFile $WORK/cert.pem" "SSLCertificateKeyFile $WORK/key.pem" \
    "<Location /ws>" "SetHandler ws-park-probe" "WsParkProbe park" "</Location>" "</VirtualHost>"
start
echo "B push: $(timeout 60 python3 "$HERE/clients.py" push $PORT 500 11.5)"
echo "B push tls: $(timeout 60 python3 "$HERE/clients.py" push $((PORT + 1)) 100 7 tls)"
echo "B echo tls: $(timeout 60 python3 "$HERE/clients.py" echo $((PORT + 1)) 100 tls)"
stop

fi
if [[ $SECTIONS == *C* ]]; then
# C. no ap_mpm_resume_suspended(): the MPM never hears that a parked
# connection ended (default AsyncRequestWorkerFactor 2: 25 + 2 x 25 = 75)
for teardown in close pool; do
    conf park "WsParkProbeTeardown $teardown"
    start
    for round in 1 2 3 4 5; do
        o=$(timeout 40 "$WORK/ws_load" "ws://127.0.0.1:$PORT/ws" idle 20 0.2 |
            python3 -c "import json,sys; d=json.load(sys.stdin); print(d['opened'], 'of 20 opened')")
        sleep 0.5
        echo "C $teardown round $round: $o (total $((round * 20))), http $(http5), rss_kb $(rss), fds $(ls /proc/$CHILD/fd | wc -l)"
    done
    stop
done

fi
if [[ $SECTIONS == *D* ]]; then
# D. graceful restart with 200 parked sockets
conf park "AsyncRequestWorkerFactor 100"
start
echo "D graceful: $(timeout 90 python3 "$HERE/clients.py" graceful $PORT 200)"
grep -c AH03490 "$WORK/error.log" | sed 's/^/D "scoreboard is full" (AH03490) lines: /'
stop
grep -h "AH00045\|AH00046" "$WORK/error.log" | cut -c1-160
fi
if [[ $SECTIONS == *E* ]]; then
# E. a request handler that leaves CONN_STATE_ASYNC_WAITIO and returns OK
conf waitio
start
echo "E waitio: a frame after the 101: $(timeout 30 python3 "$HERE/clients.py" frame $PORT)"
echo "E waitio: back in process_connection: $(grep -c 'back in process_connection' "$WORK/error.log") time(s)"
stop
fi
