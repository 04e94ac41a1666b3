//! The fused-query parser. The accepted shape (everything else naming an import is refused
//! with a reason):
//!
//! ```sql
//! SELECT [public group columns,] SUM(i.col) | AVG(i.col) | COUNT(*) | COUNT(i.col) [AS alias], …
//! FROM imports.<name> [AS] i
//! [JOIN <public table> [AS] t ON i.pseudonym = shuyu_pseudonym(t.<privacy-unit column>)]
//! [WHERE <conditions on public columns> AND <encrypted column> <op> <integer constant> …]
//! [GROUP BY <public columns with a declared public domain>]
//! ```

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Join, JoinConstraint, JoinOperator,
    ObjectName, SelectItem, SetExpr, Statement, TableFactor, TableWithJoins, UnaryOperator, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use shuyu_privacy::Comparison;

use super::query::{Aggregate, EncryptedFilter, FusedQuery, Output, PublicSide};
use super::{IMPORT_SCHEMA, PSEUDONYM_COLUMN, PSEUDONYM_UDF};
use crate::error::PlannerError;
use crate::refusal::{refused, RefusalCode};

fn unsupported(message: impl Into<String>) -> PlannerError {
    refused(RefusalCode::UnsupportedAggregate, message)
}

fn idents(name: &ObjectName) -> Vec<String> {
    name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_default()).collect()
}

/// The import a table reference names, if it is `imports.<name>`.
fn import_name(factor: &TableFactor) -> Option<(String, String)> {
    if let TableFactor::Table { name, alias, .. } = factor {
        let parts = idents(name);
        if parts.len() == 2 && parts[0].eq_ignore_ascii_case(IMPORT_SCHEMA) {
            let alias = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| parts[1].clone());
            return Some((parts[1].clone(), alias));
        }
    }
    None
}

fn names_import(from: &[TableWithJoins]) -> bool {
    from.iter().any(|t| import_name(&t.relation).is_some() || t.joins.iter().any(|j| import_name(&j.relation).is_some()))
}

/// The import a query names (`imports.<name>` anywhere in its top-level FROM), if any.
pub fn named_import(sql: &str) -> Option<String> {
    let statements = Parser::parse_sql(&GenericDialect {}, sql).ok()?;
    let [Statement::Query(query)] = statements.as_slice() else { return None };
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    select.from.iter().find_map(|t| {
        import_name(&t.relation).or_else(|| t.joins.iter().find_map(|j| import_name(&j.relation))).map(|(name, _)| name)
    })
}

/// Parses `sql`: `None` when it names no import (the ordinary private planner handles it),
/// the fused query when it does, a refusal when it names one in an unsupported way.
pub fn parse(sql: &str, encrypted: &dyn Fn(&str) -> bool) -> Result<Option<FusedQuery>, PlannerError> {
    let Ok(statements) = Parser::parse_sql(&GenericDialect {}, sql) else {
        return Ok(None);
    };
    let [Statement::Query(query)] = statements.as_slice() else {
        return Ok(None);
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Ok(None);
    };
    if !names_import(&select.from) {
        return Ok(None);
    }
    if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() || select.having.is_some() || select.distinct.is_some() {
        return Err(unsupported(
            "queries over an encrypted import take SELECT … FROM imports.<name> [JOIN …] [WHERE …] [GROUP BY …] only (no WITH, DISTINCT, HAVING, ORDER BY or LIMIT)",
        ));
    }
    let [from] = select.from.as_slice() else {
        return Err(refused(RefusalCode::UnsupportedJoin, "name the import and at most one public table, joined with JOIN … ON"));
    };
    let Some((import, import_alias)) = import_name(&from.relation) else {
        return Err(refused(RefusalCode::UnsupportedJoin, "put the import first: FROM imports.<name> JOIN <public table> ON …"));
    };
    let resolver = Resolver { import_alias: import_alias.clone(), public_alias: None, encrypted };
    let mut fused = FusedQuery {
        import,
        import_alias,
        public: None,
        encrypted_filters: Vec::new(),
        group_by: Vec::new(),
        outputs: Vec::new(),
    };
    let mut resolver = resolver;
    match from.joins.as_slice() {
        [] => {}
        [join] => fused.public = Some(public_side(join, &mut resolver)?),
        _ => return Err(refused(RefusalCode::UnsupportedJoin, "join the import with one public table only")),
    }
    if let Some(selection) = &select.selection {
        let mut conjuncts = Vec::new();
        split_and(selection, &mut conjuncts);
        for c in conjuncts {
            match resolver.side_of(c)? {
                Side::Public => match &mut fused.public {
                    Some(p) => p.filters.push(c.to_string()),
                    None => return Err(refused(RefusalCode::UnsupportedJoin, "a condition names a column the import does not have")),
                },
                Side::Constant => return Err(unsupported("remove the constant condition from WHERE")),
                Side::Import | Side::Mixed => fused.encrypted_filters.push(resolver.encrypted_filter(c)?),
            }
        }
    }
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => {
            for e in exprs {
                let column = resolver.group_column(e)?;
                fused.group_by.push(column);
            }
        }
        _ => return Err(unsupported("GROUP BY takes plain public columns (no ALL, ROLLUP or CUBE)")),
    }
    for item in &select.projection {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return Err(refused(RefusalCode::RowLevelOutput, "name the aggregates to release; `*` would output rows of the import")),
        };
        let output = resolver.output(expr, &fused.group_by)?;
        // As in SQL: an unaliased column is named by the column alone, without its qualifier.
        let name = alias.unwrap_or_else(|| match expr {
            Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()).unwrap_or_else(|| expr.to_string()),
            _ => expr.to_string(),
        });
        fused.outputs.push((name, output));
    }
    if !fused.outputs.iter().any(|(_, o)| matches!(o, Output::Aggregate(_))) {
        return Err(refused(RefusalCode::RowLevelOutput, "select at least one aggregate (SUM, AVG or COUNT) of the import"));
    }
    Ok(Some(fused))
}

fn split_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            split_and(left, out);
            split_and(right, out);
        }
        Expr::Nested(inner) => split_and(inner, out),
        other => out.push(other),
    }
}

fn public_side(join: &Join, resolver: &mut Resolver<'_>) -> Result<PublicSide, PlannerError> {
    let TableFactor::Table { name, alias, .. } = &join.relation else {
        return Err(refused(RefusalCode::UnsupportedJoin, "join the import with a public table by name"));
    };
    let parts = idents(name);
    let table = parts.last().cloned().unwrap_or_default();
    let alias = alias.as_ref().map(|a| a.name.value.clone()).unwrap_or_else(|| table.clone());
    resolver.public_alias = Some(alias.clone());
    let constraint = match &join.join_operator {
        JoinOperator::Join(c) | JoinOperator::Inner(c) => c,
        _ => return Err(refused(RefusalCode::UnsupportedJoin, "use an inner JOIN … ON i.pseudonym = shuyu_pseudonym(t.<person column>)")),
    };
    let JoinConstraint::On(on) = constraint else {
        return Err(refused(RefusalCode::UnsupportedJoin, "join with ON i.pseudonym = shuyu_pseudonym(t.<person column>)"));
    };
    let join_error = || {
        refused(
            RefusalCode::UnsupportedJoin,
            format!(
                "an encrypted import joins public data only on its pseudonymised key: ON {}.{PSEUDONYM_COLUMN} = {PSEUDONYM_UDF}({alias}.<privacy-unit column>)",
                resolver.import_alias
            ),
        )
    };
    let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = on else {
        return Err(join_error());
    };
    let key = match (resolver.pseudonym_ref(left), resolver.pseudonym_call(right), resolver.pseudonym_ref(right), resolver.pseudonym_call(left)) {
        (true, Some(col), _, _) | (_, _, true, Some(col)) => col,
        _ => return Err(join_error()),
    };
    Ok(PublicSide { table, alias, key_column: key, filters: Vec::new() })
}

enum Side {
    Public,
    Import,
    Mixed,
    Constant,
}

struct Resolver<'a> {
    import_alias: String,
    public_alias: Option<String>,
    /// Whether a column name is an encrypted column of the import.
    encrypted: &'a dyn Fn(&str) -> bool,
}

enum Column {
    Import(String),
    Public(String),
}

impl Resolver<'_> {
    fn column(&self, e: &Expr) -> Option<Column> {
        match e {
            Expr::Identifier(i) => {
                let name = i.value.clone();
                if name == PSEUDONYM_COLUMN || (self.encrypted)(&name) {
                    Some(Column::Import(name))
                } else {
                    Some(Column::Public(name))
                }
            }
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                let (qualifier, name) = (&parts[0].value, parts[1].value.clone());
                if *qualifier == self.import_alias {
                    Some(Column::Import(name))
                } else {
                    Some(Column::Public(name))
                }
            }
            Expr::Nested(inner) => self.column(inner),
            _ => None,
        }
    }

    fn pseudonym_ref(&self, e: &Expr) -> bool {
        matches!(self.column(e), Some(Column::Import(n)) if n == PSEUDONYM_COLUMN)
    }

    /// `shuyu_pseudonym(t.col)` → `col`.
    fn pseudonym_call(&self, e: &Expr) -> Option<String> {
        let Expr::Function(f) = e else { return None };
        if !idents(&f.name).last().is_some_and(|n| n.eq_ignore_ascii_case(PSEUDONYM_UDF)) {
            return None;
        }
        let FunctionArguments::List(list) = &f.args else { return None };
        match list.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] => match self.column(arg) {
                Some(Column::Public(c)) => Some(c),
                _ => None,
            },
            _ => None,
        }
    }

    /// Which side the columns of an expression come from.
    fn side_of(&self, e: &Expr) -> Result<Side, PlannerError> {
        let mut import = false;
        let mut public = false;
        let mut failed = None;
        visit_columns(e, &mut |c| match self.column(c) {
            Some(Column::Import(_)) => import = true,
            Some(Column::Public(_)) => public = true,
            None => failed = Some(()),
        });
        if failed.is_some() {
            return Err(unsupported("a condition uses an expression this path does not support"));
        }
        Ok(match (import, public) {
            (true, true) => Side::Mixed,
            (true, false) => Side::Import,
            (false, true) => Side::Public,
            (false, false) => Side::Constant,
        })
    }

    fn encrypted_filter(&self, e: &Expr) -> Result<EncryptedFilter, PlannerError> {
        let usage = || {
            unsupported(
                "conditions on encrypted columns compare one column with an integer constant (=, <>, <, <=, >, >=); combine them with AND",
            )
        };
        let Expr::BinaryOp { left, op, right } = e else { return Err(usage()) };
        let comparison = match op {
            BinaryOperator::Eq => Comparison::Eq,
            BinaryOperator::NotEq => Comparison::Ne,
            BinaryOperator::Lt => Comparison::Lt,
            BinaryOperator::LtEq => Comparison::Le,
            BinaryOperator::Gt => Comparison::Gt,
            BinaryOperator::GtEq => Comparison::Ge,
            _ => return Err(usage()),
        };
        let (column, constant, comparison) = match (self.encrypted_column(left)?, self.encrypted_column(right)?) {
            (Some(c), None) => (c, constant(right).ok_or_else(usage)?, comparison),
            (None, Some(c)) => (c, constant(left).ok_or_else(usage)?, comparison.flipped()),
            _ => return Err(usage()),
        };
        Ok(EncryptedFilter { column, comparison, constant })
    }

    fn encrypted_column(&self, e: &Expr) -> Result<Option<String>, PlannerError> {
        match self.column(e) {
            Some(Column::Import(n)) if n == PSEUDONYM_COLUMN => Err(refused(
                RefusalCode::DirectIdentifier,
                "the pseudonymised key may only appear in the join condition",
            )),
            Some(Column::Import(n)) => Ok(Some(n)),
            _ => Ok(None),
        }
    }

    fn group_column(&self, e: &Expr) -> Result<String, PlannerError> {
        match self.column(e) {
            Some(Column::Public(c)) if self.public_alias.is_some() => Ok(c),
            Some(Column::Import(c)) if c == PSEUDONYM_COLUMN => {
                Err(refused(RefusalCode::GroupByUnit, "grouping by the pseudonymised key would release one row per person"))
            }
            Some(Column::Import(c)) => Err(refused(
                RefusalCode::RowLevelOutput,
                format!("encrypted column {c} cannot be grouped by: its values would become visible group keys; group by a public column"),
            )),
            _ => Err(unsupported("GROUP BY takes columns of the joined public table")),
        }
    }

    fn output(&self, e: &Expr, group_by: &[String]) -> Result<Output, PlannerError> {
        if let Some(column) = self.column(e) {
            return match column {
                Column::Public(c) => match group_by.iter().position(|g| *g == c) {
                    Some(i) => Ok(Output::Group(i)),
                    None => Err(refused(RefusalCode::RowLevelOutput, format!("column {c} is neither aggregated nor in GROUP BY"))),
                },
                Column::Import(c) => Err(refused(
                    RefusalCode::RowLevelOutput,
                    format!("encrypted column {c} cannot be output; release SUM({c}), AVG({c}) or COUNT(*) instead"),
                )),
            };
        }
        let Expr::Function(f) = e else {
            return Err(unsupported("outputs over an encrypted import are SUM, AVG or COUNT of the import, or public group columns"));
        };
        let name = idents(&f.name).last().cloned().unwrap_or_default().to_ascii_lowercase();
        if f.filter.is_some() || f.over.is_some() {
            return Err(unsupported("aggregates over an encrypted import take no FILTER or OVER clause"));
        }
        let FunctionArguments::List(list) = &f.args else {
            return Err(unsupported(format!("{name}() is not supported over an encrypted import")));
        };
        if list.duplicate_treatment.is_some() {
            return Err(unsupported("DISTINCT aggregates are not supported over an encrypted import"));
        }
        let arg = match list.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] if name == "count" => return Ok(Output::Aggregate(Aggregate::Count)),
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] => arg,
            _ => return Err(unsupported(format!("{name}(…) takes one column of the import"))),
        };
        let column = match self.column(arg) {
            Some(Column::Import(c)) if c != PSEUDONYM_COLUMN => c,
            _ => {
                return Err(unsupported(format!(
                    "{name}(…) over an encrypted import takes one encrypted column of the import; aggregate public columns in a separate query"
                )))
            }
        };
        match name.as_str() {
            "sum" => Ok(Output::Aggregate(Aggregate::Sum(column))),
            "avg" => Ok(Output::Aggregate(Aggregate::Avg(column))),
            "count" => Ok(Output::Aggregate(Aggregate::Count)),
            other => Err(unsupported(format!("{other}() is not supported over encrypted columns; use SUM, AVG or COUNT"))),
        }
    }
}

fn visit_columns(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => f(e),
        Expr::Value(_) => {}
        Expr::Nested(inner) | Expr::UnaryOp { expr: inner, .. } | Expr::IsNull(inner) | Expr::IsNotNull(inner) => visit_columns(inner, f),
        Expr::BinaryOp { left, right, .. } => {
            visit_columns(left, f);
            visit_columns(right, f);
        }
        Expr::Between { expr, low, high, .. } => {
            visit_columns(expr, f);
            visit_columns(low, f);
            visit_columns(high, f);
        }
        Expr::InList { expr, list, .. } => {
            visit_columns(expr, f);
            list.iter().for_each(|x| visit_columns(x, f));
        }
        Expr::Like { expr, pattern, .. } => {
            visit_columns(expr, f);
            visit_columns(pattern, f);
        }
        Expr::Cast { expr, .. } => visit_columns(expr, f),
        // Anything else (subqueries, functions): treated as unsupported by the caller.
        other => f(other),
    }
}

fn constant(e: &Expr) -> Option<u32> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(text, _) => text.parse::<u32>().ok(),
            _ => None,
        },
        Expr::Nested(inner) => constant(inner),
        Expr::UnaryOp { op: UnaryOperator::Plus, expr } => constant(expr),
        _ => None,
    }
}
