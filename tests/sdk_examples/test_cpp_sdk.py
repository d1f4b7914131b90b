"""The C++ SDK's example/ (PROXY_WASM_CPP_SDK), built with clang++-19 and
wasi-libc instead of Emscripten (scripts/build-sdk-examples.sh). The folder
has no README: the expectations are what each example's code sets out to do.

Both examples register their contexts under the empty root id, Envoy's
default: the filters are given `"root_id": ""` in NAME.meta.json, which is
what Envoy's plugin config without a root_id means.
"""
import re

import pytest

from conftest import fixed, not_applicable, one_route, wait_until

example = pytest.mark.example
EMPTY_ROOT_ID = {"root_id": ""}


@pytest.fixture(scope="module")
def http_wasm_example(run_example):
    name = "cpp_http_wasm_example"
    ex = run_example("cpp", "http_wasm_example", lambda port, ups: one_route(ups["up"], (name, "")),
                     upstreams={"up": fixed(b"0123456789abcdefXYZ\n",
                                            headers=[("content-type", "application/json")])},
                     filters={name: (f"{name}.wasm", EMPTY_ROOT_ID)})
    ex.response = ex.request("POST", "/example", body=b"request-body-text")
    return ex


@example("http_wasm_example")
def test_http_wasm_example_loads_and_proxies(http_wasm_example):
    """the filter loads and requests reach the upstream"""
    assert http_wasm_example.response.status == 200, http_wasm_example.response


@example("http_wasm_example")
def test_http_wasm_example_adds_response_header(http_wasm_example):
    """the response carries X-Wasm-custom: FOO and content-type text/plain; charset=utf-8"""
    r = http_wasm_example.response
    assert r.header("x-wasm-custom") == "FOO", r
    assert r.header("content-type") == "text/plain; charset=utf-8", r


@example("http_wasm_example")
def test_http_wasm_example_rewrites_body(http_wasm_example):
    """the response body's first 12 bytes become Hello, world"""
    assert http_wasm_example.response.body == b"Hello, worldcdefXYZ\n", http_wasm_example.response


@example("http_wasm_example")
def test_http_wasm_example_logs_request(http_wasm_example):
    """logs onCreate N, the request headers (:path -> /example), onRequestBody request-body-text, onDone/onLog/onDelete"""
    ex = http_wasm_example
    assert ex.wait_log(":path -> /example", "onRequestBody request-body-text", timeout=3), ex.filter_lines()
    for what in ("onCreate", "onDone", "onLog", "onDelete"):
        assert wait_until(lambda: re.search(rf"{what} \d+", ex.log()), 3), (what, ex.filter_lines())


@example("http_wasm_example")
def test_http_wasm_example_root_context(http_wasm_example):
    """its root context logs onStart and onConfigure, then onTick every second"""
    assert http_wasm_example.wait_log("onStart", "onConfigure", "onTick", timeout=3), http_wasm_example.filter_lines()


@example("http_proto_example")
def test_http_proto_example_without_protobuf(run_example):
    """built without protobuf (PROTOBUF=none), its root context logs onStart without protobuf"""
    name = "cpp_http_proto_example"
    ex = run_example("cpp", "http_proto_example", lambda port, ups: one_route(ups["up"], (name, "")),
                     upstreams={"up": fixed()}, filters={name: (f"{name}.wasm", EMPTY_ROOT_ID)})
    assert ex.request().status == 200
    assert ex.wait_log("onStart without protobuf", timeout=3), ex.filter_lines()


@example("http_re_example")
@not_applicable("needs RE2 built for wasm32 (the SDK's WASM_DEPS=re2 under Emscripten); Debian has no wasm32 RE2")
def test_http_re_example():
    """rewrites /foo-X/ paths to /X/"""
