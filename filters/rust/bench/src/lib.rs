//! wasmgate's minimal header-adding filter on the Rust SDK (crate
//! `proxy-wasm` 0.2.1), for bench/ (`wasmgate-rust`,
//! build/filters/bench_rust.wasm): request header `x-chain: A`, response
//! header `x-chain-resp: A`, nothing else — what nginx's two Lua handlers in
//! the bench do. A root context that makes one HTTP context per request, as
//! filters on this SDK are usually written.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(BenchRoot) });
}}

struct BenchRoot;

impl Context for BenchRoot {}

impl RootContext for BenchRoot {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(AddChainHeaders))
    }
}

struct AddChainHeaders;

impl Context for AddChainHeaders {}

impl HttpContext for AddChainHeaders {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.add_http_request_header("x-chain", "A");
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.add_http_response_header("x-chain-resp", "A");
        Action::Continue
    }
}
