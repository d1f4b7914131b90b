"""Proxy-Wasm conformance: the same filter, written once per SDK (filters/CONFORMANCE.md),
built during the build from SDKs we did not write (AssemblyScript proxy-runtime, the Go
SDK, the Rust crate) and from ours (C, C++), run through the real gateway.

Each test is parametrized over the SDKs, so a feature one SDK gets wrong shows up as one
failing parameter.
"""
import concurrent.futures
import json
import pathlib
import re
import time
import urllib.request

import pytest

from conftest import (config, fixed_handler, free_port, pattern_bytes, route, service, sha256, wait_until)

SDKS = ["c", "cpp", "as", "go", "rust"]


@pytest.fixture(scope="session")
def filters_dir(wasmgate_bin):
    return pathlib.Path(wasmgate_bin).parent / "filters"


def filter_name(sdk):
    return f"conf_{sdk}"


def chain(*filters):
    return [{"name": "c", "filters": [{"name": n, "config": cfg} for n, cfg in filters]}]


@pytest.fixture
def conf_gateway(gateway_factory, filters_dir, wasm_cache):
    """gw(sdk, upstream, tags=("A",), workers=1, extra=()) -> a gateway whose route `/`
    runs the SDK's conformance filter once per tag."""
    def make(sdk, upstream, tags=("A",), workers=1, extra=(), services=()):
        wasm = filters_dir / f"{filter_name(sdk)}.wasm"
        assert wasm.exists(), f"{wasm} was not built"
        r_ = route("r", ["/"], strip_path=False, filter_chains=chain(*[(filter_name(sdk), t) for t in tags]))
        cfg = config(service("s", upstream, [r_]), *services)
        args = ["--filters-dir", str(filters_dir), "--wasm-cache-dir", str(wasm_cache), *extra]
        return gateway_factory(cfg, extra_args=args, workers=workers)
    return make


def get(gw, path="/", test=None, headers=(), method="GET", body=b""):
    hs = list(headers)
    if test:
        hs.append(("x-test", test))
    with gw.conn() as c:
        return c.request(method, path, headers=hs, body=body)


@pytest.mark.parametrize("sdk", SDKS)
def test_chain_of_three_runs_in_order(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, tags=("A", "B", "C"))
    resp = get(gw)
    assert resp.status == 200
    assert upstream.requests[-1].headers_all("x-chain") == ["A", "B", "C"]
    assert resp.headers_all("x-chain-resp") == ["A", "B", "C"]


@pytest.mark.parametrize("sdk", SDKS)
def test_request_and_response_headers(conf_gateway, upstream_factory, sdk):
    up = upstream_factory(fixed_handler(200, [("x-resp-replace", "orig"), ("x-resp-remove", "bye"),
                                              ("Content-Length", "2")], b"ok"))
    gw = conf_gateway(sdk, up)
    resp = get(gw, test="headers", headers=[("x-replace-me", "old"), ("x-remove-me", "1"), ("x-read-me", "hello")])
    assert resp.status == 200
    seen = up.requests[-1]
    assert seen.header("x-added") == "yes"
    assert seen.header("x-replace-me") == "replaced"
    assert seen.header("x-remove-me") is None
    assert resp.header("x-read-was") == "hello"
    assert resp.header("x-resp-replace") == "replaced"
    assert resp.header("x-resp-remove") is None
    assert resp.body == b"ok"


@pytest.mark.parametrize("size", [11, 3 << 20])
@pytest.mark.parametrize("sdk", SDKS)
def test_request_body_rewritten(conf_gateway, upstream, sdk, size):
    gw = conf_gateway(sdk, upstream, tags=("T",))
    body = pattern_bytes(size, seed=3)
    resp = get(gw, "/upload", test="req-body", method="POST", body=body)
    assert resp.status == 200, resp.body[:200]
    expected = b"T|" + body + b"|T"
    seen = upstream.requests[-1]
    assert seen.body_len == len(expected)
    assert seen.body_sha256 == sha256(expected)


@pytest.mark.parametrize("sdk", SDKS)
def test_chunked_request_body_rewritten(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, tags=("T",))
    body = pattern_bytes(200000, seed=4)
    with gw.conn() as c:
        head = ("POST /up HTTP/1.1\r\nHost: t\r\nx-test: req-body\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        c.send(head)
        for i in range(0, len(body), 65536):
            piece = body[i:i + 65536]
            c.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        c.send(b"0\r\n\r\n")
        resp = c.read_response()
    assert resp.status == 200
    expected = b"T|" + body + b"|T"
    assert upstream.requests[-1].body_sha256 == sha256(expected)


@pytest.mark.parametrize("size", [5, 2 << 20])
@pytest.mark.parametrize("sdk", SDKS)
def test_response_body_rewritten(conf_gateway, upstream_factory, sdk, size):
    payload = pattern_bytes(size, seed=5)
    up = upstream_factory(fixed_handler(200, [("Content-Length", str(size))], payload))
    gw = conf_gateway(sdk, up, tags=("R",))
    with gw.conn() as c:
        resp = c.request("GET", "/dl", headers=[("x-test", "resp-body")])
        assert resp.status == 200
        assert resp.body == b"R|" + payload + b"|R"
        # the connection stays usable after a rewritten body
        assert c.request("GET", "/again").status == 200


@pytest.mark.parametrize("sdk", SDKS)
def test_local_response_from_request_headers(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, tags=("L",))
    with gw.conn() as c:
        resp = c.request("GET", "/deny", headers=[("x-test", "local-req")])
        assert resp.status == 403
        assert resp.body == b"local:L"
        assert resp.header("x-local") == "L"
        # As in Envoy, the answer goes through the filter's response headers
        # callback (the Rust SDK's http_headers example logs its own reply).
        assert resp.headers_all("x-chain-resp") == ["L"]
        assert c.request("GET", "/fine").status == 200
    assert all(r.target != "/deny" for r in upstream.requests)


@pytest.mark.parametrize("sdk", SDKS)
def test_local_response_from_response_headers(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, tags=("L",))
    with gw.conn() as c:
        resp = c.request("GET", "/late", headers=[("x-test", "local-resp")])
        assert resp.status == 451
        assert resp.body == b"late:L"
        assert resp.header("x-local-late") == "L"
        # Given while the upstream's response was being filtered: sent as it
        # is (Envoy sends such a reply directly), not filtered again.
        assert resp.header("x-chain-resp") is None
        assert c.request("GET", "/fine").status == 200
    assert any(r.target == "/late" for r in upstream.requests)


def callout_upstream(upstream_factory, status=201, body=b"callout-body", delay=0.0):
    def h(conn, req):
        if delay:
            time.sleep(delay)
        conn.send_response(status, [("Content-Length", str(len(body)))], body)
        return True
    return upstream_factory(h)


@pytest.mark.parametrize("sdk", SDKS)
def test_http_call_pauses_and_resumes(conf_gateway, upstream, upstream_factory, sdk):
    callout = callout_upstream(upstream_factory)
    gw = conf_gateway(sdk, upstream)
    resp = get(gw, "/p", test="http-call", headers=[("x-call-target", f"127.0.0.1:{callout.port}")])
    assert resp.status == 200
    seen = upstream.requests[-1]
    assert seen.header("x-call-status") == "201"
    assert seen.header("x-call-body") == "callout-body"
    call = callout.requests[-1]
    assert call.target == "/callout"
    assert call.header("host") == "callout.local"


def test_http_call_answer_with_trailers(conf_gateway, upstream, upstream_factory):
    # (C filter only.) A chunked callout answer: the body comes de-chunked and
    # its trailers are map 7 (PW_HTTP_CALL_RESPONSE_TRAILERS).
    def h(conn, req):
        conn.send_response(200, body=b"chunked-callout", chunked=True, trailers=[("x-call-t", "tv"), ("x-other", "1")])
        return True
    callout = upstream_factory(h)
    gw = conf_gateway("c", upstream)
    resp = get(gw, "/p", test="http-call", headers=[("x-call-target", f"127.0.0.1:{callout.port}")])
    assert resp.status == 200
    seen = upstream.requests[-1]
    assert seen.header("x-call-body") == "chunked-callout"
    assert seen.header("x-call-trailer") == "tv"


@pytest.mark.parametrize("sdk", SDKS)
def test_http_call_to_a_service_by_name(conf_gateway, upstream, upstream_factory, sdk):
    callout = callout_upstream(upstream_factory, status=202, body=b"named")
    extra = service("callout-svc", callout, [])
    gw = conf_gateway(sdk, upstream, services=(extra,))
    resp = get(gw, "/p", test="http-call", headers=[("x-call-target", "callout-svc")])
    assert resp.status == 200
    assert upstream.requests[-1].header("x-call-status") == "202"
    assert upstream.requests[-1].header("x-call-body") == "named"


@pytest.mark.parametrize("sdk", SDKS)
def test_http_call_to_nothing_reports_failure(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream)
    resp = get(gw, "/p", test="http-call", headers=[("x-call-target", f"127.0.0.1:{free_port()}")])
    assert resp.status == 200
    assert upstream.requests[-1].header("x-call-status") == "failed"
    if sdk == "c":  # proxy_get_status after the failure, as Envoy answers it
        assert upstream.requests[-1].header("x-call-get-status") == "11 reset"


@pytest.mark.parametrize("sdk", ["c", "cpp"])
def test_two_parallel_http_calls(conf_gateway, upstream, upstream_factory, sdk):
    callout = callout_upstream(upstream_factory, delay=1.0)
    gw = conf_gateway(sdk, upstream)
    started = time.monotonic()
    resp = get(gw, "/p", test="http-call2", headers=[("x-call-target", f"127.0.0.1:{callout.port}")])
    elapsed = time.monotonic() - started
    assert resp.status == 200
    seen = upstream.requests[-1]
    assert seen.header("x-call-status-1") == "201"
    assert seen.header("x-call-status-2") == "201"
    assert sorted(r.target for r in callout.requests) == ["/callout/1", "/callout/2"]
    assert elapsed < 1.9, f"calls ran one after the other ({elapsed:.2f}s)"  # in turn: >= 2 s


@pytest.mark.parametrize("sdk", SDKS)
def test_shared_data_cas_across_two_workers(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, workers=2)

    def one(_):
        return int(get(gw, test="shared").header("x-counter"))

    # The first write creates the key with cas 0, which never conflicts (the
    # ABI's rule): create it before the race.
    assert one(0) == 1
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        values = list(pool.map(one, range(40)))
    # Every increment won its CAS exactly once: no value seen twice, none lost.
    assert sorted(values) == list(range(2, 42))


@pytest.mark.parametrize("sdk", SDKS)
def test_queue_delivers_to_on_queue_ready(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, workers=2)
    assert get(gw, "/q/one", test="queue").status == 200
    assert get(gw, "/q/two", test="queue").status == 200

    def stat():
        r = get(gw, test="queue-stat")
        return r.header("x-dequeued"), r.header("x-last-dequeued")

    assert wait_until(lambda: stat()[0] == "2", 5), stat()
    assert stat()[1] == "/q/two"


@pytest.mark.parametrize("sdk", SDKS)
def test_ticks_run_without_requests(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, tags=("tick",))
    assert wait_until(lambda: int(get(gw, test="tick-stat").header("x-ticks")) >= 3, 5)  # 100 ms period
    n = int(get(gw, test="tick-stat").header("x-ticks"))
    time.sleep(0.3)
    assert int(get(gw, test="tick-stat").header("x-ticks")) > n


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.status == 200
        return r.read().decode()


def sample(text, name):
    m = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


@pytest.mark.parametrize("sdk", SDKS)
def test_metrics_on_the_admin_listener(conf_gateway, upstream, sdk):
    admin = free_port()
    gw = conf_gateway(sdk, upstream, workers=2, extra=["--admin-listen", f"127.0.0.1:{admin}"])
    for _ in range(5):
        assert get(gw).status == 200
    assert get(gw, test="metrics").status == 200
    text = scrape(admin)
    fam = f"wasm_filter_conf_{sdk}_"
    assert sample(text, fam + "requests_total") == 6, text
    assert sample(text, fam + "gauge") == 42
    assert sample(text, fam + "histogram_count") == 1
    assert sample(text, fam + "histogram_sum") == 7
    assert f"# TYPE {fam}requests_total counter" in text
    # the gateway's own per-filter counters (workers hand them over every
    # few milliseconds, so they may lag the requests a little)
    deadline = time.time() + 5
    while True:
        calls = sample(scrape(admin), f'wasmgate_filter_calls_total{{filter="conf_{sdk}"}}')
        if (calls is not None and calls >= 12) or time.time() > deadline:
            break
        time.sleep(0.05)
    assert calls is not None and calls >= 12


@pytest.mark.parametrize("sdk", SDKS)
def test_properties(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, tags=("P",))
    resp = get(gw, "/props?x=1", test="properties", method="PUT")
    assert resp.status == 200
    assert resp.header("x-prop-path") == "/props?x=1"
    assert resp.header("x-prop-method") == "PUT"
    assert resp.header("x-prop-plugin-name") == f"conf_{sdk}"
    src = resp.header("x-prop-source")
    assert re.fullmatch(r"127\.0\.0\.1:\d+", src) and not src.endswith(":0"), src
    assert resp.header("x-prop-note") == "note-P"


@pytest.mark.parametrize("sdk", SDKS)
def test_log_levels(conf_gateway, upstream, sdk):
    gw = conf_gateway(sdk, upstream, tags=("LG",), extra=["--log-level", "info"])
    assert get(gw, test="log").status == 200
    assert upstream.requests[-1].header("x-log-level") == "2"  # info
    assert gw.wait_stderr(f"conformance critical LG", 5)
    text = gw.stderr_text()
    for level in ("info", "warn", "error", "critical"):
        assert f"conformance {level} LG" in text, level
    for level in ("trace", "debug"):
        assert f"conformance {level} LG" not in text, level


@pytest.mark.parametrize("what", ["trap", "loop", "hog"])
@pytest.mark.parametrize("sdk", SDKS)
def test_bad_filter_fails_only_its_own_request(conf_gateway, upstream, sdk, what):
    gw = conf_gateway(sdk, upstream, workers=2, extra=["--wasm-memory", "32"])

    def good(i):
        return get(gw, f"/fine/{i}").status

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        goods = [pool.submit(good, i) for i in range(24)]
        bad = get(gw, "/bad", test=what)
        assert [g.result() for g in goods] == [200] * 24
    assert bad.status == 500
    assert f"filter conf_{sdk} failed this request" in gw.stderr_text()
    for i in range(3):
        r = get(gw, f"/after/{i}")
        assert r.status == 200 and r.header("x-chain-resp") == "A"
    assert gw.proc.poll() is None


def test_foreign_functions(conf_gateway, upstream):
    # (C filter only: the row is not in every SDK.)
    gw = conf_gateway("c", upstream)
    assert get(gw, test="foreign").status == 200
    seen = upstream.requests[-1]
    assert seen.header("x-foreign") == "hello hello hello hello"
    assert seen.header("x-foreign-missing") == "1"  # NotFound


def test_request_resumed_from_a_tick(conf_gateway, upstream):
    # (C filter only.) The root holds the request and resumes it from on_tick
    # through proxy_set_effective_context, as the Go SDK's postpone_requests.
    gw = conf_gateway("c", upstream, tags=("tick-p",))
    started = time.monotonic()
    resp = get(gw, test="postpone")
    assert resp.status == 200, resp
    assert upstream.requests[-1].header("x-postponed") == "tick-p"
    assert time.monotonic() - started < 2  # the next tick (100 ms), not a timeout


@pytest.mark.parametrize("isolation,expected", [
    # one instance per module: both filters of the chain count in it, requests keep counting
    ("none", [["1", "2"], ["3", "4"]]),
    # one instance per filter configuration: A and B count apart
    ("filter", [["1", "1"], ["2", "2"]]),
    # a fresh instance per request (and per filter: each gets its own)
    ("stream", [["1", "1"], ["1", "1"]]),
])
def test_isolation_modes(conf_gateway, upstream, isolation, expected):
    gw = conf_gateway("c", upstream, tags=("A", "B"), extra=["--wasm-isolation", isolation])
    seen = [get(gw, test="vm-state").headers_all("x-vm-requests") for _ in range(2)]
    assert seen == expected


# The Go SDK exports body callbacks even when the filter does not care, so
# bodies go through the chain and come out in pieces: re-framed chunked for
# HTTP/1.1, close-delimited for an HTTP/1.0 client.
@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_streamed_response_body_through_the_chain(conf_gateway, upstream_factory, version):
    from conftest import large_response_handler
    up = upstream_factory(large_response_handler(3 << 20))
    gw = conf_gateway("go", up)
    with gw.conn() as c:
        c.send(f"GET /big HTTP/{version}\r\nHost: t\r\n\r\n".encode())
        resp = c.read_response()
    assert resp.status == 200
    assert len(resp.body) == 3 << 20
    assert sha256(resp.body) == resp.header("x-body-sha256")
    if version == "1.1":
        assert resp.header("transfer-encoding") == "chunked"
    else:
        assert resp.header("connection") == "close"


def test_streamed_request_body_through_the_chain(conf_gateway, upstream):
    gw = conf_gateway("go", upstream)
    body = pattern_bytes(3 << 20, seed=9)
    resp = get(gw, "/up", method="POST", body=body)
    assert resp.status == 200
    seen = upstream.requests[-1]
    assert seen.body_len == len(body) and seen.body_sha256 == sha256(body)


def test_request_body_with_expect_continue(conf_gateway, upstream):
    gw = conf_gateway("c", upstream, tags=("E",))
    body = b"x" * 1000
    with gw.conn() as c:
        c.send(b"POST /e HTTP/1.1\r\nHost: t\r\nx-test: req-body\r\nExpect: 100-continue\r\n"
               b"Content-Length: 1000\r\n\r\n")
        head = c.read_head()
        assert head.status == 100
        c.send(body)
        resp = c.read_response()
    assert resp.status == 200
    assert upstream.requests[-1].body_sha256 == sha256(b"E|" + body + b"|E")


def test_head_request_with_a_body_filter(conf_gateway, upstream):
    gw = conf_gateway("c", upstream)
    with gw.conn() as c:
        resp = c.request("HEAD", "/h", headers=[("x-test", "resp-body")])
        assert resp.status == 200 and resp.body == b""
        assert c.request("GET", "/after").status == 200


def test_filters_cannot_inject_header_lines(conf_gateway, upstream):
    gw = conf_gateway("c", upstream)
    assert get(gw, test="bad-header").status == 200
    seen = upstream.requests[-1]
    assert seen.header("x-bad-value-status") == "2"
    assert seen.header("x-bad-name-status") == "2"
    assert seen.header("x-evil") is None and seen.header("x-injected") is None


def trailer_echo(conn, req):
    """Answers chunked, with the request's trailers echoed as x-up-got-* trailers
    and one of its own (x-resp-t)."""
    got = [(f"x-up-got-{k.lower()}", v) for k, v in req.trailers]
    conn.send_response(200, body=b"resp-body", chunked=True, trailers=[("x-resp-t", "up"), *got])
    return True


@pytest.mark.parametrize("tags", [("A",), ("A", "B")])
def test_trailers_both_ways(conf_gateway, upstream_factory, tags):
    # (C filter only: the row is not in every SDK.) A chunked request with
    # trailers: the filter reads one, adds one and removes one on the way up;
    # on the way down it reads the upstream's and adds its own.
    up = upstream_factory(trailer_echo)
    gw = conf_gateway("c", up, tags=tags)
    with gw.conn() as c:
        resp = c.request("POST", "/", headers=[("x-test", "trailers")], body=b"req-body", chunked=True,
                         trailers=[("x-req-t", "client"), ("x-drop-t", "gone")])
    assert resp.status == 200, resp
    assert resp.body == b"resp-body"
    seen = up.requests[-1]
    assert seen.body == b"req-body"
    names = [k.lower() for k, _ in seen.trailers]
    assert "x-drop-t" not in names, seen.trailers
    assert seen.trailers.count(("x-req-t-seen", "client")) == len(tags), seen.trailers
    t = resp.trailers
    assert ("x-resp-t", "up") in t, t
    assert t.count(("x-resp-t-seen", "up")) == len(tags), t
    assert ("x-up-got-x-req-t", "client") in t, t
    assert ("x-up-got-x-drop-t", "gone") not in t, t
    # what the filter saw: 2 request trailers, and the last body callback
    # before them had end_of_stream false (trailers end the stream, as in Envoy)
    assert ("x-req-trailers", "2") in t, t
    assert ("x-req-body-eos", "0") in t, t


@pytest.mark.parametrize("tags", [("A",), ("A", "B")])
def test_trailers_paused_until_an_http_call_answers(conf_gateway, upstream_factory, tags):
    # (C filter only.) Each filter pauses in its trailers callbacks (request
    # and response) on an HTTP call; the answer adds a trailer and resumes.
    # The body before the trailers is whole, the trailers carry what every
    # filter added while they waited, and the next filter ran after the resume.
    up = upstream_factory(trailer_echo)
    callout = callout_upstream(upstream_factory)
    gw = conf_gateway("c", up, tags=tags)
    with gw.conn() as c:
        resp = c.request("POST", "/", body=b"req-body", chunked=True,
                         headers=[("x-test", "trailers"), ("x-pause-trailers", f"127.0.0.1:{callout.port}")],
                         trailers=[("x-req-t", "client")])
        assert resp.status == 200, resp
        assert resp.body == b"resp-body"
        seen = up.requests[-1]
        assert seen.body == b"req-body"
        assert seen.trailers.count(("x-t-call", "201")) == len(tags), seen.trailers
        assert seen.trailers.count(("x-req-t-seen", "client")) == len(tags), seen.trailers
        t = resp.trailers
        assert t.count(("x-t-call", "201")) == len(tags), t
        assert ("x-up-got-x-t-call", "201") in t, t
        assert t.count(("x-resp-t-seen", "up")) == len(tags), t
        # two calls per filter, and the connection still serves the next request
        assert len(callout.requests) == 2 * len(tags)
        again = c.request("GET", "/", headers=[("x-test", "trailers")])
        assert again.status == 200, again


def test_body_without_trailers_still_ends_the_stream(conf_gateway, upstream):
    gw = conf_gateway("c", upstream)
    with gw.conn() as c:
        resp = c.request("POST", "/", headers=[("x-test", "req-body")], body=b"abc", chunked=True)
    assert resp.status == 200
    assert upstream.requests[-1].body == b"A|abc|A"
    assert upstream.requests[-1].trailers == []


def test_grpc_callouts_answer_with_a_status(conf_gateway, upstream):
    # (C filter only.) No gRPC upstreams yet: a call or a stream gets
    # ParseFailure (4, Envoy's answer for an unknown upstream), send, cancel
    # and close on a token NotFound (1); the filter goes on, nothing traps.
    gw = conf_gateway("c", upstream)
    resp = get(gw, test="grpc")
    assert resp.status == 200, resp
    assert upstream.requests[-1].header("x-grpc") == "4 4 1 1 1"
    assert get(gw, test="headers").status == 200  # the same instance serves on


def test_resolve_lua_foreign_function(conf_gateway, upstream):
    # (C filter only.) resolve_lua answers an IP literal at once; a name goes
    # to the DNS server (the one --dns-resolver names) off the worker loop and
    # comes back through proxy_on_foreign_function, which resumes the request;
    # the answer is then cached; a name that does not resolve comes back empty.
    from test_dns import DnsServer
    dns = DnsServer()
    dns.records["filter.test"] = "10.1.2.3"
    dns.ttl = 60  # the cached answer must outlive the test
    try:
        gw = conf_gateway("c", upstream, extra=["--dns-resolver", f"127.0.0.1:{dns.port}"])

        def resolve(name):
            assert get(gw, test="resolve", headers=[("x-resolve", name)]).status == 200
            seen = upstream.requests[-1]
            return seen.header("x-resolved"), seen.header("x-resolved-name"), seen.header("x-resolved-async")

        assert resolve("10.9.8.7") == ("10.9.8.7", "10.9.8.7", "0")
        assert resolve("filter.test") == ("10.1.2.3", "filter.test", "1")
        assert resolve("filter.test") == ("10.1.2.3", "filter.test", "0")  # cached
        assert resolve("missing.test") == ("failed", "missing.test", "1")
    finally:
        dns.stopped = True
