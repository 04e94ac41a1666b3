//! Printing admin replies: JSON as the service sent it, or an aligned table.
//!
//! A reply with one list (units, jobs, audit records) prints one row per item; any other
//! reply prints one `field | value` row per field. Nested objects are flattened
//! (`budget.remaining`), lists of plain values joined with `, `. In list tables, fields
//! holding whole JSON documents (`manifest_json`, `details_json`) are left out; `show`
//! and `--output json` print them.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::output::{render, Format};
use crate::Error;

/// Renders a reply in `format`.
pub fn render_reply<T: Serialize>(reply: &T, format: Format) -> Result<String, Error> {
    let value = serde_json::to_value(reply).map_err(|e| Error::Internal(format!("a reply does not serialise: {e}")))?;
    match format {
        Format::Json => serde_json::to_string_pretty(&value).map_err(|e| Error::Internal(format!("a reply does not serialise: {e}"))),
        Format::Table => table(&value),
    }
}

/// The aligned table of a reply.
fn table(value: &Value) -> Result<String, Error> {
    let Value::Object(fields) = value else {
        return Ok(cell(value));
    };
    if let [(_, Value::Array(items))] = fields.iter().collect::<Vec<_>>().as_slice() {
        if items.is_empty() {
            return Ok("(none)".into());
        }
        let rows: Vec<Map<String, Value>> = items
            .iter()
            .map(|item| {
                let mut flat = Map::new();
                flatten("", item, &mut flat);
                flat.retain(|k, _| !k.ends_with("_json"));
                flat
            })
            .collect();
        let mut headers: Vec<String> = Vec::new();
        for row in &rows {
            for k in row.keys() {
                if !headers.contains(k) {
                    headers.push(k.clone());
                }
            }
        }
        // Fields come sorted by name; the id leads.
        headers.sort_by_key(|h| h != "id");
        let columns = headers.iter().map(|h| rows.iter().map(|r| r.get(h).map(cell).unwrap_or_default()).collect()).collect();
        return grid(&headers, columns);
    }
    if fields.is_empty() {
        return Ok("done".into());
    }
    let mut flat = Map::new();
    flatten("", value, &mut flat);
    let (names, values): (Vec<String>, Vec<String>) = flat.iter().map(|(k, v)| (k.clone(), cell(v))).unzip();
    grid(&["field".to_string(), "value".to_string()], vec![names, values])
}

/// Flattens nested objects into `prefix.key` entries.
fn flatten(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match v {
                    Value::Object(_) => flatten(&key, v, out),
                    _ => {
                        out.insert(key, v.clone());
                    }
                }
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// One cell's text.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => items.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// An aligned text table of string columns (through the same renderer as query results).
fn grid(headers: &[String], columns: Vec<Vec<String>>) -> Result<String, Error> {
    let schema = Arc::new(Schema::new(headers.iter().map(|h| Field::new(h, DataType::Utf8, false)).collect::<Vec<_>>()));
    let arrays: Vec<ArrayRef> = columns.into_iter().map(|c| Arc::new(StringArray::from(c)) as ArrayRef).collect();
    let batch = RecordBatch::try_new(schema, arrays).map_err(|e| Error::Internal(format!("a table does not build: {e}")))?;
    Ok(render(&[batch], Format::Table))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_print_one_aligned_row_per_item_with_nested_fields_flattened() {
        let reply = json!({ "authorizations": [
            { "id": 1, "scenario": "health", "rights": ["processing_use", "product_operation"], "budget": { "remaining": "1.5" }, "manifest_json": "{}" },
            { "id": 12, "scenario": "jobs", "rights": [], "budget": { "remaining": "10" }, "manifest_json": "{}" },
        ]});
        let out = render_reply(&reply, Format::Table).expect("table");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].contains("budget.remaining") && !out.contains("manifest_json"), "{out}");
        assert!(out.contains("processing_use, product_operation"), "{out}");
        let widths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "every line has the same width: {out}");
    }

    #[test]
    fn single_objects_print_field_and_value_and_json_is_as_sent() {
        let reply = json!({ "credential": 4, "token": "sy_secret", "revoked_at": null });
        let out = render_reply(&reply, Format::Table).expect("table");
        assert!(out.contains("| credential | 4 ") && out.contains("| token      | sy_secret |"), "{out}");
        let back: Value = serde_json::from_str(&render_reply(&reply, Format::Json).expect("json")).expect("parses");
        assert_eq!(back, reply);
        assert_eq!(render_reply(&json!({ "units": [] }), Format::Table).expect("empty"), "(none)");
    }
}
