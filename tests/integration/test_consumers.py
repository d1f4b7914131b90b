"""Consumers, key-auth credentials and ACL groups (Kong's declarative
entities, nested under consumers or top level) with the key-auth and acl
plugins, through the real gateway: who gets in, Kong's 401/403 answers, and
the X-Consumer-* headers the upstream sees."""

import json
import subprocess

from conftest import config, route, service

ALICE = "2d5a8a52-8e4b-4c0a-9a51-6a0f2d8d1a01"


def consumers():
    return [
        {"username": "alice", "id": ALICE, "custom_id": "cust-1",
         "keyauth_credentials": [{"key": "alice-key", "id": "9b1c1a7e-3f44-4f57-8d3e-1c2b3a4d5e6f"}],
         "acls": [{"group": "gold"}, {"group": "staff"}]},
        {"username": "bob", "keyauth_credentials": [{"key": "bob-key"}], "acls": [{"group": "silver"}]},
        {"custom_id": "no-groups", "keyauth_credentials": [{"key": "carol-key"}]},
        {"username": "guest"},
    ]


def upstream_headers(r):
    return {k.lower(): v for k, v in r.json()["headers"]}


def test_key_auth_identifies_the_consumer(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "key-auth"}]),
    ]), consumers=consumers()))
    r = gw.request("GET", "/", headers=[("apikey", "alice-key")])
    assert r.status == 200
    h = upstream_headers(r)
    assert h["x-consumer-id"] == ALICE
    assert h["x-consumer-username"] == "alice"
    assert h["x-consumer-custom-id"] == "cust-1"
    assert h["x-credential-identifier"] == "9b1c1a7e-3f44-4f57-8d3e-1c2b3a4d5e6f"
    assert "x-anonymous-consumer" not in h
    assert h["apikey"] == "alice-key"  # hide_credentials is off by default
    # The key in the query string works too; a consumer without a custom_id
    # has the header removed even if the client sent one.
    r = gw.request("GET", "/?apikey=bob-key", headers=[("X-Consumer-Custom-ID", "forged")])
    assert r.status == 200
    h = upstream_headers(r)
    assert h["x-consumer-username"] == "bob" and "x-consumer-custom-id" not in h


def test_key_auth_refusals(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "key-auth"}]),
        route("realm", ["/realm"], plugins=[{"name": "key-auth", "config": {"realm": "shop"}}]),
    ]), consumers=consumers()))
    r = gw.request("GET", "/")
    assert (r.status, r.json()) == (401, {"message": "No API key found in request", "request_id": r.header("X-Kong-Request-Id")})
    assert r.header("WWW-Authenticate") == "Key"
    r = gw.request("GET", "/", headers=[("apikey", "wrong")])
    assert (r.status, r.json()) == (401, {"message": "Unauthorized", "request_id": r.header("X-Kong-Request-Id")})
    r = gw.request("GET", "/", headers=[("apikey", "alice-key"), ("apikey", "bob-key")])
    assert (r.status, r.json()) == (401, {"message": "Duplicate API key found", "request_id": r.header("X-Kong-Request-Id")})
    r = gw.request("GET", "/?apikey=a&apikey=b")
    assert (r.status, r.json()) == (401, {"message": "Duplicate API key found", "request_id": r.header("X-Kong-Request-Id")})
    r = gw.request("GET", "/realm")
    assert r.status == 401 and r.header("WWW-Authenticate") == 'Key realm="shop"'
    assert len(upstream.requests) == 0


def test_key_auth_options(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("hide", ["/hide"], plugins=[{"name": "key-auth", "config": {
            "hide_credentials": True, "key_names": ["x-key", "k"]}}]),
        route("anon", ["/anon"], plugins=[{"name": "key-auth", "config": {"anonymous": "guest"}}]),
        route("header-only", ["/header-only"], plugins=[{"name": "key-auth", "config": {"key_in_query": False}}]),
        route("preflight", ["/preflight"], plugins=[{"name": "key-auth", "config": {"run_on_preflight": False}}]),
    ]), consumers=consumers()))
    r = gw.request("GET", "/hide?k=alice-key&other=1")
    assert r.status == 200 and r.json()["path"] == "/hide?other=1"
    r = gw.request("GET", "/hide", headers=[("X-Key", "bob-key")])
    assert r.status == 200 and "x-key" not in upstream_headers(r)
    r = gw.request("GET", "/anon")
    h = upstream_headers(r)
    assert r.status == 200 and h["x-consumer-username"] == "guest" and h["x-anonymous-consumer"] == "true"
    assert "x-credential-identifier" not in h
    r = gw.request("GET", "/anon", headers=[("apikey", "alice-key")])
    assert upstream_headers(r)["x-consumer-username"] == "alice"
    assert gw.request("GET", "/header-only?apikey=alice-key").status == 401
    assert gw.request("OPTIONS", "/preflight").status == 200
    assert gw.request("GET", "/preflight").status == 401


def test_acl_with_key_auth(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("gold", ["/gold"], plugins=[{"name": "key-auth"}, {"name": "acl", "config": {"allow": ["gold"]}}]),
        route("no-silver", ["/no-silver"], plugins=[{"name": "key-auth"},
                                                    {"name": "acl", "config": {"deny": ["silver"],
                                                                               "hide_groups_header": True}}]),
        route("acl-only", ["/acl-only"], plugins=[{"name": "acl", "config": {"allow": ["gold"]}}]),
        route("anon", ["/anon"], plugins=[{"name": "key-auth", "config": {"anonymous": "guest"}},
                                          {"name": "acl", "config": {"allow": ["gold"]}}]),
    ]), consumers=consumers()))
    r = gw.request("GET", "/gold", headers=[("apikey", "alice-key")])
    assert r.status == 200 and upstream_headers(r)["x-consumer-groups"] == "gold, staff"
    r = gw.request("GET", "/gold", headers=[("apikey", "bob-key")])
    assert (r.status, r.json()) == (403, {"message": "You cannot consume this service", "request_id": r.header("X-Kong-Request-Id")})
    r = gw.request("GET", "/gold", headers=[("apikey", "carol-key")])  # no groups at all
    assert (r.status, r.json()) == (403, {"message": "You cannot consume this service", "request_id": r.header("X-Kong-Request-Id")})
    assert gw.request("GET", "/gold").status == 401  # key-auth (1250) runs before acl (950)
    r = gw.request("GET", "/no-silver", headers=[("apikey", "alice-key")])
    assert r.status == 200 and "x-consumer-groups" not in upstream_headers(r)
    assert gw.request("GET", "/no-silver", headers=[("apikey", "bob-key")]).status == 403
    assert gw.request("GET", "/no-silver", headers=[("apikey", "carol-key")]).status == 200
    r = gw.request("GET", "/acl-only")
    assert (r.status, r.json()) == (401, {"message": "Unauthorized", "request_id": r.header("X-Kong-Request-Id")})  # nobody authenticated
    r = gw.request("GET", "/anon")
    assert (r.status, r.json()) == (401, {"message": "Unauthorized", "request_id": r.header("X-Kong-Request-Id")})  # anonymous, without groups


def test_top_level_credentials_and_acls(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "key-auth"}, {"name": "acl", "config": {"allow": ["ops"]}}]),
    ]), consumers=[{"username": "dana"}],
        keyauth_credentials=[{"consumer": "dana", "key": "dana-key"}],
        acls=[{"consumer": {"username": "dana"}, "group": "ops"}]))
    r = gw.request("GET", "/", headers=[("apikey", "dana-key")])
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "dana"


def check(wasmgate_bin, tmp_path, cfg):
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([wasmgate_bin, "check", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_consumer_config_errors(wasmgate_bin, tmp_path, upstream):
    svc = service("s", upstream, [route("r", ["/"])])
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[{"tags": ["x"]}]))
    assert rc == 1 and ("consumer '0' field '-': at least one of these fields must be non-empty: "
                        "'custom_id', 'username'") in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[{"username": "a"}, {"username": "a"}]))
    assert rc == 1 and "uniqueness violation: 'consumers' entity with username set to 'a' already declared" in out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[
        {"username": "a", "keyauth_credentials": [{"key": "k"}]},
        {"username": "b", "keyauth_credentials": [{"key": "k"}]}]))
    assert rc == 1 and "uniqueness violation: 'keyauth_credentials' entity with key set to 'k' already declared" in out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, keyauth_credentials=[{"consumer": "ghost", "key": "k"}]))
    assert rc == 1 and "invalid reference 'consumer: ghost' (no such entry in 'consumers')" in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, plugins=[{"name": "acl", "config": {"allow": ["a"],
                                                                                           "deny": ["b"]}}]))
    assert rc == 1 and ("exactly one of these fields must be non-empty: 'config.allow', 'config.deny'") in out, out
    # Kong's typedefs.no_consumer: an authentication plugin (or acl, cors)
    # cannot be scoped to a consumer, nested or by reference.
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[
        {"username": "a", "plugins": [{"name": "key-auth"}, {"name": "request-termination"}]}]))
    assert rc == 1 and "field 'consumer': value must be null" in out, out
    assert out.count("value must be null") == 1, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[{"username": "a"}], plugins=[
        {"name": "acl", "consumer": "a", "config": {"allow": ["x"]}}]))
    assert rc == 1 and "plugin 'acl' field 'consumer': value must be null" in out, out


def test_credential_ids_do_not_derive_from_keys(wasmgate_bin, tmp_path, upstream):
    """A credential's generated id must not let anyone test key guesses: two
    files that differ only in the key give the same id."""
    def dump(key):
        path = tmp_path / f"{key}.yaml"
        path.write_text(json.dumps(config(service("s", upstream, [route("r", ["/"])]),
                                          consumers=[{"username": "a", "keyauth_credentials": [{"key": key}]}])))
        p = subprocess.run([wasmgate_bin, "check", "--dump", str(path)], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr
        return json.loads(p.stdout)["keyauth_credentials"][0]["id"]
    assert dump("first-secret") == dump("second-secret")


# ---- rate-limiting (local policy) -------------------------------------------

import re
import time


def wait_for_fresh_minute(margin=3):
    """Tests count within one calendar minute: start away from its end."""
    s = time.time() % 60
    if s > 60 - margin - 5:
        time.sleep(60 - s + 0.2)


def test_rate_limiting_counts_across_workers(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "rate-limiting", "config": {"minute": 6, "hour": 100,
                                                                           "limit_by": "ip"}}]),
    ])), workers=2)
    wait_for_fresh_minute()
    for i in range(6):
        r = gw.request("GET", "/")  # a new connection each time: both workers take some
        assert r.status == 200, (i, r.body)
        assert r.header("X-RateLimit-Limit-Minute") == "6"
        assert r.header("X-RateLimit-Remaining-Minute") == str(5 - i)
        assert r.header("X-RateLimit-Limit-Hour") == "100"
        assert r.header("RateLimit-Limit") == "6"
        assert r.header("RateLimit-Remaining") == str(5 - i)
        assert 1 <= int(r.header("RateLimit-Reset")) <= 60
    r = gw.request("GET", "/")
    assert (r.status, r.json()) == (429, {"message": "API rate limit exceeded", "request_id": r.header("X-Kong-Request-Id")})
    assert r.header("X-RateLimit-Remaining-Minute") == "0"
    assert 1 <= int(r.header("Retry-After")) <= 60
    assert len(upstream.requests) == 6


def test_rate_limiting_by_consumer_with_key_auth(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "key-auth"},
                                   {"name": "rate-limiting", "config": {"minute": 2, "hide_client_headers": True,
                                                                        "error_code": 403,
                                                                        "error_message": "slow down"}}]),
    ]), consumers=consumers()))
    wait_for_fresh_minute()
    for _ in range(2):
        r = gw.request("GET", "/", headers=[("apikey", "alice-key")])
        assert r.status == 200 and r.header("X-RateLimit-Limit-Minute") is None
    r = gw.request("GET", "/", headers=[("apikey", "alice-key")])
    assert (r.status, r.json()) == (403, {"message": "slow down", "request_id": r.header("X-Kong-Request-Id")})
    assert r.header("Retry-After") is None  # hidden too
    # Another consumer has its own count.
    assert gw.request("GET", "/", headers=[("apikey", "bob-key")]).status == 200


def test_rate_limiting_alone_sends_the_request_as_the_client_sent_it(gateway_factory, upstream):
    # Counting by client address reads no request header, so the gateway
    # leaves the request head out of the handlers' maps: it must go up as
    # for a route without plugins (path stripped under the service's path,
    # query kept, the client's headers as sent), and the answer still
    # carries the quota headers.
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/api"], plugins=[{"name": "rate-limiting", "config": {"hour": 1000}}]),
        route("h", ["/team"], plugins=[{"name": "rate-limiting", "config": {
            "hour": 2, "limit_by": "header", "header_name": "X-Team"}}]),
    ], path="/base")))
    r = gw.request("GET", "/api/x?q=1", headers=[("X-Down", "two"), ("X-Consumer-ID", "the client's own")])
    assert r.status == 200, r.body
    assert (r.header("X-RateLimit-Limit-Hour"), r.header("X-RateLimit-Remaining-Hour")) == ("1000", "999")
    assert r.json()["path"] == "/base/x?q=1"
    h = upstream_headers(r)
    assert h["x-down"] == "two" and h["x-consumer-id"] == "the client's own"
    # Counting by a header reads the request head: each team has its own count.
    for team, left in (("a", "1"), ("a", "0"), ("b", "1")):
        r = gw.request("GET", "/team", headers=[("X-Team", team)])
        assert (r.status, r.header("X-RateLimit-Remaining-Hour")) == (200, left), (team, r.status)
    assert gw.request("GET", "/team", headers=[("X-Team", "a")]).status == 429


def test_rate_limiting_config_errors(wasmgate_bin, tmp_path, upstream):
    def cfg(**c):
        return config(service("s", upstream, [route("r", ["/"], plugins=[{"name": "rate-limiting", "config": c}])]))
    rc, out = check(wasmgate_bin, tmp_path, cfg())
    assert rc == 1 and "at least one of these fields must be non-empty: 'config.second', 'config.minute'" in out
    rc, out = check(wasmgate_bin, tmp_path, cfg(second=20, hour=10))
    assert rc == 1 and "The limit for hour(10.0) cannot be lower than the limit for second(20.0)" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(minute=5, limit_by="header"))
    assert rc == 1 and "field 'config.header_name': required field missing" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(minute=5, policy="cluster"))
    assert rc == 1 and "field 'config.policy': policy 'cluster' is not supported: it needs a database" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(minute=0))
    assert rc == 1 and "field 'config.minute': value must be greater than 0" in out, out


# ---- consumer-scoped plugins ------------------------------------------------

def which(r):
    return r.header("X-Which")


def tag(value, **scope):
    """A response-transformer instance that names itself in X-Which."""
    return dict({"name": "response-transformer", "config": {"add": {"headers": [f"X-Which:{value}"]}}}, **scope)


def test_consumer_scoped_instances_follow_kongs_precedence(gateway_factory, upstream):
    """Kong's order: consumer+route+service > consumer+route > consumer+service
    > route+service > consumer > route > service > global; the consumer is
    the one key-auth identified before the plugin's turn."""
    people = consumers()
    people[0]["plugins"] = [tag("alice")]                                  # consumer only
    people[1]["plugins"] = [tag("bob-on-both", route="both"),              # consumer + route
                            tag("bob-on-s2", service="s2")]                # consumer + service
    gw = gateway_factory(config(
        service("s", upstream, [route("both", ["/both"]), route("route-only", ["/route-only"],
                                                                 plugins=[tag("route")])]),
        service("s2", upstream, [route("global-only", ["/global-only"])]),
        consumers=people,
        plugins=[{"name": "key-auth"}, tag("global"), tag("route+service", route="both", service="s")]))
    expected = {
        ("/both", "alice-key"): "route+service",   # route+service beats consumer only
        ("/both", "bob-key"): "bob-on-both",       # consumer+route beats route+service
        ("/both", "carol-key"): "route+service",
        ("/route-only", "alice-key"): "alice",     # consumer only beats route
        ("/route-only", "bob-key"): "route",       # bob's instances are scoped elsewhere
        ("/route-only", "carol-key"): "route",
        ("/global-only", "alice-key"): "alice",
        ("/global-only", "bob-key"): "bob-on-s2",  # consumer+service beats global
        ("/global-only", "carol-key"): "global",
    }
    for (path, key), want in expected.items():
        r = gw.request("GET", path, headers=[("apikey", key)])
        assert (r.status, which(r)) == (200, want), (path, key)
    # No consumer (key-auth refused): only the consumer-less instances ran.
    r = gw.request("GET", "/route-only")
    assert (r.status, which(r)) == (401, "route")


def test_request_termination_for_one_consumer_and_the_anonymous_one(gateway_factory, upstream):
    people = consumers()
    people[1]["plugins"] = [{"name": "request-termination", "config": {"status_code": 403, "message": "bob is out"}}]
    people[3]["plugins"] = [tag("anonymous")]
    gw = gateway_factory(config(service("s", upstream, [
        route("a", ["/a"], plugins=[{"name": "key-auth", "config": {"anonymous": "guest"}}]),
        route("b", ["/b"], plugins=[{"name": "key-auth"}]),
    ]), consumers=people))
    for path in ("/a", "/b"):
        r = gw.request("GET", path, headers=[("apikey", "bob-key")])
        assert (r.status, r.json()["message"]) == (403, "bob is out"), path
        r = gw.request("GET", path, headers=[("apikey", "alice-key")])
        assert r.status == 200 and which(r) is None, path
    assert all(req.header("X-Consumer-Username") != "bob" for req in upstream.requests)
    # Kong runs the anonymous consumer's plugins for whoever came in as it.
    r = gw.request("GET", "/a")
    assert (r.status, which(r)) == (200, "anonymous")
    assert upstream_headers(r)["x-anonymous-consumer"] == "true"


def test_rate_limiting_by_consumer_with_its_own_limit(gateway_factory, upstream):
    """key-auth + acl + rate-limiting by consumer, where alice has her own,
    lower limit: the route's limit for everyone else."""
    people = consumers()
    people[0]["plugins"] = [{"name": "rate-limiting", "config": {"minute": 2, "limit_by": "consumer"}}]
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "key-auth"}, {"name": "acl", "config": {"allow": ["gold", "silver"]}},
                                   {"name": "rate-limiting", "config": {"minute": 5, "limit_by": "consumer"}}]),
    ]), consumers=people))
    codes = [gw.request("GET", "/", headers=[("apikey", "alice-key")]).status for _ in range(4)]
    assert codes == [200, 200, 429, 429]
    r = gw.request("GET", "/", headers=[("apikey", "bob-key")])
    assert r.status == 200 and r.header("X-RateLimit-Limit-Minute") == "5"
    assert r.header("X-RateLimit-Remaining-Minute") == "4"
    # carol has no ACL group: acl (950) refuses her before rate-limiting (910).
    r = gw.request("GET", "/", headers=[("apikey", "carol-key")])
    assert r.status == 403 and r.header("X-RateLimit-Limit-Minute") is None
