//! The `cadena` command: parses arguments and dispatches to `cadena::cli`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use cadena::cli;
use cadena::import::Format;
use cadena::ingest::DEFAULT_SOURCE;
use cadena::matching::SearchQuery;
use cadena::monitoring::{AlertKind, AlertStatus};
use cadena::records::RecordKind;
use cadena::store::keys::Role;
use cadena::store::{Store, StoreConfig};

/// mimalloc rather than the system allocator: screening allocates and frees many small
/// strings on every thread, where glibc's malloc spent a fifth of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Supply-chain trafficking-risk screening: suppliers, recruitment agencies, procurements.
#[derive(Debug, Parser)]
#[command(name = "cadena", version, about)]
struct Cli {
    #[command(flatten)]
    store: StoreConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API, with the ingestion worker running in the background.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CADENA_BIND", default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Load the bundled demo dataset (fictional names) before serving, and print an
        /// admin API key to try it with.
        #[arg(long)]
        demo: bool,
        /// A rules directory to use instead of the bundled rule set.
        #[arg(long, env = "CADENA_RULES_DIR")]
        rules_dir: Option<PathBuf>,
        /// Requests per second each API key may make on average (bursts of twice that).
        #[arg(long, env = "CADENA_RATE_LIMIT", default_value_t = cadena::http::DEFAULT_RATE_LIMIT)]
        rate_limit: f64,
        /// How much memory, in MiB, the screening result cache may hold (0 turns it off).
        #[arg(long, env = "CADENA_CACHE_MIB", default_value_t = cadena::service::DEFAULT_CACHE_BYTES / (1024 * 1024))]
        cache_mib: u64,
    },
    /// Create, list or revoke API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Load a file into the store and print what happened: `cadena ingest KIND FILE` for
    /// a CSV of one record kind, `cadena ingest FILE` for a published format (OCDS release
    /// or record packages, OpenSanctions FollowTheMoney JSON lines or targets.simple.csv,
    /// Brazil's Lista Suja, CBP Withhold Release Orders, the ILAB list of goods), which is
    /// detected or given with --format.
    Ingest {
        /// What the file holds (watchlist, suppliers, agencies, procurements, licences),
        /// or the file itself when its format tells what it holds.
        kind_or_file: String,
        /// The file (CSV in UTF-8 or Windows-1252 with comma, semicolon or tab; or JSON).
        file: Option<PathBuf>,
        /// The file's format; detected from its name and first bytes when not given.
        #[arg(long)]
        format: Option<Format>,
        /// Send a CSV column to a field, as `--map 'Razón Social=name'` (repeatable);
        /// common Spanish, Portuguese and English header names are recognised without it.
        #[arg(long = "map", value_name = "COLUMN=FIELD")]
        map: Vec<String>,
        /// For the ILAB list: its edition (such as 2024), when the file does not say.
        #[arg(long)]
        edition: Option<String>,
        /// Where the rows come from; a row's id is unique within its source, so loading
        /// the same ids into the same source again updates them.
        #[arg(long, default_value = DEFAULT_SOURCE)]
        source: String,
        /// Queue the load for a running `cadena serve` instead of running it here.
        #[arg(long)]
        queue: bool,
    },
    /// List loads (dataset versions), or show one with all the rows it rejected.
    Datasets {
        /// The load to show.
        id: Option<i64>,
        /// How many loads to list, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the entity search index from the store.
    Reindex,
    /// Check that the search index agrees with the store (exit status 1 if not), and
    /// with `--repair` mend what differs.
    CheckIndex {
        /// Re-index missing and stale records and drop documents of deleted ones.
        #[arg(long)]
        repair: bool,
    },
    /// Screen every supplier or procurement line of a CSV file against the loaded
    /// watchlists and the risk rules, and write a report.
    Screen {
        /// A supplier or procurement CSV file (the columns of `cadena ingest suppliers` or
        /// `cadena ingest procurements`, or their aliases; a column for `procurement_id`,
        /// such as `ocid` or `Procurement ID`, makes it a procurement file), or an OCDS file.
        file: PathBuf,
        /// Where to write the report (one row per input row).
        #[arg(long)]
        out: PathBuf,
        /// The report's format: CSV, CSV with a byte-order mark (what Excel needs to show
        /// accents right), or an Excel workbook.
        #[arg(long, value_enum, default_value_t = cadena::screening::ReportFormat::Csv)]
        report_format: cadena::screening::ReportFormat,
        /// A rules directory to use instead of the bundled rule set.
        #[arg(long, env = "CADENA_RULES_DIR")]
        rules_dir: Option<PathBuf>,
        /// Send a CSV column to a field, as `--map 'Nº Proceso=procurement_id'` (repeatable),
        /// as for `ingest`; a mapped `procurement_id` makes the file a procurement file.
        #[arg(long = "map", value_name = "COLUMN=FIELD")]
        map: Vec<String>,
        /// The language of the report's texts (the match explanations): es, pt or en.
        #[arg(long, default_value = "en", value_name = "LANG")]
        lang: cadena::lang::Lang,
    },
    /// Search recruitment agencies (or other entities) by name, tax id or licence number.
    Search {
        /// A name or part of one (typos and missing accents are fine), a tax id or a licence number.
        text: String,
        /// What to search: agencies (the default), suppliers or watchlist.
        #[arg(long, hide_possible_values = true)]
        kind: Option<RecordKind>,
        /// Only entities of this country: an ISO 3166-1 code (PE, PER) or its English,
        /// Spanish or Portuguese name (Peru, Perú).
        #[arg(long)]
        country: Option<String>,
        /// Only entities of this region (name or ISO 3166-2 code; give --country with a name).
        #[arg(long)]
        region: Option<String>,
        /// Only agencies with this licence status (active, pending, suspended, expired, revoked,
        /// unlicensed, or their Spanish and Portuguese words such as vigente or sin licencia).
        #[arg(long)]
        status: Option<String>,
        /// How many results to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON (with the full explanation of each result).
        #[arg(long)]
        json: bool,
    },
    /// Create or update the database schema, then exit (every command also does this).
    Migrate,
    /// List monitoring's alerts (open ones unless told otherwise), newest first.
    Alerts {
        /// Only alerts with this status.
        #[arg(long, default_value = "open", conflicts_with = "all")]
        status: AlertStatus,
        /// Open and closed alerts.
        #[arg(long)]
        all: bool,
        /// Only alerts of this kind.
        #[arg(long)]
        kind: Option<AlertKind>,
        /// How many alerts to list.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON (with each alert's match explanation).
        #[arg(long)]
        json: bool,
    },
    /// Add, list or remove the webhooks that alerts are delivered to, and see the delivery log.
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Check the risk rules, or run their test cases.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
        /// A rules directory to use instead of the bundled rule set.
        #[arg(long, env = "CADENA_RULES_DIR", global = true)]
        rules_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum RulesAction {
    /// Load every rule and list file and report every problem as `file:line: message`.
    Check,
    /// Run every rule's test cases; fail on any failing case or any rule no case fires.
    Test,
}

#[derive(Debug, Subcommand)]
enum WebhooksAction {
    /// Deliver alerts to URL (http:// or https://) as signed JSON; prints the signing
    /// secret once, alone on the last line.
    Add {
        url: String,
        /// Only alerts of this kind (repeatable; every kind when not given).
        #[arg(long = "kind")]
        kinds: Vec<AlertKind>,
    },
    /// List the webhooks (never their secrets).
    List,
    /// Stop delivering to a webhook; its log stays.
    Remove {
        /// The webhook's id, as `cadena webhooks list` shows it.
        id: i64,
    },
    /// The delivery log: each delivery with every try and what came of it.
    Deliveries {
        /// Only the deliveries to this webhook.
        #[arg(long)]
        webhook: Option<i64>,
        /// How many deliveries to show, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Queue the deliveries that were given up again, to be tried now.
    Retry {
        /// Only those to this webhook.
        #[arg(long)]
        webhook: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Create a key; it is printed once, alone on the last line.
    Create {
        /// What the key may do.
        #[arg(long)]
        role: Role,
        /// Who or what the key is for.
        #[arg(long, default_value = "unnamed")]
        name: String,
    },
    /// List the keys (never their secrets).
    List,
    /// Revoke a key: it stops working at once.
    Revoke {
        /// The key's id, as `cadena keys list` shows it.
        id: i64,
    },
}

fn main() -> ExitCode {
    // As command-line tools do: output piped into `head` ends the process quietly when
    // the reader goes away, instead of a panic on the broken pipe.
    sigpipe::reset();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("CADENA_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cadena: error: failed to start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cadena: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Rules { action, rules_dir } = &cli.command {
        return match action {
            RulesAction::Check => cli::rules_check(rules_dir.as_deref(), &cli.store.data_dir),
            RulesAction::Test => cli::rules_test(rules_dir.as_deref(), &cli.store.data_dir),
        };
    }
    let store = Store::open(&cli.store).await?;
    let index_dir = cli.store.index_dir();
    let data_dir = cli.store.data_dir.clone();
    match cli.command {
        Command::Serve { bind, demo, rules_dir, rate_limit, cache_mib } => {
            let options = cli::ServeOptions { bind, demo, rules_dir: rules_dir.as_deref(), rate_limit, cache_mib };
            cli::serve(store, &data_dir, &index_dir, options).await
        }
        Command::Keys { action: KeysAction::Create { role, name } } => cli::keys_create(&store, role, &name).await,
        Command::Keys { action: KeysAction::List } => cli::keys_list(&store).await,
        Command::Keys { action: KeysAction::Revoke { id } } => cli::keys_revoke(&store, id).await,
        Command::Ingest { kind_or_file, file, format, map, edition, source, queue } => {
            let (kind, file) = match file {
                Some(file) => {
                    let kind = <RecordKind as clap::ValueEnum>::from_str(&kind_or_file, true).map_err(|_| {
                        anyhow::anyhow!(
                            "{kind_or_file:?} is not a record kind (watchlist, suppliers, agencies, procurements, licences)"
                        )
                    })?;
                    (Some(kind), file)
                }
                None => (None, PathBuf::from(kind_or_file)),
            };
            if format == Some(Format::Ilab) || (kind.is_none() && cli::is_ilab_file(&file)) {
                return cli::ingest_ilab(&data_dir, &file, edition.as_deref());
            }
            let file = cli::IngestFile { path: &file, kind, format, column_map: &map };
            cli::ingest(&store, &index_dir, file, &source, queue).await
        }
        Command::Reindex => cli::reindex(&store, &index_dir).await,
        Command::CheckIndex { repair } => cli::check_index(&store, &index_dir, repair).await,
        Command::Screen { file, out, report_format, rules_dir, map, lang } => {
            let report = cli::Report { path: &out, format: report_format, lang };
            cli::screen(&store, &data_dir, &index_dir, rules_dir.as_deref(), &file, &map, report).await
        }
        Command::Search { text, kind, country, region, status, limit, json } => {
            let query = SearchQuery::from_user(text, kind, country, region, status, limit)
                .map_err(|err| anyhow::anyhow!("--{err}"))?;
            cli::search(&store, &index_dir, &query, json).await
        }
        Command::Datasets { id, limit, json } => cli::datasets(&store, id, limit, json).await,
        Command::Alerts { status, all, kind, limit, json } => {
            cli::alerts(&store, (!all).then_some(status), kind, limit, json).await
        }
        Command::Webhooks { action } => match action {
            WebhooksAction::Add { url, kinds } => cli::webhooks_add(&store, &url, &kinds).await,
            WebhooksAction::List => cli::webhooks_list(&store).await,
            WebhooksAction::Remove { id } => cli::webhooks_remove(&store, id).await,
            WebhooksAction::Deliveries { webhook, limit, json } => {
                cli::webhooks_deliveries(&store, webhook, limit, json).await
            }
            WebhooksAction::Retry { webhook } => cli::webhooks_retry(&store, webhook).await,
        },
        Command::Migrate => {
            println!("the database schema is up to date");
            Ok(())
        }
        Command::Rules { .. } => unreachable!("handled before the store is opened"),
    }
}
