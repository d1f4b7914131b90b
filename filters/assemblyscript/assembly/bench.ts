// The minimal header-adding filter for the AssemblyScript SDK
// (@solo-io/proxy-runtime 0.1.8 on assemblyscript 0.14), for bench/
// (`wasmgate-as`, build/filters/bench_as.wasm): request header x-chain: A,
// response header x-chain-resp: A, nothing else — what nginx's two Lua
// handlers in the bench do. Written as the runtime's users write a filter:
// its exports, a RootContext registered under the root id, a Context per
// request, and the runtime's header helpers.
//
// The runtime itself logs (at debug level, whatever the host's level) in
// proxy_on_context_create and in the default onDone/onLog/onDelete: 10
// proxy_log calls per request, which this filter keeps, as any filter on
// this runtime does (bench/README.md).
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context,
} from "@solo-io/proxy-runtime";

class BenchRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new AddChainHeaders(context_id, this);
  }
}

class AddChainHeaders extends Context {
  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.request.add("x-chain", "A");
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add("x-chain-resp", "A");
    return FilterHeadersStatusValues.Continue;
  }
}

// The runtime looks the factory up by the plugin_root_id property: the
// filter's root_id, empty unless configured (bench/run.sh configures none).
registerRootContext((context_id: u32): RootContext => new BenchRoot(context_id), "");
