"""The AssemblyScript SDK's examples (@solo-io/proxy-runtime, PROXY_WASM_AS_SDK):
what each example's README (and its Envoy config) says a request gets.

These examples register their root contexts under a name
(`registerRootContext(..., "add_header")`) and Envoy's config names it as
root_id. Each filter here is named as that root id and also carries it in
NAME.meta.json (`root_id`), so it dispatches the same with or without
configurable root ids (docs/sdk-examples.md).
"""
import pytest

from conftest import fixed, one_route, wait_until

example = pytest.mark.example


def module(ex_dir, root_id):
    """A filter named by its root id, from the example's module."""
    return {root_id: (f"as_{ex_dir.replace('-', '_')}.wasm", {"root_id": root_id})}


# --------------------------------------------------------------------------
# addheader (the README's Hello, World): adds hello: <configuration>, or
# hello: world! without one.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def addheader(run_example):
    def cfg(port, ups):
        c = one_route(ups["up"], ("add_header", ""))
        c["services"][0]["routes"].append({"name": "configured", "paths": ["/configured"],
                                           "filter_chains": [{"name": "c2", "filters": [
                                               {"name": "add_header", "config": "what ever you want"}]}]})
        return c
    return run_example("as", "addheader", cfg, upstreams={"up": fixed()}, filters=module("addheader", "add_header"))


@example("addheader")
def test_addheader_default(addheader):
    """without configuration the response carries hello: world!"""
    r = addheader.request("GET", "/")
    assert r.status == 200 and r.header("hello") == "world!", r


@example("addheader")
def test_addheader_configured(addheader):
    """with a configuration the response carries hello: <configuration>"""
    r = addheader.request("GET", "/configured")
    assert r.status == 200 and r.header("hello") == "what ever you want", r


# --------------------------------------------------------------------------
# auth: the request's headers are sent to the cluster the configuration
# names (auth_service: 200 on /get, 401 elsewhere); a 200 lets the request
# through with added-header: authorized, anything else is answered 401.
# --------------------------------------------------------------------------


def auth_service(conn, req):
    if req.target.startswith("/get"):
        conn.send_response(200, [("content-type", "text/plain")], b"ok!\n")
    else:
        conn.send_response(401, [("content-type", "text/plain")], b"not authorized!\n")
    return True


@pytest.fixture(scope="module")
def auth(run_example):
    def cfg(port, ups):
        c = one_route(ups["upstream"], ("auth", "auth_service"), service_name="upstream")
        c["services"].append({"name": "auth_service", "url": f"http://127.0.0.1:{ups['auth_service'].port}"})
        return c
    return run_example("as", "auth", cfg, upstreams={"upstream": fixed(b"hello world!\n"), "auth_service": auth_service},
                       filters=module("auth", "auth"))


@example("auth")
def test_auth_allows(auth):
    """/get is allowed: the upstream answers 200, sees added-header: authorized; the response has hello: wasm!"""
    r = auth.request("GET", "/get")
    assert (r.status, r.body) == (200, b"hello world!\n"), r
    assert r.header("hello") == "wasm!", r
    assert auth.upstreams["upstream"].requests[-1].header("added-header") == "authorized"


@example("auth")
def test_auth_refuses(auth):
    """/ is refused: 401"""
    before = len(auth.upstreams["upstream"].requests)
    r = auth.request("GET", "/")
    assert r.status == 401, r
    assert len(auth.upstreams["upstream"].requests) == before


# --------------------------------------------------------------------------
# remove-headers: response headers whose name starts with one of the
# configured comma-separated prefixes are removed (the README's blog post:
# hiding what an upstream leaks).
# --------------------------------------------------------------------------


def leaky(names):
    return fixed(headers=[(n, "leak") for n in names] + [("content-type", "text/plain")])


@pytest.fixture(scope="module")
def remove_headers(run_example):
    def cfg(port, ups):
        c = one_route(ups["lower"], ("remove_headers", "x-envoy,server"))
        c["services"].append({"name": "capitalised", "url": f"http://127.0.0.1:{ups['capital'].port}",
                              "routes": [{"name": "cap", "paths": ["/capitalised"], "filter_chains": [
                                  {"name": "c2", "filters": [{"name": "remove_headers", "config": "x-envoy,server"}]}]}]})
        return c
    return run_example("as", "remove-headers", cfg,
                       upstreams={"lower": leaky(["x-envoy-upstream-service-time", "server", "x-kept"]),
                                  "capital": leaky(["X-Envoy-Upstream-Service-Time", "Server", "X-Kept"])},
                       filters=module("remove-headers", "remove_headers"))


@example("remove-headers")
def test_remove_headers_by_prefix(remove_headers):
    """x-envoy-* and server are removed from the response, x-kept stays"""
    r = remove_headers.request("GET", "/")
    assert r.status == 200, r
    assert r.header("x-envoy-upstream-service-time") is None and r.header("x-kept") == "leak", r
    assert r.header("server") != "leak", r


@example("remove-headers")
def test_remove_headers_capitalised_upstream(remove_headers):
    """the same when the upstream spells them X-Envoy-Upstream-Service-Time, Server (Envoy hands names lower-case)"""
    r = remove_headers.request("GET", "/capitalised")
    assert r.status == 200, r
    assert r.header("x-envoy-upstream-service-time") is None and r.header("x-kept") == "leak", r


# --------------------------------------------------------------------------
# singleton: the auth_singleton root (Envoy: a wasm service) fetches a token
# from auth_service every second into shared data; the auth root on the
# listener reads it every second; requests whose x-auth is the token pass.
# Kong has no wasm services: auth_singleton is the chain of a route nobody
# calls (a config starts every filter at load, ticks included).
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def singleton(run_example):
    def cfg(port, ups):
        c = one_route(ups["upstream"], ("auth", ""), service_name="upstream")
        c["services"].append({"name": "auth_service", "url": f"http://127.0.0.1:{ups['auth_service'].port}",
                              "routes": [{"name": "singleton-service", "paths": ["/singleton-service"],
                                          "filter_chains": [{"name": "s", "filters": [
                                              {"name": "auth_singleton", "config": "auth_service"}]}]}]})
        return c
    return run_example("as", "singleton", cfg,
                       upstreams={"upstream": fixed(b"hello world!\n"), "auth_service": fixed(b"foo")},
                       filters={**module("singleton", "auth"), **module("singleton", "auth_singleton")})


@example("singleton")
def test_singleton_token_allows(singleton):
    """once the singleton fetched the token, x-auth: foo is let through: 200"""
    assert wait_until(lambda: singleton.request("GET", "/", headers=[("x-auth", "foo")]).status == 200, 8), \
        singleton.filter_lines()


@example("singleton")
def test_singleton_no_token_refused(singleton):
    """a request without x-auth: 401"""
    assert singleton.request("GET", "/").status == 401
