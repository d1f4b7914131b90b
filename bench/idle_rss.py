#!/usr/bin/env python3
"""RSS per idle keep-alive client connection of a wasmgate binary.

    idle_rss.py WASMGATE_BIN [N]

Starts the demo gateway (its echo upstream on 127.0.0.1:8002) and, beside
it, the measured gateway (one worker, one route to that upstream) on a free
port; opens N client connections (default 2,000), sends one request on
each and leaves it open; reports the measured gateway's RSS growth per
connection. Loopback only; raise `ulimit -n` above N first.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time


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
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
    while len(rest) < length:
        rest += s.recv(65536)


def main():
    binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    demo_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "kong.yaml")
        with open(cfg, "w") as f:
            f.write('_format_version: "3.0"\nservices:\n  - name: s\n    url: http://127.0.0.1:8002\n'
                    '    routes:\n      - name: r\n        paths: ["/"]\n')
        demo = subprocess.Popen([binary, "start", "--admin-listen", "off", "--access-log", "off",
                                 "--proxy-listen", f"127.0.0.1:{demo_port}"], stderr=subprocess.DEVNULL)
        gw = subprocess.Popen([binary, "start", "-c", cfg, "--proxy-listen", f"127.0.0.1:{port}", "--admin-listen",
                               "off", "--access-log", "off", "--workers", "1"], stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            warm = socket.create_connection(("127.0.0.1", port))
            for _ in range(50):
                one_request(warm)
            time.sleep(0.5)
            before = rss_kib(gw.pid)
            conns = []
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", port))
                one_request(s)
                conns.append(s)
            time.sleep(1)
            after = rss_kib(gw.pid)
            print(f"{n} idle keep-alive connections: RSS {before} -> {after} KiB, {(after - before) / n:.2f} KiB each")
            for s in conns:
                s.close()
        finally:
            gw.terminate()
            demo.terminate()
            gw.wait()
            demo.wait()


if __name__ == "__main__":
    main()
