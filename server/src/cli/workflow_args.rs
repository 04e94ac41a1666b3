//! The verbs of the authorization workflow under `shuyu admin` (clap definitions):
//! announcements, applications and agreements, data requests, quality issues, evaluations.
//! [`super::workflow`] makes the calls. The terms of an agreement or a data request take
//! the flags of `shuyu admin authorization grant` ([`Terms`]), without `--unit`.

use clap::{Args, Subcommand};

use super::admin_args::Terms;

/// `shuyu admin announcement …`
#[derive(Subcommand, Debug)]
pub enum AnnouncementCmd {
    /// Publishes the year's call for applications (bureau).
    Publish {
        /// The year it is for.
        #[arg(long)]
        year: i32,
        /// Title.
        #[arg(long)]
        title: String,
        /// The conditions applicants must meet, as published.
        #[arg(long)]
        conditions: String,
        /// Start of the application window (RFC 3339; default now).
        #[arg(long)]
        opens_at: Option<String>,
        /// End of the application window (RFC 3339).
        #[arg(long)]
        closes_at: String,
        /// Expert opinions an application needs before its decision.
        #[arg(long, default_value_t = 2)]
        min_expert_opinions: u32,
    },
    /// Lists announcements.
    List,
    /// Closes an announcement's window now (bureau).
    Close {
        /// Announcement id.
        id: i64,
    },
}

/// The qualifications an applicant declares (Art. 12, 13): each flag declares one met.
#[derive(Args, Debug, Default)]
pub struct Declared {
    /// 12(1): sound operation, qualifications, staff and capacity.
    #[arg(long)]
    pub good_standing: bool,
    /// 12(2): no major violations of the company or its legal representative.
    #[arg(long)]
    pub no_major_violations: bool,
    /// 12(3): not on the serious-dishonesty list.
    #[arg(long)]
    pub not_dishonest: bool,
    /// 13(1): the data-security officer and department.
    #[arg(long)]
    pub security_officer: String,
    /// 13(2): MLPS level 3 and commercial cryptography practice.
    #[arg(long)]
    pub mlps_level3: bool,
    /// 13(3): DSMS certified, DCMM and DSMM level 3 or above.
    #[arg(long)]
    pub dsmm_level3: bool,
    /// 13(4): no medium or high risk in the security assessment.
    #[arg(long)]
    pub no_high_risk: bool,
}

/// `--pass` or `--fail`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct PassFail {
    /// The qualifications are met: on to the experts.
    #[arg(long)]
    pub pass: bool,
    /// The qualifications are not met.
    #[arg(long)]
    pub fail: bool,
}

/// `--recommend` or `--against`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Recommendation {
    /// The expert recommends the application.
    #[arg(long)]
    pub recommend: bool,
    /// The expert advises against it.
    #[arg(long)]
    pub against: bool,
}

/// `--approve` or `--reject`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Verdict {
    /// Approve.
    #[arg(long)]
    pub approve: bool,
    /// Reject.
    #[arg(long)]
    pub reject: bool,
}

/// `shuyu admin application …`
#[derive(Subcommand, Debug)]
pub enum ApplicationCmd {
    /// Applies under an open announcement (an applicant, or a unit's analyst).
    Submit(Box<Apply>),
    /// Lists the applications the caller may see.
    List,
    /// Shows one application with its expert opinions.
    Show {
        /// Application id.
        id: i64,
    },
    /// Withdraws an application before its decision (its applicant).
    Withdraw {
        /// Application id.
        id: i64,
    },
    /// Records the qualification review (bureau).
    Review {
        /// Application id.
        id: i64,
        /// The outcome.
        #[command(flatten)]
        outcome: PassFail,
        /// Why (told to the applicant).
        #[arg(long)]
        note: String,
    },
    /// Records an expert's opinion (expert).
    Opinion {
        /// Application id.
        id: i64,
        /// The recommendation.
        #[command(flatten)]
        recommendation: Recommendation,
        /// The opinion.
        #[arg(long)]
        opinion: String,
    },
    /// Records the coordination group's decision (bureau).
    Decide {
        /// Application id.
        id: i64,
        /// The decision.
        #[command(flatten)]
        verdict: Verdict,
        /// The reasons.
        #[arg(long)]
        note: String,
    },
    /// Signs the agreement of an approved application: admits the unit with its first
    /// authorization on these terms (bureau).
    Sign {
        /// Application id.
        id: i64,
        /// The first authorization's terms.
        #[command(flatten)]
        terms: Box<Terms>,
    },
}

/// An application.
#[derive(Args, Debug)]
pub struct Apply {
    /// The announcement applied under.
    #[arg(long)]
    pub announcement: i64,
    /// The company.
    #[arg(long)]
    pub company: String,
    /// Its unified social credit code (18 characters).
    #[arg(long)]
    pub credit_code: String,
    /// The scenario applied for.
    #[arg(long)]
    pub scenario: String,
    /// Its purpose.
    #[arg(long)]
    pub purpose: String,
    /// The declared qualifications.
    #[command(flatten)]
    pub declared: Declared,
    /// A supporting document's name and SHA-256 digest, `name:sha256` (repeat for several).
    #[arg(long = "attachment")]
    pub attachments: Vec<String>,
}

/// `shuyu admin request …`
#[derive(Subcommand, Debug)]
pub enum RequestCmd {
    /// Requests data for a new scenario of the caller's unit (its analyst).
    Submit(Box<Terms>),
    /// Lists the requests the caller may see.
    List,
    /// Shows one request with its reviews and who still has to approve it.
    Show {
        /// Request id.
        id: i64,
    },
    /// Approves or rejects a request (the bureau, or a provider of one of its datasets).
    Review {
        /// Request id.
        id: i64,
        /// The decision.
        #[command(flatten)]
        verdict: Verdict,
        /// Why.
        #[arg(long)]
        note: String,
    },
    /// Grants a request every party approved, as an authorization (bureau).
    Grant {
        /// Request id.
        id: i64,
    },
    /// Withdraws a request before its grant (the unit).
    Withdraw {
        /// Request id.
        id: i64,
    },
}

/// `shuyu admin quality …`
#[derive(Subcommand, Debug)]
pub enum QualityCmd {
    /// Files an issue against a dataset granted to the caller's unit (its analyst).
    File {
        /// The dataset.
        #[arg(long)]
        dataset: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// What is wrong (name columns and counts, not values).
        #[arg(long)]
        description: String,
    },
    /// Lists the issues the caller may see.
    List,
    /// Routes an open issue to its dataset's provider with a deadline (bureau).
    Route {
        /// Issue id.
        id: i64,
        /// By when the provider must answer (RFC 3339, in the future).
        #[arg(long)]
        deadline: String,
    },
    /// Answers a routed issue, resolving it (the provider it is routed to).
    Answer {
        /// Issue id.
        id: i64,
        /// The answer.
        #[arg(long)]
        answer: String,
    },
    /// Moves an issue along (the bureau, or its provider).
    Update {
        /// Issue id.
        id: i64,
        /// open, routed, in_progress or resolved.
        #[arg(long)]
        status: String,
        /// The resolution or answer.
        #[arg(long)]
        resolution: Option<String>,
    },
}

/// `shuyu admin evaluation …`
#[derive(Subcommand, Debug)]
pub enum EvaluationCmd {
    /// Records a unit's yearly evaluation (bureau).
    Record {
        /// The unit.
        #[arg(long)]
        unit: i64,
        /// The year evaluated.
        #[arg(long)]
        year: i32,
        /// Score, 0 to 100.
        #[arg(long)]
        score: u32,
        /// Findings.
        #[arg(long)]
        findings: String,
        /// When the unit must rectify by (RFC 3339); past it unrectified, it is suspended.
        #[arg(long)]
        rectification_deadline: Option<String>,
    },
    /// Lists the evaluations the caller may see.
    List,
    /// Reports the unit's rectification (its analyst).
    Rectify {
        /// Evaluation id.
        id: i64,
        /// What was rectified.
        #[arg(long)]
        report: String,
    },
    /// Accepts a reported rectification (bureau).
    Accept {
        /// Evaluation id.
        id: i64,
    },
}
