"""Where wasmgate follows Envoy for Proxy-Wasm filters (issue 16), through the real gateway
with the C conformance filter (filters/CONFORMANCE.md: plugin, header-names, reroute,
vm-starts) and the AssemblyScript one: the plugin's root id and VM configuration,
lower-case header names, re-routing after a filter moved the request, and start-ups that
neither a config check nor a reload of an unchanged config repeat.
"""
import json
import pathlib
import re
import shutil

import pytest

from conftest import config, route, run_cli, service, wait_until


@pytest.fixture(scope="session")
def build_filters(wasmgate_bin):
    return pathlib.Path(wasmgate_bin).parent / "filters"


def chain(*entries, name="c"):
    return [{"name": name, "filters": list(entries)}]


def conf(config_text="A", **extra):
    return {"name": "conf_c", "config": config_text, **extra}


def get(gw, test, headers=(), path="/", host="test.local"):
    with gw.conn() as c:
        return c.request("GET", path, headers=[("x-test", test), *headers], host=host)


def start(gateway_factory, wasm_cache, filters_dir, cfg, workers=1, extra=()):
    args = ["--filters-dir", str(filters_dir), "--wasm-cache-dir", str(wasm_cache), *extra]
    return gateway_factory(cfg, extra_args=args, workers=workers)


def one_route_config(upstream, *entries):
    return config(service("s", upstream, [route("r", ["/"], strip_path=False, filter_chains=chain(*entries))]))


@pytest.fixture
def meta_filters(tmp_path, build_filters):
    """make(name, meta, source="conf_c") -> a filters dir holding NAME.wasm (a copy of a built
    filter) with NAME.meta.json when meta is not None."""
    d = tmp_path / "filters"
    d.mkdir()

    def make(name, meta, source="conf_c"):
        shutil.copy(build_filters / f"{source}.wasm", d / f"{name}.wasm")
        if meta is not None:
            (d / f"{name}.meta.json").write_text(json.dumps(meta))
        return d
    return make


# ---- plugin_root_id, plugin_vm_id and the VM configuration

def test_root_id_is_empty_unless_configured(gateway_factory, wasm_cache, build_filters, upstream):
    gw = start(gateway_factory, wasm_cache, build_filters, one_route_config(upstream, conf()))
    resp = get(gw, "plugin")
    assert resp.status == 200
    assert resp.header("x-root-id") == "[]"
    assert resp.header("x-vm-id") == "[]"
    assert resp.header("x-vm-config") == "none"
    assert resp.header("x-vm-config-size") == "0"


def test_root_id_and_vm_config_from_meta_json(gateway_factory, wasm_cache, meta_filters, upstream):
    vm_config = {"limit": 3}
    d = meta_filters("envoyish", {"root_id": "my_root", "vm_config": vm_config})
    gw = start(gateway_factory, wasm_cache, d, one_route_config(upstream, {"name": "envoyish", "config": "A"}))
    resp = get(gw, "plugin")
    assert resp.status == 200
    assert resp.header("x-root-id") == "[my_root]"
    # A JSON value is handed over as JSON text; on_vm_start got its size.
    text = json.dumps(vm_config, separators=(",", ":"))
    assert resp.header("x-vm-config") == text
    assert resp.header("x-vm-config-size") == str(len(text))


def test_root_id_on_the_chain_entry_wins(gateway_factory, wasm_cache, meta_filters, upstream):
    d = meta_filters("envoyish", {"root_id": "from_meta", "vm_config": "plain text"})
    cfg = config(service("s", upstream, [
        route("a", ["/a"], strip_path=False, filter_chains=chain({"name": "envoyish", "config": "A",
                                                                  "root_id": "from_entry"})),
        route("b", ["/b"], strip_path=False, filter_chains=chain({"name": "envoyish", "config": "A"}, name="c2")),
    ]))
    gw = start(gateway_factory, wasm_cache, d, cfg)
    resp = get(gw, "plugin", path="/a")
    assert resp.status == 200
    assert resp.header("x-root-id") == "[from_entry]"
    assert resp.header("x-vm-config") == "plain text"
    assert get(gw, "plugin", path="/b").header("x-root-id") == "[from_meta]"


def test_meta_json_root_id_must_be_a_string(wasmgate_bin, wasm_cache, meta_filters, tmp_path):
    d = meta_filters("envoyish", {"root_id": 7})
    cfg = tmp_path / "kong.json"
    cfg.write_text(json.dumps({"_format_version": "3.0"}))
    res = run_cli(wasmgate_bin, "check", str(cfg), "--filters-dir", str(d), "--wasm-cache-dir", str(wasm_cache))
    assert res.returncode == 1
    assert "envoyish.meta.json root_id: expected a string" in res.stdout + res.stderr


def test_assemblyscript_filter_registered_under_a_name(wasmgate_bin, gateway_factory, wasm_cache, meta_filters,
                                                       build_filters, upstream, tmp_path):
    """@solo-io/proxy-runtime looks its root context up by plugin_root_id: conf_as registers
    under "conf_as", so it needs that root_id (its conf_as.meta.json, or the chain entry's)."""
    assert json.loads((build_filters / "conf_as.meta.json").read_text()) == {"root_id": "conf_as"}
    gw = start(gateway_factory, wasm_cache, build_filters,
               one_route_config(upstream, {"name": "conf_as", "config": "A"}))
    resp = get(gw, "none")
    assert resp.status == 200
    assert upstream.requests[-1].header("x-chain") == "A"
    assert resp.header("x-chain-resp") == "A"

    # Without the root_id the runtime finds no root context and aborts: refused.
    bare = meta_filters("as_bare", None, source="conf_as")
    cfg = tmp_path / "kong.json"
    entry = {"name": "as_bare", "config": "A"}
    cfg.write_text(json.dumps(one_route_config(upstream, entry)))
    res = run_cli(wasmgate_bin, "check", str(cfg), "--filters-dir", str(bare), "--wasm-cache-dir", str(wasm_cache))
    assert res.returncode == 1
    assert "filter 'as_bare' refused its configuration" in res.stdout + res.stderr
    # ... and the chain entry's root_id is enough.
    entry["root_id"] = "conf_as"
    cfg.write_text(json.dumps(one_route_config(upstream, entry)))
    res = run_cli(wasmgate_bin, "check", str(cfg), "--filters-dir", str(bare), "--wasm-cache-dir", str(wasm_cache))
    assert res.returncode == 0, res.stdout + res.stderr


# ---- header names

def test_filters_get_lower_case_names_and_the_wire_keeps_the_clients(gateway_factory, wasm_cache, build_filters,
                                                                     upstream):
    gw = start(gateway_factory, wasm_cache, build_filters, one_route_config(upstream, conf()))
    resp = get(gw, "header-names", headers=[("This-Is-Key", "v1"), ("X-Read-Me", "hello")])
    assert resp.status == 200
    seen = upstream.requests[-1]
    names = seen.header("x-header-names").split(",")
    assert "this-is-key" in names and "x-read-me" in names and "x-test" in names
    assert [n for n in names if n != n.lower()] == []
    assert ":authority" in names and ":path" in names
    assert seen.header("x-lookup") == "hello"  # looked up as X-READ-ME
    # Headers no filter changed keep the client's spelling upstream.
    assert ("This-Is-Key", "v1") in seen.headers
    assert ("X-Read-Me", "hello") in seen.headers


# ---- re-routing

@pytest.fixture
def reroute_gateway(gateway_factory, wasm_cache, build_filters, upstream_factory):
    primary, canary = upstream_factory(name="primary"), upstream_factory(name="canary")
    filters = chain(conf("A"))
    cfg = config(
        service("primary", primary, [route("main", ["/"], hosts=["primary.local"], strip_path=False,
                                           filter_chains=filters)]),
        service("canary", canary, [
            route("by-host", ["/"], hosts=["canary.local"], strip_path=False),
            route("by-path", ["/v2"], hosts=["primary.local"], strip_path=True),
            route("by-header", ["/"], hosts=["primary.local"], headers={"x-route": ["canary"]}, strip_path=False),
        ]))
    gw = start(gateway_factory, wasm_cache, build_filters, cfg)
    gw.primary, gw.canary = primary, canary
    return gw


def test_a_filter_that_does_not_move_the_request_keeps_its_route(reroute_gateway):
    gw = reroute_gateway
    resp = get(gw, "reroute", host="primary.local", path="/x")
    assert resp.status == 200
    assert len(gw.primary.requests) == 1 and len(gw.canary.requests) == 0


def test_changing_authority_reroutes(reroute_gateway):
    gw = reroute_gateway
    for _ in range(3):
        resp = get(gw, "reroute", host="primary.local", path="/x", headers=[("x-reroute-authority", "canary.local")])
        assert resp.status == 200
    assert len(gw.primary.requests) == 0
    assert len(gw.canary.requests) == 3
    seen = gw.canary.requests[-1]
    assert seen.path == "/x"
    assert seen.header("host") == "canary.local"
    # The filters that ran are not run again, and the response still passes them.
    assert seen.headers_all("x-chain") == ["A"]
    assert resp.headers_all("x-chain-resp") == ["A"]


def test_changing_path_reroutes_with_the_new_routes_path_rules(reroute_gateway):
    gw = reroute_gateway
    resp = get(gw, "reroute", host="primary.local", path="/x", headers=[("x-reroute-path", "/v2/thing?q=1")])
    assert resp.status == 200
    assert len(gw.primary.requests) == 0
    assert gw.canary.requests[-1].path == "/thing?q=1"  # by-path strips /v2


def test_clear_route_cache_reroutes_on_headers(reroute_gateway):
    gw = reroute_gateway
    resp = get(gw, "reroute", host="primary.local", path="/x", headers=[("x-reroute-header", "canary")])
    assert resp.status == 200
    assert len(gw.primary.requests) == 0
    seen = gw.canary.requests[-1]
    assert seen.header("x-clear-status") == "0"
    assert seen.header("x-route") == "canary"


def test_rerouting_to_no_route_answers_404(reroute_gateway):
    gw = reroute_gateway
    resp = get(gw, "reroute", host="primary.local", path="/x", headers=[("x-reroute-authority", "nowhere.local")])
    assert resp.status == 404
    assert resp.json() == {"message": "no Route matched with those values"}
    assert len(gw.primary.requests) == 0 and len(gw.canary.requests) == 0


# ---- start-ups: checks and reloads

def vm_starts(gw):
    resp = get(gw, "vm-starts")
    assert resp.status == 200
    return int(resp.header("x-vm-starts"))


def counter(gw):
    resp = get(gw, "shared")
    assert resp.status == 200
    return int(resp.header("x-counter"))


def test_start_ups_and_shared_data_across_reloads(gateway_factory, wasm_cache, build_filters, upstream):
    cfg = one_route_config(upstream, conf("A"))
    gw = start(gateway_factory, wasm_cache, build_filters, cfg, workers=2, extra=["--log-level", "info"])
    # One start-up per worker VM: the check of the config ran against scratch shared data.
    assert vm_starts(gw) == 2
    assert gw.wait_stderr(r"\[wasm\] filter conf_c: conformance vm start", count=2)
    first = counter(gw)
    assert counter(gw) == first + 1

    # An unchanged config: the VMs and their state stay, nothing starts again.
    gw.reload(cfg)
    assert gw.wait_stderr("config reloaded", 5)
    assert counter(gw) == first + 2
    assert counter(gw) == first + 3
    assert vm_starts(gw) == 2

    # A changed filter config: one new root per worker VM (their VM stays), and
    # the check of it touched nothing live.
    changed = one_route_config(upstream, conf("B"))
    gw.reload(changed)
    assert gw.wait_stderr("config reloaded", 5, count=2)
    assert wait_until(lambda: get(gw, "none").header("x-chain-resp") == "B", 5)
    assert wait_until(lambda: vm_starts(gw) == 4, 5), vm_starts(gw)
    assert counter(gw) == first + 4
    starts = re.findall(r"\[wasm\] filter conf_c: conformance vm start", gw.stderr_text())
    assert len(starts) == 4
    assert "(check)" not in gw.stderr_text()
