//! Re-exports Wasmtime's C API so that the `staticlib` produced by this crate
//! (libwasmgate_wasmtime.a, installed as libwasmtime.a) contains every
//! `wasm_*` / `wasmtime_*` / `wasi_*` symbol the crate defines. The headers
//! that describe them are copied by build.rs; see README.md.
pub use wasmtime_c_api::*;
