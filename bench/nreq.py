#!/usr/bin/env python3
"""Sends N GET requests over one keep-alive connection and reads each reply.

Used to drive a proxy under callgrind for a fixed number of requests:
`nreq.py PORT N [PATH]`. Exits non-zero on any non-200 answer.
"""
import socket
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
path = sys.argv[3] if len(sys.argv) > 3 else "/"
req = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
s = socket.create_connection(("127.0.0.1", port))
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1")
            if not head.startswith("HTTP/1.1 200"):
                sys.exit(f"unexpected reply: {head.splitlines()[0]}")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(buf) >= end + 4 + length:
                buf = buf[end + 4 + length:]
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
