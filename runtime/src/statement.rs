//! What a statement is, decided once per call: `FETCH EXPORT '<id>'`, an `EXPLAIN PRIVACY`
//! of a query, or a query; and whether the query names an encrypted import
//! (`imports.<name>`). The rest of the runtime branches on this value, never on the text.

use shuyu_governance::ExportId;
use shuyu_planner::strip_explain_privacy;

use shuyu_planner::encrypted::named_import;
use crate::review::parse_fetch;
use crate::RuntimeError;

/// One classified statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement<'a> {
    /// `FETCH EXPORT '<id>'`: a result released after the bureau's review.
    FetchExport(ExportId),
    /// A query (`explain`: only its releases and cost, reading no data, spending nothing).
    Query {
        /// The query, without any `EXPLAIN PRIVACY` prefix.
        sql: &'a str,
        /// Whether it was prefixed by `EXPLAIN PRIVACY`.
        explain: bool,
        /// The encrypted import it names (`imports.<name>`), if any.
        import: Option<String>,
    },
}

impl<'a> Statement<'a> {
    /// Classifies `sql`. A malformed `FETCH EXPORT` is refused here with the form to use.
    pub fn classify(sql: &'a str) -> Result<Self, RuntimeError> {
        if let Some(export) = parse_fetch(sql) {
            return Ok(Statement::FetchExport(export?));
        }
        let (inner, explain) = match strip_explain_privacy(sql) {
            Some(inner) => (inner, true),
            None => (sql, false),
        };
        Ok(Statement::Query { sql: inner, explain, import: named_import(inner) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_recognised_once() {
        assert_eq!(Statement::classify("FETCH EXPORT '3'").expect("fetch"), Statement::FetchExport(ExportId(3)));
        assert!(matches!(Statement::classify("FETCH EXPORT 'x'"), Err(RuntimeError::Usage(_))));
        assert_eq!(
            Statement::classify("SELECT COUNT(*) FROM t").expect("query"),
            Statement::Query { sql: "SELECT COUNT(*) FROM t", explain: false, import: None }
        );
        let Statement::Query { sql, explain, import } = Statement::classify("explain privacy SELECT SUM(i.x) FROM imports.survey i").expect("q")
        else {
            panic!("a query")
        };
        assert_eq!((sql, explain, import.as_deref()), ("SELECT SUM(i.x) FROM imports.survey i", true, Some("survey")));
    }
}
