#!/usr/bin/env python3
"""RSS per idle keep-alive client connection of a proxy (wasmgate or nginx).

    idle_rss.py WASMGATE_BIN [N] [--nginx] [--upstream PORT]

Starts the demo gateway (its echo upstream on 127.0.0.1:8002; with
--upstream, an upstream already listening on 127.0.0.1:PORT is used
instead) and, beside it, the measured proxy (one worker, one route to that upstream) on a free
port: wasmgate, or with --nginx nginx as a reverse proxy (bench/run.sh's
shape: one worker, upstream keepalive, no access log, measured in one
process with `master_process off`). Opens N client connections (default
2,000), sends one request on each and leaves it open; reports the measured
proxy's RSS growth per connection. Loopback only.

Descriptors: the script raises its own limit (as root up to
/proc/sys/fs/nr_open when N needs it); wasmgate raises its own at start,
nginx gets `worker_rlimit_nofile`. Past 20,000 connections the clients
bind to several source addresses (127.0.0.2, 127.0.0.3, ...), 20,000 each,
so the ephemeral ports of one address are never exhausted.
"""
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PER_SOURCE = 20000  # client connections per source address


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def one_request(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
    while len(rest) < length:
        rest += s.recv(65536)


def raise_nofile(want):
    """Our descriptor limit to at least `want` (as root past the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    if hard < want:
        with open("/proc/sys/fs/nr_open") as f:
            nr_open = int(f.read())
        lifted = min(max(want, hard), nr_open)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (lifted, lifted))  # needs CAP_SYS_RESOURCE
        except (ValueError, OSError):
            sys.exit(f"idle_rss.py: {want} descriptors needed, the hard limit is {hard} and this process may not "
                     "raise it (root with CAP_SYS_RESOURCE can); the proxy would hit the same limit")
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def start_nginx(d, port, n, upstream):
    """nginx as bench/run.sh runs it, one process (no master) we can measure."""
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile {n + 1000};
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections {n + 1000}; multi_accept on; }}
http {{
  access_log off;
  keepalive_timeout 3600s;
  keepalive_requests 1000000;
  upstream up {{ server 127.0.0.1:{upstream}; keepalive 32; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
    return subprocess.Popen(["nginx", "-p", d, "-c", conf], stderr=subprocess.DEVNULL)


def open_idle(port, n):
    """n connections that each made one request, left open."""
    conns = []
    for i in range(n):
        s = socket.socket()
        if n > PER_SOURCE:
            s.bind((f"127.0.0.{2 + i // PER_SOURCE}", 0))
        s.connect(("127.0.0.1", port))
        one_request(s)
        conns.append(s)
    return conns


def main():
    argv = sys.argv[1:]
    upstream = None
    if "--upstream" in argv:
        i = argv.index("--upstream")
        upstream = int(argv[i + 1])
        del argv[i:i + 2]
    args = [a for a in argv if not a.startswith("--")]
    nginx = "--nginx" in argv
    binary, n = args[0], int(args[1]) if len(args) > 1 else 2000
    raise_nofile(n + 1000)
    if nginx and shutil.which("nginx") is None:
        sys.exit("idle_rss.py: nginx not found")
    demo_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "kong.yaml")
        with open(cfg, "w") as f:
            f.write('_format_version: "3.0"\nservices:\n  - name: s\n'
                    f'    url: http://127.0.0.1:{upstream or 8002}\n'
                    '    routes:\n      - name: r\n        paths: ["/"]\n')
        demo = None
        if upstream is None:
            demo = subprocess.Popen([binary, "start", "--admin-listen", "off", "--access-log", "off",
                                     "--proxy-listen", f"127.0.0.1:{demo_port}"], stderr=subprocess.DEVNULL)
        if nginx:
            proxy = start_nginx(d, port, n, upstream or 8002)
        else:
            # The idle timeout outlasts the time opening N connections takes.
            proxy = subprocess.Popen([binary, "start", "-c", cfg, "--proxy-listen", f"127.0.0.1:{port}",
                                      "--admin-listen", "off", "--access-log", "off", "--workers", "1",
                                      "--keepalive-timeout", "3600000"], stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            warm = socket.create_connection(("127.0.0.1", port))
            for _ in range(50):
                one_request(warm)
            time.sleep(0.5)
            before = rss_kib(proxy.pid)
            t0 = time.time()
            conns = open_idle(port, n)
            took = time.time() - t0
            time.sleep(1)
            after = rss_kib(proxy.pid)
            # Still there and served: the last connections answer again.
            for s in conns[-3:]:
                one_request(s)
            name = "nginx" if nginx else "wasmgate"
            print(f"{name}: {n} idle keep-alive connections: RSS {before} -> {after} KiB, "
                  f"{(after - before) / n:.2f} KiB each (opened in {took:.0f} s)")
            for s in conns:
                s.close()
        finally:
            proxy.terminate()
            proxy.wait()
            if demo is not None:
                demo.terminate()
                demo.wait()


if __name__ == "__main__":
    main()
