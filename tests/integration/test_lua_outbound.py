"""Lua plugins that wait on the outside world without blocking the worker:
ngx.socket.tcp cosockets, resty.http, kong.cache with a loader, and
ngx.timer, through the real gateway with real servers on 127.0.0.1."""
import concurrent.futures
import http.server
import json
import socketserver
import threading
import time
import urllib.parse

import pytest

from test_lua_plugins import lua_gateway, filters_dir, one_route, plugin  # noqa: F401 (fixtures)


class AuthService:
    """An HTTP/1.1 (keep-alive) auth service: 'good*' tokens are users,
    'slow' answers after a second, 'bad' is 403, anything else 500."""

    def __init__(self, tls=None):
        self.calls = []
        self.connections = 0
        self.lock = threading.Lock()
        svc = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with svc.lock:
                    svc.connections += 1

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                token = self.headers.get("X-Token")
                with svc.lock:
                    svc.calls.append({"token": token, "path": self.path, "body": body,
                                      "ua": self.headers.get("User-Agent")})
                if token == "slow":
                    time.sleep(1.0)
                if token.startswith("good") or token == "slow":
                    status, out = 200, json.dumps({"user": "user-" + token}).encode()
                elif token == "bad":
                    status, out = 403, b'{"message":"no"}'
                else:
                    status, out = 500, b"oops"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, token):
        with self.lock:
            return sum(1 for c in self.calls if c["token"] == token)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def auth_service():
    svc = AuthService()
    yield svc
    svc.close()


def auth_route(upstream, svc, **conf):
    return one_route(upstream, [plugin("remote-auth", {"url": f"http://127.0.0.1:{svc.port}/check", **conf})])


def test_auth_plugin_calls_the_service_once_per_token(lua_gateway, upstream, auth_service):
    gw = lua_gateway(auth_route(upstream, auth_service), workers=1)
    for i in range(5):
        r = gw.request("GET", f"/r{i}", headers=[("X-Token", "good1")])
        assert r.status == 200
        assert upstream.requests[-1].header("x-authenticated-user") == "user-good1"
    assert auth_service.count("good1") == 1
    # the first answer came from the loader (3), the others from the cache (1)
    assert [r.header("x-cache-hit") for r in upstream.requests[-5:]] == ["3", "1", "1", "1", "1"]
    ttl = float(upstream.requests[-1].header("x-cache-ttl"))
    assert 55 < ttl <= 60
    call = auth_service.calls[0]
    assert call["path"] == "/check?from=gateway"
    assert json.loads(call["body"]) == {"token": "good1"}
    assert call["ua"].startswith("lua-resty-http/")
    # denied tokens: 403, and the denial is cached too
    for _ in range(3):
        denied = gw.request("GET", "/x", headers=[("X-Token", "bad")])
        assert denied.status == 403
        assert json.loads(denied.body) == {"message": "Token denied"}
    assert auth_service.count("bad") == 1
    none = gw.request("GET", "/x")
    assert none.status == 401
    assert json.loads(none.body) == {"message": "No token"}
    # a failing service is not cached: each request asks again
    for _ in range(2):
        assert gw.request("GET", "/x", headers=[("X-Token", "boom")]).status == 502
    assert auth_service.count("boom") == 2
    assert gw.wait_stderr(r"failed to get from node cache: auth service answered 500")
    # kong.cache:invalidate: the next request asks the service again
    assert gw.request("GET", "/y", headers=[("X-Token", "good1"), ("X-Invalidate", "1")]).status == 200
    assert auth_service.count("good1") == 2
    # resty.http kept its connection: later tokens reuse it
    assert gw.request("GET", "/z", headers=[("X-Token", "good2")]).status == 200
    assert auth_service.connections < len(auth_service.calls)


def test_slow_auth_call_does_not_block_the_worker(lua_gateway, upstream, auth_service):
    gw = lua_gateway(auth_route(upstream, auth_service), workers=1)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        t0 = time.monotonic()
        slow = [pool.submit(gw.request, "GET", f"/slow{i}", headers=[("X-Token", "slow")]) for i in range(3)]
        time.sleep(0.2)
        fast = gw.request("GET", "/fast", headers=[("X-Token", "good-fast")])
        fast_done = time.monotonic() - t0
        assert fast.status == 200
        # the one worker answered while three requests waited for the slow service
        assert fast_done < 0.8
        assert not any(f.done() for f in slow)
        results = [f.result() for f in slow]
    assert [r.status for r in results] == [200, 200, 200]
    # the three waited for one call (kong.cache's callback lock)
    assert auth_service.count("slow") == 1
    users = {r.header("x-authenticated-user") for r in upstream.requests if r.target.startswith("/slow")}
    assert users == {"user-slow"}
    hits = sorted(r.header("x-cache-hit") for r in upstream.requests if r.target.startswith("/slow"))
    assert hits == ["2", "2", "3"]


def test_unreachable_auth_service_is_a_502(lua_gateway, upstream):
    from conftest import free_port
    cfg = one_route(upstream, [plugin("remote-auth", {"url": f"http://127.0.0.1:{free_port()}/", "timeout": 500})])
    gw = lua_gateway(cfg, workers=1)
    r = gw.request("GET", "/", headers=[("X-Token", "good")])
    assert r.status == 502
    assert gw.wait_stderr(r"auth service: connect: Connection refused")


class LineServer:
    """A small line protocol over TCP (or a unix socket) for the cosocket probe."""

    def __init__(self, unix_path=None):
        self.connections = 0
        srv = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                srv.connections += 1
                for line in self.rfile:
                    cmd = line.decode().rstrip("\n")
                    if cmd.startswith("ECHO "):
                        self.wfile.write(cmd[5:].encode() + b"\n")
                    elif cmd == "BYTES":
                        self.wfile.write(b"12345rest\r\n")
                    elif cmd == "UNTIL":
                        self.wfile.write(b"some data--end--\n")
                    elif cmd == "BYE":
                        self.wfile.write(b"bye1\nbye2\n")
                        return
                    elif cmd == "SILENT":
                        self.wfile.write(b"par")
                        self.wfile.flush()
                        time.sleep(1.5)
                        return
                    self.wfile.flush()

        if unix_path:
            self.server = socketserver.ThreadingUnixStreamServer(unix_path, Handler)
            self.port = None
        else:
            self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
            self.port = self.server.server_address[1]
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def line_server():
    s = LineServer()
    yield s
    s.close()


def test_cosocket_receive_patterns_and_keepalive(lua_gateway, upstream, line_server):
    gw = lua_gateway(one_route(upstream, [plugin("cosocket-probe", {"port": line_server.port})]), workers=1)
    for i in range(3):
        r = gw.request("GET", f"/p{i}")
        assert r.status == 200, gw.stderr_text()
        seen = upstream.requests[-1]
        assert seen.header("x-probe-line") == "hello"
        assert seen.header("x-probe-bytes") == "12345"
        assert seen.header("x-probe-rest") == "rest"
        assert seen.header("x-probe-until") == "some data"
        # setkeepalive: the next request takes the same connection from the pool
        assert seen.header("x-probe-reused") == str(i)
    assert line_server.connections == 1
    closing = gw.request("GET", "/c", headers=[("X-Probe", "close")])
    assert closing.status == 200
    assert upstream.requests[-1].header("x-probe-all") == "bye1|bye2|"


def test_cosocket_read_timeout_gives_the_partial(lua_gateway, upstream, line_server):
    gw = lua_gateway(one_route(upstream, [plugin("cosocket-probe", {"port": line_server.port})]), workers=1)
    t0 = time.monotonic()
    r = gw.request("GET", "/t", headers=[("X-Probe", "timeout"), ("X-Probe-Timeout", "300")])
    assert r.status == 200
    assert 0.25 < time.monotonic() - t0 < 1.4
    assert upstream.requests[-1].header("x-probe-result") == "nil/timeout/par"


def test_cosockets_and_sleep_are_refused_in_header_filter(lua_gateway, upstream, line_server):
    gw = lua_gateway(one_route(upstream, [plugin("cosocket-probe", {"port": line_server.port})]), workers=1)
    r = gw.request("GET", "/h", headers=[("X-Probe", "header_filter")])
    assert r.status == 200
    assert r.header("x-probe-hf").endswith("API disabled in the context of header_filter_by_lua*")
    assert r.header("x-probe-hf").startswith("false")
    assert r.header("x-probe-hf-sleep").endswith("API disabled in the context of header_filter_by_lua*")


def test_timers_run_after_the_request_and_stop_prematurely_on_reload(lua_gateway, upstream):
    cfg = one_route(upstream, [plugin("ticker", {"every": 0.05})])
    gw = lua_gateway(cfg, workers=1)
    r = gw.request("GET", "/a", headers=[("X-Note", "one")])
    assert r.status == 200
    # the timer had not run when the request went on
    assert upstream.requests[-1].header("x-notes") == ""
    time.sleep(0.3)
    gw.request("GET", "/b")
    seen = upstream.requests[-1]
    assert seen.header("x-notes") == "one", gw.stderr_text()
    assert int(seen.header("x-ticks")) >= 3
    assert seen.header("x-pending") == "1"  # the every-timer
    # a far timer is still pending at the reload: it runs as premature
    gw.request("GET", "/c", headers=[("X-Note", "far"), ("X-Delay", "60")])
    gw.reload(cfg)
    assert gw.wait_stderr("config reloaded")
    assert gw.wait_stderr(r"ticker: premature timer for far")
    assert gw.wait_stderr(r"ticker: every-timer stopped prematurely after \d+ ticks")


def test_cache_invalidation_reaches_every_worker(lua_gateway, upstream, auth_service):
    gw = lua_gateway(auth_route(upstream, auth_service), workers=2)

    def burst(n, extra=()):
        # a connection each: the kernel spreads them over both workers
        for i in range(n):
            assert gw.request("GET", f"/b{i}", headers=[("X-Token", "good-x"), *extra]).status == 200
        return [r.header("x-cache-hit") for r in upstream.requests[-n:]]

    burst(20)
    # each worker asked the service once (mlcache's first level is per worker)
    assert auth_service.count("good-x") == 2
    assert burst(1, [("X-Invalidate", "1")]) == ["3"]
    hits = burst(20)
    # the other worker dropped the key too: it asked once more, then hit its cache
    assert hits.count("3") == 1
    assert auth_service.count("good-x") == 4


def test_cosocket_over_a_unix_socket(lua_gateway, upstream, tmp_path):
    srv = LineServer(str(tmp_path / "line.sock"))
    try:
        cfg = one_route(upstream, [plugin("cosocket-probe", {"host": f"unix:{tmp_path / 'line.sock'}"})])
        gw = lua_gateway(cfg, workers=1)
        for i in range(2):
            assert gw.request("GET", f"/u{i}").status == 200
            seen = upstream.requests[-1]
            assert seen.header("x-probe-line") == "hello"
            assert seen.header("x-probe-until") == "some data"
            assert seen.header("x-probe-reused") == str(i)
        assert srv.connections == 1
    finally:
        srv.close()


def test_auth_service_over_https(lua_gateway, upstream, tmp_path):
    import ssl
    from test_tls import make_ca, make_leaf
    ca = make_ca()
    crt, key = make_leaf(ca, ["localhost"]).write(tmp_path, "auth")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    svc = AuthService(tls=ctx)
    try:
        url = f"https://localhost:{svc.port}/check"
        # lua-resty-http verifies by default: the test CA is not trusted
        gw = lua_gateway(one_route(upstream, [plugin("remote-auth", {"url": url})]), workers=1)
        assert gw.request("GET", "/", headers=[("X-Token", "good-tls")]).status == 502
        assert gw.wait_stderr(r"auth service: 20: unable to get local issuer certificate")
        assert svc.count("good-tls") == 0
        gw.stop()
        gw = lua_gateway(one_route(upstream, [plugin("remote-auth", {"url": url, "ssl_verify": False})]), workers=1)
        for _ in range(2):
            r = gw.request("GET", "/", headers=[("X-Token", "good-tls")])
            assert r.status == 200
            assert upstream.requests[-1].header("x-authenticated-user") == "user-good-tls"
        assert svc.count("good-tls") == 1
        assert svc.calls[-1]["path"] == "/check?from=gateway"
    finally:
        svc.close()
