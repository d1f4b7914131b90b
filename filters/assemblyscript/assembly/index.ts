// The conformance filter (filters/CONFORMANCE.md) for the AssemblyScript SDK,
// @solo-io/proxy-runtime 0.1.8 (Proxy-Wasm ABI 0.2.0) on assemblyscript 0.14.
//
// The runtime gives us the context classes and the callback dispatch. Many of
// its helpers are unusable (wrong signatures, abort on NOT_FOUND, leaks, a
// misplaced out-pointer in RootContext.onConfigure), so host calls go through
// the raw imports, via the small helpers in host.ts.

// Every proxy_on_* export and malloc/free come from the runtime.
export {
  proxy_abi_version_0_2_0,
  proxy_on_context_create,
  proxy_on_vm_start,
  proxy_validate_configuration,
  proxy_on_configure,
  proxy_on_tick,
  proxy_on_foreign_function,
  proxy_on_queue_ready,
  proxy_on_request_headers,
  proxy_on_request_body,
  proxy_on_request_trailers,
  proxy_on_request_metadata,
  proxy_on_response_headers,
  proxy_on_response_body,
  proxy_on_response_trailers,
  proxy_on_response_metadata,
  proxy_on_http_call_response,
  proxy_on_grpc_receive_initial_metadata,
  proxy_on_grpc_trailing_metadata,
  proxy_on_grpc_receive,
  proxy_on_grpc_close,
  proxy_on_done,
  proxy_on_log,
  proxy_on_delete,
} from "@solo-io/proxy-runtime/exports";
export { malloc, free } from "@solo-io/proxy-runtime/malloc";

import {
  RootContext, Context, registerRootContext, send_local_response, continue_request,
  FilterHeadersStatusValues, FilterDataStatusValues, GrpcStatusValues, HeaderPair, Headers,
  LogLevelValues, WasmResultValues,
} from "@solo-io/proxy-runtime";
import * as imports from "@solo-io/proxy-runtime/imports";
import {
  MAP_REQUEST, MAP_RESPONSE, MAP_CALL_RESPONSE, BUF_REQUEST_BODY, BUF_RESPONSE_BODY, BUF_CALL_BODY,
  BUF_PLUGIN_CONFIG, METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM,
  getHeader, addHeader, replaceHeader, removeHeader, getBufferBytes, getBufferString, setBufferBytes,
  getProperty, setProperty, getShared, sharedIncrement, setShared, logAt, getLogLevel, defineMetric,
  or, scratchU32, scratchPtr, scratchSize, takeScratchString,
} from "./host";

const STOP: FilterHeadersStatusValues = FilterHeadersStatusValues.StopIteration; // Pause (1)
const CONTINUE: FilterHeadersStatusValues = FilterHeadersStatusValues.Continue;

// The runtime picks the root-context factory by the `plugin_root_id` property
// and aborts when none is registered under that name: ours is registered
// under "conf_as", the root_id that conf_as.meta.json gives the filter (as
// an Envoy config names it in the plugin's root_id).
registerRootContext((id: u32): RootContext => new ConfRoot(id), "conf_as");

class ConfRoot extends RootContext {
  tag: string = "-";
  queueId: u32 = 0;
  requestsTotal: i64 = -1; // metric ids, -1 = not defined
  gauge: i64 = -1;
  histogram: i64 = -1;

  createContext(context_id: u32): Context {
    return new ConfContext(context_id, this);
  }

  // Not calling super.onConfigure: the runtime's version passes the config
  // size as the size out-pointer (the host writes 4 bytes at that address).
  onConfigure(configuration_size: u32): bool {
    let tag = configuration_size > 0 ? getBufferString(BUF_PLUGIN_CONFIG, 0, configuration_size) : "";
    this.tag = tag.length == 0 ? "-" : tag;

    this.requestsTotal = defineMetric(METRIC_COUNTER, "requests_total");
    this.gauge = defineMetric(METRIC_GAUGE, "gauge");
    this.histogram = defineMetric(METRIC_HISTOGRAM, "histogram");

    let name = String.UTF8.encode("conformance");
    let rc = imports.proxy_register_shared_queue(changetype<usize>(name), name.byteLength, scratchU32());
    if (rc == WasmResultValues.Ok) {
      this.queueId = load<u32>(scratchU32());
    } else {
      logAt(LogLevelValues.warn, "conf_as: register_shared_queue failed: " + rc.toString());
    }

    if (this.tag.startsWith("tick")) {
      rc = imports.proxy_set_tick_period_milliseconds(100);
      if (rc != WasmResultValues.Ok) logAt(LogLevelValues.warn, "conf_as: set_tick_period failed: " + rc.toString());
    }
    return true;
  }

  onTick(): void {
    sharedIncrement("ticks");
  }

  onQueueReady(token: u32): void {
    while (true) {
      store<usize>(scratchPtr(), 0);
      store<usize>(scratchSize(), 0);
      let rc = imports.proxy_dequeue_shared_queue(token, scratchPtr(), scratchSize());
      if (rc != WasmResultValues.Ok) break;
      let item = takeScratchString();
      sharedIncrement("dequeued");
      setShared("last-dequeued", item, 0);
    }
  }
}

class ConfContext extends Context {
  mode: string = "";
  readMe: string = "none";
  counter: string = "";

  constructor(context_id: u32, root: ConfRoot) {
    super(context_id, root);
  }

  root(): ConfRoot {
    return changetype<ConfRoot>(this.root_context);
  }

  onRequestHeaders(n: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let root = this.root();
    let tag = root.tag;
    addHeader(MAP_REQUEST, "x-chain", tag);
    if (root.requestsTotal >= 0) imports.proxy_increment_metric(<u32>root.requestsTotal, 1);

    let mode = getHeader(MAP_REQUEST, "x-test");
    this.mode = or(mode, "");
    let m = this.mode;

    if (m == "headers") {
      addHeader(MAP_REQUEST, "x-added", "yes");
      replaceHeader(MAP_REQUEST, "x-replace-me", "replaced");
      removeHeader(MAP_REQUEST, "x-remove-me");
      let v = getHeader(MAP_REQUEST, "x-read-me");
      this.readMe = or(v, "none");
    } else if (m == "local-req") {
      let headers: Headers = [];
      headers.push(new HeaderPair(String.UTF8.encode("x-local"), String.UTF8.encode(tag)));
      send_local_response(403, "", String.UTF8.encode("local:" + tag), headers, GrpcStatusValues.InvalidCode);
      return STOP;
    } else if (m == "http-call") {
      let target = getHeader(MAP_REQUEST, "x-call-target");
      let headers: Headers = [];
      headers.push(new HeaderPair(String.UTF8.encode(":method"), String.UTF8.encode("GET")));
      headers.push(new HeaderPair(String.UTF8.encode(":path"), String.UTF8.encode("/callout")));
      headers.push(new HeaderPair(String.UTF8.encode(":authority"), String.UTF8.encode("callout.local")));
      let upstream = or(target, "");
      let body = new ArrayBuffer(0);
      let trailers: Headers = [];
      let rc = root.httpCall(upstream, headers, body, trailers, 2000, this, onCallResponse);
      if (rc != WasmResultValues.Ok) {
        logAt(LogLevelValues.warn, "conf_as: http_call failed: " + rc.toString());
        addHeader(MAP_REQUEST, "x-call-status", "failed");
        return CONTINUE;
      }
      return STOP;
    } else if (m == "shared") {
      this.counter = sharedIncrement("counter").toString();
    } else if (m == "queue") {
      let vm = String.UTF8.encode("");
      let name = String.UTF8.encode("conformance");
      let rc = imports.proxy_resolve_shared_queue(changetype<usize>(vm), 0, changetype<usize>(name), name.byteLength, scratchU32());
      if (rc == WasmResultValues.Ok) {
        let id = load<u32>(scratchU32());
        let path = getHeader(MAP_REQUEST, ":path");
        let data = String.UTF8.encode(or(path, ""));
        rc = imports.proxy_enqueue_shared_queue(id, changetype<usize>(data), data.byteLength);
      }
      if (rc != WasmResultValues.Ok) logAt(LogLevelValues.warn, "conf_as: queue failed: " + rc.toString());
    } else if (m == "metrics") {
      if (root.gauge >= 0) imports.proxy_record_metric(<u32>root.gauge, 42);
      if (root.histogram >= 0) imports.proxy_record_metric(<u32>root.histogram, 7);
    } else if (m == "properties") {
      let rc = setProperty("wasmgate\0note", "note-" + tag);
      if (rc != WasmResultValues.Ok) logAt(LogLevelValues.warn, "conf_as: set_property failed: " + rc.toString());
    } else if (m == "log") {
      logAt(LogLevelValues.trace, "conformance trace " + tag);
      logAt(LogLevelValues.debug, "conformance debug " + tag);
      logAt(LogLevelValues.info, "conformance info " + tag);
      logAt(LogLevelValues.warn, "conformance warn " + tag);
      logAt(LogLevelValues.error, "conformance error " + tag);
      logAt(LogLevelValues.critical, "conformance critical " + tag);
      addHeader(MAP_REQUEST, "x-log-level", getLogLevel().toString());
    } else if (m == "trap") {
      // AssemblyScript's idiomatic failure: throw -> abort -> the runtime's
      // abort_proc_exit (logs critical, then wasi_unstable.proc_exit(255)).
      throw new Error("conformance trap " + tag);
    } else if (m == "loop") {
      while (true) {
        spin++;
      }
    } else if (m == "hog") {
      while (true) {
        let block = new ArrayBuffer(1 << 20);
        let p = changetype<usize>(block);
        for (let i: usize = 0; i < (1 << 20); i += 4096) store<u8>(p + i, <u8>(i >> 12));
        hogged.push(block);
      }
    }
    return CONTINUE;
  }

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    if (this.mode != "req-body") return FilterDataStatusValues.Continue;
    return wrapBody(BUF_REQUEST_BODY, body_buffer_length, end_of_stream, this.root().tag);
  }

  onResponseHeaders(n: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let tag = this.root().tag;
    addHeader(MAP_RESPONSE, "x-chain-resp", tag);
    let m = this.mode;
    if (m == "headers") {
      addHeader(MAP_RESPONSE, "x-read-was", this.readMe);
      replaceHeader(MAP_RESPONSE, "x-resp-replace", "replaced");
      removeHeader(MAP_RESPONSE, "x-resp-remove");
    } else if (m == "local-resp") {
      let headers: Headers = [];
      headers.push(new HeaderPair(String.UTF8.encode("x-local-late"), String.UTF8.encode(tag)));
      send_local_response(451, "", String.UTF8.encode("late:" + tag), headers, GrpcStatusValues.InvalidCode);
      return STOP;
    } else if (m == "shared") {
      addHeader(MAP_RESPONSE, "x-counter", this.counter);
    } else if (m == "queue-stat") {
      let d = getShared("dequeued");
      let last = getShared("last-dequeued");
      addHeader(MAP_RESPONSE, "x-dequeued", or(d, "0"));
      addHeader(MAP_RESPONSE, "x-last-dequeued", or(last, "none"));
    } else if (m == "tick-stat") {
      let t = getShared("ticks");
      addHeader(MAP_RESPONSE, "x-ticks", or(t, "0"));
    } else if (m == "properties") {
      addHeader(MAP_RESPONSE, "x-prop-path", orNone(getProperty("request\0path")));
      addHeader(MAP_RESPONSE, "x-prop-method", orNone(getProperty("request\0method")));
      addHeader(MAP_RESPONSE, "x-prop-plugin-name", orNone(getProperty("plugin_name")));
      addHeader(MAP_RESPONSE, "x-prop-source", orNone(getProperty("source\0address")));
      addHeader(MAP_RESPONSE, "x-prop-note", orNone(getProperty("wasmgate\0note")));
    }
    return CONTINUE;
  }

  onResponseBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    if (this.mode != "resp-body") return FilterDataStatusValues.Continue;
    return wrapBody(BUF_RESPONSE_BODY, body_buffer_length, end_of_stream, this.root().tag);
  }
}

// The runtime calls this from proxy_on_http_call_response on the root, after
// proxy_set_effective_context(origin stream).
function onCallResponse(origin: Context, headers: u32, body_size: usize, trailers: u32): void {
  if (headers == 0) {
    addHeader(MAP_REQUEST, "x-call-status", "failed");
  } else {
    let status = getHeader(MAP_CALL_RESPONSE, ":status");
    let body = body_size > 0 ? getBufferString(BUF_CALL_BODY, 0, <u32>body_size) : "";
    addHeader(MAP_REQUEST, "x-call-status", or(status, ""));
    addHeader(MAP_REQUEST, "x-call-body", body);
  }
  let rc = continue_request(); // proxy_continue_stream(0)
  if (rc != WasmResultValues.Ok) logAt(LogLevelValues.warn, "conf_as: continue_stream failed: " + rc.toString());
}

function wrapBody(buffer: i32, length: usize, end_of_stream: bool, tag: string): FilterDataStatusValues {
  if (!end_of_stream) return FilterDataStatusValues.StopIterationAndBuffer;
  let body = length > 0 ? getBufferBytes(buffer, 0, <u32>length) : new ArrayBuffer(0);
  let pre = String.UTF8.encode(tag + "|");
  let post = String.UTF8.encode("|" + tag);
  let out = new ArrayBuffer(pre.byteLength + body.byteLength + post.byteLength);
  let o = changetype<usize>(out);
  memory.copy(o, changetype<usize>(pre), pre.byteLength);
  memory.copy(o + pre.byteLength, changetype<usize>(body), body.byteLength);
  memory.copy(o + pre.byteLength + body.byteLength, changetype<usize>(post), post.byteLength);
  let rc = setBufferBytes(buffer, 0, <u32>body.byteLength, out);
  if (rc != WasmResultValues.Ok) logAt(LogLevelValues.warn, "conf_as: set_buffer_bytes failed: " + rc.toString());
  return FilterDataStatusValues.Continue;
}

function orNone(v: string | null): string {
  return or(v, "none");
}

let spin: u64 = 0;
let hogged = new Array<ArrayBuffer>();

