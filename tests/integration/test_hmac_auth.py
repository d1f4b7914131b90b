"""hmac-auth credentials (Kong's hmacauth_credentials) and the hmac-auth
plugin, through the real gateway: signatures computed here with hmac and
hashlib over the listed headers (with @request-target and request-line), the
Date / X-Date clock skew, the Digest of the body, Kong's 401 messages,
anonymous, hide_credentials, enforce_headers and algorithms."""

import base64
import hashlib
import hmac
import json
import subprocess
import time
from email.utils import formatdate

from conftest import config, route, service

ALICE = "3a7c2e1f-9b8d-4c6e-a5f4-1d2c3b4a5e6f"
ALICE_CRED = "8f1e2d3c-4b5a-4697-8e8f-7a6b5c4d3e2f"
SECRET = "alice-secret"

NOT_VALID = "HMAC signature cannot be verified"
NOT_SAME = "HMAC signature does not match"
NO_DATE = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"

DIGESTS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256,
           "hmac-sha384": hashlib.sha384, "hmac-sha512": hashlib.sha512}


def consumers():
    return [
        {"username": "alice", "id": ALICE, "acls": [{"group": "gold"}],
         "hmacauth_credentials": [{"id": ALICE_CRED, "username": "alice-hmac", "secret": SECRET}]},
        {"username": "bob", "hmacauth_credentials": [{"username": "bob-hmac", "secret": "bob-secret"}]},
        {"username": "guest"},
    ]


def now_date(offset=0):
    return formatdate(time.time() + offset, usegmt=True)


def sign(lines, secret=SECRET, algorithm="hmac-sha256"):
    data = "\n".join(lines).encode()
    return base64.b64encode(hmac.new(secret.encode(), data, DIGESTS[algorithm]).digest()).decode()


def authorization(user, algorithm, headers, signature):
    return f'hmac username="{user}", algorithm="{algorithm}", headers="{headers}", signature="{signature}"'


def signed(method="GET", path="/", user="alice-hmac", secret=SECRET, algorithm="hmac-sha256",
           names=("date", "@request-target"), date=None, extra=(), header="Authorization"):
    """Request headers with a valid signature over `names`."""
    date = date or now_date()
    values = {"date": date, "x-date": date}
    values.update({k.lower(): v for k, v in extra})
    lines = []
    for n in names:
        if n == "@request-target":
            lines.append(f"@request-target: {method.lower()} {path}")
        elif n == "request-line":
            lines.append(f"{method} {path} HTTP/1.1")
        elif n.lower() in values:
            lines.append(f"{n}: {values[n.lower()]}")
        else:
            lines.append(f"{n}:")
    sig = sign(lines, secret, algorithm)
    return [("Date", date), (header, authorization(user, algorithm, " ".join(names), sig))] + list(extra)


def upstream_headers(r):
    return {k.lower(): v for k, v in r.json()["headers"]}


def check(wasmgate_bin, tmp_path, cfg, dump=False):
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    args = [wasmgate_bin, "check"] + (["--dump"] if dump else []) + [str(path)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_hmac_auth_identifies_the_consumer(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "hmac-auth"}]),
    ]), consumers=consumers()))
    r = gw.request("GET", "/items?a=1&b=2", headers=signed(path="/items?a=1&b=2"))
    assert r.status == 200, r.body
    h = upstream_headers(r)
    assert h["x-consumer-id"] == ALICE and h["x-consumer-username"] == "alice"
    assert h["x-credential-identifier"] == "alice-hmac"
    assert "x-anonymous-consumer" not in h
    assert h["authorization"].startswith("hmac username=")  # hide_credentials is off by default
    # Every algorithm, over X-Date, request-line, a custom header and Host.
    for algorithm in DIGESTS:
        r = gw.request("POST", "/p", headers=hosted("POST", "/p", algorithm, host="test.local"))
        assert r.status == 200, (algorithm, r.body)
        r = gw.request("POST", "/p", headers=hosted("POST", "/p", algorithm, host="other.local"))
        assert (r.status, r.json()) == (401, {"message": NOT_SAME, "request_id": r.header("X-Kong-Request-Id")}), algorithm
    # Proxy-Authorization.
    r = gw.request("GET", "/", headers=signed(user="bob-hmac", secret="bob-secret", header="Proxy-Authorization"))
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "bob"
    # A header listed but not sent signs as "name:".
    r = gw.request("GET", "/", headers=signed(names=("date", "x-missing")))
    assert r.status == 200


def hosted(method, path, algorithm, host):
    """Signed over X-Date, request-line, X-Custom and Host (the client sends test.local)."""
    date = now_date()
    lines = [f"x-date: {date}", f"{method} {path} HTTP/1.1", "x-custom: v1", f"host: {host}"]
    sig = sign(lines, algorithm=algorithm)
    return [("X-Date", date), ("X-Custom", "v1"),
            ("Authorization", authorization("alice-hmac", algorithm, "x-date request-line x-custom host", sig))]


def test_hmac_auth_refusals(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "hmac-auth"}]),
        route("realm", ["/realm"], plugins=[{"name": "hmac-auth", "config": {"realm": "shop"}}]),
        route("strict", ["/strict"], plugins=[{"name": "hmac-auth", "config": {
            "enforce_headers": ["date", "request-line"], "algorithms": ["hmac-sha512"], "clock_skew": 10}}]),
    ]), consumers=consumers()))

    def refused(r, message, challenge="hmac"):
        assert (r.status, r.json()) == (401, {"message": message, "request_id": r.header("X-Kong-Request-Id")}), r.body
        assert r.header("WWW-Authenticate") == challenge
        assert r.header("Content-Type") == "application/json; charset=utf-8"

    refused(gw.request("GET", "/"), "Unauthorized")
    refused(gw.request("GET", "/realm"), "Unauthorized", 'hmac realm="shop"')
    good = signed()
    # No date, a date too far off, a date that is no date.
    refused(gw.request("GET", "/", headers=[h for h in good if h[0] != "Date"]), NO_DATE)
    refused(gw.request("GET", "/", headers=signed(date=now_date(-400))), NO_DATE)
    refused(gw.request("GET", "/", headers=signed(date="yesterday")), NO_DATE)
    # Not an hmac header, an unknown user, an unsupported algorithm.
    refused(gw.request("GET", "/", headers=[("Date", now_date()), ("Authorization", "Basic abc")]), NOT_VALID)
    refused(gw.request("GET", "/", headers=signed(user="nobody")), NOT_VALID)
    bad_algo = [("Date", now_date()), ("Authorization", authorization("alice-hmac", "hmac-md5", "date", "abc"))]
    refused(gw.request("GET", "/", headers=bad_algo), NOT_VALID)
    # A wrong secret, another path than signed, a signature that is no base64.
    refused(gw.request("GET", "/", headers=signed(secret="wrong")), NOT_SAME)
    refused(gw.request("GET", "/?x=1", headers=signed(path="/")), NOT_SAME)
    refused(gw.request("GET", "/", headers=[("Date", now_date()), ("Authorization", authorization(
        "alice-hmac", "hmac-sha256", "date", "!!!"))]), NOT_SAME)
    # enforce_headers, algorithms and clock_skew of the strict route.
    refused(gw.request("GET", "/strict", headers=signed(path="/strict", algorithm="hmac-sha512")), NOT_VALID)
    refused(gw.request("GET", "/strict", headers=signed(path="/strict", names=("date", "request-line"))), NOT_VALID)
    refused(gw.request("GET", "/strict", headers=signed(path="/strict", algorithm="hmac-sha512",
                                                        names=("date", "request-line"), date=now_date(-30))), NO_DATE)
    r = gw.request("GET", "/strict", headers=signed(path="/strict", algorithm="hmac-sha512",
                                                    names=("date", "request-line")))
    assert r.status == 200, r.body
    assert len(upstream.requests) == 1


def test_hmac_auth_body_digest(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "hmac-auth", "config": {"validate_request_body": True}}]),
        route("off", ["/off"], plugins=[{"name": "hmac-auth"}]),
    ]), consumers=consumers()))
    body = b'{"order": 42}'
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    names = ("date", "request-line", "digest")
    r = gw.request("POST", "/", body=body, headers=signed("POST", "/", names=names, extra=[("Digest", digest)]))
    assert r.status == 200, r.body
    assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    # A body that does not match its digest; a body without a digest.
    r = gw.request("POST", "/", body=b'{"order": 43}', headers=signed("POST", "/", names=names,
                                                                       extra=[("Digest", digest)]))
    assert (r.status, r.json()) == (401, {"message": NOT_SAME, "request_id": r.header("X-Kong-Request-Id")})
    assert r.header("WWW-Authenticate") == "hmac"
    r = gw.request("POST", "/", body=body, headers=signed("POST", "/"))
    assert (r.status, r.json()) == (401, {"message": NOT_SAME, "request_id": r.header("X-Kong-Request-Id")})
    # The same, chunked: a matching body goes through whole, another is refused.
    r = gw.request("POST", "/", body=body, chunked=True, headers=signed("POST", "/", names=names,
                                                                        extra=[("Digest", digest)]))
    assert r.status == 200 and r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    r = gw.request("POST", "/", body=b"x" * 1000, chunked=True, headers=signed("POST", "/", names=names,
                                                                               extra=[("Digest", digest)]))
    assert (r.status, r.json()) == (401, {"message": NOT_SAME, "request_id": r.header("X-Kong-Request-Id")})
    # No body and no digest passes; so does the digest of the empty body.
    assert gw.request("GET", "/", headers=signed()).status == 200
    empty = "SHA-256=" + base64.b64encode(hashlib.sha256(b"").digest()).decode()
    assert gw.request("GET", "/", headers=signed(extra=[("Digest", empty)])).status == 200
    # Without validate_request_body the body is not looked at.
    assert gw.request("POST", "/off", body=b"anything", headers=signed("POST", "/off")).status == 200
    assert len(upstream.requests) == 5


def test_hmac_auth_anonymous_and_hide_credentials(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("hide", ["/hide"], plugins=[{"name": "hmac-auth", "config": {"hide_credentials": True}}]),
        route("anon", ["/anon"], plugins=[{"name": "hmac-auth", "config": {"anonymous": "guest"}}]),
        route("ghost", ["/ghost"], plugins=[{"name": "hmac-auth", "config": {"anonymous": "ghost"}}]),
        route("gold", ["/gold"], plugins=[{"name": "hmac-auth"}, {"name": "acl", "config": {"allow": ["gold"]}}]),
    ]), consumers=consumers()))
    r = gw.request("GET", "/hide", headers=signed(path="/hide"))
    assert r.status == 200 and "authorization" not in upstream_headers(r)
    r = gw.request("GET", "/hide", headers=signed(path="/hide", header="Proxy-Authorization"))
    assert r.status == 200 and "proxy-authorization" not in upstream_headers(r)
    r = gw.request("GET", "/anon", headers=signed(path="/anon", secret="wrong"))
    h = upstream_headers(r)
    assert r.status == 200 and h["x-consumer-username"] == "guest" and h["x-anonymous-consumer"] == "true"
    assert "x-credential-identifier" not in h
    r = gw.request("GET", "/anon", headers=signed(path="/anon"))
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "alice"
    r = gw.request("GET", "/ghost")
    assert (r.status, r.json()) == (500, {"message": "anonymous consumer ghost is configured but doesn't exist", "request_id": r.header("X-Kong-Request-Id")})
    r = gw.request("GET", "/gold", headers=signed(path="/gold"))
    assert r.status == 200 and upstream_headers(r)["x-consumer-groups"] == "gold"
    r = gw.request("GET", "/gold", headers=signed(path="/gold", user="bob-hmac", secret="bob-secret"))
    assert (r.status, r.json()) == (403, {"message": "You cannot consume this service", "request_id": r.header("X-Kong-Request-Id")})


def test_hmac_credentials_top_level_and_generated_secret(wasmgate_bin, tmp_path, upstream):
    svc = service("s", upstream, [route("r", ["/"])])
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[{"username": "dana"}], hmacauth_credentials=[
        {"consumer": "dana", "username": "dana-hmac"}]), dump=True)
    assert rc == 0, out
    cred = json.loads(out)["hmacauth_credentials"][0]
    assert cred["username"] == "dana-hmac" and len(cred["secret"]) == 32


def test_hmac_auth_config_errors(wasmgate_bin, tmp_path, upstream):
    svc = service("s", upstream, [route("r", ["/"])])

    def plugin_check(**c):
        return check(wasmgate_bin, tmp_path, config(svc, plugins=[{"name": "hmac-auth", "config": c}]))
    rc, out = plugin_check(clock_skew=0)
    assert rc == 1 and "plugin 'hmac-auth' field 'config.clock_skew': value must be greater than 0" in out, out
    rc, out = plugin_check(algorithms=["hmac-md5"])
    assert rc == 1 and ("plugin 'hmac-auth' field 'config.algorithms': expected one of: hmac-sha1, hmac-sha256, "
                        "hmac-sha384, hmac-sha512") in out, out
    rc, out = plugin_check(validate_request_body="yes")
    assert rc == 1 and "field 'config.validate_request_body': expected a boolean" in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[
        {"username": "a", "hmacauth_credentials": [{"username": "u"}]},
        {"username": "b", "hmacauth_credentials": [{"username": "u"}]}]))
    assert rc == 1 and ("uniqueness violation: 'hmacauth_credentials' entity with username set to 'u' "
                        "already declared") in out, out
    rc, out = check(wasmgate_bin, tmp_path, config(svc, consumers=[
        {"username": "a", "hmacauth_credentials": [{"secret": "s"}]}]))
    assert rc == 1 and "field 'username': required field missing" in out, out
