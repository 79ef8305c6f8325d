//! API keys: who may call the service, and in which role.
//!
//! A key is 32 random bytes, written `cadena_` + 64 hex digits. Only its SHA-256 is
//! stored; a presented key is hashed and looked up by that hash, so the secret is never
//! compared byte by byte and never stored. The key itself is shown once, when created.

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

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
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
        let created_at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (name, role, key_sha256, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(sha256_hex(&secret))
        .bind(&created_at)
        .fetch_one(&self.pool)
        .await?;
        Ok((ApiKey { id, name: name.to_owned(), role, created_at, revoked_at: None }, secret))
    }

    /// The live (not revoked) key with this secret, if any.
    pub async fn authenticate(&self, secret: &str) -> sqlx::Result<Option<ApiKey>> {
        if !secret.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, name, role, created_at, revoked_at FROM api_keys \
             WHERE key_sha256 = $1 AND revoked_at IS NULL",
        )
        .bind(sha256_hex(secret))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
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
