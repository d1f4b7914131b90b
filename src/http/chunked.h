// Validating scanner for chunked transfer coding (RFC 9112 section 7.1).
// The proxy forwards chunked bodies byte for byte; this scanner only decides
// how many of the bytes belong to the body and rejects framing that another
// parser could read differently (bad sizes, bare LF, missing CRLF after data).
#pragma once

#include <cstddef>
#include <cstdint>

namespace wg::http {

class ChunkedScanner {
 public:
  enum class Result { NeedMore, Done, Error };

  // Scans data[0, len); *consumed is set to how many bytes belong to the body
  // (all of them unless the body ends inside the buffer). data_out is called
  // for each run of payload bytes (for de-chunking), trailer_out for the
  // bytes of the trailer section: each field line, ended by '\n' (no CR).
  template <typename Sink, typename TrailerSink>
  Result scan(const char* data, size_t len, size_t* consumed, Sink&& data_out, TrailerSink&& trailer_out);
  template <typename Sink>
  Result scan(const char* data, size_t len, size_t* consumed, Sink&& data_out) {
    return scan(data, len, consumed, data_out, [](const char*, size_t) {});
  }
  Result scan(const char* data, size_t len, size_t* consumed) {
    return scan(data, len, consumed, [](const char*, size_t) {});
  }
  void reset() { *this = ChunkedScanner(); }
  uint64_t payload_bytes() const { return payload_; }

 private:
  enum class State : uint8_t {
    Size, SizeWs, Ext, SizeLf, Data, DataCr, DataLf, TrailerStart, Trailer, TrailerLf, FinalLf, Done
  };
  static constexpr uint32_t kMaxTrailer = 16384;
  State state_ = State::Size;
  uint8_t size_digits_ = 0;
  uint64_t remaining_ = 0;
  uint64_t payload_ = 0;
  uint32_t trailer_bytes_ = 0;
};

template <typename Sink, typename TrailerSink>
ChunkedScanner::Result ChunkedScanner::scan(const char* data, size_t len, size_t* consumed, Sink&& data_out,
                                            TrailerSink&& trailer_out) {
  size_t i = 0;
  while (i < len) {
    char c = data[i];
    switch (state_) {
      case State::Size: {
        int v = (c >= '0' && c <= '9') ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (v >= 0) {
          if (++size_digits_ > 15) return Result::Error;
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
          ++i;
          break;
        }
        if (size_digits_ == 0) return Result::Error;
        state_ = State::SizeWs;
        break;
      }
      case State::SizeWs:
        if (c == ' ' || c == '\t') { ++i; break; }
        if (c == ';') { state_ = State::Ext; ++i; break; }
        if (c == '\r') { state_ = State::SizeLf; ++i; break; }
        return Result::Error;
      case State::Ext:
        if (c == '\r') { state_ = State::SizeLf; ++i; break; }
        if (c == '\n' || (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return Result::Error;
        ++i;
        break;
      case State::SizeLf:
        if (c != '\n') return Result::Error;
        ++i;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? State::TrailerStart : State::Data;
        break;
      case State::Data: {
        size_t n = len - i;
        if (n > remaining_) n = static_cast<size_t>(remaining_);
        data_out(data + i, n);
        remaining_ -= n;
        payload_ += n;
        i += n;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (c != '\r') return Result::Error;
        state_ = State::DataLf;
        ++i;
        break;
      case State::DataLf:
        if (c != '\n') return Result::Error;
        state_ = State::Size;
        ++i;
        break;
      case State::TrailerStart:
        if (c == '\r') { state_ = State::FinalLf; ++i; break; }
        state_ = State::Trailer;
        break;
      case State::Trailer:
        if (++trailer_bytes_ > kMaxTrailer) return Result::Error;
        if (c == '\r') { state_ = State::TrailerLf; ++i; break; }
        if (c == '\n' || c == 0) return Result::Error;
        trailer_out(data + i, 1);
        ++i;
        break;
      case State::TrailerLf:
        if (c != '\n') return Result::Error;
        trailer_out("\n", 1);
        state_ = State::TrailerStart;
        ++i;
        break;
      case State::FinalLf:
        if (c != '\n') return Result::Error;
        state_ = State::Done;
        *consumed = i + 1;
        return Result::Done;
      case State::Done:
        *consumed = i;
        return Result::Done;
    }
  }
  *consumed = i;
  return state_ == State::Done ? Result::Done : Result::NeedMore;
}

}  // namespace wg::http
