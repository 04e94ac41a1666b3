//! How an answer reads in a `.slt` file: the runner's forms (`SHAPE`, `COLUMNS`, `COST`),
//! column types, and values printed so that they are stable across paths and runs.

use arrow::array::{Array, ArrayRef, AsArray, Float32Array, Float64Array};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{DBOutput, DefaultColumnType};

use super::Answered;

/// What the runner does with one SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form<'a> {
    /// The rows of the SQL.
    Plain(&'a str),
    /// One row per result column, `<name> <arrow type>`, then `(rows) <n>`.
    Shape(&'a str),
    /// The same without the row count.
    Columns(&'a str),
    /// The budget's unit, the cost, the delta and the number of measurements.
    Cost(&'a str),
}

impl<'a> Form<'a> {
    /// The SQL to run, without the runner's prefix.
    pub fn sql(self) -> &'a str {
        match self {
            Form::Plain(q) | Form::Shape(q) | Form::Columns(q) | Form::Cost(q) => q,
        }
    }
}

/// The form of `sql`: a runner prefix, or plain SQL.
pub fn form(sql: &str) -> Form<'_> {
    let t = sql.trim_start();
    let (first, rest) = match t.split_once(char::is_whitespace) {
        Some((a, b)) => (a, b.trim_start()),
        None => (t, ""),
    };
    match first.to_ascii_uppercase().as_str() {
        "SHAPE" => Form::Shape(rest),
        "COLUMNS" => Form::Columns(rest),
        "COST" => Form::Cost(rest),
        _ => Form::Plain(sql),
    }
}

/// The output of `answer` in `form`; `unit` is the budget's unit name (`epsilon`, `rho`).
pub fn output(form: Form<'_>, answer: &Answered, unit: &str) -> DBOutput<DefaultColumnType> {
    match form {
        Form::Plain(_) => {
            let types = answer.schema.fields().iter().map(|f| column_type(f.data_type())).collect();
            let rows = answer.batches.iter().flat_map(batch_rows).collect();
            DBOutput::Rows { types, rows }
        }
        Form::Shape(_) | Form::Columns(_) => {
            let mut rows: Vec<Vec<String>> =
                answer.schema.fields().iter().map(|f| vec![f.name().clone(), f.data_type().to_string()]).collect();
            if matches!(form, Form::Shape(_)) {
                let n: usize = answer.batches.iter().map(RecordBatch::num_rows).sum();
                rows.push(vec!["(rows)".into(), n.to_string()]);
            }
            DBOutput::Rows { types: vec![DefaultColumnType::Text; 2], rows }
        }
        Form::Cost(_) => DBOutput::Rows {
            types: vec![DefaultColumnType::Text, DefaultColumnType::FloatingPoint, DefaultColumnType::FloatingPoint, DefaultColumnType::Integer],
            rows: vec![vec![unit.to_string(), fmt_f64(answer.cost), fmt_f64(answer.delta), answer.releases.to_string()]],
        },
    }
}

fn column_type(dt: &DataType) -> DefaultColumnType {
    if dt.is_integer() {
        DefaultColumnType::Integer
    } else if dt.is_floating() || matches!(dt, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn batch_rows(b: &RecordBatch) -> Vec<Vec<String>> {
    let cols: Vec<Box<dyn Fn(usize) -> String + '_>> = b.columns().iter().map(cell_formatter).collect();
    (0..b.num_rows()).map(|i| cols.iter().map(|c| c(i)).collect()).collect()
}

fn cell_formatter(a: &ArrayRef) -> Box<dyn Fn(usize) -> String + '_> {
    match a.data_type() {
        DataType::Float64 => {
            let a: &Float64Array = a.as_primitive();
            Box::new(move |i| if a.is_null(i) { "NULL".into() } else { fmt_f64(a.value(i)) })
        }
        DataType::Float32 => {
            let a: &Float32Array = a.as_primitive();
            Box::new(move |i| if a.is_null(i) { "NULL".into() } else { fmt_f64(f64::from(a.value(i))) })
        }
        _ => {
            let opts = FormatOptions::default().with_null("NULL");
            match ArrayFormatter::try_new(a.as_ref(), &opts) {
                Ok(f) => Box::new(move |i| {
                    if a.is_null(i) {
                        return "NULL".into();
                    }
                    let s = f.value(i).to_string();
                    if s.is_empty() {
                        "(empty)".into()
                    } else {
                        s
                    }
                }),
                Err(e) => {
                    let msg = format!("<unformattable: {e}>");
                    Box::new(move |_| msg.clone())
                }
            }
        }
    }
}

/// At most 6 significant digits, trailing zeros trimmed, never scientific notation.
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    // Round to 6 significant digits through the decimal exponent form, then print the
    // shortest representation of the rounded value.
    let rounded: f64 = format!("{v:.5e}").parse().expect("a formatted float parses");
    let s = format!("{rounded}");
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_format_is_stable() {
        assert_eq!(fmt_f64(1.0), "1");
        assert_eq!(fmt_f64(0.49999999999), "0.5");
        assert_eq!(fmt_f64(3.375627), "3.37563");
        assert_eq!(fmt_f64(30000000.000001), "30000000");
        assert_eq!(fmt_f64(89871968.7), "89872000");
        assert_eq!(fmt_f64(-2.5), "-2.5");
        assert_eq!(fmt_f64(0.000123456789), "0.000123457");
        assert_eq!(fmt_f64(0.0), "0");
    }

    #[test]
    fn runner_prefixes_are_recognised_and_plain_sql_is_left_alone() {
        assert_eq!(form("SHAPE SELECT 1"), Form::Shape("SELECT 1"));
        assert_eq!(form("  cost\nSELECT 1"), Form::Cost("SELECT 1"));
        assert_eq!(form("columns SELECT 1"), Form::Columns("SELECT 1"));
        assert_eq!(form("SELECT shape FROM t"), Form::Plain("SELECT shape FROM t"));
    }
}
