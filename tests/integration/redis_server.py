"""A real redis-server for the tests of the plugins' policy redis (a pytest
fixture that starts one on a free loopback port and stops it), and a raw
RESP client to look into it (no library needed)."""

import shutil
import socket
import subprocess

import pytest

from conftest import HOST, free_port, wait_until


def resp(*args) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest.decode() if kind == b"+" else RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    raise RuntimeError(f"bad reply {line!r}")


def redis(port, *args, timeout=5.0):
    """One command on a fresh connection (a raw RESP client: no library)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(resp(*args))
        return read_reply(s.makefile("rb"))


class RedisServer:
    def __init__(self, tmp_path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server not installed (scripts/install-deps.sh installs it)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", HOST, "-::1", "--save", "", "--appendonly", "no",
             "--enable-debug-command", "local", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(self._up, timeout=10), "redis-server did not start"

    def _up(self):
        try:
            return redis(self.port, "PING") == "PONG"
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server(tmp_path):
    r = RedisServer(tmp_path)
    yield r
    r.stop()
