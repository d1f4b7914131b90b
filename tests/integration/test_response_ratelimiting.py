"""response-ratelimiting (policy local, and redis against a real
redis-server): limits the upstream spends with its
X-Kong-Limit header, Kong's headers on both sides, the bodiless 429 of a
response that spends an already spent limit, block_on_first_violation,
hide_client_headers and the config checks."""

import json
import subprocess
import time

from conftest import HOST, config, echo_payload, free_port, route, service, wait_until
from redis_server import redis, redis_server  # noqa: F401 (redis_server is a fixture)


def spending(header="X-Kong-Limit", value="videos=1"):
    """An upstream that echoes the request and spends `value`."""
    def h(conn, req):
        body = echo_payload(req)
        conn.send_response(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                 (header, value)], body)
        return True
    return h


def upstream_headers(r):
    return {k.lower(): v for k, v in r.json()["headers"]}


def wait_for_fresh_minute(margin=3):
    s = time.time() % 60
    if s > 60 - margin - 5:
        time.sleep(60 - s + 0.2)


def rrl(upstream, **conf):
    c = {"limit_by": "ip", "limits": {"videos": {"minute": 3, "hour": 100}, "images": {"minute": 10}}}
    c.update(conf)
    return config(service("s", upstream, [
        route("r", ["/"], plugins=[{"name": "response-ratelimiting", "config": c}]),
    ]))


def test_upstream_spends_its_limits(gateway_factory, upstream_factory):
    up = upstream_factory(spending(value="videos=1, images=2"))
    gw = gateway_factory(rrl(up))
    wait_for_fresh_minute()
    for i in range(3):
        r = gw.request("GET", "/")
        assert r.status == 200, (i, r.body)
        # What was left before this response, as the upstream saw it.
        assert upstream_headers(r)["x-ratelimit-remaining-videos"] == str(3 - i)
        assert upstream_headers(r)["x-ratelimit-remaining-images"] == str(10 - 2 * i)
        assert r.header("X-RateLimit-Limit-videos-minute") == "3"
        assert r.header("X-RateLimit-Remaining-videos-minute") == str(2 - i)
        assert r.header("X-RateLimit-Limit-videos-hour") == "100"
        assert r.header("X-RateLimit-Remaining-videos-hour") == str(99 - i)
        assert r.header("X-RateLimit-Remaining-images-minute") == str(8 - 2 * i)
        assert r.header("X-Kong-Limit") is None  # the upstream's header does not reach the client
    # videos is spent: the upstream is still asked (no block_on_first_violation),
    # but a response that spends videos again becomes a bodiless 429.
    r = gw.request("GET", "/")
    assert r.status == 429 and r.body == b""
    assert r.header("X-RateLimit-Remaining-videos-minute") == "0"
    assert len(up.requests) == 4
    # A refused response counts nothing: images stayed at 6 spent.
    r = gw.request("GET", "/")
    assert r.status == 429
    assert r.header("X-RateLimit-Remaining-images-minute") == "2"


def test_responses_that_spend_nothing_pass(gateway_factory, upstream_factory):
    up = upstream_factory(spending(value="videos=3"))
    gw = gateway_factory(rrl(up))
    wait_for_fresh_minute()
    assert gw.request("GET", "/").status == 200
    # An upstream that spends only images (unknown names and junk are ignored).
    up.handler = spending(value="images=1, music=5, videos=x")
    r = gw.request("GET", "/")
    assert r.status == 200
    assert r.header("X-RateLimit-Remaining-videos-minute") == "0"
    assert r.header("X-RateLimit-Remaining-images-minute") == "9"


def test_block_on_first_violation(gateway_factory, upstream_factory):
    up = upstream_factory(spending(value="videos=3"))
    # One worker: the first request's log phase (which counts its usage) runs
    # before the next connection is read. With two, the second request could
    # reach the other worker first (Kong has the same race between workers).
    gw = gateway_factory(rrl(up, block_on_first_violation=True), workers=1)
    wait_for_fresh_minute()
    assert gw.request("GET", "/").status == 200
    r = gw.request("GET", "/")
    assert (r.status, r.json()["message"]) == (429, "API rate limit exceeded for 'videos'")
    assert len(up.requests) == 1  # refused in access, before the upstream


def test_hide_client_headers_and_custom_header_name(gateway_factory, upstream_factory):
    up = upstream_factory(spending(header="X-Spend", value="videos=1"))
    gw = gateway_factory(rrl(up, hide_client_headers=True, header_name="x-spend"))
    r = gw.request("GET", "/")
    assert r.status == 200
    assert r.header("X-RateLimit-Limit-videos-minute") is None
    assert r.header("X-Spend") is None
    assert upstream_headers(r)["x-ratelimit-remaining-videos"] in ("3", "2")


ROUTE_ID = "7a9f0c64-3e3d-4e5c-9c73-2c2f4faf3c03"
NO_ID = "00000000-0000-0000-0000-000000000000"  # the plugin is on the route only
SERVICE_ID = "8b0a1d75-4f4e-4f6d-8d84-3d3a5bba4d04"


def test_redis_policy_shared_by_two_gateways(gateway_factory, upstream_factory, redis_server):
    up = upstream_factory(spending(value="videos=2"))
    conf = {"policy": "redis", "limit_by": "ip", "limits": {"videos": {"minute": 3}},
            "redis": {"host": HOST, "port": redis_server.port}}
    cfg = config(service("s", up, [
        route("r", ["/"], id=ROUTE_ID, plugins=[{"name": "response-ratelimiting", "config": conf}]),
    ], id=SERVICE_ID))
    wait_for_fresh_minute()
    gw1, gw2 = gateway_factory(cfg), gateway_factory(cfg)
    r = gw1.request("GET", "/")
    assert r.status == 200 and r.header("X-RateLimit-Remaining-videos-minute") == "1"
    assert upstream_headers(r)["x-ratelimit-remaining-videos"] == "3"
    # The log phase adds in Redis after the response: wait for it.
    now = int(time.time())
    key = f"response-ratelimit:{ROUTE_ID}:{NO_ID}:127.0.0.1:{(now - now % 60) * 1000}:videos:minute"
    assert wait_until(lambda: redis(redis_server.port, "GET", key) == "2", timeout=3), \
        (redis(redis_server.port, "KEYS", "*"), gw1.stderr_text())
    assert 0 < redis(redis_server.port, "TTL", key) <= 60
    # Kong adds to every period's counter, configured or not.
    assert len(redis(redis_server.port, "KEYS", "response-ratelimit:*")) == 6
    r = gw2.request("GET", "/")  # the other gateway sees 1 left; this response spends 2
    assert upstream_headers(r)["x-ratelimit-remaining-videos"] == "1"
    assert r.status == 200 and r.header("X-RateLimit-Remaining-videos-minute") == "0"
    assert wait_until(lambda: redis(redis_server.port, "GET", key) == "4", timeout=3)
    r = gw1.request("GET", "/")
    assert r.status == 429 and r.body == b""


def test_redis_policy_down(gateway_factory, upstream_factory):
    up = upstream_factory(spending(value="videos=1"))

    def gw(tolerant):
        conf = {"policy": "redis", "fault_tolerant": tolerant, "limits": {"videos": {"minute": 3}},
                "redis": {"host": HOST, "port": free_port()}}
        return gateway_factory(config(service("s", up, [
            route("r", ["/"], plugins=[{"name": "response-ratelimiting", "config": conf}])])))
    r = gw(True).request("GET", "/")
    assert r.status == 200 and r.header("X-RateLimit-Remaining-videos-minute") is None
    r = gw(False).request("GET", "/")
    assert (r.status, r.json()["message"]) == (500, "An unexpected error occurred")


def check(wasmgate_bin, tmp_path, cfg):
    path = tmp_path / "check.json"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([str(wasmgate_bin), "check", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_response_ratelimiting_config_errors(wasmgate_bin, tmp_path, upstream):
    def cfg(**c):
        return config(service("s", upstream, [
            route("r", ["/"], plugins=[{"name": "response-ratelimiting", "config": c}])]))
    rc, out = check(wasmgate_bin, tmp_path, cfg())
    assert rc == 1 and "config.limits" in out and "required field missing" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(limits={"videos": {"minute": 10, "hour": 5}}))
    assert rc == 1 and "the limit for hour(5.0) cannot be lower than the limit for minute(10.0)" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(limits={"videos": {}}))
    assert rc == 1 and "at least one of these fields must be non-empty" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(limits={"videos": {"minute": 0}}))
    assert rc == 1 and "value must be greater than 0" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(limits={"videos": {"minute": 1}}, policy="cluster"))
    assert rc == 1 and "policy 'cluster' is not supported: it needs a database" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(limits={"videos": {"minute": 1}}, limit_by="header"))
    assert rc == 1 and "config.limit_by" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(limits={"videos": {"minute": 1}}, policy="redis"))
    assert rc == 1 and "field 'config.redis.host': required field missing" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(limits={"videos": {"minute": 1}}, policy="redis",
                                                redis={"host": "127.0.0.1", "ssl": True}))
    assert rc == 1 and "TLS to Redis is not supported yet" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(limits={"videos": {"minute": 1}}))
    assert rc == 0, out
