package main

// Host calls the SDK does not offer in the form CONFORMANCE.md asks for:
//   - proxy_get_log_level (ABI 0.2.1; the SDK declares 0.2.0 and has no wrapper;
//     wasmgate provides every host call to every ABI version);
//   - proxy_set_buffer_bytes with size = the whole body length (the SDK's
//     Replace*Body passes size = MaxInt32);
//   - metrics whose errors are returned instead of panicking (the SDK panics),
//     and a gauge set with proxy_record_metric (the SDK gauge can only Add).

import "unsafe"

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(level *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(bufferType uint32, start uint32, size uint32, data *byte, dataSize uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(metricType uint32, name *byte, nameSize uint32, id *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, value uint64) uint32

const (
	bufferRequestBody  = 0
	bufferResponseBody = 1

	metricCounter   = 0
	metricGauge     = 1
	metricHistogram = 2

	statusOK = 0
)

func getLogLevel() (uint32, bool) {
	var level uint32
	return level, proxyGetLogLevel(&level) == statusOK
}

// replaceBody replaces bytes [0, oldSize) of the buffer with data.
func replaceBody(bufferType uint32, oldSize int, data []byte) uint32 {
	var p *byte
	if len(data) > 0 {
		p = &data[0]
	}
	return proxySetBufferBytes(bufferType, 0, uint32(oldSize), p, uint32(len(data)))
}

// metric is a metric id, or -1 when the host refused to define it.
type metric int64

func defineMetric(metricType uint32, name string) metric {
	var id uint32
	if proxyDefineMetric(metricType, unsafe.StringData(name), uint32(len(name)), &id) != statusOK {
		return -1
	}
	return metric(id)
}

func (m metric) increment(by int64) {
	if m >= 0 {
		proxyIncrementMetric(uint32(m), by)
	}
}

func (m metric) record(v uint64) {
	if m >= 0 {
		proxyRecordMetric(uint32(m), v)
	}
}
