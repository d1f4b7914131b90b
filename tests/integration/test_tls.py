"""TLS termination (ssl listeners, certificates and snis entities, the
default certificate) and the https scheme the router and headers see.
Certificates are made at test time with the `cryptography` package."""
import datetime
import socket
import ssl
import subprocess

import pytest

from conftest import HOST, ClientConn, build_request, config, free_port, route, service, Upstream, UpConn, \
    echo_handler, wait_until

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID


# ---------------------------------------------------------------- certificates

class Pair:
    def __init__(self, cert, key):
        self.cert, self.key = cert, key

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()

    def write(self, d, name):
        c, k = d / f"{name}.crt", d / f"{name}.key"
        c.write_text(self.cert_pem)
        k.write_text(self.key_pem)
        return c, k


def make_ca(cn="wasmgate test CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return Pair(cert, key)


def make_leaf(ca: Pair, names, key_type="ec", expired=False, client=False):
    key = ec.generate_private_key(ec.SECP256R1()) if key_type == "ec" else rsa.generate_private_key(65537, 2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    else:
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Pair(cert, key)


@pytest.fixture(scope="module")
def ca():
    return make_ca()


# ---------------------------------------------------------------- helpers

def tls_gateway(gateway_factory, cfg, extra_args=()):
    plain, secure = free_port(), free_port()
    gw = gateway_factory(cfg, extra_args=["--proxy-listen", f"{HOST}:{plain}, {HOST}:{secure} ssl"] + list(extra_args),
                         listen_flag=False, port=plain)
    gw.tls_port = secure
    return gw


def client_context(ca_pair=None, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_pair is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=ca_pair.cert_pem)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def tls_conn(gw, server_name=None, ctx=None) -> ClientConn:
    c = ClientConn(gw.tls_port)
    ctx = ctx or client_context()
    c.sock = ctx.wrap_socket(c.sock, server_hostname=server_name)
    return c


def peer_cn(c: ClientConn) -> str:
    der = c.sock.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def cert_entity(pair: Pair, snis=(), alt: Pair = None):
    e = {"cert": pair.cert_pem, "key": pair.key_pem, "snis": [{"name": n} for n in snis]}
    if alt is not None:
        e["cert_alt"], e["key_alt"] = alt.cert_pem, alt.key_pem
    return e


# ---------------------------------------------------------------- termination

def test_https_request_reaches_upstream_with_https_scheme(gateway_factory, upstream):
    gw = tls_gateway(gateway_factory, config(service("s", upstream, routes=[route("r", ["/"])])))
    with tls_conn(gw, "test.local") as c:
        r = c.request("GET", "/hello")
        assert r.status == 200, r
        assert c.sock.selected_alpn_protocol() == "http/1.1"
    req = upstream.requests[-1]
    assert req.header("X-Forwarded-Proto") == "https"
    assert req.header("X-Forwarded-Port") == str(gw.tls_port)
    # The plain listener still speaks plain HTTP, with its own port.
    r = gw.request("GET", "/hello")
    assert r.status == 200
    assert upstream.requests[-1].header("X-Forwarded-Proto") == "http"
    assert upstream.requests[-1].header("X-Forwarded-Port") == str(gw.port)


def test_default_certificate_is_self_signed_localhost(gateway_factory, upstream):
    gw = tls_gateway(gateway_factory, config(service("s", upstream, routes=[route("r", ["/"])])))
    with tls_conn(gw, "unknown.example") as c:
        assert peer_cn(c) == "localhost"
        assert c.request("GET", "/").status == 200
    # A client that verifies refuses it (self-signed).
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_conn(gw, "localhost", client_context(make_ca("other")))


def test_default_certificate_from_flags(gateway_factory, upstream, ca, tmp_path):
    leaf = make_leaf(ca, ["default.test"], key_type="rsa")
    crt, key = leaf.write(tmp_path, "default")
    gw = tls_gateway(gateway_factory, config(service("s", upstream, routes=[route("r", ["/"])])),
                     ["--ssl-cert", str(crt), "--ssl-cert-key", str(key)])
    with tls_conn(gw, "default.test", client_context(ca)) as c:
        assert peer_cn(c) == "default.test"
        assert c.request("GET", "/").status == 200


def test_sni_selects_certificate_exact_wildcards_and_default(gateway_factory, upstream, ca):
    exact = make_leaf(ca, ["api.example.com"])
    prefix = make_leaf(ca, ["*.example.com"])
    suffix = make_leaf(ca, ["shop.example.*"])
    cfg = config(service("s", upstream, routes=[route("r", ["/"])]),
                 certificates=[cert_entity(exact, ["api.example.com"]), cert_entity(prefix, ["*.example.com"]),
                               cert_entity(suffix, ["shop.example.*"])])
    gw = tls_gateway(gateway_factory, cfg)
    cases = {"api.example.com": "api.example.com", "API.Example.com": "api.example.com",
             "www.example.com": "*.example.com", "shop.example.org": "shop.example.*",
             "example.com": "localhost", "other.test": "localhost", None: "localhost"}
    for name, want in cases.items():
        with tls_conn(gw, name) as c:
            assert peer_cn(c) == want, name
            assert c.request("GET", "/").status == 200


def test_catch_all_sni_replaces_the_default(gateway_factory, upstream, ca):
    leaf = make_leaf(ca, ["catch.all"])
    cfg = config(service("s", upstream, routes=[route("r", ["/"])]), certificates=[cert_entity(leaf, ["*"])])
    gw = tls_gateway(gateway_factory, cfg)
    with tls_conn(gw, "whatever.test") as c:
        assert peer_cn(c) == "catch.all"


def test_rsa_and_ecdsa_pair_on_one_certificate(gateway_factory, upstream, ca):
    ecdsa = make_leaf(ca, ["dual.test"], key_type="ec")
    rsa_leaf = make_leaf(ca, ["dual.test"], key_type="rsa")
    cfg = config(service("s", upstream, routes=[route("r", ["/"])]),
                 certificates=[cert_entity(ecdsa, ["dual.test"], alt=rsa_leaf)])
    gw = tls_gateway(gateway_factory, cfg)
    for ciphers, want in (("ECDHE-ECDSA-AES128-GCM-SHA256", ec.EllipticCurvePublicKey),
                          ("ECDHE-RSA-AES128-GCM-SHA256", rsa.RSAPublicKey)):
        ctx = client_context(ca, ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(ciphers)
        with tls_conn(gw, "dual.test", ctx) as c:
            key = x509.load_der_x509_certificate(c.sock.getpeercert(binary_form=True)).public_key()
            assert isinstance(key, want), ciphers
            assert c.request("GET", "/").status == 200


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_versions(gateway_factory, upstream, ca, version):
    leaf = make_leaf(ca, ["v.test"])
    cfg = config(service("s", upstream, routes=[route("r", ["/"])]), certificates=[cert_entity(leaf, ["v.test"])])
    gw = tls_gateway(gateway_factory, cfg)
    with tls_conn(gw, "v.test", client_context(ca, version)) as c:
        assert c.sock.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
        assert c.request("GET", "/").status == 200


def test_tls_1_1_refused(gateway_factory, upstream):
    gw = tls_gateway(gateway_factory, config(service("s", upstream, routes=[route("r", ["/"])])))
    ctx = client_context()
    try:
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except ValueError:
        pytest.skip("this Python's OpenSSL cannot offer TLS 1.1")
    with pytest.raises(ssl.SSLError):
        tls_conn(gw, "x.test", ctx)
    # The gateway keeps serving.
    with tls_conn(gw, "x.test") as c:
        assert c.request("GET", "/").status == 200


def test_keepalive_over_tls_and_large_bodies(gateway_factory, upstream):
    gw = tls_gateway(gateway_factory, config(service("s", upstream, routes=[route("r", ["/"])])))
    body = bytes(range(256)) * 4096  # 1 MiB: many records both ways
    with tls_conn(gw, "k.test") as c:
        for i in range(5):
            r = c.request("POST", f"/n{i}", body=body)
            assert r.status == 200, r
            assert body[:1000] in r.body or r.header("Content-Length")
    assert len(upstream.requests) == 5
    assert all(len(q.body) == len(body) and q.body == body for q in upstream.requests)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_resumption_with_tickets(gateway_factory, upstream, version):
    # Tickets are sealed with the process's key ring (rotated every 12 h).
    gw = tls_gateway(gateway_factory, config(service("s", upstream, routes=[route("r", ["/"])])))
    ctx = client_context(version=version)
    with tls_conn(gw, "t.test", ctx) as c:
        assert c.request("GET", "/").status == 200
        session = c.sock.session
    resumed = 0
    for _ in range(4):  # two workers: each must take the other's tickets
        c = ClientConn(gw.tls_port)
        c.sock = ctx.wrap_socket(c.sock, server_hostname="t.test", session=session)
        with c:
            assert c.request("GET", "/").status == 200
            resumed += c.sock.session_reused
    assert resumed == 4


def test_https_only_route_over_http(gateway_factory, upstream):
    cfg = config(service("s", upstream, routes=[
        route("only-https", ["/secure"], protocols=["https"]),
        route("redirect", ["/moved"], protocols=["https"], https_redirect_status_code=308),
        route("only-http", ["/plain"], protocols=["http"]),
    ]))
    gw = tls_gateway(gateway_factory, cfg)
    r = gw.request("GET", "/secure/x")
    assert r.status == 426
    assert r.json() == {"message": "Please use HTTPS protocol"}
    r = gw.request("GET", "/moved/x?a=1", host="Gw.Example")
    assert r.status == 308
    assert r.header("Location") == "https://gw.example/moved/x?a=1"
    with tls_conn(gw, "gw.example") as c:
        assert c.request("GET", "/secure/x").status == 200
        # An http-only route is no route for a TLS request.
        assert c.request("GET", "/plain").status == 404
    assert gw.request("GET", "/plain").status == 200


def test_route_snis_match_the_server_name(gateway_factory, upstream_factory):
    a, b = upstream_factory(), upstream_factory()
    cfg = config(service("a", a, routes=[route("ra", ["/"], protocols=["https"], snis=["a.test"])]),
                 service("b", b, routes=[route("rb", ["/"], protocols=["https"], snis=["b.test"])]))
    gw = tls_gateway(gateway_factory, cfg)
    with tls_conn(gw, "b.test") as c:
        assert c.request("GET", "/").status == 200
    with tls_conn(gw, "a.test") as c:
        assert c.request("GET", "/").status == 200
    assert len(a.requests) == 1 and len(b.requests) == 1


def test_bad_certificates_are_refused_by_check(wasmgate_bin, tmp_path, ca):
    good = make_leaf(ca, ["g.test"])
    other = make_leaf(ca, ["o.test"])
    cases = [
        ({"cert": "not a pem", "key": good.key_pem}, "invalid certificate"),
        ({"cert": good.cert_pem, "key": other.key_pem}, "does not match"),
        ({"cert": good.cert_pem, "key": good.key_pem, "cert_alt": other.cert_pem}, "cert_alt"),
    ]
    for i, (entity, needle) in enumerate(cases):
        p = tmp_path / f"bad{i}.yaml"
        import json
        p.write_text(json.dumps({"_format_version": "3.0", "certificates": [entity]}))
        out = subprocess.run([str(wasmgate_bin), "check", str(p)], capture_output=True, text=True)
        assert out.returncode != 0, entity
        assert needle in out.stdout + out.stderr, out.stdout + out.stderr


def test_handshake_garbage_leaves_the_gateway_serving(gateway_factory, upstream):
    gw = tls_gateway(gateway_factory, config(service("s", upstream, routes=[route("r", ["/"])])),
                     ["--log-level", "info"])
    s = socket.create_connection((HOST, gw.tls_port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP on the TLS port
    s.settimeout(5)
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    assert not data.startswith(b"HTTP/1.1 200")
    s.close()
    assert gw.wait_stderr("TLS handshake failed")
    with tls_conn(gw, "x.test") as c:
        assert c.request("GET", "/").status == 200


def test_curl_over_tls(gateway_factory, upstream, ca, tmp_path):
    leaf = make_leaf(ca, ["curl.test"])
    (tmp_path / "ca.pem").write_text(ca.cert_pem)
    cfg = config(service("s", upstream, routes=[route("r", ["/"])]), certificates=[cert_entity(leaf, ["curl.test"])])
    gw = tls_gateway(gateway_factory, cfg)
    out = subprocess.run(["curl", "-sS", "--cacert", str(tmp_path / "ca.pem"), "--resolve",
                          f"curl.test:{gw.tls_port}:{HOST}", f"https://curl.test:{gw.tls_port}/a",
                          f"https://curl.test:{gw.tls_port}/b", "-o", "/dev/null", "-o", "/dev/null",
                          "-w", "%{http_code} %{num_connects}\n"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["200 1", "200 0"]  # the second request reused the connection


def test_listen_flags(gateway_factory, upstream, wasmgate_bin, tmp_path):
    plain, secure = free_port(), free_port()
    gw = gateway_factory(config(service("s", upstream, routes=[route("r", ["/"])])),
                         extra_args=["--proxy-listen",
                                     f"{HOST}:{plain} reuseport backlog=128, {HOST}:{secure} ssl http2"],
                         listen_flag=False, port=plain)
    gw.tls_port = secure
    assert gw.request("GET", "/").status == 200
    with tls_conn(gw, "x.test") as c:
        assert c.request("GET", "/").status == 200
    assert gw.wait_stderr("flag 'http2' accepted and not acted on")
    p = subprocess.run([str(wasmgate_bin), "start", "--proxy-listen", f"{HOST}:{free_port()} proxy_protocol",
                        "--admin-listen", "off"], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert "proxy_protocol" in p.stderr


# ---------------------------------------------------------------- upstream TLS

class TlsUpstream(Upstream):
    """The conftest upstream behind TLS; records the SNI and client certificate of each handshake."""

    def __init__(self, pair: Pair, client_ca: Pair = None, **kw):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        import tempfile, os
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "c.pem"), "w") as f:
            f.write(pair.cert_pem)
        with open(os.path.join(d, "k.pem"), "w") as f:
            f.write(pair.key_pem)
        self.ctx.load_cert_chain(os.path.join(d, "c.pem"), os.path.join(d, "k.pem"))
        if client_ca is not None:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(cadata=client_ca.cert_pem)
        self.snis, self.client_cns, self.handshake_errors = [], [], []
        self.ctx.sni_callback = lambda sock, name, ctx: self.snis.append(name)
        super().__init__(**kw)

    def _accept_loop(self):
        while not self.stopped:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            s.settimeout(5)
            try:
                s = self.ctx.wrap_socket(s, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.handshake_errors.append(str(e))
                s.close()
                continue
            peer = s.getpeercert()
            if peer:
                self.client_cns.append(dict(x[0] for x in peer["subject"])["commonName"])
            with self.lock:
                idx = self.connections
                self.connections += 1
                c = UpConn(self, s, idx)
                self.conns.append(c)
            import threading
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()


def https_config(up, name="secure.test", cas=None, **svc):
    d = {"_format_version": "3.0",
         "upstreams": [{"name": "u", "host_header": name, "targets": [{"target": f"{HOST}:{up.port}"}]}],
         "services": [dict({"name": "s", "protocol": "https", "host": "u", "port": 443,
                            "routes": [{"name": "r", "paths": ["/"]}]}, **svc)]}
    if cas:
        d["ca_certificates"] = [{"id": ca_id, "cert": ca_pair.cert_pem} for ca_id, ca_pair in cas]
    return d


CA_ID = "6c5d0ea6-3a0c-4a3c-8f4f-0b1f3f7a2b11"


def test_upstream_https_verified(gateway_factory, ca):
    up = TlsUpstream(make_leaf(ca, ["secure.test"]))
    try:
        gw = gateway_factory(https_config(up, cas=[(CA_ID, ca)], tls_verify=True, ca_certificates=[CA_ID]))
        with gw.conn() as c:
            for i in range(3):  # keep-alive to the upstream over TLS too
                r = c.request("GET", f"/x{i}")
                assert r.status == 200, r
        assert up.snis == ["secure.test"]
        assert up.connections == 1
        assert up.requests[-1].header("Host") == f"secure.test:{up.port}"  # SNI: the Host without its port
    finally:
        up.close()


@pytest.mark.parametrize("problem,reason", [("expired", "certificate has expired"),
                                            ("wrong_name", "hostname mismatch"),
                                            ("unknown_ca", "unable to get local issuer certificate")])
def test_upstream_bad_certificate_refused_with_tls_verify(gateway_factory, ca, problem, reason):
    if problem == "expired":
        pair = make_leaf(ca, ["secure.test"], expired=True)
    elif problem == "wrong_name":
        pair = make_leaf(ca, ["other.test"])
    else:
        pair = make_leaf(make_ca("stranger"), ["secure.test"])
    up = TlsUpstream(pair)
    try:
        gw = gateway_factory(https_config(up, cas=[(CA_ID, ca)], tls_verify=True, ca_certificates=[CA_ID]))
        r = gw.request("GET", "/")
        assert r.status == 502
        assert r.json() == {"message": "An invalid response was received from the upstream server"}
        assert gw.wait_stderr(rf"upstream 127\.0\.0\.1:{up.port} \(secure\.test\): TLS handshake failed: {reason}")
        assert up.requests == []
        # Without tls_verify (Kong's default) the same upstream is used.
        gw2 = gateway_factory(https_config(up))
        assert gw2.request("GET", "/").status == 200
    finally:
        up.close()


def test_upstream_mtls_client_certificate(gateway_factory, ca):
    client_ca = make_ca("client CA")
    client = make_leaf(client_ca, ["gateway-client"], client=True)
    up = TlsUpstream(make_leaf(ca, ["secure.test"]), client_ca=client_ca)
    cert_id = "0b6a3d52-9d1f-4c1e-8f3e-7b9d2f6c1a22"
    try:
        # No client certificate: the upstream refuses it (TLS 1.3: with an
        # alert after the client's side of the handshake, on the first read).
        gw = gateway_factory(https_config(up))
        assert gw.request("GET", "/").status == 502
        assert gw.wait_stderr(r"upstream 127\.0\.0\.1:\d+: TLS error: tlsv13 alert certificate required")
        cfg = https_config(up, client_certificate={"id": cert_id})
        cfg["certificates"] = [{"id": cert_id, "cert": client.cert_pem, "key": client.key_pem}]
        gw2 = gateway_factory(cfg)
        r = gw2.request("GET", "/")
        assert r.status == 200, r
        assert up.client_cns == ["gateway-client"]
    finally:
        up.close()


def test_upstream_https_sni_not_sent_for_an_address(gateway_factory, ca):
    up = TlsUpstream(make_leaf(ca, ["secure.test"]))
    try:
        gw = gateway_factory(config({"name": "s", "url": f"https://{HOST}:{up.port}",
                                     "routes": [{"name": "r", "paths": ["/"]}]}))
        assert gw.request("GET", "/").status == 200
        assert up.snis == [None]
    finally:
        up.close()


def test_stalled_handshake_times_out(gateway_factory, upstream):
    gw = tls_gateway(gateway_factory, config(service("s", upstream, routes=[route("r", ["/"])])),
                     ["--client-timeout", "300"])
    s = socket.create_connection((HOST, gw.tls_port), timeout=5)
    s.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, and no more
    t0 = __import__("time").monotonic()
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    waited = __import__("time").monotonic() - t0
    assert data == b"" and 0.2 < waited < 3, (data, waited)
    s.close()
    with tls_conn(gw, "x.test") as c:
        assert c.request("GET", "/").status == 200
