"""Proxy-Wasm gRPC callouts (proxy_grpc_call, proxy_grpc_stream and their
callbacks) over the gateway's HTTP/2 client, against a real gRPC server
(grpcio, tests/integration/grpc_server.py), driven by filters/c/grpc_c.c:
the filter pauses the request until its call ends, then sends upstream, in
x-grpc-* headers, what its callbacks saw."""
import concurrent.futures
import pathlib
import socket
import time

import pytest

from conftest import config, free_port, route, service
from grpc_server import GrpcServer


@pytest.fixture
def grpc_server():
    s = GrpcServer()
    yield s
    s.close()


@pytest.fixture
def grpc_gateway(gateway_factory, wasmgate_bin, wasm_cache, upstream):
    filters = pathlib.Path(wasmgate_bin).parent / "filters"

    def make(*services):
        r = route("r", ["/"], strip_path=False,
                  filter_chains=[{"name": "c", "filters": [{"name": "grpc_c", "config": ""}]}])
        cfg = config(service("s", upstream, [r]), *services)
        args = ["--filters-dir", str(filters), "--wasm-cache-dir", str(wasm_cache)]
        return gateway_factory(cfg, extra_args=args, workers=1)
    return make


def call(gw, up, **headers):
    """One request whose filter makes the callout headers describe; what
    the upstream `up` then saw of it."""
    hs = [("x-grpc-" + k.replace("_", "-"), str(v)) for k, v in headers.items()]
    with gw.conn() as c:
        resp = c.request("GET", "/", headers=hs)
    assert resp.status == 200, resp
    return up.requests[-1]


def test_unary_call_gets_the_reply(grpc_gateway, upstream, grpc_server):
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="unary", upstream=f"127.0.0.1:{grpc_server.port}", message="hello")
    assert seen.header("x-grpc-open") == "0"
    # Unary, as Envoy delivers it: the reply alone, no metadata callbacks, no close.
    assert seen.header("x-grpc-callbacks") == "M"
    assert seen.header("x-grpc-reply") == "echo:hello;md=from-filter"
    assert seen.header("x-grpc-status") == "0"


def test_unary_call_to_a_service_by_name(grpc_gateway, upstream, grpc_server):
    gw = grpc_gateway(service("grpcsvc", grpc_server.port))
    seen = call(gw, upstream, mode="unary", upstream="grpcsvc", message="by-name")
    assert seen.header("x-grpc-reply") == "echo:by-name;md=from-filter"


def test_unary_call_over_tls_to_an_https_service(grpc_gateway, upstream):
    # A service of protocol https: TLS with ALPN h2 (its tls settings:
    # Kong's default, no verification).
    from test_tls import make_ca, make_leaf
    leaf = make_leaf(make_ca(), ["localhost"])
    server = GrpcServer(tls=(leaf.cert_pem, leaf.key_pem))
    try:
        gw = grpc_gateway({"name": "grpcs-svc", "protocol": "https", "host": "127.0.0.1", "port": server.port})
        seen = call(gw, upstream, mode="unary", upstream="grpcs-svc", message="secret")
        assert seen.header("x-grpc-reply") == "echo:secret;md=from-filter"
        # The same server in cleartext is not gRPC over TLS: the call fails.
        seen = call(gw, upstream, mode="unary", upstream=f"127.0.0.1:{server.port}", message="x")
        assert seen.header("x-grpc-status") == "14"
    finally:
        server.close()


def test_calls_share_one_connection_also_in_parallel(grpc_gateway, upstream, grpc_server):
    gw = grpc_gateway()
    target = f"127.0.0.1:{grpc_server.port}"
    for i in range(3):
        seen = call(gw, upstream, mode="unary", upstream=target, message=f"m{i}")
        assert seen.header("x-grpc-reply") == f"echo:m{i};md=from-filter"

    def one(i):
        hs = [("x-grpc-mode", "unary"), ("x-grpc-upstream", target), ("x-grpc-message", f"p{i}")]
        with gw.conn() as c:
            assert c.request("GET", "/", headers=hs).status == 200
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(8)))
    replies = sorted(r.header("x-grpc-reply") for r in upstream.requests[-8:])
    assert replies == sorted(f"echo:p{i};md=from-filter" for i in range(8))
    # One worker (the fixture's), one peer: every call went over the same HTTP/2 connection.
    assert len(grpc_server.peers) == 11
    assert len(set(grpc_server.peers)) == 1


def test_large_replies_flow_control_and_the_4_mib_limit(grpc_gateway, upstream, grpc_server):
    # 3 MiB: more than the stream's 1 MiB window, so it only arrives if the
    # client keeps opening it (WINDOW_UPDATE); twice, on one connection.
    gw = grpc_gateway()
    target = f"127.0.0.1:{grpc_server.port}"
    for _ in range(2):
        seen = call(gw, upstream, mode="unary", upstream=target, method="Big", message=3 << 20)
        assert seen.header("x-grpc-status") == "0"
        assert seen.header("x-grpc-reply-size") == str(3 << 20)
    # Over gRPC's default 4 MiB receive limit: RESOURCE_EXHAUSTED, and the
    # connection serves on.
    seen = call(gw, upstream, mode="unary", upstream=target, method="Big", message=5 << 20)
    assert seen.header("x-grpc-status") == "8"
    seen = call(gw, upstream, mode="unary", upstream=target, message="after")
    assert seen.header("x-grpc-reply") == "echo:after;md=from-filter"


def test_unary_error_status_and_message(grpc_gateway, upstream, grpc_server):
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="unary", upstream=f"127.0.0.1:{grpc_server.port}", method="Fail", message="x")
    assert seen.header("x-grpc-callbacks") == "C"
    assert seen.header("x-grpc-status") == "5"  # NOT_FOUND, from the server
    assert seen.header("x-grpc-status-message") == "no such thing"


def test_unknown_method_is_unimplemented(grpc_gateway, upstream, grpc_server):
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="unary", upstream=f"127.0.0.1:{grpc_server.port}", method="Nope", message="x")
    assert seen.header("x-grpc-status") == "12"


def test_server_down_is_unavailable(grpc_gateway, upstream):
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="unary", upstream=f"127.0.0.1:{free_port()}", message="x")
    assert seen.header("x-grpc-open") == "0"
    assert seen.header("x-grpc-callbacks") == "C"
    assert seen.header("x-grpc-status") == "14"
    assert seen.header("x-grpc-status-message") == (
        "upstream connect error or disconnect/reset before end of stream: connection refused")


def test_deadline_exceeded(grpc_gateway, upstream, grpc_server):
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="unary", upstream=f"127.0.0.1:{grpc_server.port}", method="Slow",
                message="x", timeout=300)
    assert seen.header("x-grpc-status") == "4"  # grpcio enforces the grpc-timeout we sent, or our deadline fires


def test_deadline_of_a_silent_upstream(grpc_gateway, upstream):
    # A socket that takes connections and never answers (not even HTTP/2's
    # SETTINGS): only the gateway's own deadline ends the call.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        gw = grpc_gateway()
        t0 = time.monotonic()
        seen = call(gw, upstream, mode="unary", upstream=f"127.0.0.1:{silent.getsockname()[1]}", message="x",
                    timeout=300)
        assert 0.25 < time.monotonic() - t0 < 3
        assert seen.header("x-grpc-status") == "4"
        assert seen.header("x-grpc-status-message") == "deadline exceeded"
    finally:
        silent.close()


def test_unknown_upstream_is_a_parse_failure(grpc_gateway, upstream):
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="unary", upstream="no-such-service", message="x")
    assert seen.header("x-grpc-open") == "4"  # ParseFailure, Envoy's answer
    assert seen.header("x-grpc-callbacks") is None


def test_stream_to_a_silent_upstream_times_out_connecting(grpc_gateway, upstream):
    # Streams have no deadline; a connection that never hears its upstream
    # gives up after 5 s (Envoy's default connect_timeout).
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        gw = grpc_gateway()
        t0 = time.monotonic()
        seen = call(gw, upstream, mode="stream", upstream=f"127.0.0.1:{silent.getsockname()[1]}",
                    method="Chat", message="a")
        assert 4.5 < time.monotonic() - t0 < 8
        assert seen.header("x-grpc-callbacks") == "C"
        assert seen.header("x-grpc-status") == "14"
        assert seen.header("x-grpc-status-message").endswith(": connect timeout")
    finally:
        silent.close()


def test_bidirectional_stream(grpc_gateway, upstream, grpc_server):
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="stream", upstream=f"127.0.0.1:{grpc_server.port}", method="Chat",
                message="a,b,c")
    assert seen.header("x-grpc-open") == "0"
    assert seen.header("x-grpc-callbacks") == "IMMMTC"
    assert seen.header("x-grpc-reply") == "echo:a|echo:b|echo:c"
    assert seen.header("x-grpc-initial") == "yes"
    assert seen.header("x-grpc-trailing") == "done"
    assert seen.header("x-grpc-status") == "0"


def test_stream_to_an_unknown_method_is_trailers_only(grpc_gateway, upstream, grpc_server):
    # grpcio answers UNIMPLEMENTED in one header block (trailers-only): the
    # filter gets it as trailing metadata, then the close; no initial metadata.
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="stream", upstream=f"127.0.0.1:{grpc_server.port}", method="Nope",
                message="a")
    assert seen.header("x-grpc-callbacks") == "TC"
    assert seen.header("x-grpc-status") == "12"


def test_cancelled_stream_takes_no_more(grpc_gateway, upstream, grpc_server):
    gw = grpc_gateway()
    seen = call(gw, upstream, mode="cancel", upstream=f"127.0.0.1:{grpc_server.port}", method="Chat")
    assert seen.header("x-grpc-cancel") == "0 1"  # cancel OK, then the token is gone: NotFound
    # The gateway goes on serving calls after the reset.
    seen = call(gw, upstream, mode="unary", upstream=f"127.0.0.1:{grpc_server.port}", message="after")
    assert seen.header("x-grpc-reply") == "echo:after;md=from-filter"


@pytest.fixture
def rust_gateway(gateway_factory, wasmgate_bin, wasm_cache, upstream):
    """The Rust SDK's conformance filter (filters/rust, case grpc-call)."""
    filters = pathlib.Path(wasmgate_bin).parent / "filters"

    def make():
        r = route("r", ["/"], strip_path=False,
                  filter_chains=[{"name": "c", "filters": [{"name": "conf_rust", "config": "A"}]}])
        args = ["--filters-dir", str(filters), "--wasm-cache-dir", str(wasm_cache)]
        return gateway_factory(config(service("s", upstream, [r])), extra_args=args, workers=1)
    return make


def rust_call(gw, up, target, method):
    with gw.conn() as c:
        resp = c.request("GET", "/", headers=[("x-test", "grpc-call"), ("x-call-target", target),
                                             ("x-grpc-method", method)])
    assert resp.status == 200, resp
    return up.requests[-1]


def test_rust_sdk_dispatch_grpc_call(rust_gateway, upstream, grpc_server):
    # The Rust SDK keys calls by token, switches to the caller with
    # proxy_set_effective_context and panics on a status it does not expect:
    # this runs its dispatch_grpc_call / on_grpc_call_response as shipped.
    gw = rust_gateway()
    target = f"127.0.0.1:{grpc_server.port}"
    seen = rust_call(gw, upstream, target, "Unary")
    assert seen.header("x-grpc-status") == "0"
    assert seen.header("x-grpc-reply") == "echo:rust;md=from-rust"
    seen = rust_call(gw, upstream, target, "Fail")
    assert seen.header("x-grpc-status") == "5"
    assert seen.header("x-grpc-status-message") == "no such thing"
    seen = rust_call(gw, upstream, "no-such-service", "Unary")
    assert seen.header("x-grpc-dispatch") == "ParseFailure"
    assert seen.header("x-grpc-status") is None
