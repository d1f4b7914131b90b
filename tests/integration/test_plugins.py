"""Kong's bundled plugins, natively, through the real gateway: the `plugins`
entity (global, per service, per route; nested or top level), Kong's
precedence, PRIORITY order, and each plugin's documented behaviour (status
codes, bodies, headers, config errors)."""

import json
import re
import subprocess

from conftest import config, route, service


def plugin(name, **config_fields):
    return {"name": name, "config": config_fields}


def check(wasmgate_bin, tmp_path, cfg):
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([wasmgate_bin, "check", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


# ---- request-termination ----------------------------------------------------

def test_request_termination_default_and_custom(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("default", ["/default"], plugins=[plugin("request-termination")]),
        route("custom", ["/custom"], plugins=[plugin("request-termination", status_code=418, message="go away")]),
        route("body", ["/body"], plugins=[plugin("request-termination", status_code=200, body="<b>hi</b>",
                                                 content_type="text/html")]),
        route("other", ["/other"], plugins=[plugin("request-termination", status_code=451)]),
        route("open", ["/open"]),
    ])))
    r = gw.request("GET", "/default")
    assert r.status == 503
    assert r.json() == {"message": "Service unavailable"}
    assert r.header("Content-Type") == "application/json; charset=utf-8"
    r = gw.request("GET", "/custom")
    assert (r.status, r.json()) == (418, {"message": "go away"})
    r = gw.request("GET", "/body")
    assert (r.status, r.body, r.header("Content-Type")) == (200, b"<b>hi</b>", "text/html")
    r = gw.request("GET", "/other")
    assert (r.status, r.body) == (451, b"")  # no message of its own for 451: no body
    assert gw.request("GET", "/open").status == 200
    assert len(upstream.requests) == 1  # only /open reached the upstream


def test_request_termination_trigger(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[plugin("request-termination", status_code=403, trigger="x-stop")]),
    ])))
    assert gw.request("GET", "/a").status == 200
    assert gw.request("GET", "/a", headers=[("X-Stop", "1")]).status == 403
    assert gw.request("GET", "/a?x-stop=1").status == 403
    assert gw.request("GET", "/a?other=1").status == 200


def test_request_termination_echo(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[plugin("request-termination", status_code=200, echo=True)]),
    ])))
    r = gw.request("GET", "/echo/me?q=1", headers=[("X-Probe", "yes")])
    assert r.status == 200
    body = r.json()
    assert body["request"]["path"] == "/echo/me"
    assert body["request"]["headers"]["x-probe"] == "yes"
    assert body["request"]["method"] == "GET"
    assert body["matched_route"]["name"] == "r"


def test_request_termination_config_errors(wasmgate_bin, tmp_path, upstream):
    def cfg(**c):
        return config(service("s", upstream, [route("r", ["/"], plugins=[plugin("request-termination", **c)])]))
    rc, out = check(wasmgate_bin, tmp_path, cfg(status_code=99))
    assert rc == 1 and "plugin 'request-termination' field 'config.status_code': value should be between 100 and 599" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(message="m", body="b"))
    assert rc == 1 and "plugin 'request-termination' field 'config': message cannot be used with content_type or body" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(content_type="text/plain"))
    assert rc == 1 and "content_type requires a body" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(trigger="bad header"))
    assert rc == 1 and "bad header name 'bad header'" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(colour=1))
    assert rc == 1 and "field 'config.colour': unknown field" in out, out


# ---- precedence and order ---------------------------------------------------

def test_most_specific_instance_wins(gateway_factory, upstream):
    """Route + service over route over service over global, per plugin name;
    a disabled instance does not shadow a broader one."""
    gw = gateway_factory(config(
        service("s1", upstream, [
            route("r-route", ["/route"]),
            route("r-service", ["/service"]),
            route("r-both", ["/both"]),
            route("r-disabled", ["/disabled"]),
        ], plugins=[plugin("request-termination", status_code=402)]),
        service("s2", upstream, [route("r-global", ["/global"])]),
        routes=None,
        plugins=[
            plugin("request-termination", status_code=401),
            {"name": "request-termination", "route": "r-route", "config": {"status_code": 403}},
            {"name": "request-termination", "route": "r-both", "service": "s1", "config": {"status_code": 405}},
            {"name": "request-termination", "route": "r-disabled", "enabled": False, "config": {"status_code": 410}},
        ]))
    assert gw.request("GET", "/global").status == 401
    assert gw.request("GET", "/service").status == 402
    assert gw.request("GET", "/route").status == 403
    assert gw.request("GET", "/both").status == 405
    assert gw.request("GET", "/disabled").status == 402


def test_priority_order_cors_before_termination(gateway_factory, upstream):
    """cors (2000) answers a preflight before request-termination (2) runs;
    an ordinary request reaches request-termination."""
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[plugin("request-termination", status_code=401),
                                   plugin("cors", origins=["https://app.example"])]),
    ])))
    r = gw.request("OPTIONS", "/x", headers=[("Origin", "https://app.example"),
                                             ("Access-Control-Request-Method", "POST")])
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "https://app.example"
    assert gw.request("GET", "/x").status == 401


def test_plugin_protocols_limit_where_it_runs(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "request-termination", "protocols": ["https"],
                                    "config": {"status_code": 403}}]),
    ])))
    assert gw.request("GET", "/").status == 200  # plain http: the plugin does not run


def test_unknown_and_unsupported_plugins_refused_by_name(wasmgate_bin, tmp_path, upstream):
    cfg = config(service("s", upstream, [route("r", ["/"], plugins=[{"name": "session"}, {"name": "nope"}])]))
    rc, out = check(wasmgate_bin, tmp_path, cfg)
    assert rc == 1
    assert "plugin 'session' field 'name': plugin 'session' is not supported yet" in out, out
    assert "plugin 'nope' field 'name': plugin 'nope' not found" in out, out


# ---- correlation-id ---------------------------------------------------------

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_correlation_id_generators_and_echo(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("counter", ["/counter"], plugins=[plugin("correlation-id", echo_downstream=True)]),
        route("uuid", ["/uuid"], plugins=[plugin("correlation-id", generator="uuid", header_name="X-Req")]),
    ])), workers=1)
    ids = []
    for _ in range(3):
        r = gw.request("GET", "/counter")
        sent = r.json()["headers"]
        up = [v for k, v in sent if k.lower() == "kong-request-id"]
        assert len(up) == 1 and re.fullmatch(UUID + r"#\d+", up[0]), sent
        assert r.header("Kong-Request-ID") == up[0]  # echoed downstream
        ids.append(up[0])
    assert len(set(ids)) == 3
    assert len({i.split("#")[0] for i in ids}) == 1  # one worker: one uuid, a counter
    r = gw.request("GET", "/uuid")
    up = [v for k, v in r.json()["headers"] if k.lower() == "x-req"]
    assert len(up) == 1 and re.fullmatch(UUID, up[0])
    assert r.header("X-Req") is None  # not echoed by default


def test_correlation_id_keeps_the_clients(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[plugin("correlation-id", echo_downstream=True)]),
    ])))
    r = gw.request("GET", "/", headers=[("Kong-Request-ID", "abc-123")])
    assert [v for k, v in r.json()["headers"] if k.lower() == "kong-request-id"] == ["abc-123"]
    assert r.header("Kong-Request-ID") == "abc-123"


# ---- ip-restriction ---------------------------------------------------------

def test_ip_restriction_allow_and_deny(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("deny", ["/deny"], plugins=[plugin("ip-restriction", deny=["127.0.0.0/8"])]),
        route("allow", ["/allow"], plugins=[plugin("ip-restriction", allow=["127.0.0.1"])]),
        route("other", ["/other"], plugins=[plugin("ip-restriction", allow=["10.0.0.0/8"], status=401,
                                                   message="not you")]),
        route("both", ["/both"], plugins=[plugin("ip-restriction", allow=["127.0.0.1"], deny=["127.0.0.1/32"])]),
    ])))
    r = gw.request("GET", "/deny")
    assert (r.status, r.json()) == (403, {"message": "IP address not allowed: 127.0.0.1", "request_id": r.header("X-Kong-Request-Id")})
    assert gw.request("GET", "/allow").status == 200
    r = gw.request("GET", "/other")
    assert (r.status, r.json()) == (401, {"message": "not you", "request_id": r.header("X-Kong-Request-Id")})
    assert gw.request("GET", "/both").status == 403  # deny wins


def test_ip_restriction_config_errors(wasmgate_bin, tmp_path, upstream):
    def cfg(**c):
        return config(service("s", upstream, [route("r", ["/"], plugins=[plugin("ip-restriction", **c)])]))
    rc, out = check(wasmgate_bin, tmp_path, cfg())
    assert rc == 1 and "field 'config': at least one of these fields must be non-empty: 'config.allow', 'config.deny'" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(allow=["300.1.1.1"]))
    assert rc == 1 and "field 'config.allow': invalid ip or cidr range: '300.1.1.1'" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(deny=["10.0.0.0/08"]))
    assert rc == 1 and "invalid ip or cidr range: '10.0.0.0/08'" in out, out


# ---- request-size-limiting --------------------------------------------------

def test_request_size_limiting(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/r"], plugins=[plugin("request-size-limiting", allowed_payload_size=10, size_unit="bytes")]),
        route("need", ["/need"], plugins=[plugin("request-size-limiting", require_content_length=True)]),
    ])))
    assert gw.request("POST", "/r", body=b"x" * 10).status == 200
    r = gw.request("POST", "/r", body=b"x" * 11)
    assert (r.status, r.json()) == (413, {"message": "Request size limit exceeded", "request_id": r.header("X-Kong-Request-Id")})
    # A body without Content-Length is counted as it arrives.
    assert gw.request("POST", "/r", body=b"y" * 8, chunked=True).status == 200
    r = gw.request("POST", "/r", body=b"y" * 50, chunked=True)
    assert (r.status, r.json()) == (413, {"message": "Request size limit exceeded", "request_id": r.header("X-Kong-Request-Id")})
    # require_content_length: a chunked body is counted instead; anything
    # else without a Content-Length is refused (a GET too, as Kong does).
    assert gw.request("POST", "/need", body=b"abc", chunked=True).status == 200
    assert gw.request("POST", "/need", body=b"abc").status == 200
    r = gw.request("GET", "/need")
    assert (r.status, r.json()) == (411, {"message": "A valid Content-Length header is required", "request_id": r.header("X-Kong-Request-Id")})
    # A client waiting on 100-continue hears 417.
    r = gw.request("POST", "/r", body=b"x" * 11, headers=[("Expect", "100-continue")])
    assert (r.status, r.json()) == (417, {"message": "Request size limit exceeded", "request_id": r.header("X-Kong-Request-Id")})


# ---- cors -------------------------------------------------------------------

def test_cors_preflight_and_actual_request(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[plugin("cors", origins=["https://a.example", r"https://.*\.b\.example"],
                                          headers=["X-One", "X-Two"], exposed_headers=["X-Out"], max_age=600,
                                          credentials=True, methods=["GET", "POST"])]),
    ])))
    pre = gw.request("OPTIONS", "/x", headers=[("Origin", "https://a.example"),
                                               ("Access-Control-Request-Method", "POST")])
    assert pre.status == 200 and pre.body == b""
    assert pre.header("Access-Control-Allow-Origin") == "https://a.example"
    assert pre.header("Access-Control-Allow-Methods") == "GET,POST"
    assert pre.header("Access-Control-Allow-Headers") == "X-One,X-Two"
    assert pre.header("Access-Control-Max-Age") == "600"
    assert pre.header("Access-Control-Allow-Credentials") == "true"
    assert pre.header("Vary") == "Origin"
    assert len(upstream.requests) == 0  # answered by the gateway
    r = gw.request("GET", "/x", headers=[("Origin", "https://api.b.example")])
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "https://api.b.example"
    assert r.header("Access-Control-Expose-Headers") == "X-Out"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    r = gw.request("GET", "/x", headers=[("Origin", "https://evil.example")])
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None


def test_cors_defaults_allow_all_and_echo_requested_headers(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"], plugins=[plugin("cors")])])))
    pre = gw.request("OPTIONS", "/", headers=[("Origin", "https://x.example"),
                                              ("Access-Control-Request-Method", "PUT"),
                                              ("Access-Control-Request-Headers", "X-Custom")])
    assert pre.status == 200
    assert pre.header("Access-Control-Allow-Origin") == "*"
    assert pre.header("Access-Control-Allow-Headers") == "X-Custom"
    assert pre.header("Access-Control-Allow-Methods") == "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
    assert pre.header("Access-Control-Max-Age") is None
    r = gw.request("GET", "/", headers=[("Origin", "https://x.example")])
    assert r.header("Access-Control-Allow-Origin") == "*"


def test_cors_preflight_continue_reaches_upstream(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[plugin("cors", preflight_continue=True)]),
    ])))
    r = gw.request("OPTIONS", "/", headers=[("Origin", "https://x.example"),
                                            ("Access-Control-Request-Method", "PUT")])
    assert r.status == 200 and r.json()["method"] == "OPTIONS"
    assert r.header("Access-Control-Allow-Origin") is None


def test_cors_origin_rules(gateway_factory, upstream_factory):
    """Kong's configure_origin: one plain origin is announced whatever the
    request says; a "*" among several allows all; plain entries compare
    normalized (default ports dropped); host-only regexes match the host."""
    from conftest import fixed_handler
    up = upstream_factory(handler=fixed_handler(200, [("Vary", "Accept-Encoding"),
                                                      ("Access-Control-Allow-Origin", "https://leak.example")], b"ok"))
    gw = gateway_factory(config(service("s", up, [
        route("one", ["/one"], plugins=[plugin("cors", origins=["https://only.example"])]),
        route("star", ["/star"], plugins=[plugin("cors", origins=["https://x.example", "*"])]),
        route("plain", ["/plain"], plugins=[plugin("cors", origins=["http://a.example:80", "https://b.example"])]),
        route("host", ["/host"], plugins=[plugin("cors", origins=[r"(.*\.)?c\.example"])]),
        route("absent", ["/absent"], plugins=[plugin("cors", allow_origin_absent=False)]),
    ])))
    r = gw.request("GET", "/one", headers=[("Origin", "https://other.example")])
    assert r.header("Access-Control-Allow-Origin") == "https://only.example"
    assert r.headers_all("Vary") == ["Accept-Encoding", "Origin"]
    r = gw.request("GET", "/star", headers=[("Origin", "https://y.example")])
    assert r.header("Access-Control-Allow-Origin") == "*"
    r = gw.request("GET", "/plain", headers=[("Origin", "http://a.example")])
    assert r.header("Access-Control-Allow-Origin") == "http://a.example"
    r = gw.request("GET", "/plain", headers=[("Origin", "https://b.example:443")])
    assert r.header("Access-Control-Allow-Origin") == "https://b.example"
    r = gw.request("GET", "/plain", headers=[("Origin", "https://nope.example")])
    assert r.header("Access-Control-Allow-Origin") is None  # the upstream's is removed too
    r = gw.request("GET", "/host", headers=[("Origin", "http://api.c.example:8080")])
    assert r.header("Access-Control-Allow-Origin") == "http://api.c.example:8080"
    r = gw.request("GET", "/absent")
    assert r.header("Access-Control-Allow-Origin") == "https://leak.example"  # left alone without an Origin


def test_header_filters_run_on_a_plugins_answer(gateway_factory, upstream):
    """As after kong.response.exit: every plugin's header_filter sees the
    answer a plugin gave (correlation-id echoes, cors adds its headers)."""
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[plugin("request-termination", status_code=401),
                                   plugin("correlation-id", echo_downstream=True),
                                   plugin("cors", origins=["https://app.example"], credentials=True)]),
    ])))
    r = gw.request("GET", "/", headers=[("Origin", "https://app.example")])
    assert r.status == 401 and r.json() == {"message": "Unauthorized"}
    assert re.fullmatch(UUID + r"#\d+", r.header("Kong-Request-ID") or ""), r.headers
    assert r.header("Access-Control-Allow-Origin") == "https://app.example"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Content-Type") == "application/json; charset=utf-8"


# ---- response-transformer ---------------------------------------------------

def test_response_transformer_headers_and_json(gateway_factory, upstream_factory):
    from conftest import fixed_handler
    body = json.dumps({"keep": 1, "drop": 2, "old": "v", "swap": "x", "list": ["a"], "one": "b"}).encode()
    up = upstream_factory(handler=fixed_handler(200, [("Content-Type", "application/json"), ("X-Old", "1"),
                                                      ("X-Gone", "2"), ("X-Here", "3")], body))
    text = upstream_factory(handler=fixed_handler(200, [("Content-Type", "text/plain")], b"not json {"))
    cfg = {"remove": {"headers": ["x-gone"], "json": ["drop"]},
           "rename": {"headers": ["X-Old:X-New"], "json": ["old:new"]},
           "replace": {"headers": ["X-Here:replaced", "X-Absent:no"], "json": ["swap:9", "absent:1"],
                       "json_types": ["number"]},
           "add": {"headers": ["X-Added:yes", "X-Here:no"], "json": ["flag:true", "keep:2"],
                   "json_types": ["boolean"]},
           "append": {"headers": ["X-Here:again"], "json": ["list:b", "one:c", "fresh:d"]}}
    gw = gateway_factory(config(
        service("j", up, [route("j", ["/j"], plugins=[plugin("response-transformer", **cfg)])]),
        service("t", text, [route("t", ["/t"], plugins=[plugin("response-transformer", **cfg)])])))
    r = gw.request("GET", "/j")
    assert r.status == 200
    assert r.header("X-Gone") is None and r.header("X-Old") is None and r.header("X-New") == "1"
    assert r.headers_all("X-Here") == ["replaced", "again"]
    assert r.header("X-Absent") is None and r.header("X-Added") == "yes"
    assert r.json() == {"keep": 1, "new": "v", "swap": 9, "list": ["a", "b"], "one": ["b", "c"],
                        "flag": True, "fresh": ["d"]}
    r = gw.request("GET", "/t")  # not JSON: the body passes as it came, headers still change
    assert r.body == b"not json {" and r.header("X-Added") == "yes"


def test_response_transformer_config_errors(wasmgate_bin, tmp_path, upstream):
    def cfg(**c):
        return config(service("s", upstream, [route("r", ["/"], plugins=[plugin("response-transformer", **c)])]))
    rc, out = check(wasmgate_bin, tmp_path, cfg(add={"headers": ["no-colon"]}))
    assert rc == 1 and "field 'config.add.headers': invalid value: no-colon" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(rename={"headers": ["a:b c"]}))
    assert rc == 1 and "'b c' is not a valid header" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(add={"json": ["a:1"], "json_types": ["int"]}))
    assert rc == 1 and "expected one of: boolean, number, string" in out, out
