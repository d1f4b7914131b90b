"""Routing and request rewriting: paths, hosts, methods, strip_path, preserve_host."""

import json

from conftest import HOST, config, route, service

NO_ROUTE = "no Route matched with those values"


def assert_kong_error(resp, status, message):
    assert resp.status == status, resp
    ctype = (resp.header("Content-Type") or "").lower().replace(" ", "")
    assert ctype.startswith("application/json"), resp
    assert json.loads(resp.body) == {"message": message}, resp


def test_path_prefix_routes_to_service_and_strips_prefix(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"])])))
    r = gw.request("GET", "/api/users/7")
    assert r.status == 200, r
    e = r.json()
    assert e["method"] == "GET"
    assert e["path"] == "/users/7"  # strip_path defaults to true


def test_exact_prefix_with_strip_path_gives_root(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"])])))
    r = gw.request("GET", "/api")
    assert r.status == 200, r
    assert r.json()["path"] == "/"


def test_query_string_is_kept(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"])])))
    r = gw.request("GET", "/api/search?q=a%20b&x=1&x=2")
    assert r.status == 200, r
    assert r.json()["path"] == "/search?q=a%20b&x=1&x=2"


def test_no_route_gives_kong_404_json(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"])])))
    r = gw.request("GET", "/other")
    assert_kong_error(r, 404, NO_ROUTE)
    assert len(upstream.requests) == 0


def test_no_route_keeps_connection_alive(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"])])))
    with gw.conn() as c:
        r1 = c.request("GET", "/nope")
        assert_kong_error(r1, 404, NO_ROUTE)
        r2 = c.request("GET", "/api/after-404")
        assert r2.status == 200
        assert r2.json()["path"] == "/after-404"


def test_longest_prefix_wins(gateway_factory, upstream_factory):
    u1 = upstream_factory()
    u2 = upstream_factory()
    gw = gateway_factory(config(
        service("short", u1, [route("short-r", ["/api"])]),
        service("long", u2, [route("long-r", ["/api/v2"])]),
    ))
    r = gw.request("GET", "/api/v2/things")
    assert r.status == 200
    assert r.header("X-Upstream-Port") == str(u2.port)
    assert r.json()["path"] == "/things"
    r = gw.request("GET", "/api/v1/things")
    assert r.status == 200
    assert r.header("X-Upstream-Port") == str(u1.port)
    assert r.json()["path"] == "/v1/things"


def test_route_with_several_paths(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/one", "/two"])])))
    assert gw.request("GET", "/one/a").json()["path"] == "/a"
    assert gw.request("GET", "/two/b").json()["path"] == "/b"
    assert gw.request("GET", "/three/c").status == 404


def test_hosts_exact_match(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", hosts=["api.example.com"])])))
    assert gw.request("GET", "/x", host="api.example.com").status == 200
    # port in the Host header is ignored for a route host without port
    assert gw.request("GET", "/x", host="api.example.com:8443").status == 200
    # host names are case-insensitive
    assert gw.request("GET", "/x", host="API.Example.COM").status == 200
    r = gw.request("GET", "/x", host="other.example.com")
    assert_kong_error(r, 404, NO_ROUTE)
    # exact, not suffix match
    assert gw.request("GET", "/x", host="sub.api.example.com").status == 404
    assert len(upstream.requests) == 3


def test_hosts_select_between_services(gateway_factory, upstream_factory):
    ua = upstream_factory()
    ub = upstream_factory()
    gw = gateway_factory(config(
        service("a", ua, [route("ra", ["/"], hosts=["a.test"])]),
        service("b", ub, [route("rb", ["/"], hosts=["b.test"])]),
    ))
    assert gw.request("GET", "/p", host="a.test").header("X-Upstream-Port") == str(ua.port)
    assert gw.request("GET", "/p", host="b.test").header("X-Upstream-Port") == str(ub.port)


def test_methods_match(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/m"], methods=["POST", "PUT"])])))
    r = gw.request("POST", "/m/x", body=b"hello")
    assert r.status == 200
    assert r.json()["method"] == "POST"
    assert r.json()["body_len"] == 5
    assert gw.request("PUT", "/m/x", body=b"").status == 200
    r = gw.request("GET", "/m/x")
    assert_kong_error(r, 404, NO_ROUTE)
    assert gw.request("DELETE", "/m/x").status == 404
    assert len(upstream.requests) == 2


def test_more_specific_route_wins_over_path_only(gateway_factory, upstream_factory):
    # Kong traditional router: a route with more matching fields is tried first.
    u_path = upstream_factory()
    u_method = upstream_factory()
    gw = gateway_factory(config(
        service("p", u_path, [route("path-only", ["/api/long/prefix"])]),
        service("m", u_method, [route("path-method", ["/api"], methods=["POST"])]),
    ))
    r = gw.request("POST", "/api/long/prefix/x", body=b"")
    assert r.header("X-Upstream-Port") == str(u_method.port)
    r = gw.request("GET", "/api/long/prefix/x")
    assert r.header("X-Upstream-Port") == str(u_path.port)


def test_strip_path_true_with_service_path(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"], strip_path=True)], path="/base")))
    assert gw.request("GET", "/api/x/y").json()["path"] == "/base/x/y"
    assert gw.request("GET", "/api").json()["path"] == "/base"
    assert gw.request("GET", "/api/x?k=v").json()["path"] == "/base/x?k=v"


def test_strip_path_false_with_service_path(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"], strip_path=False)], path="/base")))
    assert gw.request("GET", "/api/x/y").json()["path"] == "/base/api/x/y"
    assert gw.request("GET", "/api").json()["path"] == "/base/api"


def test_strip_path_false_without_service_path(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"], strip_path=False)])))
    assert gw.request("GET", "/api/x").json()["path"] == "/api/x"


def test_service_path_with_trailing_slash(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/api"])], path="/base/")))
    assert gw.request("GET", "/api/x").json()["path"] == "/base/x"


def test_default_upstream_host_is_service_host_and_port(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/"])])))
    e = gw.request("GET", "/h", host="client.example").json()
    hosts = [v for k, v in e["headers"] if k.lower() == "host"]
    assert hosts == [f"{HOST}:{upstream.port}"]


def test_preserve_host(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [
        route("keep", ["/keep"], preserve_host=True),
        route("nokeep", ["/nokeep"], preserve_host=False),
    ])))
    e = gw.request("GET", "/keep/x", host="client.example:1234").json()
    assert [v for k, v in e["headers"] if k.lower() == "host"] == ["client.example:1234"]
    e = gw.request("GET", "/nokeep/x", host="client.example:1234").json()
    assert [v for k, v in e["headers"] if k.lower() == "host"] == [f"{HOST}:{upstream.port}"]


def test_top_level_routes_reference_service_by_name(gateway_factory, upstream_factory):
    u1 = upstream_factory()
    u2 = upstream_factory()
    cfg = config(
        service("first", u1),
        service("second", u2),
        routes=[
            {"name": "to-first", "paths": ["/f"], "service": {"name": "first"}},
            {"name": "to-second", "paths": ["/s"], "service": {"name": "second"}},
        ],
    )
    gw = gateway_factory(cfg)
    assert gw.request("GET", "/f/1").header("X-Upstream-Port") == str(u1.port)
    assert gw.request("GET", "/s/1").header("X-Upstream-Port") == str(u2.port)


def test_nested_and_top_level_routes_together(gateway_factory, upstream_factory):
    u1 = upstream_factory()
    u2 = upstream_factory()
    cfg = config(
        service("nested", u1, [route("n1", ["/nested"])]),
        service("flat", u2),
        routes=[{"name": "f1", "paths": ["/flat"], "service": {"name": "flat"}}],
    )
    gw = gateway_factory(cfg)
    r = gw.request("GET", "/nested/a")
    assert r.header("X-Upstream-Port") == str(u1.port) and r.json()["path"] == "/a"
    r = gw.request("GET", "/flat/b")
    assert r.header("X-Upstream-Port") == str(u2.port) and r.json()["path"] == "/b"


def test_service_with_protocol_host_port_path_fields(gateway_factory, upstream):
    cfg = {
        "_format_version": "3.0",
        "services": [{
            "name": "explicit", "protocol": "http", "host": HOST, "port": upstream.port, "path": "/v9",
            "routes": [{"name": "r", "paths": ["/e"]}],
        }],
    }
    gw = gateway_factory(cfg)
    r = gw.request("GET", "/e/z")
    assert r.status == 200
    assert r.json()["path"] == "/v9/z"


def test_url_shorthand_with_path(gateway_factory, upstream):
    yaml_text = f"""_format_version: "3.0"
services:
  - name: short
    url: http://{HOST}:{upstream.port}/prefix
    routes:
      - name: short-route
        paths:
          - /s
"""
    gw = gateway_factory(yaml_text)
    r = gw.request("GET", "/s/thing")
    assert r.status == 200
    assert r.json()["path"] == "/prefix/thing"


def test_request_headers_and_body_passed_through(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/"], strip_path=False)])))
    body = b'{"k": "v"}'
    r = gw.request("POST", "/submit", headers=[("X-Custom", "abc"), ("X-Dup", "1"), ("X-Dup", "2"),
                                               ("Content-Type", "application/json")], body=body)
    assert r.status == 200
    e = r.json()
    hdrs = [(k.lower(), v) for k, v in e["headers"]]
    assert ("x-custom", "abc") in hdrs
    assert [v for k, v in hdrs if k == "x-dup"] == ["1", "2"] or ("x-dup", "1, 2") in hdrs
    assert e["body_len"] == len(body)
    assert upstream.requests[-1].body == body


def test_response_status_headers_and_body_passed_through(gateway_factory, upstream_factory):
    from conftest import fixed_handler

    u = upstream_factory(fixed_handler(201, [("X-Resp", "yes"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
                                       b"created!"))
    gw = gateway_factory(config(service("svc", u, [route("r", ["/"])])))
    r = gw.request("POST", "/c", body=b"x")
    assert r.status == 201
    assert r.header("X-Resp") == "yes"
    assert r.headers_all("Set-Cookie") == ["a=1", "b=2"]
    assert r.body == b"created!"


def test_dot_segments_normalised_before_routing(gateway_factory, upstream_factory):
    u_api = upstream_factory()
    u_admin = upstream_factory()
    gw = gateway_factory(config(
        service("api", u_api, [route("api-r", ["/api"])]),
        service("admin", u_admin, [route("admin-r", ["/admin"])]),
    ))
    r = gw.request("GET", "/api/../admin/x")
    # routing uses the normalised path: /admin/x
    assert r.status == 200
    assert r.header("X-Upstream-Port") == str(u_admin.port)
    assert len(u_api.requests) == 0
