"""The jwt plugin and jwt_secrets (Kong's declarative entity, nested under
consumers or top level), through the real gateway: tokens made here (HS* with
hmac, the others signed by the `openssl` command line), Kong's 401 answers
and WWW-Authenticate challenges, exp/nbf/maximum_expiration, the token
sources, anonymous, and jwt with acl."""

import base64
import hashlib
import hmac
import json
import subprocess
import time

import pytest

from conftest import config, route, service

ALICE = "7c1e4f0a-5b2d-4e8f-9a3c-1d2e3f4a5b6c"
ALICE_SECRET_ID = "0f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2f10"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def der_to_raw(der: bytes, size: int) -> bytes:
    """An ECDSA DER signature as JOSE's r || s."""
    assert der[0] == 0x30
    i = 3 if der[1] & 0x80 else 2
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\0").rjust(size, b"\0")
        i += 2 + n
    return out


HASHES = {"256": "sha256", "384": "sha384", "512": "sha512"}


class Keys:
    """Key pairs made once for the module with the openssl command line."""

    def __init__(self, d):
        self.dir = d
        self.private = {}
        self.public = {}
        for name, args in {
            "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            "P-256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "P-384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "P-521": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            "ed25519": ["-algorithm", "ED25519"],
        }.items():
            path = d / f"{name}.pem"
            openssl("genpkey", *args, "-out", str(path))
            self.private[name] = path
            self.public[name] = openssl("pkey", "-in", str(path), "-pubout").decode()

    def sign(self, alg, data: bytes, secret=b""):
        bits = alg[2:]
        if alg.startswith("HS"):
            return hmac.new(secret, data, getattr(hashlib, HASHES[bits])).digest()
        if alg == "EdDSA":
            msg = self.dir / "msg"
            msg.write_bytes(data)
            return openssl("pkeyutl", "-sign", "-inkey", str(self.private["ed25519"]), "-rawin", "-in", str(msg))
        if alg.startswith("ES"):
            curve = {"256": "P-256", "384": "P-384", "512": "P-521"}[bits]
            der = openssl("dgst", "-" + HASHES[bits], "-sign", str(self.private[curve]), data=data)
            return der_to_raw(der, {"256": 32, "384": 48, "512": 66}[bits])
        extra = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"] if alg.startswith("PS") else []
        return openssl("dgst", "-" + HASHES[bits], "-sign", str(self.private["rsa"]), *extra, data=data)

    def public_for(self, alg):
        if alg == "EdDSA":
            return self.public["ed25519"]
        if alg.startswith("ES"):
            return self.public[{"256": "P-256", "384": "P-384", "512": "P-521"}[alg[2:]]]
        return self.public["rsa"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("jwt-keys"))


def token(keys, claims, alg="HS256", secret=b"alice-secret", header=None, signature=None):
    h = header if header is not None else {"typ": "JWT", "alg": alg}
    signing_input = b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = signature if signature is not None else keys.sign(alg, signing_input.encode(), secret)
    return signing_input + "." + b64url(sig)


def bearer(t):
    return [("Authorization", "Bearer " + t)]


def consumers(keys):
    return [
        {"username": "alice", "id": ALICE, "custom_id": "cust-1",
         "jwt_secrets": [{"key": "alice-iss", "secret": "alice-secret", "id": ALICE_SECRET_ID}],
         "acls": [{"group": "gold"}]},
        {"username": "bob", "jwt_secrets": [
            {"key": "bob-" + alg, "algorithm": alg, "rsa_public_key": keys.public_for(alg)}
            for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
        ] + [{"key": "bob-HS384", "algorithm": "HS384", "secret": "bob-384"},
             {"key": "bob-HS512", "algorithm": "HS512", "secret": "bob-512"},
             {"key": "bob-ES256-nokey", "algorithm": "ES256"},
             # "c2VjcmV0" is base64 for "secret"; "a+b/" is not base64url.
             {"key": "b64", "secret": "c2VjcmV0"}, {"key": "not-b64", "secret": "a+b/"}],
         "acls": [{"group": "silver"}]},
        {"username": "guest"},
    ]


def upstream_headers(r):
    return {k.lower(): v for k, v in r.json()["headers"]}


def gateway(gateway_factory, upstream, keys, plugin_config=None, extra_routes=()):
    plugins = [{"name": "jwt", "config": plugin_config}] if plugin_config else [{"name": "jwt"}]
    return gateway_factory(config(service("s", upstream, [route("r", ["/"], plugins=plugins), *extra_routes]),
                                  consumers=consumers(keys)))


def test_hs256_identifies_the_consumer(gateway_factory, upstream, keys):
    gw = gateway(gateway_factory, upstream, keys)
    t = token(keys, {"iss": "alice-iss"})
    r = gw.request("GET", "/", headers=bearer(t) + [("X-Anonymous-Consumer", "forged")])
    assert r.status == 200, r.body
    h = upstream_headers(r)
    assert h["x-consumer-id"] == ALICE
    assert h["x-consumer-username"] == "alice"
    assert h["x-consumer-custom-id"] == "cust-1"
    # Kong sends the secret's key, not its id, as the credential identifier.
    assert h["x-credential-identifier"] == "alice-iss"
    assert "x-anonymous-consumer" not in h
    assert h["authorization"] == "Bearer " + t  # the token goes on upstream


@pytest.mark.parametrize("alg", ["HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                 "ES256", "ES384", "ES512", "EdDSA"])
def test_every_algorithm(gateway_factory, upstream, keys, alg):
    gw = gateway(gateway_factory, upstream, keys)
    secret = {"HS384": b"bob-384", "HS512": b"bob-512"}.get(alg, b"")
    r = gw.request("GET", "/", headers=bearer(token(keys, {"iss": "bob-" + alg}, alg=alg, secret=secret)))
    assert r.status == 200, r.body
    assert upstream_headers(r)["x-credential-identifier"] == "bob-" + alg
    # One flipped bit in the signature, or a token signed for another key.
    good = token(keys, {"iss": "bob-" + alg, "n": 1}, alg=alg, secret=secret)
    head, claims, sig = good.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[len(raw) // 2] ^= 1
    r = gw.request("GET", "/", headers=bearer(f"{head}.{claims}.{b64url(bytes(raw))}"))
    assert (r.status, r.json()) == (401, {"message": "Invalid signature"}), alg
    r = gw.request("GET", "/", headers=bearer(f"{head}.{b64url(b'{}')}.{sig}"))
    assert r.status == 401


def test_refusals(gateway_factory, upstream, keys):
    gw = gateway(gateway_factory, upstream, keys,
                 extra_routes=[route("realm", ["/realm"], plugins=[{"name": "jwt", "config": {"realm": "shop"}}])])

    def refused(headers, message, path="/", challenge='Bearer error="invalid_token"'):
        r = gw.request("GET", path, headers=headers)
        assert (r.status, r.json()) == (401, {"message": message}), (headers, r.body)
        assert r.header("WWW-Authenticate") == challenge
        assert r.header("Content-Type").startswith("application/json")

    good = token(keys, {"iss": "alice-iss"})
    refused([], "Unauthorized", challenge="Bearer")
    refused([("Authorization", "Basic YTpi")], "Unauthorized", challenge="Bearer")
    refused([], "Unauthorized", path="/realm", challenge='Bearer realm="shop"')
    refused(bearer("x.y"), "Bad token; invalid JSON", path="/realm",
            challenge='Bearer realm="shop", error="invalid_token"')
    refused(bearer("abc"), "Bad token; invalid JSON")
    refused(bearer("e30.!!.sig"), "Bad token; invalid JSON")
    refused(bearer(b64url(b"{bad") + ".e30.sig"), "Bad token; invalid JSON")
    refused(bearer(b64url(b"alg: HS256") + ".e30.sig"), "Bad token; invalid JSON")  # YAML is no JSON
    refused(bearer(b64url(b'{"alg":"HS256"}') + "." + b64url(b"[" * 5000) + ".sig"), "Bad token; invalid JSON")
    refused(bearer(token(keys, {"iss": "alice-iss"}, header={"alg": "none"}, signature=b"")), "Bad token; invalid alg")
    refused(bearer(token(keys, {"iss": "alice-iss"}, header={"typ": "JWT"})), "Bad token; invalid alg")
    refused(bearer(good.rsplit(".", 1)[0] + ".a+b"), "Bad token; invalid signature")
    refused(bearer(token(keys, {"sub": "x"})), "No mandatory 'iss' in claims")
    refused(bearer(token(keys, {"iss": ""})), "Invalid 'iss' in claims")
    refused(bearer(token(keys, {"iss": "nobody"})), "No credentials found for given 'iss'")
    refused(bearer(token(keys, {"iss": "alice-iss"}, alg="HS512")), "Invalid algorithm")
    refused(bearer(token(keys, {"iss": "alice-iss"}, secret=b"wrong")), "Invalid signature")
    # An ES256 secret without a public key (Kong does not ask for one).
    refused(bearer(token(keys, {"iss": "bob-ES256-nokey"}, alg="ES256")), "Invalid key/secret")
    # The same token twice counts once; two different ones do not.
    other = token(keys, {"iss": "alice-iss", "n": 2})
    refused(bearer(other) + [], "Multiple tokens provided", path="/?jwt=" + good)
    assert gw.request("GET", "/?jwt=" + good, headers=bearer(good)).status == 200
    # A bare ?jwt is no string token (Kong: "Unrecognizable token").
    refused([], "Unrecognizable token", path="/?jwt")
    refused([], "Unauthorized", path="/?jwt=", challenge="Bearer")
    # The key claim may sit in the token's header.
    r = gw.request("GET", "/", headers=bearer(token(keys, {}, header={"alg": "HS256", "iss": "alice-iss"})))
    assert r.status == 200
    assert len(upstream.requests) == 2


def test_secret_is_base64(gateway_factory, upstream, keys):
    gw = gateway(gateway_factory, upstream, keys, {"secret_is_base64": True})
    assert gw.request("GET", "/", headers=bearer(token(keys, {"iss": "b64"}, secret=b"secret"))).status == 200
    r = gw.request("GET", "/", headers=bearer(token(keys, {"iss": "b64"}, secret=b"c2VjcmV0")))
    assert (r.status, r.json()) == (401, {"message": "Invalid signature"})
    r = gw.request("GET", "/", headers=bearer(token(keys, {"iss": "not-b64"}, secret=b"a+b/")))
    assert (r.status, r.json()) == (401, {"message": "Invalid key/secret"})


def test_claims(gateway_factory, upstream, keys):
    gw = gateway(gateway_factory, upstream, keys, {"claims_to_verify": ["exp", "nbf"]},
                 extra_routes=[route("max", ["/max"], plugins=[{"name": "jwt", "config": {
                     "claims_to_verify": ["exp"], "maximum_expiration": 600}}])])
    now = int(time.time())

    def answer(claims, path="/"):
        r = gw.request("GET", path, headers=bearer(token(keys, {"iss": "alice-iss", **claims})))
        if r.status == 401:
            assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
        return r.status, (r.json() if r.status == 401 else None)

    assert answer({"exp": now + 60, "nbf": now - 60}) == (200, None)
    assert answer({"exp": now - 1, "nbf": now - 60}) == (401, {"exp": "token expired"})
    assert answer({"exp": now + 60, "nbf": now + 60}) == (401, {"nbf": "token not valid yet"})
    assert answer({"exp": "soon", "nbf": now - 60}) == (401, {"exp": "must be a number"})
    assert answer({}) == (401, {"exp": "must be a number", "nbf": "must be a number"})
    assert answer({"exp": now + 60}, "/max") == (200, None)
    assert answer({"exp": now + 3600}, "/max") == (401, {"exp": "exceeds maximum allowed expiration"})
    assert answer({"exp": now - 5}, "/max") == (401, {"exp": "token expired"})
    # Without claims_to_verify, an expired token passes (Kong checks nothing).
    gw2 = gateway(gateway_factory, upstream, keys)
    r = gw2.request("GET", "/", headers=bearer(token(keys, {"iss": "alice-iss", "exp": now - 100})))
    assert r.status == 200


def test_token_sources(gateway_factory, upstream, keys):
    gw = gateway(gateway_factory, upstream, keys, {
        "uri_param_names": ["token", "t"], "cookie_names": ["session"], "header_names": ["x-jwt"],
        "key_claim_name": "kid"})
    t = token(keys, {"kid": "alice-iss"})
    assert gw.request("GET", "/?t=" + t).status == 200
    assert gw.request("GET", "/?a=1&token=" + t.replace(".", "%2E")).status == 200
    assert gw.request("GET", "/", headers=[("Cookie", "a=b; session=" + t)]).status == 200
    assert gw.request("GET", "/", headers=[("Cookie", "x=1, SESSION = " + t + "; y=2")]).status == 200
    assert gw.request("GET", "/", headers=[("Cookie", "mysession=" + t)]).status == 401
    assert gw.request("GET", "/", headers=[("X-JWT", "bearer " + t)]).status == 200
    assert gw.request("GET", "/", headers=[("X-JWT", "Token Bearer " + t)]).status == 200
    # Only the configured sources count; the default ones are not looked at.
    r = gw.request("GET", "/?jwt=" + t, headers=bearer(t))
    assert (r.status, r.json()) == (401, {"message": "Unauthorized"})
    assert gw.request("GET", "/", headers=[("X-JWT", t)]).status == 401  # no Bearer prefix
    assert gw.request("GET", "/", headers=[("X-JWT", "BEARER " + t)]).status == 401  # [Bb]earer only
    r = gw.request("GET", "/?t=" + t, headers=[("Cookie", "session=" + token(keys, {"kid": "alice-iss", "n": 1}))])
    assert (r.status, r.json()) == (401, {"message": "Multiple tokens provided"})
    r = gw.request("GET", "/", headers=[("X-JWT", "Bearer " + token(keys, {"iss": "alice-iss"}))])
    assert (r.status, r.json()) == (401, {"message": "No mandatory 'kid' in claims"})


def test_anonymous_and_preflight(gateway_factory, upstream, keys):
    gw = gateway_factory(config(service("s", upstream, [
        route("anon", ["/anon"], plugins=[{"name": "jwt", "config": {"anonymous": "guest"}}]),
        route("ghost", ["/ghost"], plugins=[{"name": "jwt", "config": {"anonymous": "ghost"}}]),
        route("preflight", ["/preflight"], plugins=[{"name": "jwt", "config": {"run_on_preflight": False}}]),
    ]), consumers=consumers(keys)))
    r = gw.request("GET", "/anon", headers=bearer("garbage"))
    h = upstream_headers(r)
    assert r.status == 200 and h["x-consumer-username"] == "guest" and h["x-anonymous-consumer"] == "true"
    assert "x-credential-identifier" not in h
    r = gw.request("GET", "/anon", headers=bearer(token(keys, {"iss": "alice-iss"})))
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "alice"
    r = gw.request("GET", "/ghost")
    assert (r.status, r.json()) == (500, {"message": "anonymous consumer ghost is configured but doesn't exist", "request_id": r.header("X-Kong-Request-Id")})
    assert gw.request("OPTIONS", "/preflight").status == 200
    assert gw.request("GET", "/preflight").status == 401


def test_jwt_with_acl(gateway_factory, upstream, keys):
    gw = gateway_factory(config(service("s", upstream, [
        route("gold", ["/gold"], plugins=[{"name": "jwt"}, {"name": "acl", "config": {"allow": ["gold"]}}]),
    ]), consumers=consumers(keys)))
    r = gw.request("GET", "/gold", headers=bearer(token(keys, {"iss": "alice-iss"})))
    assert r.status == 200 and upstream_headers(r)["x-consumer-groups"] == "gold"
    r = gw.request("GET", "/gold", headers=bearer(token(keys, {"iss": "bob-HS384"}, alg="HS384", secret=b"bob-384")))
    assert (r.status, r.json()) == (403, {"message": "You cannot consume this service", "request_id": r.header("X-Kong-Request-Id")})
    r = gw.request("GET", "/gold")
    assert (r.status, r.json()) == (401, {"message": "Unauthorized"})  # jwt (1450) runs before acl (950)


def test_top_level_jwt_secrets(gateway_factory, upstream, keys):
    gw = gateway_factory(config(service("s", upstream, [route("r", ["/"], plugins=[{"name": "jwt"}])]),
                                consumers=[{"username": "dana"}],
                                jwt_secrets=[{"consumer": "dana", "key": "dana-iss", "secret": "s3"},
                                             {"consumer": {"username": "dana"}, "key": "dana-rs",
                                              "algorithm": "RS256", "rsa_public_key": keys.public["rsa"]}]))
    r = gw.request("GET", "/", headers=bearer(token(keys, {"iss": "dana-iss"}, secret=b"s3")))
    assert r.status == 200 and upstream_headers(r)["x-consumer-username"] == "dana"
    r = gw.request("GET", "/", headers=bearer(token(keys, {"iss": "dana-rs"}, alg="RS256")))
    assert r.status == 200


def check(wasmgate_bin, tmp_path, cfg, *flags):
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([wasmgate_bin, "check", *flags, str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_config_errors(wasmgate_bin, tmp_path, upstream, keys):
    svc = service("s", upstream, [route("r", ["/"])])

    def refused(cfg, *expected):
        rc, out = check(wasmgate_bin, tmp_path, cfg)
        assert rc == 1, out
        for e in expected:
            assert e in out, out

    def secret(**kw):
        return config(svc, consumers=[{"username": "a", "jwt_secrets": [kw]}])

    refused(secret(key="k", algorithm="RS256"),
            "jwt_secret 'k' field '-': failed conditional validation given value of field 'algorithm'",
            "jwt_secret 'k' field 'rsa_public_key': required field missing")
    refused(secret(key="k", algorithm="EdDSA", rsa_public_key="-----BEGIN PUBLIC KEY-----\nAAAA\n"),
            "jwt_secret 'k' field 'rsa_public_key': invalid key")
    refused(secret(key="k", algorithm="ES256", rsa_public_key="not a key"),
            "jwt_secret 'k' field 'rsa_public_key': invalid key")
    refused(secret(key="k", algorithm="none"),
            "jwt_secret 'k' field 'algorithm': expected one of: HS256, HS384, HS512, RS256")
    refused(config(svc, consumers=[{"username": "a", "jwt_secrets": [{"key": "k"}]},
                                   {"username": "b", "jwt_secrets": [{"key": "k"}]}]),
            "uniqueness violation: 'jwt_secrets' entity with key set to 'k' already declared")
    refused(config(svc, jwt_secrets=[{"consumer": "ghost", "key": "k"}]),
            "invalid reference 'consumer: ghost' (no such entry in 'consumers')")
    refused(config(svc, jwt_secrets=[{"key": "k"}]), "jwt_secret 'k' field 'consumer': required field missing")
    refused(config(svc, consumers=[{"username": "a", "jwt_secrets": [{"key": "k", "consumer": "a"}]}]),
            "cannot be set on a jwt secret nested under a consumer")
    refused(config(svc, plugins=[{"name": "jwt", "config": {"maximum_expiration": 60}}]),
            "failed conditional validation given value of field 'config.maximum_expiration'",
            "field 'config.claims_to_verify': expected to contain: exp")
    refused(config(svc, plugins=[{"name": "jwt", "config": {"maximum_expiration": 31536001,
                                                            "claims_to_verify": ["exp"]}}]),
            "field 'config.maximum_expiration': value should be between 0 and 31536000")
    refused(config(svc, plugins=[{"name": "jwt", "config": {"claims_to_verify": ["iat"]}}]),
            "plugin 'jwt' field 'config.claims_to_verify': expected one of: exp, nbf")
    # Accepted: an HS secret ignores any rsa_public_key; a good key loads.
    rc, out = check(wasmgate_bin, tmp_path, secret(key="k", rsa_public_key="junk"))
    assert rc == 0, out
    rc, out = check(wasmgate_bin, tmp_path, secret(key="k", algorithm="PS256", rsa_public_key=keys.public["rsa"]))
    assert rc == 0, out


def test_missing_key_and_secret_are_generated(wasmgate_bin, tmp_path, upstream):
    """As Kong's DB-less load: a jwt_secret without key or secret gets random ones."""
    cfg = config(service("s", upstream, [route("r", ["/"])]),
                 consumers=[{"username": "a", "jwt_secrets": [{}, {}]}])
    rc, out = check(wasmgate_bin, tmp_path, cfg, "--dump")
    assert rc == 0, out
    secrets = json.loads(out)["jwt_secrets"]
    keys_ = {s["key"] for s in secrets}
    assert len(keys_) == 2 and all(len(k) == 32 and k.isalnum() for k in keys_)
    assert all(len(s["secret"]) == 32 and s["secret"] not in keys_ for s in secrets)
    assert all(s["algorithm"] == "HS256" for s in secrets)
