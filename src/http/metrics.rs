//! `/metrics` in the OpenMetrics text format (prometheus-client), and the per-key rate
//! limiter (governor).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::AppState;

/// Upper bounds of the latency histogram buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Request counts and latencies per route, kept for the life of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("cadena_http_requests", "HTTP requests by method, route and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "cadena_http_request_duration",
            "HTTP request latency by method and route",
            Unit::Seconds,
            latency.clone(),
        );
        Metrics { registry, requests, latency }
    }
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
        self.latency.get_or_create(&RouteLabels { method, route }).observe(elapsed.as_secs_f64());
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

/// The values read afresh at every scrape: the screening cache, the index against the
/// store, and batch audits by status.
async fn scrape_registry(state: &AppState) -> Result<Registry, super::Error> {
    let mut registry = Registry::default();
    let (hits, misses) = state.screening.cache_stats();
    let cache = Family::<ResultLabel, Counter>::default();
    cache.get_or_create(&ResultLabel { result: "hit" }).inc_by(hits);
    cache.get_or_create(&ResultLabel { result: "miss" }).inc_by(misses);
    registry.register(
        "cadena_screening_cache_requests",
        "Screenings answered from the cache (hit) or computed (miss)",
        cache,
    );
    let gauge = |value: i64| {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        gauge
    };
    registry.register(
        "cadena_screening_cache_entries",
        "Screening results held by the cache",
        gauge(state.screening.cache_entries() as i64),
    );
    registry.register_with_unit(
        "cadena_screening_cache",
        "Size of the screening results held by the cache, as weighed",
        Unit::Bytes,
        gauge(state.screening.cache_bytes() as i64),
    );
    let index = state.screening.index_status();
    registry.register(
        "cadena_index_version",
        "The store version the search index reflects",
        gauge(index.index_version),
    );
    registry.register(
        "cadena_store_version",
        "The newest store version the indexer has seen",
        gauge(index.store_version),
    );
    registry.register("cadena_index_lag", "Store versions the search index is behind the store", gauge(index.lag()));
    let audits = Family::<StatusLabel, Gauge>::default();
    for (status, count) in state.store.count_audits_by_status().await? {
        audits.get_or_create(&StatusLabel { status }).set(count);
    }
    registry.register("cadena_audits", "Batch audits by status", audits);
    Ok(registry)
}

/// `GET /metrics`: requests, latencies, the screening cache, the index and batch audits.
#[utoipa::path(get, path = "/metrics", tag = "service", operation_id = "metrics",
    responses((status = 200, description = "OpenMetrics text format (Prometheus reads it)", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, super::Error> {
    let scraped = scrape_registry(&state).await?;
    let mut out = String::new();
    encode_registry(&mut out, &state.metrics.registry)
        .and_then(|()| encode_registry(&mut out, &scraped))
        .and_then(|()| encode_eof(&mut out))
        .map_err(|err| super::Error::Internal(anyhow::anyhow!("encoding the metrics: {err}")))?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(axum::http::header::CONTENT_TYPE, content_type)], out).into_response())
}

/// Requests per API key: `burst` at once, refilled at `per_second` (a GCRA, which is a
/// token bucket measured in time).
#[derive(Debug)]
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<i64>,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: f64) -> RateLimiter {
        let period = Duration::from_secs_f64(1.0 / per_second.max(f64::MIN_POSITIVE)).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(burst.max(1.0).min(f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period).expect("a positive period").allow_burst(burst);
        RateLimiter { limiter: DefaultKeyedRateLimiter::keyed(quota) }
    }

    /// Takes a request for `key_id`; when the key has none left, how long until it has.
    pub fn check(&self, key_id: i64) -> Result<(), Duration> {
        self.limiter.check_key(&key_id).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}
