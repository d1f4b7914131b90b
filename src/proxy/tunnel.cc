#include "proxy/tunnel.h"

#include "proxy/wire.h"

namespace wg::proxy {

Tunnel::Status Tunnel::pump() {
  bool moved = false;
  if (!pass(client_, upstream_, &moved) || !pass(upstream_, client_, &moved)) return Status::Failed;
  // Both ends said their last word and we passed each on: nothing is left.
  if (client_.eof && upstream_.eof && client_.shut && upstream_.shut) return Status::Done;
  return moved ? Status::Moved : Status::Idle;
}

bool Tunnel::pass(TunnelEnd& from, TunnelEnd& to, bool* moved) {
  core::Buffer& b = *from.in;
  for (;;) {
    if (!b.empty() && *to.writable) {
      const ssize_t n = to.io->write(b.data + b.start, b.size());
      if (n > 0) {
        b.consume(static_cast<size_t>(n));
        *from.moved += static_cast<uint64_t>(n);
        *moved = true;
        continue;
      }
      if (!would_block(n)) return false;  // the receiving end went away
      *to.writable = false;
    }
    if (from.eof) {
      // Its last bytes are delivered: pass the close on, once.
      if (b.empty() && !to.shut && *to.writable) {
        to.io->shutdown_write();
        to.shut = true;
        *moved = true;
      }
      return true;
    }
    if (!*from.readable) return true;
    if (b.end == b.cap) b.compact();
    if (b.end == b.cap) return true;  // full: `to` must take some first (backpressure)
    const size_t room = b.cap - b.end;
    const ssize_t n = from.io->read(b.data + b.end, room);
    if (n > 0) {
      b.end += static_cast<size_t>(n);
      // A short plain read drained the socket (see Stream::drained); bytes
      // decrypted but not yet returned keep a TLS end readable.
      if (from.io->drained(static_cast<size_t>(n), room) && !*from.hup) *from.readable = false;
      *moved = true;
      continue;
    }
    if (n == 0) {
      from.eof = true;
      *moved = true;
      continue;
    }
    if (!would_block(n)) return false;  // reset, or a TLS error
    *from.readable = false;
    return true;
  }
}

}  // namespace wg::proxy
