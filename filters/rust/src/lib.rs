//! wasmgate's conformance filter on the Rust SDK (crate `proxy-wasm` 0.2.1):
//! the behaviour of filters/CONFORMANCE.md, row by row. The configuration is
//! the tag; the request header `x-test` picks the test. `http-call2` is C/C++
//! only and not implemented here; `grpc-call` is Rust only.
//!
//! The SDK's host-call wrappers panic (trap) on a status they do not expect,
//! e.g. when the host answers Unimplemented; that is the SDK's own behaviour
//! and is kept as it is.

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType, Status};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

const QUEUE: &str = "conformance";

#[derive(Clone, Copy, Default)]
struct Metrics {
    requests_total: u32,
    gauge: u32,
    histogram: u32,
}

#[derive(Default)]
struct Root {
    tag: String,
    metrics: Metrics,
}

/// Reads shared-data `key` as decimal text (missing or unparsable = 0).
fn shared_number(key: &str) -> (u64, Option<u32>) {
    match hostcalls::get_shared_data(key) {
        Ok((Some(v), cas)) => (
            String::from_utf8_lossy(&v).trim().parse().unwrap_or(0),
            cas,
        ),
        Ok((None, cas)) => (0, cas),
        Err(_) => (0, None),
    }
}

/// Increments shared-data `key` with compare-and-swap; returns the new value.
fn shared_increment(key: &str) -> u64 {
    loop {
        let (n, cas) = shared_number(key);
        let next = n + 1;
        match hostcalls::set_shared_data(key, Some(next.to_string().as_bytes()), cas) {
            Ok(()) => return next,
            Err(Status::CasMismatch) => continue,
            Err(_) => return next,
        }
    }
}

fn shared_text(key: &str, missing: &str) -> String {
    match hostcalls::get_shared_data(key) {
        Ok((Some(v), _)) => String::from_utf8_lossy(&v).into_owned(),
        _ => missing.to_string(),
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let tag = self
            .get_plugin_configuration()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        self.tag = if tag.is_empty() { "-".to_string() } else { tag };
        self.metrics = Metrics {
            requests_total: hostcalls::define_metric(MetricType::Counter, "requests_total")
                .unwrap_or(0),
            gauge: hostcalls::define_metric(MetricType::Gauge, "gauge").unwrap_or(0),
            histogram: hostcalls::define_metric(MetricType::Histogram, "histogram").unwrap_or(0),
        };
        self.register_shared_queue(QUEUE);
        if self.tag.starts_with("tick") {
            self.set_tick_period(Duration::from_millis(100));
        }
        true
    }

    fn on_tick(&mut self) {
        shared_increment("ticks");
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        while let Ok(Some(item)) = self.dequeue_shared_queue(queue_id) {
            shared_increment("dequeued");
            self.set_shared_data("last-dequeued", Some(&item), None).ok();
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            tag: self.tag.clone(),
            metrics: self.metrics,
            test: String::new(),
            read_me: String::new(),
            counter: 0,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http {
    tag: String,
    metrics: Metrics,
    /// The request's `x-test` value ("" without one).
    test: String,
    /// `headers`: the request's `x-read-me` (or `none`).
    read_me: String,
    /// `shared`: the counter value this request set.
    counter: u64,
}

impl Http {
    /// `<tag>|body|<tag>`, for both body rows.
    fn wrap(&self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 2 * self.tag.len() + 2);
        out.extend_from_slice(self.tag.as_bytes());
        out.push(b'|');
        out.extend_from_slice(body);
        out.push(b'|');
        out.extend_from_slice(self.tag.as_bytes());
        out
    }

    fn property(&self, path: Vec<&str>) -> String {
        match self.get_property(path) {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => "none".to_string(),
        }
    }
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if num_headers == 0 {
            self.add_http_request_header("x-call-status", "failed");
        } else {
            let status = self
                .get_http_call_response_header(":status")
                .unwrap_or_else(|| "none".to_string());
            let body = self
                .get_http_call_response_body(0, body_size)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            self.add_http_request_header("x-call-status", &status);
            self.add_http_request_header("x-call-body", &body);
        }
        self.resume_http_request();
    }

    // `grpc-call`: the reply, or the failure's status and message.
    fn on_grpc_call_response(&mut self, _token_id: u32, status_code: u32, response_size: usize) {
        self.add_http_request_header("x-grpc-status", &status_code.to_string());
        if status_code == 0 {
            let reply = self
                .get_grpc_call_response_body(0, response_size)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            self.add_http_request_header("x-grpc-reply", &reply);
        } else {
            let (_, message) = self.get_grpc_status();
            self.add_http_request_header("x-grpc-status-message", &message.unwrap_or_default());
        }
        self.resume_http_request();
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.add_http_request_header("x-chain", &self.tag);
        hostcalls::increment_metric(self.metrics.requests_total, 1).ok();
        self.test = self.get_http_request_header("x-test").unwrap_or_default();

        match self.test.as_str() {
            "headers" => {
                self.add_http_request_header("x-added", "yes");
                self.set_http_request_header("x-replace-me", Some("replaced"));
                self.set_http_request_header("x-remove-me", None);
                self.read_me = self
                    .get_http_request_header("x-read-me")
                    .unwrap_or_else(|| "none".to_string());
            }
            "local-req" => {
                let body = format!("local:{}", self.tag);
                self.send_http_response(403, vec![("x-local", &self.tag)], Some(body.as_bytes()));
                return Action::Pause;
            }
            "http-call" => {
                let target = self.get_http_request_header("x-call-target").unwrap_or_default();
                let call = self.dispatch_http_call(
                    &target,
                    vec![
                        (":method", "GET"),
                        (":path", "/callout"),
                        (":authority", "callout.local"),
                    ],
                    None,
                    vec![],
                    Duration::from_millis(2000),
                );
                return match call {
                    Ok(_) => Action::Pause,
                    Err(_) => {
                        self.add_http_request_header("x-call-status", "failed");
                        Action::Continue
                    }
                };
            }
            "grpc-call" => {
                let target = self.get_http_request_header("x-call-target").unwrap_or_default();
                let method = self.get_http_request_header("x-grpc-method").unwrap_or_default();
                let call = self.dispatch_grpc_call(
                    &target,
                    "test.Echo",
                    &method,
                    vec![("x-md", b"from-rust")],
                    Some(b"rust"),
                    Duration::from_millis(2000),
                );
                return match call {
                    Ok(_) => Action::Pause,
                    Err(status) => {
                        self.add_http_request_header("x-grpc-dispatch", &format!("{:?}", status));
                        Action::Continue
                    }
                };
            }
            "shared" => {
                self.counter = shared_increment("counter");
            }
            "queue" => {
                let path = self.get_http_request_header(":path").unwrap_or_default();
                if let Some(queue) = self.resolve_shared_queue("", QUEUE) {
                    self.enqueue_shared_queue(queue, Some(path.as_bytes())).ok();
                }
            }
            "metrics" => {
                hostcalls::record_metric(self.metrics.gauge, 42).ok();
                hostcalls::record_metric(self.metrics.histogram, 7).ok();
            }
            "properties" => {
                let note = format!("note-{}", self.tag);
                self.set_property(vec!["wasmgate", "note"], Some(note.as_bytes()));
            }
            "log" => {
                for (level, name) in [
                    (LogLevel::Trace, "trace"),
                    (LogLevel::Debug, "debug"),
                    (LogLevel::Info, "info"),
                    (LogLevel::Warn, "warn"),
                    (LogLevel::Error, "error"),
                    (LogLevel::Critical, "critical"),
                ] {
                    hostcalls::log(level, &format!("conformance {} {}", name, self.tag)).ok();
                }
                let level = hostcalls::get_log_level().map(|l| l as u32).unwrap_or(0);
                self.add_http_request_header("x-log-level", &level.to_string());
            }
            "trap" => panic!("conformance trap: {}", self.tag),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    // volatile so the loop cannot be optimised away
                    unsafe { std::ptr::write_volatile(&mut n, n.wrapping_add(1)) };
                }
            }
            "hog" => {
                let mut kept: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut block = vec![0u8; 1 << 20];
                    for i in (0..block.len()).step_by(4096) {
                        unsafe { std::ptr::write_volatile(&mut block[i], 1) };
                    }
                    kept.push(block);
                }
            }
            _ => {}
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.test != "req-body" {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause; // StopIterationAndBuffer
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        self.set_http_request_body(0, body_size, &self.wrap(&body));
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.add_http_response_header("x-chain-resp", &self.tag);

        match self.test.as_str() {
            "headers" => {
                self.add_http_response_header("x-read-was", &self.read_me);
                self.set_http_response_header("x-resp-replace", Some("replaced"));
                self.set_http_response_header("x-resp-remove", None);
            }
            "local-resp" => {
                let body = format!("late:{}", self.tag);
                self.send_http_response(
                    451,
                    vec![("x-local-late", &self.tag)],
                    Some(body.as_bytes()),
                );
                return Action::Pause;
            }
            "shared" => {
                self.add_http_response_header("x-counter", &self.counter.to_string());
            }
            "queue-stat" => {
                self.add_http_response_header("x-dequeued", &shared_text("dequeued", "0"));
                self.add_http_response_header("x-last-dequeued", &shared_text("last-dequeued", "none"));
            }
            "tick-stat" => {
                self.add_http_response_header("x-ticks", &shared_text("ticks", "0"));
            }
            "properties" => {
                let props = [
                    ("x-prop-path", self.property(vec!["request", "path"])),
                    ("x-prop-method", self.property(vec!["request", "method"])),
                    ("x-prop-plugin-name", self.property(vec!["plugin_name"])),
                    ("x-prop-source", self.property(vec!["source", "address"])),
                    ("x-prop-note", self.property(vec!["wasmgate", "note"])),
                ];
                for (name, value) in props.iter() {
                    self.add_http_response_header(name, value);
                }
            }
            _ => {}
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.test != "resp-body" {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause; // StopIterationAndBuffer
        }
        let body = self.get_http_response_body(0, body_size).unwrap_or_default();
        self.set_http_response_body(0, body_size, &self.wrap(&body));
        Action::Continue
    }
}
