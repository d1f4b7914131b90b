"""proxy-cache (memory strategy) through the real gateway: Kong's cache key
(X-Cache-Key recomputed here as Kong's cache_key.lua builds it), Miss / Hit /
Refresh / Bypass, what is cacheable, vary_query_params / vary_headers, TTLs,
Cache-Control, the store shared by the workers and kept across reloads, and
Kong's config errors."""

import hashlib
import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from conftest import HOST, config, free_port, large_response_handler, route, service, wait_until

ROUTE_ID = "5a1e3c1e-0b52-4bd4-9b3a-0d6e3c1a0001"
OTHER_ROUTE_ID = "5a1e3c1e-0b52-4bd4-9b3a-0d6e3c1a0002"
ALICE = "2d5a8a52-8e4b-4c0a-9a51-6a0f2d8d1a01"
BOB = "2d5a8a52-8e4b-4c0a-9a51-6a0f2d8d1a02"


def counting_handler():
    """Answers JSON numbering the requests it served; the query chooses the
    status (status=), the content type (ctype=), Cache-Control (cc=),
    Expires (expires=, seconds from now) and a chunked body (chunked=)."""
    lock = threading.Lock()
    served = [0]

    def h(conn, req):
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(req.target).query))
        with lock:
            served[0] += 1
            n = served[0]
        body = json.dumps({"n": n, "target": req.target}).encode()
        headers = [("Content-Type", q.get("ctype", "application/json")), ("Content-Length", str(len(body))),
                   ("X-Upstream", "yes")]
        if "cc" in q:
            headers.append(("Cache-Control", q["cc"]))
        if "expires" in q:
            t = time.gmtime(time.time() + int(q["expires"]))
            headers.append(("Expires", time.strftime("%a, %d %b %Y %H:%M:%S GMT", t)))
        if "chunked" in q:  # a streamed body, with trailers when chunked=trailers
            headers = [hd for hd in headers if hd[0] != "Content-Length"]
            trailers = [("X-Trailer", "t")] if q["chunked"] == "trailers" else None
            conn.send_response(int(q.get("status", "200")), headers, body, chunked=True, trailers=trailers)
            return True
        conn.send_response(int(q.get("status", "200")), headers, b"" if req.method == "HEAD" else body)
        return True

    h.served = served
    return h


def kong_key(prefix, method, target, params="", headers="", protocol="HTTP/1.1"):
    """Kong's build_cache_key: sha256 of prefix|method|uri|params|headers,
    uri being the request line cut at the first '?'."""
    line = f"{method} {target} {protocol}"
    uri = line.split("?", 1)[0]
    return hashlib.sha256(f"{prefix}|{method}|{uri}|{params}|{headers}".encode()).hexdigest()


def cache_plugin(**conf):
    conf.setdefault("strategy", "memory")
    return {"name": "proxy-cache", "config": conf}


def start(gateway_factory, upstream_factory, plugin_conf=None, extra_routes=(), **cfg):
    h = counting_handler()
    up = upstream_factory(h)
    routes = [route("r", ["/"], id=ROUTE_ID, plugins=[cache_plugin(**(plugin_conf or {}))])] + list(extra_routes)
    gw = gateway_factory(config(service("s", up, routes), **cfg))
    return gw, h


def status(r):
    return r.header("X-Cache-Status")


def body_n(r):
    return json.loads(r.body)["n"]


def test_miss_then_hit_without_the_upstream(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory)
    r1 = gw.request("GET", "/c")
    assert (r1.status, status(r1)) == (200, "Miss")
    assert r1.header("X-Cache-Key") == kong_key(ROUTE_ID, "GET", "/c")
    assert r1.header("Age") is None
    r2 = gw.request("GET", "/c")
    assert (r2.status, status(r2)) == (200, "Hit")
    assert r2.header("X-Cache-Key") == r1.header("X-Cache-Key")
    assert r2.body == r1.body and body_n(r2) == 1
    assert r2.header("Content-Type") == "application/json"
    assert r2.header("X-Upstream") == "yes"  # the stored headers come back
    assert int(r2.header("Content-Length")) == len(r2.body)
    assert 0 <= int(r2.header("Age")) <= 1
    assert h.served[0] == 1


def test_streamed_bodies_are_kept(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory)
    for target in ("/chunked?chunked=1", "/chunked?chunked=trailers"):
        r1 = gw.request("GET", target)
        assert (r1.status, status(r1)) == (200, "Miss")
        r2 = gw.request("GET", target)
        assert (r2.status, status(r2), r2.body) == (200, "Hit", r1.body)
        assert r2.header("Transfer-Encoding") is None and int(r2.header("Content-Length")) == len(r1.body)
    assert h.served[0] == 2


def test_cache_key_is_kongs(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory)
    # All query arguments, sorted, by default; the uri part stops at '?'.
    r = gw.request("GET", "/k?b=2&a=1&a=0&flag")
    assert r.header("X-Cache-Key") == kong_key(ROUTE_ID, "GET", "/k?b=2&a=1&a=0&flag", "a=0,1:b=2:flag")
    assert status(r) == "Miss"
    # Order does not matter: same key, a hit.
    r = gw.request("GET", "/k?flag&a=0&b=2&a=1")
    assert status(r) == "Hit" and body_n(r) == 1
    # Path case matters unless ignore_uri_case.
    assert status(gw.request("GET", "/K?b=2&a=1&a=0&flag")) == "Miss"
    assert h.served[0] == 2


def test_ignore_uri_case(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {"ignore_uri_case": True})
    r = gw.request("GET", "/Mixed")
    # Kong lower-cases its whole uri part: method and protocol included.
    expected = hashlib.sha256(f"{ROUTE_ID}|GET|get /mixed http/1.1||".encode()).hexdigest()
    assert (status(r), r.header("X-Cache-Key")) == ("Miss", expected)
    assert status(gw.request("GET", "/mixed")) == "Hit"
    assert h.served[0] == 1


def test_bypass_for_what_is_not_cacheable(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory)
    # Method: not looked up at all.
    for _ in range(2):
        r = gw.request("POST", "/p", body=b"x")
        assert (r.status, status(r), r.header("X-Cache-Key")) == (200, "Bypass", None)
    # Status not in response_code, content type not in content_type.
    for _ in range(2):
        r = gw.request("GET", "/s?status=418")
        assert (r.status, status(r)) == (418, "Bypass")
        # Looked up (Kong sets the key before the upstream answers), not kept.
        assert r.header("X-Cache-Key") == kong_key(ROUTE_ID, "GET", "/s?status=418", "status=418")
        r = gw.request("GET", "/t?ctype=text/html")
        assert (r.status, status(r)) == (200, "Bypass")
    # Content types match exactly, parameters included.
    assert status(gw.request("GET", "/t?ctype=application/json;%20charset=utf-8")) == "Bypass"
    assert h.served[0] == 7
    # 404 is cacheable by default.
    assert status(gw.request("GET", "/nf?status=404")) == "Miss"
    r = gw.request("GET", "/nf?status=404")
    assert (r.status, status(r)) == (404, "Hit")
    assert h.served[0] == 8


def test_non_default_methods_statuses_and_types(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {
        "request_method": ["POST"], "response_code": [418], "content_type": ["text/*", "application/json"]})
    assert status(gw.request("GET", "/a?status=418")) == "Bypass"
    assert status(gw.request("POST", "/a?status=418&ctype=text/html", body=b"1")) == "Miss"
    r = gw.request("POST", "/a?status=418&ctype=text/html", body=b"2")  # bodies are not in the key
    assert (r.status, status(r), body_n(r)) == (418, "Hit", 2)
    assert status(gw.request("POST", "/a", body=b"1")) == "Bypass"  # 200 is not listed
    assert h.served[0] == 3


def test_head_is_keyed_apart_from_get(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory)
    assert status(gw.request("GET", "/h")) == "Miss"
    r = gw.request("HEAD", "/h")
    assert (r.status, status(r), r.body) == (200, "Miss", b"")
    assert r.header("X-Cache-Key") == kong_key(ROUTE_ID, "HEAD", "/h")
    r = gw.request("HEAD", "/h")
    assert (r.status, status(r), r.body) == (200, "Hit", b"")
    assert status(gw.request("GET", "/h")) == "Hit"
    assert h.served[0] == 2


def test_vary_query_params(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {"vary_query_params": ["a"]})
    r = gw.request("GET", "/v?a=1&b=1")
    assert (status(r), r.header("X-Cache-Key")) == ("Miss", kong_key(ROUTE_ID, "GET", "/v?a=1&b=1", "a=1"))
    r = gw.request("GET", "/v?b=2&a=1")
    assert (status(r), body_n(r)) == ("Hit", 1)
    assert status(gw.request("GET", "/v?a=2")) == "Miss"
    assert status(gw.request("GET", "/v")) == "Miss"
    assert h.served[0] == 3


def test_vary_headers(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {"vary_headers": ["X-Lang"]})
    r = gw.request("GET", "/vh", headers=[("x-lang", "fr")])
    assert (status(r), r.header("X-Cache-Key")) == ("Miss", kong_key(ROUTE_ID, "GET", "/vh", "", "X-Lang=fr"))
    assert status(gw.request("GET", "/vh", headers=[("X-Lang", "fr"), ("X-Other", "1")])) == "Hit"
    assert status(gw.request("GET", "/vh", headers=[("X-Lang", "de")])) == "Miss"
    assert status(gw.request("GET", "/vh")) == "Miss"
    r = gw.request("GET", "/vh", headers=[("X-Lang", "fr"), ("X-Lang", "de")])
    assert r.header("X-Cache-Key") == kong_key(ROUTE_ID, "GET", "/vh", "", "X-Lang=de,fr")
    assert h.served[0] == 4


def test_cache_ttl_expiry_refreshes(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {"cache_ttl": 1, "storage_ttl": 60})
    assert status(gw.request("GET", "/ttl")) == "Miss"
    assert status(gw.request("GET", "/ttl")) == "Hit"
    time.sleep(2.2)
    # Still stored (storage_ttl) but older than cache_ttl: fetched again.
    r = gw.request("GET", "/ttl")
    assert (status(r), body_n(r)) == ("Refresh", 2)
    r = gw.request("GET", "/ttl")
    assert (status(r), body_n(r)) == ("Hit", 2)
    assert h.served[0] == 2


def test_storage_ttl_defaults_to_cache_ttl(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {"cache_ttl": 1})
    assert status(gw.request("GET", "/st")) == "Miss"
    time.sleep(2.2)
    assert status(gw.request("GET", "/st")) == "Miss"  # gone from the store
    assert h.served[0] == 2


def test_storage_ttl_zero_keeps_entries(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {"cache_ttl": 1, "storage_ttl": 0})
    assert status(gw.request("GET", "/z")) == "Miss"
    time.sleep(2.2)
    assert status(gw.request("GET", "/z")) == "Refresh"  # still stored, as a shared dict's TTL 0 keeps it
    assert h.served[0] == 2


def test_cache_control_request_directives(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {"cache_control": True})
    target = "/rq?cc=max-age%3D60"
    assert status(gw.request("GET", target)) == "Miss"
    assert status(gw.request("GET", target)) == "Hit"
    for cc in ("no-cache", "no-store"):
        r = gw.request("GET", target, headers=[("Cache-Control", cc)])
        assert (status(r), r.header("X-Cache-Key")) == ("Bypass", None)
    time.sleep(1.1)
    r = gw.request("GET", target, headers=[("Cache-Control", "max-age=0")])
    assert (status(r), body_n(r)) == ("Refresh", 4)
    assert status(gw.request("GET", target, headers=[("Cache-Control", "min-fresh=100")])) == "Refresh"
    # only-if-cached: 504 when nothing is stored.
    r = gw.request("GET", "/nothing", headers=[("Cache-Control", "only-if-cached")])
    assert r.status == 504
    assert h.served[0] == 5


def test_cache_control_response_directives(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {"cache_control": True})
    # No max-age, no Expires: a TTL of 0, never kept.
    for _ in range(2):
        assert status(gw.request("GET", "/none")) == "Bypass"
    for cc in ("private,%20max-age%3D60", "no-store", "no-cache,max-age%3D60"):
        for _ in range(2):
            assert status(gw.request("GET", f"/d?cc={cc}")) == "Bypass"
    assert h.served[0] == 8
    # max-age, s-maxage and Expires give the entry its TTL.
    for target in ("/m?cc=max-age%3D1", "/m?cc=s-maxage%3D1", "/m?expires=2"):
        assert status(gw.request("GET", target)) == "Miss"
        assert status(gw.request("GET", target)) == "Hit"
    time.sleep(3.1)
    for target in ("/m?cc=max-age%3D1", "/m?cc=s-maxage%3D1", "/m?expires=2"):
        assert status(gw.request("GET", target)) == "Miss"
    assert h.served[0] == 14


def test_cache_control_off_ignores_directives(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory)
    assert status(gw.request("GET", "/o?cc=private")) == "Miss"
    assert status(gw.request("GET", "/o?cc=private", headers=[("Cache-Control", "no-cache")])) == "Hit"
    # Kong reads no Authorization header (cacheable_request looks at an
    # nginx variable that does not exist).
    assert status(gw.request("GET", "/o?cc=private", headers=[("Authorization", "Basic eDp5")])) == "Hit"
    assert h.served[0] == 1


def test_response_headers_switches_and_kong_debug(gateway_factory, upstream_factory):
    gw, h = start(gateway_factory, upstream_factory, {
        "response_headers": {"age": False, "X-Cache-Status": False, "X-Cache-Key": False}})
    r1 = gw.request("GET", "/q")
    r2 = gw.request("GET", "/q")
    for r in (r1, r2):
        assert r.status == 200
        assert (r.header("X-Cache-Status"), r.header("X-Cache-Key"), r.header("Age")) == (None, None, None)
    assert h.served[0] == 1
    r = gw.request("GET", "/q", headers=[("Kong-Debug", "1")])
    assert (status(r), r.header("X-Cache-Key")) == ("Hit", kong_key(ROUTE_ID, "GET", "/q"))
    assert r.header("Age") is not None


def test_workers_share_the_store_and_reloads_keep_it(gateway_factory, upstream_factory):
    h = counting_handler()
    up = upstream_factory(h)
    gw = gateway_factory(config(service("s", up, [route("r", ["/"], plugins=[cache_plugin()])])), workers=2)
    # Each request on its own connection: the workers take them in turn, and
    # each worker has its own upstream connections.
    for i in range(20):
        assert status(gw.request("GET", f"/w{i}")) == "Miss"
    assert up.connections >= 2, "both workers should have proxied misses"
    # Whichever worker takes a request, the entry another one stored is there
    # (20 keys: all landing on the worker that stored them is 1 in 2**20).
    for i in range(20):
        r = gw.request("GET", f"/w{i}")
        assert (status(r), body_n(r)) == ("Hit", i + 1)
    assert h.served[0] == 20
    # A new config (its plugins built anew) keeps the store.
    gw.reload(config(service("s", up, [
        route("r", ["/"], plugins=[cache_plugin()]),
        route("new", ["/new"], plugins=[{"name": "request-termination", "config": {"status_code": 418}}]),
    ])))
    assert wait_until(lambda: gw.request("GET", "/new").status == 418)
    served = h.served[0]  # /new went upstream until the reload took effect
    r = gw.request("GET", "/w0")
    assert (status(r), body_n(r)) == ("Hit", 1)
    assert h.served[0] == served


def test_consumer_and_route_scope_the_key(gateway_factory, upstream_factory):
    h = counting_handler()
    up = upstream_factory(h)
    routes = [
        route("auth", ["/auth"], id=ROUTE_ID, plugins=[{"name": "key-auth"}, cache_plugin()]),
        route("open", ["/open"], id=OTHER_ROUTE_ID),
    ]
    consumers = [
        {"username": "alice", "id": ALICE, "keyauth_credentials": [{"key": "alice-key"}]},
        {"username": "bob", "id": BOB, "keyauth_credentials": [{"key": "bob-key"}]},
    ]
    gw = gateway_factory(config(service("s", up, routes), consumers=consumers, plugins=[cache_plugin()]))
    ra = gw.request("GET", "/auth", headers=[("apikey", "alice-key")])
    assert (status(ra), ra.header("X-Cache-Key")) == ("Miss", kong_key(f"{ALICE}:{ROUTE_ID}", "GET", "/auth"))
    rb = gw.request("GET", "/auth", headers=[("apikey", "bob-key")])
    assert (status(rb), rb.header("X-Cache-Key")) == ("Miss", kong_key(f"{BOB}:{ROUTE_ID}", "GET", "/auth"))
    ra = gw.request("GET", "/auth", headers=[("apikey", "alice-key")])
    assert (status(ra), body_n(ra)) == ("Hit", 1)
    assert gw.request("GET", "/auth").status == 401  # unauthenticated: never reaches the cache
    # The global instance on another route: keyed by that route.
    r = gw.request("GET", "/open")
    assert (status(r), r.header("X-Cache-Key")) == ("Miss", kong_key(OTHER_ROUTE_ID, "GET", "/open"))
    assert status(gw.request("GET", "/open")) == "Hit"
    assert h.served[0] == 3


def test_consumer_scoped_instance(gateway_factory, upstream_factory):
    h = counting_handler()
    up = upstream_factory(h)
    routes = [route("auth", ["/"], id=ROUTE_ID, plugins=[{"name": "key-auth"}])]
    consumers = [
        {"username": "alice", "id": ALICE, "keyauth_credentials": [{"key": "alice-key"}],
         "plugins": [cache_plugin()]},
        {"username": "bob", "id": BOB, "keyauth_credentials": [{"key": "bob-key"}]},
    ]
    gw = gateway_factory(config(service("s", up, routes), consumers=consumers))
    r = gw.request("GET", "/x", headers=[("apikey", "alice-key")])
    assert (status(r), r.header("X-Cache-Key")) == ("Miss", kong_key(f"{ALICE}:{ROUTE_ID}", "GET", "/x"))
    assert status(gw.request("GET", "/x", headers=[("apikey", "alice-key")])) == "Hit"
    for _ in range(2):
        r = gw.request("GET", "/x", headers=[("apikey", "bob-key")])
        assert (r.status, status(r)) == (200, None)  # bob has no cache
    assert h.served[0] == 3


def test_body_larger_than_an_entry_is_not_kept(gateway_factory, upstream_factory):
    big = large_response_handler(5 << 20)
    served = [0]

    def handler(conn, req):
        served[0] += 1
        conn.send_response(200, [("Content-Type", "text/plain")], big.data)
        return True

    up = upstream_factory(handler)
    gw = gateway_factory(config(service("s", up, [route("r", ["/"], plugins=[cache_plugin()])])))
    for _ in range(2):
        r = gw.request("GET", "/big", timeout=30)
        assert (r.status, status(r), len(r.body)) == (200, "Miss", 5 << 20)
        assert hashlib.sha256(r.body).hexdigest() == big.digest
    assert served[0] == 2


def admin_call(port, method, path):
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_admin_api_reads_and_purges(gateway_factory, upstream_factory):
    h = counting_handler()
    up = upstream_factory(h)
    admin = free_port()
    cfg = config(service("s", up, [route("r", ["/"], id=ROUTE_ID, plugins=[cache_plugin()])]))
    gw = gateway_factory(cfg, extra_args=["--admin-listen", f"{HOST}:{admin}"])
    key_a = gw.request("GET", "/a").header("X-Cache-Key")
    key_b = gw.request("GET", "/b").header("X-Cache-Key")
    status_code, body = admin_call(admin, "GET", f"/proxy-cache/{key_a}")
    assert status_code == 200
    entry = json.loads(body)
    assert (entry["status"], entry["ttl"], entry["version"]) == (200, 300, 1)
    assert json.loads(entry["body"])["n"] == 1 and entry["body_len"] == len(entry["body"])
    assert entry["headers"]["Content-Type"] == "application/json"
    assert "Content-Length" not in entry["headers"]
    assert admin_call(admin, "GET", "/proxy-cache/0000")[0] == 404
    # One entry purged: fetched again; the other still a hit.
    assert admin_call(admin, "DELETE", f"/proxy-cache/{key_a}")[0] == 204
    assert admin_call(admin, "DELETE", f"/proxy-cache/{key_a}")[0] == 404
    assert admin_call(admin, "GET", f"/proxy-cache/{key_a}")[0] == 404
    assert status(gw.request("GET", "/a")) == "Miss"
    assert status(gw.request("GET", "/b")) == "Hit"
    # Everything purged.
    assert admin_call(admin, "DELETE", "/proxy-cache")[0] == 204
    assert admin_call(admin, "GET", f"/proxy-cache/{key_b}")[0] == 404
    assert status(gw.request("GET", "/b")) == "Miss"
    assert admin_call(admin, "GET", "/proxy-cache")[0] == 405
    assert h.served[0] == 4


def check(wasmgate_bin, tmp_path, plugin_conf):
    cfg = config(service("s", 9, [route("r", ["/"], plugins=[{"name": "proxy-cache", "config": plugin_conf}])]))
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([wasmgate_bin, "check", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_config_errors_as_kong(wasmgate_bin, tmp_path):
    rc, out = check(wasmgate_bin, tmp_path, {"strategy": "memory"})
    assert rc == 0, out
    f = "plugin 'proxy-cache' field 'config.{}': {}".format
    cases = [
        ({}, f("strategy", "required field missing")),
        ({"strategy": "redis"}, f("strategy", "expected one of: memory")),
        ({"strategy": "memory", "response_code": [99]}, "value should be between 100 and 900"),
        ({"strategy": "memory", "response_code": []}, f("response_code", "length must be at least 1")),
        ({"strategy": "memory", "response_code": "x"}, f("response_code", "expected an array")),
        ({"strategy": "memory", "response_code": [123.5]}, "expected an integer"),
        ({"strategy": "memory", "cache_ttl": -1}, f("cache_ttl", "value must be greater than 0")),
        ({"strategy": "memory", "request_method": ["DELETE"]}, "expected one of: HEAD, GET, POST, PATCH, PUT"),
        ({"strategy": "memory", "memory": {"dictionary_name": "nope"}}, "missing shared dict 'nope'"),
    ]
    for conf, message in cases:
        rc, out = check(wasmgate_bin, tmp_path, conf)
        assert rc == 1 and message in out, (conf, out)
