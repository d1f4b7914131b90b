"""Process lifecycle: SIGHUP reload (good, bad, under load), SIGTERM drain,
env vars, `wasmgate check` and `wasmgate version`."""

import os
import re
import signal
import socket
import subprocess
import threading
import time

from conftest import (
    HOST, ClientConn, Gateway, build_request, config, free_port, route, run_cli, service,
    slow_handler, wait_until,
)

PROBLEM_LINE = re.compile(r"^[A-Za-z_]+ '[^']*' field '[^']*': .+$")


# ---- SIGHUP ---------------------------------------------------------------------


def test_sighup_reload_applies_new_routes(gateway_factory, upstream_factory):
    u1 = upstream_factory()
    u2 = upstream_factory()
    gw = gateway_factory(config(service("one", u1, [route("a", ["/a"])])))
    assert gw.request("GET", "/a/x").status == 200
    assert gw.request("GET", "/b/x").status == 404
    gw.reload(config(service("two", u2, [route("b", ["/b"])])))
    assert gw.wait_stderr(r"config reloaded", 5), gw.stderr_text()
    assert wait_until(lambda: gw.request("GET", "/b/x").status == 200, 5)
    r = gw.request("GET", "/b/x")
    assert r.header("X-Upstream-Port") == str(u2.port)
    assert r.json()["path"] == "/x"
    assert gw.request("GET", "/a/x").status == 404
    assert "config reload failed" not in gw.stderr_text()


def test_sighup_reload_seen_by_existing_keepalive_connection(gateway_factory, upstream_factory):
    u1 = upstream_factory()
    u2 = upstream_factory()
    gw = gateway_factory(config(service("svc", u1, [route("r", ["/"])])))
    with gw.conn() as c:
        assert c.request("GET", "/k").header("X-Upstream-Port") == str(u1.port)
        gw.reload(config(service("svc", u2, [route("r", ["/"])])))
        assert gw.wait_stderr(r"config reloaded", 5)
        # requests that start after the reload use the new config, even on an old connection
        assert wait_until(lambda: c.request("GET", "/k").header("X-Upstream-Port") == str(u2.port), 3)


def test_sighup_bad_file_refused_old_config_keeps_serving(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/keep"])])))
    assert gw.request("GET", "/keep/1").status == 200
    bad = """_format_version: "3.0"
services:
  - name: broken
    url: http://127.0.0.1:1
    read_timeout: soon
    routes:
      - name: bad-route
        paths: ["/new"]
        frobnicate: 5
"""
    gw.reload(bad)
    assert gw.wait_stderr(r"config reload failed", 5), gw.stderr_text()
    err = gw.stderr_text()
    tail = err[err.index("config reload failed"):]
    assert "read_timeout" in tail
    assert "frobnicate" in tail
    assert "config reloaded" not in err
    # old routes still serve, new ones were not applied
    for i in range(5):
        r = gw.request("GET", f"/keep/{i}")
        assert r.status == 200 and r.json()["path"] == f"/{i}"
    assert gw.request("GET", "/new").status == 404
    assert gw.proc.poll() is None


def test_sighup_unparsable_file_refused(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/keep"])])))
    gw.reload("_format_version: \"3.0\"\nservices: [ {name: x, url: \n  : : :\n")
    assert gw.wait_stderr(r"config reload failed", 5), gw.stderr_text()
    assert gw.request("GET", "/keep/x").status == 200


def test_sighup_good_after_bad_reload(gateway_factory, upstream_factory):
    u1 = upstream_factory()
    u2 = upstream_factory()
    gw = gateway_factory(config(service("svc", u1, [route("r", ["/"])])))
    gw.reload("_format_version: \"0.1\"\n")
    assert gw.wait_stderr(r"config reload failed", 5)
    assert gw.request("GET", "/x").header("X-Upstream-Port") == str(u1.port)
    gw.reload(config(service("svc", u2, [route("r", ["/"])])))
    assert gw.wait_stderr(r"config reloaded", 5)
    assert wait_until(lambda: gw.request("GET", "/x").header("X-Upstream-Port") == str(u2.port), 3)


def test_reload_under_load_zero_failures(gateway_factory, upstream_factory):
    u = upstream_factory()

    def cfg(gen):
        routes = [route("load", ["/load"]), route(f"gen{gen}", [f"/gen{gen}"])]
        return config(service("svc", u, routes, read_timeout=10000 + gen))

    gw = gateway_factory(cfg(0))
    threads_n, per_thread = 4, 300
    done = [0] * threads_n
    failures = []
    lock = threading.Lock()

    def keepalive_worker(idx):
        c = None
        try:
            for i in range(per_thread):
                if c is None or c.eof:
                    c = gw.conn(timeout=10)
                try:
                    r = c.request("GET", f"/load/{idx}/{i}")
                    if r.status != 200 or r.json()["path"] != f"/{idx}/{i}":
                        raise AssertionError(f"bad response {r!r}")
                    if "close" in (r.header("Connection") or "").lower():
                        c.close()
                        c = None
                except Exception as e:  # noqa: BLE001
                    with lock:
                        failures.append(f"t{idx} req {i}: {e!r}")
                    if c is not None:
                        c.close()
                    c = None
                done[idx] += 1
        finally:
            if c is not None:
                c.close()

    def fresh_conn_worker(idx):
        for i in range(per_thread):
            try:
                r = gw.request("GET", f"/load/{idx}/{i}", timeout=10)
                if r.status != 200 or r.json()["path"] != f"/{idx}/{i}":
                    raise AssertionError(f"bad response {r!r}")
            except Exception as e:  # noqa: BLE001
                with lock:
                    failures.append(f"t{idx} req {i}: {e!r}")
            done[idx] += 1

    ts = [threading.Thread(target=keepalive_worker if i % 2 == 0 else fresh_conn_worker, args=(i,))
          for i in range(threads_n)]
    for t in ts:
        t.start()
    total = threads_n * per_thread
    progress_at_reload = []
    deadline = time.monotonic() + 90
    for gen, at in ((1, 0.1), (2, 0.4), (3, 0.7)):
        while sum(done) < total * at and time.monotonic() < deadline:
            time.sleep(0.005)
        progress_at_reload.append(sum(done))
        gw.reload(cfg(gen))
        assert gw.wait_stderr(r"config reloaded", 10, count=gen), gw.stderr_text()
    for t in ts:
        t.join(max(1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in ts), "load threads did not finish in time"
    assert failures == [], f"{len(failures)} failed requests, first: {failures[:5]}"
    assert sum(done) == total
    assert progress_at_reload[-1] < total, f"reloads must happen while the load is running: {progress_at_reload}"
    assert gw.request("GET", "/gen3").status == 200
    assert gw.request("GET", "/gen1").status == 404
    assert "config reload failed" not in gw.stderr_text()


# ---- SIGTERM / SIGINT -------------------------------------------------------------


def test_sigterm_drains_inflight_request_and_exits_0(gateway_factory, upstream_factory):
    u = upstream_factory(slow_handler(1.5))
    gw = gateway_factory(config(service("svc", u, [route("r", ["/"])])))
    out = {}

    def client():
        try:
            out["resp"] = gw.request("GET", "/inflight", timeout=15)
        except Exception as e:  # noqa: BLE001
            out["error"] = repr(e)

    t = threading.Thread(target=client)
    t.start()
    assert u.wait_requests(1, 5), "the request never reached the upstream"
    gw.send_signal(signal.SIGTERM)
    t.join(15)
    assert "error" not in out, out
    r = out["resp"]
    assert r.status == 200
    assert r.json()["path"] == "/inflight"
    rc = gw.proc.wait(10)
    assert rc == 0, gw.stderr_text()


def test_sigterm_drains_inflight_streaming_response(gateway_factory, upstream_factory):
    from conftest import trickle_handler, sha256

    u = upstream_factory(trickle_handler(pieces=10, piece_size=2000, interval=0.1))
    gw = gateway_factory(config(service("svc", u, [route("r", ["/"])])))
    with gw.conn(timeout=15) as c:
        c.send(build_request("GET", "/trickle"))
        head = c.read_head()
        assert head.status == 200
        gw.send_signal(signal.SIGTERM)
        c._read_body(head, "GET", allow_partial=True)
        assert head.complete
        assert sha256(head.body) == head.header("X-Body-Sha256")
    assert gw.proc.wait(10) == 0


def test_sigterm_stops_accepting_new_connections(gateway_factory, upstream_factory):
    u = upstream_factory(slow_handler(1.5))
    gw = gateway_factory(config(service("svc", u, [route("r", ["/"])])))
    t = threading.Thread(target=lambda: gw.request("GET", "/hold", timeout=15))
    t.start()
    assert u.wait_requests(1, 5)
    gw.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    served = False
    try:
        with ClientConn(gw.port, timeout=2) as c:
            c.send(build_request("GET", "/late"))
            try:
                r = c.read_response()
                served = r.status == 200
            except Exception:  # noqa: BLE001
                served = False
    except OSError:
        served = False
    t.join(15)
    assert not served, "a connection opened after SIGTERM must not be served"
    assert gw.proc.wait(10) == 0


def test_sigterm_with_idle_keepalive_connection_exits_promptly(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/"])])))
    with gw.conn() as c:
        assert c.request("GET", "/idle").status == 200
        t0 = time.monotonic()
        gw.send_signal(signal.SIGTERM)
        assert gw.proc.wait(10) == 0
        assert time.monotonic() - t0 < 3, "idle keep-alive connections must not hold the drain"
        assert c.wait_closed(2)


def test_sigterm_drain_timeout_bounds_shutdown(gateway_factory, upstream_factory):
    u = upstream_factory(slow_handler(8))
    gw = gateway_factory(config(service("svc", u, [route("r", ["/"])])), extra_args=["--drain-timeout", "500"])
    c = gw.conn(timeout=15)
    c.send(build_request("GET", "/forever"))
    assert u.wait_requests(1, 5)
    t0 = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    rc = gw.proc.wait(10)
    took = time.monotonic() - t0
    c.close()
    assert took < 3, f"drain took {took:.1f}s with --drain-timeout 500"
    assert rc == 0


def test_sigint_exits_0(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/"])])))
    assert gw.request("GET", "/").status == 200
    gw.send_signal(signal.SIGINT)
    assert gw.proc.wait(10) == 0


# ---- settings from flags and env ----------------------------------------------------


def test_ready_line_on_error_log(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/"])])))
    assert gw.wait_stderr(r"wasmgate \S+ ready on " + re.escape(f"{HOST}:{gw.port}") + r" \(\d+ workers\)", 3), gw.stderr_text()


def test_env_proxy_listen_is_honoured(wasmgate_bin, tmp_path, upstream):
    port = free_port()
    gw = Gateway(wasmgate_bin, tmp_path / "envgw", config(service("svc", upstream, [route("r", ["/"])])),
                 env={"WASMGATE_PROXY_LISTEN": f"{HOST}:{port}"}, listen_flag=False, port=port)
    try:
        gw.wait_ready()
        r = gw.request("GET", "/env")
        assert r.status == 200 and r.json()["path"] == "/env"
    finally:
        gw.stop()


def test_flag_wins_over_env(wasmgate_bin, tmp_path, upstream):
    env_port = free_port()
    gw = Gateway(wasmgate_bin, tmp_path / "flaggw", config(service("svc", upstream, [route("r", ["/"])])),
                 env={"WASMGATE_PROXY_LISTEN": f"{HOST}:{env_port}"})
    try:
        gw.wait_ready()
        assert gw.request("GET", "/flag").status == 200
        s = socket.socket()
        s.settimeout(1)
        try:
            refused = s.connect_ex((HOST, env_port)) != 0
        finally:
            s.close()
        assert refused, "the env var port must not be used when the flag is given"
    finally:
        gw.stop()


def test_env_settings_other_than_listen(wasmgate_bin, tmp_path, upstream):
    gw = Gateway(wasmgate_bin, tmp_path / "envgw2", config(service("svc", upstream, [route("r", ["/"])])),
                 env={"WASMGATE_MAX_HEADER_SIZE": "2048"})
    try:
        gw.wait_ready()
        assert gw.request("GET", "/small", headers=[("X-A", "a" * 500)]).status == 200
        r = gw.request("GET", "/big", headers=[("X-A", "a" * 4000)])
        assert r.status == 431
    finally:
        gw.stop()


def test_start_with_invalid_config_fails(wasmgate_bin, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text('_format_version: "3.0"\nservices:\n  - name: x\n    url: http://127.0.0.1:1\n    retries: lots\n')
    port = free_port()
    p = subprocess.run([str(wasmgate_bin), "start", "-c", str(cfg), "--proxy-listen", f"{HOST}:{port}",
                        "--admin-listen", "off", "--workers", "1", "--access-log", "off"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert re.search(r"'x' field 'retries': ", p.stderr + p.stdout), p.stderr


def test_demo_config_without_config_file(wasmgate_bin, tmp_path):
    # The contract fixes the demo upstream at 127.0.0.1:8002.
    s = socket.socket()
    in_use = s.connect_ex((HOST, 8002)) == 0
    s.close()
    assert not in_use, "port 8002 is busy; the demo test needs it"
    port = free_port()
    d = tmp_path / "demo"
    d.mkdir()
    with open(d / "err", "wb") as err:
        p = subprocess.Popen([str(wasmgate_bin), "start", "--proxy-listen", f"{HOST}:{port}", "--admin-listen",
                              "off", "--workers", "1", "--access-log", "off"], stdout=subprocess.DEVNULL,
                             stderr=err, env={**os.environ, "XDG_STATE_HOME": str(d)})  # its default store
        try:
            def ready():
                try:
                    socket.create_connection((HOST, port), 0.3).close()
                    return True
                except OSError:
                    return False
            assert wait_until(ready, 10)
            with ClientConn(port) as c:
                r = c.request("GET", "/demo")
                assert r.status == 200
                assert c.request("GET", "/not-demo").status == 404
        finally:
            p.kill()
            p.wait(5)


# ---- wasmgate check / version ------------------------------------------------------------


def _check(wasmgate_bin, tmp_path, text, name="cfg.yaml"):
    f = tmp_path / name
    f.write_text(text)
    p = run_cli(wasmgate_bin, "check", str(f))
    out = (p.stdout + p.stderr).strip()
    return p.returncode, out


def assert_summary(out, services, routes):
    # Exactly one line, starting with the documented counts (later counts may follow).
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert re.fullmatch(rf"ok: {services} services, {routes} routes(, [^,]+)*", lines[0]), out


GOOD = """_format_version: "3.0"
services:
  - name: users
    url: http://127.0.0.1:9001/v1
    retries: 3
    connect_timeout: 1000
    read_timeout: 2000
    write_timeout: 3000
    routes:
      - name: users-route
        paths: ["/users"]
        methods: ["GET", "POST"]
        strip_path: true
      - name: users-host
        hosts: ["users.example.com"]
        preserve_host: true
  - name: orders
    protocol: http
    host: 127.0.0.1
    port: 9002
    path: /orders
routes:
  - name: orders-route
    paths: ["/orders"]
    strip_path: false
    service:
      name: orders
upstreams: []
plugins: []
"""


def test_check_good_file(wasmgate_bin, tmp_path):
    rc, out = _check(wasmgate_bin, tmp_path, GOOD)
    assert rc == 0, out
    assert_summary(out, 2, 3)


def test_check_bad_fields_reports_each_problem(wasmgate_bin, tmp_path):
    text = """_format_version: "3.0"
services:
  - name: x
    url: http://127.0.0.1:9001
    read_timeout: soon
    routes:
      - name: y
        paths: ["/y"]
        strip_path: maybe
  - url: http://127.0.0.1:9002
    retries: 99999
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 1, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    for ln in lines:
        assert PROBLEM_LINE.match(ln), f"not a problem line: {ln!r}"
    assert any(re.match(r"^\w+ 'x' field 'read_timeout': .+", ln) for ln in lines), out
    assert any(re.match(r"^\w+ 'y' field 'strip_path': .+", ln) for ln in lines), out
    # an unnamed entity is labelled by its index
    assert any(re.match(r"^\w+ '1' field 'retries': .+", ln) for ln in lines), out


def test_check_unsupported_entity_with_entries_refused_by_name(wasmgate_bin, tmp_path):
    # An entity type Kong knows but the gateway does not serve: refused by name, never ignored.
    text = """_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9001
vaults:
  - name: env
    prefix: my-env-vault
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 1, out
    assert "vaults" in out
    assert all(PROBLEM_LINE.match(ln) for ln in out.splitlines() if ln.strip()), out


def test_check_unknown_top_level_key_refused(wasmgate_bin, tmp_path):
    text = """_format_version: "3.0"
services: []
gizmos:
  - name: g
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 1, out
    assert "gizmos" in out
    assert all(PROBLEM_LINE.match(ln) for ln in out.splitlines() if ln.strip()), out


def test_check_empty_unsupported_entity_lists_accepted(wasmgate_bin, tmp_path):
    text = """_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9001
    routes:
      - name: r
        paths: ["/"]
upstreams: []
consumers: []
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 0, out
    assert_summary(out, 1, 1)


def test_check_unsupported_route_field_refused(wasmgate_bin, tmp_path):
    # The expressions router flavour is not supported: the field is refused, not ignored.
    text = """_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9001
    routes:
      - name: r1
        expression: 'http.path == "/foo"'
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 1, out
    assert re.search(r"(?m)^\w+ 'r1' field 'expression': .+$", out), out


def test_check_unsupported_service_protocol_refused(wasmgate_bin, tmp_path):
    text = """_format_version: "3.0"
services:
  - name: g
    url: grpc://127.0.0.1:9001
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 1, out
    assert re.search(r"(?m)^\w+ 'g' field '(protocol|url)': .+$", out), out


def test_check_nondefault_unsupported_value_refused(wasmgate_bin, tmp_path):
    # use_srv_name is accepted only at its default (false); a value that would change behaviour is refused.
    text = """_format_version: "3.0"
upstreams:
  - name: t
    use_srv_name: true
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 1, out
    assert re.search(r"(?m)^\w+ 't' field 'use_srv_name': .+$", out), out


def test_check_unknown_field_refused(wasmgate_bin, tmp_path):
    text = """_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9001
    frobnicate: true
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 1, out
    assert re.search(r"(?m)^\w+ 's' field 'frobnicate': .+$", out), out


def test_check_route_to_missing_service_refused(wasmgate_bin, tmp_path):
    text = """_format_version: "3.0"
services: []
routes:
  - name: orphan
    paths: ["/o"]
    service:
      name: nowhere
"""
    rc, out = _check(wasmgate_bin, tmp_path, text)
    assert rc == 1, out
    assert re.search(r"(?m)^\w+ 'orphan' field 'service': .+$", out), out


def test_check_missing_format_version_refused(wasmgate_bin, tmp_path):
    rc, out = _check(wasmgate_bin, tmp_path, "services: []\n")
    assert rc == 1, out
    assert "_format_version" in out


def test_check_yaml_syntax_error(wasmgate_bin, tmp_path):
    rc, out = _check(wasmgate_bin, tmp_path, "_format_version: \"3.0\"\nservices: [ {name: x\n")
    assert rc == 1, out
    assert out.strip() != ""


def test_check_missing_file(wasmgate_bin, tmp_path):
    p = run_cli(wasmgate_bin, "check", str(tmp_path / "does-not-exist.yaml"))
    assert p.returncode == 1
    assert (p.stdout + p.stderr).strip() != ""


def test_check_json_file(wasmgate_bin, tmp_path):
    import json

    cfg = config(service("j", 9001, [route("jr", ["/j"])]))
    rc, out = _check(wasmgate_bin, tmp_path, json.dumps(cfg), name="cfg.json")
    assert rc == 0, out
    assert_summary(out, 1, 1)


def test_version(wasmgate_bin):
    p = run_cli(wasmgate_bin, "version")
    assert p.returncode == 0
    assert re.fullmatch(r"wasmgate \d+\.\d+\.\d+", p.stdout.strip()), p.stdout


def test_inflight_request_survives_reload_that_removes_its_route(gateway_factory, upstream_factory):
    slow = upstream_factory(slow_handler(1.0))
    other = upstream_factory()
    gw = gateway_factory(config(service("old", slow, [route("old-r", ["/old"])])))
    out = {}

    def client():
        try:
            out["resp"] = gw.request("GET", "/old/inflight", timeout=10)
        except Exception as e:  # noqa: BLE001
            out["error"] = repr(e)

    t = threading.Thread(target=client)
    t.start()
    assert slow.wait_requests(1, 5)
    gw.reload(config(service("new", other, [route("new-r", ["/new"])])))
    assert gw.wait_stderr(r"config reloaded", 5)
    t.join(10)
    assert "error" not in out, out
    assert out["resp"].status == 200
    assert out["resp"].json()["path"] == "/inflight"
    assert gw.request("GET", "/old/x").status == 404
    assert gw.request("GET", "/new/x").status == 200


def test_gateway_raises_its_own_descriptor_limit(wasmgate_bin, tmp_path, upstream):
    # Started with a soft limit of 64 descriptors (as a default shell gives
    # 1,024), the gateway takes the hard limit itself, as nginx's
    # worker_rlimit_nofile: 150 idle keep-alive clients all get served.
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 512:
        import pytest
        pytest.skip(f"hard descriptor limit {hard} too low to show anything")
    wrapper = tmp_path / "wasmgate-low-fds"
    wrapper.write_text(f"#!/bin/sh\nulimit -Sn 64\nexec {wasmgate_bin} \"$@\"\n")
    wrapper.chmod(0o755)
    gw = Gateway(wrapper, tmp_path / "gw", config(service("s", upstream, [route("r", ["/"])])), workers=1)
    try:
        gw.wait_ready()
        conns = []
        for i in range(150):
            c = gw.conn(timeout=5)
            c.send(f"GET /fd/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert c.read_response().status == 200, i
            conns.append(c)  # kept open: idle keep-alive connections
        assert gw.request("GET", "/after").status == 200
        for c in conns:
            c.close()
        assert "file descriptor limit raised from 64" in gw.stderr_text()
    finally:
        gw.stop()
