"""Access log: one line per request, text and JSON formats."""

import json
import re
import time

from conftest import Gateway, build_request, config, free_port, route, service, slow_handler

TEXT_LINE = re.compile(
    r'^(?P<ip>\S+) - - \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)" '
    r'route=(?P<route>\S+) service=(?P<service>\S+) status=(?P<status2>\d{3}) '
    r'latency=(?P<latency>\d+) upstream_latency=(?P<up>\d+|-) gateway_latency=(?P<gw>\d+) tries=(?P<tries>\d+)$'
)


def parse_text(line):
    m = TEXT_LINE.match(line)
    assert m, f"access log line does not match the documented format: {line!r}"
    return m.groupdict()


def test_text_line_for_proxied_request(gateway_factory, upstream_factory):
    u = upstream_factory(slow_handler(0.3))
    gw = gateway_factory(config(service("alog-svc", u, [route("alog-route", ["/alog"])])))
    r = gw.request("GET", "/alog/x?a=1", headers=[("User-Agent", "pytest-agent/1.0"),
                                                  ("Referer", "http://ref.example/page")])
    assert r.status == 200
    lines = gw.wait_access_lines(1)
    assert len(lines) == 1, lines
    f = parse_text(lines[0])
    assert f["ip"] == "127.0.0.1"
    assert f["request"] == "GET /alog/x?a=1 HTTP/1.1"
    assert f["status"] == "200" and f["status2"] == "200"
    assert int(f["bytes"]) in (len(r.body), r.raw_len), (f["bytes"], len(r.body), r.raw_len)
    assert f["referer"] == "http://ref.example/page"
    assert f["ua"] == "pytest-agent/1.0"
    assert f["route"] == "alog-route"
    assert f["service"] == "alog-svc"
    assert f["tries"] == "1"
    latency, up, gwl = int(f["latency"]), int(f["up"]), int(f["gw"])
    assert latency >= 290, latency
    assert up >= 250, up
    assert up <= latency and gwl <= latency
    assert gwl < 250, gwl
    # timestamp is "now"
    t = time.strptime(f["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert abs(time.mktime(t) - time.mktime(time.localtime())) < 24 * 3600


def test_text_line_for_no_route(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/only"])])))
    r = gw.request("GET", "/nowhere", headers=[("User-Agent", "ua-404")])
    assert r.status == 404
    f = parse_text(gw.wait_access_lines(1)[0])
    assert f["status"] == "404"
    assert f["route"] == "-" and f["service"] == "-"
    assert f["up"] == "-"
    assert f["ua"] == "ua-404"
    assert f["referer"] == "-" or f["referer"] == ""


def test_text_line_for_502(gateway_factory):
    dead = free_port()
    gw = gateway_factory(config(service("dead-svc", dead, [route("dead-route", ["/"])], retries=1)))
    assert gw.request("GET", "/x").status == 502
    f = parse_text(gw.wait_access_lines(1)[0])
    assert f["status"] == "502"
    assert f["route"] == "dead-route" and f["service"] == "dead-svc"
    assert int(f["tries"]) == 2


def test_one_line_per_request_keepalive_and_pipelined(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/"], strip_path=False)])))
    with gw.conn() as c:
        for i in range(3):
            assert c.request("GET", f"/ka/{i}").status == 200
        c.send(b"".join(build_request("GET", f"/pl/{i}") for i in range(4)))
        for _ in range(4):
            assert c.read_response().status == 200
    assert gw.request("GET", "/missing-but-routed").status == 200
    lines = gw.wait_access_lines(8)
    time.sleep(0.3)
    lines = gw.access_lines()
    assert len(lines) == 8, lines
    reqs = [parse_text(ln)["request"] for ln in lines]
    assert sorted(reqs) == sorted([f"GET /ka/{i} HTTP/1.1" for i in range(3)]
                                  + [f"GET /pl/{i} HTTP/1.1" for i in range(4)]
                                  + ["GET /missing-but-routed HTTP/1.1"])


def test_text_line_for_400(echo_gateway):
    with echo_gateway.conn() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        assert c.read_response().status == 400
    lines = echo_gateway.wait_access_lines(1)
    assert len(lines) == 1
    f = parse_text(lines[0])
    assert f["status"] == "400"
    assert f["route"] == "-"


def _json_lines(gw, n):
    lines = gw.wait_access_lines(n)
    out = []
    for ln in lines:
        try:
            out.append(json.loads(ln))
        except ValueError as e:
            raise AssertionError(f"access log line is not JSON: {ln!r}") from e
    return out


def test_json_format_proxied(gateway_factory, upstream_factory):
    u = upstream_factory(slow_handler(0.2))
    gw = gateway_factory(config(service("jsvc", u, [route("jroute", ["/j"])], path="/base")),
                         access_log_format="json")
    body = b"0123456789" * 10
    t_before = time.time() * 1000
    r = gw.request("POST", "/j/item?x=1", body=body, headers=[("User-Agent", "json-ua")])
    t_after = time.time() * 1000
    assert r.status == 200
    recs = _json_lines(gw, 1)
    assert len(recs) == 1
    e = recs[0]
    assert set(e) >= {"started_at", "client_ip", "request", "response", "route", "service", "latencies",
                      "tries", "upstream_uri"}
    assert isinstance(e["started_at"], int)
    assert t_before - 1000 <= e["started_at"] <= t_after + 1000
    assert e["client_ip"] == "127.0.0.1"
    assert e["request"]["method"] == "POST"
    assert e["request"]["uri"] == "/j/item?x=1"
    assert e["request"]["size"] >= len(body)
    assert e["response"]["status"] == 200
    assert len(r.body) <= e["response"]["size"] <= r.raw_len
    assert e["route"] == {"name": "jroute"} or e["route"]["name"] == "jroute"
    assert e["service"] == {"name": "jsvc"} or e["service"]["name"] == "jsvc"
    lat = e["latencies"]
    assert lat["request"] >= 190
    assert lat["proxy"] >= 150
    assert lat["proxy"] <= lat["request"] and lat["kong"] <= lat["request"]
    assert e["tries"] == 1
    assert e["upstream_uri"] == "/base/item?x=1"
    assert u.requests[0].target == "/base/item?x=1"


def test_json_format_no_route(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/only"])])),
                         access_log_format="json")
    assert gw.request("GET", "/nope").status == 404
    e = _json_lines(gw, 1)[0]
    assert e["response"]["status"] == 404
    assert e["route"] is None
    assert e["service"] is None
    assert e["latencies"]["proxy"] == -1
    assert e["request"]["uri"] == "/nope"


def test_json_format_escapes_strings(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/"])])), access_log_format="json")
    nasty = '/q?a="b"\\c'
    r = gw.request("GET", nasty.replace('"', "%22").replace("\\", "%5C"),
                   headers=[("User-Agent", 'evil "agent" \\ x')])
    assert r.status == 200
    e = _json_lines(gw, 1)[0]  # must parse despite quotes/backslashes
    assert e["request"]["uri"].startswith("/q?a=")


def test_json_format_via_env(wasmgate_bin, tmp_path, upstream):
    gw = Gateway(wasmgate_bin, tmp_path / "envjson", config(service("svc", upstream, [route("r", ["/"])])),
                 env={"WASMGATE_ACCESS_LOG_FORMAT": "json"})
    try:
        gw.wait_ready()
        assert gw.request("GET", "/e").status == 200
        e = _json_lines(gw, 1)[0]
        assert e["response"]["status"] == 200
    finally:
        gw.stop()


def test_access_log_off(gateway_factory, upstream):
    gw = gateway_factory(config(service("svc", upstream, [route("r", ["/"])])), extra_args=["--access-log", "off"])
    assert gw.request("GET", "/quiet").status == 200
    time.sleep(0.3)
    assert gw.access_lines() == []
    assert gw.stdout_log.read_text().strip() == ""
