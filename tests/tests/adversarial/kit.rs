//! What the attacker of the adversarial suite knows and does.
//!
//! The attacker holds a valid analyst token and knows every resident's record except one
//! value of one person (the target): the suite reads the fixture's Parquet files directly to
//! pick that person and to know the truth it tries to recover. It then watches everything a
//! Flight SQL client sees (values, gRPC codes and messages, metadata, the budget left) and
//! nothing else. The helpers here turn one query into an [`Observed`] record and judge pairs
//! of them against the secure behaviour, in terms that do not depend on how the server
//! implements it.

use std::fs::File;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use arrow_flight::sql::client::FlightSqlServiceClient;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use shuyu::demo::DemoUnit;
use shuyu_governance::Nano;
use tonic::transport::Channel;
use tonic::Code;

use crate::fixture::{self, code, message, TestServer};

/// The Flight SQL client of the suite.
pub type Client = FlightSqlServiceClient<Channel>;

/// One resident's record, as the attacker knows it.
#[derive(Debug, Clone)]
pub struct Resident {
    /// The privacy unit.
    pub person_id: i64,
    /// Full name (a direct identifier, never granted).
    pub name: String,
    /// Identity card number (a direct identifier, never granted).
    pub id_number: String,
    /// Personal: age in years.
    pub age: i64,
    /// Personal: income in yuan, the value the attacks try to recover.
    pub income: f64,
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Arc<dyn Array> {
    let c = batch.column_by_name(name).unwrap_or_else(|| panic!("residents.parquet has {name}"));
    cast(c, to).unwrap_or_else(|e| panic!("{name} as {to}: {e}"))
}

/// Every resident of the fixture city, read from its Parquet file.
pub fn residents() -> &'static [Resident] {
    static ALL: OnceLock<Vec<Resident>> = OnceLock::new();
    ALL.get_or_init(|| {
        let file = File::open(fixture::city().join("residents.parquet")).expect("the fixture's residents.parquet");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("a Parquet file").build().expect("a reader");
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.expect("a batch");
            let ids = column(&batch, "person_id", &DataType::Int64);
            let names = column(&batch, "name", &DataType::Utf8);
            let numbers = column(&batch, "id_number", &DataType::Utf8);
            let ages = column(&batch, "age", &DataType::Int64);
            let incomes = column(&batch, "income", &DataType::Float64);
            for i in 0..batch.num_rows() {
                out.push(Resident {
                    person_id: ids.as_primitive::<Int64Type>().value(i),
                    name: names.as_string::<i32>().value(i).to_string(),
                    id_number: numbers.as_string::<i32>().value(i).to_string(),
                    age: ages.as_primitive::<Int64Type>().value(i),
                    income: incomes.as_primitive::<Float64Type>().value(i),
                });
            }
        }
        assert_eq!(out.len() as u64, fixture::RESIDENTS, "every resident was read");
        out
    })
}

/// The target: the first adult resident (by id) whose income lies well inside the public
/// bounds [0, 200 000], so that 1 % of it is far above the noise of a one-row release
/// multiplied out by a fan-out join, and far below what bounding would leave.
pub fn target() -> &'static Resident {
    residents()
        .iter()
        .filter(|r| r.age >= 18 && (60_000.0..=190_000.0).contains(&r.income))
        .min_by_key(|r| r.person_id)
        .expect("the fixture city has an adult with an income between 60 000 and 190 000")
}

/// Thresholds just below and just above the target's income: `income > T` is true with the
/// first and false with the second, and nobody else is concerned (the condition also names
/// the target's `person_id`).
pub fn thresholds(t: &Resident) -> (String, String) {
    (format!("{}", (t.income - 1.0).floor()), format!("{}", (t.income + 1.0).ceil()))
}

/// The target's condition with threshold `threshold`, over columns qualified by `prefix`
/// (`""` or `"r."`).
pub fn condition(t: &Resident, prefix: &str, threshold: &str) -> String {
    format!("{prefix}person_id = {} AND {prefix}income > {threshold}", t.person_id)
}

/// Texts a message must never contain: the target's income (as stored and to the cent),
/// name and identity number.
pub fn secrets(t: &Resident) -> Vec<String> {
    vec![format!("{}", t.income), format!("{:.2}", t.income), t.name.clone(), t.id_number.clone()]
}

/// What one query showed the attacker, and what it cost.
#[derive(Debug)]
pub struct Observed {
    /// The SQL sent.
    pub sql: String,
    /// The result, or the gRPC code and message.
    pub reply: Result<(SchemaRef, Vec<RecordBatch>), (Code, String)>,
    /// The authorization's committed spending before and after the query.
    pub spent: (Nano, Nano),
    /// Reservations still open after the query.
    pub reserved: Nano,
    /// On a failed query: whether preparing it (planning only; no data read, nothing
    /// spent) is refused too, and how.
    pub planned: Option<Result<(), (Code, String)>>,
}

impl Observed {
    /// The error code and message, if the query failed.
    pub fn error(&self) -> Option<(Code, &str)> {
        self.reply.as_ref().err().map(|(c, m)| (*c, m.as_str()))
    }

    /// Whether the query was charged (committed spending grew).
    pub fn charged(&self) -> bool {
        self.spent.1 > self.spent.0
    }

    /// Whether the query failed at plan time: preparing it fails with the same code, and
    /// nothing was spent.
    pub fn refused_at_plan_time(&self) -> bool {
        match (&self.reply, &self.planned) {
            (Err((c, _)), Some(Err((p, _)))) => c == p && !self.charged(),
            _ => false,
        }
    }

    /// A one-line description for failure reports.
    pub fn describe(&self) -> String {
        let reply = match &self.reply {
            Ok((_, b)) => format!("answered ({} rows)", fixture::rows(b)),
            Err((c, m)) => format!("{c:?}: {m}"),
        };
        let planned = match &self.planned {
            None => String::new(),
            Some(Ok(())) => "; preparing it succeeds (it failed after planning)".into(),
            Some(Err((c, _))) => format!("; preparing it fails too ({c:?})"),
        };
        format!("`{}` -> {reply}{planned}; spent {} -> {}", self.sql, self.spent.0, self.spent.1)
    }
}

/// Committed and reserved spending of `unit`'s authorization, from the bureau's view.
pub fn ledger(server: &TestServer, unit: &DemoUnit) -> (Nano, Nano) {
    let b = server.domain.store.budget(&server.domain.bureau, unit.authorization).expect("budget");
    (b.spent, b.reserved)
}

/// Runs `sql` and records what the attacker sees and what it cost.
pub async fn observe(server: &TestServer, unit: &DemoUnit, client: &mut Client, sql: &str) -> Observed {
    let (before, _) = ledger(server, unit);
    let reply = fixture::query(client, sql).await.map_err(|e| (code(&e), message(&e)));
    let (after, reserved) = ledger(server, unit);
    let planned = match &reply {
        Ok(_) => None,
        Err(_) => Some(match client.prepare(sql.to_string(), None).await {
            Ok(stmt) => {
                let _ = stmt.close().await;
                Ok(())
            }
            Err(e) => Err((code(&e), message(&e))),
        }),
    };
    Observed { sql: sql.to_string(), reply, spent: (before, after), reserved, planned }
}

/// `text` with every `(from, to)` replaced: the literals that differ between two variants
/// of an attack, so that a message quoting the analyst's own SQL still compares equal.
pub fn masked(text: &str, masks: &[(&str, &str)]) -> String {
    masks.iter().fold(text.to_string(), |t, (from, to)| t.replace(from, to))
}

/// Breaches of the secure behaviour by one query: an internal error, a data value in the
/// message, a failure after planning that was not charged, an answer that was free, or a
/// reservation left open.
pub fn single_violations(o: &Observed, secrets: &[String]) -> Vec<String> {
    let mut v = Vec::new();
    match o.error() {
        Some((c, m)) => {
            if matches!(c, Code::Internal | Code::Unknown) {
                v.push(format!("{c:?} is a bug, never an answer: {}", o.describe()));
            }
            for s in secrets {
                if m.contains(s.as_str()) {
                    v.push(format!("the message quotes a data value ({s}): {}", o.describe()));
                }
            }
            if !o.refused_at_plan_time() && !o.charged() {
                v.push(format!("failed after planning and was not charged (a free oracle): {}", o.describe()));
            }
        }
        None => {
            if !o.charged() {
                v.push(format!("answered without a charge: {}", o.describe()));
            }
        }
    }
    if o.reserved != Nano::ZERO {
        v.push(format!("left a reservation of {} open: {}", o.reserved, o.describe()));
    }
    v
}

/// Breaches of the secure behaviour by a pair of queries that differ only in whether the
/// target's condition holds: both must succeed, or both fail with the same code and the
/// same message (after `masks`), and each must pass [`single_violations`].
pub fn pair_violations(a: &Observed, b: &Observed, secrets: &[String], masks: &[(&str, &str)]) -> Vec<String> {
    let mut v = single_violations(a, secrets);
    v.extend(single_violations(b, secrets));
    match (a.error(), b.error()) {
        (None, None) => {}
        (Some((ca, ma)), Some((cb, mb))) => {
            if ca != cb || masked(ma, masks) != masked(mb, masks) {
                v.push(format!("the two variants fail differently:\n    {}\n    {}", a.describe(), b.describe()));
            }
        }
        _ => v.push(format!("one variant fails and the other answers (one bit per query):\n    {}\n    {}", a.describe(), b.describe())),
    }
    v
}

/// Runs the pair of `template` with `{cond}` (`{rcond}` over `r.`) the target's condition
/// true, then false, and returns the breaches.
pub async fn attack_pair(server: &TestServer, unit: &DemoUnit, client: &mut Client, template: &str) -> Vec<String> {
    let t = target();
    let (lo, hi) = thresholds(t);
    let fill = |threshold: &str| {
        template
            .replace("{cond}", &condition(t, "", threshold))
            .replace("{rcond}", &condition(t, "r.", threshold))
            .replace("{X}", &t.person_id.to_string())
    };
    let (sql_true, sql_false) = (fill(&lo), fill(&hi));
    let a = observe(server, unit, client, &sql_true).await;
    let b = observe(server, unit, client, &sql_false).await;
    pair_violations(&a, &b, &secrets(t), &[(lo.as_str(), "T"), (hi.as_str(), "T")])
}

/// Runs every template as a pair and fails with the full list of breaches.
pub async fn assert_pairs_secure(server: &TestServer, unit: &DemoUnit, client: &mut Client, family: &str, templates: &[&str]) {
    let mut all = Vec::new();
    for template in templates {
        all.extend(attack_pair(server, unit, client, template).await);
    }
    assert!(all.is_empty(), "{family}: {} breach(es) over {} attack pairs:\n  {}", all.len(), templates.len(), all.join("\n  "));
}

/// A client of `unit` asking `amount` per query.
pub async fn client_spending(server: &TestServer, unit: &DemoUnit, amount: &str) -> Client {
    let mut c = server.client(unit).await;
    c.set_header("x-shuyu-budget", amount);
    c
}

/// The single value of a one-row, one-column numeric answer, as f64.
pub fn scalar(batches: &[RecordBatch]) -> Option<f64> {
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let c = cast(b.column(0), &DataType::Float64).ok()?;
    let c = c.as_primitive::<Float64Type>();
    (!c.is_null(0)).then(|| c.value(0))
}
