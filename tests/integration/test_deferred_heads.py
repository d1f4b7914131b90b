"""Heads that handlers read only in their own phase (key-auth: the request
head in access; rate-limiting: the response head in header_filter) are not
copied into the Exchange's maps unless a handler changes an entry
(pipeline::Chain::lazy, HeaderMap::defer). These cases make them copy the
head in, and check that the result is what a full map gives.
"""
from conftest import config, fixed_handler, route, service


def plugin(name, **config_fields):
    return {"name": name, "config": config_fields}


def test_rate_limiting_replaces_the_upstreams_own_quota_headers(gateway_factory, upstream_factory):
    up = upstream_factory(handler=fixed_handler(200, [("X-Before", "1"), ("X-RateLimit-Limit-Minute", "999"),
                                                      ("RateLimit-Remaining", "77"), ("X-After", "2")], b"ok"))
    gw = gateway_factory(config(service("s", up, [route("r", ["/"], plugins=[plugin("rate-limiting", minute=5)])])))
    resp = gw.request("GET", "/x")
    assert resp.status == 200
    assert resp.body == b"ok"
    assert resp.headers_all("x-ratelimit-limit-minute") == ["5"]
    assert resp.headers_all("ratelimit-remaining") == ["4"]
    assert resp.headers_all("ratelimit-limit") == ["5"]
    names = [k.lower() for k, _ in resp.headers]
    # replaced where the upstream had them; the upstream's other lines kept in order
    assert names.index("x-before") < names.index("x-ratelimit-limit-minute") < names.index("x-after")
    # and without upstream quota headers: added after the upstream's lines
    plain = gateway_factory(config(service("s", upstream_factory(handler=fixed_handler(200, [("X-Up", "1")], b"ok")),
                                           [route("r", ["/"], plugins=[plugin("rate-limiting", minute=5)])])))
    resp = plain.request("GET", "/x")
    names = [k.lower() for k, _ in resp.headers]
    assert resp.headers_all("x-ratelimit-remaining-minute") == ["4"]
    assert names.index("x-up") < names.index("x-ratelimit-limit-minute")


def test_key_auth_reads_a_deferred_head_and_copies_it_in_to_hide_the_key(gateway_factory, upstream):
    consumers = [{"username": "alice", "keyauth_credentials": [{"key": "k-alice"}]}]
    cfg = config(service("s", upstream, [
        route("shown", ["/shown"], plugins=[plugin("key-auth")]),
        route("hidden", ["/hidden"], plugins=[plugin("key-auth", hide_credentials=True)]),
    ]))
    cfg["consumers"] = consumers
    gw = gateway_factory(cfg)
    assert gw.request("GET", "/shown", headers=[("apikey", "wrong")]).status == 401
    r = gw.request("GET", "/shown", headers=[("X-First", "1"), ("apikey", "k-alice"), ("X-Last", "2")])
    assert r.status == 200
    seen = upstream.requests[-1]
    assert seen.header("apikey") == "k-alice"
    assert seen.header("x-consumer-username") == "alice"
    names = [k.lower() for k, _ in seen.headers]
    assert names.index("x-first") < names.index("apikey") < names.index("x-last") < names.index("x-consumer-username")
    r = gw.request("GET", "/hidden", headers=[("X-First", "1"), ("apikey", "k-alice"),
                                              ("X-Consumer-Username", "mallory"), ("X-Last", "2")])
    assert r.status == 200
    seen = upstream.requests[-1]
    assert seen.header("apikey") is None
    assert seen.headers_all("x-consumer-username") == ["alice"]
    assert seen.header("x-first") == "1" and seen.header("x-last") == "2"
    r = gw.request("GET", "/hidden/p?apikey=k-alice&q=1")
    assert r.status == 200
    assert upstream.requests[-1].target == "/hidden/p?q=1"
