// ngx.socket.tcp's C side: a non-blocking TCP (or unix) socket on the
// worker's event loop, owned by a Lua userdata. Each primitive does what it
// can without blocking and answers "again" when it would block; the Lua
// side (prelude.cc) then waits on the socket (the coroutine yields, the
// worker serves others, WorkerLua resumes it when the socket is ready or
// the timeout is over) and asks again. setkeepalive hands the connection
// to the worker's idle pool, keyed by host:port, where the next connect to
// the same place takes it.
#pragma once

#include <lua.hpp>

namespace wg::lua {

// Adds the socket primitives (tcp, sock_*, resolve) to the table on top of
// L's stack.
void add_cosocket_primitives(lua_State* L);

// Closes the idle connections this thread's pool holds (worker end).
void close_idle_sockets();

// OpenResty's error when a yielding API is called where it cannot wait
// (header_filter, body_filter, log, init_worker): raised in L.
void check_can_wait(lua_State* L);

}  // namespace wg::lua
