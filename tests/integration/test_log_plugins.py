"""The log plugins (file-log, http-log, tcp-log, udp-log) through the real
gateway, with real receivers on loopback: Kong's serialized JSON (route,
service, consumer, latencies, request and response), http-log's queue
(batches, retries), receivers that are down, and config errors."""

import base64
import json
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import HOST, config, free_port, route, service, wait_until
from test_dns import DnsServer

ALICE = "2d5a8a52-8e4b-4c0a-9a51-6a0f2d8d1a01"
ALICE_KEY_ID = "9b1c1a7e-3f44-4f57-8d3e-1c2b3a4d5e6f"


def consumers():
    return [{"username": "alice", "id": ALICE, "custom_id": "cust-1",
             "keyauth_credentials": [{"key": "alice-key", "id": ALICE_KEY_ID}]}]


# ---- receivers ---------------------------------------------------------------

class HttpReceiver:
    """An HTTP server recording every request; `statuses` are answered in
    turn (then 200)."""

    def __init__(self, statuses=()):
        self.requests = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.requests.append((self.command, self.path, dict(self.headers), body))
                    status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_PUT = do_PATCH = _any

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self):
        with self.lock:
            return [json.loads(r[3]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TcpReceiver:
    """A TCP server collecting newline-ended lines from every connection."""

    def __init__(self):
        self.lines = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        buf = b""
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                return
            if not d:
                return
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                with self.lock:
                    self.lines.append(json.loads(line))

    def close(self):
        self.sock.close()


def closed_port():
    """A loopback port nothing listens on."""
    return free_port()


def check(wasmgate_bin, tmp_path, cfg):
    path = tmp_path / "check.yaml"
    path.write_text(json.dumps(cfg))
    p = subprocess.run([wasmgate_bin, "check", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


# ---- the serialized JSON -----------------------------------------------------

def test_file_log_writes_kong_json(gateway_factory, upstream, tmp_path):
    log = tmp_path / "requests.log"
    gw = gateway_factory(config(service("svc", upstream, [
        route("r", ["/"], plugins=[{"name": "key-auth"}, {"name": "file-log", "config": {"path": str(log)}}]),
    ]), consumers=consumers()))
    before = int(time.time() * 1000)
    r = gw.request("GET", "/p?a=1&b&a=2&c=x%20y", headers=[("apikey", "alice-key"), ("X-Test", "one"),
                                                       ("Authorization", "secret")])
    assert r.status == 200
    r = gw.request("GET", "/p")  # no key: 401 from key-auth, still logged
    assert r.status == 401
    assert wait_until(lambda: log.exists() and len(log.read_text().splitlines()) == 2, timeout=15)
    ok, refused = [json.loads(line) for line in log.read_text().splitlines()]

    req = ok["request"]
    assert req["method"] == "GET"
    assert req["uri"] == "/p?a=1&b&a=2&c=x%20y"
    assert req["url"] == f"http://test.local:{gw.port}/p?a=1&b&a=2&c=x%20y"
    assert req["querystring"] == {"a": ["1", "2"], "b": True, "c": "x y"}
    assert req["headers"]["x-test"] == "one"
    assert req["headers"]["host"] == "test.local"
    assert req["headers"]["apikey"] == "alice-key"
    assert req["headers"]["authorization"] == "REDACTED"
    assert req["size"] > 50
    assert ok["response"]["status"] == 200 and ok["response"]["size"] > 0
    assert ok["upstream_status"] == "200" and ok["source"] == "service"
    assert ok["upstream_uri"] == "/p?a=1&b&a=2&c=x%20y"
    assert ok["route"]["name"] == "r" and ok["route"]["paths"] == ["/"]
    assert ok["route"]["service"] == {"id": ok["service"]["id"]}
    assert ok["service"]["name"] == "svc" and ok["service"]["host"] == HOST
    assert ok["service"]["port"] == upstream.port and ok["service"]["protocol"] == "http"
    assert ok["consumer"] == {"id": ALICE, "username": "alice", "custom_id": "cust-1"}
    assert ok["authenticated_entity"] == {"id": ALICE_KEY_ID, "consumer_id": ALICE}
    lat = ok["latencies"]
    assert set(lat) >= {"request", "kong", "proxy"}
    assert all(isinstance(lat[k], int) and lat[k] >= 0 for k in ("request", "kong", "proxy"))
    assert ok["tries"] == [{"ip": HOST, "port": upstream.port}]
    assert ok["client_ip"] == HOST
    assert before - 1000 <= ok["started_at"] <= int(time.time() * 1000)

    assert refused["response"]["status"] == 401 and refused["source"] == "exit"
    assert "consumer" not in refused and "authenticated_entity" not in refused
    assert refused["upstream_status"] == "" and refused["tries"] == []
    assert refused["latencies"]["proxy"] == -1
    assert refused["response"]["headers"]["www-authenticate"] == "Key"


def test_file_log_lines_from_many_workers_stay_whole(gateway_factory, upstream, tmp_path):
    log = tmp_path / "many.log"
    gw = gateway_factory(config(service("svc", upstream, [
        route("r", ["/"], plugins=[{"name": "file-log", "config": {"path": str(log)}}]),
    ])), workers=2)
    errors = []

    def client(i):
        try:
            for j in range(15):
                assert gw.request("GET", f"/c{i}/{j}", headers=[("X-Pad", "x" * 2000)]).status == 200
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert wait_until(lambda: len(log.read_text().splitlines()) == 60)
    uris = sorted(json.loads(line)["request"]["uri"] for line in log.read_text().splitlines())
    assert uris == sorted(f"/c{i}/{j}" for i in range(4) for j in range(15))


def test_file_log_reopen_follows_a_moved_file(gateway_factory, upstream, tmp_path):
    log = tmp_path / "rot.log"
    gw = gateway_factory(config(service("svc", upstream, [
        route("r", ["/"], plugins=[{"name": "file-log", "config": {"path": str(log), "reopen": True}}]),
    ])), workers=1)
    assert gw.request("GET", "/first").status == 200
    assert wait_until(log.exists)
    log.rename(tmp_path / "rot.log.1")
    assert gw.request("GET", "/second").status == 200
    assert wait_until(log.exists)
    assert [json.loads(x)["request"]["uri"] for x in log.read_text().splitlines()] == ["/second"]


def test_log_plugins_honour_protocols(gateway_factory, upstream, tmp_path):
    log = tmp_path / "proto.log"
    gw = gateway_factory(config(service("svc", upstream, [
        route("tls-only", ["/tls"], plugins=[{"name": "file-log", "protocols": ["https"],
                                              "config": {"path": str(log)}}]),
        route("plain", ["/plain"], plugins=[{"name": "file-log", "protocols": ["http"],
                                             "config": {"path": str(log)}}]),
    ])), workers=1)
    assert gw.request("GET", "/tls").status == 200
    assert gw.request("GET", "/plain").status == 200
    assert wait_until(lambda: log.exists() and log.read_text().count("\n") >= 1)
    time.sleep(0.1)
    assert [json.loads(x)["route"]["name"] for x in log.read_text().splitlines()] == ["plain"]


def test_file_log_unwritable_path_does_not_fail_requests(gateway_factory, upstream, tmp_path):
    gw = gateway_factory(config(service("svc", upstream, [
        route("r", ["/"], plugins=[{"name": "file-log", "config": {"path": str(tmp_path / "no" / "dir.log")}}]),
    ])), workers=1)
    for _ in range(5):
        assert gw.request("GET", "/").status == 200
    assert gw.wait_stderr(r"\[file-log\] failed to open the file: No such file or directory")
    assert gw.stderr_text().count("[file-log]") == 1  # once every few seconds, not per request


def test_udp_log_sends_one_datagram_per_request(gateway_factory, upstream):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((HOST, 0))
    rx.settimeout(5)
    gw = gateway_factory(config(service("svc", upstream, [
        route("udp-route", ["/"], plugins=[{"name": "udp-log",
                                            "config": {"host": HOST, "port": rx.getsockname()[1]}}]),
    ])))
    assert gw.request("GET", "/u", headers=[("X-Which", "udp")]).status == 200
    data, _ = rx.recvfrom(65536)
    entry = json.loads(data)
    assert entry["route"]["name"] == "udp-route" and entry["service"]["name"] == "svc"
    assert entry["request"]["headers"]["x-which"] == "udp" and entry["response"]["status"] == 200
    rx.close()


def test_tcp_log_sends_lines(gateway_factory, upstream):
    rx = TcpReceiver()
    gw = gateway_factory(config(service("svc", upstream, [
        route("tcp-route", ["/"], plugins=[{"name": "tcp-log", "config": {"host": HOST, "port": rx.port}}]),
    ])))
    for i in range(3):
        assert gw.request("GET", f"/t{i}").status == 200
    assert wait_until(lambda: len(rx.lines) == 3)
    assert sorted(e["request"]["uri"] for e in rx.lines) == ["/t0", "/t1", "/t2"]
    assert all(e["route"]["name"] == "tcp-route" for e in rx.lines)
    rx.close()


def test_down_receivers_neither_fail_nor_slow_requests(gateway_factory, upstream):
    dead = closed_port()
    gw = gateway_factory(config(service("svc", upstream, [
        route("r", ["/"], plugins=[
            {"name": "tcp-log", "config": {"host": HOST, "port": dead}},
            {"name": "udp-log", "config": {"host": HOST, "port": dead}},
            {"name": "http-log", "config": {"http_endpoint": f"http://{HOST}:{dead}/",
                                            "queue": {"initial_retry_delay": 0.01, "max_retry_time": 1}}},
        ]),
    ])))
    started = time.monotonic()
    for i in range(10):
        assert gw.request("GET", f"/d{i}").status == 200
    assert time.monotonic() - started < 2.0
    assert gw.wait_stderr(r"\[tcp-log\] failed to connect to 127\.0\.0\.1:%d" % dead)
    assert gw.wait_stderr(r"\[http-log\] handler could not process entries")
    # Errors are rate-limited: ten failing requests are not ten lines.
    assert gw.stderr_text().count("[tcp-log]") < 10


# ---- http-log and its queue ---------------------------------------------------

def test_http_log_posts_the_entry(gateway_factory, upstream):
    rx = HttpReceiver()
    gw = gateway_factory(config(service("svc", upstream, [
        route("h", ["/"], plugins=[{"name": "http-log", "config": {
            "http_endpoint": f"http://user:pa%3Ass@{HOST}:{rx.port}/logs?src=gw",
            "headers": {"X-Log-Token": "t1"}, "content_type": "application/json; charset=utf-8"}}]),
    ])))
    assert gw.request("GET", "/x", headers=[("X-A", "b")]).status == 200
    assert wait_until(lambda: len(rx.requests) == 1)
    method, path, headers, body = rx.requests[0]
    assert (method, path) == ("POST", "/logs?src=gw")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:pa%3Ass").decode()
    assert headers["X-Log-Token"] == "t1"
    assert headers["Host"] == f"{HOST}:{rx.port}"
    entry = json.loads(body)
    assert isinstance(entry, dict)  # a batch of one is the object itself
    assert entry["route"]["name"] == "h" and entry["request"]["headers"]["x-a"] == "b"
    rx.close()


def test_http_log_batches(gateway_factory, upstream):
    rx = HttpReceiver()
    gw = gateway_factory(config(service("svc", upstream, [
        route("h", ["/"], plugins=[{"name": "http-log", "config": {
            "http_endpoint": f"http://{HOST}:{rx.port}/", "method": "PUT",
            "queue": {"max_batch_size": 3, "max_coalescing_delay": 30}}}]),
    ])), workers=1)
    for i in range(6):
        assert gw.request("GET", f"/b{i}").status == 200
    assert wait_until(lambda: len(rx.requests) == 2)
    time.sleep(0.2)
    assert len(rx.requests) == 2 and all(r[0] == "PUT" for r in rx.requests)
    batches = rx.bodies()
    assert [len(b) for b in batches] == [3, 3]
    assert [e["request"]["uri"] for b in batches for e in b] == [f"/b{i}" for i in range(6)]
    rx.close()


def test_http_log_coalescing_delay_sends_a_partial_batch(gateway_factory, upstream):
    rx = HttpReceiver()
    gw = gateway_factory(config(service("svc", upstream, [
        route("h", ["/"], plugins=[{"name": "http-log", "config": {
            "http_endpoint": f"http://{HOST}:{rx.port}/",
            "queue": {"max_batch_size": 10, "max_coalescing_delay": 0.3}}}]),
    ])), workers=1)
    assert gw.request("GET", "/only").status == 200
    time.sleep(0.1)
    assert rx.requests == []  # still coalescing
    assert wait_until(lambda: len(rx.requests) == 1, timeout=3)
    assert [e["request"]["uri"] for e in rx.bodies()[0]] == ["/only"]  # an array: max_batch_size > 1
    rx.close()


def test_http_log_without_concurrency_limit_sends_each_entry_at_once(gateway_factory, upstream):
    rx = HttpReceiver()
    gw = gateway_factory(config(service("svc", upstream, [
        route("h", ["/"], plugins=[{"name": "http-log", "config": {
            "http_endpoint": f"http://{HOST}:{rx.port}/",
            "queue": {"max_batch_size": 5, "max_coalescing_delay": 60, "concurrency_limit": -1}}}]),
    ])), workers=1)
    for i in range(3):
        assert gw.request("GET", f"/u{i}").status == 200
    assert wait_until(lambda: len(rx.requests) == 3, timeout=3)
    # Kong's http-log: an array whenever max_batch_size > 1, here of one entry each.
    assert sorted(b[0]["request"]["uri"] for b in rx.bodies()) == ["/u0", "/u1", "/u2"]
    assert all(len(b) == 1 for b in rx.bodies())
    rx.close()


def test_http_log_legacy_queue_size(gateway_factory, upstream):
    rx = HttpReceiver()
    gw = gateway_factory(config(service("svc", upstream, [
        route("h", ["/"], plugins=[{"name": "http-log", "config": {
            "http_endpoint": f"http://{HOST}:{rx.port}/", "queue_size": 2, "flush_timeout": 30}}]),
    ])), workers=1)
    for i in range(2):
        assert gw.request("GET", f"/l{i}").status == 200
    assert wait_until(lambda: len(rx.requests) == 1)
    assert [len(b) for b in rx.bodies()] == [2]
    assert "queue_size parameter is deprecated" in gw.stderr_text()
    rx.close()


def test_http_log_retries_after_a_500(gateway_factory, upstream):
    rx = HttpReceiver(statuses=[500, 500])
    gw = gateway_factory(config(service("svc", upstream, [
        route("h", ["/"], plugins=[{"name": "http-log", "config": {
            "http_endpoint": f"http://{HOST}:{rx.port}/", "queue": {"initial_retry_delay": 0.05}}}]),
    ])), workers=1)
    assert gw.request("GET", "/retry").status == 200
    assert wait_until(lambda: len(rx.requests) == 3)
    time.sleep(0.3)
    assert len(rx.requests) == 3  # the third succeeded: no more tries
    assert [e["request"]["uri"] for e in rx.bodies()] == ["/retry"] * 3
    assert "returned status code 500" in gw.stderr_text()
    rx.close()


def test_http_log_gives_up_after_max_retry_time(gateway_factory, upstream):
    rx = HttpReceiver(statuses=[500] * 100)
    gw = gateway_factory(config(service("svc", upstream, [
        route("h", ["/"], plugins=[{"name": "http-log", "config": {
            "http_endpoint": f"http://{HOST}:{rx.port}/",
            "queue": {"initial_retry_delay": 0.02, "max_retry_delay": 0.05, "max_retry_time": 0.3}}}]),
    ])), workers=1)
    assert gw.request("GET", "/lost").status == 200
    assert gw.wait_stderr(r"max_retry_time exceeded\. 1 queue entries were lost", timeout=5)
    n = len(rx.requests)
    assert n >= 3
    time.sleep(0.3)
    assert len(rx.requests) == n
    rx.close()


def test_http_log_sends_what_waits_when_the_gateway_stops(gateway_factory, upstream):
    rx = HttpReceiver()
    gw = gateway_factory(config(service("svc", upstream, [
        route("h", ["/"], plugins=[{"name": "http-log", "config": {
            "http_endpoint": f"http://{HOST}:{rx.port}/",
            "queue": {"max_batch_size": 10, "max_coalescing_delay": 60}}}]),
    ])), workers=1)
    for i in range(2):
        assert gw.request("GET", f"/s{i}").status == 200
    time.sleep(0.2)
    assert rx.requests == []  # coalescing for a minute
    started = time.monotonic()
    gw.stop(signal.SIGTERM, timeout=10)
    assert gw.proc.returncode == 0 and time.monotonic() - started < 5
    assert [[e["request"]["uri"] for e in b] for b in rx.bodies()] == [["/s0", "/s1"]]
    rx.close()


def test_receivers_named_by_dns(gateway_factory, upstream):
    dns = DnsServer()
    dns.records["logs.test"] = HOST
    http_rx, tcp_rx = HttpReceiver(), TcpReceiver()
    udp_rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_rx.bind((HOST, 0))
    udp_rx.settimeout(5)
    try:
        gw = gateway_factory(config(service("svc", upstream, [
            route("r", ["/"], plugins=[
                {"name": "http-log", "config": {"http_endpoint": f"http://logs.test:{http_rx.port}/in"}},
                {"name": "tcp-log", "config": {"host": "logs.test", "port": tcp_rx.port}},
                {"name": "udp-log", "config": {"host": "logs.test", "port": udp_rx.getsockname()[1]}},
            ]),
            route("ghost", ["/ghost"], plugins=[
                {"name": "tcp-log", "config": {"host": "nowhere.test", "port": tcp_rx.port}}]),
        ])), extra_args=["--dns-resolver", f"{HOST}:{dns.port}"], workers=1)
        assert gw.request("GET", "/named").status == 200
        assert wait_until(lambda: len(http_rx.requests) == 1 and len(tcp_rx.lines) == 1)
        assert http_rx.requests[0][2]["Host"] == f"logs.test:{http_rx.port}"
        assert json.loads(udp_rx.recvfrom(65536)[0])["request"]["uri"] == "/named"
        # A name that does not resolve loses its entries, not the request.
        assert gw.request("GET", "/ghost").status == 200
        assert gw.wait_stderr(r"\[tcp-log\] failed to connect to nowhere\.test:\d+: name did not resolve")
    finally:
        dns.close()
        http_rx.close()
        tcp_rx.close()
        udp_rx.close()


# ---- config errors ------------------------------------------------------------

def test_log_plugin_config_errors(wasmgate_bin, tmp_path, upstream):
    def plugin(name, cfg):
        return config(service("s", upstream, [route("r", ["/"])]), plugins=[{"name": name, "config": cfg}])

    cases = [
        (plugin("file-log", {}), "field 'config.path': required field missing"),
        (plugin("file-log", {"path": "/tmp/a*b"}), "not a valid filename"),
        (plugin("file-log", {"path": "/tmp/x", "custom_fields_by_lua": {"a": "return 1"}}),
         "field 'config.custom_fields_by_lua': not supported yet (it runs Lua code"),
        (plugin("udp-log", {"host": HOST}), "field 'config.port': required field missing"),
        (plugin("tcp-log", {"host": HOST, "port": 9, "tls": True}), "field 'config.tls': not supported yet"),
        (plugin("http-log", {"http_endpoint": "http://h/", "method": "GET"}),
         "field 'config.method': expected one of: POST, PUT, PATCH"),
        (plugin("http-log", {"http_endpoint": "127.0.0.1:9/"}), "missing scheme in url"),
        (plugin("http-log", {"http_endpoint": f"http://{HOST}:9/", "headers": {"Host": "x"}}),
         "cannot contain 'Host' header"),
        (plugin("http-log", {"http_endpoint": f"http://u:p@{HOST}:9/", "headers": {"authorization": "x"}}),
         "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"),
        (plugin("http-log", {"http_endpoint": f"http://{HOST}:9/", "queue": {"concurrency_limit": 2}}),
         "field 'config.queue.concurrency_limit': expected one of: -1, 1"),
        (plugin("http-log", {"http_endpoint": f"https://{HOST}:9/"}), "only http:// endpoints are supported yet"),
    ]
    for cfg, message in cases:
        rc, out = check(wasmgate_bin, tmp_path, cfg)
        assert rc == 1 and message in out, (message, out)
    rc, out = check(wasmgate_bin, tmp_path, plugin("http-log", {"http_endpoint": f"http://{HOST}:9/"}))
    assert rc == 0, out
