#!/usr/bin/env bash
# wasmgate vs nginx vs HAProxy, one worker each, proxying to the same small
# upstream (nginx answering a 12-byte body), keep-alive on both sides, access
# logs off. Reports wrk req/s and p99 with ratios, callgrind instructions per
# proxied request, proxy req/s with 10,000 routes, and the router
# micro-benchmark. Loopback only; bounded in time (about 3 minutes).
#
# CPU placement on this 2-core machine: proxies under test on CPU 0, the
# upstream and wrk on CPU 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${WASMGATE_BIN:-$root/build/wasmgate}
duration=${BENCH_DURATION:-10}
conns=${BENCH_CONNS:-50}
out=$root/bench/last-run.txt
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for tool in wrk nginx haproxy valgrind taskset python3; do
  command -v "$tool" >/dev/null || { echo "bench: missing $tool (run scripts/install-deps.sh --bench)" >&2; exit 1; }
done
[[ -x "$bin" ]] || { echo "bench: $bin not built (make build)" >&2; exit 1; }

UP=19200 NGX=19201 HAP=19202 WG=19203 WG10K=19204 CG=19205
wait_port() {  # $1 port, $2 tries of 50 ms (default 100)
  for _ in $(seq "${2:-100}"); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listening on $1" >&2
  return 1
}

# --- the upstream
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
  server { listen 127.0.0.1:$UP; location / { return 200 "hello world\n"; } }
}
CONF
taskset -c 1 nginx -p "$work/up" -c "$work/up/nginx.conf" & pids+=($!)
wait_port $UP

# --- nginx as the proxy
nginx_proxy_conf() {  # $1 dir, $2 port, $3 extra main directives
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
  upstream u { server 127.0.0.1:$UP; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$2;
    location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
}
nginx_proxy_conf "$work/ngx" $NGX ""
taskset -c 0 nginx -p "$work/ngx" -c "$work/ngx/nginx.conf" & pids+=($!)

# --- HAProxy
cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:$HAP
  default_backend b
backend b
  server s1 127.0.0.1:$UP
CONF
taskset -c 0 haproxy -db -f "$work/haproxy.cfg" & pids+=($!)

# --- wasmgate, one route and 10,000 routes
cat >"$work/wasmgate.yaml" <<CONF
_format_version: "3.0"
services:
  - name: bench
    url: http://127.0.0.1:$UP
    routes:
      - name: bench
        paths: ["/"]
CONF
python3 - "$work/wasmgate-10k.yaml" $UP <<'PY'
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
wg_start() {  # $1 config, $2 port
  taskset -c 0 "$bin" start -c "$1" --workers 1 --access-log off --admin-listen off \
    --proxy-listen 127.0.0.1:"$2" --log-level warn & pids+=($!)
}
wg_start "$work/wasmgate.yaml" $WG
wg_start "$work/wasmgate-10k.yaml" $WG10K
for p in $NGX $HAP $WG $WG10K; do wait_port "$p"; done

# --- wall clock
run_wrk() {  # $1 port, prints "req/s p99"
  taskset -c 1 wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$1/" >/dev/null  # warm-up
  taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" --latency "http://127.0.0.1:$1/" >"$work/wrk.$1"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.$1")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.$1")
  echo "$rps $p99"
}
declare -A RPS P99
for name in nginx haproxy wasmgate wasmgate-10k-routes; do
  case $name in
    nginx) port=$NGX ;; haproxy) port=$HAP ;; wasmgate) port=$WG ;; *) port=$WG10K ;;
  esac
  read -r RPS[$name] P99[$name] < <(run_wrk "$port")
done

# --- callgrind: instructions per request = (I(3000) - I(1000)) / 2000,
# which cancels start-up and shutdown.
cg_run() {  # $1 name, $2 requests; prints total instructions
  local f="$work/cg.$1.$2"
  case $1 in
    wasmgate)
      valgrind --tool=callgrind --callgrind-out-file="$f" "$bin" start -c "$work/wasmgate.yaml" --workers 1 \
        --access-log off --admin-listen off --proxy-listen 127.0.0.1:$CG --log-level warn 2>/dev/null & ;;
    nginx)
      nginx_proxy_conf "$work/ngx-cg" $CG "master_process off;"
      valgrind --tool=callgrind --callgrind-out-file="$f" nginx -p "$work/ngx-cg" -c "$work/ngx-cg/nginx.conf" \
        2>/dev/null & ;;
    haproxy)
      sed "s/127.0.0.1:$HAP/127.0.0.1:$CG/" "$work/haproxy.cfg" >"$work/haproxy-cg.cfg"
      valgrind --tool=callgrind --callgrind-out-file="$f" haproxy -db -f "$work/haproxy-cg.cfg" 2>/dev/null & ;;
  esac
  local vp=$!
  wait_port $CG 600   # valgrind starts slowly
  python3 "$root/bench/nreq.py" $CG 200    # warm-up: connections, caches, lazy init
  python3 "$root/bench/nreq.py" $CG "$2"
  kill -TERM $vp; wait $vp 2>/dev/null || true
  awk '/^summary:/ {print $2}' "$f"
}
declare -A IPR
for name in wasmgate nginx haproxy; do
  i1=$(cg_run $name 1000)
  i2=$(cg_run $name 3000)
  IPR[$name]=$(( (i2 - i1) / 2000 ))
done

# --- router micro-benchmark
router_bench=""
if cmake -S "$root" -B "$root/build-bench" -G Ninja -DWASMGATE_BENCH=ON -DWASMGATE_TESTS=OFF >/dev/null &&
   cmake --build "$root/build-bench" --target router_bench >/dev/null; then
  router_bench=$(taskset -c 0 "$root/build-bench/router_bench" --benchmark_min_time=0.3 2>/dev/null | grep '^BM_')
fi

ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }
{
  echo "wasmgate benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, wrk -t1 -c$conns -d${duration}s"
  echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(haproxy -v | head -1 | awk '{print "HAProxy " $3}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
  echo
  printf '%-22s %12s %10s %12s\n' proxy req/s p99 "vs nginx"
  for name in nginx haproxy wasmgate wasmgate-10k-routes; do
    printf '%-22s %12s %10s %12s\n' "$name" "${RPS[$name]}" "${P99[$name]}" "$(ratio "${RPS[$name]}" "${RPS[nginx]}")"
  done
  echo
  echo "wasmgate with 10,000 routes vs 1 route: $(ratio "${RPS[wasmgate-10k-routes]}" "${RPS[wasmgate]}")"
  echo
  printf '%-22s %14s %12s\n' proxy "instr/request" "vs nginx"
  for name in nginx haproxy wasmgate; do
    printf '%-22s %14s %12s\n' "$name" "${IPR[$name]}" "$(ratio "${IPR[$name]}" "${IPR[nginx]}")"
  done
  echo
  echo "router match (Google Benchmark, ns per match):"
  echo "$router_bench"
} | tee "$out"
