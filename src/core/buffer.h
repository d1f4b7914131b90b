// Fixed-capacity byte buffers recycled through a per-worker free list, so the
// hot path never calls the allocator once a worker is warm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace wg::core {

struct Buffer {
  char* data = nullptr;
  size_t cap = 0;
  size_t start = 0;  // first unconsumed byte
  size_t end = 0;    // one past the last byte read

  size_t size() const { return end - start; }
  bool empty() const { return start == end; }
  // Moves unconsumed bytes to the front so reads can fill the rest.
  void compact() {
    if (start == 0) return;
    if (start != end) std::memmove(data, data + start, end - start);
    end -= start;
    start = 0;
  }
  void consume(size_t n) {
    start += n;
    if (start == end) start = end = 0;
  }
};

class BufferPool {
 public:
  explicit BufferPool(size_t buffer_size) : size_(buffer_size) {}
  ~BufferPool() {
    for (char* p : free_) delete[] p;
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  void acquire(Buffer& b) {
    if (b.data != nullptr) return;
    if (free_.empty()) {
      b.data = new char[size_];
    } else {
      b.data = free_.back();
      free_.pop_back();
    }
    b.cap = size_;
    b.start = b.end = 0;
  }
  // Returns an empty buffer's memory to the pool.
  void release(Buffer& b) {
    if (b.data == nullptr) return;
    if (free_.size() < 1024) {
      free_.push_back(b.data);
    } else {
      delete[] b.data;
    }
    b = Buffer();
  }
  size_t buffer_size() const { return size_; }

 private:
  size_t size_;
  std::vector<char*> free_;
};

}  // namespace wg::core
