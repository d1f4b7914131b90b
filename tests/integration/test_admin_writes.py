"""Kong's Admin API with a database (--database sqlite:PATH), against the
running gateway: POST/PUT/PATCH/DELETE per entity family, top-level and
nested, JSON and form bodies, each error class in Kong's shape, Kong's
cascade rules, pagination over 2,500 entities created through the API,
persistence across a restart and a kill -9 mid-burst, coalesced rebuilds
with every write live on the proxy within a second, and the admin token."""

import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import HOST, config, free_port, wait_until


def call(admin, method, path, body=None, form=None, headers=None, token=None):
    headers = dict(headers or {})
    data = None
    if form is not None:
        data = (form if isinstance(form, str) else urllib.parse.urlencode(form)).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    if token:
        headers["Kong-Admin-Token"] = token
    req = urllib.request.Request(f"http://{HOST}:{admin}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def start(gateway_factory, db, cfg=None, token=None, admin=None, extra=()):
    admin = admin or free_port()
    args = ["--admin-listen", f"{HOST}:{admin}", "--database", f"sqlite:{db}", *extra]
    args += ["--admin-token", token] if token else []
    return gateway_factory(cfg or config(), extra_args=args), admin


def live(gw, path, status=200, timeout=1.0, headers=None):
    """Whether `path` answers `status` on the proxy within `timeout` s."""
    return wait_until(lambda: gw.request("GET", path, headers=headers).status == status, timeout, 0.01)


def up_url(upstream):
    return f"http://{HOST}:{upstream.port}"


def test_services_and_routes_crud_live_on_the_proxy(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    status, root = call(admin, "GET", "/")
    assert status == 200 and root["configuration"]["database"] == "sqlite"
    status, svc = call(admin, "POST", "/services", {"name": "orders", "url": up_url(upstream)})
    assert status == 201, svc
    assert svc["host"] == HOST and svc["port"] == upstream.port and svc["protocol"] == "http"
    assert svc["retries"] == 5 and svc["connect_timeout"] == 60000 and len(svc["id"]) == 36
    assert isinstance(svc["created_at"], int)
    assert call(admin, "GET", "/services/orders") == (200, svc)
    assert call(admin, "GET", f"/services/{svc['id']}") == (200, svc)

    status, rt = call(admin, "POST", "/services/orders/routes", {"name": "orders-api", "paths": ["/orders"]})
    assert status == 201 and rt["service"] == {"id": svc["id"]} and rt["strip_path"] is True, rt
    assert live(gw, "/orders"), "a created route answers on the proxy within 1 s"

    status, rt2 = call(admin, "PATCH", "/routes/orders-api", {"paths": ["/v2/orders"]})
    assert status == 200 and rt2["id"] == rt["id"] and rt2["paths"] == ["/v2/orders"] and rt2["name"] == "orders-api"
    assert live(gw, "/v2/orders") and live(gw, "/orders", 404)

    # PUT by endpoint key: creates, then replaces in place with the same id.
    status, billing = call(admin, "PUT", "/services/billing", {"url": up_url(upstream) + "/b"})
    assert status == 200 and billing["name"] == "billing" and billing["path"] == "/b"
    status, again = call(admin, "PUT", "/services/billing", {"url": up_url(upstream) + "/c"})
    assert status == 200 and again["id"] == billing["id"] and again["path"] == "/c"
    assert [s["name"] for s in call(admin, "GET", "/services")[1]["data"]] == ["orders", "billing"]
    # PUT by id, nested under its service.
    status, put_rt = call(admin, "PUT", "/services/billing/routes/11111111-1111-4111-8111-111111111111",
                          {"name": "billing-api", "paths": ["/billing"]})
    assert status == 200 and put_rt["service"] == {"id": billing["id"]}
    assert put_rt["id"] == "11111111-1111-4111-8111-111111111111"
    assert live(gw, "/billing")

    # Kong refuses to delete a service its routes still reference.
    status, err = call(admin, "DELETE", "/services/orders")
    assert status == 400 and err == {
        "code": 4, "name": "foreign key violation", "fields": {"@referenced_by": "routes"},
        "message": "an existing 'routes' entity references this 'services' entity"}
    assert call(admin, "DELETE", "/services/billing/routes/orders-api")[0] == 404  # not under that service
    assert call(admin, "DELETE", "/routes/orders-api") == (204, None)
    assert call(admin, "DELETE", "/routes/orders-api") == (204, None)  # already gone: Kong says 204 too
    assert call(admin, "DELETE", "/services/orders") == (204, None)
    assert call(admin, "GET", "/services/orders")[0] == 404
    assert live(gw, "/v2/orders", 404)


def test_form_bodies_with_kongs_nested_syntax(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    status, svc = call(admin, "POST", "/services", form={"name": "f", "url": up_url(upstream), "retries": "2"})
    assert status == 201 and svc["retries"] == 2, svc
    status, rt = call(admin, "POST", "/services/f/routes",
                      form="name=fr&paths[]=/fa&paths[]=/fb&strip_path=false&methods=GET")
    assert status == 201, rt
    assert rt["paths"] == ["/fa", "/fb"] and rt["strip_path"] is False and rt["methods"] == ["GET"]
    status, rt = call(admin, "PATCH", "/routes/fr", form="paths[1]=/x&paths[2]=/y")
    assert status == 200 and rt["paths"] == ["/x", "/y"], rt
    status, plugin = call(admin, "POST", "/services/f/plugins",
                          form="name=rate-limiting&config.minute=2&config[policy]=local")
    assert status == 201, plugin
    assert plugin["config"]["minute"] == 2 and plugin["config"]["policy"] == "local"
    assert plugin["service"] == {"id": svc["id"]}
    assert live(gw, "/x")
    statuses = [gw.request("GET", "/x").status for _ in range(4)]
    assert 429 in statuses, statuses
    # multipart/form-data parts are form fields too (curl -F).
    parts = b"".join(b"--XyZ\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % kv
                     for kv in ((b"name", b"mp"), (b"paths[]", b"/mp"), (b"strip_path", b"false")))
    status, mp = call(admin, "POST", "/services/f/routes", parts + b"--XyZ--\r\n",
                      headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert status == 201 and mp["paths"] == ["/mp"] and mp["strip_path"] is False, mp
    # PATCH merges a plugin's config field by field.
    status, plugin = call(admin, "PATCH", f"/plugins/{plugin['id']}", {"config": {"minute": 100}})
    assert status == 200 and plugin["config"]["minute"] == 100 and plugin["config"]["policy"] == "local"


def test_errors_in_kongs_shape(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    assert call(admin, "POST", "/services", {"name": "a", "url": up_url(upstream)})[0] == 201
    # 400 schema violation
    status, err = call(admin, "POST", "/services", {"name": "b", "host": "h", "port": "abc"})
    assert status == 400 and err["code"] == 2 and err["name"] == "schema violation"
    assert err["fields"] == {"port": "expected an integer"} and err["message"] == "schema violation (port: expected an integer)"
    status, err = call(admin, "POST", "/services", {"name": "b"})
    assert status == 400 and err["code"] == 2 and "host" in err["fields"], err
    status, err = call(admin, "POST", "/plugins", {"name": "no-such-plugin"})
    assert status == 400 and err["code"] == 2 and "name" in err["fields"], err
    status, err = call(admin, "POST", "/plugins", {"name": "rate-limiting", "config": {"minute": -1}})
    assert status == 400 and err["code"] == 2 and "config" in err["fields"], err
    # 409 unique violation
    status, err = call(admin, "POST", "/services", {"name": "a", "url": up_url(upstream)})
    assert status == 409 and err == {"code": 5, "name": "unique constraint violation",
                                     "message": "UNIQUE violation detected on '{name=\"a\"}'",
                                     "fields": {"name": "a"}}
    # 400 foreign key violation
    missing = "00000000-0000-4000-8000-000000000000"
    status, err = call(admin, "POST", "/routes", {"paths": ["/z"], "service": {"id": missing}})
    assert status == 400 and err["code"] == 4 and err["name"] == "foreign key violation", err
    assert err["message"] == f"the foreign key '{{id=\"{missing}\"}}' does not reference an existing 'services' entity."
    assert err["fields"] == {"service": {"id": missing}}
    assert call(admin, "GET", "/routes")[1]["data"] == []
    # 404
    assert call(admin, "PATCH", "/services/nope", {"retries": 1}) == (404, {"message": "Not found"})
    assert call(admin, "POST", "/services/nope/routes", {"paths": ["/n"]})[0] == 404
    # 405
    assert call(admin, "POST", "/services/a", {"name": "x"})[0] == 405
    assert call(admin, "PUT", "/services", {"name": "x"})[0] == 405
    # 415, and an unreadable JSON body
    status, err = call(admin, "POST", "/services", b"name=x", headers={"Content-Type": "text/plain"})
    assert status == 415, err
    status, err = call(admin, "POST", "/services", b"{nope", headers={"Content-Type": "application/json"})
    assert status == 400 and err == {"message": "Cannot parse JSON body"}
    # /config is DB-less only, as in Kong
    status, err = call(admin, "POST", "/config", {"_format_version": "3.0"})
    assert status == 400 and "not use a database" in err["message"]
    # Nothing refused was stored.
    assert [s["name"] for s in call(admin, "GET", "/services")[1]["data"]] == ["a"]


def test_consumers_credentials_and_cascade(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    call(admin, "POST", "/services", {"name": "s", "url": up_url(upstream)})
    call(admin, "POST", "/services/s/routes", {"name": "r", "paths": ["/r"]})
    status, plugin = call(admin, "POST", "/routes/r/plugins", {"name": "key-auth"})
    assert status == 201 and plugin["route"]["id"], plugin
    status, alice = call(admin, "POST", "/consumers", {"username": "alice"})
    assert status == 201
    status, key = call(admin, "POST", "/consumers/alice/key-auth", {"key": "alice-key"})
    assert status == 201 and key["consumer"] == {"id": alice["id"]}
    status, generated = call(admin, "POST", "/consumers/alice/key-auth")  # Kong's key is `auto`
    assert status == 201 and len(generated["key"]) >= 32, generated
    assert call(admin, "DELETE", f"/consumers/alice/key-auth/{generated['id']}") == (204, None)
    status, basic = call(admin, "POST", f"/consumers/{alice['id']}/basic-auth", {"username": "al", "password": "pw"})
    assert status == 201 and basic["password"] != "pw" and len(basic["password"]) == 40
    assert call(admin, "POST", "/consumers/alice/acls", {"group": "admins"})[0] == 201
    assert call(admin, "POST", "/consumers/alice/jwt", {"key": "jwt-key"})[0] == 201
    status, hmac = call(admin, "POST", "/consumers/alice/hmac-auth", {"username": "hm"})
    assert status == 201 and hmac["secret"]
    assert call(admin, "POST", "/consumers/alice/plugins", {"name": "request-termination"})[0] == 201
    assert call(admin, "GET", "/key-auths/alice-key")[1]["id"] == key["id"]
    # request-termination scoped to alice answers 503 for her; without a key, 401.
    assert live(gw, "/r", 503, headers=[("apikey", "alice-key")])
    assert gw.request("GET", "/r").status == 401
    # Deleting a consumer cascades to its credentials, acls and plugins.
    assert call(admin, "DELETE", "/consumers/alice") == (204, None)
    for path in ("/key-auths/alice-key", "/basic-auths/al", "/jwts/jwt-key", "/hmac-auths/hm"):
        assert call(admin, "GET", path)[0] == 404, path
    assert call(admin, "GET", "/acls")[1]["data"] == []
    assert [p["name"] for p in call(admin, "GET", "/plugins")[1]["data"]] == ["key-auth"]
    assert live(gw, "/r", 401, headers=[("apikey", "alice-key")])
    # Deleting a route cascades to its plugins.
    assert call(admin, "DELETE", "/routes/r") == (204, None)
    assert call(admin, "GET", "/plugins")[1]["data"] == []


def test_upstreams_and_targets(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    status, up = call(admin, "POST", "/upstreams", {"name": "pool"})
    assert status == 201 and up["algorithm"] == "round-robin"
    status, tgt = call(admin, "POST", "/upstreams/pool/targets", {"target": f"{HOST}:{upstream.port}"})
    assert status == 201 and tgt["upstream"] == {"id": up["id"]} and tgt["weight"] == 100
    call(admin, "POST", "/services", {"name": "s", "host": "pool"})
    call(admin, "POST", "/services/s/routes", {"paths": ["/pool"]})
    assert live(gw, "/pool")
    # The same target twice in one upstream: Kong's cache key is unique.
    status, err = call(admin, "POST", "/upstreams/pool/targets", {"target": f"{HOST}:{upstream.port}"})
    assert status == 409 and err["code"] == 5, err
    assert err["message"] == f"UNIQUE violation detected on '{{target=\"{HOST}:{upstream.port}\",upstream={{id=\"{up['id']}\"}}}}'"
    # ... and so is a plugin's name and scope.
    assert call(admin, "POST", "/services/s/plugins", {"name": "correlation-id"})[0] == 201
    status, err = call(admin, "POST", "/services/s/plugins", {"name": "correlation-id"})
    assert status == 409 and err["code"] == 5 and err["fields"]["name"] == "correlation-id", err
    # The loader's own per-upstream check sees the same address written another way.
    status, err = call(admin, "POST", "/upstreams/pool/targets", {"target": "localhost:8000"})
    assert status == 201
    status, err = call(admin, "POST", "/upstreams/pool/targets", {"target": "localhost"})
    assert status == 400 and err["code"] == 2 and "duplicate target" in json.dumps(err), err
    status, tgt = call(admin, "PATCH", f"/upstreams/pool/targets/{tgt['id']}", {"weight": 5})
    assert status == 200 and tgt["weight"] == 5
    assert call(admin, "DELETE", "/upstreams/pool") == (204, None)
    assert call(admin, "GET", "/upstreams/pool/targets")[0] == 404


def test_pagination_across_2500_entities_created_through_the_api(gateway_factory, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    for i in range(2500):
        tags = ["even"] if i % 2 == 0 else ["odd"]
        status, _ = call(admin, "POST", "/consumers", {"username": f"user-{i:04d}", "tags": tags})
        assert status == 201
    names, path, pages = [], "/consumers?size=1000", 0
    while path:
        status, body = call(admin, "GET", path)
        assert status == 200
        names += [c["username"] for c in body["data"]]
        path, pages = body["next"], pages + 1
    assert pages == 3 and names == [f"user-{i:04d}" for i in range(2500)]
    status, body = call(admin, "GET", "/consumers")
    assert len(body["data"]) == 100 and body["next"] and body["offset"]
    status, body = call(admin, "GET", "/consumers?tags=odd&size=1000")
    assert len(body["data"]) == 1000 and body["data"][0]["username"] == "user-0001"
    assert call(admin, "GET", "/consumers?size=1001")[0] == 400


def test_entities_survive_a_restart(gateway_factory, upstream, tmp_path):
    db = tmp_path / "kong.db"
    gw, admin = start(gateway_factory, db)
    call(admin, "POST", "/services", {"name": "kept", "url": up_url(upstream)})
    status, rt = call(admin, "POST", "/services/kept/routes", {"name": "kept-api", "paths": ["/kept"]})
    assert status == 201
    call(admin, "POST", "/consumers", {"username": "bob"})
    gw.stop(signal.SIGTERM)
    # The --config file seeds a fresh store only: the store wins on restart.
    gw2, admin2 = start(gateway_factory, db, cfg=config())
    assert call(admin2, "GET", "/routes/kept-api") == (200, rt)
    assert call(admin2, "GET", "/consumers/bob")[0] == 200
    assert gw2.request("GET", "/kept").status == 200


def test_kill9_during_a_write_burst_keeps_every_acknowledged_write(gateway_factory, tmp_path):
    db = tmp_path / "kong.db"
    gw, admin = start(gateway_factory, db)
    acked, stop = [], threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            try:
                status, _ = call(admin, "POST", "/consumers", {"username": f"c{i}"})
            except OSError:
                return
            if status == 201:
                acked.append(f"c{i}")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    assert wait_until(lambda: len(acked) >= 100, 20)
    gw.stop(signal.SIGKILL)
    stop.set()
    t.join(10)
    gw2, admin2 = start(gateway_factory, db)
    stored = set()
    path = "/consumers?size=1000"
    while path:
        body = call(admin2, "GET", path)[1]
        stored |= {c["username"] for c in body["data"]}
        path = body["next"]
    assert set(acked) <= stored, sorted(set(acked) - stored)[:5]


def test_rapid_writes_coalesce_and_are_live_within_a_second(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    call(admin, "POST", "/services", {"name": "s", "url": up_url(upstream)})
    assert live(gw, "/", 404)
    before = call(admin, "GET", "/status")[1]["config_generation"]
    for i in range(200):
        assert call(admin, "POST", "/services/s/routes", {"paths": [f"/burst/{i}"]})[0] == 201
    last = time.monotonic()
    assert live(gw, "/burst/199", 200, timeout=1.0), "the last write is live within 1 s"
    assert time.monotonic() - last < 1.0
    assert all(gw.request("GET", f"/burst/{i}").status == 200 for i in range(0, 200, 20))
    wait_until(lambda: False, 0.3)
    rebuilds = call(admin, "GET", "/status")[1]["config_generation"] - before
    assert 1 <= rebuilds <= 40, rebuilds  # far fewer rebuilds than writes


def test_admin_token_on_writes(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db", token="s3cret")
    status, _ = call(admin, "POST", "/services", {"name": "t", "url": up_url(upstream)})
    assert status == 401
    assert call(admin, "POST", "/services", {"name": "t", "url": up_url(upstream)}, token="wrong")[0] == 401
    assert call(admin, "POST", "/services", {"name": "t", "url": up_url(upstream)}, token="s3cret")[0] == 201
    assert call(admin, "DELETE", "/services/t")[0] == 401
    assert call(admin, "GET", "/services/t", token="s3cret")[0] == 200


def test_a_fresh_store_is_seeded_from_the_config_file(gateway_factory, upstream, tmp_path):
    cfg = config({"name": "seeded", "url": up_url(upstream), "routes": [{"name": "seeded-api", "paths": ["/seed"]}]})
    gw, admin = start(gateway_factory, tmp_path / "kong.db", cfg=cfg)
    assert call(admin, "GET", "/routes/seeded-api")[0] == 200
    assert gw.request("GET", "/seed").status == 200
    assert call(admin, "DELETE", "/routes/seeded-api")[0] == 204
    assert live(gw, "/seed", 404)


def test_200_api_changes_under_load_fail_no_request(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    call(admin, "POST", "/services", {"name": "s", "url": up_url(upstream)})
    call(admin, "POST", "/services/s/routes", {"name": "stable", "paths": ["/stable"]})
    status, plugin = call(admin, "POST", "/routes/stable/plugins",
                          {"name": "response-transformer", "config": {"add": {"headers": ["x-gen:0"]}}})
    assert status == 201, plugin
    assert live(gw, "/stable")
    failures, served, stop = [], [0], threading.Event()

    def load():
        while not stop.is_set():
            try:
                with gw.conn() as c:  # keep-alive: the connection lives across every swap
                    while not stop.is_set():
                        r = c.request("GET", "/stable")
                        if r.status != 200:
                            failures.append(r.status)
                        served[0] += 1
            except Exception as e:  # a reset or a refused connection is a failure
                failures.append(repr(e))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(1, 201):
            if i % 3 == 0:
                status, _ = call(admin, "PATCH", f"/plugins/{plugin['id']}",
                                 {"config": {"add": {"headers": [f"x-gen:{i}"]}}})
            elif i % 3 == 1:
                status, _ = call(admin, "POST", "/services/s/routes", {"name": f"churn-{i}", "paths": [f"/churn/{i}"]})
            else:
                status, _ = call(admin, "DELETE", f"/routes/churn-{i - 1}")
            assert status in (200, 201, 204), (i, status)
            time.sleep(0.005)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert failures == [] and served[0] > 200, (failures[:5], served[0])
    assert wait_until(lambda: gw.request("GET", "/stable").header("x-gen") == "198", 1.0)


def test_endpoints_lists_the_api(gateway_factory, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    status, body = call(admin, "GET", "/endpoints")
    assert status == 200 and body["next"] is None
    for path in ("/", "/services", "/services/{services}", "/services/{services}/routes",
                 "/consumers/{consumers}/key-auth/{key-auths}", "/upstreams/{upstreams}/targets", "/endpoints"):
        assert path in body["data"], path
    assert body["data"] == sorted(body["data"])


def test_upstream_health_and_manual_target_health(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    call(admin, "POST", "/upstreams",
         {"name": "pool", "healthchecks": {"passive": {"unhealthy": {"http_failures": 3}}}})
    status, tgt = call(admin, "POST", "/upstreams/pool/targets", {"target": f"{HOST}:{upstream.port}"})
    assert status == 201
    call(admin, "POST", "/services", {"name": "s", "host": "pool"})
    call(admin, "POST", "/services/s/routes", {"paths": ["/pool"]})
    assert live(gw, "/pool")
    status, body = call(admin, "GET", "/upstreams/pool/health")
    assert status == 200 and body["next"] is None and len(body["data"]) == 1, body
    entry = body["data"][0]
    assert entry["id"] == tgt["id"] and entry["health"] == "HEALTHY"
    assert entry["data"]["addresses"] == [{"ip": HOST, "port": upstream.port, "weight": 100, "health": "HEALTHY"}]
    assert call(admin, "POST", f"/upstreams/pool/targets/{tgt['id']}/unhealthy") == (204, None)
    assert call(admin, "GET", "/upstreams/pool/health")[1]["data"][0]["health"] == "UNHEALTHY"
    assert gw.request("GET", "/pool").status == 503
    assert call(admin, "POST", f"/upstreams/pool/targets/{HOST}:{upstream.port}/healthy") == (204, None)
    assert gw.request("GET", "/pool").status == 200
    assert call(admin, "GET", "/upstreams/nope/health")[0] == 404
    assert call(admin, "POST", "/upstreams/pool/targets/nope/healthy")[0] == 404


def test_filter_chains_through_the_api(gateway_factory, wasmgate_bin, wasm_cache, upstream, tmp_path):
    filters = pathlib.Path(wasmgate_bin).parent / "filters"
    assert (filters / "demo.wasm").exists()
    gw, admin = start(gateway_factory, tmp_path / "kong.db",
                      extra=["--filters-dir", str(filters), "--wasm-cache-dir", str(wasm_cache)])
    call(admin, "POST", "/services", {"name": "s", "url": up_url(upstream)})
    call(admin, "POST", "/services/s/routes", {"name": "r", "paths": ["/w"]})
    status, fc = call(admin, "POST", "/routes/r/filter-chains",
                      {"name": "fc", "filters": [{"name": "demo", "config": "one"}]})
    assert status == 201 and fc["route"]["id"] and fc["enabled"] is True, fc
    assert wait_until(lambda: gw.request("GET", "/w").header("x-wasm-filter") == "one", 2.0)
    status, fc = call(admin, "PATCH", "/filter-chains/fc", {"filters": [{"name": "demo", "config": "two"}]})
    assert status == 200 and fc["filters"][0]["config"] == "two", fc
    assert wait_until(lambda: gw.request("GET", "/w").header("x-wasm-filter") == "two", 2.0)
    # One filter chain per route (the loader's check), as Kong.
    status, err = call(admin, "POST", "/routes/r/filter-chains", {"filters": [{"name": "demo"}]})
    assert status == 400 and err["code"] == 2 and "already has a filter chain" in json.dumps(err), err
    assert call(admin, "DELETE", "/routes/r") == (204, None)  # cascades to its filter chain
    assert call(admin, "GET", "/filter-chains")[1]["data"] == []


def test_a_change_the_build_refuses_is_not_stored(gateway_factory, wasmgate_bin, wasm_cache, upstream, tmp_path):
    filters = pathlib.Path(wasmgate_bin).parent / "filters"
    db = tmp_path / "kong.db"
    gw, admin = start(gateway_factory, db, extra=["--filters-dir", str(filters), "--wasm-cache-dir", str(wasm_cache)])
    call(admin, "POST", "/services", {"name": "s", "url": up_url(upstream)})
    call(admin, "POST", "/services/s/routes", {"name": "r", "paths": ["/b"]})
    assert live(gw, "/b")
    generation = call(admin, "GET", "/status")[1]["config_generation"]
    # The entity schemas take both; only building them finds what is wrong.
    status, err = call(admin, "POST", "/routes/r/plugins",
                       {"name": "http-log", "config": {"http_endpoint": "https://127.0.0.1:9/log"}})
    assert status == 400 and err["code"] == 2 and err["name"] == "schema violation", err
    assert list(err["fields"]) == ["config"] and "only http://" in err["fields"]["config"], err
    assert err["message"] == f"schema violation (config: {err['fields']['config']})"
    status, err = call(admin, "POST", "/routes/r/filter-chains", {"filters": [{"name": "no-such-filter"}]})
    assert status == 400 and err["code"] == 2 and "no such filter: 'no-such-filter'" in err["fields"]["filters"], err
    # Nothing was stored, nothing was published, and the proxy serves as before.
    assert call(admin, "GET", "/plugins")[1]["data"] == []
    assert call(admin, "GET", "/filter-chains")[1]["data"] == []
    assert call(admin, "GET", "/status")[1]["config_generation"] == generation
    assert gw.request("GET", "/b").status == 200
    # The same entities, corrected, go through.
    status, plugin = call(admin, "POST", "/routes/r/plugins",
                          {"name": "http-log", "config": {"http_endpoint": f"{up_url(upstream)}/log"}})
    assert status == 201, plugin
    gw.stop()
    gw, admin = start(gateway_factory, db, extra=["--filters-dir", str(filters), "--wasm-cache-dir", str(wasm_cache)])
    assert [p["name"] for p in call(admin, "GET", "/plugins")[1]["data"]] == ["http-log"]


def test_without_a_config_entities_live_in_the_default_store(wasmgate_bin, tmp_path):
    admin, state = free_port(), tmp_path / "state"
    args = [str(wasmgate_bin), "start", "--proxy-listen", f"{HOST}:{free_port()}", "--admin-listen",
            f"{HOST}:{admin}", "--workers", "1", "--access-log", "off"]
    env = {k: v for k, v in os.environ.items() if k != "WASMGATE_DATABASE"}
    env["XDG_STATE_HOME"] = str(state)

    def connection_refused(port):
        try:
            call(port, "GET", "/status")
        except urllib.error.URLError:
            return True
        return False

    def run(check):
        p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert wait_until(lambda: p.poll() is not None or not connection_refused(admin), 10), "not up"
            assert p.poll() is None, p.stderr.read().decode()
            check()
        finally:
            p.kill()
            p.wait(5)

    def first():
        status, root = call(admin, "GET", "/")
        assert status == 200 and root["configuration"]["database"] == "sqlite", root
        assert [r["name"] for r in call(admin, "GET", "/routes")[1]["data"]] == ["demo"]  # seeded with the demo
        assert call(admin, "POST", "/services", {"name": "kept", "url": "http://127.0.0.1:9"})[0] == 201

    def second():
        assert call(admin, "GET", "/services/kept")[0] == 200

    run(first)
    assert (state / "wasmgate" / "wasmgate.db").exists()
    assert wait_until(lambda: connection_refused(admin), 5)
    run(second)


def test_foreign_entity_endpoints(gateway_factory, upstream, tmp_path):
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    status, svc = call(admin, "POST", "/services", {"name": "s", "url": up_url(upstream)})
    call(admin, "POST", "/services/s/routes", {"name": "r", "paths": ["/f"]})
    assert call(admin, "GET", "/routes/r/service") == (200, svc)
    status, patched = call(admin, "PATCH", "/routes/r/service", {"retries": 2})
    assert status == 200 and patched["id"] == svc["id"] and patched["retries"] == 2, patched
    status, put = call(admin, "PUT", "/routes/r/service", {"name": "s", "url": up_url(upstream) + "/p"})
    assert status == 200 and put["id"] == svc["id"] and put["path"] == "/p", put
    assert call(admin, "DELETE", "/routes/r/service")[0] == 405  # Kong: delete the route or the service itself
    assert call(admin, "POST", "/routes/r/service", {"name": "x"})[0] == 405
    assert call(admin, "GET", "/routes/nope/service")[0] == 404
    # A route without a service: PUT creates one and the route names it.
    call(admin, "POST", "/routes", {"name": "lone", "paths": ["/lone"]})
    assert call(admin, "GET", "/routes/lone/service")[0] == 404
    assert call(admin, "PATCH", "/routes/lone/service", {"retries": 1})[0] == 404
    status, made = call(admin, "PUT", "/routes/lone/service", {"name": "made", "url": up_url(upstream)})
    assert status == 200 and made["name"] == "made", made
    assert call(admin, "GET", "/routes/lone")[1]["service"] == {"id": made["id"]}
    assert live(gw, "/lone")
    # Every reference has one: a plugin's route.
    status, plugin = call(admin, "POST", "/routes/r/plugins", {"name": "cors"})
    assert call(admin, "GET", f"/plugins/{plugin['id']}/route")[1]["name"] == "r"
    assert call(admin, "GET", f"/plugins/{plugin['id']}/consumer")[0] == 404
    assert call(admin, "GET", "/targets")[0] == 404  # Kong disables the top-level /targets


def test_manual_health_of_one_address(gateway_factory, upstream, upstream_factory, tmp_path):
    other = upstream_factory()
    gw, admin = start(gateway_factory, tmp_path / "kong.db")
    call(admin, "POST", "/upstreams", {"name": "pool", "healthchecks": {"passive": {"unhealthy": {"http_failures": 3}}}})
    status, tgt = call(admin, "POST", "/upstreams/pool/targets", {"target": f"{HOST}:{upstream.port}"})
    assert status == 201, tgt
    call(admin, "POST", "/upstreams/pool/targets", {"target": f"{HOST}:{other.port}"})
    call(admin, "POST", "/services", {"name": "s", "host": "pool"})
    call(admin, "POST", "/services/s/routes", {"paths": ["/pool"]})
    assert live(gw, "/pool")
    health = call(admin, "GET", "/upstreams/pool/health")[1]["data"]
    addresses = [a for t in health if t["id"] == tgt["id"] for a in t["data"]["addresses"]]
    assert len(addresses) == 1, health
    address = f"{addresses[0]['ip']}:{addresses[0]['port']}"
    path = f"/upstreams/pool/targets/{tgt['id']}/{address}"
    assert call(admin, "POST", path + "/unhealthy") == (204, None)
    entry = [t for t in call(admin, "GET", "/upstreams/pool/health")[1]["data"] if t["id"] == tgt["id"]][0]
    assert entry["data"]["addresses"][0]["health"] == "UNHEALTHY", entry
    before, other_before = len(upstream.requests), len(other.requests)
    for _ in range(6):  # every request now goes to the other target
        assert gw.request("GET", "/pool").status == 200
    assert len(upstream.requests) == before and len(other.requests) == other_before + 6
    assert call(admin, "POST", path + "/healthy") == (204, None)
    entry = [t for t in call(admin, "GET", "/upstreams/pool/health")[1]["data"] if t["id"] == tgt["id"]][0]
    assert entry["data"]["addresses"][0]["health"] == "HEALTHY", entry
    assert call(admin, "POST", f"/upstreams/pool/targets/{tgt['id']}/10.9.9.9:1/healthy")[0] == 404
    assert call(admin, "GET", path + "/healthy")[0] == 405


def test_filters_and_their_schemas(gateway_factory, wasmgate_bin, wasm_cache, tmp_path):
    filters = pathlib.Path(wasmgate_bin).parent / "filters"
    gw, admin = start(gateway_factory, tmp_path / "kong.db",
                      extra=["--filters-dir", str(filters), "--wasm-cache-dir", str(wasm_cache)])
    status, body = call(admin, "GET", "/filters")
    assert status == 200 and body["next"] is None
    by_name = {f["name"]: f for f in body["data"]}
    on_disk = sorted(p.stem for p in filters.glob("*.wasm"))
    assert sorted(by_name) == on_disk
    demo = by_name["demo"]
    assert demo["abi_version"] in ("0.1.0", "0.2.0", "0.2.1"), demo
    assert f"proxy_abi_version_{demo['abi_version'].replace('.', '_')}" in demo["exports"]
    assert "proxy_on_request_headers" in demo["exports"]
    with_schema = [n for n in on_disk if (filters / f"{n}.meta.json").exists()
                   and "config_schema" in json.loads((filters / f"{n}.meta.json").read_text())]
    for name in with_schema:
        assert by_name[name]["config_schema"] is True
        expected = json.loads((filters / f"{name}.meta.json").read_text())["config_schema"]
        assert call(admin, "GET", f"/schemas/filters/{name}") == (200, expected)
    if not (filters / "demo.meta.json").exists():
        assert call(admin, "GET", "/schemas/filters/demo") == (200, {"type": "string"})
    assert call(admin, "GET", "/schemas/filters/nope") == (404, {"message": "Filter 'nope' not found"})


@pytest.mark.slow
def test_30s_of_load_while_routes_plugins_and_filter_chains_change_200_times(
        gateway_factory, wasmgate_bin, wasm_cache, upstream, tmp_path):
    filters = pathlib.Path(wasmgate_bin).parent / "filters"
    gw, admin = start(gateway_factory, tmp_path / "kong.db",
                      extra=["--filters-dir", str(filters), "--wasm-cache-dir", str(wasm_cache), "--workers", "2"])
    call(admin, "POST", "/services", {"name": "s", "url": up_url(upstream)})
    call(admin, "POST", "/services/s/routes", {"name": "stable", "paths": ["/stable"]})
    status, plugin = call(admin, "POST", "/routes/stable/plugins",
                          {"name": "response-transformer", "config": {"add": {"headers": ["x-gen:0"]}}})
    assert status == 201, plugin
    status, chain = call(admin, "POST", "/routes/stable/filter-chains",
                         {"name": "fc", "filters": [{"name": "demo", "config": "f0"}]})
    assert status == 201, chain
    assert wait_until(lambda: gw.request("GET", "/stable").header("x-wasm-filter") == "f0", 2.0)
    failures, served, stop = [], [0, 0], threading.Event()

    def keep_alive():  # one connection across every swap
        while not stop.is_set():
            try:
                with gw.conn() as c:
                    while not stop.is_set():
                        r = c.request("GET", "/stable")
                        if r.status != 200 or r.header("x-wasm-filter") is None:
                            failures.append((r.status, r.header("x-wasm-filter")))
                        served[0] += 1
                        time.sleep(0.002)  # bounded: a few hundred requests a second
            except Exception as e:  # a reset or a refused connection is a failure
                failures.append(repr(e))

    def new_connections():
        while not stop.is_set():
            try:
                r = gw.request("GET", "/stable")
                if r.status != 200:
                    failures.append(r.status)
                served[1] += 1
            except Exception as e:
                failures.append(repr(e))
            time.sleep(0.01)

    threads = [threading.Thread(target=keep_alive), threading.Thread(target=new_connections)]
    for t in threads:
        t.start()
    began = time.monotonic()
    try:
        for i in range(1, 201):
            kind = i % 4
            if kind == 0:
                status, _ = call(admin, "PATCH", f"/plugins/{plugin['id']}",
                                 {"config": {"add": {"headers": [f"x-gen:{i}"]}}})
            elif kind == 1:
                status, _ = call(admin, "POST", "/services/s/routes", {"name": f"churn-{i}", "paths": [f"/churn/{i}"]})
            elif kind == 2:
                status, _ = call(admin, "DELETE", f"/routes/churn-{i - 1}")
            else:
                status, _ = call(admin, "PATCH", "/filter-chains/fc", {"filters": [{"name": "demo", "config": f"f{i}"}]})
            assert status in (200, 201, 204), (i, status)
            # 200 changes spread over 30 s.
            time.sleep(max(0.0, began + i * 0.15 - time.monotonic()))
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert time.monotonic() - began >= 29
    assert failures == [] and served[0] > 2000 and served[1] > 500, (failures[:5], served)
    assert wait_until(lambda: gw.request("GET", "/stable").header("x-gen") == "200", 1.0)
    assert gw.request("GET", "/stable").header("x-wasm-filter") == "f199"
