// A byte tunnel between two streams: what a connection becomes after an
// upgrade (101 Switching Protocols, WebSocket). No HTTP any more: bytes read
// from one side are written to the other from the buffer they were read
// into (zero-copy), a side stops being read while its buffer is full
// (backpressure: the other side cannot take more), and a side's close is
// passed on as a half-close once its last bytes are written.
//
// The tunnel owns nothing: the streams, buffers and readiness flags are the
// session's and its upstream connection's, so the edge-triggered
// bookkeeping stays where the events arrive (Session::on_io, Conn::on_io).
#pragma once

#include <cstdint>

#include "core/buffer.h"
#include "transport/stream.h"

namespace wg::proxy {

// One end of the tunnel, as its owner tracks it.
struct TunnelEnd {
  transport::Stream* io = nullptr;
  core::Buffer* in = nullptr;  // bytes read from this end, not yet written to the other
  bool* readable = nullptr;    // an edge seen, not yet read to EAGAIN
  bool* writable = nullptr;    // cleared when a write would block
  const bool* hup = nullptr;   // the peer's close (or an error) was signalled
  uint64_t* moved = nullptr;   // bytes from this end written to the other (log counters)
  bool eof = false;            // this end sent its last byte
  bool shut = false;           // we half-closed our writing towards this end
};

class Tunnel {
 public:
  enum class Status : uint8_t {
    Idle,    // nothing could move: wait for an event
    Moved,   // bytes (or a half-close) moved
    Done,    // both ends closed their sending and every byte was delivered
    Failed,  // an end reset the connection or failed a read or write
  };

  Tunnel(const TunnelEnd& client, const TunnelEnd& upstream) : client_(client), upstream_(upstream) {}

  // Moves all it can both ways.
  Status pump();
  // Whether bytes wait for that end to take them (picks the timeout that
  // applies: nginx's send timeouts while blocked, the read timeout otherwise).
  bool upstream_blocked() const { return !*upstream_.writable && !client_.in->empty(); }
  bool client_blocked() const { return !*client_.writable && !upstream_.in->empty(); }

 private:
  // One direction: from's bytes to `to`; false when a read or write failed.
  bool pass(TunnelEnd& from, TunnelEnd& to, bool* moved);

  TunnelEnd client_, upstream_;
};

}  // namespace wg::proxy
