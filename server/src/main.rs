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
        /// Stop after the script instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Serves Arrow Flight SQL over an existing data directory until Ctrl-C.
    Serve {
        /// Configuration file (TOML); every key can be overridden by SHUYU_* variables.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The bureau's administration over the admin gRPC service (catalog, units, people,
    /// tokens, authorizations, reviews, suspension and revocation, audit, reports).
    Admin(shuyu::cli::admin::AdminArgs),
    /// Dataset tools.
    Datasets {
        #[command(subcommand)]
        command: DatasetsCommand,
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
            Command::Demo { data_dir, rows, output, listen, no_serve } => {
                let limits = shuyu::config::Config::load(None)?.limits;
                let opts = shuyu::demo::DemoOptions { data_dir, rows, format: output, listen: (!no_serve).then_some(listen), limits };
                shuyu::demo::run(&opts).await
            }
            Command::Admin(args) => shuyu::cli::admin::run(args).await,
            Command::Serve { config } => shuyu::server::serve(shuyu::config::Config::load(config.as_deref())?).await,
            Command::Datasets { command: DatasetsCommand::Generate { rows, out, seed } } => shuyu::datasets::generate(&out, rows, seed),
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
