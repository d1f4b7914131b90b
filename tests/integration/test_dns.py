"""Target names are resolved with their DNS TTL and resolved again when it
runs out: a tiny DNS server on loopback answers `svc.test` with an address we
switch during the test, and the gateway follows it without a reload."""
import socket
import struct
import threading
import time

import pytest

from conftest import config, route, wait_until


class DnsServer:
    """Answers A queries from a dict, with TTL `ttl` (1); AAAA with no records."""

    def __init__(self):
        self.records = {}
        self.ttl = 1
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            self.queries += 1
            qid, _flags, qd = struct.unpack(">HHH", data[:6])
            pos, labels = 12, []
            while data[pos]:
                n = data[pos]
                labels.append(data[pos + 1:pos + 1 + n].decode())
                pos += 1 + n
            qtype, _qclass = struct.unpack(">HH", data[pos + 1:pos + 5])
            question = data[12:pos + 5]
            name = ".".join(labels).lower()
            answers = b""
            count = 0
            rcode = 0
            if name not in self.records:
                rcode = 3  # NXDOMAIN
            elif qtype == 1:
                ip = socket.inet_aton(self.records[name])
                answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, self.ttl, 4) + ip
                count = 1
            header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, count, 0, 0)
            self.sock.sendto(header + question + answers, peer)

    def close(self):
        self.stopped = True
        self.thread.join()
        self.sock.close()


def address_server(ip, port):
    """An HTTP server on ip:port that answers with its own address."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(64)
    stop = threading.Event()

    def handle(c):
        f = c.makefile("rb")
        while True:
            line = f.readline()
            if not line:
                break
            while f.readline() not in (b"\r\n", b""):
                pass
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ip), ip.encode()))
        c.close()

    def loop():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                break  # closed by the test
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return s, stop


def common_free_port():
    for _ in range(50):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        try:
            other = socket.socket()
            other.bind(("127.0.0.2", port))
            other.close()
            return port
        except OSError:
            continue
    pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.fixture
def dns():
    d = DnsServer()
    yield d
    d.close()


@pytest.mark.parametrize("via_upstream", [False, True])
def test_names_follow_their_ttl(gateway_factory, dns, via_upstream):
    port = common_free_port()
    s1, stop1 = address_server("127.0.0.1", port)
    s2, stop2 = address_server("127.0.0.2", port)
    try:
        dns.records["svc.test"] = "127.0.0.1"
        if via_upstream:
            cfg = config({"name": "s", "host": "pool", "port": 80, "routes": [route("r", ["/"])]})
            cfg["upstreams"] = [{"name": "pool", "targets": [{"target": f"svc.test:{port}"}]}]
        else:
            cfg = config({"name": "s", "url": f"http://svc.test:{port}", "routes": [route("r", ["/"])]})
        gw = gateway_factory(cfg, extra_args=["--dns-resolver", f"127.0.0.1:{dns.port}"], workers=1)

        def answer():
            with gw.conn() as c:
                return c.request("GET", "/").body

        assert answer() == b"127.0.0.1"
        dns.records["svc.test"] = "127.0.0.2"
        # TTL 1 s: the gateway resolves again and moves, with no reload.
        assert wait_until(lambda: answer() == b"127.0.0.2", timeout=8, interval=0.2)
        assert dns.queries >= 2
    finally:
        stop1.set()
        stop2.set()
        s1.close()
        s2.close()


def test_unresolvable_service_answers_503(gateway_factory, dns):
    cfg = config({"name": "s", "url": "http://nowhere.test:8080", "routes": [route("r", ["/"])]})
    gw = gateway_factory(cfg, extra_args=["--dns-resolver", f"127.0.0.1:{dns.port}"])
    with gw.conn() as c:
        r = c.request("GET", "/")
    assert r.status == 503
    assert r.json() == {"message": "name resolution failed"}
