"""The decK file of Kong's documentation examples (kong_files/ok_docs_plugins.yaml:
consumers, credentials and plugins as each plugin page writes them) loads
unchanged but for its upstream address, and behaves as Kong documents it,
through the real gateway."""

import base64
import hashlib
import hmac
import json
import pathlib
import time
import urllib.request

import yaml

from conftest import HOST, free_port

FILE = pathlib.Path(__file__).resolve().parent / "kong_files" / "ok_docs_plugins.yaml"


def docs_gateway(gateway_factory, upstream):
    doc = yaml.safe_load(FILE.read_text())
    for s in doc["services"]:
        # The only change: the example's upstream is the test's.
        s["url"] = s["url"].replace("http://httpbin.konghq.com", f"http://{HOST}:{upstream.port}")
    admin = free_port()
    gw = gateway_factory(doc, extra_args=["--admin-listen", f"{HOST}:{admin}"])
    return gw, admin


def upstream_headers(req):
    return {k.lower(): v for k, v in req.headers}


def jwt_hs256(claims, key, secret):
    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=").decode()
    signing = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(dict(claims, iss=key))
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_the_documented_behaviour(gateway_factory, upstream):
    gw, admin = docs_gateway(gateway_factory, upstream)

    # key-auth on example-route; the service's rate-limiting and correlation-id.
    r = gw.request("GET", "/anything")
    assert (r.status, r.json()["message"]) == (401, "No API key found in request")
    r = gw.request("GET", "/anything", headers=[("apikey", "hello_world")])
    assert r.status == 200 and r.header("X-RateLimit-Limit-Minute") == "100"
    h = upstream_headers(upstream.requests[-1])
    assert h["x-consumer-username"] == "alex" and h["x-consumer-custom-id"] == "alex-1"
    assert upstream.requests[-1].target == "/anything"
    assert r.header("Kong-Request-ID") and r.header("Kong-Request-ID") == h["kong-request-id"]

    # jsmith's own rate-limiting (consumer) wins over the service's.
    codes = [gw.request("GET", "/anything", headers=[("apikey", "jsmith-key")]).status for _ in range(3)]
    assert codes == [200, 200, 429]

    # request-termination for one consumer.
    r = gw.request("GET", "/anything", headers=[("apikey", "blocked-key")])
    assert (r.status, r.json()["message"]) == (403, "So long and thanks for all the fish!")

    # acl: dev is allowed, the groups header hidden; others refused.
    r = gw.request("GET", "/members", headers=[("apikey", "hello_world")])
    assert r.status == 200 and "x-consumer-groups" not in upstream_headers(upstream.requests[-1])
    r = gw.request("GET", "/members", headers=[("apikey", "jsmith-key")])
    assert (r.status, r.json()["message"]) == (403, "You cannot consume this service")

    # basic-auth with the documentation's Aladdin:OpenSesame, hidden upstream.
    good = "Basic " + base64.b64encode(b"Aladdin:OpenSesame").decode()
    r = gw.request("GET", "/legacy", headers=[("Authorization", good)])
    assert r.status == 200
    h = upstream_headers(upstream.requests[-1])
    assert h["x-consumer-username"] == "Aladdin" and "authorization" not in h
    bad = "Basic " + base64.b64encode(b"Aladdin:wrong").decode()
    assert gw.request("GET", "/legacy", headers=[("Authorization", bad)]).status == 401

    # jwt with the documented key and secret, exp verified.
    key, secret = "a36c3049b36249a3c9f8891cb127243c", "e71829c351aa4242c2719cbfbe671c09"
    token = jwt_hs256({"exp": int(time.time()) + 600}, key, secret)
    r = gw.request("GET", "/tokens", headers=[("Authorization", "Bearer " + token)])
    assert r.status == 200 and upstream_headers(upstream.requests[-1])["x-consumer-username"] == "jwt-user"
    expired = jwt_hs256({"exp": int(time.time()) - 10}, key, secret)
    r = gw.request("GET", "/tokens", headers=[("Authorization", "Bearer " + expired)])
    assert (r.status, r.json()) == (401, {"exp": "token expired"})

    # cors preflight, then a request through both transformers.
    r = gw.request("OPTIONS", "/public", headers=[("Origin", "http://mockbin.com"),
                                                  ("Access-Control-Request-Method", "GET")])
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "http://mockbin.com"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Max-Age") == "3600"
    r = gw.request("GET", "/public?a=1", headers=[("Origin", "http://mockbin.com")])
    assert r.status == 200
    assert r.header("X-Served-By") == "gateway" and r.header("X-Upstream-Port") is None
    assert r.header("Access-Control-Expose-Headers") == "X-Auth-Token"
    req = upstream.requests[-1]
    assert upstream_headers(req)["x-added-by"] == "kong"
    assert req.target == "/anything?a=1&version=v2"

    # prometheus (global) counted every one of them.
    with urllib.request.urlopen(f"http://{HOST}:{admin}/metrics", timeout=5) as m:
        text = m.read().decode()
    line = ('kong_http_requests_total{service="example-service",route="example-route",code="429",'
            'source="kong",workspace="default",consumer=""} 1')
    assert line in text, text
