// The WASI calls SDK runtimes actually import: output to the error log,
// clocks, randomness, empty environment and arguments, and answers that
// keep runtimes from blocking a worker.
#include <time.h>

#include <cstring>
#include <random>

#include "wasm/host/host.h"

namespace wg::wasm::host {
namespace {

uint32_t wasi_status(uint32_t proxy_status) { return proxy_status == kOk ? kWasiSuccess : kWasiInval; }

// Total length of an iovec array (the caller checked it is in memory).
uint32_t iov_total(Vm& vm, uint32_t iovs, uint32_t count) {
  uint32_t total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t n;
    std::memcpy(&n, vm.memory(iovs + i * 8, 8) + 4, 4);
    total += n;
  }
  return total;
}

// fd_write(fd, iovs, iovs_len, nwritten): stdout/stderr go to the error log.
WG_HOST(wasi_fd_write) {
  WG_UNUSED_HOST;
  Args in(vm, a);
  uint32_t fd = in.u32(0);
  if (fd != 1 && fd != 2) return answer_with(r, kWasiBadf);
  std::string text;
  for (uint32_t i = 0; i < in.u32(2); ++i) {
    uint8_t* iov = vm.memory(in.u32(1) + i * 8, 8);
    if (iov == nullptr) return answer_with(r, kWasiInval);
    uint32_t p, n;
    std::memcpy(&p, iov, 4);
    std::memcpy(&n, iov + 4, 4);
    std::string_view part;
    if (!vm.read_string(p, n, &part)) return answer_with(r, kWasiInval);
    text.append(part);
  }
  // Runtimes write a line in many pieces (Go's panics byte by byte): log
  // whole lines; FilterVm::call flushes what is left when the call ends.
  FilterVm& f = Access::self(host);
  std::string& line = Access::output_line(f, fd);
  line.append(text);
  size_t nl;
  while ((nl = line.find('\n')) != std::string::npos) {
    Access::log_output(f, fd, std::string_view(line).substr(0, nl));
    line.erase(0, nl + 1);
  }
  if (line.size() > 4096) {
    Access::log_output(f, fd, line);
    line.clear();
  }
  return answer_with(r, wasi_status(in.put_u32(3, iov_total(vm, in.u32(1), in.u32(2)))));
}

WG_HOST(wasi_clock_time_get) {
  WG_UNUSED_HOST;
  timespec ts;
  clock_gettime(a[0] == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  return answer_with(r, wasi_status(Args(vm, a).put_u64(2, ns)));
}

WG_HOST(wasi_clock_res_get) {
  WG_UNUSED_HOST;
  return answer_with(r, wasi_status(Args(vm, a).put_u64(1, 1000)));
}

WG_HOST(wasi_random_get) {
  WG_UNUSED_HOST;
  uint32_t len = static_cast<uint32_t>(a[1]);
  uint8_t* p = len > 65536 ? nullptr : vm.memory(static_cast<uint32_t>(a[0]), len);
  if (p == nullptr) return answer_with(r, kWasiInval);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  for (uint32_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(rng());
  return answer_with(r, kWasiSuccess);
}

// environ_sizes_get / args_sizes_get: zero entries, zero bytes.
WG_HOST(wasi_sizes_zero) {
  WG_UNUSED_HOST;
  Args in(vm, a);
  return answer_with(r, in.put_u32(0, 0) == kOk && in.put_u32(1, 0) == kOk ? kWasiSuccess : kWasiInval);
}

// A character device with no rights beyond writing, for stdout/stderr.
WG_HOST(wasi_fd_fdstat_get) {
  WG_UNUSED_HOST;
  uint8_t* p = vm.memory(static_cast<uint32_t>(a[1]), 24);
  if (p == nullptr) return answer_with(r, kWasiInval);
  std::memset(p, 0, 24);
  p[0] = 2;  // filetype: character_device
  return answer_with(r, a[0] <= 2 ? kWasiSuccess : kWasiBadf);
}

WG_HOST(wasi_proc_exit) {
  WG_UNUSED_HOST;
  *trap = "proc_exit(" + std::to_string(a[0]) + ")";
  return false;
}

// poll_oneoff(in, out, nsubscriptions, *nevents): every subscription is
// reported ready at once. Filters must not block a worker; Go's runtime
// only uses it to sleep (and dies with "panic during panic" if it fails).
WG_HOST(wasi_poll_oneoff) {
  WG_UNUSED_HOST;
  uint32_t n = static_cast<uint32_t>(a[2]);
  uint8_t* subs = n > 1024 ? nullptr : vm.memory(static_cast<uint32_t>(a[0]), n * 48);
  uint8_t* out = n > 1024 ? nullptr : vm.memory(static_cast<uint32_t>(a[1]), n * 32);
  if (subs == nullptr || out == nullptr) return answer_with(r, kWasiInval);
  for (uint32_t i = 0; i < n; ++i) {
    uint8_t* ev = out + i * 32;
    std::memset(ev, 0, 32);
    std::memcpy(ev, subs + i * 48, 8);  // userdata
    ev[10] = subs[i * 48 + 8];          // type = the subscription's tag
  }
  return answer_with(r, wasi_status(Args(vm, a).put_u32(3, n)));
}

}  // namespace

void add_wasi(std::vector<HostFunc>* t) {
  for (const char* wasi : {"wasi_snapshot_preview1", "wasi_unstable"}) {
    t->insert(t->end(), {
                            {wasi, "fd_write", "iiii", "i", wasi_fd_write},
                            {wasi, "fd_read", "iiii", "i", answer<kWasiBadf>},
                            {wasi, "fd_close", "i", "i", answer<kWasiBadf>},
                            {wasi, "fd_seek", "iIii", "i", answer<kWasiBadf>},
                            {wasi, "fd_fdstat_get", "ii", "i", wasi_fd_fdstat_get},
                            {wasi, "fd_fdstat_set_flags", "ii", "i", answer<kWasiNosys>},
                            {wasi, "fd_prestat_get", "ii", "i", answer<kWasiBadf>},
                            {wasi, "fd_prestat_dir_name", "iii", "i", answer<kWasiBadf>},
                            {wasi, "clock_time_get", "iIi", "i", wasi_clock_time_get},
                            {wasi, "clock_res_get", "ii", "i", wasi_clock_res_get},
                            {wasi, "random_get", "ii", "i", wasi_random_get},
                            {wasi, "environ_sizes_get", "ii", "i", wasi_sizes_zero},
                            {wasi, "environ_get", "ii", "i", answer<kWasiSuccess>},
                            {wasi, "args_sizes_get", "ii", "i", wasi_sizes_zero},
                            {wasi, "args_get", "ii", "i", answer<kWasiSuccess>},
                            {wasi, "sched_yield", "", "i", answer<kWasiSuccess>},
                            {wasi, "poll_oneoff", "iiii", "i", wasi_poll_oneoff},
                            {wasi, "proc_exit", "i", "", wasi_proc_exit},
                        });
  }
}

}  // namespace wg::wasm::host
