"""Kong-style Lua plugins (tests/integration/lua_plugins/NAME/handler.lua and
schema.lua, loaded unchanged from --lua-plugins-dir) through the real
gateway, beside native plugins and Wasm filters on the same route."""
import json
import pathlib

import pytest

from conftest import config, route, run_cli, service

LUA_DIR = pathlib.Path(__file__).resolve().parent / "lua_plugins"


def plugin(name, conf=None):
    d = {"name": name}
    if conf is not None:
        d["config"] = conf
    return d


@pytest.fixture
def filters_dir(wasmgate_bin):
    d = pathlib.Path(wasmgate_bin).parent / "filters"
    assert (d / "demo.wasm").exists(), f"demo filter not built in {d}"
    return d


@pytest.fixture
def lua_gateway(gateway_factory, filters_dir, wasm_cache):
    def make(cfg, extra=(), **kw):
        args = ["--lua-plugins-dir", str(LUA_DIR), "--filters-dir", str(filters_dir),
                "--wasm-cache-dir", str(wasm_cache), *extra]
        return gateway_factory(cfg, extra_args=args, **kw)
    return make


def one_route(upstream, plugins, **route_kw):
    return config(service("s", upstream, [route("r", ["/"], strip_path=False, plugins=plugins, **route_kw)]))


def test_headers_in_access_and_header_filter(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("header-tweaks", {"value": "v1"})]))
    resp = gw.request("GET", "/some/path?q=42&x=1", headers=[("X-Who", "alice"), ("X-Drop-Me", "1")])
    assert resp.status == 200
    seen = upstream.requests[-1]
    assert seen.header("x-lua-access") == "v1:alice"
    assert seen.header("x-drop-me") is None
    assert seen.header("x-lua-path") == "/some/path"
    assert seen.header("x-lua-query") == "42"
    assert seen.header("x-lua-method") == "GET"
    assert seen.header("x-lua-route") == "r"
    # kong.ctx.shared and kong.ctx.plugin carried from access to header_filter
    assert resp.header("x-lua-header-filter") == "alice/plugin-ctx"
    assert resp.header("x-upstream-status") == "200"
    assert resp.header("x-saw-content-type") == "application/json"


def test_body_filter_transforms_the_body(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("body-upper", {"prefix": ">"})]))
    resp = gw.request("GET", "/hello")
    assert resp.status == 200
    assert resp.body.startswith(b">{")
    assert b'"/HELLO"' in resp.body
    assert resp.body[1:] == resp.body[1:].upper()


def test_exit_in_access_stops_later_handlers_and_filters(lua_gateway, upstream):
    # gatekeeper (Lua, PRIORITY 1200) > header-tweaks (Lua, 950) > response-transformer
    # (native, 800) > request-termination's absence; then the Wasm demo filter chain.
    plugins = [
        plugin("gatekeeper", {"status": 451, "message": "no way"}),
        plugin("response-transformer", {"add": {"headers": ["x-native:ran"]}}),
        plugin("header-tweaks", {"value": "v"}),
    ]
    chain = {"name": "c", "filters": [{"name": "demo", "config": "lua-test"}]}
    gw = lua_gateway(one_route(upstream, plugins, filter_chains=[chain]))
    with gw.conn() as c:
        ok = c.request("GET", "/pass")
        assert ok.status == 200
        # every later handler ran on an allowed request, in order
        seen = upstream.requests[-1]
        assert seen.header("x-gatekeeper") == "passed"
        assert seen.header("x-lua-access") == "v:nobody"
        assert seen.header("x-wasm-filter") == "lua-test"
        assert ok.header("x-native") == "ran"
        assert ok.header("x-wasm-filter") == "lua-test"
        n = len(upstream.requests)
        blocked = c.request("GET", "/blocked", headers=[("X-Block", "exit")])
        assert blocked.status == 451
        assert json.loads(blocked.body) == {"message": "no way"}
        assert blocked.header("x-blocked-by") == "gatekeeper"
        assert blocked.header("content-type") == "application/json; charset=utf-8"
        # nothing after the exit ran: no upstream request, no Wasm filter header
        assert blocked.header("x-wasm-filter") is None
        # as in Kong, the plugins' header_filter runs on the answer (header-tweaks'
        # access did not), the native response-transformer's too
        assert blocked.header("x-lua-header-filter") == "unseen/unset"
        assert blocked.header("x-native") == "ran"
        err = c.request("GET", "/err", headers=[("X-Block", "error"), ("Accept", "application/json")])
        assert err.status == 403
        assert json.loads(err.body)["message"] == "Forbidden"
    assert len(upstream.requests) == n


def test_pre_and_post_function(lua_gateway, upstream):
    plugins = [
        plugin("pre-function", {"access": [
            "kong.service.request.set_header('x-pre', 'one')",
            # a chunk returning a function: the function runs per request, keeping its upvalue
            "local n = 0 return function() n = n + 1 kong.service.request.set_header('x-count', n) end",
        ], "header_filter": ["kong.response.set_header('x-pre-hf', kong.response.get_status())"]}),
        plugin("post-function", {"access": [
            "if kong.request.get_query_arg('deny') then return kong.response.exit(418, 'teapot') end"]}),
    ]
    gw = lua_gateway(one_route(upstream, plugins), workers=1)
    with gw.conn() as c:
        r1 = c.request("GET", "/a")
        r2 = c.request("GET", "/b")
        assert r1.status == r2.status == 200
        assert upstream.requests[-2].header("x-pre") == "one"
        assert [upstream.requests[-2].header("x-count"), upstream.requests[-1].header("x-count")] == ["1", "2"]
        assert r2.header("x-pre-hf") == "200"
        denied = c.request("GET", "/c?deny=1")
        assert denied.status == 418
        assert denied.body == b"teapot"


def test_lua_error_fails_only_its_request(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("faulty")]))
    with gw.conn() as c:
        bad = c.request("GET", "/x", headers=[("X-Fault", "error")])
        assert bad.status == 500
        assert json.loads(bad.body) == {"message": "An unexpected error occurred"}
    assert gw.wait_stderr(r"plugin faulty failed this request: .*faulty plugin exploded: on purpose")
    assert "stack traceback" in gw.stderr_text()
    assert "handler.lua" in gw.stderr_text()
    ok = gw.request("GET", "/fine")
    assert ok.status == 200
    assert gw.wait_stderr(r"\[lua\] faulty: faulty let /fine through")


def test_endless_loop_is_cut_and_the_worker_goes_on(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("faulty")]), extra=["--lua-budget", "5"], workers=1)
    with gw.conn(timeout=30) as c:
        looped = c.request("GET", "/x", headers=[("X-Fault", "loop")])
        assert looped.status == 500
    assert gw.wait_stderr(r"plugin faulty failed this request: .*instruction budget exceeded")
    assert gw.request("GET", "/after").status == 200


def test_memory_cap_fails_the_request_not_the_worker(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("faulty")]), extra=["--lua-memory", "32"], workers=1)
    hog = gw.request("GET", "/x", headers=[("X-Fault", "hog")], timeout=30)
    assert hog.status == 500
    assert gw.wait_stderr(r"plugin faulty failed this request: .*not enough memory")
    assert gw.request("GET", "/after").status == 200


def check(wasmgate_bin, tmp_path, cfg, *extra):
    path = tmp_path / "kong.json"
    path.write_text(json.dumps(cfg))
    return run_cli(wasmgate_bin, "check", str(path), "--lua-plugins-dir", str(LUA_DIR), *extra, timeout=60)


def rich(upstream, conf):
    return one_route(upstream, [plugin("rich-schema", conf)])


@pytest.mark.parametrize("conf,lines", [
    ({"key": "k", "mode": "medium"}, ["field 'config.mode': expected one of: soft, hard"]),
    ({"key": "k", "limit": 0}, ["field 'config.limit': value should be between 1 and 100"]),
    ({"key": "k", "pairs": 3}, ["field 'config.pairs': must be an even number, got 3"]),
    ({"key": "k", "names": ["x"]}, ["field 'config.names': length must be at least 2"]),
    ({"key": "k", "tags": ["A"]}, ["field 'config.tags': invalid value: A"]),
    ({"key": "k", "target": {}}, ["field 'config.target.host': required field missing"]),
    ({"key": "k", "header": "bad header"},
     ["field 'config.header': bad header name 'bad header', allowed characters are A-Z, a-z, 0-9, '_', and '-'"]),
    ({"key": "k", "secret": "s"}, ["exactly one of these fields must be non-empty: 'key', 'secret'"]),
    ({}, ["at least one of these fields must be non-empty: 'key', 'secret'"]),
    ({"key": "k", "mode": "hard"}, ["failed conditional validation given value of field 'mode'",
                                    "field 'config.reason': required field missing"]),
    ({"key": "k", "nope": 1}, ["field 'config.nope': unknown field"]),
])
def test_rich_schema_refuses_bad_configs(wasmgate_bin, tmp_path, upstream, conf, lines):
    res = check(wasmgate_bin, tmp_path, rich(upstream, conf))
    assert res.returncode == 1, res.stdout
    for line in lines:
        assert line in res.stdout, res.stdout
    assert "plugin 'rich-schema'" in res.stdout


def test_rich_schema_defaults_reach_the_handler(lua_gateway, upstream):
    gw = lua_gateway(rich(upstream, {"key": "k", "target": {"host": "example.com"}}))
    assert gw.request("GET", "/").status == 200
    got = json.loads(upstream.requests[-1].header("x-rich-config"))
    assert got["mode"] == "soft" and got["limit"] == 10 and got["names"] == ["a"]
    assert got["strict"] is False and got["target"] == {"host": "example.com", "port": 80}
    assert json.loads(upstream.requests[-1].header("x-rich-json")) == {"mode": "soft"}


def test_bad_config_refused_at_start(wasmgate_bin, tmp_path, upstream, gateway_factory, filters_dir, wasm_cache):
    with pytest.raises(RuntimeError) as e:
        gateway_factory(rich(upstream, {"key": "k", "limit": 500}),
                        extra_args=["--lua-plugins-dir", str(LUA_DIR)])
    assert "value should be between 1 and 100" in str(e.value)


def test_no_consumer_plugin_refuses_a_consumer_scope(wasmgate_bin, tmp_path, upstream):
    cfg = one_route(upstream, [])
    cfg["consumers"] = [{"username": "u", "plugins": [plugin("gatekeeper")]}]
    res = check(wasmgate_bin, tmp_path, cfg)
    assert res.returncode == 1
    assert "gatekeeper" in res.stdout


def test_unknown_plugin_without_the_directory(wasmgate_bin, tmp_path, upstream):
    path = tmp_path / "kong.json"
    path.write_text(json.dumps(one_route(upstream, [plugin("gatekeeper")])))
    res = run_cli(wasmgate_bin, "check", str(path), timeout=60)
    assert res.returncode == 1
    assert "gatekeeper" in res.stdout


def test_init_worker_error_refuses_the_config(wasmgate_bin, tmp_path, upstream):
    d = tmp_path / "plugins" / "broken-init"
    d.mkdir(parents=True)
    (d / "handler.lua").write_text(
        "local H = { PRIORITY = 1, VERSION = '1' }\n"
        "function H:init_worker() error('cannot start') end\n"
        "return H\n")
    (d / "schema.lua").write_text("return { name = 'broken-init', fields = { { config = { type = 'record', fields = {} } } } }\n")
    path = tmp_path / "kong.json"
    path.write_text(json.dumps(one_route(upstream, [plugin("broken-init")])))
    res = run_cli(wasmgate_bin, "check", str(path), "--lua-plugins-dir", str(tmp_path / "plugins"), timeout=60)
    assert res.returncode == 1
    assert "plugin 'broken-init'" in res.stdout and "init_worker failed" in res.stdout
    assert "cannot start" in res.stdout


def test_reload_loads_new_handler_code(gateway_factory, tmp_path, upstream):
    d = tmp_path / "plugins" / "versioned"
    d.mkdir(parents=True)
    src = "local H = { PRIORITY = 1, VERSION = '1' }\nfunction H:access() kong.service.request.set_header('x-version', '%s') end\nreturn H\n"
    (d / "handler.lua").write_text(src % "one")
    (d / "schema.lua").write_text("return { name = 'versioned', fields = { { config = { type = 'record', fields = {} } } } }\n")
    cfg = one_route(upstream, [plugin("versioned")])
    gw = gateway_factory(cfg, extra_args=["--lua-plugins-dir", str(tmp_path / "plugins")], workers=1)
    assert gw.request("GET", "/").status == 200
    assert upstream.requests[-1].header("x-version") == "one"
    (d / "handler.lua").write_text(src % "two")
    gw.reload(cfg)
    assert gw.wait_stderr("config reloaded")
    assert gw.request("GET", "/").status == 200
    assert upstream.requests[-1].header("x-version") == "two"


def test_ngx_sleep_pauses_only_its_request(lua_gateway, upstream):
    import concurrent.futures
    import time
    plugins = [plugin("sleeper"), plugin("header-tweaks", {"value": "after"})]
    gw = lua_gateway(one_route(upstream, plugins), workers=1)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        t0 = time.monotonic()
        slow = pool.submit(gw.request, "GET", "/slow", headers=[("X-Sleep-Ms", "600")])
        time.sleep(0.1)
        fast = gw.request("GET", "/fast")
        fast_done = time.monotonic() - t0
        assert fast.status == 200
        # the one worker served the fast request while the slow one slept
        assert fast_done < 0.5
        assert not slow.done()
        slept = slow.result()
    assert slept.status == 200
    seen = [r for r in upstream.requests if r.target == "/slow"][-1]
    assert int(seen.header("x-slept-ms")) >= 550
    # the handlers after the sleeping one ran once it woke
    assert seen.header("x-lua-access") == "after:nobody"


def test_exit_and_error_after_ngx_sleep(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("sleeper", {"times": 1})]), workers=1)
    done = gw.request("GET", "/x", headers=[("X-Sleep-Ms", "50"), ("X-After-Sleep", "exit")])
    assert done.status == 202
    assert done.body == b"woke and answered"
    failed = gw.request("GET", "/y", headers=[("X-Sleep-Ms", "50"), ("X-After-Sleep", "error")])
    assert failed.status == 500
    assert json.loads(failed.body) == {"message": "An unexpected error occurred"}
    assert gw.wait_stderr(r"plugin sleeper failed this request: .*failed after sleeping")
    assert gw.request("GET", "/z").status == 200
    assert all(r.target not in ("/x", "/y") for r in upstream.requests)


def test_shared_dict_counts_across_workers(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("counter")]), extra=["--lua-shared-dict", "counts:1m"], workers=2)
    n = 40
    for i in range(n):  # a connection each: the kernel spreads them over both workers
        assert gw.request("GET", f"/r{i}").status == 200
    counts = sorted(int(r.header("x-count")) for r in upstream.requests)
    # one counter for every worker: each request got its own number
    assert counts == list(range(1, n + 1))
    # ... while each worker's own count stayed below: both workers served
    assert max(int(r.header("x-served-here")) for r in upstream.requests) < n
    assert upstream.requests[0].header("x-first") == "/r0:mine"
    assert all(r.header("x-first") == "/r0" for r in upstream.requests[1:])


def test_undeclared_shared_dict_is_nil(lua_gateway, upstream):
    gw = lua_gateway(one_route(upstream, [plugin("counter", {"dict": "nope"})]))
    resp = gw.request("GET", "/")
    assert resp.status == 500
    assert json.loads(resp.body) == {"message": "no shared dict nope"}


def test_bad_shared_dict_flag_refuses_to_start(wasmgate_bin, tmp_path, upstream):
    path = tmp_path / "kong.json"
    path.write_text(json.dumps(one_route(upstream, [])))
    res = run_cli(wasmgate_bin, "start", "-c", str(path), "--lua-shared-dict", "counts", "--admin-listen", "off",
                  "--proxy-listen", "127.0.0.1:1", timeout=30)
    assert res.returncode != 0
    assert "invalid shared dictionary 'counts'" in res.stdout + res.stderr
