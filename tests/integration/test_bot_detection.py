"""The bot-detection plugin (Kong's allow/deny User-Agent regexes and its
built-in bot rules) and kong.response.error's error bodies, which follow the
request's Accept header and carry the request id, through the real gateway."""

import json
import re
import subprocess

from conftest import config, route, service

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")
RID = re.compile(r"^[0-9a-f]{32}$")


def kong_error(r, message):
    """Kong's default (JSON) error body: the message and the request id,
    which is also the X-Kong-Request-Id header."""
    assert r.header("Content-Type") == "application/json; charset=utf-8", r
    rid = r.header("X-Kong-Request-Id")
    assert rid is not None and RID.match(rid), r
    assert r.body.decode() == '{\n  "message":"%s",\n  "request_id":"%s"\n}' % (message, rid)
    return rid


def test_builtin_bot_rules(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "bot-detection"}]),
    ])))
    for ua in ["Googlebot/2.1 (+http://www.google.com/bot.html)", "facebookexternalhit/1.1",
               "curl-like Go-http-client/1.1", "python-requests Python-urllib/3.11", "Twitterbot/1.0",
               "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "Scrapy/2.11"]:
        r = gw.request("GET", "/", headers=[("User-Agent", ua)])
        assert r.status == 403, ua
        kong_error(r, "Forbidden")
    for ua in [CHROME, "curl/7.43.0", "HelloWorld"]:  # Kong's own spec: not bots
        r = gw.request("GET", "/", headers=[("User-Agent", ua)])
        assert r.status == 200, ua
    assert len(upstream.requests) == 3
    # No User-Agent at all passes; two are a 400.
    r = gw.request("GET", "/", headers=[])
    assert r.status == 200, r
    r = gw.request("GET", "/", headers=[("User-Agent", CHROME), ("User-Agent", CHROME)])
    assert r.status == 400
    kong_error(r, "Only one User-Agent header allowed")
    # The same bot again is answered from the worker's cache, the same way.
    for _ in range(3):
        assert gw.request("GET", "/", headers=[("User-Agent", "Twitterbot/1.0")]).status == 403


def test_allow_and_deny(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "bot-detection", "config": {
            "allow": ["Googlebot", r"^friendly-\d+$"], "deny": ["^evil", "MSIE 6"]}}]),
        route("other", ["/other"], plugins=[{"name": "bot-detection", "config": {"deny": ["Chrome"]}}]),
    ])))
    # allow wins over the built-in rules and over deny.
    r = gw.request("GET", "/", headers=[("User-Agent", "Googlebot/2.1")])
    assert r.status == 200
    r = gw.request("GET", "/", headers=[("User-Agent", "evil Googlebot/2.1")])
    assert r.status == 200
    # The User-Agent is stripped of surrounding whitespace before matching.
    r = gw.request("GET", "/", headers=[("User-Agent", "friendly-42 ")])
    assert r.status == 200
    r = gw.request("GET", "/", headers=[("User-Agent", "evil agent")])
    assert r.status == 403
    kong_error(r, "Forbidden")
    r = gw.request("GET", "/", headers=[("User-Agent", "Mozilla/4.0 (compatible; MSIE 6.0)")])
    assert r.status == 403
    r = gw.request("GET", "/", headers=[("User-Agent", "not evil")])
    assert r.status == 200
    # Each instance has its own lists (and its own cache): the same agent
    # passes on one route and is refused on the other.
    assert gw.request("GET", "/", headers=[("User-Agent", CHROME)]).status == 200
    assert gw.request("GET", "/other", headers=[("User-Agent", CHROME)]).status == 403
    assert gw.request("GET", "/", headers=[("User-Agent", CHROME)]).status == 200


def check(wasmgate_bin, tmp_path, cfg):
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([wasmgate_bin, "check", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_config_errors(wasmgate_bin, tmp_path, upstream):
    def with_plugin(plugin):
        return config(service("s", upstream, [route("r", ["/"], plugins=[plugin])]))

    rc, out = check(wasmgate_bin, tmp_path, with_plugin({"name": "bot-detection", "config": {"deny": ["(unclosed"]}}))
    assert rc == 1 and "not a valid regex: (unclosed" in out, out
    rc, out = check(wasmgate_bin, tmp_path, with_plugin({"name": "bot-detection", "config": {"allow": ["ok", "[a-"]}}))
    assert rc == 1 and "not a valid regex: [a-" in out, out
    # Kong's no_consumer: it runs before a consumer is known.
    cfg = with_plugin({"name": "bot-detection"})
    cfg["consumers"] = [{"username": "alice", "plugins": [{"name": "bot-detection"}]}]
    rc, out = check(wasmgate_bin, tmp_path, cfg)
    assert rc == 1 and "plugin 'bot-detection' field 'consumer': value must be null" in out, out
    rc, out = check(wasmgate_bin, tmp_path, with_plugin({"name": "bot-detection", "config": {"allow": [r"\d+"]}}))
    assert rc == 0, out


def test_error_body_follows_accept(gateway_factory, upstream):
    gw = gateway_factory(config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "bot-detection"}]),
        route("key", ["/key"], plugins=[{"name": "key-auth"}]),
    ])))
    bot = ("User-Agent", "Twitterbot/1.0")

    r = gw.request("GET", "/", headers=[bot, ("Accept", "text/html")])
    rid = r.header("X-Kong-Request-Id")
    assert r.status == 403 and r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.body.decode() == (
        "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n"
        "  </head>\n  <body>\n    <h1>Error</h1>\n    <p>Forbidden.</p>\n"
        f"    <p>request_id: {rid}</p>\n  </body>\n</html>\n")

    r = gw.request("GET", "/", headers=[bot, ("Accept", "application/xml")])
    rid = r.header("X-Kong-Request-Id")
    assert r.header("Content-Type") == "application/xml; charset=utf-8"
    assert r.body.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>Forbidden</message>\n'
        f"  <requestid>{rid}</requestid>\n</error>\n")

    r = gw.request("GET", "/", headers=[bot, ("Accept", "text/plain")])
    rid = r.header("X-Kong-Request-Id")
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.body.decode() == f"Forbidden\nrequest_id: {rid}\n"

    # Highest quality wins; text/* is plain text; unknown types and */* are JSON.
    r = gw.request("GET", "/", headers=[bot, ("Accept", "text/html;q=0.5, application/xml;q=0.9")])
    assert r.header("Content-Type") == "application/xml; charset=utf-8"
    r = gw.request("GET", "/", headers=[bot, ("Accept", "text/*")])
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    r = gw.request("GET", "/", headers=[bot, ("Accept", "image/png")])
    kong_error(r, "Forbidden")
    r = gw.request("GET", "/", headers=[bot, ("Accept", "*/*")])
    kong_error(r, "Forbidden")
    r = gw.request("GET", "/", headers=[bot, ("Accept", "text/html;q=0, text/plain")])
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    r = gw.request("GET", "/", headers=[bot, ("Accept", "text/html"), ("Accept", "application/xml;q=0.2")])
    assert r.header("Content-Type") == "text/html; charset=utf-8"

    # Each request has its own id.
    ids = {gw.request("GET", "/", headers=[bot]).header("X-Kong-Request-Id") for _ in range(5)}
    assert len(ids) == 5

    # An auth plugin's answer uses the same templates, keeping its own headers.
    r = gw.request("GET", "/key", headers=[("Accept", "text/plain")])
    assert r.status == 401 and r.header("WWW-Authenticate") == "Key"
    assert r.body.decode() == "No API key found in request\nrequest_id: %s\n" % r.header("X-Kong-Request-Id")
    r = gw.request("GET", "/key")
    kong_error(r, "No API key found in request")
    assert len(upstream.requests) == 0


def test_other_plugins_errors_follow_accept(gateway_factory, upstream):
    """ip-restriction, request-size-limiting and a plugin that fails (Kong
    answers kong.response.error(500) for a plugin that throws) take the same
    templates; request-termination (kong.response.exit with a table) keeps
    its compact JSON."""
    gw = gateway_factory(config(service("s", upstream, [
        route("ip", ["/ip"], plugins=[{"name": "ip-restriction", "config": {"deny": ["127.0.0.1"]}}]),
        route("size", ["/size"], plugins=[{"name": "request-size-limiting", "config": {
            "allowed_payload_size": 1, "size_unit": "bytes"}}]),
        route("rt", ["/rt"], plugins=[{"name": "request-transformer", "config": {
            "replace": {"uri": "$(headers.xpath)"}}}]),
        route("term", ["/term"], plugins=[{"name": "request-termination", "config": {"status_code": 503}}]),
    ])))
    r = gw.request("GET", "/ip", headers=[("Accept", "application/xml")])
    assert r.status == 403
    assert "<message>IP address not allowed: 127.0.0.1</message>" in r.body.decode()
    r = gw.request("POST", "/size", body=b"too big", headers=[("Accept", "text/plain")])
    assert r.status == 413
    assert r.body.decode() == "Request size limit exceeded\nrequest_id: %s\n" % r.header("X-Kong-Request-Id")
    r = gw.request("GET", "/rt", headers=[("xpath", "no-slash")])
    assert r.status == 500
    kong_error(r, "An unexpected error occurred")
    r = gw.request("GET", "/term", headers=[("Accept", "text/html")])
    assert (r.status, r.body) == (503, b'{"message":"Service unavailable"}')
    assert r.header("X-Kong-Request-Id") is None
    assert len(upstream.requests) == 0
