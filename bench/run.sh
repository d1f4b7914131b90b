#!/usr/bin/env bash
# wasmgate vs nginx vs HAProxy: one worker each, proxying to the same small
# upstream (nginx answering `return 200 "hello world\n"`, a 12-byte body), with
# keep-alive to the client and to the upstream and access logs off.
#
# Reports, for each proxy:
#   - wall clock: wrk req/s and p99 (warm-up, then wrk -t1 -cCONNS -dDURATION),
#     the ratio to nginx, and how many upstream connections the proxy opened
#     (a keep-alive check: it should be about CONNS, not about the request count);
#   - callgrind instructions per proxied request: two traces of the proxy, one
#     serving N1 requests and one serving N2, and (I2 - I1) / (N2 - N1), which
#     cancels start-up, warm-up and shutdown;
#   - wasmgate with 10,000 routes, and the router micro-benchmark (optional);
#   - an Admin API write to the change live on the proxy, with 10 and 10,000
#     routes, its CPU time, and the 10,000-route snapshot's RSS;
#   - Wasm filters: wasmgate with one header-adding Proxy-Wasm filter on the
#     route (each SDK's minimal filter, build/filters/bench_<sdk>.wasm, and on
#     request its conformance filter, conf_<sdk>.wasm) against wasmgate without
#     it, and nginx with the equivalent Lua handlers (libnginx-mod-http-lua)
#     against plain nginx: the extra instructions per request and the req/s
#     ratio to the same proxy without the filter.
#   - Kong's published plugin cases (issue 11): wasmgate with rate-limiting
#     (local), key-auth + rate-limiting by consumer with 1 and 10,000
#     consumers, and prometheus (Kong's default config and all switches on),
#     against wasmgate without plugins: the extra instructions per request and
#     the req/s and req/CPU-s ratios, against the targets (5%, 10%, 3%).
#   - TLS (issue 14): HTTPS keep-alive (`<proxy>-tls`) and a new TLS
#     connection per request (`<proxy>-tlsnew`: full handshakes per second),
#     the three proxies with the same ECDSA P-256 certificate, against nginx's.
# Results go to stdout and bench/last-run.txt. Loopback only; about 10 minutes
# (4 without the Wasm part), every step has a time limit. See bench/README.md
# and bench/RESULTS.md.
#
# CPU placement (the bench machine has 2 cores): the proxy under test alone on
# CPU 0 (BENCH_PROXY_CPU), the upstream and wrk together on CPU 1
# (BENCH_LOAD_CPU). On a single core there is no pinning.
#
# Environment:
#   BENCH_DURATION=10   wrk seconds per proxy        BENCH_CONNS=50   wrk connections
#   BENCH_WARMUP=2      wrk warm-up seconds          BENCH_THREADS=1  wrk threads
#   BENCH_ROUNDS=3      wrk runs per proxy, interleaved; the best is reported
#   BENCH_CG_N1=1000 BENCH_CG_N2=3000   requests per callgrind trace
#   BENCH_WALL="nginx haproxy wasmgate wasmgate-10k"  proxies timed with wrk ("" for none)
#   BENCH_CG="nginx haproxy wasmgate"                  proxies traced with callgrind ("" for none)
#   BENCH_QUIET_WAIT=0  seconds to wait for the machine to be idle (< 15% busy) first
#   BENCH_PROXY_QUOTA=40  percent of one CPU the proxy may use in the wrk runs (a cgroup
#                       cpu quota; needs root, else the default falls back to uncapped): the
#                       proxy, not wrk and the upstream, is then the bottleneck, so req/s ratios
#                       show the proxy's own cost, kernel included. Empty: uncapped
#   BENCH_SYSCALLS="nginx haproxy wasmgate"  proxies whose syscalls per request are counted
#                       (strace -c -f attached after a warm-up, over BENCH_SYSCALL_N=2000
#                       keep-alive requests on one connection; "" for none)
#   BENCH_IDLE="wasmgate nginx"  proxies whose RSS per idle keep-alive client connection is
#                       measured (bench/idle_rss.py, BENCH_IDLE_CONNS=2000 connections; "" for none)
#   BENCH_API_WRITE=1   time Admin API writes to the change answering on the proxy, with 10
#                       and 10,000 routes, and the 10,000-route snapshot's memory
#                       (bench/api_write_latency.py, BENCH_API_WRITES=20 writes each; 0 to skip)
#   BENCH_ROUTER=1      build and run the router micro-benchmark (0 to skip)
#   BENCH_BUILD_DIR=build-bench   where the micro-benchmark is built
#   BENCH_CG_KEEP=DIR   keep the callgrind profiles in DIR
#   BENCH_CG_START=300  seconds a proxy may take to start under callgrind (a large filter compiles there)
#   BENCH_NGINX_KEEPALIVE   nginx `upstream { keepalive N; }` (default: max(32, CONNS))
#   BENCH_WASM=1        add the Wasm filter runs to BENCH_WALL and BENCH_CG (0: none):
#                       wasmgate-<sdk> for each SDK, nginx-lua, and their baselines
#                       nginx and wasmgate (the names can also be listed by hand)
#   BENCH_WASM_SDKS="c cpp as go rust"   which filters: <sdk> is the SDK's minimal
#                       filter bench_<sdk>.wasm (run wasmgate-<sdk>: the issue's bar),
#                       conf-<sdk> its conformance filter conf_<sdk>.wasm (run
#                       wasmgate-conf-<sdk>)
#   BENCH_WASM_CONF=0   1: also conf-<sdk> for every <sdk> in BENCH_WASM_SDKS
#   BENCH_FILTERS_DIR=build/filters      where bench_<sdk>.wasm and conf_<sdk>.wasm are
#   BENCH_NGINX_MODULES=/usr/lib/nginx/modules   ngx_http_lua_module.so, ndk_http_module.so
#   BENCH_TLS=1         add the TLS runs to BENCH_WALL (nginx-tls haproxy-tls wasmgate-tls,
#                       nginx-tlsnew haproxy-tlsnew wasmgate-tlsnew) and the keep-alive ones to
#                       BENCH_CG (0: none)
#   BENCH_PLUGINS=1     add the plugin runs to BENCH_WALL and BENCH_CG (0: none), with their
#                       baselines nginx and wasmgate: wasmgate-rl (rate-limiting, local, a
#                       limit never reached), wasmgate-ka-rl and wasmgate-ka-rl-10k (key-auth +
#                       rate-limiting limit_by consumer; 1 and 10,000 consumers, the client
#                       sends one key / rotates through all keys), wasmgate-prom (prometheus,
#                       Kong's default config, global as in Kong's perf test) and
#                       wasmgate-prom-all (every prometheus switch on)
#   BENCH_LUA=1         add the Lua plugin runs to BENCH_WALL and BENCH_CG (0: none), with their
#                       baselines and peers nginx, wasmgate, nginx-lua and wasmgate-c:
#                       wasmgate-lua (a Kong-style Lua plugin, --lua-plugins-dir: access sets
#                       request header x-chain, header_filter response header x-chain-resp) and
#                       wasmgate-native (the same two headers from the native request-transformer
#                       and response-transformer). Target: wasmgate-lua's extra instructions per
#                       request no more than nginx-lua's
#   WASMGATE_BIN=build/wasmgate
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${WASMGATE_BIN:-$root/build/wasmgate}
duration=${BENCH_DURATION:-10}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-50}
threads=${BENCH_THREADS:-1}
warmup=${BENCH_WARMUP:-2}
n1=${BENCH_CG_N1:-1000}
n2=${BENCH_CG_N2:-3000}
wall_list=${BENCH_WALL-nginx haproxy wasmgate wasmgate-10k}   # set but empty: none
cg_list=${BENCH_CG-nginx haproxy wasmgate}
router=${BENCH_ROUTER:-1}
wasm=${BENCH_WASM:-1}
plugins=${BENCH_PLUGINS:-1}
tls=${BENCH_TLS:-1}
tls_runs="nginx-tls haproxy-tls wasmgate-tls nginx-tlsnew haproxy-tlsnew wasmgate-tlsnew"
is_tls_run() { [[ " $tls_runs " == *" $1 "* ]]; }
lua=${BENCH_LUA:-1}
lua_runs="wasmgate-lua wasmgate-native"
is_lua_run() { [[ " $lua_runs " == *" $1 "* ]]; }
plugin_runs="wasmgate-rl wasmgate-ka-rl wasmgate-ka-rl-10k wasmgate-prom wasmgate-prom-all"
is_plugin_run() { [[ " $plugin_runs " == *" $1 "* ]]; }
# wasmgate-<sdk>: one Wasm filter on the route (not the 10k routes, not a plugin, Lua or TLS run)
is_sdk_run() { [[ $1 == wasmgate-?* && $1 != wasmgate-10k ]] && ! is_plugin_run "$1" && ! is_lua_run "$1" && ! is_tls_run "$1"; }
wasm_sdks=${BENCH_WASM_SDKS-c cpp as go rust}
wasm_conf=${BENCH_WASM_CONF:-0}
filters_dir=${BENCH_FILTERS_DIR:-$root/build/filters}
ngx_modules=${BENCH_NGINX_MODULES:-/usr/lib/nginx/modules}
build_dir=${BENCH_BUILD_DIR:-$root/build-bench}
out=$root/bench/last-run.txt
nreq=$root/bench/nreq.py
body_len=12   # "hello world\n"

die() { echo "bench: $*" >&2; exit 1; }

# --- tools
missing=()
for tool in wrk nginx haproxy valgrind strace pgrep taskset python3 timeout awk; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  die "missing: ${missing[*]} (install with: ./scripts/install-deps.sh --bench, or apt-get install wrk nginx-light haproxy valgrind strace)"
fi
have_wasmgate=1
if [[ ! -x "$bin" ]]; then
  echo "bench: $bin not found (run make build); benchmarking nginx and HAProxy only" >&2
  have_wasmgate=0
fi
[[ "$duration" =~ ^[0-9]+$ && "$rounds" =~ ^[1-9][0-9]*$ && "$conns" =~ ^[0-9]+$ && "$n1" =~ ^[0-9]+$ && "$n2" =~ ^[0-9]+$ ]] ||
  die "BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNS, BENCH_CG_N1 and BENCH_CG_N2 must be whole numbers"
(( n2 > n1 )) || die "BENCH_CG_N2 must be larger than BENCH_CG_N1"

# --- CPU placement
ncpu=$(nproc)
if (( ncpu >= 2 )); then
  proxy_cpu=${BENCH_PROXY_CPU:-0}
  load_cpu=${BENCH_LOAD_CPU:-1}
  on_proxy_cpu=(taskset -c "$proxy_cpu")
  on_load_cpu=(taskset -c "$load_cpu")
  placement="proxy on CPU $proxy_cpu, upstream and wrk on CPU $load_cpu"
else
  on_proxy_cpu=()
  on_load_cpu=()
  placement="single CPU, no pinning"
fi

# --- optional CPU quota for the proxy in the wrk runs. On this 2-core
# machine the load side (wrk + upstream on one CPU) saturates before a fast
# proxy does, and then req/s says more about the load side than the proxy.
# Capped by default (40%): what a user pays per request is the proxy's CPU,
# kernel included, and only a capped proxy shows it. BENCH_PROXY_QUOTA=
# (empty) runs uncapped; without a writable cgroup (not root) the default
# falls back to uncapped with a note, an explicit value is an error.
quota=${BENCH_PROXY_QUOTA-40}
cg_dir=""
in_quota=()
quota_note=""
if [[ -n $quota && -z ${BENCH_PROXY_QUOTA+set} ]] &&
   ! [[ -w /sys/fs/cgroup/cpu && -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]] &&
   ! [[ -w /sys/fs/cgroup && -f /sys/fs/cgroup/cgroup.controllers ]]; then
  quota_note="no writable cgroup cpu controller (not root?): the wrk runs are not capped"
  quota=""
fi
if [[ -n $quota ]]; then
  [[ $quota =~ ^[1-9][0-9]*$ ]] && (( quota <= 100 )) || die "BENCH_PROXY_QUOTA must be a percentage (1-100)"
  if [[ -w /sys/fs/cgroup/cpu && -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then  # cgroup v1
    cg_dir=/sys/fs/cgroup/cpu/wasmgate-bench-$$
    mkdir "$cg_dir" && echo 100000 >"$cg_dir/cpu.cfs_period_us" && echo $(( quota * 1000 )) >"$cg_dir/cpu.cfs_quota_us" ||
      die "cannot set up the cgroup $cg_dir"
  elif [[ -w /sys/fs/cgroup && -f /sys/fs/cgroup/cgroup.controllers ]]; then  # cgroup v2
    cg_dir=/sys/fs/cgroup/wasmgate-bench-$$
    mkdir "$cg_dir" && echo "$(( quota * 1000 )) 100000" >"$cg_dir/cpu.max" ||
      die "cannot set up the cgroup $cg_dir (is the cpu controller enabled at the root?)"
  else
    die "BENCH_PROXY_QUOTA needs a writable cgroup cpu controller (root)"
  fi
  # The proxy (and any process it forks) starts inside the cgroup.
  in_quota=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg_dir")
  placement+="; in the wrk runs the proxy may use $quota% of its CPU"
fi

# --- processes: every one we start is a direct child, stopped on exit
work=$(mktemp -d -t wasmgate-bench.XXXXXX)
pids=()
stop_pid() {  # $1 pid, $2 seconds to wait after SIGTERM before SIGKILL
  local pid=$1 t=$(( ${2:-10} * 10 ))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null && (( t-- > 0 )); do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do stop_pid "$p" 5; done
  [[ -n $cg_dir ]] && rmdir "$cg_dir" 2>/dev/null
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_bg() {  # $1 log name, then the command; sets LAST_PID
  local log=$work/$1.log
  shift
  "$@" >"$log" 2>&1 &
  LAST_PID=$!
  pids+=("$LAST_PID")
}
forget_pid() {  # $1 pid: stopped already, drop it from the cleanup list
  local keep=() p
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  pids=("${keep[@]+"${keep[@]}"}")
}
stop() { stop_pid "$1" "${2:-10}"; forget_pid "$1"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_ready() {  # $1 port, $2 pid, $3 name, $4 seconds: listening, then one proxied 200
  local port=$1 pid=$2 name=$3 t=$(( $4 * 10 ))
  until port_open "$port"; do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$work/$name.log" >&2 || true; die "$name exited before listening"; }
    (( t-- > 0 )) || die "$name is not listening on $port after $4 s"
    sleep 0.1
  done
  # Listening is not ready: HAProxy binds before loading the CA store (seconds
  # under valgrind). One request that comes back 200 with the upstream's body is.
  timeout "$4" python3 "$nreq" "$port" 1 --expect-len $body_len "${NREQ_EXTRA[@]+"${NREQ_EXTRA[@]}"}" ||
    { tail -20 "$work/$name.log" >&2 || true; die "$name on port $port did not proxy a request"; }
}

free_ports() {  # $1 count: prints that many free loopback ports
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
read -r UP PX CG < <(free_ports 3)

# Run a private copy of wasmgate, so a rebuild during the run changes nothing.
if [[ $have_wasmgate == 1 ]]; then
  cp "$bin" "$work/wasmgate"
  bin=$work/wasmgate
  wg_version=$("$bin" version 2>&1) || die "$bin does not run: $wg_version"
fi
# WASMGATE_<FLAG> variables would reach every wasmgate run (a filters dir in
# the no-filter baseline, say): the rig sets all it needs on the command line.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^WASMGATE_' || true)

# --- Wasm filters: a private copy of each filter, one directory per run
# (wasmgate compiles every module of its --filters-dir at start) and one with
# all of them, for compiling them into the cache once before any run. Each
# keeps its file name, which is its filter name (and, for the AssemblyScript
# runtime, the root id it registers its root context under).
#   <sdk>       bench_<sdk>.wasm: the SDK's minimal filter (filters/<sdk>/bench*),
#               the two headers and nothing else: the issue's bar
#   conf-<sdk>  conf_<sdk>.wasm: its conformance filter (filters/CONFORMANCE.md),
#               which also reads x-test and increments a counter
for n in $wall_list $cg_list; do   # wasmgate-<sdk> listed by hand
  if is_sdk_run "$n" && [[ " $wasm_sdks " != *" ${n#wasmgate-} "* ]]; then
    wasm_sdks+=" ${n#wasmgate-}"
  fi
done
if [[ $wasm_conf == 1 ]]; then
  for sdk in $wasm_sdks; do
    [[ $sdk == conf-* || " $wasm_sdks " == *" conf-$sdk "* ]] || wasm_sdks+=" conf-$sdk"
  done
fi
declare -A HAVE_SDK FILTER_NAME
wasm_notes=()
for sdk in $wasm_sdks; do
  if [[ $sdk == conf-?* ]]; then fname=conf_${sdk#conf-}; else fname=bench_$sdk; fi
  f=$filters_dir/$fname.wasm
  if [[ -f $f ]]; then
    mkdir -p "$work/filters/$sdk" "$work/filters/all"
    cp "$f" "$work/filters/$sdk/$fname.wasm"
    cp "$f" "$work/filters/all/$fname.wasm"
    HAVE_SDK[$sdk]=1
    FILTER_NAME[$sdk]=$fname
  elif [[ $wasm != 0 ]]; then
    wasm_notes+=("no $f (ninja -C build filters): wasmgate-$sdk skipped")
  fi
done
have_lua=0
if [[ -f $ngx_modules/ngx_http_lua_module.so && -f $ngx_modules/ndk_http_module.so ]]; then
  have_lua=1
elif [[ $wasm != 0 ]]; then
  wasm_notes+=("no $ngx_modules/ngx_http_lua_module.so (apt-get install libnginx-mod-http-lua): nginx-lua skipped")
fi
with_wasm() {  # $1 list of proxies: prints it with the Wasm runs and their baselines added
  local l=" $1 " n
  if [[ $wasm != 0 && -n ${1// /} ]]; then
    for n in nginx wasmgate nginx-lua; do [[ $l == *" $n "* ]] || l+="$n "; done
    for n in $wasm_sdks; do [[ $l == *" wasmgate-$n "* ]] || l+="wasmgate-$n "; done
  fi
  echo $l
}
with_plugins() {  # $1 list of proxies: prints it with the plugin runs and their baselines added
  local l=" $1 " n
  if [[ $plugins != 0 && -n ${1// /} ]]; then
    for n in nginx wasmgate $plugin_runs; do [[ $l == *" $n "* ]] || l+="$n "; done
  fi
  echo $l
}
with_lua() {  # $1 list of proxies: prints it with the Lua runs, their baselines and peers added
  local l=" $1 " n
  if [[ $lua != 0 && -n ${1// /} ]]; then
    for n in nginx wasmgate nginx-lua $lua_runs wasmgate-c; do [[ $l == *" $n "* ]] || l+="$n "; done
  fi
  echo $l
}
with_tls() {  # $1 list of proxies, $2 runs to add: prints it with the TLS runs added
  local l=" $1 " n
  if [[ $tls != 0 && -n ${1// /} ]]; then
    for n in $2; do [[ $l == *" $n "* ]] || l+="$n "; done
  fi
  echo $l
}

wall_list=$(with_tls "$(with_lua "$(with_plugins "$(with_wasm "$wall_list")")")" "$tls_runs")
cg_list=$(with_tls "$(with_lua "$(with_plugins "$(with_wasm "$cg_list")")")" "nginx-tls haproxy-tls wasmgate-tls")

# One certificate for every TLS run (ECDSA P-256, the common choice; HAProxy
# reads the certificate and key from one file).
if [[ " $wall_list $cg_list " == *-tls* ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=bench.local \
    -days 2 -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1 || die "openssl could not make the bench certificate"
  cat "$work/tls.crt" "$work/tls.key" >"$work/tls.pem"
fi

# --- is the machine quiet? (wall-clock numbers mean little when it is not)
cpu_busy() {  # percent of all CPUs busy over one second
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
    d = y[2] - x[2]; printf "%d", (d > 0 ? 100 * (y[1] - x[1]) / d : 0) }'
}
busy_before=$(cpu_busy)
quiet_wait=${BENCH_QUIET_WAIT:-0}
while (( busy_before > 15 && quiet_wait > 0 )); do
  echo "bench: machine ${busy_before}% busy, waiting (${quiet_wait}s left)" >&2
  sleep 4; quiet_wait=$(( quiet_wait - 5 ))
  busy_before=$(cpu_busy)
done

# --- the upstream: nginx, one worker, 12-byte body, keep-alive, no access log
mkdir -p "$work/up"
cat >"$work/up/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/up/nginx.pid;
error_log $work/up/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$UP;
    location / { return 200 "hello world\n"; }
    location = /__status { stub_status; }
    location = /__chain { return 200 "\$http_x_chain\n"; }
  }
}
CONF
start_bg upstream "${on_load_cpu[@]}" nginx -e "$work/up/error.log" -p "$work/up" -c "$work/up/nginx.conf"
up_pid=$LAST_PID
until port_open "$UP"; do
  kill -0 "$up_pid" 2>/dev/null || { cat "$work/upstream.log" "$work/up/error.log" >&2 || true; die "upstream nginx did not start"; }
  sleep 0.05
done
upstream_accepts() {  # connections the upstream has accepted so far
  python3 - "$UP" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/__status", timeout=5).read().decode()
print(text.splitlines()[2].split()[0])
PY
}

# --- proxy configurations
# nginx keeps at most `keepalive` idle upstream connections per worker and closes
# the rest, so with fewer than the wrk connections it reconnects all the time
# (about a third of the requests at -c50 with keepalive 32). Default: the larger
# of 32 and BENCH_CONNS.
ngx_keepalive=${BENCH_NGINX_KEEPALIVE:-$(( conns > 32 ? conns : 32 ))}
nginx_conf() {  # $1 dir, $2 port, $3 extra main-level directives, $4 extra location directives, $5 TLS (1)
  local listen="127.0.0.1:$2" tls_conf=""
  if [[ ${5:-} == 1 ]]; then
    listen+=" ssl"
    tls_conf="ssl_certificate $work/tls.crt; ssl_certificate_key $work/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache off; ssl_session_tickets off;"
  fi
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
$3
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream u {
    server 127.0.0.1:$UP;
    keepalive $ngx_keepalive;
    keepalive_requests 1000000;
  }
  server {
    listen $listen;
    $tls_conf
    location / {
      proxy_pass http://u;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${4:-}
    }
  }
}
CONF
}
haproxy_conf() {  # $1 file, $2 port, $3 TLS (1)
  local bind="127.0.0.1:$2"
  [[ ${3:-} == 1 ]] && bind+=" ssl crt $work/tls.pem no-tls-tickets"
  cat >"$1" <<CONF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind $bind
  default_backend b
backend b
  server s1 127.0.0.1:$UP
CONF
}
cat >"$work/wasmgate.yaml" <<CONF
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:$UP
    routes:
      - name: bench
        paths: ["/"]
CONF
# The Lua runs: a Kong-style plugin directory (handler.lua + schema.lua) that
# sets the same two headers as the filters, and the native plugins doing so.
mkdir -p "$work/lua/chain-header"
cat >"$work/lua/chain-header/handler.lua" <<'LUA'
local ChainHeader = { PRIORITY = 900, VERSION = "1.0.0" }
function ChainHeader:access(conf) kong.service.request.set_header("x-chain", "A") end
function ChainHeader:header_filter(conf) kong.response.set_header("x-chain-resp", "A") end
return ChainHeader
LUA
cat >"$work/lua/chain-header/schema.lua" <<'LUA'
return { name = "chain-header", fields = { { config = { type = "record", fields = {} } } } }
LUA
for run in lua native; do
  if [[ $run == lua ]]; then
    plugins_yaml='[{"name": "chain-header"}]'
  else
    plugins_yaml='[{"name": "request-transformer", "config": {"add": {"headers": ["x-chain:A"]}}}, {"name": "response-transformer", "config": {"add": {"headers": ["x-chain-resp:A"]}}}]'
  fi
  cat >"$work/wasmgate-$run.yaml" <<CONF
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:$UP
    routes:
      - name: bench
        paths: ["/"]
        plugins: $plugins_yaml
CONF
done
# 10,000 routes (half prefix-only, half host+prefix) in front of the catch-all.
python3 - "$work/wasmgate-10k.yaml" "$UP" <<'PY'
import sys
path, port = sys.argv[1], sys.argv[2]
with open(path, "w") as f:
    f.write('_format_version: "3.0"\nservices:\n  - name: bench\n')
    f.write(f'    url: http://127.0.0.1:{port}\n    routes:\n')
    for i in range(10000):
        if i % 2:
            f.write(f'      - {{name: r{i}, paths: ["/svc{i}/api"]}}\n')
        else:
            f.write(f'      - {{name: r{i}, hosts: ["host{i}.example.com"], paths: ["/api"]}}\n')
    f.write('      - {name: bench, paths: ["/"]}\n')
PY
# One header-adding filter on the route. A minimal filter (bench_<sdk>) adds
# request header x-chain: A and response header x-chain-resp: A; the
# conformance filter (conf_<sdk>) with tag "A" adds the same two and
# increments one counter (no x-test header: nothing else). Both get the
# configuration "A": the minimal filters ignore it, but the AssemblyScript
# runtime's own onConfigure traps on an empty one (bench/README.md).
for sdk in "${!HAVE_SDK[@]}"; do
  fname=${FILTER_NAME[$sdk]}
  cat >"$work/wasmgate-$sdk.yaml" <<CONF
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:$UP
    routes:
      - name: bench
        paths: ["/"]
        filter_chains: [{"name": "c", "filters": [{"name": "$fname", "config": "A"}]}]
CONF
done
# Kong's published plugin cases, on the same one-route service. rate-limiting:
# policy local with a limit no run reaches (Kong's benchmark refuses nothing),
# limit_by consumer (Kong's default: the client address when there is no
# consumer). key-auth + rate-limiting: N consumers, each with key key<i>, the
# client sends key1 (1 consumer) or each key in turn (10,000; wrk through
# rotate.lua). prometheus: global, as in Kong's spec/04-perf, with Kong's
# default config (every switch off) and with every switch on.
python3 - "$work" "$UP" <<'PY'
import json, sys
work, port = sys.argv[1], sys.argv[2]
rl = {"name": "rate-limiting", "config": {"second": 1000000000, "policy": "local", "limit_by": "consumer"}}
def write(name, route_plugins=(), consumers=0, global_plugins=()):
    route = {"name": "bench", "paths": ["/"]}
    if route_plugins:
        route["plugins"] = list(route_plugins)
    conf = {"_format_version": "3.0",
            "services": [{"name": "bench", "url": f"http://127.0.0.1:{port}", "routes": [route]}]}
    if consumers:
        conf["consumers"] = [{"username": f"c{i}", "keyauth_credentials": [{"key": f"key{i}"}]}
                             for i in range(1, consumers + 1)]
    if global_plugins:
        conf["plugins"] = list(global_plugins)
    with open(f"{work}/{name}.yaml", "w") as f:
        json.dump(conf, f, indent=1)  # JSON is YAML
ka = {"name": "key-auth", "config": {"key_names": ["apikey"]}}
write("wasmgate-rl", [rl])
write("wasmgate-ka-rl", [ka, rl], consumers=1)
write("wasmgate-ka-rl-10k", [ka, rl], consumers=10000)
write("wasmgate-prom", global_plugins=[{"name": "prometheus"}])
write("wasmgate-prom-all", global_plugins=[{"name": "prometheus", "config": {
    "per_consumer": True, "status_code_metrics": True, "latency_metrics": True,
    "bandwidth_metrics": True, "upstream_health_metrics": True}}])
PY
cat >"$work/rotate.lua" <<'LUA'
-- each request carries the next of the keys key1 .. key10000
local i = 0
request = function()
  i = i % 10000 + 1
  return wrk.format(nil, nil, { ["apikey"] = "key" .. i })
end
LUA
# What the client sends besides wrk's request for run $1: wrk arguments
# (WRK_EXTRA) and nreq.py arguments (NREQ_EXTRA), also for the readiness check.
client_extra() {
  WRK_EXTRA=() NREQ_EXTRA=()
  case $1 in
    wasmgate-ka-rl) WRK_EXTRA=(-H "apikey: key1"); NREQ_EXTRA=(--header "apikey: key1") ;;
    wasmgate-ka-rl-10k) WRK_EXTRA=(-s "$work/rotate.lua"); NREQ_EXTRA=(--header "apikey: key{i}" --rotate 10000) ;;
    *-tls) NREQ_EXTRA=(--tls) ;;
    *-tlsnew) WRK_EXTRA=(-H "Connection: close"); NREQ_EXTRA=(--tls) ;;
  esac
}
scheme_of() { if is_tls_run "$1"; then echo https; else echo http; fi; }
WRK_EXTRA=() NREQ_EXTRA=()
# The plugins run: rate-limiting's headers on the answer; key-auth refuses
# a request without a key.
plugin_check() {  # $1 port, $2 proxy name, $3 log name
  timeout 30 python3 - "$1" "$2" <<'PY' || { tail -20 "$work/$3.log" >&2 || true; die "$2: the plugins did not run"; }
import sys, urllib.request, urllib.error
port, name = sys.argv[1], sys.argv[2]
def get(headers):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers=headers)
    try:
        r = urllib.request.urlopen(req, timeout=20)
        return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers
if "-rl" in name:
    status, h = get({"apikey": "key1"} if "-ka-" in name else {})
    if status != 200 or h.get("X-RateLimit-Limit-Second") != "1000000000":
        sys.exit(f"status {status}, X-RateLimit-Limit-Second {h.get('X-RateLimit-Limit-Second')!r}")
if "-ka-" in name:
    status, _ = get({})
    if status != 401:
        sys.exit(f"no key: status {status}, want 401")
    if name.endswith("-10k") and get({"apikey": "key10000"})[0] != 200:
        sys.exit("key10000 refused")
PY
}

# nginx's equivalent: the Lua module (with NDK, which it needs) and two handlers.
ngx_lua_main="load_module $ngx_modules/ndk_http_module.so;
load_module $ngx_modules/ngx_http_lua_module.so;"
ngx_lua_loc='access_by_lua_block { ngx.req.set_header("x-chain", "A") }
      header_filter_by_lua_block { ngx.header["x-chain-resp"] = "A" }'

# Sets CMD to the command line of proxy $1 on port $2; $3 = "cg" for the
# callgrind variant (nginx without a master process, so the traced process is
# the one serving requests).
proxy_cmd() {
  local name=$1 port=$2 mode=${3:-}
  case $name in
    nginx|nginx-lua|nginx-tls|nginx-tlsnew)
      local main="" loc="" with_tls=""
      [[ $mode == cg ]] && main="master_process off;"
      [[ $name == nginx-lua ]] && { main+=$'\n'$ngx_lua_main; loc=$ngx_lua_loc; }
      is_tls_run "$name" && with_tls=1
      nginx_conf "$work/ngx-$port" "$port" "$main" "$loc" "$with_tls"
      CMD=(nginx -e "$work/ngx-$port/error.log" -p "$work/ngx-$port" -c "$work/ngx-$port/nginx.conf") ;;
    haproxy|haproxy-tls|haproxy-tlsnew)
      haproxy_conf "$work/haproxy-$port.cfg" "$port" "$(is_tls_run "$name" && echo 1)"
      CMD=(haproxy -db -f "$work/haproxy-$port.cfg") ;;
    wasmgate|wasmgate-10k)
      local conf=$work/wasmgate.yaml
      [[ $name == wasmgate-10k ]] && conf=$work/wasmgate-10k.yaml
      CMD=("$bin" start -c "$conf" --workers 1 --access-log off --admin-listen off
           --proxy-listen "127.0.0.1:$port" --log-level warn --drain-timeout 2000) ;;
    wasmgate-tls|wasmgate-tlsnew)
      CMD=("$bin" start -c "$work/wasmgate.yaml" --workers 1 --access-log off --admin-listen off
           --proxy-listen "127.0.0.1:$port ssl" --ssl-cert "$work/tls.crt" --ssl-cert-key "$work/tls.key"
           --log-level warn --drain-timeout 2000) ;;
    wasmgate-lua|wasmgate-native)
      CMD=("$bin" start -c "$work/$name.yaml" --workers 1 --access-log off --admin-listen off
           --proxy-listen "127.0.0.1:$port" --log-level warn --drain-timeout 2000 --lua-plugins-dir "$work/lua") ;;
    wasmgate-rl|wasmgate-ka-rl|wasmgate-ka-rl-10k|wasmgate-prom|wasmgate-prom-all)
      CMD=("$bin" start -c "$work/$name.yaml" --workers 1 --access-log off --admin-listen off
           --proxy-listen "127.0.0.1:$port" --log-level warn --drain-timeout 2000) ;;
    wasmgate-?*)
      local sdk=${name#wasmgate-}
      CMD=("$bin" start -c "$work/wasmgate-$sdk.yaml" --workers 1 --access-log off --admin-listen off
           --proxy-listen "127.0.0.1:$port" --log-level warn --drain-timeout 2000
           --filters-dir "$work/filters/$sdk" --wasm-cache-dir "$work/wasm-cache") ;;
    *) die "unknown proxy '$name'" ;;
  esac
}
skip() {  # $1 proxy name: true when it cannot run here
  [[ $1 == wasmgate* && $have_wasmgate == 0 ]] && return 0
  [[ $1 == nginx-lua && $have_lua == 0 ]] && return 0
  is_sdk_run "$1" && [[ -z ${HAVE_SDK[${1#wasmgate-}]:-} ]] && return 0
  return 1
}
filtered() {  # $1 proxy name: true for the runs with the header-adding filter (or plugin)
  [[ $1 == nginx-lua ]] || is_sdk_run "$1" || is_lua_run "$1"
}
base_of() {  # $1 filtered proxy: the same proxy without the filter
  if [[ $1 == nginx-lua ]]; then echo nginx; else echo wasmgate; fi
}

# The filter works: the upstream saw x-chain: A and the client got x-chain-resp: A.
chain_check() {  # $1 port, $2 name
  timeout 30 python3 - "$1" <<'PY' || { tail -20 "$work/$2.log" >&2 || true; die "$2: the filter did not add its headers"; }
import sys, urllib.request
r = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/__chain", timeout=20)
body, resp = r.read().decode().strip(), r.headers.get_all("x-chain-resp")
if body != "A" or resp != ["A"]:
    sys.exit(f"upstream saw x-chain {body!r}, client got x-chain-resp {resp!r}; want 'A' and ['A']")
PY
}

# Compile every filter once, natively, into the cache the runs share: the
# callgrind traces then load compiled code (as the wall-clock runs do) instead
# of compiling in one trace and not in the other. (A cache written natively
# loads under valgrind.)
warm_wasm_cache() {
  local n pid
  for n in $wall_list $cg_list; do
    if is_sdk_run "$n" && ! skip "$n"; then
      start_bg wasm-cache "$bin" start -c "$work/wasmgate.yaml" --workers 1 --access-log off --admin-listen off \
        --proxy-listen "127.0.0.1:$PX" --log-level warn --filters-dir "$work/filters/all" --wasm-cache-dir "$work/wasm-cache"
      pid=$LAST_PID
      wait_ready "$PX" "$pid" wasm-cache 180
      stop "$pid"
      return 0
    fi
  done
}
warm_wasm_cache

# --- wall clock
cpu_ticks() {  # user+system clock ticks of $1 and its children (the nginx worker)
  local p t=0 v
  for p in $1 $(pgrep -P "$1" || true); do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    t=$(( t + v ))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)
to_ms() {  # wrk latency (850.00us, 1.23ms, 1.02s) to milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
    printf "%.2f", n }'
}
cpu_line_busy() {  # $1 cpu number: "busy total" ticks so far
  awk -v c="cpu$1" '$1 == c {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat
}
busy_pct() {  # $1 $2: cpu_line_busy before and after
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]
    printf "%d", (d > 0 ? 100 * (y[1] - x[1]) / d : 0) }'
}
wall_run() {  # $1 proxy, $2 round: one warm-up and one measured wrk run
  local name=$1 k="$1/$2" pid a0 a1 c0 c1 t0 t1 l0 l1 f="$work/wrk.$1.$2"
  proxy_cmd "$name" "$PX"
  client_extra "$name"
  start_bg "$name" "${in_quota[@]}" "${on_proxy_cpu[@]}" "${CMD[@]}"
  pid=$LAST_PID
  wait_ready "$PX" "$pid" "$name" 30
  if filtered "$name"; then chain_check "$PX" "$name"; fi
  if is_plugin_run "$name"; then plugin_check "$PX" "$name" "$name"; fi
  timeout $(( warmup + 30 )) "${on_load_cpu[@]}" wrk -t"$threads" -c"$conns" -d"${warmup}s" \
    "${WRK_EXTRA[@]+"${WRK_EXTRA[@]}"}" "$(scheme_of "$name")://127.0.0.1:$PX/" >/dev/null
  a0=$(upstream_accepts)
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N); l0=$(cpu_line_busy "${load_cpu:-0}")
  timeout $(( duration + 60 )) "${on_load_cpu[@]}" wrk -t"$threads" -c"$conns" -d"${duration}s" --latency \
    "${WRK_EXTRA[@]+"${WRK_EXTRA[@]}"}" "$(scheme_of "$name")://127.0.0.1:$PX/" >"$f"
  c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N); l1=$(cpu_line_busy "${load_cpu:-0}")
  a1=$(upstream_accepts)
  stop "$pid"
  RPS[$k]=$(awk '/^Requests\/sec/ {print $2}' "$f")
  [[ -n ${RPS[$k]} ]] || { cat "$f" >&2; die "no result from wrk for $name"; }
  P99[$k]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
  UPC[$k]=$(( a1 - a0 - 1 ))   # less our own stub_status connection
  PCPU[$k]=$(awk -v c=$(( c1 - c0 )) -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d", 100 * c / hz / (t1 - t0) }')
  LCPU[$k]=$(busy_pct "$l0" "$l1")
  # requests per second of proxy CPU time: less sensitive to other load than
  # req/s (from the clock ticks, not the rounded percentage)
  RPC[$k]=$(awk -v r="${RPS[$k]}" -v c=$(( c1 - c0 )) -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    'BEGIN { if (c > 0) printf "%d", r * (t1 - t0) * hz / c; else print "-" }')
  ERRS[$k]=$(grep -E 'Non-2xx|Socket errors' "$f" | tr -s ' ' | paste -sd ';' - || true)
}
# Rounds go nginx, haproxy, wasmgate, ..., nginx, haproxy, ... so that a burst
# of other load on the machine hits one round of each rather than one proxy;
# each proxy's best round is reported, with the range over the rounds.
declare -A RPS P99 UPC ERRS PCPU LCPU RPC BEST RANGE
for (( round = 1; round <= rounds; round++ )); do
  for name in $wall_list; do
    skip "$name" || wall_run "$name" "$round"
  done
done
for name in $wall_list; do
  skip "$name" && continue
  best=1 lo=${RPS[$name/1]} hi=${RPS[$name/1]}
  for (( round = 2; round <= rounds; round++ )); do
    r=${RPS[$name/$round]}
    awk -v a="$r" -v b="${RPS[$name/$best]}" 'BEGIN { exit !(a > b) }' && best=$round
    awk -v a="$r" -v b="$lo" 'BEGIN { exit !(a < b) }' && lo=$r
    awk -v a="$r" -v b="$hi" 'BEGIN { exit !(a > b) }' && hi=$r
  done
  BEST[$name]="$name/$best"
  RANGE[$name]=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.0f-%.0f", a, b }')
done

# --- callgrind: instructions per proxied request
cg_trace() {  # $1 proxy, $2 requests measured; sets CG_TOTAL to the instructions
  local name=$1 n=$2 f="$work/callgrind.out.$1.$2"
  proxy_cmd "$name" "$CG" cg
  client_extra "$name"
  start_bg "cg-$name-$n" "${on_proxy_cpu[@]}" valgrind --tool=callgrind --callgrind-out-file="$f" "${CMD[@]}"
  local pid=$LAST_PID
  wait_ready "$CG" "$pid" "cg-$name-$n" "${BENCH_CG_START:-300}"  # start-up, and one request
  if filtered "$name"; then chain_check "$CG" "cg-$name-$n"; fi
  if is_plugin_run "$name"; then plugin_check "$CG" "$name" "cg-$name-$n"; fi
  timeout 300 python3 "$nreq" "$CG" 200 --expect-len $body_len "${NREQ_EXTRA[@]+"${NREQ_EXTRA[@]}"}"  # warm-up
  timeout 300 python3 "$nreq" "$CG" "$n" --expect-len $body_len "${NREQ_EXTRA[@]+"${NREQ_EXTRA[@]}"}"
  stop "$pid" 60
  [[ -s $f ]] || die "callgrind wrote no profile for $name (see $work/cg-$name-$n.log)"
  if [[ -n ${BENCH_CG_KEEP:-} ]]; then
    mkdir -p "$BENCH_CG_KEEP"; cp "$f" "$BENCH_CG_KEEP/"
    # the compiled filters, for naming the profile's Wasm code (bench/wasm_names.py)
    if is_sdk_run "$name" && [[ -d $work/wasm-cache ]]; then
      cp "$work/filters/${name#wasmgate-}/"*.wasm "$work/wasm-cache/"*.cwasm "$BENCH_CG_KEEP/" 2>/dev/null || true
    fi
  fi
  CG_TOTAL=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
  [[ $CG_TOTAL =~ ^[0-9]+$ ]] || die "no instruction total in the $name profile"
}
declare -A IPR
for name in $cg_list; do
  skip "$name" && continue
  # A cache compiled natively may not fit the CPU valgrind presents (its
  # CPUID differs): then the first trace would compile the filter and the
  # second load it. One throwaway trace fills the cache under valgrind.
  if is_sdk_run "$name"; then cg_trace "$name" 1; fi
  cg_trace "$name" "$n1"; i1=$CG_TOTAL
  cg_trace "$name" "$n2"; i2=$CG_TOTAL
  IPR[$name]=$(( (i2 - i1) / (n2 - n1) ))
done

# --- syscalls per proxied request: strace -c -f attached to the warmed-up
# proxy (every thread, and nginx's worker) for a fixed number of keep-alive
# requests on one connection; the counts divided by that number
sc_list=${BENCH_SYSCALLS-nginx haproxy wasmgate}
sc_n=${BENCH_SYSCALL_N:-2000}
[[ $sc_n =~ ^[1-9][0-9]*$ ]] || die "BENCH_SYSCALL_N must be a whole number"
declare -A SC_TOTAL=() SC_TOP=()  # "=()": empty but set, for ${#SC_TOTAL[@]} under set -u
sc_trace() {  # $1 proxy: sets SC_TOTAL[$1] and SC_TOP[$1] (the busiest syscalls, per request)
  local name=$1 f="$work/strace.$1"
  proxy_cmd "$name" "$PX"
  client_extra "$name"
  start_bg "sc-$name" "${on_proxy_cpu[@]}" "${CMD[@]}"
  local pid=$LAST_PID
  wait_ready "$PX" "$pid" "sc-$name" 60
  if filtered "$name"; then chain_check "$PX" "sc-$name"; fi
  timeout 120 python3 "$nreq" "$PX" 200 --expect-len $body_len "${NREQ_EXTRA[@]+"${NREQ_EXTRA[@]}"}"  # warm-up
  local targets=(-p "$pid") child
  for child in $(pgrep -P "$pid" || true); do targets+=(-p "$child"); done  # nginx's worker
  strace -c -f -o "$f" "${targets[@]}" 2>/dev/null &
  local st=$!
  sleep 1  # attached to every thread
  timeout 300 python3 "$nreq" "$PX" "$sc_n" --expect-len $body_len "${NREQ_EXTRA[@]+"${NREQ_EXTRA[@]}"}"
  kill -INT "$st"; wait "$st" || true
  stop "$pid" 10
  [[ -s $f ]] || die "strace wrote no summary for $name"
  # Rows: % time, seconds, usecs/call, calls, [errors], syscall.
  SC_TOTAL[$name]=$(awk -v n="$sc_n" '$1 ~ /^[0-9.]+$/ && $NF != "total" && NF >= 5 { c += $4 }
    END { printf "%.1f", c / n }' "$f")
  SC_TOP[$name]=$(awk -v n="$sc_n" '$1 ~ /^[0-9.]+$/ && $NF != "total" && NF >= 5 && $4 / n >= 0.05 {
    printf "%s %.2f\n", $NF, $4 / n }' "$f" | sort -k2,2nr | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
}
for name in $sc_list; do
  skip "$name" && continue
  sc_trace "$name"
done

# --- memory per idle keep-alive client connection (bench/idle_rss.py)
idle_list=${BENCH_IDLE-wasmgate nginx}
idle_n=${BENCH_IDLE_CONNS:-2000}
[[ $idle_n =~ ^[1-9][0-9]*$ ]] || die "BENCH_IDLE_CONNS must be a whole number"
declare -A IDLE=()
for name in $idle_list; do
  case $name in
    wasmgate) [[ $have_wasmgate == 1 ]] || continue; flag=() ;;
    nginx) flag=(--nginx) ;;
    *) die "BENCH_IDLE: unknown proxy '$name' (wasmgate, nginx)" ;;
  esac
  IDLE[$name]=$(timeout 600 python3 "$root/bench/idle_rss.py" "$bin" "$idle_n" --upstream "$UP" "${flag[@]+"${flag[@]}"}" 2>&1 |
    tail -1)
done

# --- Admin API write -> live on the proxy, 10 and 10,000 routes (bench/api_write_latency.py)
api_out=""
if [[ ${BENCH_API_WRITE:-1} == 1 && $have_wasmgate == 1 ]]; then
  api_out=$(timeout 900 python3 "$root/bench/api_write_latency.py" "$bin" "${BENCH_API_WRITES:-20}" 2>&1 | tail -4)
fi

busy_after=$(cpu_busy)

# --- router micro-benchmark
router_out=""
if [[ $router == 1 && $have_wasmgate == 1 ]]; then
  if timeout 600 cmake -S "$root" -B "$build_dir" -G Ninja -DWASMGATE_BENCH=ON -DWASMGATE_TESTS=OFF >"$work/router-build.log" 2>&1 &&
     timeout 600 cmake --build "$build_dir" --target router_bench >>"$work/router-build.log" 2>&1; then
    router_out=$(timeout 120 "${on_proxy_cpu[@]}" "$build_dir/router_bench" --benchmark_min_time=0.3 2>/dev/null |
      grep '^BM_' || true)
  else
    router_out="(router_bench did not build: $(tail -3 "$work/router-build.log" | tr '\n' ' '))"
  fi
fi

# --- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
{
  echo "wasmgate benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n), $ncpu CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
  echo "$(nginx -v 2>&1 | sed 's|.*nginx/|nginx |'), $(haproxy -v | awk 'NR == 1 {print "HAProxy " $3}'), $( (wrk -v 2>&1 || true) | awk 'NR == 1 {print $1 " " $2}'), $(valgrind --version)$( [[ $have_wasmgate == 1 ]] && echo ", $wg_version")"
  echo "placement: $placement; nginx upstream keepalive $ngx_keepalive; all CPUs busy before the run ${busy_before}%, after ${busy_after}%"
  [[ -z $quota_note ]] || echo "NOTE: $quota_note"
  if (( busy_before > 15 )); then
    echo "WARNING: the machine was ${busy_before}% busy before the run: wall-clock numbers are unreliable"
  fi
  echo
  if [[ -n $wall_list ]]; then
  echo "wall clock: wrk -t$threads -c$conns -d${duration}s --latency after a ${warmup}s warm-up, 12-byte body; best of $rounds interleaved rounds"
  echo "(proxy CPU: share of one CPU the proxy used; load CPU: how busy the upstream+wrk CPU was;"
  echo " req/CPU-s: req/s per proxy CPU-second; upstr conns: upstream connections opened during the run)"
  printf '%-18s %9s %13s %7s %6s %6s %6s %9s %6s %6s\n' proxy req/s "range" "p99 ms" "vs ngx" "proxy" "load" "req/CPU-s" "vs ngx" "upstr"
  printf '%-18s %9s %13s %7s %6s %6s %6s %9s %6s %6s\n' "" "" "" "" "" CPU CPU "" "" conns
  nb=${BEST[nginx]:-none}   # (an empty key is an error in bash)
  for name in $wall_list; do
    [[ -n ${BEST[$name]:-} ]] || continue
    k=${BEST[$name]}
    printf '%-18s %9.0f %13s %7s %6s %5s%% %5s%% %9s %6s %6s\n' "$name" "${RPS[$k]}" "${RANGE[$name]}" "${P99[$k]}" \
      "$(ratio "${RPS[$k]}" "${RPS[$nb]:-}")" "${PCPU[$k]}" "${LCPU[$k]}" "${RPC[$k]}" \
      "$(ratio "${RPC[$k]}" "${RPC[$nb]:-}")" "${UPC[$k]}"
    for (( round = 1; round <= rounds; round++ )); do
      r="$name/$round"
      if [[ -n ${ERRS[$r]} ]]; then echo "  WARNING $name, round $round: ${ERRS[$r]}"; fi
      if (( UPC[$r] > 4 * conns )); then
        echo "  WARNING $name opened ${UPC[$r]} upstream connections in round $round: no upstream keep-alive?"
      fi
    done
  done
  fi
  if [[ -n ${BEST[wasmgate-10k]:-} && -n ${BEST[wasmgate]:-} ]]; then
    echo "wasmgate with 10,000 routes vs 1 route: req/s $(ratio "${RPS[${BEST[wasmgate-10k]}]}" "${RPS[${BEST[wasmgate]}]}"), req/CPU-s $(ratio "${RPC[${BEST[wasmgate-10k]}]}" "${RPC[${BEST[wasmgate]}]}")"
  fi
  if [[ -n $cg_list ]]; then
  echo
  echo "callgrind: instructions per proxied request = (I($n2) - I($n1)) / $(( n2 - n1 )), one keep-alive connection"
  printf '%-18s %14s %9s\n' proxy instr/request "vs nginx"
  for name in $cg_list; do
    [[ -n ${IPR[$name]:-} ]] || continue
    printf '%-18s %14s %9s\n' "$name" "${IPR[$name]}" "$(ratio "${IPR[$name]}" "${IPR[nginx]:-}")"
  done
  echo "reference (issue, this machine): nginx 1.22 ~19,600, HAProxy 2.6 ~30,200"
  if [[ -n ${IPR[nginx]:-} ]] && (( IPR[nginx] < 17600 || IPR[nginx] > 21600 )); then
    echo "WARNING: nginx is ${IPR[nginx]} instructions/request, more than 10% off the reference 19,600: check the rig"
  fi
  fi
  wasm_runs=()
  for name in $wall_list $cg_list; do
    if filtered "$name" && ! skip "$name" && [[ " ${wasm_runs[*]-} " != *" $name "* ]]; then wasm_runs+=("$name"); fi
  done
  if (( ${#wasm_runs[@]} > 0 || ${#wasm_notes[@]} > 0 )); then
    echo
    echo "Wasm filters: one header-adding filter on the route (request header x-chain, response header"
    echo "x-chain-resp) vs the same proxy without it. wasmgate-<sdk>: the SDK's minimal filter"
    echo "(bench_<sdk>.wasm, the two headers only); wasmgate-conf-<sdk>: its conformance filter"
    echo "(conf_<sdk>.wasm: also reads x-test, increments a counter)."
    echo "nginx-lua: access_by_lua_block set_header + header_filter_by_lua_block, vs nginx."
    echo "wasmgate-lua: a Kong-style Lua plugin doing the same (access + header_filter), vs wasmgate;"
    echo "wasmgate-native: request-transformer + response-transformer adding the two headers."
    echo "(extra: instructions/request more than the proxy without the filter; req/s and req/CPU-s: ratio to it)"
    printf '%-18s %11s %7s %9s %7s %9s %7s  %s\n' run instr/req extra req/s "ratio" req/CPU-s "ratio" "target (extra <= 3000, req/s >= 0.95)"
    for name in "${wasm_runs[@]}"; do
      b=$(base_of "$name") i="${IPR[$name]:-}" ib="${IPR[$b]:-}" extra=- r=- rr=- rps=- rpc=- verdict=""
      [[ -n $i && -n $ib ]] && extra=$(( i - ib ))
      if [[ -n ${BEST[$name]:-} ]]; then
        k=${BEST[$name]}; rps=$(printf '%.0f' "${RPS[$k]}"); rpc=${RPC[$k]}
        if [[ -n ${BEST[$b]:-} ]]; then
          r=$(ratio "${RPS[$k]}" "${RPS[${BEST[$b]}]}"); rr=$(ratio "${RPC[$k]}" "${RPC[${BEST[$b]}]}")
        fi
      fi
      if [[ $name == wasmgate-lua ]]; then
        # the issue's bar: no more than nginx + Lua's handlers for the same work
        ngx_extra=-
        [[ -n ${IPR[nginx-lua]:-} && -n ${IPR[nginx]:-} ]] && ngx_extra=$(( IPR[nginx-lua] - IPR[nginx] ))
        if [[ $extra != - && $ngx_extra != - ]]; then
          if (( extra <= ngx_extra )); then verdict="target (extra <= nginx-lua's $ngx_extra) met"
          else verdict="target (extra <= nginx-lua's $ngx_extra) MISSED"; fi
        fi
      elif [[ $name == wasmgate-native ]]; then
        verdict="(two native plugins; no target)"
      elif [[ $name != nginx-lua ]]; then
        [[ $extra != - ]] && { if (( extra <= 3000 )); then verdict="instr met"; else verdict="instr MISSED"; fi; }
        if [[ $r != - ]]; then
          if awk -v r="$r" 'BEGIN { exit !(r >= 0.95) }'; then verdict+="${verdict:+, }req/s met"; else verdict+="${verdict:+, }req/s missed"; fi
          # A 5% target means nothing when the rounds of one proxy differ by more.
          spread=$(awk -v a="${RANGE[$name]}" -v b="${RANGE[$b]}" 'BEGIN { split(a, x, "-"); split(b, y, "-")
            s = (x[2] > 0 ? 1 - x[1] / x[2] : 0); t = (y[2] > 0 ? 1 - y[1] / y[2] : 0); printf "%d", 100 * (s > t ? s : t) }')
          (( spread > 10 )) && verdict+=" (noise: rounds ${spread}% apart)"
        fi
      else
        verdict="(reference: ~6,000 and ~6% in the issue)"
      fi
      printf '%-18s %11s %7s %9s %7s %9s %7s  %s\n' "$name" "${i:--}" "$extra" "$rps" "$r" "$rpc" "$rr" "$verdict"
    done
    for n in "${wasm_notes[@]+"${wasm_notes[@]}"}"; do echo "NOTE: $n"; done
    echo "(req/s ratios move by 10-30% with other load on this machine; the instruction figures are the stable ones)"
  fi
  plugin_list=()
  for name in $plugin_runs; do
    if [[ " $wall_list $cg_list " == *" $name "* ]] && ! skip "$name"; then plugin_list+=("$name"); fi
  done
  if (( ${#plugin_list[@]} > 0 )); then
    echo
    echo "Kong's plugin cases vs wasmgate without plugins (extra: instructions/request more than it;"
    echo "cost: extra / its instructions; req/s and req/CPU-s: ratio to it). rl: rate-limiting local;"
    echo "ka-rl: key-auth + rate-limiting by consumer, 1 consumer; ka-rl-10k: 10,000 consumers, keys"
    echo "in turn; prom: prometheus, Kong's default config; prom-all: every switch on."
    printf '%-20s %10s %7s %6s %9s %6s %9s %6s  %s\n' run instr/req extra cost req/s ratio req/CPU-s ratio "target (cost, 1 - ratio)"
    ib=${IPR[wasmgate]:-}
    for name in "${plugin_list[@]}"; do
      i=${IPR[$name]:-} extra=- cost=- rps=- r=- rpc=- rr=- target=- verdict=""
      case $name in
        wasmgate-rl) target=5 ;; wasmgate-ka-rl*) target=10 ;; wasmgate-prom) target=3 ;;
      esac
      if [[ -n $i && -n $ib ]]; then
        extra=$(( i - ib ))
        cost=$(awk -v e="$extra" -v b="$ib" 'BEGIN { printf "%.1f%%", 100 * e / b }')
        [[ $target != - ]] && { if awk -v e="$extra" -v b="$ib" -v t="$target" 'BEGIN { exit !(100 * e <= t * b) }'
          then verdict="instr met"; else verdict="instr MISSED"; fi; }
      fi
      if [[ -n ${BEST[$name]:-} ]]; then
        k=${BEST[$name]}; rps=$(printf '%.0f' "${RPS[$k]}"); rpc=${RPC[$k]}
        if [[ -n ${BEST[wasmgate]:-} ]]; then
          r=$(ratio "${RPS[$k]}" "${RPS[${BEST[wasmgate]}]}"); rr=$(ratio "${RPC[$k]}" "${RPC[${BEST[wasmgate]}]}")
          if [[ $target != - ]]; then
            if awk -v r="$r" -v t="$target" 'BEGIN { exit !(r >= 1 - t / 100) }'; then verdict+="${verdict:+, }req/s met"
            else verdict+="${verdict:+, }req/s missed"; fi
          fi
        fi
      fi
      [[ $target == - ]] && verdict="(no target)" || verdict="$target%: $verdict"
      printf '%-20s %10s %7s %6s %9s %6s %9s %6s  %s\n' "$name" "${i:--}" "$extra" "$cost" "$rps" "$r" "$rpc" "$rr" "$verdict"
    done
    echo "(Kong 3.10, its published figures: rate-limiting -12% req/s, key-auth + rate-limiting -24%)"
  fi
  tls_shown=()
  for name in $tls_runs; do
    [[ -n ${BEST[$name]:-} || -n ${IPR[$name]:-} ]] && tls_shown+=("$name")
  done
  if (( ${#tls_shown[@]} > 0 )); then
    echo
    echo "TLS (issue 14): one ECDSA P-256 certificate, TLS 1.3 (what wrk and the proxies agree on), plain upstream."
    echo "<proxy>-tls: HTTPS keep-alive; <proxy>-tlsnew: Connection: close, a full handshake per request"
    echo "(wrk resumes no session). vs ngx: ratio to nginx's run of the same kind. Target: >= nginx's req/CPU-s."
    printf '%-18s %9s %6s %9s %6s %11s %6s  %s\n' run req/s "vs ngx" req/CPU-s "vs ngx" instr/req "vs ngx" verdict
    for name in "${tls_shown[@]}"; do
      ref=nginx-${name#*-} rps=- r=- rpc=- rr=- i=${IPR[$name]:--} ri=- verdict=""
      if [[ -n ${BEST[$name]:-} ]]; then
        k=${BEST[$name]}; rps=$(printf '%.0f' "${RPS[$k]}"); rpc=${RPC[$k]}
        if [[ -n ${BEST[$ref]:-} ]]; then
          r=$(ratio "${RPS[$k]}" "${RPS[${BEST[$ref]}]}"); rr=$(ratio "${RPC[$k]}" "${RPC[${BEST[$ref]}]}")
        fi
      fi
      [[ $i != - ]] && ri=$(ratio "$i" "${IPR[$ref]:-}")
      if [[ $name == wasmgate-* && $rr != - ]]; then
        if awk -v r="$rr" 'BEGIN { exit !(r >= 1) }'; then verdict="req/CPU-s met"; else verdict="req/CPU-s missed"; fi
      fi
      printf '%-18s %9s %6s %9s %6s %11s %6s  %s\n' "$name" "$rps" "$r" "$rpc" "$rr" "$i" "$ri" "$verdict"
    done
  fi
  if (( ${#SC_TOTAL[@]} > 0 )); then
    echo
    echo "syscalls per proxied request: strace -c -f over $sc_n keep-alive requests on one connection"
    echo "(all threads; the busiest syscalls, each at least 0.05 per request)"
    for name in $sc_list; do
      [[ -n ${SC_TOTAL[$name]:-} ]] || continue
      printf '%-18s %6s  %s\n' "$name" "${SC_TOTAL[$name]}" "${SC_TOP[$name]}"
    done
  fi
  if (( ${#IDLE[@]} > 0 )); then
    echo
    echo "memory per idle keep-alive client connection (bench/idle_rss.py, $idle_n connections, one worker):"
    for name in $idle_list; do
      [[ -n ${IDLE[$name]:-} ]] && echo "  ${IDLE[$name]}"
    done
  fi
  if [[ -n $api_out ]]; then
    echo
    echo "$api_out"
  fi
  if [[ -n $router_out ]]; then
    echo
    echo "router match (Google Benchmark, ns per match):"
    echo "$router_out"
  fi
} | tee "$out"
