#!/usr/bin/env python3
"""Time from an Admin API write to the change answering on the proxy, in
database mode, next to 10 and 10,000 routes; and the gateway's RSS with
each (the difference is the 10,000-route snapshot plus the store's copy).

    api_write_latency.py WASMGATE_BIN [WRITES]

For each size: a fresh SQLite store seeded from a config of N routes (one
service to a local upstream), one worker; then WRITES times (default 20):
POST a route with a new path and poll the proxy on it every millisecond
until it answers 200. Prints the median and worst time, from sending the
write to the first 200, and the write's own answer time; and the CPU time
the gateway spent per write (all its threads: the admin thread's checks
and commit, the publisher's rebuild, the worker adopting the snapshot),
which a busy machine does not inflate as it does the wall-clock times.
Loopback only.
"""
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    """User + system CPU time of the whole process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def proxy_status(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head = s.recv(64)
        return int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0
    finally:
        s.close()


def measure(binary, routes, writes, up_port, work):
    cfg = {"_format_version": "3.0", "services": [{
        "name": "s", "url": f"http://127.0.0.1:{up_port}",
        "routes": [{"name": f"r{i}", "paths": [f"/r/{i}"]} for i in range(routes)]}]}
    path = os.path.join(work, f"seed-{routes}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    proxy, admin = free_port(), free_port()
    proc = subprocess.Popen([binary, "start", "-c", path, "--database", f"sqlite:{work}/store-{routes}.db",
                             "--proxy-listen", f"127.0.0.1:{proxy}", "--admin-listen", f"127.0.0.1:{admin}",
                             "--workers", "1", "--access-log", "off", "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if proxy_status(proxy, "/r/0") == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit(f"{routes} routes: the gateway did not come up")
        time.sleep(0.5)
        rss = rss_kib(proc.pid)
        live, answered = [], []
        cpu_before = cpu_seconds(proc.pid)
        for w in range(writes):
            body = json.dumps({"name": f"new-{w}", "paths": [f"/new/{w}"]}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{admin}/services/s/routes", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            t0 = time.monotonic()
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 201
            answered.append(time.monotonic() - t0)
            while proxy_status(proxy, f"/new/{w}") != 200:
                time.sleep(0.001)
            live.append(time.monotonic() - t0)
            time.sleep(0.3)  # a quiet spell: each write is the first of its burst
        cpu = (cpu_seconds(proc.pid) - cpu_before) / writes
        return rss, live, answered, cpu
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    binary = sys.argv[1]
    writes = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    up_port = server.server_address[1]
    ms = lambda s: f"{s * 1000:.1f} ms"
    with tempfile.TemporaryDirectory() as work:
        results = {n: measure(binary, n, writes, up_port, work) for n in (10, 10000)}
    print("API write -> live on the proxy (database mode, sqlite, 1 worker):")
    for n, (rss, live, answered, cpu) in results.items():
        print(f"  {n:>6} routes: live median {ms(statistics.median(live))}, worst {ms(max(live))}; "
              f"write answered median {ms(statistics.median(answered))}; CPU per write {ms(cpu)}; "
              f"RSS {rss // 1024} MiB")
    print(f"  10,000-route config: +{(results[10000][0] - results[10][0]) // 1024} MiB RSS over 10 routes")
    server.shutdown()


if __name__ == "__main__":
    main()
