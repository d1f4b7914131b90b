#!/usr/bin/env python3
"""Sends exactly N GET requests, one at a time, over keep-alive and reads each reply.

Used to drive a proxy under callgrind for a fixed number of requests:

    nreq.py PORT N [PATH] [--headers wrk|browser] [--expect-len BYTES]
            [--header 'NAME: VALUE']... [--rotate K] [--tls]

The request is the one wrk sends (`GET / HTTP/1.1` + `Host: 127.0.0.1:PORT`), so the
instruction counts match the wall-clock runs. `--headers browser` adds the four
headers a typical HTTP library sends (User-Agent, Accept, Accept-Encoding,
Connection), for checking how much header count matters. `--header` adds one
header line (repeatable; the plugin runs send an API key); with `--rotate K`
each `{i}` in those lines becomes 1, 2, .. K, 1, .. in turn, one per request.
`--tls` speaks HTTPS (no certificate check: the bench's certificate is
self-signed), the same one request at a time over one connection.

If the server closes the connection (e.g. `Connection: close` after
keepalive_requests), it reconnects and goes on, and reports how many
connections it used on stderr when there was more than one. Exits non-zero on
any non-200 answer or a body of another length than --expect-len.
"""
import socket
import ssl
import sys


def main() -> int:
    args = sys.argv[1:]
    headers = "wrk"
    expect = None
    if "--headers" in args:
        i = args.index("--headers")
        headers = args[i + 1]
        del args[i : i + 2]
    extra = []
    while "--header" in args:
        i = args.index("--header")
        extra.append(args[i + 1])
        del args[i : i + 2]
    tls = None
    if "--tls" in args:
        args.remove("--tls")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    rotate = 1
    if "--rotate" in args:
        i = args.index("--rotate")
        rotate = int(args[i + 1])
        del args[i : i + 2]
    if "--expect-len" in args:
        i = args.index("--expect-len")
        expect = int(args[i + 1])
        del args[i : i + 2]
    port, n = int(args[0]), int(args[1])
    path = args[2] if len(args) > 2 else "/"

    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if headers == "browser":
        head += ("User-Agent: python-requests/2.31.0\r\nAccept-Encoding: gzip, deflate\r\n"
                 "Accept: */*\r\nConnection: keep-alive\r\n")
    # One request per key, built before the first is sent.
    reqs = [(head + "".join(line.replace("{i}", str(k)) + "\r\n" for line in extra) + "\r\n").encode()
            for k in range(1, rotate + 1)]

    conns = 0
    s = None
    buf = b""
    done = 0
    while done < n:
        if s is None:
            s = socket.create_connection(("127.0.0.1", port), timeout=120)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                s = tls.wrap_socket(s, server_hostname="bench.local")
            conns += 1
            buf = b""
        s.sendall(reqs[done % rotate])
        closing = False
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                lines = buf[:end].decode("latin-1").split("\r\n")
                if not lines[0].startswith("HTTP/1.1 200"):
                    print(f"nreq: unexpected reply: {lines[0]}", file=sys.stderr)
                    return 1
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and value.strip().lower() == "close":
                        closing = True
                if len(buf) >= end + 4 + length:
                    if expect is not None and length != expect:
                        body = buf[end + 4 : end + 4 + length]
                        print(f"nreq: unexpected body: {body[:200]!r}", file=sys.stderr)
                        return 1
                    buf = buf[end + 4 + length :]
                    break
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                print(f"nreq: connection closed after {done} requests", file=sys.stderr)
                return 1
            buf += chunk
        done += 1
        if closing:
            s.close()
            s = None
    if s is not None:
        s.close()
    if conns > 1:
        print(f"nreq: {n} requests over {conns} connections", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
