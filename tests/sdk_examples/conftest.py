"""The Proxy-Wasm SDKs' own examples through the real gateway (docs/sdk-examples.md).

The modules come from scripts/build-sdk-examples.sh (SDK checkouts named by
PROXY_WASM_GO_SDK, PROXY_WASM_RUST_SDK, PROXY_WASM_CPP_SDK, PROXY_WASM_AS_SDK);
an SDK whose variable is unset is skipped. Each test is one expectation the
example's authors wrote down (an e2e test, a README, the code's own intent),
restated in our words; the Envoy configuration of the example is mapped onto
Kong's services, routes and filter_chains by the test module.

The end of the run prints one line per example and expectation:
PASS, FAIL, XFAIL (a known difference from Envoy, named), SKIP (with reason).
"""
from __future__ import annotations

import collections
import importlib.util
import itertools
import json
import os
import pathlib
import re

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]

# The integration suite's helpers (Gateway, Upstream, ClientConn, ...), loaded
# under their own module name so that this folder's conftest keeps its own.
_spec = importlib.util.spec_from_file_location("integration_helpers", REPO / "tests/integration/conftest.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

HOST = helpers.HOST
free_port = helpers.free_port
wait_until = helpers.wait_until

SDK_ENV = {
    "go": "PROXY_WASM_GO_SDK",
    "rust": "PROXY_WASM_RUST_SDK",
    "cpp": "PROXY_WASM_CPP_SDK",
    "as": "PROXY_WASM_AS_SDK",
}

MODULES_DIR = pathlib.Path(os.environ.get("WASMGATE_SDK_EXAMPLES_DIR") or REPO / "build" / "sdk-examples")

# A known difference from Envoy: an expectation that fails because of it is a
# strict expected failure naming it (once fixed, the XPASS says which mark to
# remove). Issue 16's five differences are fixed; none is marked today.


def known_difference(reason):
    return pytest.mark.xfail(reason=reason, strict=True)


def not_applicable(reason):
    """An expectation that depends on an Envoy-only notion (or L4): skipped, with why."""
    return pytest.mark.skip(reason=f"N/A: {reason}")


def filters_dir(sdk: str, example: str) -> pathlib.Path:
    """The example's module folder, or a skip (SDK not named) / failure (not built)."""
    env = SDK_ENV[sdk]
    if not os.environ.get(env):
        pytest.skip(f"{env} is not set (no {sdk} SDK checkout)")
    d = MODULES_DIR / sdk / example
    if not any(d.glob("*.wasm")):
        pytest.fail(f"{sdk}/{example} is not built in {d}: run scripts/build-sdk-examples.sh")
    return d


class Example:
    """One example running in a gateway: its upstreams, its log, its requests."""

    def __init__(self, gateway, upstreams, admin_port=None):
        self.gw = gateway
        self.upstreams = upstreams
        self.admin_port = admin_port

    @property
    def port(self):
        return self.gw.port

    def log(self) -> str:
        return self.gw.stderr_text()

    def filter_lines(self) -> list[str]:
        """The messages filters logged (`[wasm] filter NAME: message`), without the prefix."""
        return re.findall(r"\[wasm\] filter [^:]*: (.*)", self.log())

    def wait_log(self, *texts, timeout=10.0) -> bool:
        """True once every text appears in the error log."""
        return bool(wait_until(lambda: all(t in self.log() for t in texts), timeout, 0.05))

    def request(self, method="GET", path="/", headers=None, body=b"", host="example.test", **kw):
        return self.gw.request(method, path, headers, body, host, **kw)

    def admin_get(self, path):
        with helpers.ClientConn(self.admin_port) as c:
            return c.request("GET", path, host=f"{HOST}:{self.admin_port}")


@pytest.fixture(scope="session")
def wasmgate_bin():
    path = pathlib.Path(os.environ.get("WASMGATE_BIN") or REPO / "build" / "wasmgate")
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"wasmgate binary not found at {path} (build it with `make build` or set WASMGATE_BIN)")
    return path


@pytest.fixture(scope="module")
def run_example(wasmgate_bin, tmp_path_factory):
    """run_example(sdk, example, build_config, upstreams=..., admin=False, workers=1):
    starts the example's upstreams (name -> handler), then a gateway on the
    config build_config(port, upstreams) returns (port: the gateway's own, for
    configs that loop back to it). One worker, as the Go SDK's e2e runs Envoy
    with --concurrency 1; log level debug, so trace/debug filter logs show."""
    made = []
    cache = MODULES_DIR / ".wasm-cache"

    def start(sdk, example, build_config, upstreams=None, admin=False, workers=1, extra=(), filters=None):
        """filters: {filter name: (module file name, NAME.meta.json dict or None)};
        by default every module of the example under its own name."""
        built = filters_dir(sdk, example)
        fdir = tmp_path_factory.mktemp(f"{sdk}-{example}-filters")
        for name, (module, meta) in (filters or {p.stem: (p.name, None) for p in built.glob("*.wasm")}).items():
            (fdir / f"{name}.wasm").symlink_to(built / module)
            if meta is not None:
                (fdir / f"{name}.meta.json").write_text(json.dumps(meta))
        cache.mkdir(parents=True, exist_ok=True)
        ups = {name: helpers.Upstream(handler, name=name) for name, handler in (upstreams or {}).items()}
        port = free_port()
        admin_port = free_port() if admin else None
        args = ["--filters-dir", str(fdir), "--wasm-cache-dir", str(cache), "--log-level", "debug", *extra]
        if admin:
            args += ["--admin-listen", f"{HOST}:{admin_port}"]
        gw = helpers.Gateway(wasmgate_bin, tmp_path_factory.mktemp(f"{sdk}-{example}"),
                             build_config(port, ups), args, port=port, workers=workers)
        ex = Example(gw, ups, admin_port)
        made.append(ex)
        gw.wait_ready(timeout=60)
        return ex

    yield start
    for ex in made:
        ex.gw.stop()
        for u in ex.upstreams.values():
            u.close()


# --------------------------------------------------------------------------
# config shapes
# --------------------------------------------------------------------------


_chain_names = itertools.count(1)


def chain(*filters):
    """A filter chain of (filter name, config text) pairs (chain names are unique in a config)."""
    return [{"name": f"chain-{next(_chain_names)}", "filters": [{"name": n, "config": c} for n, c in filters]}]


def one_route(upstream, *filters, service_name="web_service", **route_kw):
    """Envoy's usual example shape: every path to one cluster, the filters on it."""
    svc = {"name": service_name, "url": f"http://{HOST}:{upstream.port}",
           "routes": [{"name": "main", "paths": ["/"], "strip_path": False, **route_kw}]}
    if filters:
        svc["routes"][0]["filter_chains"] = chain(*filters)
    return {"_format_version": "3.0", "services": [svc]}


def fixed(body=b"example body\n", status=200, headers=(("content-type", "text/plain"),)):
    """Envoy's direct_response listeners of the examples: a fixed answer."""
    return helpers.fixed_handler(status, list(headers), body)


# --------------------------------------------------------------------------
# the summary: one line per example and expectation
# --------------------------------------------------------------------------

_results: list[tuple[str, str, str]] = []


def pytest_configure(config):
    config.addinivalue_line("markers", "example(name): the SDK example a test checks (for the summary)")


def _label(item) -> str:
    doc = (item.function.__doc__ or "").strip().splitlines()
    what = doc[0] if doc else item.name
    if hasattr(item, "callspec"):
        what += f" [{item.callspec.id}]"
    sdk = item.module.__name__.removeprefix("test_").removesuffix("_sdk")
    mark = item.get_closest_marker("example")
    return f"{sdk}/{mark.args[0]}: {what}" if mark else f"{sdk}: {what}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" or (rep.when == "setup" and not rep.passed):
        if rep.skipped and hasattr(rep, "wasxfail"):
            verdict, why = "XFAIL", rep.wasxfail
        elif rep.skipped:
            verdict = "SKIP"
            why = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            why = why.removeprefix("Skipped: ")
        elif rep.passed and hasattr(rep, "wasxfail"):
            verdict, why = "XPASS", f"fixed? remove the mark: {rep.wasxfail}"
        elif rep.passed:
            verdict, why = "PASS", ""
        else:
            verdict, why = "FAIL", str(rep.longrepr).strip().splitlines()[-1][:200] if rep.longrepr else ""
        _results.append((verdict, _label(item), why))


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    tr = terminalreporter
    tr.section("Proxy-Wasm SDK examples")
    for sdk, env in SDK_ENV.items():
        state = os.environ.get(env)
        tr.write_line(f"{sdk:>4} SDK: " + (f"{env}={state}" if state else f"SKIPPED ({env} is not set)"))
    for verdict, label, why in _results:
        tr.write_line(f"{verdict:<5} {label}" + (f"  [{why}]" if why else ""))
    counts = collections.Counter(v for v, _, _ in _results)
    tr.write_line(", ".join(f"{counts[v]} {v}" for v in ("PASS", "FAIL", "XFAIL", "XPASS", "SKIP") if counts[v]))
