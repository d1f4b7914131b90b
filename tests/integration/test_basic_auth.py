"""basic-auth credentials (Kong's basicauth_credentials: nested under a
consumer or top level) and the basic-auth plugin, through the real gateway:
Kong's salted SHA-1 of the password at load, the Proxy-Authorization then
Authorization headers, Kong's 401 answers, anonymous, hide_credentials, and
basic-auth with acl."""

import base64
import hashlib
import json
import subprocess

from conftest import config, route, service

ALICE = "5b0f3c1e-7a2d-4e8f-9c61-2f4b8d7e1a01"
ALICE_CRED = "0c4d6f2a-1b3e-4a5c-8d7f-9e0a1b2c3d4e"


def consumers():
    return [
        {"username": "alice", "id": ALICE, "custom_id": "cust-a", "acls": [{"group": "gold"}],
         "basicauth_credentials": [{"id": ALICE_CRED, "username": "alice-login", "password": "s3cret:with:colons"}]},
        {"username": "bob", "basicauth_credentials": [{"username": "bob-login", "password": "hunter2"}],
         "acls": [{"group": "silver"}]},
        {"username": "guest"},
    ]


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def upstream_headers(r):
    return {k.lower(): v for k, v in r.json()["headers"]}


def check(wasmgate_bin, tmp_path, cfg, dump=False):
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    args = [wasmgate_bin, "check"] + (["--dump"] if dump else []) + [str(path)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_basic_auth_identifies_the_consumer(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "basic-auth"}]),
    ]), consumers=consumers()))
    r = gw.request("GET", "/", headers=[("Authorization", basic("alice-login", "s3cret:with:colons"))])
    assert r.status == 200, r.body
    h = upstream_headers(r)
    assert h["x-consumer-id"] == ALICE
    assert h["x-consumer-username"] == "alice"
    assert h["x-consumer-custom-id"] == "cust-a"
    assert h["x-credential-identifier"] == "alice-login"  # Kong sends the credential's username
    assert "x-anonymous-consumer" not in h
    assert h["authorization"].startswith("Basic ")  # hide_credentials is off by default
    # Proxy-Authorization works too; lower-case "basic" and extra spaces are accepted.
    r = gw.request("GET", "/", headers=[("Proxy-Authorization", "basic   " + basic("bob-login", "hunter2")[6:]),
                                        ("X-Consumer-Custom-ID", "forged")])
    assert r.status == 200
    h = upstream_headers(r)
    assert h["x-consumer-username"] == "bob" and "x-consumer-custom-id" not in h
    assert h["x-credential-identifier"] == "bob-login"
    # Proxy-Authorization is tried first; a wrong one falls back to Authorization.
    r = gw.request("GET", "/", headers=[("Proxy-Authorization", basic("bob-login", "wrong")),
                                        ("Authorization", basic("alice-login", "s3cret:with:colons"))])
    assert r.status == 401
    r = gw.request("GET", "/", headers=[("Proxy-Authorization", basic("nobody", "x")),
                                        ("Authorization", basic("alice-login", "s3cret:with:colons"))])
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "alice"


def test_basic_auth_refusals(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "basic-auth"}]),
        route("realm", ["/realm"], plugins=[{"name": "basic-auth", "config": {"realm": "shop"}}]),
    ]), consumers=consumers()))
    cases = [
        [],                                                        # no header at all
        [("Authorization", basic("alice-login", "wrong"))],        # wrong password
        [("Authorization", basic("nobody", "s3cret:with:colons"))],  # unknown user
        [("Authorization", "Bearer abc")],                         # another scheme
        [("Authorization", "Basic !!!notbase64")],                 # not base64
        [("Authorization", "Basic " + base64.b64encode(b"no-colon").decode())],
        [("Authorization", "Basic " + base64.b64encode(b":only-password").decode())],
        [("Authorization", "Basic")],
    ]
    for headers in cases:
        r = gw.request("GET", "/", headers=headers)
        assert (r.status, r.json()) == (401, {"message": "Unauthorized", "request_id": r.header("X-Kong-Request-Id")}), headers
        assert r.header("WWW-Authenticate") == 'Basic realm="service"'
        assert r.header("Content-Type") == "application/json; charset=utf-8"
    r = gw.request("GET", "/realm")
    assert r.status == 401 and r.header("WWW-Authenticate") == 'Basic realm="shop"'
    assert len(upstream.requests) == 0


def test_basic_auth_anonymous_and_hide_credentials(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("hide", ["/hide"], plugins=[{"name": "basic-auth", "config": {"hide_credentials": True}}]),
        route("anon", ["/anon"], plugins=[{"name": "basic-auth", "config": {"anonymous": "guest"}}]),
        route("anon-id", ["/anon-id"], plugins=[{"name": "basic-auth", "config": {"anonymous": ALICE}}]),
        route("ghost", ["/ghost"], plugins=[{"name": "basic-auth", "config": {"anonymous": "ghost"}}]),
        route("both", ["/both"], plugins=[{"name": "key-auth", "config": {"anonymous": "guest"}},
                                          {"name": "basic-auth", "config": {"anonymous": "guest"}}]),
    ]), consumers=consumers() + [{"username": "kay", "keyauth_credentials": [{"key": "kay-key"}]}]))
    r = gw.request("GET", "/hide", headers=[("Authorization", basic("alice-login", "s3cret:with:colons"))])
    assert r.status == 200 and "authorization" not in upstream_headers(r)
    r = gw.request("GET", "/hide", headers=[("Proxy-Authorization", basic("bob-login", "hunter2"))])
    assert r.status == 200 and "proxy-authorization" not in upstream_headers(r)
    r = gw.request("GET", "/anon", headers=[("Authorization", basic("alice-login", "bad"))])
    h = upstream_headers(r)
    assert r.status == 200 and h["x-consumer-username"] == "guest" and h["x-anonymous-consumer"] == "true"
    assert "x-credential-identifier" not in h and h["authorization"].startswith("Basic ")
    r = gw.request("GET", "/anon", headers=[("Authorization", basic("bob-login", "hunter2"))])
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "bob"
    r = gw.request("GET", "/anon-id")
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "alice"
    r = gw.request("GET", "/ghost")
    assert (r.status, r.json()) == (500, {"message": "anonymous consumer ghost is configured but doesn't exist", "request_id": r.header("X-Kong-Request-Id")})
    # Alternatives: key-auth (1250) identified kay, so basic-auth leaves it be.
    r = gw.request("GET", "/both", headers=[("apikey", "kay-key")])
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "kay"
    r = gw.request("GET", "/both", headers=[("Authorization", basic("bob-login", "hunter2"))])
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "bob"


def test_basic_auth_with_acl(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("gold", ["/gold"], plugins=[{"name": "basic-auth"}, {"name": "acl", "config": {"allow": ["gold"]}}]),
    ]), consumers=consumers()))
    r = gw.request("GET", "/gold", headers=[("Authorization", basic("alice-login", "s3cret:with:colons"))])
    assert r.status == 200 and upstream_headers(r)["x-consumer-groups"] == "gold"
    r = gw.request("GET", "/gold", headers=[("Authorization", basic("bob-login", "hunter2"))])
    assert (r.status, r.json()) == (403, {"message": "You cannot consume this service", "request_id": r.header("X-Kong-Request-Id")})
    r = gw.request("GET", "/gold")  # basic-auth (1100) answers before acl (950)
    assert r.status == 401 and r.header("WWW-Authenticate") == 'Basic realm="service"'


def test_top_level_credentials_and_prehashed_passwords(gateway_factory, upstream):
    dana = "7e9d1c3b-5a4f-4e2d-8c1b-0a9f8e7d6c5b"
    # _transform: false is how Kong exports: the password is already Kong's hash.
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "basic-auth"}]),
    ]), consumers=[{"username": "dana", "id": dana}, {"username": "erin"}], _transform=False,
        basicauth_credentials=[
            {"consumer": "dana", "username": "dana-login",
             "password": hashlib.sha1(("pw-d" + dana).encode()).hexdigest()},
            {"consumer": {"username": "erin"}, "username": "erin-login", "password": "pw-e"}]))
    r = gw.request("GET", "/", headers=[("Authorization", basic("dana-login", "pw-d"))])
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "dana"
    # Not hashed on load, so the clear text in the file is taken as the hash.
    assert gw.request("GET", "/", headers=[("Authorization", basic("erin-login", "pw-e"))]).status == 401


def test_password_is_hashed_at_load(wasmgate_bin, tmp_path, upstream):
    svc = service("s", upstream, [route("r", ["/"])])
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=consumers()), dump=True)
    assert rc == 0, out
    creds = json.loads(out)["basicauth_credentials"]
    alice = next(c for c in creds if c["username"] == "alice-login")
    assert alice["password"] == hashlib.sha1(("s3cret:with:colons" + ALICE).encode()).hexdigest()
    assert alice["consumer"] == {"id": ALICE} and alice["id"] == ALICE_CRED
    assert "s3cret" not in out and "hunter2" not in out
    # The dump says its passwords are hashed, so loading it again keeps them.
    assert json.loads(out)["_transform"] is False


def test_basic_auth_config_errors(wasmgate_bin, tmp_path, upstream):
    svc = service("s", upstream, [route("r", ["/"])])
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[
        {"username": "a", "basicauth_credentials": [{"username": "u", "password": "1"}]},
        {"username": "b", "basicauth_credentials": [{"username": "u", "password": "2"}]}]))
    assert rc == 1 and ("uniqueness violation: 'basicauth_credentials' entity with username set to 'u' "
                        "already declared") in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[
        {"username": "a", "basicauth_credentials": [{"username": "u"}]}]))
    assert rc == 1 and "basicauth_credential 'u' field 'password': required field missing" in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, basicauth_credentials=[
        {"consumer": "ghost", "username": "u", "password": "p"}]))
    assert rc == 1 and "invalid reference 'consumer: ghost' (no such entry in 'consumers')" in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, basicauth_credentials=[{"username": "u", "password": "p"}]))
    assert rc == 1 and "basicauth_credential 'u' field 'consumer': required field missing" in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[
        {"username": "a", "basicauth_credentials": [{"username": "u", "password": "p", "consumer": "a"}]}]))
    assert rc == 1 and "cannot be set on a basicauth credential nested under a consumer" in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, plugins=[{"name": "basic-auth",
                                                                   "config": {"hide_credentials": "yes"}}]))
    assert rc == 1 and "plugin 'basic-auth' field 'config.hide_credentials': expected a boolean" in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, plugins=[{"name": "basic-auth",
                                                                   "config": {"brute_force": True}}]))
    assert rc == 1 and "plugin 'basic-auth' field 'config.brute_force': unknown field" in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[{"username": "a"}], _transform="no"))
    assert rc == 1 and "field '_transform': expected a boolean" in out, out
