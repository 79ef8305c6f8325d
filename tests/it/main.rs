//! cadena's integration tests, in one binary (link time matters on two cores).
//!
//! Tests that touch the store run against SQLite and, when `CADENA_TEST_DATABASE_URL`
//! names a PostgreSQL server, against PostgreSQL too; each gets a fresh database.

mod browser;
mod cli;
mod harness;
mod http;
mod import;
mod ingest;
mod matching;
mod monitoring;
mod protocols;
mod reliability;
mod replicas;
mod rules;
mod security;
