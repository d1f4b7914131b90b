// Thin helpers over the raw Proxy-Wasm imports. Host-allocated results come
// back through `malloc` (an __retain'ed ArrayBuffer); we copy them and release
// them with the runtime's `free`.
import * as imports from "@solo-io/proxy-runtime/imports";
import { free } from "@solo-io/proxy-runtime/malloc";
import { LogLevelValues, WasmResultValues } from "@solo-io/proxy-runtime";

// Not declared by proxy-runtime 0.1.8: it declares proxy_set_buffer_status
// bound to the *get* import, and has no proxy_get_log_level (an ABI 0.2.1
// function; wasmgate provides it to every module).
// @ts-ignore: decorator
@external("env", "proxy_set_buffer_bytes")
declare function proxy_set_buffer_bytes(typ: i32, start: u32, length: u32, data: usize, size: usize): u32;
// @ts-ignore: decorator
@external("env", "proxy_get_log_level")
declare function proxy_get_log_level(level_ptr: usize): u32;

export const MAP_REQUEST: i32 = 0;
export const MAP_RESPONSE: i32 = 2;
export const MAP_CALL_RESPONSE: i32 = 6;
export const BUF_REQUEST_BODY: i32 = 0;
export const BUF_RESPONSE_BODY: i32 = 1;
export const BUF_CALL_BODY: i32 = 4;
export const BUF_PLUGIN_CONFIG: i32 = 7;
export const METRIC_COUNTER: i32 = 0;
export const METRIC_GAUGE: i32 = 1;
export const METRIC_HISTOGRAM: i32 = 2;

// Out-parameters: [0] data pointer, [4] size, [8] u32 (cas / id / level).
const scratch = new ArrayBuffer(16);
export function scratchPtr(): usize { return changetype<usize>(scratch); }
export function scratchSize(): usize { return changetype<usize>(scratch) + 4; }
export function scratchU32(): usize { return changetype<usize>(scratch) + 8; }

function clearScratch(): void {
  store<u32>(scratchPtr(), 0);
  store<u32>(scratchSize(), 0);
  store<u32>(scratchU32(), 0);
}

// Takes the host-allocated block named by the scratch pointer/size.
export function takeScratchString(): string {
  let p = load<usize>(scratchPtr());
  let n = load<usize>(scratchSize());
  if (p == 0) return "";
  let s = String.UTF8.decodeUnsafe(p, n);
  free(p);
  return s;
}

function takeScratchBytes(): ArrayBuffer {
  let p = load<usize>(scratchPtr());
  let n = load<usize>(scratchSize());
  let out = new ArrayBuffer(<i32>n);
  if (p == 0) return out;
  memory.copy(changetype<usize>(out), p, n);
  free(p);
  return out;
}

export function logAt(level: LogLevelValues, msg: string): void {
  let b = String.UTF8.encode(msg);
  imports.proxy_log(level, changetype<usize>(b), b.byteLength);
}

export function getLogLevel(): u32 {
  clearScratch();
  let rc = proxy_get_log_level(scratchU32());
  if (rc != WasmResultValues.Ok) return 0;
  return load<u32>(scratchU32());
}

export function getHeader(map: i32, key: string): string | null {
  clearScratch();
  let k = String.UTF8.encode(key);
  let rc = imports.proxy_get_header_map_value(map, changetype<usize>(k), k.byteLength, scratchPtr(), scratchSize());
  if (rc != WasmResultValues.Ok) return null;
  return takeScratchString();
}

export function addHeader(map: i32, key: string, value: string): u32 {
  let k = String.UTF8.encode(key);
  let v = String.UTF8.encode(value);
  return imports.proxy_add_header_map_value(map, changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength);
}

export function replaceHeader(map: i32, key: string, value: string): u32 {
  let k = String.UTF8.encode(key);
  let v = String.UTF8.encode(value);
  return imports.proxy_replace_header_map_value(map, changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength);
}

export function removeHeader(map: i32, key: string): u32 {
  let k = String.UTF8.encode(key);
  return imports.proxy_remove_header_map_value(map, changetype<usize>(k), k.byteLength);
}

export function getBufferBytes(typ: i32, start: u32, max: u32): ArrayBuffer {
  clearScratch();
  let rc = imports.proxy_get_buffer_bytes(typ, start, max, scratchPtr(), scratchSize());
  if (rc != WasmResultValues.Ok) {
    logAt(LogLevelValues.warn, "conf_as: get_buffer_bytes(" + typ.toString() + ") failed: " + rc.toString());
    return new ArrayBuffer(0);
  }
  return takeScratchBytes();
}

export function getBufferString(typ: i32, start: u32, max: u32): string {
  return String.UTF8.decode(getBufferBytes(typ, start, max));
}

export function setBufferBytes(typ: i32, start: u32, size: u32, data: ArrayBuffer): u32 {
  return proxy_set_buffer_bytes(typ, start, size, changetype<usize>(data), data.byteLength);
}

// `path` uses NUL between segments, as the ABI says.
export function getProperty(path: string): string | null {
  clearScratch();
  let p = String.UTF8.encode(path);
  let rc = imports.proxy_get_property(changetype<usize>(p), p.byteLength, scratchPtr(), scratchSize());
  if (rc != WasmResultValues.Ok) return null;
  return takeScratchString();
}

export function setProperty(path: string, value: string): u32 {
  let p = String.UTF8.encode(path);
  let v = String.UTF8.encode(value);
  return imports.proxy_set_property(changetype<usize>(p), p.byteLength, changetype<usize>(v), v.byteLength);
}

// `v` or, when null, `d`. Use this rather than `v === null ? d : v` as a call
// argument: assemblyscript 0.14 releases such a ternary's non-null operand
// once too often (ARC double free -> abort in ~lib/rt/pure.ts).
export function or(v: string | null, d: string): string {
  if (v === null) return d;
  return v;
}

// Shared data. lastCas is the CAS of the last successful getShared.
let lastCas: u32 = 0;
let lastStatus: u32 = 0;

export function getShared(key: string): string | null {
  clearScratch();
  lastCas = 0;
  let k = String.UTF8.encode(key);
  let rc = imports.proxy_get_shared_data(changetype<usize>(k), k.byteLength, scratchPtr(), scratchSize(), scratchU32());
  lastStatus = rc;
  if (rc != WasmResultValues.Ok) return null;
  lastCas = load<u32>(scratchU32());
  return takeScratchString();
}

export function setShared(key: string, value: string, cas: u32): u32 {
  let k = String.UTF8.encode(key);
  let v = String.UTF8.encode(value);
  return imports.proxy_set_shared_data(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength, cas);
}

function parseDecimal(s: string): u64 {
  let n: u64 = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    n = n * 10 + <u64>(c - 48);
  }
  return n;
}

// get (value, cas) -> set (value + 1, cas), retried on CAS_MISMATCH. Missing = 0.
export function sharedIncrement(key: string): u64 {
  for (let attempt = 0; attempt < 10000; attempt++) {
    let cur = getShared(key);
    if (cur === null && lastStatus != WasmResultValues.NotFound) {
      logAt(LogLevelValues.warn, "conf_as: get_shared_data(" + key + ") failed: " + lastStatus.toString());
      return 0;
    }
    let next = (cur === null ? 0 : parseDecimal(cur)) + 1;
    let rc = setShared(key, next.toString(), lastCas);
    if (rc == WasmResultValues.Ok) return next;
    if (rc != WasmResultValues.CasMismatch) {
      logAt(LogLevelValues.warn, "conf_as: set_shared_data(" + key + ") failed: " + rc.toString());
      return 0;
    }
  }
  return 0;
}

// Returns the metric id, or -1 when the host refused.
export function defineMetric(typ: i32, name: string): i64 {
  clearScratch();
  let n = String.UTF8.encode(name);
  let rc = imports.proxy_define_metric(typ, changetype<usize>(n), n.byteLength, scratchU32());
  if (rc != WasmResultValues.Ok) {
    logAt(LogLevelValues.warn, "conf_as: define_metric(" + name + ") failed: " + rc.toString());
    return -1;
  }
  return <i64>load<u32>(scratchU32());
}
