//! API keys: who may call the service, and in which role.
//!
//! A key is 32 random bytes, written `cadena_` + 64 hex digits, and shown once, when
//! created. The store keeps a public lookup id (`v2:` and the key's first 16 hex digits)
//! and an Argon2id hash of the whole key; a presented key is found by its lookup id and
//! checked against the hash, which compares in constant time. Keys made before Argon2
//! (stored as a plain SHA-256) still work and are rehashed on their first use.
//!
//! Argon2id costs tens of milliseconds by design, so a key that has passed once is
//! remembered by its SHA-256, in memory only, for [`VERIFIED_KEY_TTL`]; revocation still
//! takes effect at once, since every request reads the key's row.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, now};

/// What a key may do. Each endpoint names the roles it admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Procurement officers: screen suppliers and procurements, read records.
    Officer,
    /// Labour inspectors: search agencies and read records.
    Inspector,
    /// Auditors: batch audits, read screenings and datasets.
    Auditor,
    /// Administrators: everything, including loading data.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Officer, Role::Inspector, Role::Auditor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::Inspector => "inspector",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A key as stored (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// The prefix of every key, so that a leaked one is easy to recognise.
pub const KEY_PREFIX: &str = "cadena_";

/// How long a key that passed its Argon2id check is remembered in memory.
pub const VERIFIED_KEY_TTL: Duration = Duration::from_secs(10 * 60);

/// Keys that passed their Argon2id check: SHA-256 of the presented key → key id.
pub(super) type VerifiedKeys = moka::sync::Cache<[u8; 32], i64>;

pub(super) fn verified_keys_cache() -> VerifiedKeys {
    moka::sync::Cache::builder().max_capacity(10_000).time_to_live(VERIFIED_KEY_TTL).build()
}

/// The public lookup id of a well-formed key (`cadena_` + 64 hex digits).
fn lookup_id(secret: &str) -> Option<String> {
    let digits = secret.strip_prefix(KEY_PREFIX)?;
    (digits.len() == 64 && digits.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| format!("v2:{}", &digits[..16].to_ascii_lowercase()))
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The Argon2id PHC string of a key (default parameters: 19 MiB, 2 passes).
fn hash_key(secret: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|err| anyhow::anyhow!("no randomness for a salt: {err}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|err| anyhow::anyhow!("bad salt: {err}"))?;
    let hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|err| anyhow::anyhow!("failed to hash a key: {err}"))?;
    Ok(hash.to_string())
}

/// Whether `secret` matches the stored PHC string (the comparison is constant-time).
fn key_matches(secret: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|hash| Argon2::default().verify_password(secret.as_bytes(), &hash).is_ok())
}

/// Runs Argon2id off the async executor.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|err| anyhow::anyhow!("key hashing failed: {err}"))
}

fn key_from_row(row: &sqlx::any::AnyRow) -> sqlx::Result<ApiKey> {
    let role: String = row.try_get("role")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "role".to_owned(),
            source: format!("unknown role {role:?}").into(),
        })?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Creates a key and returns it with its secret, which is not stored and cannot be
    /// shown again.
    pub async fn create_key(&self, name: &str, role: Role) -> anyhow::Result<(ApiKey, String)> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness for a key: {err}"))?;
        let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
        let lookup = lookup_id(&secret).expect("a new key is well formed");
        let hash = blocking({
            let secret = secret.clone();
            move || hash_key(&secret)
        })
        .await??;
        let created_at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (name, role, key_lookup, key_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(lookup)
        .bind(hash)
        .bind(&created_at)
        .fetch_one(&self.pool)
        .await?;
        Ok((ApiKey { id, name: name.to_owned(), role, created_at, revoked_at: None }, secret))
    }

    /// The live (not revoked) key with this secret, if any.
    pub async fn authenticate(&self, secret: &str) -> anyhow::Result<Option<ApiKey>> {
        let Some(lookup) = lookup_id(secret) else {
            return Ok(None);
        };
        let fingerprint: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(id) = self.verified_keys.get(&fingerprint) {
            return Ok(self.live_key(id).await?);
        }
        let row = sqlx::query(
            "SELECT id, name, role, created_at, revoked_at, key_lookup, key_hash FROM api_keys \
             WHERE key_lookup IN ($1, $2) AND revoked_at IS NULL",
        )
        .bind(&lookup)
        .bind(sha256_hex(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let key = key_from_row(&row)?;
        match row.try_get::<Option<String>, _>("key_hash")? {
            Some(stored_hash) => {
                let secret = secret.to_owned();
                if !blocking(move || key_matches(&secret, &stored_hash)).await? {
                    return Ok(None);
                }
            }
            // A key from before Argon2: it matched on its full SHA-256; rehash it.
            None => self.upgrade_legacy_key(key.id, secret, &lookup).await?,
        }
        self.verified_keys.insert(fingerprint, key.id);
        Ok(Some(key))
    }

    /// The key with this id, unless it has been revoked.
    async fn live_key(&self, id: i64) -> sqlx::Result<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, name, role, created_at, revoked_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn upgrade_legacy_key(&self, id: i64, secret: &str, lookup: &str) -> anyhow::Result<()> {
        let hash = blocking({
            let secret = secret.to_owned();
            move || hash_key(&secret)
        })
        .await??;
        sqlx::query("UPDATE api_keys SET key_lookup = $1, key_hash = $2 WHERE id = $3 AND key_hash IS NULL")
            .bind(lookup)
            .bind(hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every key, oldest first.
    pub async fn list_keys(&self) -> sqlx::Result<Vec<ApiKey>> {
        let rows = sqlx::query("SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key; returns whether a live key was revoked.
    pub async fn revoke_key(&self, id: i64) -> sqlx::Result<bool> {
        let result = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
