"""A real gRPC server on 127.0.0.1 for the tests (Python grpcio), without
protoc: generic handlers on raw bytes for service test.Echo.

Methods:
* Unary    -- answers b"echo:" + request + b";md=" + the x-md metadata, with
              initial metadata x-initial: yes and trailing x-trailing: done.
* Fail     -- aborts with NOT_FOUND and "no such thing".
* Slow     -- sleeps 2 s, then answers like Unary (for deadlines).
* Big      -- answers as many bytes as the request's decimal value says.
* Chat     -- bidirectional: b"echo:" + each request, then trailing metadata.
Anything else answers UNIMPLEMENTED (grpcio's own answer).
"""
from __future__ import annotations

import time
from concurrent import futures

import grpc


def _md(context, name):
    for k, v in context.invocation_metadata():
        if k == name:
            return v
    return ""


def _unary(request: bytes, context) -> bytes:
    context.send_initial_metadata((("x-initial", "yes"),))
    context.set_trailing_metadata((("x-trailing", "done"),))
    return b"echo:" + request + b";md=" + _md(context, "x-md").encode()


def _fail(request: bytes, context) -> bytes:
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def _slow(request: bytes, context) -> bytes:
    time.sleep(2)
    return _unary(request, context)


def _big(request: bytes, context) -> bytes:
    return b"b" * int(request)


def _chat(requests, context):
    context.send_initial_metadata((("x-initial", "yes"),))
    for r in requests:
        yield b"echo:" + r
    context.set_trailing_metadata((("x-trailing", "done"),))


class GrpcServer:
    """tls: a (cert PEM, key PEM) pair to serve gRPC over TLS (ALPN h2) instead of h2c.
    peers: the client address ("ipv4:127.0.0.1:PORT") of each Unary call, which tells
    the connection it came on."""

    def __init__(self, tls=None):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                                  options=[("grpc.max_send_message_length", 16 << 20)])
        self.peers = []

        def unary(request, context):
            self.peers.append(context.peer())
            return _unary(request, context)

        raw = dict(request_deserializer=None, response_serializer=None)
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(unary, **raw),
            "Fail": grpc.unary_unary_rpc_method_handler(_fail, **raw),
            "Slow": grpc.unary_unary_rpc_method_handler(_slow, **raw),
            "Big": grpc.unary_unary_rpc_method_handler(_big, **raw),
            "Chat": grpc.stream_stream_rpc_method_handler(_chat, **raw),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
        if tls is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            creds = grpc.ssl_server_credentials([(tls[1].encode(), tls[0].encode())])
            self.port = self.server.add_secure_port("127.0.0.1:0", creds)
        self.server.start()

    def close(self):
        self.server.stop(0)
