//! Webhook deliveries: each new alert, as JSON, to every webhook that wants its kind.
//!
//! The body is `{"delivery_id", "webhook_id", "attempt", "alert": {…}}`, signed with the
//! webhook's secret: [`SIGNATURE_HEADER`] carries `sha256=` and the hex HMAC-SHA256 of the
//! body ([`sign`]; a receiver checks it with [`verify`] or its own HMAC). A receiver that
//! does not answer 2xx within [`REQUEST_TIMEOUT`] is tried again later, after a delay that
//! doubles from [`RetryPolicy::first_delay`] up to an hour, for [`RetryPolicy::max_attempts`]
//! tries; every try is in the delivery log (`store::webhooks`). Deliveries are created
//! with their alert, in one transaction, so an alert is never lost because a receiver was
//! down, and each try is leased to one worker, so it is made once. `X-Cadena-Delivery`
//! lets a receiver tell a retry of a delivery it already took from a new one.
//!
//! Receivers are reached over HTTP/1.1 or HTTPS (rustls with the ring provider, checking
//! certificates against the platform's store); redirects are not followed.

use std::time::Duration;

use anyhow::Context as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::watch;

use super::Alert;
use crate::store::webhooks::{AttemptOutcome, ClaimedDelivery, NextStep};
use crate::store::{Job, Store, now};

/// The header carrying the body's signature: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-cadena-signature";
/// The header naming the delivery (the same for every try of it) and the try.
pub const DELIVERY_HEADER: &str = "x-cadena-delivery";
pub const ATTEMPT_HEADER: &str = "x-cadena-attempt";

/// How long a receiver has to answer one try.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an idle deliverer looks for deliveries that came due.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How failed tries are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The delay after the first failed try; each later one doubles it, up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// How many tries before the delivery is given up (`cadena webhooks retry` queues it again).
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    /// 5 s, 10 s, 20 s, … up to an hour between tries, 24 tries: about 20 hours.
    fn default() -> RetryPolicy {
        RetryPolicy { first_delay: Duration::from_secs(5), max_delay: Duration::from_secs(3600), max_attempts: 24 }
    }
}

impl RetryPolicy {
    /// What follows the failed try number `attempt` (1 for the first).
    pub fn after_failure(&self, attempt: i64) -> NextStep {
        if attempt >= self.max_attempts {
            return NextStep::GiveUp;
        }
        let doublings = (attempt - 1).clamp(0, 30) as u32;
        let delay = self.first_delay.saturating_mul(1 << doublings).min(self.max_delay);
        NextStep::RetryAfter(delay.as_secs_f64())
    }
}

/// The signature of a body with a webhook's secret, as sent in [`SIGNATURE_HEADER`].
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `signature` (the header's value) is the body's signature with `secret`,
/// compared in constant time.
pub fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(code) = signature.strip_prefix("sha256=").and_then(|hex_code| hex::decode(hex_code).ok()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(body);
    mac.verify_slice(&code).is_ok()
}

/// What a receiver gets.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    pub delivery_id: i64,
    pub webhook_id: i64,
    pub attempt: i64,
    pub alert: &'a Alert,
}

/// Delivers alerts to webhooks.
pub struct Deliverer {
    store: Store,
    client: reqwest::Client,
    policy: RetryPolicy,
}

/// Makes ring the process's TLS provider, which every HTTP client (reqwest over rustls,
/// built without a default provider) needs before it is built. A second call finds it set.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Deliverer {
    pub fn new(store: Store, policy: RetryPolicy) -> anyhow::Result<Deliverer> {
        install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cadena/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("failed to set up the HTTP client for webhooks")?;
        Ok(Deliverer { store, client, policy })
    }

    /// Makes every try that is due now (including retries that come due meanwhile)
    /// until none is; returns how many tries it made.
    pub async fn run_until_idle(&self) -> anyhow::Result<usize> {
        let mut n_tries = 0;
        while let Some(claimed) = self.store.claim_delivery().await.context("failed to claim a delivery")? {
            self.attempt(&claimed).await?;
            n_tries += 1;
        }
        Ok(n_tries)
    }

    /// Makes one try and logs it.
    async fn attempt(&self, claimed: &ClaimedDelivery) -> anyhow::Result<()> {
        let _lease = self.store.hold_lease(Job::Delivery(claimed.id));
        let started_at = now();
        let alert = self.store.get_alert(claimed.alert_id).await?.context("the delivery's alert vanished")?;
        let payload = Payload {
            delivery_id: claimed.id,
            webhook_id: claimed.webhook_id,
            attempt: claimed.attempt,
            alert: &alert,
        };
        let body = serde_json::to_vec(&payload)?;
        let sent = self
            .client
            .post(&claimed.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(&claimed.secret, &body))
            .header(DELIVERY_HEADER, claimed.id.to_string())
            .header(ATTEMPT_HEADER, claimed.attempt.to_string())
            .body(body)
            .send()
            .await;
        let (http_status, error) = match sent {
            Ok(response) if response.status().is_success() => (Some(i64::from(response.status().as_u16())), None),
            Ok(response) => {
                let status = response.status();
                (Some(i64::from(status.as_u16())), Some(format!("the receiver answered {status}")))
            }
            // Without the URL: it may carry credentials, and the log names the webhook anyway.
            Err(err) => (None, Some(err.without_url().to_string())),
        };
        let next = match error {
            None => NextStep::Delivered,
            Some(_) => self.policy.after_failure(claimed.attempt),
        };
        if let Some(error) = &error {
            tracing::warn!(
                delivery_id = claimed.id,
                attempt = claimed.attempt,
                ?next,
                "webhook delivery failed: {error}"
            );
        }
        let outcome = AttemptOutcome { started_at, http_status, error, next };
        if !self.store.record_attempt(claimed, &outcome).await? {
            tracing::warn!(
                delivery_id = claimed.id,
                "the delivery's lease expired during the try; another worker has it"
            );
        }
        Ok(())
    }

    /// Delivers as deliveries come due until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(err) = self.run_until_idle().await {
                tracing::error!("webhook deliveries: {err:#}");
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_and_body() {
        let signature = sign("whsec_1", b"{\"alert\":1}");
        assert!(signature.starts_with("sha256=") && signature.len() == 7 + 64, "{signature}");
        assert!(verify("whsec_1", b"{\"alert\":1}", &signature));
        assert!(!verify("whsec_2", b"{\"alert\":1}", &signature));
        assert!(!verify("whsec_1", b"{\"alert\":2}", &signature));
        assert!(!verify("whsec_1", b"{\"alert\":1}", "sha256=zz"));
        // RFC 4231, test case 2: HMAC-SHA256 with key "Jefe".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_back_off_doubling_up_to_the_cap_then_give_up() {
        let policy =
            RetryPolicy { first_delay: Duration::from_secs(5), max_delay: Duration::from_secs(60), max_attempts: 6 };
        let delays: Vec<NextStep> = (1..=6).map(|attempt| policy.after_failure(attempt)).collect();
        assert_eq!(
            delays,
            vec![
                NextStep::RetryAfter(5.0),
                NextStep::RetryAfter(10.0),
                NextStep::RetryAfter(20.0),
                NextStep::RetryAfter(40.0),
                NextStep::RetryAfter(60.0),
                NextStep::GiveUp
            ]
        );
    }
}
