//! `shuyu admin <resource> <verb> …`: the bureau's command line over the admin gRPC
//! service.
//!
//! The endpoint is `--endpoint` (or `SHUYU_ENDPOINT`), else the `flight_sql_uri` of the
//! `--credentials` file that `shuyu demo` writes; the token is `--token` (or `SHUYU_TOKEN`,
//! never shown by `--help`), else that file's `bureau_token`. Replies print as aligned
//! tables or, with `--output json`, as JSON. The server decides what the caller may do:
//! supervisors may run the read-only verbs (list, show, audit, report); analysts,
//! providers' staff, experts and applicants only the workflow's verbs (announcement,
//! application, request, quality, evaluation: [`crate::cli::workflow`]), each with their
//! own token.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use shuyu_proto::admin::v1 as pb;
use shuyu_proto::admin::v1::admin_client::AdminClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use crate::cli::admin_args::*;
use crate::cli::table::render_reply;
use crate::cli::workflow;
use crate::output::Format;
use crate::Error;

/// Connection and output flags of `shuyu admin`, and the command.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// Server address: grpc://HOST:PORT (plaintext, loopback) or grpc+tls://HOST:PORT.
    #[arg(long, env = "SHUYU_ENDPOINT", global = true)]
    pub endpoint: Option<String>,
    /// credentials.json of `shuyu demo`: its flight_sql_uri and bureau_token are the defaults.
    #[arg(long, global = true)]
    pub credentials: Option<PathBuf>,
    /// Bearer token of the caller (a bureau admin or supervisor; for the workflow's verbs,
    /// also an analyst, a provider's staff, an expert or an applicant).
    #[arg(long, env = "SHUYU_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// PEM file of the CA that signed the server's certificate (TLS endpoints).
    #[arg(long, global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    /// What to do.
    #[command(subcommand)]
    pub resource: Resource,
}

/// What `shuyu demo` writes to `credentials.json` (the fields used here).
#[derive(Debug, serde::Deserialize)]
struct Credentials {
    /// Absent when the demo ran with `--no-serve`.
    flight_sql_uri: Option<String>,
    bureau_token: Option<String>,
}

/// Runs `shuyu admin …`: one call, printed to stdout.
pub async fn run(args: AdminArgs) -> Result<(), Error> {
    let credentials = args.credentials.as_deref().map(read_credentials).transpose()?;
    let endpoint = args.endpoint.clone().or_else(|| credentials.as_ref().and_then(|c| c.flight_sql_uri.clone())).ok_or_else(|| {
        Error::Usage("name the server: --endpoint grpc://HOST:PORT, SHUYU_ENDPOINT, or --credentials credentials.json".into())
    })?;
    let token = args.token.clone().or_else(|| credentials.as_ref().and_then(|c| c.bureau_token.clone())).ok_or_else(|| {
        Error::Usage("give the caller's token (the bureau's, or your own for the workflow's verbs): --token, SHUYU_TOKEN, or --credentials credentials.json".into())
    })?;
    let mut client = Client::connect(&endpoint, &token, args.ca_cert.as_deref()).await?;
    let out = dispatch(&mut client, args.resource, args.output).await?;
    println!("{out}");
    Ok(())
}

fn read_credentials(path: &Path) -> Result<Credentials, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(format!("reading {}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{} is not a credentials file of `shuyu demo`: {e}", path.display())))
}

/// The admin client with the caller's token on every call.
pub(crate) struct Client {
    /// The generated client.
    pub(crate) inner: AdminClient<Channel>,
    bearer: MetadataValue<tonic::metadata::Ascii>,
}

impl Client {
    async fn connect(endpoint: &str, token: &str, ca_cert: Option<&Path>) -> Result<Client, Error> {
        let (uri, tls) = transport_uri(endpoint)?;
        let mut ep = Endpoint::from_shared(uri).map_err(|_| Error::Usage(format!("{endpoint} is not a server address such as grpc://127.0.0.1:50051")))?;
        if tls {
            let mut config = ClientTlsConfig::new();
            match ca_cert {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(Error::io(format!("reading the CA certificate {}", path.display())))?;
                    config = config.ca_certificate(Certificate::from_pem(pem));
                }
                None => return Err(Error::Usage("a TLS endpoint needs --ca-cert FILE: the PEM of the CA that signed the server's certificate".into())),
            }
            ep = ep.tls_config(config)?;
        }
        let channel = ep.connect().await.map_err(|e| Error::Usage(format!("cannot reach the server at {endpoint}: {e}; is `shuyu serve` or `shuyu demo` running there?")))?;
        let bearer = MetadataValue::try_from(format!("Bearer {}", token.trim()))
            .map_err(|_| Error::Usage("the token contains characters a header cannot carry; copy it again from where it was issued".into()))?;
        Ok(Client { inner: AdminClient::new(channel), bearer })
    }

    /// A request carrying the caller's token.
    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        r.metadata_mut().insert("authorization", self.bearer.clone());
        r
    }
}

/// `grpc://` (plaintext) or `grpc+tls://` / `grpcs://` (TLS) to the URI tonic connects to.
pub fn transport_uri(endpoint: &str) -> Result<(String, bool), Error> {
    let e = endpoint.trim();
    for (scheme, tls) in [("grpc://", false), ("http://", false), ("grpc+tls://", true), ("grpcs://", true), ("https://", true)] {
        if let Some(rest) = e.strip_prefix(scheme) {
            return Ok((format!("{}://{rest}", if tls { "https" } else { "http" }), tls));
        }
    }
    Err(Error::Usage(format!("{endpoint} is not a server address: use grpc://HOST:PORT or grpc+tls://HOST:PORT")))
}

/// Splits `name:col1,col2` into a granted dataset.
pub fn granted_dataset(text: &str) -> Result<pb::GrantedDataset, Error> {
    let bad = || Error::Usage(format!("--dataset {text}: write the dataset and its granted columns as name:col1,col2"));
    let (name, cols) = text.split_once(':').ok_or_else(bad)?;
    let columns: Vec<String> = cols.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
    if name.trim().is_empty() || columns.is_empty() {
        return Err(bad());
    }
    Ok(pb::GrantedDataset { dataset: name.trim().to_string(), columns })
}

/// The terms flags (those of `authorization grant`) as the grant's message, for `unit`
/// (0 for an agreement's or a data request's terms, which name no unit).
pub fn terms_request(t: Terms, unit: i64) -> Result<pb::GrantAuthorizationRequest, Error> {
    let datasets = t.datasets.iter().map(|d| granted_dataset(d)).collect::<Result<Vec<_>, _>>()?;
    Ok(pb::GrantAuthorizationRequest {
        unit,
        scenario: t.scenario,
        purpose: t.purpose,
        partners: t.partners,
        datasets,
        term_start: t.term_start.unwrap_or_default(),
        term_end: t.term_end,
        rights: t.rights,
        price_cents: t.price_cents,
        privacy: t.privacy,
        delta: t.delta,
        budget_total: t.total,
        per_query_cap: t.cap,
        per_query_default: t.default,
        export_policy: t.export_policy,
        delta_total: t.delta_total,
    })
}

/// Renders a reply in `format`.
pub(crate) fn show<T: Serialize>(reply: tonic::Response<T>, format: Format) -> Result<String, Error> {
    render_reply(reply.get_ref(), format)
}

/// Makes one call and renders its reply.
async fn dispatch(c: &mut Client, resource: Resource, f: Format) -> Result<String, Error> {
    macro_rules! call {
        ($method:ident, $message:expr) => {{
            let request = c.request($message);
            show(c.inner.$method(request).await.map_err(Error::Remote)?, f)
        }};
    }
    let change = |ch: Change| pb::LifecycleRequest { id: ch.id, reason: ch.reason };
    match resource {
        Resource::Dataset(cmd) => match cmd {
            DatasetCmd::Register { manifest, location } => {
                let manifest_toml = std::fs::read_to_string(&manifest).map_err(Error::io(format!("reading {}", manifest.display())))?;
                call!(register_dataset, pb::RegisterDatasetRequest { manifest_toml, location })
            }
            DatasetCmd::List => call!(list_datasets, pb::ListDatasetsRequest {}),
            DatasetCmd::Show { name } => call!(get_dataset, pb::GetDatasetRequest { name }),
        },
        Resource::Unit(cmd) => match cmd {
            UnitCmd::Create { name, credit_code } => call!(create_unit, pb::CreateUnitRequest { name, credit_code }),
            UnitCmd::List => call!(list_units, pb::ListUnitsRequest {}),
            UnitCmd::Show { id } => call!(get_unit, pb::GetUnitRequest { id }),
            UnitCmd::Suspend(ch) => call!(suspend_unit, change(ch)),
            UnitCmd::Reinstate(ch) => call!(reinstate_unit, change(ch)),
            UnitCmd::Revoke(ch) => call!(revoke_unit, change(ch)),
        },
        Resource::Person(cmd) => match cmd {
            PersonCmd::Create { name, id_number, role, unit, provider } => {
                call!(create_person, pb::CreatePersonRequest { name, id_number, role, unit, provider })
            }
            PersonCmd::List { unit } => call!(list_people, pb::ListPeopleRequest { unit }),
            PersonCmd::Show { id } => call!(get_person, pb::GetPersonRequest { id }),
            PersonCmd::Deactivate { id } => call!(deactivate_person, pb::DeactivatePersonRequest { id }),
        },
        Resource::Token(cmd) => match cmd {
            TokenCmd::Issue { person, ttl_days } => call!(issue_token, pb::IssueTokenRequest { person, ttl_days }),
            TokenCmd::List { person } => call!(list_tokens, pb::ListTokensRequest { person }),
            TokenCmd::Revoke { credential } => call!(revoke_token, pb::RevokeTokenRequest { credential }),
        },
        Resource::Authorization(cmd) => match cmd {
            AuthorizationCmd::Grant(g) => {
                let g = *g;
                call!(grant_authorization, terms_request(g.terms, g.unit)?)
            }
            AuthorizationCmd::List { unit } => call!(list_authorizations, pb::ListAuthorizationsRequest { unit }),
            AuthorizationCmd::Show { id } => call!(get_authorization, pb::GetAuthorizationRequest { id }),
            AuthorizationCmd::Suspend(ch) => call!(suspend_authorization, change(ch)),
            AuthorizationCmd::Reinstate(ch) => call!(reinstate_authorization, change(ch)),
            AuthorizationCmd::Revoke(ch) => call!(revoke_authorization, change(ch)),
        },
        Resource::Loss(cmd) => match cmd {
            LossCmd::List { unit, dataset } => call!(list_privacy_losses, pb::ListPrivacyLossesRequest { unit, dataset }),
            LossCmd::Cap { unit, dataset, epsilon, delta } => call!(set_loss_cap, pb::SetLossCapRequest { unit, dataset, epsilon, delta }),
            LossCmd::Uncap { unit, dataset } => call!(clear_loss_cap, pb::ClearLossCapRequest { unit, dataset }),
        },
        Resource::Job(cmd) => match cmd {
            JobCmd::List { unit, authorization, status, limit } => call!(list_jobs, pb::ListJobsRequest { unit, authorization, status, limit }),
            JobCmd::Show { id } => call!(get_job, pb::GetJobRequest { id }),
        },
        Resource::Import(cmd) => match cmd {
            ImportCmd::List => call!(list_imports, pb::ListImportsRequest {}),
            ImportCmd::Approve { id } => call!(review_import, pb::ReviewImportRequest { id, approve: true }),
            ImportCmd::Reject { id } => call!(review_import, pb::ReviewImportRequest { id, approve: false }),
        },
        Resource::Export(cmd) => match cmd {
            ExportCmd::List { status } => call!(list_exports, pb::ListExportsRequest { status }),
            ExportCmd::Approve { id } => call!(review_export, pb::ReviewExportRequest { id, approve: true, reason: String::new() }),
            ExportCmd::Reject { id, reason } => call!(review_export, pb::ReviewExportRequest { id, approve: false, reason }),
        },
        Resource::Audit(cmd) => match cmd {
            AuditCmd::Query { unit, action, action_prefix, from, to, after_seq, limit } => {
                call!(query_audit, pb::QueryAuditRequest { unit, action, action_prefix, from, to, after_seq, limit })
            }
            AuditCmd::Verify => call!(verify_audit, pb::VerifyAuditRequest {}),
        },
        Resource::Announcement(cmd) => workflow::announcement(c, cmd, f).await,
        Resource::Application(cmd) => workflow::application(c, cmd, f).await,
        Resource::Request(cmd) => workflow::request(c, cmd, f).await,
        Resource::Quality(cmd) => workflow::quality(c, cmd, f).await,
        Resource::Evaluation(cmd) => workflow::evaluation(c, cmd, f).await,
        Resource::Report(ReportCmd::Unit { id, from, to }) => {
            let request = c.request(pb::UnitReportRequest { unit: id, from, to: to.unwrap_or_default() });
            let report = c.inner.unit_report(request).await.map_err(Error::Remote)?.into_inner();
            match f {
                Format::Json => Ok(report.json),
                Format::Table => Ok(report.markdown),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_their_transport() {
        assert_eq!(transport_uri("grpc://127.0.0.1:5000").expect("plain"), ("http://127.0.0.1:5000".into(), false));
        assert_eq!(transport_uri("grpc+tls://example.invalid:443").expect("tls"), ("https://example.invalid:443".into(), true));
        assert!(matches!(transport_uri("127.0.0.1:5000"), Err(Error::Usage(_))));
    }

    #[test]
    fn granted_datasets_are_name_and_columns() {
        let d = granted_dataset("residents: person_id, age").expect("dataset");
        assert_eq!((d.dataset.as_str(), d.columns), ("residents", vec!["person_id".to_string(), "age".to_string()]));
        assert!(matches!(granted_dataset("residents"), Err(Error::Usage(_))));
        assert!(matches!(granted_dataset("residents:"), Err(Error::Usage(_))));
    }
}
