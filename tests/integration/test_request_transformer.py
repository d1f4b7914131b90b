"""request-transformer (PRIORITY 801) through the real gateway: what the
upstream receives after Kong's remove, rename, replace, add and append of
headers, query string and bodies, the path and method rewrites, Kong's
templates, and the config checks."""

import json
import subprocess

from conftest import config, route, service


def rt(**ops):
    return {"name": "request-transformer", "config": ops}


def headers_of(req):
    return {k.lower(): v for k, v in req.headers}


def test_headers_in_kongs_order(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"], plugins=[rt(
        remove={"headers": ["x-gone", "host"]},
        rename={"headers": ["x-old:x-new"]},
        replace={"headers": ["x-replace:new-value", "x-absent:never"]},
        add={"headers": ["x-added:1", "x-present:never"]},
        append={"headers": ["x-multi:two"]},
    )])])))
    r = gw.request("GET", "/", headers=[("X-Gone", "a"), ("X-Old", "moved"), ("X-Replace", "old"),
                                       ("X-Present", "kept"), ("X-Multi", "one")])
    assert r.status == 200
    req = upstream.requests[-1]
    h = headers_of(req)
    assert "x-gone" not in h and "x-old" not in h
    assert h["x-new"] == "moved"
    assert h["x-replace"] == "new-value" and "x-absent" not in h
    assert h["x-added"] == "1" and h["x-present"] == "kept"
    assert req.headers_all("X-Multi") == ["one", "two"]
    assert h["host"]  # removing Host is not a thing Kong does


def test_host_replace_and_method(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"], plugins=[rt(
        http_method="POST", replace={"headers": ["host:changed.example"]})])])))
    r = gw.request("GET", "/x")
    assert r.status == 200
    req = upstream.requests[-1]
    assert req.method == "POST" and req.header("Host") == "changed.example"


def test_query_string_sorted_and_transformed(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/q"], strip_path=False, plugins=[rt(
        remove={"querystring": ["drop"]},
        rename={"querystring": ["old:new"]},
        replace={"querystring": ["rep:R"]},
        add={"querystring": ["added:a b", "zz:1"]},
        append={"querystring": ["multi:2"]},
    )])])))
    r = gw.request("GET", "/q?zz=keep&multi=1&drop=x&old=o&rep=r&flag")
    assert r.status == 200
    # Kong's set_query: names sorted, values percent-encoded, a bare flag kept bare.
    assert upstream.requests[-1].target == "/q?added=a%20b&flag&multi=1&multi=2&new=o&rep=R&zz=keep"
    # Without a query string, added arguments make one.
    gw.request("GET", "/q")
    assert upstream.requests[-1].target == "/q?added=a%20b&multi=2&zz=1"


def test_replace_uri_with_templates(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", [r"~/users/(?<id>\d+)$"], strip_path=False, plugins=[rt(
            replace={"uri": "/v2/accounts/$(uri_captures.id)"},
            add={"headers": ["x-user:$(uri_captures['id'])", "x-agent:$(headers['user-agent'] or 'none')",
                             "x-from-query:q=$(query_params.q)", "x-missing:[$(headers.x_nope)]"]})]),
    ], path="/base")))
    r = gw.request("GET", "/users/42?q=hello", headers=[("User-Agent", "tester")])
    assert r.status == 200
    req = upstream.requests[-1]
    # The service's path is replaced too (Kong's set_path); the query stays.
    assert req.target == "/v2/accounts/42?q=hello"
    h = headers_of(req)
    assert h["x-user"] == "42" and h["x-agent"] == "tester" and h["x-from-query"] == "q=hello"
    assert h["x-missing"] == "[]"  # a missing value renders empty, as Kong's templates


def test_json_and_form_bodies(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"], plugins=[rt(
        remove={"body": ["secret"]},
        rename={"body": ["old:new"]},
        replace={"body": ["rep:R"]},
        add={"body": ["added:A", "kept:never"]},
        append={"body": ["list:2", "str:2"]},
    )])])))
    body = json.dumps({"secret": 1, "old": "o", "rep": "r", "kept": True, "list": ["1"], "str": "1"}).encode()
    r = gw.request("POST", "/", headers=[("Content-Type", "application/json")], body=body)
    assert r.status == 200
    got = json.loads(upstream.requests[-1].body)
    assert got == {"new": "o", "rep": "R", "kept": True, "list": ["1", "2"], "str": ["1", "2"], "added": "A"}
    assert int(upstream.requests[-1].header("Content-Length")) == len(upstream.requests[-1].body)
    r = gw.request("POST", "/", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                   body=b"secret=s&old=o&rep=r&x=a+b")
    assert r.status == 200
    assert upstream.requests[-1].body == b"new=o&rep=R&x=a%20b&added=A&kept=never&list=2&str=2"
    # Another type passes untouched.
    r = gw.request("POST", "/", headers=[("Content-Type", "text/plain")], body=b"secret=s")
    assert r.status == 200 and upstream.requests[-1].body == b"secret=s"


def test_config_checks(wasmgate_bin, tmp_path, upstream):
    def check(cfg):
        path = tmp_path / "check.yaml"
        path.write_text(json.dumps(config(service("s", upstream, [route("r", ["/"], plugins=[rt(**cfg)])]))))
        p = subprocess.run([wasmgate_bin, "check", str(path)], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout + p.stderr

    rc, out = check({"add": {"querystring": ["novalue"]}})
    assert rc == 1 and "field 'config.add.querystring': key 'novalue' has no value" in out, out
    rc, out = check({"add": {"headers": ["bad header:v"]}})
    assert rc == 1 and "'bad header' is not a valid header" in out, out
    rc, out = check({"rename": {"headers": ["x-a:bad name"]}})
    assert rc == 1 and "'bad name' is not a valid header" in out, out
    rc, out = check({"http_method": "get"})
    assert rc == 1 and "field 'config.http_method': invalid value: get" in out, out
    rc, out = check({"replace": {"uri": "/$(os.exit())"}})
    assert rc == 1 and "field 'config.replace.uri': value '/$(os.exit())' is not in supported format" in out, out
    rc, out = check({"add": {"headers": ["x-a:$(headers.x"]}})
    assert rc == 1 and "unbalanced" in out, out
    rc, out = check({"add": {"headers": ["x-a:$(headers.a)"]}, "replace": {"uri": "/p/$(uri_captures[1])"}})
    assert rc == 0, out
