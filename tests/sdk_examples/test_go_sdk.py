"""The Proxy-Wasm Go SDK's examples (PROXY_WASM_GO_SDK): the expectations of
its e2e/e2e_test.go one by one, plus what an example's README documents
where the e2e test has no case (http_body_chunk).

Mapping of each example's envoy.yaml: its listener's route is a Kong route
`/` (strip_path false) to a service named as the Envoy cluster; a
direct_response listener standing in as the upstream is a Python upstream
giving the same answer; the http filters of the listener are the route's
filter chain, in order, with the `configuration` string as the filter's
config. Envoy runs with --concurrency 1 in the e2e test: one worker here.
Log lines are the gateway's error log (`[wasm] filter NAME: message`).
"""
import json
import re
import uuid

import pytest

from conftest import (HOST, fixed, helpers, chain, not_applicable, one_route, wait_until)

example = pytest.mark.example


def svc(name, upstream_or_port, routes=(), path=""):
    port = upstream_or_port if isinstance(upstream_or_port, int) else upstream_or_port.port
    d = {"name": name, "url": f"http://{HOST}:{port}{path}"}
    if routes:
        d["routes"] = list(routes)
    return d


def rte(name, paths, filters=(), **kw):
    d = {"name": name, "paths": list(paths), "strip_path": False, **kw}
    if filters:
        d["filter_chains"] = chain(*filters)
    return d


def kong(*services):
    return {"_format_version": "3.0", "services": list(services)}


def httpbin_like(conn, req):
    """Stands in for httpbin.org: a fresh UUID per answer, so a hash of the
    body is even or odd at random, as the examples expect of /uuid."""
    body = json.dumps({"uuid": str(uuid.uuid4())}).encode()
    conn.send_response(200, [("content-type", "application/json")], body)
    return True


# --------------------------------------------------------------------------
# dispatch_call_on_tick: two plugins of one module dispatch a call to the
# web_service cluster (here: the service of that name) on every tick.
# --------------------------------------------------------------------------


def ok_or_fail(conn, req):
    if req.target.startswith("/ok"):
        conn.send_response(200, [("content-type", "text/plain")], b"example body\n")
    else:
        conn.send_response(503, [("content-length", "0")], b"")
    return True


@pytest.fixture(scope="module")
def dispatch_call_on_tick(run_example):
    name = "go_dispatch_call_on_tick"
    return run_example("go", "dispatch_call_on_tick",
                       lambda port, ups: one_route(ups["web_service"], (name, "plugin1"), (name, "plugin2")),
                       upstreams={"web_service": ok_or_fail})


@example("dispatch_call_on_tick")
def test_dispatch_call_on_tick_calls_back_each_plugin(dispatch_call_on_tick):
    """each plugin's callback runs on every tick (called 1..5 for contextID=1 and =2), answers 200 and 503 seen"""
    ex = dispatch_call_on_tick
    needed = [f"called {n} for contextID={c}" for n in range(1, 6) for c in (1, 2)]
    assert ex.wait_log(*needed, ":status: 200", ":status: 503", timeout=15), ex.log()[-3000:]


# --------------------------------------------------------------------------
# foreign_call_on_tick: the `compress` foreign function every millisecond.
# --------------------------------------------------------------------------


@example("foreign_call_on_tick")
def test_foreign_call_on_tick(run_example):
    """the compress foreign function is called on every tick (called: 1..5)"""
    ex = run_example("go", "foreign_call_on_tick",
                     lambda port, ups: one_route(ups["up"], ("go_foreign_call_on_tick", "")),
                     upstreams={"up": fixed()})
    needed = [f"foreign function (compress) called: {n}, result: " for n in range(1, 6)]
    assert ex.wait_log(*needed), ex.log()[-3000:]
    assert "foreign function (compress) failed" not in ex.log()


# --------------------------------------------------------------------------
# helloworld
# --------------------------------------------------------------------------


@example("helloworld")
def test_helloworld(run_example):
    """logs OnPluginStart from Go! and, on ticks, It's <time>"""
    ex = run_example("go", "helloworld", lambda port, ups: one_route(ups["up"], ("go_helloworld", "")),
                     upstreams={"up": fixed()})
    assert ex.wait_log("OnPluginStart from Go!", "It's"), ex.log()[-3000:]
    assert ex.request().status == 200


# --------------------------------------------------------------------------
# http_auth_random: a callout to the httpbin cluster decides.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_auth_random(run_example):
    return run_example("go", "http_auth_random",
                       lambda port, ups: one_route(ups["httpbin"], ("go_http_auth_random", ""), service_name="httpbin"),
                       upstreams={"httpbin": httpbin_like})


@example("http_auth_random")
def test_http_auth_random_grants_and_forbids(http_auth_random):
    """requests are granted or forbidden (403 access forbidden) by the callout's body; both seen"""
    ex = http_auth_random
    statuses = set()

    def both():
        r = ex.request("GET", "/uuid", headers=[("This-Is-Key", "this-is-value")])
        statuses.add(r.status)
        if r.status == 403:
            assert r.body == b"access forbidden" and r.header("powered-by") == "proxy-wasm-go-sdk!!", r
        else:
            assert r.status == 200, r
        return {200, 403} <= statuses

    assert wait_until(both, 10, 0.01), statuses
    assert ex.wait_log("access forbidden", "access granted", "response header from httpbin: :status: 200"), \
        ex.log()[-3000:]


# --------------------------------------------------------------------------
# http_body: the main listener rewrites bodies ("body-set"); its cluster is
# a second listener of the same Envoy whose filter echoes the request body
# ("echo"). Here: a second route of the same gateway, reached through a
# service that points back at the gateway.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_body(run_example):
    def cfg(port, ups):
        f = "go_http_body"
        return kong(svc("echo", port, [rte("main", ["/"], [(f, "body-set")])], path="/echo-listener"),
                    svc("never", ups["up"], [rte("echo-listener", ["/echo-listener"], [(f, "echo")])]))
    return run_example("go", "http_body", cfg, upstreams={"up": fixed()})


BODY_CASES = [("append", b"[original body][this is appended body]"),
              ("prepend", b"[this is prepended body][original body]"),
              ("replace", b"[this is replaced body]"),
              ("invalid", b"[this is replaced body]")]  # an unknown operation falls back to replace


@example("http_body")
@pytest.mark.parametrize("mode", ["request", "response"])
@pytest.mark.parametrize("op,expected", BODY_CASES, ids=[c[0] for c in BODY_CASES])
def test_http_body_operation(http_body, mode, op, expected):
    """PUT [original body]: the body is rewritten at the mode's side as the operation says"""
    r = http_body.request("PUT", "/anything", headers=[("buffer-replace-at", mode), ("buffer-operation", op)],
                          body=b"[original body]")
    assert (r.status, r.body) == (200, expected), r
    assert http_body.wait_log(f"original {mode} body: [original body]")


@example("http_body")
def test_http_body_requires_content(http_body):
    """a request without a body is answered 400 content must be provided"""
    r = http_body.request("GET", "/anything")
    assert (r.status, r.body) == (400, b"content must be provided"), r


# --------------------------------------------------------------------------
# http_body_chunk (README: a body with `pattern` is refused chunk by chunk)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_body_chunk(run_example):
    return run_example("go", "http_body_chunk",
                       lambda port, ups: one_route(ups["admin"], ("go_http_body_chunk", "body-set"), service_name="admin"),
                       upstreams={"admin": helpers.echo_handler})


@example("http_body_chunk")
def test_http_body_chunk_finds_pattern(http_body_chunk):
    """a ~930 kB body ending in `pattern` is refused: 403 pattern found in chunk: N, read chunk by chunk"""
    import base64
    body = base64.encodebytes(helpers.pattern_bytes(700000)) + b"pattern\n"
    with http_body_chunk.gw.conn() as c:
        c.send(helpers.build_request("POST", "/anything", body=body, host="example.test"))
        r = c.read_response("POST")
    assert r.status == 403, r
    assert re.fullmatch(rb"pattern found in chunk: \d+", r.body), r
    assert r.header("powered-by") == "proxy-wasm-go-sdk"
    assert http_body_chunk.wait_log("read chunk size: ", "local 403 response sent")
    assert "read data does not match" not in http_body_chunk.log()


@example("http_body_chunk")
def test_http_body_chunk_passes_clean_body(http_body_chunk):
    """a body without the pattern goes to the upstream whole; logs pattern not found"""
    body = b"nothing to see here\n" * 5000
    r = http_body_chunk.request("POST", "/anything", body=body)
    assert r.status == 200 and r.json()["body_len"] == len(body), r
    assert http_body_chunk.wait_log("pattern not found")


# --------------------------------------------------------------------------
# http_headers: the web_service is an Envoy listener with a direct response
# (lower-case names on HTTP/1.1, `server: envoy`).
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_headers(run_example):
    conf = '{"header": "x-wasm-header", "value": "demo-wasm"}'
    ex = run_example("go", "http_headers",
                     lambda port, ups: one_route(ups["web_service"], ("go_http_headers", conf)),
                     upstreams={"web_service": fixed(headers=[("server", "envoy"), ("content-type", "text/plain")])})
    # As Go's http client sends it: canonical capitalisation on the wire.
    ex.response = ex.request("GET", "/uuid", headers=[("This-Is-Key", "this-is-value")])
    return ex


@example("http_headers")
def test_http_headers_adds_configured_header(http_headers):
    """the response carries the configured header x-wasm-header: demo-wasm"""
    assert http_headers.response.status == 200
    assert http_headers.response.header("x-wasm-header") == "demo-wasm"


@example("http_headers")
def test_http_headers_adds_example_header(http_headers):
    """the response carries x-proxy-wasm-go-sdk-example: http_headers"""
    assert http_headers.response.header("x-proxy-wasm-go-sdk-example") == "http_headers"


@example("http_headers")
def test_http_headers_logs_response_headers(http_headers):
    """logs the response headers: server: envoy, x-wasm-header, x-proxy-wasm-go-sdk-example"""
    assert http_headers.wait_log("response header <-- server: envoy", "response header <-- x-wasm-header: demo-wasm",
                                 "response header <-- x-proxy-wasm-go-sdk-example: http_headers")


@example("http_headers")
def test_http_headers_logs_request_header_lower_case(http_headers):
    """logs the request header as this-is-key: this-is-value (HTTP/1.1 This-Is-Key on the wire)"""
    assert http_headers.wait_log("request header --> this-is-key: this-is-value", timeout=2), \
        http_headers.filter_lines()


# --------------------------------------------------------------------------
# http_routing: virtual hosts `*-canary` -> canary cluster, `*` -> primary.
# Kong: a route with hosts ["example.test-canary"] and a catch-all route.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_routing(run_example):
    def cfg(port, ups):
        f = ("go_http_routing", "")
        return kong(svc("canary", ups["canary"], [rte("canary", ["/"], [f], hosts=["example.test-canary"])]),
                    svc("primary", ups["primary"], [rte("primary", ["/"], [f])]))
    ex = run_example("go", "http_routing", cfg,
                     upstreams={"primary": fixed(b"hello from primary!\n"), "canary": fixed(b"hello from canary!\n")})
    ex.bodies = [ex.request("GET", "/").body for _ in range(40)]
    return ex


@example("http_routing")
def test_http_routing_answers(http_routing):
    """every request is answered by an upstream (hello from primary or canary)"""
    assert set(http_routing.bodies) <= {b"hello from primary!\n", b"hello from canary!\n"}
    assert http_routing.wait_log("value: ")


@example("http_routing")
def test_http_routing_reaches_canary(http_routing):
    """about half the requests get :authority rewritten to *-canary and reach the canary"""
    assert b"hello from primary!\n" in http_routing.bodies
    assert b"hello from canary!\n" in http_routing.bodies


# --------------------------------------------------------------------------
# json_validation
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def json_validation(run_example):
    return run_example("go", "json_validation",
                       lambda port, ups: one_route(ups["web_service"],
                                                   ("go_json_validation", '{ "requiredKeys": ["id", "token"] }')),
                       upstreams={"web_service": fixed(b"hello from the server\n")})


@example("json_validation")
def test_json_validation_needs_json(json_validation):
    """a GET without content-type application/json is refused with 403"""
    r = json_validation.request("GET", "/")
    assert (r.status, r.body) == (403, b"content-type must be provided"), r


@example("json_validation")
def test_json_validation_accepts_valid_payload(json_validation):
    """a POST of {"id", "token"} as application/json reaches the upstream: 200"""
    r = json_validation.request("POST", "/", headers=[("Content-Type", "application/json")],
                                body=b'{"id": "abc123", "token": "xyz456"}')
    assert (r.status, r.body) == (200, b"hello from the server\n"), r


@example("json_validation")
def test_json_validation_refuses_missing_key(json_validation):
    """a JSON payload without a required key is refused: 403 invalid payload"""
    r = json_validation.request("POST", "/", headers=[("Content-Type", "application/json")], body=b'{"id": "abc123"}')
    assert (r.status, r.body) == (403, b"invalid payload"), r


# --------------------------------------------------------------------------
# metrics: Envoy's stats_config turns the counter's name into tags
# (custom_header_value_counts{value="foo",reporter="wasmgosdk"}); wasmgate
# shows it as wasm_filter_<filter>_<name> with non-name characters as `_`.
# --------------------------------------------------------------------------


@example("metrics")
def test_metrics_counts_header_values(run_example):
    """the custom_header_value_counts counter per my-custom-header value: foo 3, bar 5 (wasmgate's metric names)"""
    ex = run_example("go", "metrics", lambda port, ups: one_route(ups["up"], ("go_metrics", "")),
                     upstreams={"up": fixed()}, admin=True)
    for value, count in (("foo", 3), ("bar", 5)):
        for _ in range(count):
            assert ex.request("GET", "/", headers=[("my-custom-header", value)]).status == 200

    def exported():
        text = ex.admin_get("/metrics").body.decode()
        return all(re.search(rf"^wasm_filter_go_metrics_custom_header_value_counts_value_{v}_reporter_wasmgosdk"
                             rf"(_total)? {n}$", text, re.M) for v, n in (("foo", 3), ("bar", 5))) or text

    res = wait_until(lambda: exported() is True, 5)
    assert res, [ln for ln in ex.admin_get("/metrics").body.decode().splitlines() if "go_metrics" in ln]


# --------------------------------------------------------------------------
# multiple_dispatches: ten callouts to httpbin from the response headers.
# --------------------------------------------------------------------------


@example("multiple_dispatches")
def test_multiple_dispatches(run_example):
    """the response waits for ten callouts (pending 9..1 logged) then resumes with total-dispatched: 10"""
    ex = run_example("go", "multiple_dispatches",
                     lambda port, ups: one_route(ups["httpbin"], ("go_multiple_dispatches", ""), service_name="httpbin"),
                     upstreams={"httpbin": httpbin_like})
    r = ex.request("GET", "/")
    assert r.status == 200 and r.header("total-dispatched") == "10", r
    needed = [f"pending dispatched requests: {n}" for n in range(9, 0, -1)]
    assert ex.wait_log(*needed, "response resumed after processed 10 dispatched request"), ex.filter_lines()


# --------------------------------------------------------------------------
# postpone_requests: requests wait for the next tick.
# --------------------------------------------------------------------------


@example("postpone_requests")
def test_postpone_requests(run_example):
    """a request is postponed (contextID=2) and resumed on the next tick: 200"""
    ex = run_example("go", "postpone_requests", lambda port, ups: one_route(ups["up"], ("go_postpone_requests", "")),
                     upstreams={"up": fixed()})
    r = ex.request("GET", "/")
    assert (r.status, r.body) == (200, b"example body\n"), r
    assert ex.wait_log("postpone request with contextID=2", "resume request with contextID=2"), ex.filter_lines()


# --------------------------------------------------------------------------
# properties: reads route_metadata.filter_metadata[envoy.filters.http.wasm].auth
# ("cookie" on /one, "authorization" on /two, none on /three). Kong routes
# carry no metadata: only the route without metadata maps.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def properties(run_example):
    def cfg(port, ups):
        f = [("go_properties", "")]
        return kong(svc("web_service", ups["web_service"],
                        [rte("one", ["/one"], f), rte("two", ["/two"], f), rte("three", ["/three"], f)]))
    return run_example("go", "properties", cfg, upstreams={"web_service": fixed()})


@example("properties")
def test_properties_route_without_metadata(properties):
    """/three has no auth metadata: 200, logs no auth header for route"""
    r = properties.request("GET", "/three")
    assert r.status == 200, r
    assert properties.wait_log("no auth header for route")


@example("properties")
@not_applicable("route_metadata (Envoy route metadata) has no Kong counterpart: /one and /two need "
                "route_metadata.filter_metadata.envoy.filters.http.wasm.auth")
def test_properties_route_metadata():
    """/one and /two: 401 without, 200 with the header their route metadata names"""


# --------------------------------------------------------------------------
# shared_data: a counter in shared data, incremented by every request.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_data(run_example):
    return run_example("go", "shared_data", lambda port, ups: one_route(ups["up"], ("go_shared_data", "")),
                       upstreams={"up": fixed()})


@example("shared_data")
def test_shared_data_counts_requests(shared_data):
    """ten requests: shared value: 10"""
    for _ in range(10):
        assert shared_data.request("GET", "/").status == 200
    assert shared_data.wait_log("shared value: 10"), shared_data.filter_lines()


@example("shared_data")
def test_shared_data_across_workers(run_example):
    """with two workers (Envoy --concurrency 2) the counter is one: twenty requests, shared value: 20"""
    ex = run_example("go", "shared_data", lambda port, ups: one_route(ups["up"], ("go_shared_data", "")),
                     upstreams={"up": fixed()}, workers=2)
    # Each worker runs the example's OnVMStart (it resets the counter): no
    # worker accepts before every worker ran it, as Envoy starts every
    # worker's VM before its listeners accept, so nothing waits here.
    for _ in range(20):  # a connection each: the kernel spreads them over both workers' listeners
        assert ex.request("GET", "/").status == 200
    assert ex.wait_log("shared value: 20"), ex.filter_lines()
    assert "shared value: 21" not in ex.log()


@example("shared_data")
def test_shared_data_survives_reload(shared_data):
    """after a reload of the unchanged config the counter goes on (Envoy keeps the VM and its data)"""
    before = len(re.findall("shared value: ", shared_data.log()))
    shared_data.gw.reload()
    assert shared_data.gw.wait_stderr(r"config reloaded \(generation", timeout=30), shared_data.log()[-2000:]
    assert shared_data.request("GET", "/").status == 200
    assert wait_until(lambda: len(re.findall("shared value: ", shared_data.log())) > before, 5)
    last = re.findall(r"shared value: (\d+)", shared_data.log())[-1]
    assert int(last) > 10, f"counter restarted at {last}"


# --------------------------------------------------------------------------
# shared_queue: a receiver (Envoy: a wasm service with vm_id "receiver",
# three plugins, one per queue) and a sender on the listener. Kong has no
# wasm services: the receiver's plugins are the chain of a route nobody
# calls (a config instantiates every filter at load, so they run anyway).
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_queue(run_example):
    def cfg(port, ups):
        recv = "go_shared_queue_receiver"
        return kong(svc("web_service", ups["up"],
                        [rte("main", ["/"], [("go_shared_queue_sender", "http")]),
                         rte("receiver", ["/receiver-service"],
                             [(recv, "http_request_headers"), (recv, "http_response_headers")])]))
    ex = run_example("go", "shared_queue", cfg, upstreams={"up": fixed()})
    ex.response = ex.request("GET", "/")
    return ex


@example("shared_queue")
def test_shared_queue_sender_enqueues(shared_queue):
    """the sender enqueues each request header: enqueued data: {"key": ":method","value": "GET"}"""
    assert shared_queue.response.status == 200
    assert shared_queue.wait_log('enqueued data: {"key": ":method","value": "GET"}'), shared_queue.filter_lines()


@example("shared_queue")
def test_shared_queue_receiver_dequeues(shared_queue):
    """the receiver dequeues from http_request_headers and http_response_headers"""
    assert shared_queue.wait_log("dequeued data from http_request_headers",
                                 "dequeued data from http_response_headers"), shared_queue.filter_lines()


@example("shared_queue")
@not_applicable("the TCP half (sender `tcp`, queue tcp_data_hashes) is an L4 filter: waits for stream routes")
def test_shared_queue_tcp():
    """dequeued data from tcp_data_hashes"""


# --------------------------------------------------------------------------
# vm_plugin_configuration
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vm_plugin_configuration(run_example):
    return run_example("go", "vm_plugin_configuration",
                       lambda port, ups: one_route(ups["up"], ("go_vm_plugin_configuration",
                                                               '{\n  "name": "plugin configuration"\n}\n')),
                       upstreams={"up": fixed()},
                       # vm_config.configuration: NAME.meta.json's vm_config (docs/sdk-examples.md)
                       filters={"go_vm_plugin_configuration": (
                           "go_vm_plugin_configuration.wasm", {"vm_config": '{\n  "name": "vm configuration"\n}\n'})})


@example("vm_plugin_configuration")
def test_vm_plugin_configuration_plugin(vm_plugin_configuration):
    """logs the plugin configuration ("name": "plugin configuration")"""
    assert vm_plugin_configuration.wait_log('name": "plugin configuration'), vm_plugin_configuration.filter_lines()


@example("vm_plugin_configuration")
def test_vm_plugin_configuration_vm(vm_plugin_configuration):
    """logs the VM configuration ("name": "vm configuration")"""
    assert vm_plugin_configuration.wait_log('name": "vm configuration', timeout=2), \
        vm_plugin_configuration.filter_lines()


# --------------------------------------------------------------------------
# network: an L4 filter
# --------------------------------------------------------------------------


@example("network")
@not_applicable("an L4 (network) filter: waits for stream routes")
def test_network():
    """TCP data, connection and upstream cluster metadata logs"""
