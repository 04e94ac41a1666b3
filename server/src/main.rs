//! The `shuyu` command line. It only parses flags, sets up logging and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// shuyu (数域): an authorized operation domain for public data.
#[derive(Parser, Debug)]
#[command(name = "shuyu", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the demo on embedded defaults: generates the city's datasets, bootstraps the
    /// bureau, two operating units and their authorizations, and answers their analysts'
    /// queries privately, charging each to its budget.
    Demo {
        /// Data directory (datasets, governance store, credentials).
        #[arg(long, default_value = "data/demo", env = "SHUYU_DATA_DIR")]
        data_dir: PathBuf,
        /// Residents to generate (other tables scale with it).
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        /// Output format of result tables.
        #[arg(long, value_enum, default_value_t = shuyu::output::Format::Table)]
        output: shuyu::output::Format,
        /// Address to serve Arrow Flight SQL on after the script (port 0: any free port;
        /// the bound address is written to credentials.json).
        #[arg(long, default_value = shuyu::config::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Address to serve the web console on (port 0: any free port; the bound address
        /// is written to credentials.json as `console_url`).
        #[arg(long, default_value = shuyu::config::DEFAULT_CONSOLE_LISTEN)]
        console_listen: SocketAddr,
        /// Stop after the script instead of serving.
        #[arg(long)]
        no_serve: bool,
        /// Where releases' inner plans run: `local`, or `ballista` (starts a scheduler and
        /// two executors on loopback and runs the demo's queries through them).
        #[arg(long, default_value = "local")]
        engine: shuyu::config::EngineKind,
    },
    /// Serves Arrow Flight SQL over an existing data directory until Ctrl-C.
    Serve {
        /// Configuration file (TOML); every key can be overridden by SHUYU_* variables.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The Ballista cluster releases' inner plans run on with `engine = "ballista"`:
    /// `shuyu cluster scheduler`, `shuyu cluster executor`.
    Cluster(shuyu::cli::cluster::ClusterArgs),
    /// The bureau's administration over the admin gRPC service (catalog, units, people,
    /// tokens, authorizations, reviews, suspension and revocation, audit, reports).
    Admin(shuyu::cli::admin::AdminArgs),
    /// Key custodian: the keys of encrypted social data.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Key custodian: encrypts a CSV or Parquet file into an import bundle.
    Encrypt(EncryptArgs),
    /// Key custodian: the keyholder, which decrypts only domain-signed releases.
    Keyholder {
        #[command(subcommand)]
        command: KeyholderCommand,
    },
    /// Dataset tools.
    Datasets {
        #[command(subcommand)]
        command: DatasetsCommand,
    },
    /// The dev environment.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// Runs one SQL query privately over generated datasets in a local folder (no store:
    /// for trying queries; the budget is the one given here and is not recorded).
    Query {
        /// Folder with the generated datasets.
        #[arg(long, default_value = "data/demo/datasets")]
        data_dir: PathBuf,
        /// Epsilon (pure DP) for this query.
        #[arg(long, default_value_t = 1.0)]
        epsilon: f64,
        /// Use zCDP with this rho instead of pure epsilon (enables partition selection).
        #[arg(long)]
        rho: Option<f64>,
        /// Delta for partition selection (with --rho).
        #[arg(long, default_value_t = 1e-6)]
        delta: f64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = shuyu::output::Format::Table)]
        output: shuyu::output::Format,
        /// The SQL (prefix with EXPLAIN PRIVACY to see releases and cost).
        sql: String,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generates the custodian's keys: DIR/custodian.key (secret, 0600), DIR/domain.keys
    /// (for the bureau's [encryption] domain_keys) and DIR/conversion.keys (for
    /// [encryption] conversion_keys).
    Generate {
        /// Key directory to create (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Skip the conversion key (about a minute and 2.1 GB): the domain then sums every
        /// encrypted column on the bootstrapped tier.
        #[arg(long)]
        no_conversion_key: bool,
    },
}

#[derive(clap::Args, Debug)]
struct EncryptArgs {
    /// The custodian's key directory.
    #[arg(long)]
    keys: PathBuf,
    /// Input file (.csv with a header line, or .parquet).
    #[arg(long)]
    input: PathBuf,
    /// The join-key column (the person identifier).
    #[arg(long)]
    key_column: String,
    /// File with the authorization's pseudonym key (64 hex digits; GetEncryptionParameters).
    #[arg(long)]
    pseudonym_key: PathBuf,
    /// The domain's CRS file (GetEncryptionParameters; needed for bootstrapped columns).
    #[arg(long)]
    crs: Option<PathBuf>,
    /// The authorization the bundle is for.
    #[arg(long)]
    authorization: i64,
    /// A value column to encrypt: NAME:BOUND[:bootstrapped|linear] (repeatable).
    #[arg(long = "column", required = true, value_parser = shuyu::custodian::parse_column)]
    columns: Vec<shuyu_crypto::bundle::ColumnSpec>,
    /// The bundle directory to create.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand, Debug)]
enum KeyholderCommand {
    /// Serves the keyholder until Ctrl-C.
    Serve {
        /// The custodian's key directory.
        #[arg(long)]
        keys: PathBuf,
        /// The domain's public key (domain/signing.pub: 64 hex digits).
        #[arg(long)]
        domain_key: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50061")]
        listen: SocketAddr,
        /// Journal of grants and decryptions.
        #[arg(long)]
        journal: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum DatasetsCommand {
    /// Generates the demo datasets (Parquet + manifests), deterministically from a seed.
    Generate {
        /// Residents (medical visits ~3x, enterprises /20).
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Seed.
        #[arg(long, default_value_t = shuyu::DEFAULT_SEED)]
        seed: u64,
    },
}

#[derive(Subcommand, Debug)]
enum DevCommand {
    /// Builds the masked samples of the dev environment from DATA_DIR/datasets into
    /// DATA_DIR/dev (replaced whole), hashing with DATA_DIR/secrets/masking.key.
    Samples {
        /// Data directory.
        #[arg(long, default_value = "data/demo", env = "SHUYU_DATA_DIR")]
        data_dir: PathBuf,
        /// Share of privacy units (or rows) kept, in (0, 1].
        #[arg(long, default_value_t = 0.1)]
        fraction: f64,
        /// Most rows of one table's sample.
        #[arg(long, default_value_t = 10_000)]
        max_rows: u64,
        /// Seed of the selection and of shuffles.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    shuyu::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo { data_dir, rows, output, listen, console_listen, no_serve, engine } => {
                let limits = shuyu::config::Config::load(None)?.limits;
                let opts = shuyu::demo::DemoOptions {
                    data_dir,
                    rows,
                    format: output,
                    listen: (!no_serve).then_some(listen),
                    console_listen: (!no_serve).then_some(console_listen),
                    limits,
                    engine,
                };
                shuyu::demo::run(&opts).await
            }
            Command::Admin(args) => shuyu::cli::admin::run(args).await,
            Command::Cluster(args) => shuyu::cli::cluster::run(args).await,
            Command::Serve { config } => shuyu::server::serve(shuyu::config::Config::load(config.as_deref())?).await,
            Command::Keys { command: KeysCommand::Generate { out, no_conversion_key } } => {
                shuyu::custodian::generate_keys(&out, !no_conversion_key)
            }
            Command::Encrypt(a) => {
                let options = shuyu::custodian::EncryptOptions {
                    keys: a.keys,
                    input: a.input,
                    key_column: a.key_column,
                    pseudonym_key: a.pseudonym_key,
                    crs: a.crs,
                    authorization: a.authorization,
                    columns: a.columns,
                    out: a.out,
                    progress: true,
                };
                shuyu::custodian::encrypt(&options).await.map(|m| println!("bundle written: {} rows", m.rows))
            }
            Command::Keyholder { command: KeyholderCommand::Serve { keys, domain_key, listen, journal } } => {
                shuyu::keyholder::serve(&shuyu::keyholder::ServeOptions { keys, domain_key, listen, journal }).await
            }
            Command::Datasets { command: DatasetsCommand::Generate { rows, out, seed } } => shuyu::datasets::generate(&out, rows, seed),
            Command::Dev { command: DevCommand::Samples { data_dir, fraction, max_rows, seed } } => {
                let options = shuyu_datasets::sample::SampleOptions { fraction, max_rows, seed };
                shuyu::samples::run_samples(&shuyu_runtime::dev::SamplesJob::in_data_dir(&data_dir, options))
            }
            Command::Query { data_dir, epsilon, rho, delta, output, sql } => {
                shuyu::query::run_local(&data_dir, &sql, epsilon, rho, delta, output).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
