//! Channel 4: metadata that travels with answers.
//!
//! Every figure a response carries besides the noised values must be public: what was
//! charged, the budget, the noise parameters. Exact scan counts are not: predicates are
//! pushed into the Parquet scan with row-group and page pruning on min/max statistics, so
//! `shuyu.rows_scanned` moves when `income > T` crosses one person's value at the edge of a
//! page, for free and without noise. The suite reads responses with the raw Flight client
//! too, to see headers and trailers that the Flight SQL client drops.

use std::collections::{BTreeMap, HashMap};

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt};
use arrow_flight::{FlightData, FlightDescriptor, FlightInfo, Ticket};
use futures::TryStreamExt;
use prost::Message;
use shuyu::demo::DemoUnit;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::fixture::{self, TestServer};
use crate::kit::{residents, target};

/// Schema-level keys a result may carry: public figures only.
const SCHEMA_KEYS: &[&str] = &[
    "shuyu.cost",
    "shuyu.delta",
    "shuyu.definition",
    "shuyu.releases",
    "shuyu.job",
    "shuyu.authorization",
    "shuyu.charged",
    "shuyu.budget_remaining",
    "shuyu.budget_total",
    "shuyu.environment",
    "shuyu.export",
    "shuyu.export_status",
];

/// Field-level keys an output column may carry.
const FIELD_KEYS: &[&str] = &["shuyu.mechanism", "shuyu.scale", "shuyu.ci95_half_width"];

/// Transport headers gRPC itself sends.
const TRANSPORT_HEADERS: &[&str] =
    &["content-type", "date", "grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding", "grpc-accept-encoding", "content-length"];

fn schema_key_allowed(k: &str) -> bool {
    SCHEMA_KEYS.contains(&k) || k.starts_with("shuyu.delta") || k.starts_with("shuyu.loss")
}

/// A response header is allowed if gRPC sends it, or if it is `x-shuyu-<k>` for an allowed
/// schema key `shuyu.<k>` (with `-` for `_`).
fn header_allowed(name: &str) -> bool {
    TRANSPORT_HEADERS.contains(&name)
        || name.strip_prefix("x-shuyu-").is_some_and(|k| schema_key_allowed(&format!("shuyu.{}", k.replace('-', "_"))))
}

/// Metadata keys of `schema` and its fields that are not on the allowlists.
fn schema_breaches(what: &str, schema: &Schema) -> Vec<String> {
    let mut v: Vec<String> = schema
        .metadata()
        .iter()
        .filter(|(k, _)| !schema_key_allowed(k))
        .map(|(k, val)| format!("{what}: schema key {k} = {val} is not a public figure"))
        .collect();
    for f in schema.fields() {
        for (k, val) in f.metadata() {
            if !FIELD_KEYS.contains(&k.as_str()) {
                v.push(format!("{what}: field {} key {k} = {val} is not a public figure", f.name()));
            }
        }
    }
    v
}

/// Fields a refusal or error status may carry besides its code and message: its fault class
/// and a privacy refusal's code, both decided from the query, the catalog and the budget.
const STATUS_HEADERS: &[&str] = &["x-shuyu-fault", "x-shuyu-refusal-code"];

fn header_breaches(what: &str, md: &MetadataMap, also: &[&str]) -> Vec<String> {
    md.keys()
        .filter_map(|k| match k {
            tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str().to_string()),
            tonic::metadata::KeyRef::Binary(k) => Some(k.as_str().to_string()),
        })
        .filter(|k| !header_allowed(k) && !also.contains(&k.as_str()))
        .map(|k| format!("{what}: header {k} = {:?} is not a public figure", md.get(k.as_str())))
        .collect()
}

/// What the raw Flight client sees of one statement query.
struct Raw {
    info_headers: MetadataMap,
    info: FlightInfo,
    get_headers: MetadataMap,
    trailers: Option<MetadataMap>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

fn authed<T>(msg: T, unit: &DemoUnit, environment: Option<&str>) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("authorization", format!("Bearer {}", unit.token).parse().expect("ascii token"));
    r.metadata_mut().insert("x-shuyu-authorization", unit.authorization.0.to_string().parse().expect("ascii id"));
    if let Some(env) = environment {
        r.metadata_mut().insert("x-shuyu-environment", env.parse().expect("ascii"));
    }
    r
}

/// GetFlightInfo then DoGet over the raw Flight service, keeping headers and trailers.
async fn raw_query(server: &TestServer, unit: &DemoUnit, sql: &str, environment: Option<&str>) -> Result<Raw, Status> {
    let channel = Channel::from_shared(format!("http://{}", server.addr)).expect("uri").connect().await.expect("connect");
    let mut raw = FlightServiceClient::new(channel);
    let cmd = CommandStatementQuery { query: sql.to_string(), transaction_id: None };
    let descriptor = FlightDescriptor::new_cmd(cmd.as_any().encode_to_vec());
    let response = raw.get_flight_info(authed(descriptor, unit, environment)).await?;
    let info_headers = response.metadata().clone();
    let info = response.into_inner();
    let ticket: Ticket = info.endpoint[0].ticket.clone().expect("a ticket");
    let response = raw.do_get(authed(ticket, unit, environment)).await?;
    let get_headers = response.metadata().clone();
    let mut stream = response.into_inner();
    let mut data: Vec<FlightData> = Vec::new();
    while let Some(d) = stream.message().await? {
        data.push(d);
    }
    let trailers = stream.trailers().await?;
    let mut decoded = FlightRecordBatchStream::new_from_flight_data(futures::stream::iter(data.into_iter().map(Ok)));
    let batches: Vec<RecordBatch> = (&mut decoded).try_collect().await.map_err(|e| Status::internal(e.to_string()))?;
    let schema = decoded.schema().cloned().unwrap_or_else(|| batches[0].schema());
    Ok(Raw { info_headers, info, get_headers, trailers, schema, batches })
}

fn raw_breaches(what: &str, r: &Raw) -> Vec<String> {
    let announced = r.info.clone().try_decode_schema().expect("FlightInfo carries the schema");
    let mut v = schema_breaches(&format!("{what} (FlightInfo schema)"), &announced);
    v.extend(schema_breaches(&format!("{what} (DoGet schema)"), &r.schema));
    v.extend(header_breaches(&format!("{what} (GetFlightInfo headers)"), &r.info_headers, &[]));
    v.extend(header_breaches(&format!("{what} (DoGet headers)"), &r.get_headers, &[]));
    if let Some(t) = &r.trailers {
        v.extend(header_breaches(&format!("{what} (DoGet trailers)"), t, &[]));
    }
    v
}

fn status_breaches(what: &str, s: &Status) -> Vec<String> {
    let mut v = header_breaches(&format!("{what} ({:?})", s.code()), s.metadata(), STATUS_HEADERS);
    if !s.details().is_empty() {
        v.push(format!("{what}: the status carries {} bytes of details besides its code and message", s.details().len()));
    }
    v
}

/// Attack: read every figure a response carries (schema and field metadata of the
/// FlightInfo and of the DoGet stream, headers, trailers; the status of refusals and errors)
/// and keep those that are not public: exact rows and bytes scanned today. Secure: an
/// allowlist of public figures (cost, δ and loss keys, definition, releases, job,
/// authorization, charge, budget, environment, export; per column mechanism, scale,
/// confidence interval), and a refusal or error is a code, a message, its fault class and
/// a privacy refusal's code only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_only_public_figures() {
    let server = TestServer::start().await;
    let (health, jobs) = (server.health().clone(), server.jobs().clone());
    let t = target();
    let mut v = Vec::new();
    let answered = [
        (&health, "SELECT district, COUNT(*) AS n, SUM(income) AS s FROM residents GROUP BY district", None),
        (&health, "SELECT hospital, COUNT(*) AS n FROM medical_visits GROUP BY hospital", None),
        (&health, "EXPLAIN PRIVACY SELECT COUNT(*) FROM residents", None),
        (&jobs, "SELECT district, COUNT(*) FROM residents GROUP BY district", None),
        (&health, "SELECT district, COUNT(*) FROM residents GROUP BY district", Some("dev")),
    ];
    for (unit, sql, env) in answered {
        let r = raw_query(&server, unit, sql, env).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        v.extend(raw_breaches(sql, &r));
    }
    let refused = [
        "SELECT person_id, income FROM residents".to_string(),
        "SELEC nothing".to_string(),
        format!("SELECT COUNT(*) FROM residents WHERE 1 / (CASE WHEN person_id = {} THEN 0 ELSE 1 END) = 1", t.person_id),
    ];
    for sql in &refused {
        if let Err(s) = raw_query(&server, &health, sql, None).await {
            v.extend(status_breaches(sql, &s));
        }
    }
    let mut greedy = server.client(&health).await;
    greedy.set_header("x-shuyu-budget", "5");
    if let Err(arrow_flight::error::FlightError::Tonic(s)) = fixture::query(&mut greedy, "SELECT COUNT(*) FROM residents").await {
        v.extend(status_breaches("over the per-query cap", &s));
    }
    assert!(v.is_empty(), "{} figure(s) that are not public:\n  {}", v.len(), v.join("\n  "));
    server.stop().await;
}

/// The schema metadata, field metadata, headers and sizes of a response, without the job
/// id, the budget left and the loss to date (which differ between any two queries: each
/// charge moves them), and with the thresholds
/// of the two variants masked.
fn fingerprint(r: &Raw, masks: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mask = |s: &str| crate::kit::masked(s, masks);
    let mut out = BTreeMap::new();
    let schemas = [("info", r.info.clone().try_decode_schema().expect("schema")), ("get", r.schema.as_ref().clone())];
    for (side, schema) in schemas {
        let md: &HashMap<String, String> = schema.metadata();
        for (k, val) in md {
            if !["shuyu.job", "shuyu.budget_remaining", "shuyu.delta_remaining", "shuyu.loss"].contains(&k.as_str()) {
                out.insert(format!("{side} {k}"), mask(val));
            }
        }
        for f in schema.fields() {
            for (k, val) in f.metadata() {
                out.insert(format!("{side} field {} {k}", f.name()), mask(val));
            }
        }
    }
    out.insert("total_records".into(), r.info.total_records.to_string());
    out.insert("total_bytes".into(), r.info.total_bytes.to_string());
    out.insert("rows".into(), fixture::rows(&r.batches).to_string());
    for (side, md) in [("info", &r.info_headers), ("get", &r.get_headers)] {
        for (k, val) in md.clone().into_headers().iter() {
            if k.as_str() != "date" {
                out.insert(format!("{side} header {k}"), format!("{val:?}"));
            }
        }
    }
    if let Some(t) = &r.trailers {
        for (k, val) in t.clone().into_headers().iter() {
            out.insert(format!("trailer {k}"), format!("{val:?}"));
        }
    }
    out
}

/// Attack: two queries that differ only in where a threshold falls relative to one
/// person's value at the edge of the data's min/max statistics (`income > T` with T just
/// below and just above the highest income; `income < T` around the lowest), so the scan
/// prunes differently. Secure: everything but the noised values is equal, except the job id
/// and the budget left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_does_not_move_with_one_persons_value() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut incomes: Vec<f64> = residents().iter().map(|r| r.income).collect();
    incomes.sort_by(f64::total_cmp);
    let n = incomes.len();
    let (max, second) = (incomes[n - 1], incomes[n - 2]);
    let (min, next) = (incomes[0], incomes[1]);
    let edges = [
        ("income >", format!("{}", (max + second) / 2.0), format!("{}", max + 1.0)),
        ("income <", format!("{}", (min + next) / 2.0), format!("{}", min - 1.0)),
    ];
    let mut v = Vec::new();
    for (op, inside, outside) in &edges {
        let a = raw_query(&server, &unit, &format!("SELECT COUNT(*) AS n FROM residents WHERE {op} {inside}"), None).await.expect("answered");
        let b = raw_query(&server, &unit, &format!("SELECT COUNT(*) AS n FROM residents WHERE {op} {outside}"), None).await.expect("answered");
        let masks = [(inside.as_str(), "T"), (outside.as_str(), "T")];
        let (fa, fb) = (fingerprint(&a, &masks), fingerprint(&b, &masks));
        eprintln!("DEBUG {op} {inside}: {:?}\nDEBUG {op} {outside}: {:?}", a.schema.metadata(), b.schema.metadata());
        for k in fa.keys().chain(fb.keys()).collect::<std::collections::BTreeSet<_>>() {
            if fa.get(k) != fb.get(k) {
                v.push(format!("`{op} T` at the extreme person's value: {k} is {:?} inside and {:?} outside", fa.get(k), fb.get(k)));
            }
        }
    }
    assert!(v.is_empty(), "{} figure(s) depend on one person's value:\n  {}", v.len(), v.join("\n  "));
    server.stop().await;
}
