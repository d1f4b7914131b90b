// The minimal header-adding filter for the Proxy-Wasm Go SDK, for bench/
// (`wasmgate-go`, build/filters/bench_go.wasm): request header x-chain: A,
// response header x-chain-resp: A, nothing else — what nginx's two Lua
// handlers in the bench do. The SDK's usual shape: a VM context, a plugin
// context, and one HTTP context per request. Built by ../build.sh (same
// module, go.mod and go.sum as the conformance filter).
package main

import (
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"
)

// Unused with -buildmode=c-shared: the host calls _initialize, which runs init.
func main() {}

func init() {
	proxywasm.SetVMContext(&vmContext{})
}

type vmContext struct {
	types.DefaultVMContext
}

func (*vmContext) NewPluginContext(uint32) types.PluginContext {
	return &pluginContext{}
}

type pluginContext struct {
	types.DefaultPluginContext
}

func (*pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &addChainHeaders{}
}

type addChainHeaders struct {
	types.DefaultHttpContext
}

func (*addChainHeaders) OnHttpRequestHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpRequestHeader("x-chain", "A")
	return types.ActionContinue
}

func (*addChainHeaders) OnHttpResponseHeaders(int, bool) types.Action {
	_ = proxywasm.AddHttpResponseHeader("x-chain-resp", "A")
	return types.ActionContinue
}
