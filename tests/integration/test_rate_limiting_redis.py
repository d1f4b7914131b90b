"""rate-limiting with policy redis against a real redis-server: counts
shared by two gateway processes, Kong's keys and expiries in Redis, Kong's
fault_tolerant behaviour with Redis down or too slow, and a slow Redis that
does not hold up the other requests of the same worker."""

import json
import socket
import subprocess
import threading
import time

from conftest import HOST, config, free_port, route, service, wait_until
from redis_server import read_reply, redis, redis_server, resp  # noqa: F401 (redis_server is a fixture)

ROUTE_ID = "5d7e8a42-1c1b-4c3a-9a51-0a0f2d8d1a01"
NO_ID = "00000000-0000-0000-0000-000000000000"  # the plugin is on the route only
SERVICE_ID = "6e8f9b53-2d2c-4d4b-8b62-1b1f3e9e2b02"


def rl_config(upstream, rport, extra_routes=(), **conf):
    plugin_conf = {"policy": "redis", "limit_by": "ip", "redis": {"host": HOST, "port": rport}}
    plugin_conf.update(conf)
    return config(service("s", upstream, [
        route("limited", ["/limited"], id=ROUTE_ID, plugins=[{"name": "rate-limiting", "config": plugin_conf}]),
        *extra_routes,
    ], id=SERVICE_ID))


def wait_for_fresh_minute(margin=3):
    s = time.time() % 60
    if s > 60 - margin - 5:
        time.sleep(60 - s + 0.2)


def test_counts_shared_by_two_gateways_under_kongs_keys(gateway_factory, upstream, redis_server):
    wait_for_fresh_minute()
    gw1 = gateway_factory(rl_config(upstream, redis_server.port, minute=5, hour=100,
                                    redis={"host": HOST, "port": redis_server.port, "database": 2}))
    # The other speaks Kong's older flat spelling of the same settings.
    legacy = rl_config(upstream, redis_server.port, minute=5, hour=100, redis_host=HOST,
                       redis_port=redis_server.port, redis_database=2)
    del legacy["services"][0]["routes"][0]["plugins"][0]["config"]["redis"]
    gw2 = gateway_factory(legacy)
    for i in range(5):
        r = (gw1 if i % 2 == 0 else gw2).request("GET", "/limited")
        assert r.status == 200, (i, r.body)
        assert r.header("X-RateLimit-Limit-Minute") == "5"
        assert r.header("X-RateLimit-Remaining-Minute") == str(4 - i)
        assert r.header("X-RateLimit-Remaining-Hour") == str(99 - i)
        assert r.header("RateLimit-Remaining") == str(4 - i)
    for gw in (gw1, gw2):
        r = gw.request("GET", "/limited")
        assert (r.status, r.json()["message"]) == (429, "API rate limit exceeded")
        assert r.header("X-RateLimit-Remaining-Minute") == "0"
        assert 1 <= int(r.header("Retry-After")) <= 60
    assert len(upstream.requests) == 5

    # Kong's keys, in the configured database: ratelimit:<route>:<service>:
    # <identifier>:<period start in ms>:<period>; refused requests count too.
    assert redis(redis_server.port, "KEYS", "*") == []  # nothing in database 0
    with socket.create_connection((HOST, redis_server.port)) as s:
        f = s.makefile("rb")
        s.sendall(resp("SELECT", 2) + resp("KEYS", "ratelimit:*"))
        assert read_reply(f) == "OK"
        keys = sorted(read_reply(f))
        now = int(time.time())
        minute_ms = (now - now % 60) * 1000
        hour_ms = (now - now % 3600) * 1000
        assert keys == sorted([f"ratelimit:{ROUTE_ID}:{NO_ID}:127.0.0.1:{hour_ms}:hour",
                               f"ratelimit:{ROUTE_ID}:{NO_ID}:127.0.0.1:{minute_ms}:minute"]), keys
        s.sendall(resp("GET", keys[1]) + resp("TTL", keys[1]) + resp("TTL", keys[0]))
        assert keys[1].endswith(":minute") and read_reply(f) == "7"
        assert 0 < read_reply(f) <= 60
        assert 60 < read_reply(f) <= 3600


def test_counters_expire_with_their_window(gateway_factory, upstream, redis_server):
    # A host name, looked up by the worker's resolver.
    gw = gateway_factory(rl_config(upstream, redis_server.port, second=2,
                                   redis={"host": "localhost", "port": redis_server.port}))
    # Start early in a second so the three requests share it.
    time.sleep(1 - time.time() % 1 + 0.05)
    assert [gw.request("GET", "/limited").status for _ in range(3)] == [200, 200, 429]
    keys = redis(redis_server.port, "KEYS", "ratelimit:*")
    assert len(keys) == 1 and keys[0].endswith(":second")
    assert redis(redis_server.port, "TTL", keys[0]) in (0, 1)
    assert wait_until(lambda: redis(redis_server.port, "EXISTS", keys[0]) == 0, timeout=3)
    r = gw.request("GET", "/limited")
    assert r.status == 200 and r.header("X-RateLimit-Remaining-Second") == "1"


def test_fault_tolerant_passes_without_headers_when_redis_is_down(gateway_factory, upstream, redis_server):
    gw = gateway_factory(rl_config(upstream, redis_server.port, minute=5))
    assert gw.request("GET", "/limited").header("X-RateLimit-Remaining-Minute") == "4"
    redis_server.stop()
    r = gw.request("GET", "/limited")
    assert r.status == 200, r.body
    assert r.header("X-RateLimit-Limit-Minute") is None and r.header("RateLimit-Remaining") is None
    assert gw.wait_stderr(r"\[rate-limiting\] failed to get usage: Redis 127\.0\.0\.1:\d+: ")
    # Rate-limited in the log: a burst of the same failure logs once.
    for _ in range(5):
        assert gw.request("GET", "/limited").status == 200
    time.sleep(0.2)
    assert gw.stderr_text().count("Connection refused") == 1, gw.stderr_text()


def test_not_fault_tolerant_fails_with_500_when_redis_is_down(gateway_factory, upstream):
    dead_port = free_port()  # nothing listens there
    gw = gateway_factory(rl_config(upstream, dead_port, minute=5, fault_tolerant=False))
    r = gw.request("GET", "/limited")
    assert (r.status, r.json()["message"]) == (500, "An unexpected error occurred")
    assert len(upstream.requests) == 0


def test_slow_redis_does_not_block_the_worker(gateway_factory, upstream, redis_server):
    cfg = rl_config(upstream, redis_server.port, extra_routes=[route("free", ["/free"])], minute=100,
                    redis={"host": HOST, "port": redis_server.port, "timeout": 3000})
    gw = gateway_factory(cfg, workers=1)
    assert gw.request("GET", "/limited").status == 200  # the worker's connection is open
    sleeper = threading.Thread(target=lambda: redis(redis_server.port, "DEBUG", "SLEEP", "1.5", timeout=10))
    sleeper.start()
    time.sleep(0.1)  # Redis is asleep now
    waited = {}

    def limited():
        t = time.monotonic()
        r = gw.request("GET", "/limited")
        waited["limited"] = (r.status, r.header("X-RateLimit-Remaining-Minute"), time.monotonic() - t)

    t1 = threading.Thread(target=limited)
    t1.start()
    time.sleep(0.1)
    t = time.monotonic()
    r = gw.request("GET", "/free")
    free_took = time.monotonic() - t
    assert r.status == 200
    assert free_took < 0.5, free_took  # not behind the Redis answer
    t1.join(10)
    sleeper.join(10)
    status, remaining, took = waited["limited"]
    assert status == 200 and remaining == "98"
    assert took > 1.0, took  # it did wait for Redis


def test_one_connection_per_worker_reused(gateway_factory, upstream, redis_server):
    gw = gateway_factory(rl_config(upstream, redis_server.port, minute=100, hour=1000), workers=1)
    for i in range(5):
        assert gw.request("GET", "/limited").header("X-RateLimit-Remaining-Minute") == str(99 - i)
    clients = redis(redis_server.port, "CLIENT", "LIST").strip().splitlines()
    assert len(clients) == 2, clients  # the worker's connection and this one
    assert "cmd=eval" in " ".join(clients)


def test_refused_auth_is_a_failure(gateway_factory, upstream, redis_server):
    # This Redis has no password: AUTH is refused, the connection is not used.
    gw = gateway_factory(rl_config(upstream, redis_server.port, minute=100, fault_tolerant=False,
                                   redis={"host": HOST, "port": redis_server.port, "password": "secret"}))
    r = gw.request("GET", "/limited")
    assert (r.status, r.json()["message"]) == (500, "An unexpected error occurred")
    assert gw.wait_stderr(r"\[rate-limiting\] failed to get usage: .*AUTH or SELECT refused: ")
    assert redis(redis_server.port, "KEYS", "*") == []


def test_sync_rate_counts_locally_and_syncs(gateway_factory, upstream, redis_server):
    wait_for_fresh_minute()
    gw = gateway_factory(rl_config(upstream, redis_server.port, minute=4, sync_rate=0.5), workers=1)
    # The first request reads (and counts in) Redis; the next ones are
    # decided on the worker's own count until the sync.
    for i in range(3):
        r = gw.request("GET", "/limited")
        assert r.status == 200 and r.header("X-RateLimit-Remaining-Minute") == str(3 - i)
    key = redis(redis_server.port, "KEYS", "ratelimit:*")[0]
    assert redis(redis_server.port, "GET", key) == "1"
    assert wait_until(lambda: redis(redis_server.port, "GET", key) == "3", timeout=3)
    assert 0 < redis(redis_server.port, "TTL", key) <= 60
    # Another node counted meanwhile: the next request reads Redis again.
    redis(redis_server.port, "INCRBY", key, 1)
    r = gw.request("GET", "/limited")
    assert r.status == 429 and r.header("X-RateLimit-Remaining-Minute") == "0"


def test_redis_timeout_is_a_failure(gateway_factory, upstream, redis_server):
    cfg = rl_config(upstream, redis_server.port, minute=100,
                    redis={"host": HOST, "port": redis_server.port, "timeout": 300})
    gw = gateway_factory(cfg, workers=1)
    assert gw.request("GET", "/limited").status == 200
    sleeper = threading.Thread(target=lambda: redis(redis_server.port, "DEBUG", "SLEEP", "1.5", timeout=10))
    sleeper.start()
    time.sleep(0.1)
    t = time.monotonic()
    r = gw.request("GET", "/limited")
    took = time.monotonic() - t
    sleeper.join(10)
    assert r.status == 200 and r.header("X-RateLimit-Remaining-Minute") is None
    assert 0.25 < took < 1.2, took
    assert gw.wait_stderr(r"failed to get usage: Redis 127\.0\.0\.1:\d+: timeout")
    # The next request opens a new connection and counts again.
    r = gw.request("GET", "/limited")
    assert r.status == 200 and r.header("X-RateLimit-Remaining-Minute") is not None


def check(wasmgate_bin, tmp_path, cfg):
    path = tmp_path / "check.json"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([str(wasmgate_bin), "check", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_redis_config_errors(wasmgate_bin, tmp_path, upstream):
    def cfg(**c):
        c.setdefault("minute", 5)
        return config(service("s", upstream, [route("r", ["/"], plugins=[{"name": "rate-limiting", "config": c}])]))
    rc, out = check(wasmgate_bin, tmp_path, cfg(policy="redis"))
    assert rc == 1 and "field 'config.redis.host': required field missing" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(policy="redis", redis={"host": HOST, "ssl": True}))
    assert rc == 1 and "field 'config.redis.ssl': TLS to Redis is not supported yet" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(policy="redis", redis_host=HOST, redis_ssl=True))
    assert rc == 1 and "TLS to Redis is not supported yet" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(policy="redis", redis={"host": HOST}, sync_rate=0.01))
    assert rc == 1 and "sync_rate must be greater than 0.02, or -1 to disable" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(sync_rate=1))
    assert rc == 1 and "sync_rate can only be used with the redis policy" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(policy="cluster"))
    assert rc == 1 and "policy 'cluster' is not supported: it needs a database" in out, out
    rc, out = check(wasmgate_bin, tmp_path, cfg(policy="redis", redis={"host": "redis.internal", "port": 6380,
                                                                        "password": "x", "database": 1}))
    assert rc == 0, out
