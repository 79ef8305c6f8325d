//! `/metrics` in the Prometheus text format, and the per-key rate limiter.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Upper bounds of the latency histogram buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`].
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; LATENCY_BUCKETS.len()];
        }
        for (bucket, bound) in self.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Request counts and latencies per route.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (method, route, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (method, route) → latency.
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let key = (method.to_owned(), route.to_owned());
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((key.0.clone(), key.1.clone(), status)).or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            latency.entry(key).or_default().observe(elapsed.as_secs_f64());
        }
    }

    /// The request metrics in the Prometheus text format.
    fn render(&self, out: &mut String) {
        out.push_str("# HELP cadena_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE cadena_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((method, route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "cadena_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP cadena_http_request_duration_seconds HTTP request latency by method and route.\n");
        out.push_str("# TYPE cadena_http_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for ((method, route), histogram) in latency.iter() {
                let labels = format!("method=\"{method}\",route=\"{route}\"");
                for (bound, count) in LATENCY_BUCKETS.iter().zip(&histogram.buckets) {
                    let _ =
                        writeln!(out, "cadena_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
                }
                let _ = writeln!(
                    out,
                    "cadena_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    histogram.count
                );
                let _ = writeln!(out, "cadena_http_request_duration_seconds_sum{{{labels}}} {}", histogram.sum);
                let _ = writeln!(out, "cadena_http_request_duration_seconds_count{{{labels}}} {}", histogram.count);
            }
        }
    }
}

/// Middleware: counts every request and its latency under its route template.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// `GET /metrics`: requests, latencies, the screening cache and batch audits.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, super::Error> {
    let mut out = String::new();
    state.metrics.render(&mut out);
    let (hits, misses) = state.screening.cache_stats();
    out.push_str(
        "# HELP cadena_screening_cache_requests_total Screenings answered from the cache (hit) or computed (miss).\n",
    );
    out.push_str("# TYPE cadena_screening_cache_requests_total counter\n");
    let _ = writeln!(out, "cadena_screening_cache_requests_total{{result=\"hit\"}} {hits}");
    let _ = writeln!(out, "cadena_screening_cache_requests_total{{result=\"miss\"}} {misses}");
    out.push_str("# HELP cadena_screening_cache_entries Screening results held by the cache.\n");
    out.push_str("# TYPE cadena_screening_cache_entries gauge\n");
    let _ = writeln!(out, "cadena_screening_cache_entries {}", state.screening.cache_entries());
    let index = state.screening.index_status();
    out.push_str("# HELP cadena_index_version The store version the search index reflects.\n");
    out.push_str("# TYPE cadena_index_version gauge\n");
    let _ = writeln!(out, "cadena_index_version {}", index.index_version);
    out.push_str("# HELP cadena_store_version The newest store version the indexer has seen.\n");
    out.push_str("# TYPE cadena_store_version gauge\n");
    let _ = writeln!(out, "cadena_store_version {}", index.store_version);
    out.push_str("# HELP cadena_index_lag Store versions the search index is behind the store.\n");
    out.push_str("# TYPE cadena_index_lag gauge\n");
    let _ = writeln!(out, "cadena_index_lag {}", index.lag());
    out.push_str("# HELP cadena_audits Batch audits by status.\n");
    out.push_str("# TYPE cadena_audits gauge\n");
    for (status, count) in state.store.count_audits_by_status().await? {
        let _ = writeln!(out, "cadena_audits{{status=\"{status}\"}} {count}");
    }
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

/// A token bucket per API key: `burst` requests at once, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<i64, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: f64) -> RateLimiter {
        RateLimiter { per_second, burst: burst.max(1.0), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `key_id`; when there is none, how long until there is.
    pub fn check(&self, key_id: i64) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        let (tokens, last) = buckets.entry(key_id).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second.max(f64::MIN_POSITIVE)))
        }
    }
}
