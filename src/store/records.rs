//! Writing and reading records of every kind, driven by each kind's schema table.
//!
//! A record is written as an upsert on `(source, record_key)`; its content hash tells a
//! changed record (updated) from an unchanged one (left alone, not even rewritten).

use std::collections::HashMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Store};
use crate::records::{FieldType, Record, RecordKind, Supplier, record_key};

/// One column value, typed so that a NULL reaches PostgreSQL with the column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(Option<String>),
    Number(Option<f64>),
    Bool(Option<bool>),
}

/// A record ready to be written.
#[derive(Debug, Clone)]
pub struct PreparedRecord {
    /// The record's id within its source (see [`record_key`]).
    pub key: String,
    /// Hex SHA-256 prefix over all the record's fields, extra attributes included.
    pub content_hash: String,
    /// One value per schema field of the kind, in schema order, then `extra`.
    pub values: Vec<SqlValue>,
}

/// Turns a record into its key, content hash and column values.
pub fn prepare<R: Record>(record: &R) -> Result<PreparedRecord, serde_json::Error> {
    let value = serde_json::to_value(record)?;
    let content_hash = hex::encode(&Sha256::digest(value.to_string().as_bytes())[..16]);
    let mut values: Vec<SqlValue> =
        R::KIND.fields().iter().map(|field| sql_value(field.ty, &value[field.name])).collect();
    values.push(SqlValue::Text(Some(value["extra"].to_string())));
    Ok(PreparedRecord { key: record_key(R::KIND, &value), content_hash, values })
}

fn sql_value(ty: FieldType, value: &Value) -> SqlValue {
    match ty {
        FieldType::List => SqlValue::Text(Some(value.to_string())),
        FieldType::Number => SqlValue::Number(value.as_f64()),
        FieldType::Bool => SqlValue::Bool(value.as_bool()),
        FieldType::Text | FieldType::Country | FieldType::Date | FieldType::Currency | FieldType::LicenceStatus => {
            SqlValue::Text(value.as_str().map(str::to_owned))
        }
    }
}

/// The columns of a kind's table that hold the record itself, in [`PreparedRecord::values`] order.
fn record_columns(kind: RecordKind) -> Vec<&'static str> {
    kind.fields().iter().map(|field| field.name).chain(["extra"]).collect()
}

/// How many rows go into one multi-row statement: as many as fit under SQLite's limit
/// of 32,766 bound parameters, at most 500.
fn rows_per_statement(kind: RecordKind) -> usize {
    let n_params_per_row = record_columns(kind).len() + 5;
    (30_000 / n_params_per_row).min(500)
}

/// The content hashes of those of `keys` that already exist in `source`.
pub(crate) async fn existing_hashes(
    conn: &mut AnyConnection,
    kind: RecordKind,
    source: &str,
    keys: &[&str],
) -> sqlx::Result<HashMap<String, String>> {
    let backend = Backend::of(conn);
    let mut hashes = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(1000) {
        let sql = format!(
            "SELECT record_key, content_hash FROM {} WHERE source = {} AND record_key IN ({})",
            kind.table(),
            backend.placeholders(1, 1),
            backend.placeholders(2, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)).bind(source);
        for key in chunk {
            query = query.bind(*key);
        }
        hashes.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(hashes)
}

/// Inserts new records and updates changed ones, as part of a load's transaction.
pub(crate) async fn upsert(
    conn: &mut AnyConnection,
    kind: RecordKind,
    source: &str,
    dataset_id: i64,
    records: &[&PreparedRecord],
) -> sqlx::Result<()> {
    let backend = Backend::of(conn);
    let columns = record_columns(kind);
    let n_params_per_row = columns.len() + 5;
    for chunk in records.chunks(rows_per_statement(kind)) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|row_idx| format!("({})", backend.placeholders(row_idx * n_params_per_row + 1, n_params_per_row)))
            .collect();
        let updates: Vec<String> = columns
            .iter()
            .chain(&["content_hash", "dataset_id"])
            .map(|column| format!("{column} = excluded.{column}"))
            .collect();
        let sql = format!(
            "INSERT INTO {} (source, record_key, content_hash, first_dataset_id, dataset_id, {}) VALUES {} \
             ON CONFLICT (source, record_key) DO UPDATE SET {}",
            kind.table(),
            columns.join(", "),
            rows.join(", "),
            updates.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for record in chunk {
            query = query
                .bind(source)
                .bind(record.key.as_str())
                .bind(record.content_hash.as_str())
                .bind(dataset_id)
                .bind(dataset_id);
            for value in &record.values {
                query = match value {
                    SqlValue::Text(text) => query.bind(text.as_deref()),
                    SqlValue::Number(Some(number)) => query.bind(*number),
                    // sqlx 0.9's Any driver sends a NULL f64 as a PostgreSQL float4 (it
                    // swaps Real and Double for NULLs), and a statement PostgreSQL prepared
                    // with that type then refuses a real f64 in a later load on the same
                    // connection. A NULL f32 is sent as float8, the column's type.
                    SqlValue::Number(None) => query.bind(None::<f32>),
                    // Stored as 1/0 on both backends: sqlx's Any driver cannot decode SQLite booleans.
                    SqlValue::Bool(flag) => query.bind(flag.map(i64::from)),
                };
            }
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rebuilds a record from its row, using the kind's schema to decode each column.
fn record_from_row<R: Record>(row: &AnyRow) -> Result<R, sqlx::Error> {
    let decode_err = |column: &str, err: serde_json::Error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(err),
    };
    let mut object = Map::new();
    for field in R::KIND.fields() {
        let value = match field.ty {
            FieldType::List => {
                let json: String = row.try_get(field.name)?;
                serde_json::from_str(&json).map_err(|err| decode_err(field.name, err))?
            }
            FieldType::Number => row.try_get::<Option<f64>, _>(field.name)?.map_or(Value::Null, Value::from),
            FieldType::Bool => {
                row.try_get::<Option<i64>, _>(field.name)?.map_or(Value::Null, |flag| Value::from(flag != 0))
            }
            _ => row.try_get::<Option<String>, _>(field.name)?.map_or(Value::Null, Value::from),
        };
        object.insert(field.name.to_owned(), value);
    }
    let extra: String = row.try_get("extra")?;
    object.insert("extra".to_owned(), serde_json::from_str(&extra).map_err(|err| decode_err("extra", err))?);
    serde_json::from_value(Value::Object(object)).map_err(|err| decode_err("record", err))
}

/// `SELECT` of a kind's record columns, followed by `conditions` (`WHERE`, `ORDER BY`, …).
fn select_records(kind: RecordKind, conditions: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {} FROM {} {conditions}", record_columns(kind).join(", "), kind.table()))
}

/// `SELECT` of a kind's source, key and record columns, followed by `conditions`.
fn select_records_with_keys(kind: RecordKind, conditions: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT source, record_key, {} FROM {} {conditions}",
        record_columns(kind).join(", "),
        kind.table()
    ))
}

/// Rebuilds a record with its source and key from a row that selected them too.
fn stored_record_from_row<R: Record>(row: &AnyRow) -> Result<StoredRecord<R>, sqlx::Error> {
    Ok(StoredRecord { source: row.try_get("source")?, key: row.try_get("record_key")?, record: record_from_row(row)? })
}

/// A record with the source and key it is stored under.
#[derive(Debug, Clone)]
pub struct StoredRecord<R> {
    pub source: String,
    pub key: String,
    pub record: R,
}

/// Reads records of one kind in `(source, key)` order, `limit` at a time, starting after
/// `after`; with `changed_in` a version range `(from, to]`, only those last changed by
/// the loads that made those store versions.
pub(crate) async fn page_records<R: Record>(
    conn: &mut AnyConnection,
    changed_in: Option<(i64, i64)>,
    after: Option<&(String, String)>,
    limit: i64,
) -> sqlx::Result<Vec<StoredRecord<R>>> {
    let (after_source, after_key) = after.cloned().unwrap_or_default();
    let changed = if changed_in.is_some() {
        "dataset_id IN (SELECT id FROM datasets WHERE version > $4 AND version <= $5) AND"
    } else {
        ""
    };
    let sql = format!(
        "SELECT source, record_key, {} FROM {} WHERE {changed} (source > $1 OR (source = $1 AND record_key > $2)) \
         ORDER BY source, record_key LIMIT $3",
        record_columns(R::KIND).join(", "),
        R::KIND.table()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after_source).bind(after_key).bind(limit);
    if let Some((from, to)) = changed_in {
        query = query.bind(from).bind(to);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    rows.iter().map(stored_record_from_row).collect()
}

impl Store {
    /// Reads the records of one kind whose key is one of `keys`, from every source,
    /// ordered by key then source.
    pub async fn records_by_keys<R: Record>(&self, keys: &[String]) -> sqlx::Result<Vec<StoredRecord<R>>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(500) {
            let sql = format!(
                "SELECT source, record_key, {} FROM {} WHERE record_key IN ({}) ORDER BY record_key, source",
                record_columns(R::KIND).join(", "),
                R::KIND.table(),
                self.backend.placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(key.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(stored_record_from_row(&row)?);
            }
        }
        Ok(found)
    }

    /// Records of one kind that the load `dataset_id` inserted or was the last to change,
    /// in `(source, key)` order, `limit` at a time after `after`.
    pub async fn records_changed_by<R: Record>(
        &self,
        dataset_id: i64,
        after: Option<&(String, String)>,
        limit: i64,
    ) -> sqlx::Result<Vec<StoredRecord<R>>> {
        let (after_source, after_key) = after.cloned().unwrap_or_default();
        let sql = select_records_with_keys(
            R::KIND,
            "WHERE dataset_id = $1 AND (source > $2 OR (source = $2 AND record_key > $3)) \
             ORDER BY source, record_key LIMIT $4",
        );
        let rows = sqlx::query(sql)
            .bind(dataset_id)
            .bind(after_source)
            .bind(after_key)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored_record_from_row).collect()
    }

    /// How many records of a kind the load `dataset_id` inserted or was the last to change.
    pub async fn count_records_changed_by(&self, kind: RecordKind, dataset_id: i64) -> sqlx::Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE dataset_id = $1", kind.table());
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(dataset_id).fetch_one(&self.pool).await
    }

    /// Reads one record by its source and key.
    pub async fn get_record<R: Record>(&self, source: &str, key: &str) -> sqlx::Result<Option<R>> {
        let sql = select_records(R::KIND, "WHERE source = $1 AND record_key = $2");
        let row = sqlx::query(sql).bind(source).bind(key).fetch_optional(&self.pool).await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Reads the records of one kind, ordered by source and key, a page at a time.
    pub async fn list_records<R: Record>(&self, limit: i64, offset: i64) -> sqlx::Result<Vec<R>> {
        let sql = select_records(R::KIND, "ORDER BY source, record_key LIMIT $1 OFFSET $2");
        let rows = sqlx::query(sql).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        rows.iter().map(record_from_row).collect()
    }

    /// The suppliers that name `agency_id` among their agencies, from every source,
    /// ordered by source and key (at most 1,000).
    pub async fn suppliers_of_agency(&self, agency_id: &str) -> sqlx::Result<Vec<StoredRecord<Supplier>>> {
        // `agency_ids` holds a JSON array of strings: look for the quoted id, with `!`
        // escaping LIKE's wildcards, then keep the exact matches.
        let quoted = Value::from(agency_id).to_string();
        let escaped = quoted.replace('!', "!!").replace('%', "!%").replace('_', "!_");
        let sql = format!(
            "SELECT source, record_key, {} FROM {} WHERE agency_ids LIKE $1 ESCAPE '!' \
             ORDER BY source, record_key LIMIT 1000",
            record_columns(RecordKind::Suppliers).join(", "),
            RecordKind::Suppliers.table()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(format!("%{escaped}%")).fetch_all(&self.pool).await?;
        let mut found = Vec::new();
        for row in &rows {
            let stored: StoredRecord<Supplier> = stored_record_from_row(row)?;
            if stored.record.agency_ids.iter().any(|id| id == agency_id) {
                found.push(stored);
            }
        }
        Ok(found)
    }

    /// The watchlists loaded: each source with each list name its entries carry.
    pub async fn watchlist_lists(&self) -> sqlx::Result<Vec<(String, Option<String>)>> {
        sqlx::query_as("SELECT DISTINCT source, list FROM watchlist_entries ORDER BY source, list")
            .fetch_all(&self.pool)
            .await
    }

    /// How many records of a kind the store holds.
    pub async fn count_records(&self, kind: RecordKind) -> sqlx::Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {}", kind.table());
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await
    }
}
