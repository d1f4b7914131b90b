"""Error answers (Kong's JSON shape) and malformed / ambiguous requests that
must be refused without ever reaching the upstream."""

import json
import socket
import time

import pytest

from conftest import (
    build_request, close_handler, close_mid_body_handler, config, free_port, reset_handler, route,
    service, slow_handler,
)

BAD_GATEWAY = "An invalid response was received from the upstream server"
TIMED_OUT = "The upstream server is timed out"
BAD_REQUEST = "Bad request"
TOO_LARGE = "Request header or cookie too large"


def assert_kong_error(resp, status, message):
    assert resp.status == status, resp
    ctype = (resp.header("Content-Type") or "").lower().replace(" ", "")
    assert ctype == "application/json;charset=utf-8", resp
    assert json.loads(resp.body) == {"message": message}, resp


# ---- upstream failures --------------------------------------------------------


def test_502_when_upstream_refuses(gateway_factory):
    dead = free_port()
    gw = gateway_factory(config(service("dead", dead, [route("r", ["/"])], retries=2, connect_timeout=2000)))
    t0 = time.monotonic()
    r = gw.request("GET", "/x")
    assert_kong_error(r, 502, BAD_GATEWAY)
    assert time.monotonic() - t0 < 5


def test_502_keeps_client_connection_usable(gateway_factory, upstream):
    dead = free_port()
    gw = gateway_factory(config(
        service("dead", dead, [route("rd", ["/dead"])], retries=0),
        service("live", upstream, [route("rl", ["/live"])]),
    ))
    with gw.conn() as c:
        assert_kong_error(c.request("GET", "/dead/1"), 502, BAD_GATEWAY)
        r = c.request("GET", "/live/1")
        assert r.status == 200 and r.json()["path"] == "/1"


def test_502_when_upstream_resets_before_response(gateway_factory, upstream_factory):
    u = upstream_factory(reset_handler)
    gw = gateway_factory(config(service("rst", u, [route("r", ["/"])], retries=0)))
    r = gw.request("GET", "/reset")
    assert_kong_error(r, 502, BAD_GATEWAY)
    assert len(u.requests) == 1


def test_502_when_upstream_closes_before_response(gateway_factory, upstream_factory):
    u = upstream_factory(close_handler)
    gw = gateway_factory(config(service("fin", u, [route("r", ["/"])], retries=0)))
    r = gw.request("GET", "/fin")
    assert_kong_error(r, 502, BAD_GATEWAY)


def test_502_when_upstream_sends_garbage(gateway_factory, upstream_factory):
    def garbage(conn, req):
        conn.send(b"this is not http\r\n\r\n")
        conn.close()
        return False

    u = upstream_factory(garbage)
    gw = gateway_factory(config(service("g", u, [route("r", ["/"])], retries=0)))
    assert_kong_error(gw.request("GET", "/g"), 502, BAD_GATEWAY)


def test_retries_on_reset_reach_a_working_connection(gateway_factory, upstream_factory):
    """First attempt is reset, the retry succeeds: the client sees 200 (GET is idempotent)."""
    state = {"n": 0}

    def flaky(conn, req):
        state["n"] += 1
        if state["n"] == 1:
            conn.reset()
            return False
        from conftest import echo_handler
        return echo_handler(conn, req)

    u = upstream_factory(flaky)
    gw = gateway_factory(config(service("flaky", u, [route("r", ["/"])], retries=2)), workers=1)
    r = gw.request("GET", "/retry-me", timeout=5)
    assert r.status == 200
    assert r.json()["path"] == "/retry-me"
    assert len(u.requests) == 2
    assert u.connections == 2


def test_504_on_read_timeout(gateway_factory, upstream_factory):
    u = upstream_factory(slow_handler(3.0))
    gw = gateway_factory(config(service("slow", u, [route("r", ["/"])], read_timeout=400, retries=0)))
    t0 = time.monotonic()
    r = gw.request("GET", "/slow")
    took = time.monotonic() - t0
    assert_kong_error(r, 504, TIMED_OUT)
    assert 0.3 < took < 2.5, took


def test_504_on_connect_timeout(gateway_factory):
    # A listening socket whose accept queue is full: SYNs are dropped, connect() hangs.
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(s)
        time.sleep(0.1)
        gw = gateway_factory(config(service("blackhole", port, [route("r", ["/"])], connect_timeout=300,
                                            retries=0)))
        t0 = time.monotonic()
        r = gw.request("GET", "/ct")
        took = time.monotonic() - t0
        assert_kong_error(r, 504, TIMED_OUT)
        assert took < 2.5, took
    finally:
        for s in fillers:
            s.close()
        ls.close()


def test_upstream_close_mid_body_content_length(gateway_factory, upstream_factory):
    u = upstream_factory(close_mid_body_handler(declared=200_000, sent=50_000))
    gw = gateway_factory(config(service("trunc", u, [route("r", ["/"])], retries=0)))
    with gw.conn(timeout=8) as c:
        c.send(build_request("GET", "/trunc"))
        t0 = time.monotonic()
        r = c.read_response(allow_partial=True)
        took = time.monotonic() - t0
        assert r.status == 200
        assert not r.complete, "the client must see a truncated body, not a complete one"
        assert len(r.body) <= 50_000
        assert c.eof, "the client connection must be closed"
        assert took < 5


def test_upstream_close_mid_body_chunked(gateway_factory, upstream_factory):
    u = upstream_factory(close_mid_body_handler(declared=100_000, sent=30_000, chunked=True))
    gw = gateway_factory(config(service("trunc", u, [route("r", ["/"])], retries=0)))
    with gw.conn(timeout=8) as c:
        c.send(build_request("GET", "/trunc"))
        r = c.read_response(allow_partial=True)
        assert r.status == 200
        assert not r.complete, "a truncated chunked body must not be terminated with a last chunk"
        assert c.eof


def test_gateway_survives_upstream_failures(gateway_factory, upstream_factory):
    bad = upstream_factory(close_mid_body_handler(declared=10_000, sent=10))
    good = upstream_factory()
    gw = gateway_factory(config(
        service("bad", bad, [route("rb", ["/bad"])], retries=0),
        service("good", good, [route("rg", ["/good"])]),
    ))
    for _ in range(5):
        with gw.conn(timeout=5) as c:
            c.send(build_request("GET", "/bad"))
            c.read_response(allow_partial=True)
    assert gw.request("GET", "/good/x").json()["path"] == "/x"
    assert gw.proc.poll() is None


# ---- malformed requests -----------------------------------------------------


def _send_raw_expect(gw, raw, status, message, upstream=None):
    with gw.conn(timeout=5) as c:
        try:
            c.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
        assert_kong_error(r, status, message)
        assert c.wait_closed(3), "connection must be closed after a malformed request"
    if upstream is not None:
        time.sleep(0.2)
        assert upstream.heads == [], f"upstream saw {[(h.method, h.target) for h in upstream.heads]}"
        assert upstream.requests == []
        assert bytes(upstream.raw) == b""
    return r


def test_malformed_request_line_400(echo_gateway):
    _send_raw_expect(echo_gateway, b"THIS IS NOT HTTP\r\n\r\n", 400, BAD_REQUEST, echo_gateway.upstream)


def test_missing_version_400(echo_gateway):
    _send_raw_expect(echo_gateway, b"GET /\r\nHost: x\r\n\r\n", 400, BAD_REQUEST, echo_gateway.upstream)


def test_header_without_colon_400(echo_gateway):
    _send_raw_expect(echo_gateway, b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400, BAD_REQUEST,
                     echo_gateway.upstream)


def test_space_before_colon_400(echo_gateway):
    _send_raw_expect(echo_gateway, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", 400,
                     BAD_REQUEST, echo_gateway.upstream)


def test_header_too_large_431(echo_gateway):
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    _send_raw_expect(echo_gateway, raw, 431, TOO_LARGE, echo_gateway.upstream)


def test_header_too_large_with_custom_limit_431(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])),
                         extra_args=["--max-header-size", "4096"])
    ok = gw.request("GET", "/", headers=[("X-Mid", "b" * 3000)])
    assert ok.status == 200
    raw = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"c" * 200) for i in range(30)) + b"\r\n"
    _send_raw_expect(gw, raw, 431, TOO_LARGE)
    assert len(upstream.requests) == 1


def test_unsupported_transfer_encoding_501(echo_gateway):
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"
    with echo_gateway.conn(timeout=5) as c:
        c.send(raw)
        r = c.read_response()
        assert_kong_error(r, 501, "Not implemented")
    time.sleep(0.2)
    assert echo_gateway.upstream.heads == []


# ---- smuggling ambiguities: 400 and never forwarded -------------------------


def test_smuggling_cl_and_te_400(echo_gateway):
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_smuggling_te_and_cl_order_swapped_400(echo_gateway):
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n")
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_smuggling_differing_content_lengths_400(echo_gateway):
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_smuggling_differing_content_length_list_400(echo_gateway):
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_invalid_content_length_400(echo_gateway):
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_identical_duplicate_content_length_accepted(echo_gateway):
    # RFC 9110 8.6: identical repeated values may be accepted as one.
    raw = b"POST /dup HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
    with echo_gateway.conn() as c:
        c.send(raw)
        r = c.read_response()
    assert r.status in (200, 400)
    if r.status == 200:
        assert r.json()["body_len"] == 5
        up = echo_gateway.upstream.requests[-1]
        assert up.headers_all("Content-Length") == ["5"]


def test_smuggling_chunked_not_last_400(echo_gateway):
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"
    with echo_gateway.conn(timeout=5) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status in (400, 501), r
        assert c.wait_closed(3)
    time.sleep(0.2)
    assert echo_gateway.upstream.heads == []


def test_bad_chunk_size_400_and_body_not_forwarded(echo_gateway):
    raw = (b"POST /bad-chunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"zz\r\nSMUGGLEDPAYLOAD\r\n0\r\n\r\n")
    with echo_gateway.conn(timeout=5) as c:
        c.send(raw)
        r = c.read_response()
        assert_kong_error(r, 400, BAD_REQUEST)
        assert c.wait_closed(3)
    time.sleep(0.3)
    up = echo_gateway.upstream
    assert up.requests == [], "a request with a bad chunk size must not reach the upstream complete"
    assert b"SMUGGLEDPAYLOAD" not in bytes(up.raw)


def test_chunk_size_overflow_400(echo_gateway):
    raw = (b"POST /overflow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"10000000000000001\r\nA\r\n0\r\n\r\n")
    with echo_gateway.conn(timeout=5) as c:
        c.send(raw)
        r = c.read_response()
        assert_kong_error(r, 400, BAD_REQUEST)
        assert c.wait_closed(3)
    time.sleep(0.2)
    assert echo_gateway.upstream.requests == []


def test_obs_fold_header_400(echo_gateway):
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: first\r\n  second\r\n\r\n"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_bare_lf_in_request_line_400(echo_gateway):
    raw = b"GET / HTTP/1.1\nHost: x\r\n\r\n"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_bare_lf_in_header_400(echo_gateway):
    raw = b"GET / HTTP/1.1\r\nHost: x\nX-Other: y\r\n\r\n"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_bare_cr_in_header_value_400(echo_gateway):
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Cr: a\rb\r\n\r\n"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_duplicate_host_400(echo_gateway):
    raw = b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


def test_http11_without_host_400(echo_gateway):
    raw = b"GET / HTTP/1.1\r\nX-No-Host: 1\r\n\r\n"
    _send_raw_expect(echo_gateway, raw, 400, BAD_REQUEST, echo_gateway.upstream)


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
])
def test_malformed_pipelined_request_after_good_one(echo_gateway, raw):
    with echo_gateway.conn(timeout=5) as c:
        c.send(raw)
        r1 = c.read_response()
        assert r1.status == 200
        r2 = c.read_response()
        assert_kong_error(r2, 400, BAD_REQUEST)
        assert c.wait_closed(3)
    assert len(echo_gateway.upstream.requests) == 1


def test_gateway_still_serves_after_malformed_requests(echo_gateway):
    bad = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",  # a TLS hello
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    ]
    for raw in bad:
        with echo_gateway.conn(timeout=5) as c:
            try:
                c.send(raw)
                r = c.read_response()
                assert 400 <= r.status < 600
            except (ConnectionResetError, BrokenPipeError):
                pass
            assert c.wait_closed(3)
    assert echo_gateway.request("GET", "/still-alive").status == 200
