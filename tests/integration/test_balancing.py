"""Upstreams, targets and load balancing, checked against Kong 3.x behaviour.

Real target servers on 127.0.0.1 (threaded raw-socket servers answering with
their own port), the real gateway binary with 2 workers (conftest fixtures).
Expected behaviour comes from Kong's docs and source:
  * load-balancing.md / health-checks.md (docs.konghq.com, how-kong-works);
  * kong/runloop/balancer/init.lua: get_value_to_hash (hash sources, the
    cookie created when absent, query args decoded and multi-values sorted),
    set_cookie ("; Path=...; Same-Site=Lax; HttpOnly"), execute() (503
    "failure to get a peer from the ring-balancer", Host from
    upstream.host_header) and set_host_header (":port" appended unless 80);
  * kong/runloop/balancer/consistent_hashing.lua: ketama continuum with a
    fixed 160 points per equal-weight target, so adding a target only moves
    keys onto the new target;
  * kong/runloop/handler.lua access phase: 426 "Please use HTTPS protocol"
    with Upgrade, https redirects to "https://" .. $host .. request_uri,
    X-Forwarded-Prefix = the stripped prefix;
  * kong/router/atc.lua + utils.lua: traditional_compatible always joins
    paths with get_upstream_uri_v0 (path_handling v1 "will not work under
    traditional_compatible"), with sanitize_uri_postfix.
Each test cites the Kong source or doc its expectation comes from.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter

import pytest

from conftest import HOST, ClientConn, build_request, free_port, wait_until

PEER_FAILURE = {"message": "failure to get a peer from the ring-balancer"}
BAD_GATEWAY = {"message": "An invalid response was received from the upstream server"}
TRIES_RE = re.compile(r"tries=(\d+)$")


# --------------------------------------------------------------------------
# target servers
# --------------------------------------------------------------------------


class Target:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request
    with JSON naming its own port, the request path and headers.

    mode: "ok" | "500" | ("slow", seconds). `status_code` answers /status.
    Can be stopped (listening socket and live connections closed) and
    restarted on the same port."""

    def __init__(self, port=0, mode="ok"):
        self.mode = mode
        self.status_code = 200
        self.lock = threading.Lock()
        self.hits = 0
        self.status_hits = 0
        self.requests = []  # (path, headers)
        self.conns = []
        self.lsock = None
        self.port = port
        self.start()

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, self.port))
        s.listen(512)
        self.port = s.getsockname()[1]
        self.lsock = s
        self.running = True
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def stop(self):
        self.running = False
        try:
            # shutdown() wakes the thread blocked in accept(); close() alone
            # would leave the socket listening until that accept returns.
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    @property
    def addr(self):
        return f"{HOST}:{self.port}"

    def _accept(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(30)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = []
                for ln in lines[1:]:
                    k, v = ln.split(":", 1)
                    headers.append((k.strip(), v.strip()))
                cl = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                while len(buf) < cl:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf[cl:]
                path = target
                if path.split("?")[0] == "/status":
                    with self.lock:
                        self.status_hits += 1
                    status = self.status_code
                else:
                    with self.lock:
                        self.hits += 1
                        self.requests.append((path, headers))
                    status = 500 if self.mode == "500" else 200
                    if isinstance(self.mode, tuple) and self.mode[0] == "slow":
                        time.sleep(self.mode[1])
                body = json.dumps({"port": self.port, "path": path, "headers": headers}).encode()
                reason = "OK" if status == 200 else "Internal Server Error"
                c.sendall((f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
                if any(k.lower() == "connection" and "close" in v.lower() for k, v in headers):
                    return
        except OSError:
            return
        finally:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def targets():
    made = []

    def make(n=1, **kw):
        ts = [Target(**kw) for _ in range(n)]
        made.extend(ts)
        return ts

    yield make
    for t in made:
        t.stop()


# --------------------------------------------------------------------------
# config and client helpers
# --------------------------------------------------------------------------


def upstream_cfg(name, tgts, weights=None, **kw):
    entries = []
    for i, t in enumerate(tgts):
        addr = t if isinstance(t, str) else t.addr
        e = {"target": addr}
        if weights is not None:
            e["weight"] = weights[i]
        entries.append(e)
    d = {"name": name, "targets": entries}
    d.update(kw)
    return d


def lb_config(upstreams, services):
    return {"_format_version": "3.0", "upstreams": upstreams, "services": services}


def svc(name, host, routes, **kw):
    d = {"name": name, "host": host, "port": 80, "protocol": "http", "routes": routes}
    d.update(kw)
    return d


def rt(name, paths=None, **kw):
    d = {"name": name}
    if paths is not None:
        d["paths"] = paths
    d.update(kw)
    return d


def port_of(resp):
    assert resp.status == 200, resp
    return resp.json()["port"]


def get(gw, path="/", host="test.local", headers=None, conn=None):
    if conn is not None:
        return conn.request("GET", path, headers, host=host)
    return gw.request("GET", path, headers=headers, host=host)


def conn_from(port, src_ip):
    """A ClientConn whose socket is bound to src_ip (any 127.0.0.0/8 address)."""
    c = ClientConn.__new__(ClientConn)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src_ip, 0))
    s.connect((HOST, port))
    c.sock = s
    c.buf = bytearray()
    c.eof = False
    c.reset = False
    return c


def spread(gw, n_requests, n_threads, path="/", headers=None, per_conn=None):
    """n_requests GETs over n_threads threads, each on keep-alive connections
    (a fresh connection every per_conn requests). Returns Counter of ports."""
    counts = Counter()
    errors = []
    lock = threading.Lock()
    per_thread = n_requests // n_threads

    def work():
        local = Counter()
        c = None
        try:
            for i in range(per_thread):
                if c is None or (per_conn and i % per_conn == 0):
                    if c is not None:
                        c.close()
                    c = gw.conn()
                r = c.request("GET", path, headers)
                local[port_of(r)] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            if c is not None:
                c.close()
            with lock:
                counts.update(local)

    ths = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)
    assert not errors, errors[:3]
    return counts


def tries_of(lines):
    out = []
    for ln in lines:
        m = TRIES_RE.search(ln)
        if m:
            out.append(int(m.group(1)))
    return out


# --------------------------------------------------------------------------
# round-robin
# --------------------------------------------------------------------------


def test_weighted_round_robin_distribution(gateway_factory, targets):
    # load-balancing.md: round-robin distributes by weight; weight 0 disables
    # a target. 10,000 requests over 8 keep-alive connections in 4 threads
    # (both workers serve them).
    a, b, c, z = targets(4)
    weights = [100, 50, 25, 0]
    gw = gateway_factory(lb_config([upstream_cfg("rr", [a, b, c, z], weights)],
                                   [svc("s", "rr", [rt("r", ["/"])])]))
    counts = spread(gw, 10000, 4, per_conn=1250)
    total = sum(counts.values())
    assert total == 10000
    assert counts[z.port] == 0 and z.hits == 0, counts
    for t, w in zip((a, b, c), weights[:3]):
        expected = w / 175
        share = counts[t.port] / total
        assert abs(share - expected) <= 0.05 * expected, (t.port, share, expected, counts)


def test_weight_zero_target_gets_nothing(gateway_factory, targets):
    a, z = targets(2)
    gw = gateway_factory(lb_config([upstream_cfg("rr", [a, z], [10, 0])], [svc("s", "rr", [rt("r", ["/"])])]))
    counts = spread(gw, 200, 2, per_conn=10)
    assert counts == Counter({a.port: 200})
    assert z.hits == 0


# --------------------------------------------------------------------------
# consistent hashing
# --------------------------------------------------------------------------


def hashing_cfg(tgts, **hash_kw):
    up = upstream_cfg("ch", tgts, algorithm="consistent-hashing", **hash_kw)
    return lb_config([up], [svc("s", "ch", [rt("r", ["/"], strip_path=False)])])


def map_keys(gw, keys, header="X-Key", threads=4):
    result = {}
    lock = threading.Lock()
    errors = []

    def work(chunk):
        c = gw.conn()
        try:
            for k in chunk:
                p = port_of(c.request("GET", "/", [(header, k)]))
                with lock:
                    result[k] = p
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            c.close()

    chunks = [keys[i::threads] for i in range(threads)]
    ths = [threading.Thread(target=work, args=(ch,)) for ch in chunks]
    for t in ths:
        t.start()
    for t in ths:
        t.join(60)
    assert not errors, errors[:3]
    return result


def test_hash_on_header_same_key_same_target(gateway_factory, targets):
    ts = targets(3)
    gw = gateway_factory(hashing_cfg(ts, hash_on="header", hash_on_header="X-Key"))
    seen = {}
    for key in ["alice", "bob", "carol", "dave", "eve", "frank"]:
        ports = {port_of(get(gw, headers=[("X-Key", key)])) for _ in range(8)}  # new connection each time
        assert len(ports) == 1, (key, ports)
        seen[key] = ports.pop()
    many = map_keys(gw, [f"k{i}" for i in range(300)])
    assert len(set(many.values())) == 3, Counter(many.values())
    # header names are case-insensitive
    assert port_of(get(gw, headers=[("x-key", "alice")])) == seen["alice"]


def _ring_change(gateway_factory, targets):
    ts = targets(4)
    cfg3 = hashing_cfg(ts[:3], hash_on="header", hash_on_header="X-Key")
    gw = gateway_factory(cfg3)
    keys = [f"user-{i}" for i in range(1000)]
    before = map_keys(gw, keys)
    gw.reload(hashing_cfg(ts, hash_on="header", hash_on_header="X-Key"))
    assert gw.wait_stderr("config reloaded", timeout=10), gw.stderr_text()
    # both workers pick up the new snapshot on their next loop turn
    assert wait_until(lambda: port_of(get(gw, headers=[("X-Key", "probe")])) is not None, 2)
    time.sleep(0.2)
    after = map_keys(gw, keys)
    moved = [k for k in keys if before[k] != after[k]]
    return ts, before, after, moved


def test_adding_a_target_moves_about_a_quarter_of_keys(gateway_factory, targets):
    ts, before, after, moved = _ring_change(gateway_factory, targets)
    frac = len(moved) / len(before)
    assert 0.10 <= frac <= 0.40, (frac, Counter(after[k] for k in moved))
    assert ts[3].port in set(after.values())


def test_adding_a_target_only_moves_keys_onto_it(gateway_factory, targets):
    ts, before, after, moved = _ring_change(gateway_factory, targets)
    elsewhere = [k for k in moved if after[k] != ts[3].port]
    assert len(elsewhere) <= 0.05 * max(len(moved), 1), (len(elsewhere), len(moved))


def test_hash_on_ip(gateway_factory, targets):
    # get_value_to_hash: hash_on ip uses $remote_addr. Same client address ->
    # same target; many addresses spread over the targets.
    ts = targets(3)
    gw = gateway_factory(hashing_cfg(ts, hash_on="ip"))
    mapping = {}
    for i in range(2, 62):
        ip = f"127.0.0.{i}"
        ports = set()
        for _ in range(3):
            c = conn_from(gw.port, ip)
            try:
                ports.add(port_of(c.request("GET", "/")))
            finally:
                c.close()
        assert len(ports) == 1, (ip, ports)
        mapping[ip] = ports.pop()
    assert len(set(mapping.values())) >= 2, Counter(mapping.values())


def test_hash_on_consumer_with_header_fallback(gateway_factory, targets):
    """hash_on consumer balances on the consumer key-auth identified (Kong:
    its id, else the credential's); without one, on hash_fallback."""
    ts = targets(3)
    cfg = hashing_cfg(ts, hash_on="consumer", hash_fallback="header", hash_fallback_header="X-Key")
    cfg["services"][0]["routes"].append(rt("auth", ["/auth"], strip_path=False, plugins=[{"name": "key-auth"}]))
    cfg["consumers"] = [{"username": f"c{i}", "keyauth_credentials": [{"key": f"k{i}"}]} for i in range(40)]
    gw = gateway_factory(cfg)
    mapping = {}
    for i in range(40):
        # The X-Key header changes: the consumer decides, not the fallback.
        ports = {port_of(get(gw, "/auth", headers=[("apikey", f"k{i}"), ("X-Key", f"h{j}")])) for j in range(3)}
        assert len(ports) == 1, (i, ports)
        mapping[i] = ports.pop()
    assert len(set(mapping.values())) >= 2, Counter(mapping.values())
    # No consumer on this route: the fallback header decides.
    fallback = {}
    for i in range(40):
        ports = {port_of(get(gw, "/", headers=[("X-Key", f"h{i}")])) for _ in range(3)}
        assert len(ports) == 1, (i, ports)
        fallback[i] = ports.pop()
    assert len(set(fallback.values())) >= 2, Counter(fallback.values())


def test_hash_on_query_arg(gateway_factory, targets):
    ts = targets(3)
    gw = gateway_factory(hashing_cfg(ts, hash_on="query_arg", hash_on_query_arg="user"))
    mapping = {}
    for i in range(60):
        ports = {port_of(get(gw, f"/items?x=1&user=u{i}&y={j}")) for j in range(3)}
        assert len(ports) == 1, (i, ports)
        mapping[i] = ports.pop()
    assert len(set(mapping.values())) >= 2, Counter(mapping.values())


def test_hash_on_query_arg_multi_value_and_decoding_kong_semantics(gateway_factory, targets):
    ts = targets(3)
    gw = gateway_factory(hashing_cfg(ts, hash_on="query_arg", hash_on_query_arg="user"))
    differs = 0
    for i in range(40):
        p1 = port_of(get(gw, f"/?user=a{i}&user=b{i}"))
        p2 = port_of(get(gw, f"/?user=b{i}&user=a{i}"))
        p3 = port_of(get(gw, f"/?user=x{i}%20y"))
        p4 = port_of(get(gw, f"/?user=x{i}+y"))
        differs += (p1 != p2) + (p3 != p4)
    assert differs == 0, differs


def test_hash_on_path(gateway_factory, targets):
    ts = targets(3)
    gw = gateway_factory(hashing_cfg(ts, hash_on="path"))
    mapping = {}
    for i in range(60):
        ports = {port_of(get(gw, f"/p/{i}?q={j}")) for j in range(3)}
        assert len(ports) == 1, (i, ports)
        mapping[i] = ports.pop()
    assert len(set(mapping.values())) >= 2, Counter(mapping.values())


def test_hash_on_header_falls_back(gateway_factory, targets):
    # hash_fallback is used when the primary source is absent.
    ts = targets(3)
    gw = gateway_factory(hashing_cfg(ts, hash_on="header", hash_on_header="X-Key",
                                     hash_fallback="query_arg", hash_fallback_query_arg="k"))
    for i in range(20):
        ports = {port_of(get(gw, f"/?k=v{i}")) for _ in range(3)}
        assert len(ports) == 1, (i, ports)


def _cookie_gw(gateway_factory, targets):
    ts = targets(3)
    gw = gateway_factory(hashing_cfg(ts, hash_on="cookie", hash_on_cookie="sticky",
                                     hash_on_cookie_path="/app"))
    return ts, gw


def test_hash_on_cookie_sets_cookie_and_sticks(gateway_factory, targets):
    # get_value_to_hash: no cookie -> a new value is made and sent back with
    # Set-Cookie; requests carrying it then stick to one target.
    ts, gw = _cookie_gw(gateway_factory, targets)
    sticky_ports = set()
    for _ in range(10):
        r = get(gw, "/app/x")
        assert r.status == 200
        sc = r.header("Set-Cookie")
        assert sc, r
        m = re.match(r"sticky=([^;]+)", sc)
        assert m, sc
        assert "Path=/app" in sc, sc
        value = m.group(1)
        first = r.json()["port"]
        ports = {port_of(get(gw, "/app/y", headers=[("Cookie", f"other=1; sticky={value}")])) for _ in range(4)}
        assert ports == {first}, (value, first, ports)
        sticky_ports.add(first)
        # no new cookie once the client has one
        r2 = get(gw, "/app/z", headers=[("Cookie", f"sticky={value}")])
        assert r2.header("Set-Cookie") is None, r2
    assert len(sticky_ports) >= 2 or len(ts) == 1


def test_hash_on_cookie_attributes_match_kong(gateway_factory, targets):
    ts, gw = _cookie_gw(gateway_factory, targets)
    sc = get(gw, "/app/x").header("Set-Cookie")
    assert re.fullmatch(r"sticky=[^;]+; Path=/app; Same-Site=Lax; HttpOnly", sc), sc


# --------------------------------------------------------------------------
# least-connections
# --------------------------------------------------------------------------


def test_least_connections_prefers_idle_target(gateway_factory, targets):
    slow, fast = targets(2)
    slow.mode = ("slow", 0.4)
    gw = gateway_factory(lb_config([upstream_cfg("lc", [slow, fast], algorithm="least-connections")],
                                   [svc("s", "lc", [rt("r", ["/"])])]))
    counts = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + 2.0
    errors = []

    def work():
        c = gw.conn(timeout=10)
        try:
            while time.monotonic() < stop_at:
                p = port_of(c.request("GET", "/"))
                with lock:
                    counts[p] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            c.close()

    ths = [threading.Thread(target=work) for _ in range(6)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(20)
    assert not errors, errors[:3]
    total = sum(counts.values())
    # round-robin would give the slow target half of all picks; least-connections
    # keeps sending to the idle one while the slow one has requests open.
    assert counts[fast.port] >= 0.8 * total, counts
    assert counts[slow.port] >= 1, counts


# --------------------------------------------------------------------------
# health checks
# --------------------------------------------------------------------------


def test_passive_tcp_failure_removes_dead_target(gateway_factory, targets):
    a, b = targets(2)
    hc = {"passive": {"unhealthy": {"tcp_failures": 1}}}
    gw = gateway_factory(lb_config([upstream_cfg("pu", [a, b], healthchecks=hc)],
                                   [svc("s", "pu", [rt("r", ["/"])], retries=2)]))
    counts = spread(gw, 40, 2, per_conn=5)
    assert counts[a.port] > 0 and counts[b.port] > 0, counts
    n0 = len(gw.wait_access_lines(40))
    b.stop()
    statuses = []
    for i in range(30):
        r = get(gw)
        statuses.append(r.status)
        assert r.status == 200 and r.json()["port"] == a.port, (i, r)
    lines = gw.wait_access_lines(n0 + 30)[n0:]
    tries = tries_of(lines)
    assert len(tries) == 30, lines[-3:]
    # retries hide the detection; afterwards the dead target is never tried
    assert sum(1 for t in tries if t > 1) <= 2, tries
    assert all(t == 1 for t in tries[10:]), tries
    assert gw.wait_stderr(r"unhealthy", timeout=2), gw.stderr_text()


def test_passive_http_failures_remove_target(gateway_factory, targets):
    a, b = targets(2)
    b.mode = "500"
    hc = {"passive": {"unhealthy": {"http_failures": 1, "http_statuses": [500]}}}
    gw = gateway_factory(lb_config([upstream_cfg("ph", [a, b], healthchecks=hc)],
                                   [svc("s", "ph", [rt("r", ["/"])])]))
    statuses = [get(gw).status for _ in range(30)]
    # Kong passes the 500 through (statuses are not retried); after the first
    # one the target is unhealthy and only the good target answers.
    assert statuses.count(500) <= 2, statuses
    assert all(s == 200 for s in statuses[10:]), statuses
    assert b.hits <= 2


def test_active_checks_bring_target_back(gateway_factory, targets):
    a, b = targets(2)
    hc = {
        "active": {
            "http_path": "/status",
            "healthy": {"interval": 0.2, "successes": 1},
            "unhealthy": {"interval": 0.2, "tcp_failures": 1},
        },
        "passive": {"unhealthy": {"tcp_failures": 1}},
    }
    gw = gateway_factory(lb_config([upstream_cfg("ac", [a, b], healthchecks=hc)],
                                   [svc("s", "ac", [rt("r", ["/"])], retries=2)]))
    assert wait_until(lambda: a.status_hits > 0 and b.status_hits > 0, 3), (a.status_hits, b.status_hits)
    b.stop()
    assert gw.wait_stderr(r"unhealthy", timeout=3), gw.stderr_text()
    for _ in range(10):
        r = get(gw)
        assert r.status == 200 and r.json()["port"] == a.port, r
    hits_before = b.hits
    b.start()  # same port
    assert gw.wait_stderr(r"healthy again", timeout=3), gw.stderr_text()
    counts = spread(gw, 40, 2, per_conn=5)
    assert counts[b.port] > 0 and b.hits > hits_before, counts


def test_active_http_failures_mark_unhealthy(gateway_factory, targets):
    a, b = targets(2)
    hc = {
        "active": {
            "http_path": "/status",
            "healthy": {"interval": 0.2, "successes": 1},
            "unhealthy": {"interval": 0.2, "http_failures": 1},
        },
    }
    gw = gateway_factory(lb_config([upstream_cfg("ah", [a, b], healthchecks=hc)],
                                   [svc("s", "ah", [rt("r", ["/"])])]))
    b.status_code = 500
    assert gw.wait_stderr(r"unhealthy", timeout=3), gw.stderr_text()
    counts = spread(gw, 20, 2, per_conn=5)
    assert counts == Counter({a.port: 20}), counts
    b.status_code = 200
    assert gw.wait_stderr(r"healthy again", timeout=3), gw.stderr_text()
    counts = spread(gw, 20, 2, per_conn=5)
    assert counts[b.port] > 0, counts


def test_all_targets_down_gives_503(gateway_factory):
    dead = [f"{HOST}:{free_port()}", f"{HOST}:{free_port()}"]
    hc = {"passive": {"unhealthy": {"tcp_failures": 1}}}
    gw = gateway_factory(lb_config([upstream_cfg("down", dead, healthchecks=hc)],
                                   [svc("s", "down", [rt("r", ["/"])], retries=5)]))
    first = get(gw)
    assert first.status in (502, 503), first
    for _ in range(5):
        r = get(gw)
        assert r.status == 503, r
        assert json.loads(r.body) == PEER_FAILURE, r
        assert (r.header("Content-Type") or "").startswith("application/json")


def test_all_targets_unhealthy_by_active_checks_gives_503(gateway_factory, targets):
    a, = targets(1)
    hc = {"active": {"http_path": "/status", "healthy": {"interval": 0.2, "successes": 1},
                     "unhealthy": {"interval": 0.2, "http_failures": 1}}}
    gw = gateway_factory(lb_config([upstream_cfg("one", [a], healthchecks=hc)],
                                   [svc("s", "one", [rt("r", ["/"])])]))
    a.status_code = 503
    assert gw.wait_stderr(r"unhealthy", timeout=3), gw.stderr_text()
    r = get(gw)
    assert r.status == 503 and json.loads(r.body) == PEER_FAILURE, r


# --------------------------------------------------------------------------
# retries
# --------------------------------------------------------------------------


def test_retry_moves_to_next_target(gateway_factory, targets):
    a, = targets(1)
    dead = f"{HOST}:{free_port()}"
    gw = gateway_factory(lb_config([upstream_cfg("rt", [dead, a])],
                                   [svc("s", "rt", [rt("r", ["/"])], retries=2)]))
    for _ in range(12):
        r = get(gw)
        assert r.status == 200 and r.json()["port"] == a.port, r
    tries = tries_of(gw.wait_access_lines(12))
    assert len(tries) == 12
    assert 2 in tries, tries  # requests whose first pick was the dead target
    assert set(tries) <= {1, 2}, tries


def test_retries_zero_dead_target_is_502(gateway_factory):
    dead = f"{HOST}:{free_port()}"
    gw = gateway_factory(lb_config([upstream_cfg("z", [dead])], [svc("s", "z", [rt("r", ["/"])], retries=0)]))
    r = get(gw)
    assert r.status == 502, r
    assert json.loads(r.body) == BAD_GATEWAY
    tries = tries_of(gw.wait_access_lines(1))
    assert tries == [1], tries


# --------------------------------------------------------------------------
# routing behaviour visible on the wire
# --------------------------------------------------------------------------


def simple_cfg(t, routes, **svc_kw):
    d = {"name": "s", "url": f"http://{t.addr}{svc_kw.pop('path', '')}", "routes": routes}
    d.update(svc_kw)
    return {"_format_version": "3.0", "services": [d]}


def test_https_only_route_over_http_is_426(gateway_factory, targets):
    t, = targets(1)
    gw = gateway_factory(simple_cfg(t, [rt("sec", ["/sec"], protocols=["https"])]))
    r = get(gw, "/sec/x")
    assert r.status == 426, r
    assert json.loads(r.body) == {"message": "Please use HTTPS protocol"}
    assert r.header("Upgrade") == "TLS/1.2, HTTP/1.1", r
    assert t.hits == 0


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_https_redirect_status_code(gateway_factory, targets, code):
    t, = targets(1)
    gw = gateway_factory(simple_cfg(t, [rt("sec", ["/sec"], protocols=["https"],
                                           https_redirect_status_code=code)]))
    r = get(gw, "/sec/a?b=1&c=%20", host="Example.COM:8000")
    assert r.status == code, r
    # handler.lua: "https://" .. forwarded_host ($host: lower-case, no port) .. request_uri
    assert r.header("Location") == "https://example.com/sec/a?b=1&c=%20", r
    assert t.hits == 0


def test_regex_route_strip_path_strips_whole_match(gateway_factory, targets):
    t, = targets(1)
    gw = gateway_factory(simple_cfg(t, [rt("re", ["~/version/\\d+/service"])]))
    r = get(gw, "/version/1/service/path/to/resource?x=1")
    body = r.json()
    assert body["path"] == "/path/to/resource?x=1", body
    hs = {k.lower(): v for k, v in body["headers"]}
    assert hs.get("x-forwarded-prefix") == "/version/1/service", hs


def test_x_forwarded_prefix(gateway_factory, targets):
    t, = targets(1)
    gw = gateway_factory(simple_cfg(t, [rt("api", ["/api"]), rt("keep", ["/keep"], strip_path=False),
                                        rt("root", ["/"])]))
    hs = {k.lower(): v for k, v in get(gw, "/api/users").json()["headers"]}
    assert hs.get("x-forwarded-prefix") == "/api", hs
    # strip_path off: Kong's match prefix is nil, no X-Forwarded-Prefix
    hs = {k.lower(): v for k, v in get(gw, "/keep/x").json()["headers"]}
    assert "x-forwarded-prefix" not in hs, hs
    # prefix "/" is not sent
    hs = {k.lower(): v for k, v in get(gw, "/other").json()["headers"]}
    assert "x-forwarded-prefix" not in hs, hs
    # a client-sent X-Forwarded-Prefix is not trusted
    body = get(gw, "/keep/x", headers=[("X-Forwarded-Prefix", "/evil")]).json()
    assert all(not (k.lower() == "x-forwarded-prefix") for k, _ in body["headers"]), body


def upstream_host_of(resp):
    hs = [v for k, v in resp.json()["headers"] if k.lower() == "host"]
    assert len(hs) == 1, resp.json()["headers"]
    return hs[0]


def test_host_header_is_target_for_upstream_services(gateway_factory, targets):
    a, b = targets(2)
    gw = gateway_factory(lb_config([upstream_cfg("hh", [a, b])], [svc("s", "hh", [rt("r", ["/"])])]))
    for _ in range(6):
        r = get(gw, host="client.example")
        assert upstream_host_of(r) == f"{HOST}:{r.json()['port']}", r.json()


def test_host_header_for_plain_service(gateway_factory, targets):
    t, = targets(1)
    gw = gateway_factory(simple_cfg(t, [rt("r", ["/"])]))
    assert upstream_host_of(get(gw, host="client.example")) == t.addr


def test_host_header_preserve_host(gateway_factory, targets):
    a, b = targets(2)
    gw = gateway_factory(lb_config([upstream_cfg("ph", [a, b], host_header="backend.internal")],
                                   [svc("s", "ph", [rt("r", ["/"], preserve_host=True)])]))
    for _ in range(4):
        assert upstream_host_of(get(gw, host="Client.Example:8000")) == "Client.Example:8000"


def test_host_header_upstream_host_header_kong_semantics(gateway_factory, targets):
    a, b = targets(2)
    gw = gateway_factory(lb_config([upstream_cfg("hh", [a, b], host_header="backend.internal")],
                                   [svc("s", "hh", [rt("r", ["/"])])]))
    for _ in range(4):
        r = get(gw, host="client.example")
        assert upstream_host_of(r) == f"backend.internal:{r.json()['port']}"


def test_host_header_upstream_host_header_is_used(gateway_factory, targets):
    # The name part (port aside) is the upstream's host_header, on every target.
    a, b = targets(2)
    gw = gateway_factory(lb_config([upstream_cfg("hh", [a, b], host_header="backend.internal")],
                                   [svc("s", "hh", [rt("r", ["/"])])]))
    for _ in range(4):
        h = upstream_host_of(get(gw, host="client.example"))
        assert h.split(":")[0] == "backend.internal", h


def test_path_handling_v1_behaves_as_v0_under_traditional_compatible(gateway_factory, targets):
    t, = targets(1)
    gw = gateway_factory(simple_cfg(t, [rt("v1", ["/r"], strip_path=False, path_handling="v1")], path="/s"))
    assert get(gw, "/r/x").json()["path"] == "/s/r/x"


def test_path_joining_v0_through_the_proxy(gateway_factory, targets):
    t, = targets(1)
    gw = gateway_factory(simple_cfg(t, [rt("strip", ["/r"]), rt("keep", ["/k"], strip_path=False)], path="/s"))
    cases = {"/r": "/s", "/r/": "/s/", "/rx": "/s/x", "/r/x": "/s/x", "/r/x/": "/s/x/",
             "/k": "/s/k", "/k/x/": "/s/k/x/", "/r/x?q=1": "/s/x?q=1", "/r?": "/s?"}
    for req, expect in cases.items():
        assert get(gw, req).json()["path"] == expect, req


def test_postfix_dot_segments_are_sanitized(gateway_factory, targets):
    t, = targets(1)
    gw = gateway_factory(simple_cfg(t, [rt("strip", ["/r"])], path="/s"))
    assert get(gw, "/r..").json()["path"] == "/s"
    assert get(gw, "/r../x").json()["path"] == "/s/x"
