//! Reading a posted form: named fields, numbers, dates, lists. A field that cannot be read
//! is a usage error naming the field (400), never quoting what was typed.

use chrono::{DateTime, NaiveDate, Utc};

use crate::Error;

/// The fields of a posted form, in order.
#[derive(Debug, Clone, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Fields from decoded `name=value` pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Fields {
        Fields(pairs)
    }

    /// The first value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (checkboxes of the same name).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The value of `name`, trimmed; empty when not sent (governance checks what it needs).
    pub fn text(&self, name: &str) -> String {
        self.get(name).map(|v| v.trim().to_string()).unwrap_or_default()
    }

    /// Whether a checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty())
    }

    /// One of `choices` for `name`.
    pub fn choice<'a>(&self, name: &str, choices: &[&'a str]) -> Result<&'a str, Error> {
        let v = self.get(name).map(str::trim).unwrap_or_default();
        choices.iter().copied().find(|c| *c == v).ok_or_else(|| {
            Error::Usage(format!("field {name}: choose one of {}", choices.join(", ")))
        })
    }

    /// A number in `name`.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T, Error> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::Usage(format!("field {name} is required: enter a number")))?
            .parse()
            .map_err(|_| Error::Usage(format!("field {name}: enter a number")))
    }

    /// A number in `name`, or `None` when left empty.
    pub fn optional_number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(_) => self.number(name).map(Some),
        }
    }

    /// A date `YYYY-MM-DD` in `name`, as the end of that day (UTC): a deadline on that day
    /// is met until midnight.
    pub fn end_of_day(&self, name: &str) -> Result<DateTime<Utc>, Error> {
        Ok(self.day(name)? + chrono::Duration::days(1) - chrono::Duration::seconds(1))
    }

    /// A date `YYYY-MM-DD` in `name`, as the start of that day (UTC).
    pub fn day(&self, name: &str) -> Result<DateTime<Utc>, Error> {
        parse_day(&self.text(name)).ok_or_else(|| Error::Usage(format!("field {name}: enter a date as YYYY-MM-DD")))
    }

    /// A date `YYYY-MM-DD` in `name` (start of day, UTC), or `None` when left empty.
    pub fn optional_day(&self, name: &str) -> Result<Option<DateTime<Utc>>, Error> {
        if self.text(name).is_empty() {
            Ok(None)
        } else {
            self.day(name).map(Some)
        }
    }

    /// A comma-separated list in `name`, trimmed, empty items dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        split_list(&self.text(name))
    }
}

/// The start (UTC) of the day `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

/// Items of a comma-separated list, trimmed, empty ones dropped.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn fields_read_numbers_dates_choices_and_lists() {
        let f = fields(&[("total", " 1.5 "), ("day", "2030-02-03"), ("p", "zcdp"), ("l", "a, ,b,")]);
        assert_eq!(f.number::<f64>("total").expect("number"), 1.5);
        assert!(matches!(f.number::<f64>("missing"), Err(Error::Usage(_))));
        assert_eq!(f.optional_number::<f64>("missing").expect("empty"), None);
        assert_eq!(f.day("day").expect("day").to_rfc3339(), "2030-02-03T00:00:00+00:00");
        assert_eq!(f.end_of_day("day").expect("day").to_rfc3339(), "2030-02-03T23:59:59+00:00");
        assert!(f.day("total").is_err());
        assert_eq!(f.choice("p", &["zcdp", "pure_dp"]).expect("choice"), "zcdp");
        assert!(f.choice("total", &["zcdp"]).is_err());
        assert_eq!(f.list("l"), vec!["a", "b"]);
    }
}
