"""Kong's prometheus plugin through the real gateway (2 workers): requests go
through routes with the plugin, the admin listener's /metrics is scraped and
parsed, and the series are checked by exact value and label set as Kong's
exporter names them (kong_http_requests_total, kong_bandwidth_bytes, the
latency histograms, kong_upstream_target_health, the node gauges)."""

import json
import re
import subprocess
import time
import urllib.request

from conftest import (HOST, config, fixed_handler, free_port, route, service, slow_handler, wait_until)

LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def plugin(name, **config_fields):
    return {"name": name, "config": config_fields}


def prom(**switches):
    return plugin("prometheus", **switches)


class Scrape:
    """A parsed Prometheus text exposition: samples by (name, labels)."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.samples = []  # (name, {labels}, value), in order
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(" ")
                self.types[name] = typ
                continue
            if not line or line.startswith("#"):
                continue
            m = SAMPLE_RE.match(line)
            assert m, f"unparseable line {line!r}"
            labels = dict(LABEL_RE.findall(m.group(2) or ""))
            self.samples.append((m.group(1), labels, float(m.group(3))))

    def select(self, name, **labels):
        return [(l, v) for n, l, v in self.samples if n == name and all(l.get(k) == w for k, w in labels.items())]

    def value(self, name, **labels):
        found = self.select(name, **labels)
        assert len(found) == 1, (name, labels, found)
        return found[0][1]

    def names(self):
        return {n for n, _, _ in self.samples}


def scrape(admin):
    # A request is counted by its log phase, just after its response was
    # written, and connection states by each worker's 50 ms sweep: a scrape
    # right after a response can miss both, so it waits two sweeps first.
    time.sleep(0.1)
    with urllib.request.urlopen(f"http://{HOST}:{admin}/metrics", timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return Scrape(r.read().decode())


def start(gateway_factory, cfg, **kw):
    admin = free_port()
    gw = gateway_factory(cfg, extra_args=["--admin-listen", f"{HOST}:{admin}"], **kw)
    return gw, admin


def requests_total(s, **labels):
    return s.value("kong_http_requests_total", workspace="default", **labels)


# ---- kong_http_requests_total ----------------------------------------------

def test_status_codes_per_service_and_route_across_workers(gateway_factory, upstream_factory):
    echo = upstream_factory()
    missing = upstream_factory(fixed_handler(404, [("Content-Type", "text/plain")], b"nope"))
    gw, admin = start(gateway_factory, config(
        service("alpha", echo, [
            route("a-route", ["/a"]),
            route("term", ["/term"], plugins=[plugin("request-termination", status_code=418, message="no")]),
        ], plugins=[prom(status_code_metrics=True)]),
        service("beta", missing, [route("b-route", ["/b"], plugins=[prom(status_code_metrics=True)])]),
        service("gamma", echo, [route("g-route", ["/g"])]),
    ))
    # One connection per request: the kernel spreads them over both workers.
    sent = {"/a": 7, "/term": 3, "/b": 5, "/g": 4, "/nowhere": 2}
    for path, n in sent.items():
        for _ in range(n):
            gw.request("GET", path)
    assert gw.request("GET", "/a").status == 200
    assert gw.request("GET", "/term").status == 418
    assert gw.request("GET", "/b").status == 404
    s = scrape(admin)
    assert s.types["kong_http_requests_total"] == "counter"
    assert requests_total(s, service="alpha", route="a-route", code="200", source="service", consumer="") == 8
    assert requests_total(s, service="alpha", route="term", code="418", source="kong", consumer="") == 4
    assert requests_total(s, service="beta", route="b-route", code="404", source="service", consumer="") == 6
    # Only those three: gamma's route has no instance, an unrouted request no route.
    assert len(s.select("kong_http_requests_total")) == 3, s.select("kong_http_requests_total")
    # The workers' own counts: every request and connection once.
    total = 8 + 4 + 6 + 4 + 2
    assert s.value("kong_nginx_requests_total", subsystem="http") == total
    assert s.value("kong_nginx_connections_total", state="total") == total
    # (plus the test harness's readiness probe, a connection without a request)
    assert s.value("kong_nginx_connections_total", state="accepted") in (total, total + 1)
    assert s.value("kong_nginx_connections_total", state="handled") == \
        s.value("kong_nginx_connections_total", state="accepted")
    assert s.types["kong_nginx_connections_total"] == "gauge"
    # A new scrape does not count anything twice.
    again = scrape(admin)
    assert requests_total(again, service="alpha", route="a-route", code="200", source="service", consumer="") == 8


def test_route_instance_wins_over_global_and_counts_once(gateway_factory, upstream):
    gw, admin = start(gateway_factory, config(
        service("s", upstream, [route("r1", ["/one"], plugins=[prom(status_code_metrics=True)]),
                                route("r2", ["/two"])]),
        plugins=[prom(status_code_metrics=True)],
    ))
    for _ in range(6):
        assert gw.request("GET", "/one").status == 200
    for _ in range(2):
        assert gw.request("GET", "/two").status == 200
    s = scrape(admin)
    assert requests_total(s, service="s", route="r1", code="200", source="service", consumer="") == 6
    assert requests_total(s, service="s", route="r2", code="200", source="service", consumer="") == 2


def test_unnamed_service_and_route_use_host_and_id(gateway_factory, upstream):
    rid = "6f1e3b52-0c53-4d1e-8d6b-0b5d3c2a1f00"
    cfg = {"_format_version": "3.0",
           "services": [{"url": f"http://{HOST}:{upstream.port}", "routes": [{"id": rid, "paths": ["/"]}]}],
           "plugins": [prom(status_code_metrics=True)]}
    gw, admin = start(gateway_factory, cfg)
    assert gw.request("GET", "/").status == 200
    # The log phase counts the request just after its response is written:
    # wait for it rather than race it (until then the series is absent,
    # which requests_total would refuse at once).
    labels = dict(workspace="default", service=HOST, route=rid, code="200", source="service", consumer="")
    assert wait_until(lambda: [v for _, v in scrape(admin).select("kong_http_requests_total", **labels)] == [1],
                      3), scrape(admin).text


# ---- per consumer -----------------------------------------------------------

def consumers():
    return [
        {"username": "alice", "keyauth_credentials": [{"key": "alice-key"}]},
        {"username": "bob", "keyauth_credentials": [{"key": "bob-key"}]},
        {"custom_id": "nameless", "keyauth_credentials": [{"key": "anon-key"}]},
    ]


def test_per_consumer_with_key_auth(gateway_factory, upstream):
    gw, admin = start(gateway_factory, config(
        service("s", upstream, [
            route("keyed", ["/keyed"], plugins=[
                plugin("key-auth"), prom(per_consumer=True, status_code_metrics=True, bandwidth_metrics=True)]),
            route("plain", ["/plain"], plugins=[plugin("key-auth"), prom(status_code_metrics=True)]),
        ]), consumers=consumers()))
    for key, n in (("alice-key", 3), ("bob-key", 2), ("anon-key", 1)):
        for _ in range(n):
            assert gw.request("GET", "/keyed", headers=[("apikey", key)]).status == 200
            assert gw.request("GET", "/plain", headers=[("apikey", key)]).status == 200
    assert gw.request("GET", "/keyed").status == 401
    s = scrape(admin)
    keyed = dict(service="s", route="keyed", source="service", code="200")
    assert requests_total(s, consumer="alice", **keyed) == 3
    assert requests_total(s, consumer="bob", **keyed) == 2
    assert requests_total(s, consumer="", **keyed) == 1  # a consumer without a username
    assert requests_total(s, service="s", route="keyed", code="401", source="kong", consumer="") == 1
    # Without per_consumer the consumer label stays empty.
    assert requests_total(s, service="s", route="plain", code="200", source="service", consumer="") == 6
    assert not s.select("kong_http_requests_total", route="plain", consumer="alice")
    # Bandwidth per consumer too.
    assert s.value("kong_bandwidth_bytes", route="keyed", direction="ingress", consumer="alice") > 0
    assert s.value("kong_bandwidth_bytes", route="keyed", direction="egress", consumer="bob") > 0


# ---- bandwidth ----------------------------------------------------------------

def test_bandwidth_counts_at_least_the_bodies(gateway_factory, upstream_factory):
    big = b"x" * 50000
    up = upstream_factory(fixed_handler(200, [("Content-Type", "application/octet-stream")], big))
    gw, admin = start(gateway_factory, config(
        service("s", up, [route("r", ["/"])], plugins=[prom(bandwidth_metrics=True)])))
    upload = b"y" * 30000
    for _ in range(3):
        r = gw.request("POST", "/up", body=upload)
        assert r.status == 200 and r.body == big
    s = scrape(admin)
    assert s.types["kong_bandwidth_bytes"] == "counter"
    ingress = s.value("kong_bandwidth_bytes", service="s", route="r", direction="ingress", workspace="default",
                      consumer="")
    egress = s.value("kong_bandwidth_bytes", service="s", route="r", direction="egress", workspace="default",
                     consumer="")
    assert 3 * len(upload) < ingress < 3 * (len(upload) + 1000), ingress  # bodies plus the heads
    assert 3 * len(big) < egress < 3 * (len(big) + 1000), egress
    assert "kong_http_requests_total" not in s.names()  # its switch is off


def test_heads_and_bodies_pass_unchanged_when_only_prometheus_runs(gateway_factory, upstream_factory):
    # A chain that only counts spares the gateway the handlers' copies of
    # the heads: what goes up and comes back must be what it is without it.
    chunked = upstream_factory(fixed_handler(201, [("X-Up", "one"), ("Content-Type", "text/plain")],
                                             b"abc" * 1000, chunked=True))
    echo = upstream_factory()
    gw, admin = start(gateway_factory, config(
        service("c", chunked, [route("chunked", ["/chunked"])]),
        service("e", echo, [route("echo", ["/echo"], strip_path=False)]),
        plugins=[prom(status_code_metrics=True, bandwidth_metrics=True, latency_metrics=True)]))
    r = gw.request("GET", "/chunked", headers=[("X-Down", "two")])
    assert (r.status, r.header("X-Up"), r.body) == (201, "one", b"abc" * 1000)
    assert r.chunked
    r = gw.request("POST", "/echo?q=1", headers=[("X-Down", "three")], body=b"z" * 70000, chunked=True)
    assert r.status == 200
    req = echo.requests[-1]
    assert req.target == "/echo?q=1" and req.header("X-Down") == "three" and req.body_len == 70000
    # The log phase may finish just after the client has its answer.
    s = wait_until(lambda: (lambda t: t if t.select("kong_bandwidth_bytes", route="echo", direction="ingress")
                            else None)(scrape(admin)))
    assert s, "the echo route's bandwidth was never counted"
    assert requests_total(s, service="c", route="chunked", code="201", source="service", consumer="") == 1
    assert s.value("kong_bandwidth_bytes", route="echo", direction="ingress") > 70000


# ---- latency histograms ---------------------------------------------------------

def check_histogram(s, name, buckets, **labels):
    rows = s.select(name + "_bucket", **labels)
    les = [l["le"] for l, _ in rows]
    assert les == [str(b) for b in buckets] + ["+Inf"], les
    values = [v for _, v in rows]
    assert values == sorted(values), values  # cumulative
    count = s.value(name + "_count", **labels)
    assert values[-1] == count
    return count, s.value(name + "_sum", **labels), dict(zip(les, values))


KONG_BUCKETS = [1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000]
UPSTREAM_BUCKETS = [25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000]


def test_latency_histograms(gateway_factory, upstream_factory):
    slow = upstream_factory(slow_handler(0.12))
    gw, admin = start(gateway_factory, config(
        service("s", slow, [
            route("r", ["/"]),
            route("t", ["/term"], plugins=[plugin("request-termination", status_code=403)]),
        ], plugins=[prom(latency_metrics=True)])))
    for _ in range(4):
        assert gw.request("GET", "/").status == 200
    assert gw.request("GET", "/term").status == 403
    s = scrape(admin)
    labels = dict(service="s", route="r", workspace="default")
    for name in ("kong_kong_latency_ms", "kong_upstream_latency_ms", "kong_request_latency_ms"):
        assert s.types[name] == "histogram"
    count, total, by_le = check_histogram(s, "kong_upstream_latency_ms", UPSTREAM_BUCKETS, **labels)
    assert count == 4 and total >= 4 * 115, total
    assert by_le["100"] == 0 and by_le["250"] == 4, by_le  # each took ~120 ms
    count, total, by_le = check_histogram(s, "kong_request_latency_ms", UPSTREAM_BUCKETS, **labels)
    assert count == 4 and total >= 4 * 115
    count, total, _ = check_histogram(s, "kong_kong_latency_ms", KONG_BUCKETS, **labels)
    assert count == 4 and total < 4 * 100  # the gateway's own part is small
    # The gateway's answer: kong and request latency, no upstream latency.
    t = dict(service="s", route="t", workspace="default")
    assert check_histogram(s, "kong_kong_latency_ms", KONG_BUCKETS, **t)[0] == 1
    assert check_histogram(s, "kong_request_latency_ms", UPSTREAM_BUCKETS, **t)[0] == 1
    assert not s.select("kong_upstream_latency_ms_count", route="t")
    assert "kong_http_requests_total" not in s.names() and "kong_bandwidth_bytes" not in s.names()


# ---- switches off, node metrics ---------------------------------------------------

def test_switches_off_export_only_node_metrics(gateway_factory, upstream):
    gw, admin = start(gateway_factory, config(service("s", upstream, [route("r", ["/"])], plugins=[prom()])))
    for _ in range(3):
        assert gw.request("GET", "/").status == 200
    s = scrape(admin)
    per_request = {n for n in s.names() if re.match(
        r"kong_(http_requests_total|bandwidth_bytes|kong_latency_ms|upstream_latency_ms|request_latency_ms)", n)}
    assert per_request == set(), per_request
    assert "kong_upstream_target_health" not in s.names()
    assert s.value("kong_datastore_reachable") == 1
    info = s.select("kong_node_info")
    assert len(info) == 1 and info[0][1] == 1
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", info[0][0]["node_id"])
    node_id = info[0][0]["node_id"]
    states = {l["state"] for l, _ in s.select("kong_nginx_connections_total", node_id=node_id, subsystem="http")}
    assert states == {"accepted", "handled", "total", "active", "reading", "writing", "waiting"}
    assert s.value("kong_nginx_metric_errors_total") == 0
    assert "kong_memory_workers_lua_vms_bytes" not in s.names()  # no Lua VMs


def test_without_the_plugin_only_node_metrics(gateway_factory, upstream):
    gw, admin = start(gateway_factory, config(service("s", upstream, [route("r", ["/"])])))
    assert gw.request("GET", "/").status == 200
    s = scrape(admin)
    assert s.value("kong_datastore_reachable") == 1
    assert s.value("kong_nginx_requests_total", subsystem="http") >= 1
    assert "kong_http_requests_total" not in s.names() and "kong_nginx_metric_errors_total" not in s.names()


def test_connection_states(gateway_factory, upstream):
    gw, admin = start(gateway_factory, config(service("s", upstream, [route("r", ["/"])], plugins=[prom()])))
    conns = [gw.conn() for _ in range(3)]
    try:
        for c in conns:
            assert c.request("GET", "/").status == 200  # then idle, kept alive
        # The workers count states on their sweep (every 50 ms).
        assert wait_until(lambda: scrape(admin).value("kong_nginx_connections_total", state="waiting") == 3, 3)
        s = scrape(admin)
        assert s.value("kong_nginx_connections_total", state="active") == 3
        assert s.value("kong_nginx_connections_total", state="writing") == 0
    finally:
        for c in conns:
            c.close()
    assert wait_until(lambda: scrape(admin).value("kong_nginx_connections_total", state="active") == 0, 3)


# ---- upstream target health -------------------------------------------------------

def lb_config(upstreams, services, plugins):
    return {"_format_version": "3.0", "upstreams": upstreams, "services": services, "plugins": plugins}


def health(s, upstream, target):
    rows = s.select("kong_upstream_target_health", upstream=upstream, target=target, subsystem="http")
    return {l["state"]: v for l, v in rows}, {l["address"] for l, _ in rows}


def test_upstream_target_health(gateway_factory, upstream_factory):
    up = upstream_factory()
    dead = free_port()
    checked = {
        "active": {"http_path": "/", "healthy": {"interval": 0.2, "successes": 1},
                   "unhealthy": {"interval": 0.2, "tcp_failures": 1}},
    }
    gw, admin = start(gateway_factory, lb_config(
        [{"name": "checked", "healthchecks": checked,
          "targets": [{"target": f"{HOST}:{up.port}"}, {"target": f"{HOST}:{dead}"}]},
         {"name": "plain", "targets": [{"target": f"{HOST}:{up.port}"}]}],
        [{"name": "s", "host": "checked", "routes": [{"name": "r", "paths": ["/"]}]}],
        [prom(upstream_health_metrics=True)]))

    def dead_is_down():
        s = scrape(admin)
        return health(s, "checked", f"{HOST}:{dead}")[0].get("unhealthy") == 1

    assert wait_until(dead_is_down, 5), scrape(admin).text
    s = scrape(admin)
    assert s.types["kong_upstream_target_health"] == "gauge"
    states, addresses = health(s, "checked", f"{HOST}:{up.port}")
    assert states == {"healthy": 1, "unhealthy": 0, "healthchecks_off": 0, "dns_error": 0}, states
    assert addresses == {f"{HOST}:{up.port}"}
    states, _ = health(s, "checked", f"{HOST}:{dead}")
    assert states == {"healthy": 0, "unhealthy": 1, "healthchecks_off": 0, "dns_error": 0}, states
    states, _ = health(s, "plain", f"{HOST}:{up.port}")
    assert states == {"healthy": 0, "unhealthy": 0, "healthchecks_off": 1, "dns_error": 0}, states
    assert len(s.select("kong_upstream_target_health")) == 12
    # Traffic goes to the healthy one only.
    for _ in range(4):
        assert gw.request("GET", "/").status == 200


def test_upstream_health_needs_the_switch(gateway_factory, upstream):
    gw, admin = start(gateway_factory, lb_config(
        [{"name": "u", "targets": [{"target": f"{HOST}:{upstream.port}"}]}],
        [{"name": "s", "host": "u", "routes": [{"name": "r", "paths": ["/"]}]}],
        [prom(status_code_metrics=True)]))
    assert gw.request("GET", "/").status == 200
    s = scrape(admin)
    assert "kong_upstream_target_health" not in s.names()
    assert requests_total(s, service="s", route="r", code="200", source="service", consumer="") == 1


# ---- reloads ------------------------------------------------------------------------

def test_counters_survive_reload(gateway_factory, upstream):
    def cfg(extra_route):
        routes = [route("r", ["/r"])] + ([route("new", ["/new"])] if extra_route else [])
        return config(service("s", upstream, routes, plugins=[prom(status_code_metrics=True)]))

    gw, admin = start(gateway_factory, cfg(False))
    for _ in range(5):
        assert gw.request("GET", "/r").status == 200
    gw.reload(cfg(True))
    assert gw.wait_stderr("config reloaded", 5)
    assert wait_until(lambda: gw.request("GET", "/new").status == 200, 5)
    for _ in range(4):
        assert gw.request("GET", "/r").status == 200

    def counted():
        return requests_total(scrape(admin), service="s", route="r", code="200", source="service", consumer="")
    # The log phase may end just after the client has its answer (slow under ASan).
    assert wait_until(lambda: counted() >= 9) and counted() == 9
    s = scrape(admin)
    assert requests_total(s, service="s", route="new", code="200", source="service", consumer="") >= 1
    # The plugin removed: the per-request families go, node metrics stay.
    gw.reload(config(service("s", upstream, [route("r", ["/r"])])))
    assert gw.wait_stderr("config reloaded", 5, count=2)
    s = scrape(admin)
    assert "kong_http_requests_total" not in s.names()
    assert s.value("kong_datastore_reachable") == 1


# ---- config -----------------------------------------------------------------------------

def check(wasmgate_bin, tmp_path, cfg):
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([wasmgate_bin, "check", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_config_fields_as_kong(wasmgate_bin, tmp_path, upstream):
    ok = config(service("s", upstream, [route("r", ["/"])]), plugins=[prom(
        per_consumer=True, status_code_metrics=True, latency_metrics=True, bandwidth_metrics=True,
        upstream_health_metrics=True, ai_metrics=False, wasm_metrics=False)])
    code, out = check(wasmgate_bin, tmp_path, ok)
    assert code == 0, out
    code, out = check(wasmgate_bin, tmp_path, config(plugins=[prom(ai_metrics=True)]))
    assert code == 1
    assert "plugin 'prometheus' field 'config.ai_metrics': not supported yet (only the default 'false' is " \
           "accepted)" in out, out
    code, out = check(wasmgate_bin, tmp_path, config(plugins=[prom(per_consumer="yes")]))
    assert code == 1 and "config.per_consumer" in out, out
