//! cadena screens suppliers, recruitment agencies and procurements for links to forced
//! labour and trafficking in persons (OAS Third Work Plan against Trafficking in
//! Persons, ¶34 and ¶39–40).
//!
//! Layout:
//! - `records`: the record kinds (supplier, agency, procurement line, watchlist entry,
//!   licence entry), their schema tables and the validation of CSV cells.
//! - `rules`: the risk rule engine and the bundled rule set (`rules/`).
//! - `lang`: the languages of the texts people read (Spanish, Portuguese, English).
//! - `taxid`: tax-id validation per country (RUC, NIT, RUT, RFC, CUIT, CNPJ, CPF).
//! - `csv_reader`: reading real-world CSV files (encoding and delimiter detection).
//! - `store`: the SQL system of record (SQLite or PostgreSQL): records, loads, rejected rows.
//! - `import`: published formats (OCDS, Lista Suja, CBP WRO, …) turned into records.
//! - `ingest`: loading files into the store, and the background ingestion worker.
//! - `matching`: the entity index (tantivy) and explainable name, tax-id and country matching.
//! - `indexer`: the one writer of the index, which follows the store by version.
//! - `screening`: matching and rules together, for one input or a whole file.
//! - `decisions`: reviewers' decisions on matches, and how screenings honour them.
//! - `request`: API request bodies read field by field with the parsers of CSV cells.
//! - `service`: the screening service (cache, audit trail) behind the HTTP API.
//! - `audit`: batch audits, screened in leased chunks by every worker.
//! - `monitoring`: alerts when a load changes what is known about the supplier base, and webhooks.
//! - `http`: the HTTP API served by `cadena serve`.
//! - `demo`: the bundled, fictional demo dataset.
//! - `cli`: what the command-line subcommands do.
//! - `progress`: progress of long command-line work, shown on a terminal only.

pub mod audit;
pub mod cli;
pub mod csv_reader;
pub mod decisions;
pub mod demo;
pub mod http;
pub mod import;
pub mod indexer;
pub mod ingest;
pub mod lang;
pub mod matching;
pub mod monitoring;
pub mod progress;
pub mod records;
pub mod request;
pub mod rules;
pub mod screening;
pub mod service;
pub mod store;
pub mod taxid;
