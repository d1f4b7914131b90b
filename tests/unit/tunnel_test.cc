// The byte tunnel between two non-blocking socket pairs: the "client" and
// "upstream" peers are the test's ends, the tunnel holds the other ends.
#include "proxy/tunnel.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

namespace {

using wg::proxy::Tunnel;
using wg::proxy::TunnelEnd;

struct Side {
  int peer = -1;  // the test's end
  wg::transport::Stream io;
  std::vector<char> storage;
  wg::core::Buffer in;
  bool readable = true, writable = true, hup = false;
  uint64_t moved = 0;

  explicit Side(size_t buffer) : storage(buffer) {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    peer = fds[0];
    io.attach(fds[1]);
    in.data = storage.data();
    in.cap = storage.size();
  }
  ~Side() {
    ::close(peer);
    ::close(io.fd());
  }
  TunnelEnd end() {
    TunnelEnd e;
    e.io = &io;
    e.in = &in;
    e.readable = &readable;
    e.writable = &writable;
    e.hup = &hup;
    e.moved = &moved;
    return e;
  }
  // What an epoll edge would say: everything may move again.
  void wake() { readable = writable = true; }
  std::string drain() {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(peer, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
};

Tunnel::Status pump_until_idle(Tunnel& t, Side& a, Side& b) {
  Tunnel::Status s;
  do {
    a.wake();
    b.wake();
    s = t.pump();
  } while (s == Tunnel::Status::Moved);
  return s;
}

TEST(Tunnel, MovesBytesBothWays) {
  Side client(64), upstream(64);
  Tunnel t(client.end(), upstream.end());
  ASSERT_EQ(::write(client.peer, "hello upstream", 14), 14);
  ASSERT_EQ(::write(upstream.peer, "hello client", 12), 12);
  EXPECT_EQ(pump_until_idle(t, client, upstream), Tunnel::Status::Idle);
  EXPECT_EQ(upstream.drain(), "hello upstream");
  EXPECT_EQ(client.drain(), "hello client");
  EXPECT_EQ(client.moved, 14u);
  EXPECT_EQ(upstream.moved, 12u);
}

TEST(Tunnel, BytesAlreadyBufferedGoFirst) {
  Side client(64), upstream(64);
  std::memcpy(client.in.data, "early", 5);
  client.in.end = 5;
  Tunnel t(client.end(), upstream.end());
  ASSERT_EQ(::write(client.peer, "-later", 6), 6);
  pump_until_idle(t, client, upstream);
  EXPECT_EQ(upstream.drain(), "early-later");
}

TEST(Tunnel, FullBufferStopsReadingUntilTheOtherSideTakesMore) {
  Side client(4096), upstream(4096);
  // A small receive queue for the upstream peer, so writes to it block.
  int small = 4096;
  setsockopt(upstream.io.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(upstream.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  Tunnel t(client.end(), upstream.end());
  const std::string payload(1 << 20, 'x');
  size_t written = 0, received = 0;
  // The client writes as fast as the tunnel lets it: it must block at some
  // point (the tunnel stopped reading), then everything arrives in order.
  bool blocked = false;
  while (received < payload.size()) {
    if (written < payload.size()) {
      ssize_t n = ::write(client.peer, payload.data() + written, payload.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0) blocked = true;
    }
    pump_until_idle(t, client, upstream);
    received += upstream.drain().size();
  }
  EXPECT_TRUE(blocked);
  EXPECT_EQ(received, payload.size());
  EXPECT_EQ(client.moved, payload.size());
}

TEST(Tunnel, HalfCloseIsPassedOnAndTheOtherDirectionGoesOn) {
  Side client(64), upstream(64);
  Tunnel t(client.end(), upstream.end());
  ASSERT_EQ(::write(client.peer, "last words", 10), 10);
  ::shutdown(client.peer, SHUT_WR);
  EXPECT_EQ(pump_until_idle(t, client, upstream), Tunnel::Status::Idle);
  char buf[32];
  EXPECT_EQ(::read(upstream.peer, buf, sizeof buf), 10);
  EXPECT_EQ(::read(upstream.peer, buf, sizeof buf), 0);  // the FIN was passed on
  // The upstream still talks.
  ASSERT_EQ(::write(upstream.peer, "reply", 5), 5);
  EXPECT_EQ(pump_until_idle(t, client, upstream), Tunnel::Status::Idle);
  EXPECT_EQ(client.drain(), "reply");
  // Its close ends the tunnel.
  ::shutdown(upstream.peer, SHUT_WR);
  EXPECT_EQ(pump_until_idle(t, client, upstream), Tunnel::Status::Done);
}

TEST(Tunnel, WriteToAClosedSideFails) {
  Side client(64), upstream(64);
  std::signal(SIGPIPE, SIG_IGN);  // as the gateway does
  Tunnel t(client.end(), upstream.end());
  ::close(upstream.peer);
  upstream.peer = -1;
  ASSERT_EQ(::write(client.peer, "into the void", 13), 13);
  Tunnel::Status s = pump_until_idle(t, client, upstream);
  // Closed without reading: the write fails (EPIPE), or the read side sees
  // EOF first and the tunnel then fails writing or ends.
  EXPECT_NE(s, Tunnel::Status::Idle);
}

}  // namespace
