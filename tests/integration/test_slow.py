"""Slow peers: a client that dribbles its request, upstreams that trickle answers."""

import select
import threading
import time

from conftest import (
    build_request, config, echo_handler, route, service, sha256, slow_handler, trickle_handler,
)


def test_slow_client_byte_by_byte_does_not_block_others(echo_gateway):
    gw = echo_gateway
    body = b"slow-body-0123456789"
    raw = build_request("POST", "/slowpoke", headers=[("X-Slow", "1")], body=body)
    result = {}

    def slow_client():
        try:
            with gw.conn(timeout=20) as c:
                t0 = time.monotonic()
                for i in range(len(raw)):
                    c.send(raw[i:i + 1])
                    time.sleep(0.015)
                result["send_time"] = time.monotonic() - t0
                result["resp"] = c.read_response("POST")
        except Exception as e:  # noqa: BLE001
            result["error"] = repr(e)

    t = threading.Thread(target=slow_client)
    t.start()
    time.sleep(0.2)
    # Meanwhile other clients are served promptly.
    latencies = []
    n_fast = 0
    while t.is_alive() and n_fast < 200:
        t0 = time.monotonic()
        r = gw.request("GET", f"/fast/{n_fast}", timeout=5)
        latencies.append(time.monotonic() - t0)
        assert r.status == 200
        assert r.json()["path"] == f"/fast/{n_fast}"
        n_fast += 1
        time.sleep(0.01)
    t.join(30)
    assert "error" not in result, result
    r = result["resp"]
    assert r.status == 200
    e = r.json()
    assert e["path"] == "/slowpoke"
    assert e["body_len"] == len(body) and e["body_sha256"] == sha256(body)
    assert result["send_time"] > 1.0  # it really was slow
    assert n_fast >= 10, "other clients should have been served while the slow one dribbled"
    assert max(latencies) < 1.0, f"a fast request took {max(latencies):.2f}s"


def test_many_slow_clients_at_once(echo_gateway):
    gw = echo_gateway
    results = []
    lock = threading.Lock()

    def slow(i):
        raw = build_request("GET", f"/many/{i}")
        try:
            with gw.conn(timeout=20) as c:
                for k in range(0, len(raw), 4):
                    c.send(raw[k:k + 4])
                    time.sleep(0.02)
                r = c.read_response()
                with lock:
                    results.append((i, r.status, r.json()["path"]))
        except Exception as e:  # noqa: BLE001
            with lock:
                results.append((i, "error", repr(e)))

    ts = [threading.Thread(target=slow, args=(i,)) for i in range(20)]
    for t in ts:
        t.start()
    # a normal request while 20 slow ones are in progress
    time.sleep(0.1)
    t0 = time.monotonic()
    assert gw.request("GET", "/normal", timeout=5).status == 200
    assert time.monotonic() - t0 < 1.0
    for t in ts:
        t.join(30)
    assert sorted(results) == sorted((i, 200, f"/many/{i}") for i in range(20))


def test_slow_body_upload(echo_gateway):
    body = bytes(range(256)) * 40
    with echo_gateway.conn(timeout=20) as c:
        c.send(f"PUT /slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for off in range(0, len(body), 1024):
            c.send(body[off:off + 1024])
            time.sleep(0.05)
        r = c.read_response("PUT")
    assert r.status == 200
    assert r.json()["body_sha256"] == sha256(body)


def test_client_timeout_closes_stalled_request(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])),
                         extra_args=["--client-timeout", "500"])
    with gw.conn(timeout=5) as c:
        c.send(b"GET /stall HTTP/1.1\r\nHost: x\r\n")  # head never finishes
        t0 = time.monotonic()
        assert c.wait_closed(4), "a stalled client must be dropped after --client-timeout"
        assert time.monotonic() - t0 < 3
    assert upstream.heads == []
    assert gw.request("GET", "/ok").status == 200


def test_trickled_head_gets_408_at_the_deadline(gateway_factory, upstream):
    # The whole head must arrive within --client-timeout of its first byte;
    # a header line every 200 ms does not keep the connection alive.
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])),
                         extra_args=["--client-timeout", "1000"])
    with gw.conn(timeout=10) as c:
        t0 = time.monotonic()
        c.send(b"GET /trickle HTTP/1.1\r\nHost: x\r\n")
        sent = 0
        answered = []
        while time.monotonic() - t0 < 5 and not answered:
            c.send(f"X-Line-{sent}: {sent}\r\n".encode())
            sent += 1
            answered, _, _ = select.select([c.sock], [], [], 0.2)
        took = time.monotonic() - t0
        r = c.read_response()
    assert r.status == 408, r.status
    assert r.json()["message"] == "Request timeout"
    assert 0.9 < took < 2.0, f"answered after {took:.2f}s"
    assert sent >= 4  # it kept trickling until the deadline
    assert upstream.heads == []
    assert gw.request("GET", "/ok").status == 200


def test_a_thousand_trickling_clients_are_all_cut_while_others_are_served(gateway_factory, upstream):
    import socket
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"])])),
                         extra_args=["--client-timeout", "1500"])
    socks = []
    for i in range(1000):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(f"GET /slow/{i} HTTP/1.1\r\nHost: x\r\n".encode())
        socks.append(s)
    t0 = time.monotonic()
    served = 0
    # Each slow client sends one more header line every 300 ms; normal
    # requests go on meanwhile.
    while time.monotonic() - t0 < 2.5:
        for s in socks:
            try:
                s.send(b"X-More: 1\r\n")
            except OSError:
                pass
        assert gw.request("GET", f"/normal/{served}", timeout=5).status == 200
        served += 1
        time.sleep(0.3)
    cut = 0
    for s in socks:
        s.settimeout(3)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        if data.startswith(b"HTTP/1.1 408"):
            cut += 1
        s.close()
    assert cut == len(socks), f"{cut} of {len(socks)} trickling clients got their 408"
    assert served >= 5


def test_slow_upstream_trickling_content_length(gateway_factory, upstream_factory):
    h = trickle_handler(pieces=20, piece_size=1024, interval=0.05)
    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    r = gw.request("GET", "/trickle", timeout=15)
    assert r.status == 200
    assert len(r.body) == 20 * 1024
    assert sha256(r.body) == r.header("X-Body-Sha256")


def test_slow_upstream_trickling_chunked(gateway_factory, upstream_factory):
    h = trickle_handler(pieces=15, piece_size=3000, interval=0.05, chunked=True)
    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    r = gw.request("GET", "/trickle-chunked", timeout=15)
    assert r.status == 200
    assert len(r.body) == 15 * 3000
    assert sha256(r.body) == r.header("X-Body-Sha256")


def test_trickle_is_streamed_not_buffered(gateway_factory, upstream_factory):
    """The first body bytes reach the client long before the upstream finishes."""
    h = trickle_handler(pieces=10, piece_size=500, interval=0.2)
    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])])))
    with gw.conn(timeout=10) as c:
        t0 = time.monotonic()
        c.send(build_request("GET", "/stream"))
        head = c.read_head()
        assert head.status == 200
        while len(c.buf) < 500:
            assert c._fill()
        first_bytes = time.monotonic() - t0
        while len(c.buf) < 5000:
            assert c._fill()
        total = time.monotonic() - t0
    assert first_bytes < 1.0, first_bytes
    assert total > 1.5
    assert total - first_bytes > 1.0


def test_read_timeout_is_between_reads_not_total(gateway_factory, upstream_factory):
    # 12 pieces, 150 ms apart: 1.8 s total, but never 400 ms of silence.
    h = trickle_handler(pieces=12, piece_size=100, interval=0.15)
    u = upstream_factory(h)
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])], read_timeout=400, retries=0)))
    r = gw.request("GET", "/between", timeout=15)
    assert r.status == 200
    assert sha256(r.body) == r.header("X-Body-Sha256")


def test_slow_upstream_does_not_block_fast_one(gateway_factory, upstream_factory):
    slow = upstream_factory(slow_handler(1.5))
    fast = upstream_factory()
    gw = gateway_factory(config(
        service("slow", slow, [route("rs", ["/slow"])]),
        service("fast", fast, [route("rf", ["/fast"])]),
    ), workers=1)
    out = {}

    def do_slow():
        out["slow"] = gw.request("GET", "/slow/x", timeout=10)

    t = threading.Thread(target=do_slow)
    t.start()
    assert slow.wait_requests(1, 3)
    t0 = time.monotonic()
    for i in range(5):
        assert gw.request("GET", f"/fast/{i}", timeout=5).status == 200
    assert time.monotonic() - t0 < 1.0
    t.join(10)
    assert out["slow"].status == 200
    assert out["slow"].json()["path"] == "/x"


def test_delayed_response_headers_within_timeout(gateway_factory, upstream_factory):
    u = upstream_factory(slow_handler(0.8, echo_handler))
    gw = gateway_factory(config(service("s", u, [route("r", ["/"])], read_timeout=3000)))
    r = gw.request("GET", "/delayed", timeout=10)
    assert r.status == 200
    assert r.json()["path"] == "/delayed"
