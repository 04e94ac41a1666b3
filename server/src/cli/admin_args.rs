//! The resources and verbs of `shuyu admin` (clap definitions); [`super::admin`] connects
//! and makes the calls. The authorization workflow's verbs are in [`super::workflow_args`].

use std::path::PathBuf;

use clap::{Args, Subcommand};

pub use super::workflow_args::*;

/// The resources the admin service manages.
#[derive(Subcommand, Debug)]
pub enum Resource {
    /// The catalog of datasets.
    #[command(subcommand)]
    Dataset(DatasetCmd),
    /// Operating units, and their suspension, reinstatement and revocation.
    #[command(subcommand)]
    Unit(UnitCmd),
    /// Real-name people.
    #[command(subcommand)]
    Person(PersonCmd),
    /// Bearer tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Authorizations (one scenario of one unit) and their budgets.
    #[command(subcommand)]
    Authorization(AuthorizationCmd),
    /// Privacy loss per unit and dataset, over all the unit's authorizations, and its caps.
    #[command(subcommand)]
    Loss(LossCmd),
    /// Jobs (one per query).
    #[command(subcommand)]
    Job(JobCmd),
    /// Social-data imports.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Export review.
    #[command(subcommand)]
    Export(ExportCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Operation reports.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Calls for applications (the authorization workflow, Art. 9(1)).
    #[command(subcommand)]
    Announcement(AnnouncementCmd),
    /// Applications, their qualification review, expert opinions, decision and agreement.
    #[command(subcommand)]
    Application(ApplicationCmd),
    /// A unit's data requests for new scenarios, approved by the bureau and the providers.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Data-quality issues: filed by units, routed by the bureau, answered by providers.
    #[command(subcommand)]
    Quality(QualityCmd),
    /// Yearly evaluations of units and their rectifications.
    #[command(subcommand)]
    Evaluation(EvaluationCmd),
}

/// `shuyu admin dataset …`
#[derive(Subcommand, Debug)]
pub enum DatasetCmd {
    /// Registers a dataset from its TOML manifest.
    Register {
        /// The manifest file.
        #[arg(long)]
        manifest: PathBuf,
        /// Where the dataset's Parquet file lives, as the server sees it.
        #[arg(long)]
        location: String,
    },
    /// Lists the catalog.
    List,
    /// Shows one dataset with its manifest.
    Show {
        /// Dataset name.
        name: String,
    },
}

/// A unit or authorization id with the reason for a status change.
#[derive(Args, Debug)]
pub struct Change {
    /// The id.
    pub id: i64,
    /// Why (recorded in the audit trail and told to the unit).
    #[arg(long)]
    pub reason: String,
}

/// `shuyu admin unit …`
#[derive(Subcommand, Debug)]
pub enum UnitCmd {
    /// Admits an operating unit.
    Create {
        /// The unit's name.
        #[arg(long)]
        name: String,
        /// Its unified social credit code (18 characters).
        #[arg(long)]
        credit_code: String,
    },
    /// Lists units.
    List,
    /// Shows one unit.
    Show {
        /// Unit id.
        id: i64,
    },
    /// Suspends a unit: nothing of it runs until reinstated.
    Suspend(Change),
    /// Reinstates a suspended unit.
    Reinstate(Change),
    /// Revokes a unit for good (its authorizations and tokens end, its files are deleted).
    Revoke(Change),
}

/// `shuyu admin person …`
#[derive(Subcommand, Debug)]
pub enum PersonCmd {
    /// Registers a real-name person.
    Create {
        /// Full name.
        #[arg(long)]
        name: String,
        /// Resident ID number (kept only as a salted hash).
        #[arg(long)]
        id_number: String,
        /// bureau_admin, supervisor, unit_analyst, provider, expert or applicant.
        #[arg(long)]
        role: String,
        /// The unit of an analyst.
        #[arg(long)]
        unit: Option<i64>,
        /// The provider a provider's staff works for.
        #[arg(long)]
        provider: Option<String>,
    },
    /// Lists people.
    List {
        /// Only this unit's.
        #[arg(long)]
        unit: Option<i64>,
    },
    /// Shows one person.
    Show {
        /// Person id.
        id: i64,
    },
    /// Deactivates a person: their tokens stop working at once.
    Deactivate {
        /// Person id.
        id: i64,
    },
}

/// `shuyu admin token …`
#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Issues a token; its secret is printed this once and never again.
    Issue {
        /// The person.
        #[arg(long)]
        person: i64,
        /// Days it stays valid.
        #[arg(long, default_value_t = 30)]
        ttl_days: u32,
    },
    /// Lists a person's tokens (without secrets).
    List {
        /// The person.
        #[arg(long)]
        person: i64,
    },
    /// Revokes a token.
    Revoke {
        /// Credential id.
        credential: i64,
    },
}

/// `shuyu admin authorization …`
#[derive(Subcommand, Debug)]
pub enum AuthorizationCmd {
    /// Grants an authorization.
    Grant(Box<Grant>),
    /// Lists authorizations with their budgets.
    List {
        /// Only this unit's.
        #[arg(long)]
        unit: Option<i64>,
    },
    /// Shows one authorization with its budget (spent, reserved, left).
    Show {
        /// Authorization id.
        id: i64,
    },
    /// Suspends an authorization.
    Suspend(Change),
    /// Reinstates a suspended authorization.
    Reinstate(Change),
    /// Revokes an authorization for good and deletes its files.
    Revoke(Change),
}

/// A new authorization: its unit and terms.
#[derive(Args, Debug)]
pub struct Grant {
    /// The unit.
    #[arg(long)]
    pub unit: i64,
    /// The terms.
    #[command(flatten)]
    pub terms: Terms,
}

/// The terms of an authorization, an agreement or a data request.
#[derive(Args, Debug)]
pub struct Terms {
    /// Scenario name.
    #[arg(long)]
    pub scenario: String,
    /// Purpose, as approved.
    #[arg(long)]
    pub purpose: String,
    /// A partner (repeat for several).
    #[arg(long = "partner")]
    pub partners: Vec<String>,
    /// A dataset and its granted columns, `name:col1,col2` (repeat for several).
    #[arg(long = "dataset", required = true)]
    pub datasets: Vec<String>,
    /// Start of the term (RFC 3339; default now).
    #[arg(long)]
    pub term_start: Option<String>,
    /// End of the term (RFC 3339).
    #[arg(long)]
    pub term_end: String,
    /// A right: processing_use or product_operation (repeat for several).
    #[arg(long = "right", default_value = "processing_use")]
    pub rights: Vec<String>,
    /// Price in cents for paid (commercial) use; absent: free.
    #[arg(long)]
    pub price_cents: Option<u64>,
    /// pure_dp (epsilon) or zcdp (rho).
    #[arg(long, default_value = "pure_dp")]
    pub privacy: String,
    /// The most delta one query may use, for partition selection (0 disables it).
    #[arg(long, default_value_t = 0.0)]
    pub delta: f64,
    /// Total delta over all queries (default: delta × ⌊total / default⌋).
    #[arg(long)]
    pub delta_total: Option<f64>,
    /// Total budget.
    #[arg(long)]
    pub total: f64,
    /// Most one query may spend.
    #[arg(long)]
    pub cap: f64,
    /// What a query spends when it names no budget.
    #[arg(long)]
    pub default: f64,
    /// automatic or review.
    #[arg(long, default_value = "automatic")]
    pub export_policy: String,
}

/// `shuyu admin loss …`
#[derive(Subcommand, Debug)]
pub enum LossCmd {
    /// Lists each unit's composed privacy loss per dataset (epsilon, delta), with its cap.
    List {
        /// Only this unit's.
        #[arg(long)]
        unit: Option<i64>,
        /// Only this dataset's.
        #[arg(long)]
        dataset: Option<String>,
    },
    /// Caps a unit's privacy loss on a dataset (replaces an existing cap).
    Cap {
        /// The unit.
        #[arg(long)]
        unit: i64,
        /// The dataset.
        #[arg(long)]
        dataset: String,
        /// The most epsilon (> 0).
        #[arg(long)]
        epsilon: f64,
        /// The most delta (0 ≤ delta < 1).
        #[arg(long, default_value_t = 0.0)]
        delta: f64,
    },
    /// Removes a unit's cap on a dataset.
    Uncap {
        /// The unit.
        #[arg(long)]
        unit: i64,
        /// The dataset.
        #[arg(long)]
        dataset: String,
    },
}

/// `shuyu admin job …`
#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// Lists jobs.
    List {
        /// Only this unit's.
        #[arg(long)]
        unit: Option<i64>,
        /// Only this authorization's.
        #[arg(long)]
        authorization: Option<i64>,
        /// Only with this status (running, succeeded, failed, refused).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Shows one job.
    Show {
        /// Job id.
        id: i64,
    },
}

/// `shuyu admin import …`
#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// Lists import requests.
    List,
    /// Approves a requested import.
    Approve {
        /// Import id.
        id: i64,
    },
    /// Rejects a requested import.
    Reject {
        /// Import id.
        id: i64,
    },
}

/// `shuyu admin export …`
#[derive(Subcommand, Debug)]
pub enum ExportCmd {
    /// Lists export requests (`--status pending` for the review queue).
    List {
        /// pending, automatic, approved or rejected.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approves a pending export (the domain signs its manifest).
    Approve {
        /// Export id.
        id: i64,
    },
    /// Rejects a pending export.
    Reject {
        /// Export id.
        id: i64,
        /// Why (told to the unit).
        #[arg(long)]
        reason: String,
    },
}

/// `shuyu admin audit …`
#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Audit records matching filters, oldest first.
    Query {
        /// Only this unit's.
        #[arg(long)]
        unit: Option<i64>,
        /// Only this exact action (unit.suspend).
        #[arg(long)]
        action: Option<String>,
        /// Only actions starting with this (ledger.).
        #[arg(long)]
        action_prefix: Option<String>,
        /// From this time (RFC 3339, inclusive).
        #[arg(long)]
        from: Option<String>,
        /// Until this time (RFC 3339, exclusive).
        #[arg(long)]
        to: Option<String>,
        /// After this sequence number (paging).
        #[arg(long)]
        after_seq: Option<i64>,
        /// At most this many.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Verifies the audit chain end to end.
    Verify,
}

/// `shuyu admin report …`
#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// A unit's operation report (Markdown as a table, the JSON document with --output json).
    Unit {
        /// Unit id.
        id: i64,
        /// Start of the period (RFC 3339).
        #[arg(long)]
        from: String,
        /// End of the period (RFC 3339; default now).
        #[arg(long)]
        to: Option<String>,
    },
}
