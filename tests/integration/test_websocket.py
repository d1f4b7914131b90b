"""WebSocket proxying: `Upgrade: websocket` on http/https routes, the 101
passed to the client, then a byte tunnel both ways until the close.

The upstream and the client are small hand-written RFC 6455 peers (no
package needed): the gateway only moves bytes, so what matters is that
frames, masks and closes arrive intact both ways."""
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import threading
import time

import pytest

from conftest import HOST, config, route, run_cli, service, wait_until
from test_tls import make_ca, make_leaf, tls_gateway

def client_context():
    """A client that does not verify and speaks HTTP/1.1 (WebSocket's
    upgrade is an HTTP/1.1 affair; ALPN says so)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def xor_mask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return data
    full = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(full, "big")).to_bytes(n, "big")


def frame(opcode: int, payload: bytes, masked: bool) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if masked:
        mask = os.urandom(4)
        return head + mask + xor_mask(payload, mask)
    return head + payload


class Peer:
    """Reads frames from a socket (with bytes already read after a head)."""

    def __init__(self, sock, buf=b""):
        self.sock = sock
        self.buf = bytearray(buf)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def _take(self, n) -> bytes:
        self._need(n)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_frame(self):
        b0, b1 = self._take(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        mask = self._take(4) if b1 & 0x80 else None
        payload = self._take(n)
        if mask:
            payload = xor_mask(payload, mask)
        return b0 & 0x0F, payload, mask is not None

    def at_eof(self, timeout=5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return not self.buf and self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True


def read_head(sock, buf=b""):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed before the head ended")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for ln in lines[1:]:
        k, v = ln.split(":", 1)
        headers.append((k.strip(), v.strip()))
    return lines[0], headers, rest


def hval(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


class WsUpstream:
    """A threaded WebSocket echo server: answers an upgrade with 101 (or with
    `refuse` status), then echoes data frames, answers pings, echoes the
    close and closes first (RFC 6455 7.1.1: the server closes TCP)."""

    def __init__(self, tls_pair=None, refuse=None, switch_to="websocket"):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.refuse = refuse
        self.switch_to = switch_to
        self.ctx = None
        if tls_pair is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            d = pathlib_tmp()
            crt, key = tls_pair.write(d, "up")
            self.ctx.load_cert_chain(str(crt), str(key))
        self.heads = []  # (request line, headers, body)
        self.connections = 0
        self.closed_by_peer = []  # what each tunnel saw at its end
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        try:
            if self.ctx is not None:
                s = self.ctx.wrap_socket(s, server_side=True)
            s.settimeout(30)
            rest = b""
            while True:
                line, headers, rest = read_head(s, rest)
                n = int(hval(headers, "Content-Length") or 0)
                while len(rest) < n:
                    rest += s.recv(65536)
                body, rest = rest[:n], rest[n:]
                with self.lock:
                    self.heads.append((line, headers, body))
                if self.refuse is None and (hval(headers, "Upgrade") or "").lower() == "websocket":
                    break
                # Refused: an ordinary keep-alive answer.
                status = self.refuse or 400
                msg = b'{"refused":true}'
                s.sendall(f"HTTP/1.1 {status} Refused\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(msg)}\r\n\r\n".encode() + msg)
            key = hval(headers, "Sec-WebSocket-Key")
            s.sendall((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: {self.switch_to}\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Accept: {accept_for(key)}\r\nX-Up: yes\r\n\r\n").encode())
            peer = Peer(s, rest)
            while True:
                try:
                    op, payload, masked = peer.read_frame()
                except EOFError:
                    with self.lock:
                        self.closed_by_peer.append("eof")
                    return
                if not masked:
                    with self.lock:
                        self.closed_by_peer.append("unmasked frame")
                    return
                if op in (TEXT, BINARY):
                    s.sendall(frame(op, payload, masked=False))
                elif op == PING:
                    s.sendall(frame(PONG, payload, masked=False))
                elif op == CLOSE:
                    s.sendall(frame(CLOSE, payload, masked=False))
                    with self.lock:
                        self.closed_by_peer.append("close")
                    return
        except (OSError, EOFError, ssl.SSLError):
            return
        finally:
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        try:
            self.lsock.close()
        except OSError:
            pass


_TMP = []


def pathlib_tmp():
    import tempfile
    import pathlib
    d = pathlib.Path(tempfile.mkdtemp(prefix="ws-up-"))
    _TMP.append(d)
    return d


class WsClient:
    def __init__(self, port, path="/ws", headers=(), ctx=None, server_name="test.local", body=b"",
                 method="GET", upgrade="websocket", timeout=15.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_name)
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"{method} {path} HTTP/1.1", "Host: test.local", "Connection: Upgrade",
                 f"Upgrade: {upgrade}", f"Sec-WebSocket-Key: {self.key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.status_line, self.headers, rest = read_head(self.sock)
        self.status = int(self.status_line.split()[1])
        self.peer = Peer(self.sock, rest)

    def send(self, op, payload):
        self.sock.sendall(frame(op, payload, masked=True))

    def recv(self):
        op, payload, masked = self.peer.read_frame()
        assert not masked, "server frames are never masked"
        return op, payload

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def ws_upstream():
    made = []

    def make(**kw):
        u = WsUpstream(**kw)
        made.append(u)
        return u

    yield make
    for u in made:
        u.close()


def ws_config(up, scheme="http", svc_kw=None, route_kw=None, extra_routes=()):
    svc = service("ws-svc", up.port, [route("ws-route", ["/ws"], strip_path=False, **(route_kw or {}))],
                  **(svc_kw or {}))
    svc["url"] = f"{scheme}://{HOST}:{up.port}"
    return config(svc, *extra_routes)


def log_fields(gw, n=1):
    lines = gw.wait_access_lines(n, timeout=10)
    return lines


# ---------------------------------------------------------------- the tunnel

def test_text_binary_ping_and_close_through_the_tunnel(gateway_factory, ws_upstream):
    up = ws_upstream()
    gw = gateway_factory(ws_config(up))
    c = WsClient(gw.port)
    assert c.status == 101, c.status_line
    assert hval(c.headers, "Sec-WebSocket-Accept") == accept_for(c.key)
    assert hval(c.headers, "Upgrade").lower() == "websocket"
    assert hval(c.headers, "Connection").lower() == "upgrade"
    assert hval(c.headers, "X-Up") == "yes"
    assert hval(c.headers, "Via") is not None  # the gateway's response headers, as on any response
    # What the upstream was asked: Kong's upgrade headers, the client's key.
    line, headers, _ = up.heads[0]
    assert line == "GET /ws HTTP/1.1"
    assert hval(headers, "Upgrade") == "websocket"
    assert hval(headers, "Connection") == "keep-alive, Upgrade"
    assert hval(headers, "Sec-WebSocket-Key") == c.key
    assert hval(headers, "Sec-WebSocket-Version") == "13"
    assert hval(headers, "X-Forwarded-For") == HOST

    c.send(TEXT, "héllo".encode())
    assert c.recv() == (TEXT, "héllo".encode())
    blob = os.urandom(70000)
    c.send(BINARY, blob)
    assert c.recv() == (BINARY, blob)
    c.send(PING, b"are you there")
    assert c.recv() == (PONG, b"are you there")
    # Close handshake: the upstream echoes the close and closes; the client
    # connection ends with the tunnel.
    c.send(CLOSE, struct.pack("!H", 1000) + b"bye")
    assert c.recv() == (CLOSE, struct.pack("!H", 1000) + b"bye")
    assert c.peer.at_eof(), "the gateway closes the client connection when the tunnel ends"
    c.close()
    assert wait_until(lambda: up.closed_by_peer == ["close"])
    # One access-log line, when the tunnel ended: status 101, the bytes sent
    # to the client (101 head and every frame).
    lines = log_fields(gw)
    assert len(lines) == 1, lines
    assert '"GET /ws HTTP/1.1" 101 ' in lines[0], lines[0]
    sent = int(lines[0].split('" 101 ')[1].split()[0])
    assert sent > 70000 + 200, lines[0]


def test_many_messages_and_16_mib_both_ways(gateway_factory, ws_upstream):
    up = ws_upstream()
    gw = gateway_factory(ws_config(up))
    c = WsClient(gw.port)
    assert c.status == 101
    # Many small messages, sent before any answer is read (pipelined).
    msgs = [f"message {i}".encode() * (1 + i % 7) for i in range(2000)]
    c.sock.sendall(b"".join(frame(TEXT, m, masked=True) for m in msgs))
    for m in msgs:
        assert c.recv() == (TEXT, m)
    # 16 MiB one way, then back: both directions of the tunnel fill their
    # buffers and wait for the other side (backpressure).
    big = os.urandom(16 << 20)
    c.send(BINARY, big)
    op, payload = c.recv()
    assert op == BINARY and len(payload) == len(big) and payload == big
    c.send(CLOSE, struct.pack("!H", 1000))
    assert c.recv()[0] == CLOSE
    assert c.peer.at_eof()
    c.close()
    line = log_fields(gw)[0]
    assert int(line.split('" 101 ')[1].split()[0]) > (16 << 20)


def test_half_close_is_passed_on_and_the_other_direction_goes_on(gateway_factory, ws_upstream):
    up = ws_upstream()
    gw = gateway_factory(ws_config(up))
    c = WsClient(gw.port)
    assert c.status == 101
    # The client's last frame, then its FIN: the frame reaches the upstream
    # before the FIN, and the upstream's answer still comes back.
    c.send(TEXT, b"last words")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.recv() == (TEXT, b"last words")
    assert wait_until(lambda: up.closed_by_peer == ["eof"])
    assert c.peer.at_eof()
    c.close()
    assert '" 101 ' in gw.wait_access_lines(1)[0]


def test_client_first_frames_sent_with_the_head_are_not_lost(gateway_factory, ws_upstream):
    up = ws_upstream()
    gw = gateway_factory(ws_config(up))
    s = socket.create_connection((HOST, gw.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    head = ("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    # The head and a frame in one segment: the frame waits in the gateway's
    # read buffer until the tunnel opens.
    s.sendall(head + frame(TEXT, b"early", masked=True))
    status, headers, rest = read_head(s)
    assert status.startswith("HTTP/1.1 101"), status
    p = Peer(s, rest)
    assert p.read_frame()[:2] == (TEXT, b"early")
    s.close()


def test_upgrade_request_with_a_body(gateway_factory, ws_upstream):
    up = ws_upstream()
    gw = gateway_factory(ws_config(up))
    c = WsClient(gw.port, method="POST", body=b"x" * 5000)
    assert c.status == 101
    assert up.heads[0][2] == b"x" * 5000
    c.send(TEXT, b"after the body")
    assert c.recv() == (TEXT, b"after the body")
    c.close()


# ---------------------------------------------------------------- TLS

def test_wss_downstream_tls(gateway_factory, ws_upstream):
    up = ws_upstream()
    gw = tls_gateway(gateway_factory, ws_config(up))
    c = WsClient(gw.tls_port, ctx=client_context())
    assert c.status == 101
    line, headers, _ = up.heads[0]
    assert hval(headers, "X-Forwarded-Proto") == "https"
    big = os.urandom(16 << 20)
    c.send(BINARY, big)
    assert c.recv() == (BINARY, big)
    c.send(TEXT, b"small")
    assert c.recv() == (TEXT, b"small")
    c.send(CLOSE, struct.pack("!H", 1000))
    assert c.recv()[0] == CLOSE
    assert c.peer.at_eof()
    c.close()


def test_wss_to_an_https_service(gateway_factory, ws_upstream):
    ca = make_ca()
    up = ws_upstream(tls_pair=make_leaf(ca, [HOST, "localhost"]))
    gw = tls_gateway(gateway_factory, ws_config(up, scheme="https"))
    # TLS on both sides of the gateway.
    c = WsClient(gw.tls_port, ctx=client_context())
    assert c.status == 101, c.status_line
    big = os.urandom(4 << 20)
    c.send(BINARY, big)
    assert c.recv() == (BINARY, big)
    c.send(PING, b"p")
    assert c.recv() == (PONG, b"p")
    c.send(CLOSE, struct.pack("!H", 1001))
    assert c.recv() == (CLOSE, struct.pack("!H", 1001))
    assert c.peer.at_eof()
    c.close()
    # Plain client, https upstream.
    c = WsClient(gw.port)
    assert c.status == 101
    c.send(TEXT, b"plain to tls")
    assert c.recv() == (TEXT, b"plain to tls")
    c.close()


# ---------------------------------------------------------------- endings and refusals

def test_idle_tunnel_closes_after_the_service_timeouts(gateway_factory, ws_upstream):
    up = ws_upstream()
    gw = gateway_factory(ws_config(up, svc_kw={"read_timeout": 600, "write_timeout": 600}))
    c = WsClient(gw.port)
    assert c.status == 101
    # Traffic keeps it open past the timeout...
    for _ in range(4):
        time.sleep(0.3)
        c.send(TEXT, b"still here")
        assert c.recv() == (TEXT, b"still here")
    # ...idling closes it.
    t0 = time.monotonic()
    assert c.peer.at_eof(timeout=5)
    assert 0.4 < time.monotonic() - t0 < 3.0
    c.close()
    lines = log_fields(gw)
    assert '" 101 ' in lines[0]
    assert wait_until(lambda: up.closed_by_peer == ["eof"])


@pytest.mark.parametrize("status", [400, 426])
def test_upstream_refusing_the_upgrade_passes_through(gateway_factory, ws_upstream, status):
    up = ws_upstream(refuse=status)
    gw = gateway_factory(ws_config(up))
    c = WsClient(gw.port)
    assert c.status == status
    assert hval(c.headers, "Upgrade") is None
    n = int(hval(c.headers, "Content-Length"))
    c.peer._need(n)
    assert json.loads(bytes(c.peer.buf[:n])) == {"refused": True}
    # An ordinary answer: the client connection stays open for the next
    # request, and the upstream connection is not reused for it.
    del c.peer.buf[:n]
    c.sock.sendall(b"GET /ws/next HTTP/1.1\r\nHost: test.local\r\n\r\n")
    line, headers, rest = read_head(c.sock)
    assert line.split()[1] == str(status), line
    c.close()
    assert len(up.heads) == 2
    assert up.connections == 2, "the upgrade request's upstream connection is not reused"
    assert gw.wait_access_lines(2)[0].split('" ')[1].startswith(str(status))


def test_upstream_switching_to_another_protocol_is_a_502(gateway_factory, ws_upstream):
    up = ws_upstream(switch_to="h2c")
    gw = gateway_factory(ws_config(up))
    c = WsClient(gw.port)
    assert c.status == 502
    c.close()
    assert gw.wait_stderr("switched to a protocol other than the websocket asked for")


def test_h2c_upgrade_is_not_tunnelled(gateway_factory, upstream):
    gw = gateway_factory(config(service("echo", upstream, [route("r", ["/"])])))
    r = gw.request("GET", "/h2c", headers=[("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                                           ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")])
    assert r.status == 200
    seen = upstream.requests[-1]
    assert seen.header("Upgrade") is None
    assert seen.header("HTTP2-Settings") is None
    assert (seen.header("Connection") or "").lower() != "upgrade"
    # Other Upgrade tokens too: dropped, an ordinary request.
    r = gw.request("GET", "/other", headers=[("Connection", "Upgrade"), ("Upgrade", "foo/2")])
    assert r.status == 200
    assert upstream.requests[-1].header("Upgrade") is None


def test_http_1_0_and_no_websocket_token_are_not_upgraded(gateway_factory, ws_upstream):
    up = ws_upstream()
    gw = gateway_factory(ws_config(up))
    for version, upgrade in (("1.0", "websocket"), ("1.1", "websocket, foo"), ("1.1", "websockets")):
        s = socket.create_connection((HOST, gw.port), timeout=10)
        s.sendall(f"GET /ws HTTP/{version}\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: {upgrade}\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        line, headers, _ = read_head(s)
        s.close()
        assert line.split()[1] == "400", (version, upgrade, line)  # the upstream's answer to a plain request
        assert hval(up.heads[-1][1], "Upgrade") is None, (version, upgrade)


def test_drain_waits_for_a_tunnel_up_to_the_drain_timeout(gateway_factory, ws_upstream):
    import signal
    up = ws_upstream()
    gw = gateway_factory(ws_config(up), extra_args=["--drain-timeout", "1500"], workers=1)
    c = WsClient(gw.port)
    assert c.status == 101
    t0 = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    c.send(TEXT, b"during the drain")
    assert c.recv() == (TEXT, b"during the drain")
    assert c.peer.at_eof(timeout=5)
    assert gw.proc.wait(5) == 0
    assert 1.2 < time.monotonic() - t0 < 4.5
    c.close()
    assert '" 101 ' in gw.wait_access_lines(1)[0]


def test_plugins_run_on_the_upgrade_and_log_after_the_tunnel(gateway_factory, ws_upstream, tmp_path):
    up = ws_upstream()
    log = tmp_path / "ws.log"
    cfg = ws_config(up, route_kw={"plugins": [
        {"name": "key-auth"},
        {"name": "request-transformer", "config": {"add": {"headers": ["X-Added:yes"]}}},
        {"name": "file-log", "config": {"path": str(log)}},
    ]})
    cfg["consumers"] = [{"username": "alice", "keyauth_credentials": [{"key": "alice-key"}]}]
    gw = gateway_factory(cfg)
    # No key: key-auth answers, the upstream never sees it.
    c = WsClient(gw.port)
    assert c.status == 401
    c.close()
    assert up.heads == []
    c = WsClient(gw.port, headers=[("apikey", "alice-key")])
    assert c.status == 101
    line, headers, _ = up.heads[0]
    assert hval(headers, "X-Added") == "yes"
    assert hval(headers, "X-Consumer-Username") == "alice"
    c.send(TEXT, b"x" * 1000)
    assert c.recv() == (TEXT, b"x" * 1000)
    # The log phase waits for the tunnel's end (only the 401 is logged).
    assert wait_until(lambda: log.exists() and len(log.read_text().splitlines()) == 1)
    time.sleep(0.3)
    assert len(log.read_text().splitlines()) == 1
    c.send(CLOSE, struct.pack("!H", 1000))
    assert c.recv()[0] == CLOSE
    assert c.peer.at_eof()
    c.close()
    assert wait_until(lambda: len(log.read_text().splitlines()) == 2)
    entry = json.loads(log.read_text().splitlines()[1])
    assert entry["response"]["status"] == 101
    assert entry["response"]["size"] > 1000
    assert entry["request"]["size"] > 1000
    assert entry["consumer"]["username"] == "alice"


def test_gateway_serves_others_during_a_tunnel(gateway_factory, ws_upstream, upstream):
    up = ws_upstream()
    cfg = ws_config(up, extra_routes=())
    cfg["services"].append(service("echo", upstream, [route("plain", ["/plain"])]))
    gw = gateway_factory(cfg, workers=1)
    tunnels = [WsClient(gw.port) for _ in range(3)]
    assert all(t.status == 101 for t in tunnels)
    for i in range(20):
        assert gw.request("GET", f"/plain/{i}").status == 200
    for i, t in enumerate(tunnels):
        t.send(TEXT, f"t{i}".encode())
    for i, t in enumerate(tunnels):
        assert t.recv() == (TEXT, f"t{i}".encode())
        t.close()


def test_tunnel_counts_as_an_active_connection(gateway_factory, ws_upstream):
    import urllib.request
    from conftest import free_port
    up = ws_upstream()
    admin = free_port()
    cfg = ws_config(up)
    cfg["plugins"] = [{"name": "prometheus"}]
    gw = gateway_factory(cfg, extra_args=["--admin-listen", f"{HOST}:{admin}"], workers=1)

    def writing():
        with urllib.request.urlopen(f"http://{HOST}:{admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        for ln in text.splitlines():
            if ln.startswith("kong_nginx_connections_total") and 'state="writing"' in ln:
                return int(float(ln.split()[-1]))
        raise AssertionError("no writing gauge")

    before = writing()
    c = WsClient(gw.port)
    assert c.status == 101
    assert wait_until(lambda: writing() == before + 1, timeout=5)
    c.send(CLOSE, struct.pack("!H", 1000))
    assert c.recv()[0] == CLOSE
    assert c.peer.at_eof()
    c.close()
    assert wait_until(lambda: writing() == before, timeout=5)


def test_ws_protocols_are_kong_enterprise_only(wasmgate_bin, tmp_path):
    for cfg, reason in (
            (config(service("s", 1234, [route("r", ["/"], protocols=["ws"])])), "unknown protocol 'ws'"),
            (config(service("s", 1234, [route("r", ["/"], protocols=["wss", "https"])])), "unknown protocol 'wss'"),
            (config({"name": "s", "protocol": "ws", "host": HOST, "port": 1234}), "expected one of")):
        path = tmp_path / "kong.json"
        path.write_text(json.dumps(cfg))
        res = run_cli(wasmgate_bin, "check", str(path))
        assert res.returncode != 0
        assert reason in res.stdout + res.stderr, res.stdout + res.stderr
