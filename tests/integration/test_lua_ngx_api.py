"""OpenResty's ngx string helpers and ngx.re (PCRE2) as Lua plugins see
them, through the real gateway (a pre-function answering with what they
returned)."""
import base64
import hashlib
import hmac
import json

from test_lua_plugins import lua_gateway, filters_dir, one_route, plugin  # noqa: F401 (fixtures)

PROBE = r"""
local out = {}
out.b64 = ngx.encode_base64("hello?>")
out.b64_nopad = ngx.encode_base64("ab", true)
out.unb64 = ngx.decode_base64("aGVsbG8/Pg==")
out.unb64_nopad = ngx.decode_base64("YWI")
out.unb64_bad = ngx.decode_base64("a*b") == nil
out.md5 = ngx.md5("abc")
out.sha1 = ngx.encode_base64(ngx.sha1_bin("abc"))
out.hmac = ngx.encode_base64(ngx.hmac_sha1("key", "The quick brown fox"))
out.esc = ngx.escape_uri("a b/c?d=é~")
out.esc0 = ngx.escape_uri("/a b?c", 0)
out.unesc = ngx.unescape_uri("b%20r56+7%zz")
local m = ngx.re.match("user=alice id=42", [[(?<name>\w+)=(\w+) id=(\d+)]], "jo")
out.match = { m[0], m[1], m[2], m[3], m.name }
out.nomatch = ngx.re.match("abc", "x+") == nil
out.imatch = ngx.re.match("HeLLo", "hello", "i")[0]
local from, to = ngx.re.find("hello world", "wor", "jo")
out.find = { from, to }
local words = {}
for w in ngx.re.gmatch("a1 b22 c333", [[[a-z](\d+)]]) do words[#words + 1] = w[1] end
out.gmatch = words
out.sub = { ngx.re.sub("hello world", "o", "[$0]") }
out.gsub = { ngx.re.gsub("hello world", "(o)", "<$1>") }
out.gsubf = ngx.re.gsub("a1b2", [[\d]], function(c) return tostring(tonumber(c[0]) * 2) end)
out.named = ngx.re.gsub("k=v", [[(?<k>\w)=(?<v>\w)]], "${v}=${k}")
local ok, err = ngx.re.match("x", "(")
out.bad = { tostring(ok), err and err:find("pcre2_compile() failed", 1, true) ~= nil }
local ctx = { pos = 1 }
ngx.re.find("aXbX", "X", "", ctx)
out.ctxpos = ctx.pos
out.args = ngx.encode_args({ b = "2", a = "x y" })
out.dargs = ngx.decode_args("a=1&b=x%20y").b
return kong.response.exit(200, out)
"""


def test_ngx_string_helpers_and_regexes(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("pre-function", {"access": [PROBE]})]))
    r = gw.request("GET", "/")
    assert r.status == 200, r.body
    out = json.loads(r.body)
    assert out["b64"] == base64.b64encode(b"hello?>").decode()
    assert out["b64_nopad"] == "YWI"
    assert out["unb64"] == "hello?>"
    assert out["unb64_nopad"] == "ab"
    assert out["unb64_bad"] is True
    assert out["md5"] == hashlib.md5(b"abc").hexdigest()
    assert out["sha1"] == base64.b64encode(hashlib.sha1(b"abc").digest()).decode()
    assert out["hmac"] == base64.b64encode(hmac.new(b"key", b"The quick brown fox", "sha1").digest()).decode()
    assert out["esc"] == "a%20b%2Fc%3Fd%3D%C3%A9~"
    assert out["esc0"] == "/a%20b%3Fc"
    assert out["unesc"] == "b r56 7%zz"
    assert out["match"] == ["user=alice id=42", "user", "alice", "42", "user"]
    assert out["nomatch"] is True
    assert out["imatch"] == "HeLLo"
    assert out["find"] == [7, 9]
    assert out["gmatch"] == ["1", "22", "333"]
    assert out["sub"] == ["hell[o] world", 1]
    assert out["gsub"] == ["hell<o> w<o>rld", 2]
    assert out["gsubf"] == "a2b4"
    assert out["named"] == "v=k"
    assert out["bad"] == ["nil", True]
    assert out["ctxpos"] == 3
    assert out["args"] == "a=x%20y&b=2"
    assert out["dargs"] == "x y"


def test_body_filter_streams_piece_by_piece(lua_gateway, upstream_factory):
    from conftest import trickle_handler, pattern_bytes
    up = upstream_factory(trickle_handler(4, 1000, 0.05, chunked=True))
    gw = lua_gateway(one_route(up, [plugin("stream-count")]))
    r = gw.request("GET", "/")
    assert r.status == 200
    data = pattern_bytes(4000, seed=7)
    body, _, summary = r.body.rpartition(b"\n")
    assert body == data.lower()
    # the pieces came one by one (the upstream trickled them), not as one body
    assert summary.startswith(b"<pieces=") and summary.endswith(b" bytes=4000>")
    assert int(summary.split(b"=")[1].split(b" ")[0]) >= 2
    # ngx.arg[2] = true before the end: the body ends there
    cut = gw.request("GET", "/", headers=[("X-Cut", "1500")])
    assert cut.status == 200
    assert cut.body == data[:1500].lower()


def test_response_phase_sees_and_replaces_the_whole_body(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("resp-phase")]), workers=1)
    r = gw.request("GET", "/hello")
    assert r.status == 200
    out = json.loads(r.body)
    assert out["path"] == "/hello"
    assert out["wrapped"]["method"] == "GET"
    assert int(r.header("x-resp-len")) > 10
    assert r.header("x-resp-status") == "200"
    # the response phase may wait (the coroutine yields; the response resumes after)
    waited = gw.request("GET", "/w", headers=[("X-Wait-Ms", "100")])
    assert waited.status == 200
    assert json.loads(waited.body)["path"] == "/w"


AUTH = r"""
local c = kong.client.load_consumer(kong.request.get_header("x-user") or "", true)
if not c then return kong.response.exit(401, { message = "Unknown user" }) end
kong.client.authenticate(c, { id = "cred-" .. c.username })
local seen = kong.client.get_consumer()
kong.service.request.set_header("x-consumer-seen", seen.username .. "/" .. seen.id .. "/" .. kong.client.get_credential().id)
"""


def test_authenticate_names_the_consumer_for_later_plugins(lua_gateway, upstream):
    cfg = one_route(upstream, [plugin("pre-function", {"access": [AUTH]}),
                               plugin("acl", {"allow": ["gold"]})])
    cfg["consumers"] = [
        {"username": "alice", "id": "0e5b4c5c-0000-4000-8000-000000000001", "acls": [{"group": "gold"}]},
        {"username": "bob", "id": "0e5b4c5c-0000-4000-8000-000000000002"},
    ]
    gw = lua_gateway(cfg)
    ok = gw.request("GET", "/", headers=[("X-User", "alice")])
    assert ok.status == 200
    assert upstream.requests[-1].header("x-consumer-seen") == "alice/0e5b4c5c-0000-4000-8000-000000000001/cred-alice"
    # by id too
    assert gw.request("GET", "/", headers=[("X-User", "0e5b4c5c-0000-4000-8000-000000000001")]).status == 200
    # the native acl plugin after it saw the consumer Lua authenticated
    denied = gw.request("GET", "/", headers=[("X-User", "bob")])
    assert denied.status == 403
    assert json.loads(denied.body)["message"] == "You cannot consume this service"
    assert gw.request("GET", "/", headers=[("X-User", "nobody")]).status == 401


LRU = r"""
local lrucache = require "resty.lrucache"
local c = assert(lrucache.new(2))
c:set("a", 1)
c:set("b", 2)
local _ = c:get("a")      -- a is now the most recent
c:set("c", 3)             -- b goes
local out = { a = c:get("a"), b = c:get("b") or "gone", c = c:get("c"), count = c:count(), capacity = c:capacity() }
c:set("t", "x", 0.001)    -- a goes (c was read last)
ngx.sleep(0.01)
local v, stale = c:get("t")
out.expired, out.stale = tostring(v), stale
out.deleted = c:delete("c")
out.keys = c:get_keys()
return kong.response.exit(200, out)
"""


def test_resty_lrucache(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("pre-function", {"access": [LRU]})]))
    r = gw.request("GET", "/")
    assert r.status == 200, r.body
    out = json.loads(r.body)
    assert out["a"] == 1 and out["b"] == "gone" and out["c"] == 3
    assert out["count"] == 2 and out["capacity"] == 2
    assert out["expired"] == "nil" and out["stale"] == "x"
    assert out["deleted"] is True
    assert out["keys"] == ["t"]
