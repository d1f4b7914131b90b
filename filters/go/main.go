// The conformance filter for the Proxy-Wasm Go SDK (standard Go, wasip1
// reactor). It does exactly what filters/CONFORMANCE.md says; the table
// there is the specification, this file only follows it.
package main

import (
	"errors"
	"strconv"
	"strings"

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
	return &pluginContext{tag: "-", requests: -1, gauge: -1, histogram: -1}
}

// pluginContext is the root context of one filter in a chain.
type pluginContext struct {
	types.DefaultPluginContext
	tag                        string
	requests, gauge, histogram metric
}

func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	p.tag = "-"
	if cfg, err := proxywasm.GetPluginConfiguration(); err == nil && len(cfg) > 0 {
		p.tag = string(cfg)
	}
	p.requests = defineMetric(metricCounter, "requests_total")
	p.gauge = defineMetric(metricGauge, "gauge")
	p.histogram = defineMetric(metricHistogram, "histogram")
	if _, err := proxywasm.RegisterSharedQueue("conformance"); err != nil {
		proxywasm.LogWarn("conformance: register_shared_queue: " + err.Error())
	}
	if strings.HasPrefix(p.tag, "tick") {
		if err := proxywasm.SetTickPeriodMilliSeconds(100); err != nil {
			proxywasm.LogWarn("conformance: set_tick_period_milliseconds: " + err.Error())
		}
	}
	return types.OnPluginStartStatusOK
}

func (p *pluginContext) OnTick() {
	casIncrement("ticks")
}

func (p *pluginContext) OnQueueReady(queueID uint32) {
	for {
		item, err := proxywasm.DequeueSharedQueue(queueID)
		if err != nil {
			return // ErrorStatusEmpty, or the queue is gone
		}
		casIncrement("dequeued")
		_ = proxywasm.SetSharedData("last-dequeued", item, 0)
	}
}

func (p *pluginContext) NewHttpContext(uint32) types.HttpContext {
	return &httpContext{p: p}
}

type httpContext struct {
	types.DefaultHttpContext
	p        *pluginContext
	test     string // the request's x-test
	readMe   string // "headers": x-read-me, or "none"
	counter  string // "shared": the new counter value
	sentLate bool   // "local-resp": the local response was sent
}

func (h *httpContext) OnHttpRequestHeaders(int, bool) types.Action {
	tag := h.p.tag
	_ = proxywasm.AddHttpRequestHeader("x-chain", tag)
	h.p.requests.increment(1)
	if v, err := proxywasm.GetHttpRequestHeader("x-test"); err == nil {
		h.test = v
	}

	switch h.test {
	case "headers":
		_ = proxywasm.AddHttpRequestHeader("x-added", "yes")
		_ = proxywasm.ReplaceHttpRequestHeader("x-replace-me", "replaced")
		_ = proxywasm.RemoveHttpRequestHeader("x-remove-me")
		h.readMe = "none"
		if v, err := proxywasm.GetHttpRequestHeader("x-read-me"); err == nil {
			h.readMe = v
		}

	case "local-req":
		_ = proxywasm.SendHttpResponse(403, [][2]string{{"x-local", tag}}, []byte("local:"+tag), -1)
		return types.ActionPause

	case "http-call":
		return h.httpCall()

	case "shared":
		if v, ok := casIncrement("counter"); ok {
			h.counter = strconv.FormatUint(v, 10)
		} else {
			h.counter = "error"
		}

	case "queue":
		path, _ := proxywasm.GetHttpRequestHeader(":path")
		id, err := proxywasm.ResolveSharedQueue("", "conformance")
		if err == nil {
			err = proxywasm.EnqueueSharedQueue(id, []byte(path))
		}
		if err != nil {
			proxywasm.LogWarn("conformance: queue: " + err.Error())
		}

	case "metrics":
		h.p.gauge.record(42)
		h.p.histogram.record(7)

	case "properties":
		if err := proxywasm.SetProperty([]string{"wasmgate", "note"}, []byte("note-"+tag)); err != nil {
			proxywasm.LogWarn("conformance: set_property: " + err.Error())
		}

	case "log":
		proxywasm.LogTrace("conformance trace " + tag)
		proxywasm.LogDebug("conformance debug " + tag)
		proxywasm.LogInfo("conformance info " + tag)
		proxywasm.LogWarn("conformance warn " + tag)
		proxywasm.LogError("conformance error " + tag)
		proxywasm.LogCritical("conformance critical " + tag)
		level := "error"
		if l, ok := getLogLevel(); ok {
			level = strconv.FormatUint(uint64(l), 10)
		}
		_ = proxywasm.AddHttpRequestHeader("x-log-level", level)

	case "trap":
		panic("conformance trap " + tag)

	case "loop":
		spin()

	case "hog":
		hog()
	}
	return types.ActionContinue
}

// httpCall dispatches the callout of "http-call" and pauses the request
// until its answer arrives.
func (h *httpContext) httpCall() types.Action {
	target, _ := proxywasm.GetHttpRequestHeader("x-call-target")
	headers := [][2]string{
		{":method", "GET"},
		{":path", "/callout"},
		{":authority", "callout.local"},
	}
	_, err := proxywasm.DispatchHttpCall(target, headers, nil, nil, 2000, func(numHeaders, bodySize, _ int) {
		status, body := "failed", ""
		if numHeaders > 0 {
			status = "none"
			if hs, err := proxywasm.GetHttpCallResponseHeaders(); err == nil {
				for _, kv := range hs {
					if kv[0] == ":status" {
						status = kv[1]
						break
					}
				}
			}
			if bodySize > 0 {
				if b, err := proxywasm.GetHttpCallResponseBody(0, bodySize); err == nil {
					body = string(b)
				}
			}
		}
		_ = proxywasm.AddHttpRequestHeader("x-call-status", status)
		if numHeaders > 0 {
			_ = proxywasm.AddHttpRequestHeader("x-call-body", body)
		}
		_ = proxywasm.ResumeHttpRequest()
	})
	if err != nil {
		// The host refused the call: no response will ever come.
		proxywasm.LogWarn("conformance: http_call to '" + target + "': " + err.Error())
		_ = proxywasm.AddHttpRequestHeader("x-call-status", "failed")
		return types.ActionContinue
	}
	return types.ActionPause
}

func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if h.test != "req-body" {
		return types.ActionContinue
	}
	return wrapBody(bufferRequestBody, h.p.tag, bodySize, endOfStream)
}

func (h *httpContext) OnHttpResponseBody(bodySize int, endOfStream bool) types.Action {
	if h.test != "resp-body" {
		return types.ActionContinue
	}
	return wrapBody(bufferResponseBody, h.p.tag, bodySize, endOfStream)
}

// wrapBody buffers the whole body, then replaces it by "<tag>|" + body + "|<tag>".
func wrapBody(bufferType uint32, tag string, bodySize int, endOfStream bool) types.Action {
	if !endOfStream {
		return types.ActionPause // StopIterationAndBuffer
	}
	var body []byte
	if bodySize > 0 {
		var err error
		if bufferType == bufferRequestBody {
			body, err = proxywasm.GetHttpRequestBody(0, bodySize)
		} else {
			body, err = proxywasm.GetHttpResponseBody(0, bodySize)
		}
		if err != nil {
			proxywasm.LogWarn("conformance: get_buffer_bytes: " + err.Error())
			body = nil
		}
	}
	out := make([]byte, 0, len(body)+2*len(tag)+2)
	out = append(out, tag...)
	out = append(out, '|')
	out = append(out, body...)
	out = append(out, '|')
	out = append(out, tag...)
	if st := replaceBody(bufferType, len(body), out); st != statusOK {
		proxywasm.LogWarn("conformance: set_buffer_bytes: status " + strconv.FormatUint(uint64(st), 10))
	}
	return types.ActionContinue
}

func (h *httpContext) OnHttpResponseHeaders(int, bool) types.Action {
	tag := h.p.tag
	_ = proxywasm.AddHttpResponseHeader("x-chain-resp", tag)

	switch h.test {
	case "headers":
		_ = proxywasm.AddHttpResponseHeader("x-read-was", h.readMe)
		_ = proxywasm.ReplaceHttpResponseHeader("x-resp-replace", "replaced")
		_ = proxywasm.RemoveHttpResponseHeader("x-resp-remove")

	case "local-resp":
		if !h.sentLate { // once, even if the host runs this phase again for the local response
			h.sentLate = true
			_ = proxywasm.SendHttpResponse(451, [][2]string{{"x-local-late", tag}}, []byte("late:"+tag), -1)
			return types.ActionPause
		}

	case "shared":
		_ = proxywasm.AddHttpResponseHeader("x-counter", h.counter)

	case "queue-stat":
		_ = proxywasm.AddHttpResponseHeader("x-dequeued", sharedOr("dequeued", "0"))
		_ = proxywasm.AddHttpResponseHeader("x-last-dequeued", sharedOr("last-dequeued", "none"))

	case "tick-stat":
		_ = proxywasm.AddHttpResponseHeader("x-ticks", sharedOr("ticks", "0"))

	case "properties":
		_ = proxywasm.AddHttpResponseHeader("x-prop-path", property("request", "path"))
		_ = proxywasm.AddHttpResponseHeader("x-prop-method", property("request", "method"))
		_ = proxywasm.AddHttpResponseHeader("x-prop-plugin-name", property("plugin_name"))
		_ = proxywasm.AddHttpResponseHeader("x-prop-source", property("source", "address"))
		_ = proxywasm.AddHttpResponseHeader("x-prop-note", property("wasmgate", "note"))
	}
	return types.ActionContinue
}

// property reads a property (the SDK joins the segments with NUL); "none"
// when it is missing.
func property(path ...string) string {
	v, err := proxywasm.GetProperty(path)
	if err != nil {
		return "none"
	}
	return string(v)
}

// sharedOr is shared-data key's value, or def when it is missing.
func sharedOr(key, def string) string {
	v, _, err := proxywasm.GetSharedData(key)
	if err != nil {
		return def
	}
	return string(v)
}

// casIncrement adds one to the decimal shared-data value of key (missing
// is 0), retrying on CasMismatch. It returns the new value.
func casIncrement(key string) (uint64, bool) {
	for {
		var n uint64
		v, cas, err := proxywasm.GetSharedData(key)
		switch {
		case err == nil:
			n, _ = strconv.ParseUint(string(v), 10, 64)
		case errors.Is(err, types.ErrorStatusNotFound):
			cas = 0
		default:
			return 0, false
		}
		n++
		err = proxywasm.SetSharedData(key, []byte(strconv.FormatUint(n, 10)), cas)
		if err == nil {
			return n, true
		}
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			return 0, false
		}
	}
}

var spins uint64

// spin is "loop": it never returns; the host's budget must cut it.
func spin() {
	for {
		spins++
	}
}

var hogged [][]byte

// hog is "hog": 1 MiB blocks, each kept and touched, until memory runs out.
func hog() {
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		hogged = append(hogged, b)
	}
}
