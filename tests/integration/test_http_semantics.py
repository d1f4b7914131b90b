"""HTTP/1.1 semantics through the proxy: keep-alive, pipelining, hop-by-hop
headers, X-Forwarded-*, bodiless responses, 100-continue, chunked and large bodies."""

import hashlib
import os
import socket
import threading
import time

from conftest import (
    HOST, ClientConn, build_request, config, echo_handler, fixed_handler, interim_handler,
    large_response_handler, pattern_bytes, route, service, sha256,
)


def up_headers(resp):
    return [(k.lower(), v) for k, v in resp.json()["headers"]]


def hvals(pairs, name):
    return [v for k, v in pairs if k == name.lower()]


# ---- keep-alive -------------------------------------------------------------


def test_downstream_keepalive_many_requests_one_connection(echo_gateway):
    with echo_gateway.conn() as c:
        for i in range(10):
            r = c.request("GET", f"/ka/{i}")
            assert r.status == 200
            assert r.json()["path"] == f"/ka/{i}"
            assert (r.header("Connection") or "").lower() != "close"
        assert not c.eof


def test_upstream_connection_is_reused(echo_gateway):
    up = echo_gateway.upstream
    with echo_gateway.conn() as c:
        ports = [c.request("GET", f"/reuse/{i}").json()["peer_port"] for i in range(6)]
    assert len(set(ports)) == 1, f"upstream client ports differ: {ports}"
    assert up.connections == 1


def test_upstream_connection_reused_across_client_connections(gateway_factory, upstream):
    # One worker so both client connections share one pool.
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])), workers=1)
    with gw.conn() as c:
        p1 = c.request("GET", "/a").json()["peer_port"]
    time.sleep(0.1)
    with gw.conn() as c:
        p2 = c.request("GET", "/b").json()["peer_port"]
    assert p1 == p2
    assert upstream.connections == 1


def test_upstream_keepalive_max_requests_bounds_a_connection(gateway_factory, upstream):
    # Kong's upstream_keepalive_max_requests: 3 requests per connection.
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])), workers=1,
                         extra_args=["--upstream-keepalive-max-requests", "3"])
    with gw.conn() as c:
        ports = [c.request("GET", f"/n/{i}").json()["peer_port"] for i in range(7)]
    assert ports[0] == ports[1] == ports[2]
    assert ports[3] == ports[4] == ports[5] != ports[0]
    assert ports[6] != ports[3]
    assert upstream.connections == 3


def test_upstream_keepalive_pool_size_zero_keeps_no_connection(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])), workers=1,
                         extra_args=["--upstream-keepalive-pool-size", "0"])
    with gw.conn() as c:
        for i in range(4):
            assert c.request("GET", f"/p/{i}").status == 200
    assert upstream.connections == 4


def test_upstream_keepalive_idle_timeout_closes_idle_connections(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])), workers=1,
                         extra_args=["--upstream-keepalive-idle-timeout", "1"])
    with gw.conn() as c:
        p1 = c.request("GET", "/a").json()["peer_port"]
        p2 = c.request("GET", "/b").json()["peer_port"]
        time.sleep(1.6)  # past the idle timeout (swept every 50 ms)
        p3 = c.request("GET", "/c").json()["peer_port"]
    assert p1 == p2 != p3
    assert upstream.connections == 2


def test_upstream_connection_close_is_honoured(gateway_factory, upstream_factory):
    def closing(conn, req):
        body = b"bye"
        conn.send_response(200, [("Connection", "close")], body)
        return False

    u = upstream_factory(closing)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn() as c:
        for _ in range(4):
            r = c.request("GET", "/x")
            assert r.status == 200 and r.body == b"bye"
    assert u.connections == 4


def test_stale_pooled_upstream_connection_is_not_a_failure(gateway_factory, upstream_factory):
    """The upstream closes its keep-alive connection while idle; the next request must still succeed."""

    def close_soon(conn, req):
        echo_handler(conn, req)
        # close after answering, without saying so: the pooled connection goes stale
        threading.Timer(0.1, conn.close).start()
        return True

    u = upstream_factory(close_soon)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn() as c:
        for i in range(3):
            r = c.request("GET", f"/stale/{i}")
            assert r.status == 200, r
            time.sleep(0.4)


def test_connection_close_from_client(echo_gateway):
    with echo_gateway.conn() as c:
        r = c.request("GET", "/bye", headers=[("Connection", "close")])
        assert r.status == 200
        assert "close" in (r.header("Connection") or "").lower()
        assert c.wait_closed(3)


def test_http10_client_without_keepalive_is_closed(echo_gateway):
    with echo_gateway.conn() as c:
        c.send(b"GET /old HTTP/1.0\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.json()["path"] == "/old"
        assert not r.chunked  # an HTTP/1.0 client cannot read chunked
        assert c.wait_closed(3)


# ---- pipelining -------------------------------------------------------------


def test_pipelined_requests_answered_in_order(echo_gateway):
    reqs = b"".join(build_request("GET", f"/pipe/{i}") for i in range(5))
    reqs += build_request("POST", "/pipe/post", body=b"abcdef")
    reqs += build_request("GET", "/pipe/last")
    with echo_gateway.conn() as c:
        c.send(reqs)
        paths = []
        for i in range(7):
            r = c.read_response()
            assert r.status == 200
            paths.append(r.json()["path"])
    assert paths == [f"/pipe/{i}" for i in range(5)] + ["/pipe/post", "/pipe/last"]


def test_pipelined_requests_with_slow_first_answer(gateway_factory, upstream_factory):
    def varied(conn, req):
        if req.target.startswith("/slow"):
            time.sleep(0.5)
        return echo_handler(conn, req)

    u = upstream_factory(varied)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"], strip_path=False)])))
    with gw.conn() as c:
        c.send(build_request("GET", "/slow") + build_request("GET", "/fast1") + build_request("GET", "/fast2"))
        got = [c.read_response().json()["path"] for _ in range(3)]
    assert got == ["/slow", "/fast1", "/fast2"]


def test_pipelined_request_after_404(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/ok"], strip_path=False)])))
    with gw.conn() as c:
        c.send(build_request("GET", "/missing") + build_request("GET", "/ok/1"))
        r1 = c.read_response()
        r2 = c.read_response()
    assert r1.status == 404
    assert r2.status == 200 and r2.json()["path"] == "/ok/1"


# ---- hop-by-hop -------------------------------------------------------------


def test_hop_by_hop_request_headers_removed(echo_gateway):
    r = echo_gateway.request("GET", "/hop", headers=[
        ("Connection", "keep-alive, X-Hop-One, x-hop-two"),
        ("X-Hop-One", "1"),
        ("X-Hop-Two", "2"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("X-End-To-End", "kept"),
    ])
    assert r.status == 200
    h = up_headers(r)
    names = {k for k, _ in h}
    assert "x-hop-one" not in names
    assert "x-hop-two" not in names
    assert "keep-alive" not in names
    assert "proxy-connection" not in names
    assert hvals(h, "x-end-to-end") == ["kept"]
    for v in hvals(h, "connection"):
        assert "x-hop" not in v.lower()


def test_hop_by_hop_response_headers_removed(gateway_factory, upstream_factory):
    u = upstream_factory(fixed_handler(200, [
        ("Connection", "X-Resp-Hop"),
        ("X-Resp-Hop", "secret"),
        ("Proxy-Connection", "keep-alive"),
        ("X-Resp-Kept", "yes"),
    ], b"body"))
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    r = gw.request("GET", "/")
    assert r.status == 200 and r.body == b"body"
    assert r.header("X-Resp-Hop") is None
    assert r.header("Proxy-Connection") is None
    assert r.header("X-Resp-Kept") == "yes"
    assert "x-resp-hop" not in (r.header("Connection") or "").lower()


# ---- X-Forwarded-* ----------------------------------------------------------


def test_x_forwarded_headers_set(echo_gateway):
    r = echo_gateway.request("GET", "/fwd/path?q=1", host="api.example.com:8443")
    h = up_headers(r)
    assert hvals(h, "x-forwarded-for") == ["127.0.0.1"]
    assert hvals(h, "x-real-ip") == ["127.0.0.1"]
    assert hvals(h, "x-forwarded-proto") == ["http"]
    assert hvals(h, "x-forwarded-host") == ["api.example.com"]
    assert hvals(h, "x-forwarded-port") == [str(echo_gateway.port)]
    assert hvals(h, "x-forwarded-path") == ["/fwd/path"]


def test_x_forwarded_for_appended_to_incoming(echo_gateway):
    r = echo_gateway.request("GET", "/xff", headers=[("X-Forwarded-For", "203.0.113.7, 198.51.100.2")])
    h = up_headers(r)
    assert hvals(h, "x-forwarded-for") == ["203.0.113.7, 198.51.100.2, 127.0.0.1"]
    assert hvals(h, "x-real-ip") == ["127.0.0.1"]


def test_untrusted_forwarded_headers_overwritten(echo_gateway):
    # No trusted_ips: the client's own X-Forwarded-Proto/Host/Port/X-Real-IP are replaced.
    r = echo_gateway.request("GET", "/spoof", host="real.example", headers=[
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Port", "1"),
        ("X-Real-IP", "10.9.9.9"),
    ])
    h = up_headers(r)
    assert hvals(h, "x-forwarded-proto") == ["http"]
    assert hvals(h, "x-forwarded-host") == ["real.example"]
    assert hvals(h, "x-forwarded-port") == [str(echo_gateway.port)]
    assert hvals(h, "x-real-ip") == ["127.0.0.1"]


def test_x_forwarded_path_is_original_path_with_strip(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/api"])], path="/svc")))
    r = gw.request("GET", "/api/orig?z=9")
    assert r.json()["path"] == "/svc/orig?z=9"
    assert hvals(up_headers(r), "x-forwarded-path") == ["/api/orig"]


# ---- bodiless responses -----------------------------------------------------


def test_head_response_has_no_body(echo_gateway):
    with echo_gateway.conn() as c:
        c.send(build_request("HEAD", "/head"))
        r = c.read_response("HEAD")
        assert r.status == 200
        # the next response must start right after the HEAD head
        r2 = c.request("GET", "/after-head")
        assert r2.status == 200 and r2.json()["path"] == "/after-head"
    assert [q.method for q in echo_gateway.upstream.requests] == ["HEAD", "GET"]


def test_head_keeps_content_length(gateway_factory, upstream_factory):
    u = upstream_factory(fixed_handler(200, [("X-K", "v")], b"x" * 1234))
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn() as c:
        c.send(build_request("HEAD", "/"))
        r = c.read_response("HEAD")
        assert r.status == 200
        assert r.header("Content-Length") == "1234"
        c.send(build_request("GET", "/"))
        r2 = c.read_response()
        assert r2.body == b"x" * 1234


def _no_body_status(status):
    def h(conn, req):
        extra = [("ETag", '"abc"')] if status == 304 else []
        conn.send(f"HTTP/1.1 {status} X\r\n".encode()
                  + b"".join(f"{k}: {v}\r\n".encode() for k, v in extra) + b"\r\n")
        return True
    return h


def test_204_without_body(gateway_factory, upstream_factory):
    u = upstream_factory(_no_body_status(204))
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn() as c:
        c.send(build_request("DELETE", "/thing/1") + build_request("DELETE", "/thing/2"))
        for _ in range(2):
            r = c.read_response()
            assert r.status == 204
            assert r.header("Transfer-Encoding") is None
            assert r.header("Content-Length") in (None, "0")
        # nothing extra on the wire
        c.sock.settimeout(0.3)
        try:
            extra = c.sock.recv(100)
        except socket.timeout:
            extra = b""
        assert extra == b""


def test_304_without_body(gateway_factory, upstream_factory):
    u = upstream_factory(_no_body_status(304))
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn() as c:
        for _ in range(2):
            r = c.request("GET", "/cached", headers=[("If-None-Match", '"abc"')])
            assert r.status == 304
            assert r.header("ETag") == '"abc"'
            assert r.header("Transfer-Encoding") is None
        c.sock.settimeout(0.3)
        try:
            extra = c.sock.recv(100)
        except socket.timeout:
            extra = b""
        assert extra == b""


def test_304_with_content_length_has_no_body(gateway_factory, upstream_factory):
    def h(conn, req):
        conn.send(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n")
        return True

    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn() as c:
        r1 = c.request("GET", "/a")
        r2 = c.request("GET", "/b")  # would hang if the gateway waited for 42 bytes
    assert r1.status == 304 and r2.status == 304


def test_upstream_1xx_then_final(gateway_factory, upstream_factory):
    u = upstream_factory(interim_handler((103,)))
    gw = gateway_factory(config(service("s", u, [route("r", ["/"], strip_path=False)])))
    with gw.conn() as c:
        r = c.request("GET", "/early")
        assert r.status == 200
        assert r.json()["path"] == "/early"
        for i in r.interim:
            assert 100 <= i.status < 200
        r2 = c.request("GET", "/again")
        assert r2.status == 200 and r2.json()["path"] == "/again"


# ---- Expect: 100-continue ---------------------------------------------------


def test_expect_100_continue(echo_gateway):
    body = b"z" * 5000
    with echo_gateway.conn(timeout=5) as c:
        head = (f"POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                f"Expect: 100-continue\r\n\r\n").encode()
        c.send(head)
        interim = c.read_head()
        assert interim is not None
        assert interim.status == 100, interim
        assert interim.version == "HTTP/1.1"
        c.send(body)
        r = c.read_response("POST")
        assert r.status == 200
        assert r.json()["body_len"] == len(body)
        assert r.json()["body_sha256"] == sha256(body)


def test_expect_100_continue_not_sent_for_http10(echo_gateway):
    body = b"q" * 100
    with echo_gateway.conn(timeout=5) as c:
        c.send(f"POST /e10 HTTP/1.0\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
               f"Expect: 100-continue\r\n\r\n".encode() + body)
        r = c.read_response("POST")
        assert r.status == 200
        assert r.interim == []
        assert r.json()["body_len"] == 100


# ---- chunked bodies ---------------------------------------------------------


def test_chunked_request_body(echo_gateway):
    pieces = [b"hello ", b"chunked ", b"world" * 100]
    raw = (b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in pieces)
           + b"0\r\nX-Trailer: t\r\n\r\n")
    with echo_gateway.conn() as c:
        c.send(raw)
        r = c.read_response("POST")
        assert r.status == 200
        body = b"".join(pieces)
        assert r.json()["body_len"] == len(body)
        assert r.json()["body_sha256"] == sha256(body)
        # the connection stays usable after the chunked body
        assert c.request("GET", "/next").json()["path"] == "/next"


def test_chunked_request_sent_in_pieces(echo_gateway):
    body = pattern_bytes(200_000, seed=5)
    with echo_gateway.conn() as c:
        c.send(b"PUT /pieces HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for off in range(0, len(body), 50_000):
            p = body[off:off + 50_000]
            c.send(f"{len(p):X}\r\n".encode())
            time.sleep(0.01)
            c.send(p + b"\r\n")
        c.send(b"0\r\n\r\n")
        r = c.read_response("PUT")
    assert r.status == 200
    assert r.json()["body_sha256"] == sha256(body)


def test_chunked_response_body(gateway_factory, upstream_factory):
    h = large_response_handler(300_000, chunked=True, piece=7000)
    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn() as c:
        r = c.request("GET", "/chunked-resp")
        assert r.status == 200
        assert sha256(r.body) == h.digest
        r2 = c.request("GET", "/chunked-resp2")
        assert sha256(r2.body) == h.digest


def test_response_delimited_by_close(gateway_factory, upstream_factory):
    payload = pattern_bytes(100_000, seed=9)

    def h(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nX-Eof: 1\r\n\r\n" + payload)
        conn.close()
        return False

    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn() as c:
        c.send(build_request("GET", "/eof"))
        r = c.read_response()
        assert r.status == 200
        assert r.complete
        assert r.body == payload


# ---- large bodies -----------------------------------------------------------


def test_large_upload_content_length(echo_gateway):
    body = os.urandom(3 * 1024 * 1024 + 17)
    r = echo_gateway.request("POST", "/upload", body=body, timeout=30)
    assert r.status == 200
    assert r.json()["body_len"] == len(body)
    assert r.json()["body_sha256"] == sha256(body)


def test_large_upload_chunked(echo_gateway):
    body = os.urandom(2 * 1024 * 1024 + 5)
    with echo_gateway.conn(timeout=30) as c:
        c.send(b"POST /up-chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for off in range(0, len(body), 65536):
            p = body[off:off + 65536]
            c.send(f"{len(p):x}\r\n".encode() + p + b"\r\n")
        c.send(b"0\r\n\r\n")
        r = c.read_response("POST")
    assert r.status == 200
    assert r.json()["body_len"] == len(body)
    assert r.json()["body_sha256"] == sha256(body)


def test_large_download_content_length(gateway_factory, upstream_factory):
    h = large_response_handler(4 * 1024 * 1024 + 3)
    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn(timeout=30) as c:
        r = c.request("GET", "/big")
        assert r.status == 200
        assert r.header("Content-Length") == str(len(h.data)) or r.chunked
        assert len(r.body) == len(h.data)
        assert sha256(r.body) == h.digest
        r2 = c.request("GET", "/big2")
        assert sha256(r2.body) == h.digest


def test_large_download_chunked(gateway_factory, upstream_factory):
    h = large_response_handler(2 * 1024 * 1024, chunked=True)
    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    r = gw.request("GET", "/bigc", timeout=30)
    assert r.status == 200
    assert sha256(r.body) == h.digest


def test_large_bodies_both_ways_concurrently(echo_gateway):
    """Several clients upload 1 MiB+ bodies at the same time; each gets its own hash back."""
    results = {}
    errors = []

    def worker(i):
        try:
            body = pattern_bytes(1024 * 1024 + i * 1000, seed=100 + i)
            r = echo_gateway.request("POST", f"/par/{i}", body=body, timeout=30)
            results[i] = (r.json()["body_sha256"], sha256(body), r.json()["path"])
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors
    assert len(results) == 6
    for i, (got, want, path) in results.items():
        assert got == want
        assert path == f"/par/{i}"


def test_streaming_64mib_chunked_upload_bounded_memory(echo_gateway):
    """A 64 MiB chunked upload streams through without the gateway buffering it."""
    gw = echo_gateway
    # warm up buffers
    gw.request("POST", "/warm", body=os.urandom(1 << 20), timeout=30)
    base = gw.rss_kib()
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], gw.rss_kib())
            except OSError:
                return
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    total = 64 << 20
    try:
        with gw.conn(timeout=60) as c:
            c.send(b"POST /stream64 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            sent = 0
            deadline = time.monotonic() + 60
            while sent < total and time.monotonic() < deadline:
                for off in range(0, len(block), 256 * 1024):
                    p = block[off:off + 256 * 1024]
                    c.send(f"{len(p):x}\r\n".encode() + p + b"\r\n")
                    digest.update(p)
                sent += len(block)
            c.send(b"0\r\n\r\n")
            r = c.read_response("POST")
    finally:
        stop.set()
        t.join(2)
    assert sent == total
    assert r.status == 200
    assert r.json()["body_len"] == total
    assert r.json()["body_sha256"] == digest.hexdigest()
    growth_mib = (peak[0] - base) / 1024
    assert growth_mib < 32, f"RSS grew by {growth_mib:.1f} MiB during a 64 MiB upload"


def test_streaming_64mib_download_with_slow_reader_bounded_memory(gateway_factory, upstream_factory):
    """The upstream pushes 64 MiB as fast as it can while the client stalls: backpressure, no buffering."""
    block = os.urandom(1 << 20)
    total = 64 << 20

    def h(conn, req):
        conn.send(f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode())
        for _ in range(total // len(block)):
            conn.send(block)
        return True

    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    gw.request("GET", "/warm-404-free", timeout=30)  # warm up (reads 64 MiB)
    base = gw.rss_kib()
    with ClientConn(gw.port, timeout=60) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        c.send(build_request("GET", "/dl"))
        head = c.read_head()
        assert head.status == 200
        time.sleep(1.0)  # stall: the upstream keeps pushing
        peak = gw.rss_kib()
        got = len(c.buf)
        h2 = hashlib.sha256()
        h2.update(bytes(c.buf))
        c.buf.clear()
        deadline = time.monotonic() + 60
        while got < total and time.monotonic() < deadline:
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
            h2.update(chunk)
            if got % (8 << 20) < len(chunk):
                peak = max(peak, gw.rss_kib())
    assert got == total
    assert h2.hexdigest() == hashlib.sha256(block * (total // len(block))).hexdigest()
    growth_mib = (peak - base) / 1024
    assert growth_mib < 32, f"RSS grew by {growth_mib:.1f} MiB while the client stalled"


def test_expect_100_continue_no_route_answers_without_body(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/only"])])))
    with gw.conn(timeout=5) as c:
        c.send(b"POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        # The final answer must come without the client ever sending the body.
        r = c.read_response("POST")
        assert r.status == 404
    assert upstream.heads == []


def test_upstream_response_with_cl_and_te_is_not_passed_ambiguous(gateway_factory, upstream_factory):
    def ambiguous(conn, req):
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n")
        return True

    u = upstream_factory(ambiguous)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])], retries=0)))
    with gw.conn(timeout=5) as c:
        c.send(build_request("GET", "/amb"))
        r = c.read_response()  # raises if the gateway relays both framing headers
    assert r.status in (200, 502), r
    if r.status == 200:
        assert r.body == b"hello"  # Transfer-Encoding wins (RFC 9112 6.3)


def test_idle_keepalive_connection_closed_after_keepalive_timeout(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])),
                         extra_args=["--keepalive-timeout", "300"])
    with gw.conn(timeout=5) as c:
        assert c.request("GET", "/first").status == 200
        t0 = time.monotonic()
        assert c.wait_closed(4), "idle keep-alive connection must be closed after --keepalive-timeout"
        took = time.monotonic() - t0
        assert c.buf == b"", f"no bytes expected on an idle close, got {bytes(c.buf)!r}"
    assert 0.2 <= took < 3, took


def test_many_concurrent_clients(echo_gateway):
    errors = []
    counts = [0] * 40

    def worker(i):
        try:
            with echo_gateway.conn(timeout=10) as c:
                for k in range(10):
                    r = c.request("POST", f"/cc/{i}/{k}", body=f"{i}-{k}".encode())
                    assert r.status == 200
                    e = r.json()
                    assert e["path"] == f"/cc/{i}/{k}"
                    assert e["body_sha256"] == sha256(f"{i}-{k}".encode())
                    counts[i] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"{i}: {e!r}")

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert errors == []
    assert sum(counts) == 400
