"""A filter that can only add headers (its module imports no function that
reads a head: bench_c, and a counting filter written here in WAT) gets no
copy of the heads (pipeline::Chain::only_adds): the session writes the
parsed head and then the filter's additions. What the client, the upstream
and the filter see must be what they see when another filter of the chain
reads the heads (the demo filter: then the maps are filled as always).
"""
import pathlib
import shutil

import pytest

from conftest import config, route, service

# Adds `x-req-count` / `x-resp-count`: the header count its headers
# callbacks were given, as two digits.
COUNT_WAT = r"""
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "x-req-count")
  (data (i32.const 16) "x-resp-count")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)
  (func (export "proxy_on_context_create") (param i32 i32))
  (func $put (param $map i32) (param $name i32) (param $len i32) (param $n i32)
    (i32.store8 (i32.const 64) (i32.add (i32.const 48) (i32.div_u (local.get $n) (i32.const 10))))
    (i32.store8 (i32.const 65) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
    (drop (call $add (local.get $map) (local.get $name) (local.get $len) (i32.const 64) (i32.const 2))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $put (i32.const 0) (i32.const 0) (i32.const 11) (local.get 1))
    i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $put (i32.const 2) (i32.const 16) (i32.const 12) (local.get 1))
    i32.const 0))
"""


@pytest.fixture
def filters(tmp_path, wasmgate_bin):
    built = pathlib.Path(wasmgate_bin).parent / "filters"
    d = tmp_path / "filters"
    d.mkdir()
    for name in ("bench_c", "demo"):
        shutil.copy(built / f"{name}.wasm", d / f"{name}.wasm")
    (d / "count.wasm").write_text(COUNT_WAT)  # the engine takes WAT text too
    return d


def gateway(gateway_factory, wasm_cache, filters, upstream, *names, **route_kw):
    chain = {"name": "c", "filters": [{"name": n, "config": "cfg"} for n in names]}
    r_ = route("r", ["/"], strip_path=False, filter_chains=[chain], **route_kw)
    args = ["--filters-dir", str(filters), "--wasm-cache-dir", str(wasm_cache)]
    return gateway_factory(config(service("s", upstream, [r_])), extra_args=args)


def names(headers):
    return [k.lower() for k, _ in headers]


def test_additions_follow_the_heads_own_lines(gateway_factory, wasm_cache, filters, upstream):
    gw = gateway(gateway_factory, wasm_cache, filters, upstream, "bench_c")
    with gw.conn() as c:
        resp = c.request("GET", "/x", headers=[("X-First", "1"), ("X-Forwarded-For", "10.0.0.9"),
                                               ("Connection", "keep-alive, x-hop"), ("X-Hop", "gone")])
        assert resp.status == 200
        assert resp.headers_all("x-chain-resp") == ["A"]
        # the response: the upstream's lines, then the addition, then the gateway's
        got = names(resp.headers)
        assert got.index("x-chain-resp") > got.index("content-length")
        assert got.index("x-chain-resp") < got.index("x-kong-upstream-latency")
        assert c.request("GET", "/y").headers_all("x-chain-resp") == ["A"]  # keep-alive: the next one too
    seen = upstream.requests[-2]
    assert seen.headers_all("x-chain") == ["A"]
    sent = names(seen.headers)
    assert sent.index("x-first") < sent.index("x-chain")
    assert seen.header("x-hop") is None
    assert seen.header("x-forwarded-for") == "10.0.0.9, 127.0.0.1"
    assert len(seen.headers_all("via")) == 1


@pytest.mark.parametrize("path", ["/plain", "/many"])
def test_a_filter_that_only_adds_is_told_the_heads_count(gateway_factory, wasm_cache, filters, upstream, path):
    extra = [("X-A", "1"), ("X-B", "2"), ("Connection", "keep-alive")] if path == "/many" else []
    adds = gateway(gateway_factory, wasm_cache, filters, upstream, "count")
    with adds.conn() as c:
        alone = c.request("GET", path, headers=extra)
    alone_up = upstream.requests[-1]
    # With the demo filter after it, the chain reads the heads: the maps are
    # filled as always, and the count it is told must be the same.
    reads = gateway(gateway_factory, wasm_cache, filters, upstream, "count", "demo")
    with reads.conn() as c:
        filled = c.request("GET", path, headers=extra)
    filled_up = upstream.requests[-1]
    assert alone.status == filled.status == 200
    assert filled.header("x-wasm-filter") == "cfg"  # the demo filter did run
    assert alone_up.header("x-req-count") == filled_up.header("x-req-count")
    assert alone.header("x-resp-count") == filled.header("x-resp-count")
    # four pseudo-headers, the client's own (Host is :authority, Connection hop-by-hop)
    assert int(alone_up.header("x-req-count")) >= 4 + (2 if extra else 0)
    assert int(alone.header("x-resp-count")) >= 2  # :status and the upstream's own

