"""Shared fixtures and helpers for wasmgate integration tests.

Everything here talks raw bytes over loopback sockets so the tests control
exactly what is on the wire, on both sides of the gateway:

* ``ClientConn``  -- a downstream client: sends raw requests, parses responses.
* ``Upstream``    -- a threaded raw-socket upstream server; a *handler*
  decides what each request gets back (echo JSON by default).
* ``Gateway``     -- a running ``wasmgate start`` subprocess with its config
  file, access log and captured stderr (the error log).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "wasmgate"

HOST = "127.0.0.1"


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wait_until(pred, timeout=5.0, interval=0.02):
    """Polls pred() until it returns a truthy value or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def pattern_bytes(n: int, seed: int = 1) -> bytes:
    """Deterministic, non-repeating-looking content of n bytes."""
    import random

    return random.Random(seed).randbytes(n)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def hget(headers, name):
    """First value of header `name` (case-insensitive) in a list of pairs, or None."""
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def hall(headers, name):
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


# --------------------------------------------------------------------------
# downstream client
# --------------------------------------------------------------------------


class ProtocolError(Exception):
    pass


class Response:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.interim: list["Response"] = []  # 1xx responses seen before this one
        self.complete = True  # False when the connection ended mid-body
        self.raw_len = 0  # bytes on the wire for this response (head + body)
        self.chunked = False
        self.trailers: list[tuple[str, str]] = []  # a chunked body's trailer fields

    def header(self, name):
        return hget(self.headers, name)

    def headers_all(self, name):
        return hall(self.headers, name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} body={self.body[:200]!r}>"


def build_request(method="GET", path="/", headers=None, body=b"", host="test.local",
                  version="HTTP/1.1", chunked=False, content_length=True, trailers=None) -> bytes:
    """Builds raw request bytes. headers, trailers (chunked only): lists of (name, value)."""
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for k, v in headers or []:
        lines.append(f"{k}: {v}")
    if isinstance(body, str):
        body = body.encode()
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = b""
        if body:
            payload += f"{len(body):x}\r\n".encode() + body + b"\r\n"
        payload += b"0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in trailers or []).encode("latin-1") + b"\r\n"
    else:
        if body or (content_length and method in ("POST", "PUT", "PATCH")):
            lines.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class ClientConn:
    """A raw downstream connection to the gateway."""

    def __init__(self, port, timeout=10.0, host=HOST):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    # -- io
    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, n=65536) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(n)
        except ConnectionResetError:
            self.eof = True
            self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _take_line(self) -> bytes | None:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if not self._fill():
                return None

    def _take_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill(max(65536, min(n - len(self.buf), 1 << 20))):
                break
        k = min(n, len(self.buf))
        out = bytes(self.buf[:k])
        del self.buf[:k]
        return out

    # -- responses
    def read_head(self) -> Response | None:
        """Reads one response head; None on EOF before any byte."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if len(self.buf) > 1 << 20:
                raise ProtocolError("response head too large")
            if not self._fill():
                if not self.buf:
                    return None
                raise ProtocolError(f"EOF inside response head: {bytes(self.buf)!r}")
        head = bytes(self.buf[: i + 4])
        del self.buf[: i + 4]
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"^(HTTP/1\.[01]) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise ProtocolError(f"bad status line {lines[0]!r}")
        r = Response()
        r.version = m.group(1).decode()
        r.status = int(m.group(2))
        r.reason = (m.group(3) or b"").decode("latin-1")
        for ln in lines[1:]:
            if b":" not in ln:
                raise ProtocolError(f"bad header line {ln!r}")
            k, v = ln.split(b":", 1)
            if k != k.strip() or not k:
                raise ProtocolError(f"bad header name {k!r}")
            r.headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        r.raw_len = len(head)
        return r

    def read_response(self, method="GET", allow_partial=False) -> Response:
        interim = []
        while True:
            r = self.read_head()
            if r is None:
                raise ProtocolError("connection closed before a response")
            if 100 <= r.status < 200 and r.status != 101:
                interim.append(r)
                continue
            break
        r.interim = interim
        self._read_body(r, method, allow_partial)
        return r

    def _read_body(self, r: Response, method: str, allow_partial: bool):
        if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
            return
        te = r.header("Transfer-Encoding")
        cl = r.headers_all("Content-Length")
        body = bytearray()
        if te is not None:
            if te.strip().lower() != "chunked":
                raise ProtocolError(f"unexpected Transfer-Encoding {te!r}")
            if cl:
                raise ProtocolError("response has both Content-Length and Transfer-Encoding")
            r.chunked = True
            while True:
                line = self._take_line()
                if line is None:
                    r.complete = False
                    break
                r.raw_len += len(line) + 2
                size_s = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size line {line!r}")
                if size == 0:
                    # trailers until empty line
                    while True:
                        t = self._take_line()
                        if t is None:
                            r.complete = False
                            break
                        r.raw_len += len(t) + 2
                        if t == b"":
                            break
                        name, _, value = t.decode("latin-1").partition(":")
                        r.trailers.append((name, value.strip()))
                    break
                data = self._take_exact(size)
                body += data
                r.raw_len += len(data)
                if len(data) < size:
                    r.complete = False
                    break
                crlf = self._take_exact(2)
                r.raw_len += len(crlf)
                if crlf != b"\r\n":
                    if len(crlf) < 2:
                        r.complete = False
                        break
                    raise ProtocolError("missing CRLF after chunk data")
        elif cl:
            if len(set(cl)) != 1:
                raise ProtocolError(f"conflicting Content-Length {cl}")
            n = int(cl[0])
            data = self._take_exact(n)
            body += data
            r.raw_len += len(data)
            if len(data) < n:
                r.complete = False
        else:
            # delimited by close
            while self._fill():
                pass
            body += self.buf
            r.raw_len += len(self.buf)
            self.buf.clear()
        r.body = bytes(body)
        if not r.complete and not allow_partial:
            raise ProtocolError(f"connection closed mid-body after {len(body)} bytes: {r!r}")

    def request(self, method="GET", path="/", headers=None, body=b"", host="test.local",
                **kw) -> Response:
        self.send(build_request(method, path, headers, body, host, **kw))
        return self.read_response(method)

    def wait_closed(self, timeout=3.0) -> bool:
        """True when the peer closes (EOF or RST) within timeout; extra bytes are kept in buf."""
        deadline = time.monotonic() + timeout
        old = self.sock.gettimeout()
        try:
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                try:
                    self._fill()
                except socket.timeout:
                    return False
            return True
        finally:
            self.sock.settimeout(old)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# --------------------------------------------------------------------------
# upstream servers
# --------------------------------------------------------------------------


class UpReq:
    """A request as the upstream received it."""

    def __init__(self):
        self.method = ""
        self.target = ""
        self.version = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""  # kept only when small (<= 1 MiB)
        self.body_len = 0
        self.body_sha256 = sha256(b"")
        self.chunked = False
        self.trailers: list[tuple[str, str]] = []  # a chunked body's trailer fields
        self.peer_port = 0
        self.conn_index = 0
        self.received_at = 0.0

    @property
    def path(self):
        return self.target

    def header(self, name):
        return hget(self.headers, name)

    def headers_all(self, name):
        return hall(self.headers, name)


class UpstreamError(Exception):
    pass


class UpConn:
    """One accepted connection on the upstream side."""

    def __init__(self, upstream: "Upstream", sock: socket.socket, index: int):
        self.up = upstream
        self.sock = sock
        self.index = index
        self.peer_port = sock.getpeername()[1]
        self.buf = bytearray()
        self.eof = False
        self.closed = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(262144)
        except (ConnectionResetError, socket.timeout, OSError):
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        self.up._record_raw(chunk)
        return True

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if not self._fill():
                raise UpstreamError("EOF in line")

    def _exact(self, n, sink):
        while n > 0:
            if not self.buf and not self._fill():
                raise UpstreamError("EOF in body")
            k = min(n, len(self.buf))
            sink(bytes(self.buf[:k]))
            del self.buf[:k]
            n -= k

    def send(self, data: bytes):
        self.sock.sendall(data)

    def read_request(self) -> UpReq | None:
        # head
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if not self._fill():
                if self.buf:
                    raise UpstreamError(f"EOF in head: {bytes(self.buf[:200])!r}")
                return None
        head = bytes(self.buf[: i + 4])
        del self.buf[: i + 4]
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3:
            raise UpstreamError(f"bad request line {lines[0]!r}")
        req = UpReq()
        req.method, req.target, req.version = parts
        for ln in lines[1:]:
            if b":" not in ln or ln[:1] in (b" ", b"\t"):
                raise UpstreamError(f"bad header line {ln!r}")
            k, v = ln.split(b":", 1)
            req.headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        req.peer_port = self.peer_port
        req.conn_index = self.index
        req.received_at = time.monotonic()
        self.up._note_head(req)
        # 100-continue from the upstream side too, as a real server would.
        exp = req.header("Expect")
        if exp and exp.lower() == "100-continue" and self.up.send_continue:
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        h = hashlib.sha256()
        kept = bytearray()
        total = [0]

        def sink(b):
            h.update(b)
            total[0] += len(b)
            if len(kept) <= (1 << 20):
                kept.extend(b)

        te = req.header("Transfer-Encoding")
        cls = req.headers_all("Content-Length")
        if te is not None:
            if cls:
                raise UpstreamError("CL and TE both forwarded")
            if te.lower() != "chunked":
                raise UpstreamError(f"unexpected TE {te}")
            req.chunked = True
            while True:
                line = self._line()
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise UpstreamError(f"bad chunk size {line!r}")
                if size == 0:
                    while (t := self._line()) != b"":
                        name, _, value = t.decode("latin-1").partition(":")
                        req.trailers.append((name, value.strip()))
                    break
                self._exact(size, sink)
                if self._line() != b"":
                    raise UpstreamError("missing CRLF after chunk")
        elif cls:
            if len(set(cls)) != 1:
                raise UpstreamError(f"conflicting CL forwarded: {cls}")
            self._exact(int(cls[0]), sink)
        req.body_len = total[0]
        req.body_sha256 = h.hexdigest()
        req.body = bytes(kept) if total[0] <= (1 << 20) else b""
        return req

    def send_response(self, status=200, headers=None, body=b"", reason=None, chunked=False, trailers=None):
        reason = reason or {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
                            404: "Not Found", 500: "Internal Server Error"}.get(status, "X")
        lines = [f"HTTP/1.1 {status} {reason}"]
        headers = list(headers or [])
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif hget(headers, "Content-Length") is None and status not in (204, 304):
            headers.append(("Content-Length", str(len(body))))
        for k, v in headers:
            lines.append(f"{k}: {v}")
        out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if chunked:
            if body:
                out += f"{len(body):x}\r\n".encode() + body + b"\r\n"
            out += b"0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in trailers or []).encode("latin-1") + b"\r\n"
        else:
            out += body
        self.send(out)

    def reset(self):
        """Closes with RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close(graceful=False)

    def close(self, graceful=True):
        """Closes the connection. shutdown() first so that a recv() blocked in
        another thread wakes up and the FIN really goes out now."""
        if not self.closed:
            self.closed = True
            if graceful:
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            try:
                self.sock.close()
            except OSError:
                pass


def echo_payload(req: UpReq) -> bytes:
    return json.dumps({
        "method": req.method,
        "path": req.target,
        "version": req.version,
        "headers": req.headers,
        "body_len": req.body_len,
        "body_sha256": req.body_sha256,
        "chunked": req.chunked,
        "peer_port": req.peer_port,
        "conn_index": req.conn_index,
    }).encode()


def echo_handler(conn: UpConn, req: UpReq) -> bool:
    """Answers with JSON describing what arrived. HEAD gets the head only."""
    body = echo_payload(req)
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
               ("X-Upstream-Port", str(conn.up.port))]
    if req.method == "HEAD":
        conn.send_response(200, headers, b"")
    else:
        conn.send_response(200, headers, body)
    return True


class Upstream:
    """Threaded raw-socket upstream. handler(conn, req) -> keep_alive(bool)."""

    def __init__(self, handler=echo_handler, send_continue=True, name="up"):
        self.handler = handler
        self.send_continue = send_continue
        self.name = name
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(256)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.requests: list[UpReq] = []  # complete requests (body read)
        self.heads: list[UpReq] = []  # every head seen, even if the body never came
        self.errors: list[str] = []
        self.connections = 0
        self.conns: list[UpConn] = []
        self.raw = bytearray()  # every byte received, capped
        self.event = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def _record_raw(self, chunk):
        with self.lock:
            if len(self.raw) < (4 << 20):
                self.raw += chunk[: (4 << 20) - len(self.raw)]

    def _note_head(self, req):
        with self.lock:
            self.heads.append(req)
        self.event.set()

    def _accept_loop(self):
        while not self.stopped:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                idx = self.connections
                self.connections += 1
                c = UpConn(self, s, idx)
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, conn: UpConn):
        conn.sock.settimeout(30)
        try:
            while not conn.closed:
                try:
                    req = conn.read_request()
                except UpstreamError as e:
                    with self.lock:
                        self.errors.append(str(e))
                    break
                if req is None:
                    break
                with self.lock:
                    self.requests.append(req)
                self.event.set()
                keep = self.handler(conn, req)
                conn_hdr = (req.header("Connection") or "").lower()
                if not keep or "close" in conn_hdr:
                    break
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            with self.lock:
                self.errors.append(f"io: {e!r}")
        finally:
            conn.close()

    def wait_requests(self, n, timeout=5.0) -> bool:
        return bool(wait_until(lambda: len(self.requests) >= n, timeout))

    def close(self):
        self.stopped = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            c.close()


# ---- handler factories ----------------------------------------------------


def fixed_handler(status=200, headers=None, body=b"", chunked=False):
    def h(conn, req):
        if req.method == "HEAD":
            hs = list(headers or []) + [("Content-Length", str(len(body)))]
            conn.send_response(status, hs, b"")
        else:
            conn.send_response(status, headers, body, chunked=chunked)
        return True
    return h


def slow_handler(delay, inner=echo_handler):
    """Waits `delay` seconds before answering (delayed headers)."""
    def h(conn, req):
        time.sleep(delay)
        return inner(conn, req)
    return h


def trickle_handler(pieces, piece_size, interval, chunked=False):
    """Sends the head at once, then the body piece by piece with sleeps."""
    def h(conn, req):
        data = pattern_bytes(pieces * piece_size, seed=7)
        hs = [("X-Body-Sha256", sha256(data))]
        if chunked:
            hs.append(("Transfer-Encoding", "chunked"))
        else:
            hs.append(("Content-Length", str(len(data))))
        conn.send(("HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n").encode())
        for i in range(pieces):
            time.sleep(interval)
            p = data[i * piece_size:(i + 1) * piece_size]
            conn.send(f"{len(p):x}\r\n".encode() + p + b"\r\n" if chunked else p)
        if chunked:
            conn.send(b"0\r\n\r\n")
        return True
    return h


def close_mid_body_handler(declared, sent, chunked=False):
    """Promises `declared` bytes, sends `sent`, then closes the connection."""
    def h(conn, req):
        data = pattern_bytes(sent, seed=3)
        if chunked:
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      + f"{declared:x}\r\n".encode() + data)
        else:
            conn.send(f"HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n".encode() + data)
        time.sleep(0.05)
        conn.close()
        return False
    return h


def reset_handler(conn, req):
    """Reads the request, then resets the connection without answering."""
    conn.reset()
    return False


def close_handler(conn, req):
    """Reads the request, then closes cleanly without answering."""
    conn.close()
    return False


def large_response_handler(size, chunked=False, seed=11, piece=65536):
    data = pattern_bytes(size, seed=seed)
    digest = sha256(data)

    def h(conn, req):
        hs = [("X-Body-Sha256", digest)]
        if chunked:
            conn.send(("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Body-Sha256: %s\r\n\r\n"
                       % digest).encode())
            for off in range(0, size, piece):
                p = data[off:off + piece]
                conn.send(f"{len(p):x}\r\n".encode() + p + b"\r\n")
            conn.send(b"0\r\n\r\n")
        else:
            conn.send_response(200, hs, data)
        return True
    h.data = data
    h.digest = digest
    return h


def interim_handler(codes=(103,), inner=echo_handler):
    """Sends 1xx interim responses before the final one."""
    def h(conn, req):
        for c in codes:
            conn.send(f"HTTP/1.1 {c} Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n".encode())
            time.sleep(0.02)
        return inner(conn, req)
    return h


# --------------------------------------------------------------------------
# gateway process
# --------------------------------------------------------------------------


def service(name, upstream_or_port, routes=(), path=None, **kw):
    """A service dict using the `url` shorthand."""
    port = upstream_or_port.port if isinstance(upstream_or_port, Upstream) else int(upstream_or_port)
    d = {"name": name, "url": f"http://{HOST}:{port}{path or ''}"}
    d.update(kw)
    if routes:
        d["routes"] = list(routes)
    return d


def route(name, paths=None, **kw):
    d = {"name": name}
    if paths is not None:
        d["paths"] = list(paths)
    d.update(kw)
    return d


def config(*services, routes=None, **extra):
    d = {"_format_version": "3.0", "services": list(services)}
    if routes is not None:
        d["routes"] = list(routes)
    d.update(extra)
    return d


def render_config(cfg) -> str:
    # JSON is YAML; the gateway accepts either.
    if isinstance(cfg, str):
        return cfg
    return json.dumps(cfg, indent=2) + "\n"


class Gateway:
    def __init__(self, binary, workdir: pathlib.Path, cfg, extra_args=(), env=None,
                 listen_flag=True, port=None, workers=2, access_log_format=None):
        self.binary = str(binary)
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "kong.yaml"
        self.access_log = self.dir / "access.log"
        self.error_log = self.dir / "stderr.log"
        self.stdout_log = self.dir / "stdout.log"
        self.port = port or free_port()
        self.write_config(cfg)
        args = [self.binary, "start", "-c", str(self.config_path)]
        if listen_flag:
            args += ["--proxy-listen", f"{HOST}:{self.port}"]
        args += ["--admin-listen", "off", "--workers", str(workers), "--access-log", str(self.access_log)]
        if access_log_format:
            args += ["--access-log-format", access_log_format]
        args += list(extra_args)
        self.args = args
        full_env = dict(os.environ)
        for k in list(full_env):
            if k.startswith("WASMGATE_") and k != "WASMGATE_BIN":
                del full_env[k]
        if env:
            full_env.update(env)
        self._err = open(self.error_log, "wb")
        self._out = open(self.stdout_log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                     env=full_env, cwd=str(self.dir))
        self.pid = self.proc.pid

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wasmgate exited with {self.proc.returncode} before listening; "
                                   f"stderr:\n{self.stderr_text()}")
            try:
                s = socket.create_connection((HOST, self.port), timeout=0.5)
                s.close()
                return self
            except OSError:
                time.sleep(0.03)
        raise RuntimeError(f"wasmgate not accepting on {self.port} after {timeout}s; stderr:\n"
                           f"{self.stderr_text()}")

    # -- config
    def write_config(self, cfg):
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(render_config(cfg))
        os.replace(tmp, self.config_path)

    def reload(self, cfg=None):
        if cfg is not None:
            self.write_config(cfg)
        os.kill(self.pid, signal.SIGHUP)

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    # -- logs
    def stderr_text(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def access_lines(self) -> list[str]:
        try:
            return [ln for ln in self.access_log.read_text(errors="replace").splitlines() if ln.strip()]
        except FileNotFoundError:
            return []

    def wait_stderr(self, pattern, timeout=5.0, count=1):
        rx = re.compile(pattern)
        return wait_until(lambda: len(rx.findall(self.stderr_text())) >= count, timeout)

    def wait_access_lines(self, n, timeout=5.0):
        wait_until(lambda: len(self.access_lines()) >= n, timeout)
        return self.access_lines()

    # -- client helpers
    def conn(self, timeout=10.0) -> ClientConn:
        return ClientConn(self.port, timeout=timeout)

    def request(self, method="GET", path="/", headers=None, body=b"", host="test.local",
                timeout=10.0, **kw) -> Response:
        with self.conn(timeout) as c:
            return c.request(method, path, headers, body, host, **kw)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def stop(self, sig=signal.SIGKILL, timeout=5.0):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        for f in (self._err, self._out):
            try:
                f.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wasmgate_bin():
    path = pathlib.Path(os.environ.get("WASMGATE_BIN") or DEFAULT_BIN)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"wasmgate binary not found at {path} (build it with `make build` or set WASMGATE_BIN)")
    return path


@pytest.fixture
def upstream_factory():
    made = []

    def make(handler=echo_handler, **kw) -> Upstream:
        u = Upstream(handler, **kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


@pytest.fixture
def upstream(upstream_factory) -> Upstream:
    return upstream_factory()


@pytest.fixture
def gateway_factory(wasmgate_bin, tmp_path):
    made = []

    def make(cfg, extra_args=(), env=None, wait=True, **kw) -> Gateway:
        gw = Gateway(wasmgate_bin, tmp_path / f"gw{len(made)}", cfg, extra_args, env, **kw)
        made.append(gw)
        if wait:
            gw.wait_ready()
        return gw

    yield make
    for gw in made:
        gw.stop()


@pytest.fixture
def echo_gateway(gateway_factory, upstream):
    """A gateway with one route `/` -> echo upstream (strip_path false)."""
    cfg = config(service("echo-svc", upstream, [route("echo-route", ["/"], strip_path=False)]))
    gw = gateway_factory(cfg)
    gw.upstream = upstream
    return gw


@pytest.fixture(scope="session")
def wasm_cache(wasmgate_bin, tmp_path_factory):
    """A compiled-code cache shared by the session's gateways, filled once
    with every filter of the build (a gateway compiles its whole filters dir
    at start: without a warm cache each start would compile all SDKs' modules)."""
    d = tmp_path_factory.mktemp("wasm-cache")
    filters = pathlib.Path(wasmgate_bin).parent / "filters"
    cfg = tmp_path_factory.mktemp("wasm-warm") / "kong.json"
    cfg.write_text('{"_format_version": "3.0"}')
    res = run_cli(wasmgate_bin, "check", str(cfg), "--filters-dir", str(filters), "--wasm-cache-dir", str(d),
                  timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return d


def run_cli(binary, *args, timeout=15, env=None):
    full_env = dict(os.environ)
    for k in list(full_env):
        if k.startswith("WASMGATE_") and k != "WASMGATE_BIN":
            del full_env[k]
    if env:
        full_env.update(env)
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, stdin=subprocess.DEVNULL)


def pytest_configure(config):
    # Long tests (tens of seconds) CI still runs; `-m "not slow"` skips them locally.
    config.addinivalue_line("markers", "slow: runs for tens of seconds")
