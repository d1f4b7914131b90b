"""Kong's Admin API in DB-less mode on the admin listener, against the
running gateway: GET / and /status, entities by id and endpoint key, nested
forms, pagination and tags, Kong's answers to writes without a database,
POST /config (JSON, YAML, form and multipart bodies) taking effect on the
proxy at once, GET /config, refused configs that leave the running one
serving, and the admin token."""

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import HOST, config, free_port, route, service


def call(admin, method, path, body=None, headers=None):
    data = body if isinstance(body, (bytes, type(None))) else body.encode()
    req = urllib.request.Request(f"http://{HOST}:{admin}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def start(gateway_factory, cfg, token=None):
    admin = free_port()
    args = ["--admin-listen", f"{HOST}:{admin}"] + (["--admin-token", token] if token else [])
    return gateway_factory(cfg, extra_args=args), admin


def base(upstream):
    return config(
        service("orders", upstream, [route("orders-api", ["/orders"], tags=["team-a"]),
                                     route("orders-admin", ["/orders/admin"], tags=["team-a", "internal"])],
                tags=["team-a"], plugins=[{"name": "correlation-id"}]),
        service("billing", upstream, [route("billing-api", ["/billing"], tags=["team-b"])], tags=["team-b"]),
        consumers=[{"username": "alice", "keyauth_credentials": [{"key": "alice-key"}], "acls": [{"group": "g"}]}],
    )


def test_node_and_status(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream))
    status, body = call(admin, "GET", "/")
    assert status == 200
    assert body["configuration"]["database"] == "off"
    assert body["plugins"]["available_on_server"]["key-auth"]["priority"] == 1250
    assert body["plugins"]["enabled_in_cluster"] == ["correlation-id"]
    status, body = call(admin, "GET", "/status")
    assert status == 200 and body["database"]["reachable"] is True
    assert len(body["configuration_hash"]) == 32
    status, body = call(admin, "GET", "/plugins/enabled")
    assert "rate-limiting" in body["enabled_plugins"]


def test_entities_by_id_and_key_and_nested(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream))
    status, body = call(admin, "GET", "/services")
    assert status == 200 and [s["name"] for s in body["data"]] == ["orders", "billing"] and body["next"] is None
    orders = body["data"][0]
    assert call(admin, "GET", "/services/orders")[1] == orders
    assert call(admin, "GET", f"/services/{orders['id']}")[1] == orders
    assert call(admin, "GET", "/services/nope") == (404, {"message": "Not found"})
    status, body = call(admin, "GET", "/services/orders/routes")
    assert [r["name"] for r in body["data"]] == ["orders-api", "orders-admin"]
    assert all(r["service"] == {"id": orders["id"]} for r in body["data"])
    assert call(admin, "GET", "/routes/billing-api/service")[1]["name"] == "billing"
    assert [p["name"] for p in call(admin, "GET", "/services/orders/plugins")[1]["data"]] == ["correlation-id"]
    status, body = call(admin, "GET", "/consumers/alice/key-auth")
    assert status == 200 and [k["key"] for k in body["data"]] == ["alice-key"]
    key_id = body["data"][0]["id"]
    assert call(admin, "GET", f"/consumers/alice/key-auth/{key_id}")[1]["key"] == "alice-key"
    assert call(admin, "GET", "/key-auths/alice-key")[1]["id"] == key_id
    assert [a["group"] for a in call(admin, "GET", "/consumers/alice/acls")[1]["data"]] == ["g"]
    assert call(admin, "GET", "/nothing-like-this")[0] == 404


def test_pagination_and_tags(gateway_factory, upstream):
    routes = [route(f"r{i}", [f"/r{i}"], tags=["even" if i % 2 == 0 else "odd", "all"]) for i in range(250)]
    gw, admin = start(gateway_factory, config(service("s", upstream, routes)))
    seen, path = [], "/routes?size=100"
    while path:
        status, body = call(admin, "GET", path)
        assert status == 200 and len(body["data"]) <= 100
        seen += [r["name"] for r in body["data"]]
        path = body["next"]
    assert seen == [f"r{i}" for i in range(250)]
    assert len(call(admin, "GET", "/routes")[1]["data"]) == 100  # Kong's default size
    status, body = call(admin, "GET", "/routes?size=1000&tags=even")
    assert len(body["data"]) == 125 and all("even" in r["tags"] for r in body["data"])
    assert len(call(admin, "GET", "/routes?size=1000&tags=even,all")[1]["data"]) == 125
    assert len(call(admin, "GET", "/routes?size=1000&tags=even/odd")[1]["data"]) == 250
    assert call(admin, "GET", "/routes?tags=a,b/c")[0] == 400
    status, body = call(admin, "GET", "/routes?size=1001")
    assert status == 400 and body["name"] == "invalid size"
    status, body = call(admin, "GET", "/routes?offset=garbage")
    assert status == 400 and body["name"] == "invalid offset"


def test_writes_are_kongs_db_less_answers(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream))
    status, body = call(admin, "POST", "/services", json.dumps({"name": "x", "host": "h"}),
                        {"Content-Type": "application/json"})
    assert (status, body) == (405, {"code": 12, "name": "operation unsupported",
                                    "message": "cannot create 'services' entities when not using a database"})
    assert call(admin, "DELETE", "/services/orders")[1]["message"] == \
        "cannot delete 'services' entities when not using a database"
    assert call(admin, "PATCH", "/routes/orders-api", "{}")[1]["message"] == \
        "cannot update 'routes' entities when not using a database"
    assert call(admin, "PUT", "/consumers/alice/key-auth/x", "{}")[1]["message"] == \
        "cannot upsert 'keyauth_credentials' entities when not using a database"
    assert call(admin, "DELETE", "/status")[0] == 405


def test_post_config_replaces_the_running_config(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream))
    assert gw.request("GET", "/orders").status == 200
    new = config(service("fresh", upstream, [route("fresh-api", ["/fresh"])]))
    started = time.monotonic()
    status, body = call(admin, "POST", "/config", json.dumps(new), {"Content-Type": "application/json"})
    assert status == 201
    assert [s["name"] for s in body["services"].values()] == ["fresh"]
    # The change answers on the proxy at once (well within a second).
    while gw.request("GET", "/fresh").status != 200:
        assert time.monotonic() - started < 1.0
        time.sleep(0.02)
    assert gw.request("GET", "/orders").status == 404
    status, body = call(admin, "GET", "/config")
    assert status == 200 and [s["name"] for s in json.loads(body["config"])["services"]] == ["fresh"]
    # Unchanged with check_hash: 304, nothing reloaded.
    status, _ = call(admin, "POST", "/config?check_hash=1", json.dumps(new), {"Content-Type": "application/json"})
    assert status == 304


def test_post_config_body_forms(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream))
    yaml_text = (f'_format_version: "3.0"\nservices:\n  - name: y\n    url: http://{HOST}:{upstream.port}\n'
                 f'    routes:\n      - name: y-api\n        paths: [/y]\n')
    assert call(admin, "POST", "/config", yaml_text, {"Content-Type": "text/yaml"})[0] == 201
    assert gw.request("GET", "/y").status == 200
    form = urllib.parse.urlencode({"config": yaml_text.replace("/y]", "/form]")})
    assert call(admin, "POST", "/config", form, {"Content-Type": "application/x-www-form-urlencoded"})[0] == 201
    assert gw.request("GET", "/form").status == 200
    boundary = "XyZ123"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"config\"; filename=\"kong.yml\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n{yaml_text.replace('/y]', '/multi]')}\r\n"
                 f"--{boundary}--\r\n")
    assert call(admin, "POST", "/config", multipart,
                {"Content-Type": f"multipart/form-data; boundary={boundary}"})[0] == 201
    assert gw.request("GET", "/multi").status == 200
    wrapped = json.dumps({"config": yaml_text.replace("/y]", "/wrapped]")})
    assert call(admin, "POST", "/config", wrapped, {"Content-Type": "application/json"})[0] == 201
    assert gw.request("GET", "/wrapped").status == 200
    assert call(admin, "POST", "/config", "", {"Content-Type": "application/json"}) == \
        (400, {"message": "expected a declarative configuration"})


def test_refused_config_keeps_the_running_one(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream))
    bad = config(service("bad", upstream, [route("bad-api", ["/bad"], plugins=[
        {"name": "rate-limiting", "config": {"minute": "lots"}}])]))
    status, body = call(admin, "POST", "/config?flatten_errors=1", json.dumps(bad),
                        {"Content-Type": "application/json"})
    assert status == 400
    assert body["code"] == 14 and body["name"] == "invalid declarative configuration"
    assert body["flattened_errors"][0]["entity_type"] == "plugin"
    assert "config.minute" in body["flattened_errors"][0]["field"]
    status, body = call(admin, "POST", "/config", json.dumps(bad), {"Content-Type": "application/json"})
    assert status == 400 and "flattened_errors" not in body and "declarative config is invalid" in body["message"]
    assert gw.request("GET", "/orders").status == 200 and gw.request("GET", "/bad").status == 404
    assert [s["name"] for s in call(admin, "GET", "/services")[1]["data"]] == ["orders", "billing"]


def test_admin_token(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream), token="s3cret")
    status, body = call(admin, "GET", "/services")
    assert status == 401 and body["message"] == "Invalid credentials. Token or User credentials required"
    assert call(admin, "GET", "/services", headers={"Kong-Admin-Token": "wrong"})[0] == 401
    assert call(admin, "GET", "/services", headers={"Kong-Admin-Token": "s3cret"})[0] == 200
    assert call(admin, "GET", "/metrics")[0] == 401


def test_admin_off_loopback_needs_a_token(wasmgate_bin, tmp_path, upstream):
    import subprocess
    cfg = tmp_path / "kong.json"
    cfg.write_text(json.dumps(base(upstream)))
    p = subprocess.run([wasmgate_bin, "start", "-c", str(cfg), "--proxy-listen", f"{HOST}:{free_port()}",
                        "--admin-listen", f"0.0.0.0:{free_port()}", "--workers", "1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "set --admin-token" in p.stderr, p.stderr


def test_schema_validation(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream))
    ok = call(admin, "POST", "/schemas/services/validate", json.dumps({"name": "x", "url": "http://h:1/p"}),
              {"Content-Type": "application/json"})
    assert ok == (200, {"message": "schema validation successful"})
    status, body = call(admin, "POST", "/schemas/services/validate", json.dumps({"name": "x", "port": 99999}),
                        {"Content-Type": "application/json"})
    assert status == 400 and body["code"] == 2 and body["name"] == "schema violation"
    assert body["fields"]["port"] == "value should be between 0 and 65535"
    status, body = call(admin, "POST", "/schemas/plugins/validate",
                        json.dumps({"name": "rate-limiting", "config": {"minute": -1}}),
                        {"Content-Type": "application/json"})
    assert status == 400 and "minute" in body["fields"]["config"], body
    assert call(admin, "POST", "/schemas/plugins/validate", json.dumps({"name": "key-auth"}),
                {"Content-Type": "application/json"})[0] == 200
    status, body = call(admin, "POST", "/schemas/plugins/validate", json.dumps({"name": "nope"}),
                        {"Content-Type": "application/json"})
    assert status == 400 and "not enabled" in body["fields"]["name"]
    assert call(admin, "POST", "/schemas/nothing/validate", "{}")[0] == 404
    assert call(admin, "POST", "/schemas/services/validate", "not json")[0] == 400
    # Form bodies too, with Kong's nested syntax, typed by the schema.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert call(admin, "POST", "/schemas/services/validate", "name=x&url=http://h:1/p&retries=2", form)[0] == 200
    status, body = call(admin, "POST", "/schemas/plugins/validate", "name=rate-limiting&config.minute=-1", form)
    assert status == 400 and "minute" in body["fields"]["config"], body
    assert call(admin, "POST", "/schemas/plugins/validate", "name=rate-limiting&config.minute=5", form)[0] == 200


def test_schemas(gateway_factory, upstream):
    gw, admin = start(gateway_factory, base(upstream))
    status, body = call(admin, "GET", "/schemas/services")
    assert status == 200
    fields = {k: v for f in body["fields"] for k, v in f.items()}
    assert fields["port"]["type"] == "integer" and fields["port"]["default"] == 80
    assert fields["port"]["between"] == [0, 65535]
    assert fields["protocol"]["default"] == "http"
    status, body = call(admin, "GET", "/schemas/plugins/rate-limiting")
    assert status == 200
    config = next(f["config"] for f in body["fields"] if "config" in f)
    names = [next(iter(f)) for f in config["fields"]]
    assert "minute" in names and "limit_by" in names
    assert call(admin, "GET", "/plugins/schema/key-auth")[0] == 200
    assert call(admin, "GET", "/schemas/plugins/nope")[0] == 404
    assert call(admin, "GET", "/schemas/nope")[0] == 404


def test_body_size_limit_and_slow_clients(gateway_factory, upstream):
    import socket
    admin = free_port()
    gateway_factory(config(), extra_args=["--admin-listen", f"{HOST}:{admin}", "--client-timeout", "500"])
    with socket.create_connection((HOST, admin), 5) as s:
        s.sendall(b"POST /config HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 16777217\r\n\r\n")
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b'{"message":"Request body too large"}' in head
    # A client that never finishes its head is disconnected after --client-timeout.
    with socket.create_connection((HOST, admin), 5) as s:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        began = time.monotonic()
        assert s.recv(1) == b""  # EOF: closed by the gateway, no answer
        assert 0.3 < time.monotonic() - began < 3
    # Nor one that stops sending its body.
    with socket.create_connection((HOST, admin), 5) as s:
        s.sendall(b"POST /config HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        began = time.monotonic()
        assert s.recv(1) == b""
        assert time.monotonic() - began < 3
    assert call(admin, "GET", "/status")[0] == 200  # and the listener serves the next one
