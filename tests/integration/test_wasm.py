"""Proxy-Wasm filters through the real gateway: the C demo filter built from
filters/c/demo.c with our sdk/ (clang-19, wasm32-wasi) during the build.

The filter adds `x-wasm-filter: <config>` to requests and responses, removes
`x-remove-me`, answers */wasm/deny with 403, and traps, loops or exhausts
memory on */wasm/trap, */wasm/loop and */wasm/hog.
"""
import concurrent.futures
import os
import pathlib
import time

import pytest

from conftest import config, route, run_cli, service


@pytest.fixture
def filters_dir(wasmgate_bin):
    d = pathlib.Path(wasmgate_bin).parent / "filters"
    assert (d / "demo.wasm").exists(), f"demo filter not built in {d}"
    return d


def chain(name, *filters):
    return {"name": name, "filters": [{"name": n, "config": c} for n, c in filters]}


@pytest.fixture
def wasm_gateway(gateway_factory, upstream, filters_dir, wasm_cache):
    def make(cfg, **kw):
        args = ["--filters-dir", str(filters_dir), "--wasm-cache-dir", str(wasm_cache)]
        return gateway_factory(cfg, extra_args=args, **kw)
    return make


def test_filter_edits_request_and_response_headers(wasm_gateway, upstream):
    r_ = route("r", ["/"], strip_path=False, filter_chains=[chain("c", ("demo", "cfg-1"))])
    gw = wasm_gateway(config(service("s", upstream, [r_])))
    with gw.conn() as c:
        resp = c.request("GET", "/x", headers=[("X-Remove-Me", "1"), ("X-Keep", "2")])
    assert resp.status == 200
    assert resp.header("x-wasm-filter") == "cfg-1"
    seen = upstream.requests[-1]
    assert seen.header("x-wasm-filter") == "cfg-1"
    assert seen.header("x-remove-me") is None
    assert seen.header("x-keep") == "2"


def test_filter_local_response(wasm_gateway, upstream):
    r_ = route("r", ["/"], filter_chains=[chain("c", ("demo", "on"))])
    gw = wasm_gateway(config(service("s", upstream, [r_])))
    with gw.conn() as c:
        resp = c.request("GET", "/wasm/deny")
        assert resp.status == 403
        assert resp.body == b"denied by wasm"
        # the connection stays usable
        assert c.request("GET", "/ok").status == 200
    assert all("/wasm/deny" not in r.target for r in upstream.requests)


def test_service_chain_runs_before_route_chain(wasm_gateway, upstream):
    svc = service("s", upstream, [route("r", ["/"], filter_chains=[chain("rc", ("demo", "route"))])],
                  filter_chains=[chain("sc", ("demo", "service"))])
    gw = wasm_gateway(config(svc))
    with gw.conn() as c:
        resp = c.request("GET", "/order")
    assert resp.status == 200
    # add_header on the request: both, in chain order (service first)
    assert upstream.requests[-1].headers_all("x-wasm-filter") == ["service", "route"]
    # replace_header on the response: the last filter (the route's) wins
    assert resp.header("x-wasm-filter") == "route"


@pytest.mark.parametrize("path", ["/wasm/trap", "/wasm/loop", "/wasm/hog"])
def test_bad_filter_fails_only_its_own_request(wasm_gateway, upstream, path):
    r_ = route("r", ["/"], filter_chains=[chain("c", ("demo", "on"))])
    gw = wasm_gateway(config(service("s", upstream, [r_])), workers=2)

    def good(i):
        with gw.conn() as c:
            return c.request("GET", f"/fine/{i}").status

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        goods = [pool.submit(good, i) for i in range(40)]
        started = time.monotonic()
        with gw.conn() as c:
            bad = c.request("GET", path)
        elapsed = time.monotonic() - started
        assert [g.result() for g in goods] == [200] * 40
    assert bad.status == 500
    assert elapsed < 5, f"{path} took {elapsed:.1f}s"
    assert "filter demo failed this request" in gw.stderr_text()
    # The instance is replaced: the filter keeps working afterwards.
    for i in range(4):
        with gw.conn() as c:
            r = c.request("GET", f"/after/{i}")
            assert r.status == 200 and r.header("x-wasm-filter") == "on"
    assert gw.proc.poll() is None


def check_chain(wasmgate_bin, tmp_path, filters_dir, upstream, filters):
    """`wasmgate check` on a config whose only route has one chain."""
    import json
    r_ = route("r", ["/"], filter_chains=[chain("guard", *filters)])
    path = tmp_path / "kong.json"
    path.write_text(json.dumps(config(service("s", upstream, [r_]))))
    return run_cli(wasmgate_bin, "check", str(path), "--filters-dir", str(filters_dir), timeout=300)


def test_rejected_configuration_refuses_the_config(wasmgate_bin, tmp_path, filters_dir, upstream):
    res = check_chain(wasmgate_bin, tmp_path, filters_dir, upstream, [("demo", "reject")])
    assert res.returncode == 1
    assert "filter_chain 'guard' field 'filters': filter 'demo' refused its configuration" in res.stdout


def test_unknown_filter_is_refused_by_name(wasmgate_bin, tmp_path, filters_dir, upstream):
    res = check_chain(wasmgate_bin, tmp_path, filters_dir, upstream, [("nope", "")])
    assert res.returncode == 1
    assert "filter_chain 'guard' field 'filters': no such filter: 'nope'" in res.stdout


def test_reload_with_rejected_filter_config_keeps_serving(wasm_gateway, upstream):
    good = config(service("s", upstream, [route("r", ["/"], filter_chains=[chain("c", ("demo", "v1"))])]))
    bad = config(service("s", upstream, [route("r", ["/"], filter_chains=[chain("c", ("demo", "reject"))])]))
    gw = wasm_gateway(good)
    gw.reload(bad)
    assert gw.wait_stderr("config reload failed", 5)
    with gw.conn() as c:
        assert c.request("GET", "/still").header("x-wasm-filter") == "v1"


def test_top_level_filter_chain_on_a_service(wasm_gateway, upstream):
    cfg = config(service("s", upstream, [route("r", ["/"])]))
    cfg["filter_chains"] = [{"name": "top", "service": {"name": "s"},
                             "filters": [{"name": "demo", "config": "top"}]}]
    gw = wasm_gateway(cfg)
    with gw.conn() as c:
        assert c.request("GET", "/t").header("x-wasm-filter") == "top"


def test_demo_config_runs_through_the_demo_filter(wasmgate_bin, tmp_path, wasm_cache):
    # `make run`: no --config, the embedded demo (route /demo, demo filter,
    # built-in upstream on 127.0.0.1:8002).
    import socket
    import subprocess
    from conftest import ClientConn, free_port
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 8002))
    except OSError:
        pytest.skip("127.0.0.1:8002 is taken on this machine")
    finally:
        probe.close()
    port = free_port()
    proc = subprocess.Popen([str(wasmgate_bin), "start", "--proxy-listen", f"127.0.0.1:{port}", "--admin-listen",
                             "off", "--workers", "1", "--access-log", "off", "--wasm-cache-dir", str(wasm_cache)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})  # its default store
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with ClientConn(port) as c:
            resp = c.request("GET", "/demo/hello")
        assert resp.status == 200
        assert resp.header("x-wasm-filter") == "hello from the demo wasm filter"
        assert b"hello from the wasmgate demo upstream" in resp.body
    finally:
        proc.kill()
        proc.wait()


SCHEMA = {"config_schema": {
    "type": "object",
    "properties": {"header": {"type": "string", "minLength": 1}, "count": {"type": "integer", "minimum": 1}},
    "required": ["header"],
    "additionalProperties": False,
}}


@pytest.fixture
def schema_filters(filters_dir, tmp_path):
    """A filters dir with `guarded` (the demo module) and its NAME.meta.json."""
    import json
    import shutil
    d = tmp_path / "filters"
    d.mkdir()
    shutil.copy(filters_dir / "demo.wasm", d / "guarded.wasm")
    (d / "guarded.meta.json").write_text(json.dumps(SCHEMA))
    return d


@pytest.mark.parametrize("cfg,reason", [
    ({"count": 2}, "config: missing required property 'header'"),
    ({"header": "x", "count": 0}, "config.count: "),
    ({"header": "x", "extra": 1}, "extra"),
    ("not json", "expects a JSON configuration"),
])
def test_meta_json_schema_refuses_bad_configs(wasmgate_bin, tmp_path, schema_filters, upstream, cfg, reason):
    res = check_chain(wasmgate_bin, tmp_path, schema_filters, upstream, [("guarded", cfg)])
    assert res.returncode == 1, res.stdout
    assert "filter_chain 'guard' field 'filters': filter 'guarded'" in res.stdout
    assert reason in res.stdout


def test_meta_json_schema_accepts_a_good_config(upstream, schema_filters, gateway_factory, wasm_cache):
    r_ = route("r", ["/"], filter_chains=[chain("c", ("guarded", {"header": "v", "count": 3}))])
    gw = gateway_factory(config(service("s", upstream, [r_])),
                         extra_args=["--filters-dir", str(schema_filters), "--wasm-cache-dir", str(wasm_cache)])
    with gw.conn() as c:
        resp = c.request("GET", "/x")
    assert resp.status == 200
    # the structure reaches on_configure as JSON text
    assert resp.header("x-wasm-filter") == '{"header":"v","count":3}'
