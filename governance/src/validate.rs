//! Checks of identifiers with check digits, and of free text fields.
//!
//! Error messages name the field and the rule, never the value.

use crate::error::{GovernanceError, Result};

/// Alphabet of the unified social credit code (GB 32100-2015): digits and 21 letters.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The check character of the first 17 characters of a unified social credit code.
pub fn credit_code_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (b, w) in bytes.iter().zip(USCC_WEIGHTS) {
        let v = USCC_ALPHABET.iter().position(|c| c == b)? as u32;
        sum += v * w;
    }
    let check = (31 - sum % 31) % 31;
    Some(USCC_ALPHABET[check as usize] as char)
}

/// Checks a unified social credit code (18 characters, check character last).
pub(crate) fn check_credit_code(code: &str, field: &str) -> Result<()> {
    let ok = code.len() == 18
        && code.is_ascii()
        && credit_code_check_char(&code[..17])
            .map(|c| code.as_bytes()[17] == c as u8)
            .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(GovernanceError::invalid(
            field,
            "is not a valid unified social credit code (18 characters of 0-9 and A-Y without I, O, S, V, Z, with a matching check character); copy it from the business licence",
        ))
    }
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The check character of the first 17 digits of a resident ID number (GB 11643-1999).
pub fn id_number_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(ID_CHECK[(sum % 11) as usize] as char)
}

/// Checks a resident ID number (18 characters, check character last).
pub(crate) fn check_id_number(id: &str, field: &str) -> Result<()> {
    let ok = id.len() == 18
        && id.is_ascii()
        && id_number_check_char(&id[..17])
            .map(|c| id.as_bytes()[17].to_ascii_uppercase() == c as u8)
            .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(GovernanceError::invalid(
            field,
            "is not a valid 18-character resident ID number (17 digits and a matching check character)",
        ))
    }
}

/// Checks a required single-line text (names, titles): 1 to `max` characters, no control
/// characters.
pub(crate) fn check_text(value: &str, field: &str, max: usize) -> Result<()> {
    let len = value.chars().count();
    if value.trim().is_empty() {
        return Err(GovernanceError::invalid(field, "must not be empty"));
    }
    if len > max {
        return Err(GovernanceError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(GovernanceError::invalid(
            field,
            "must be one line without control characters",
        ));
    }
    Ok(())
}

/// Checks a free text (descriptions): at most `max` characters, may be multi-line.
pub(crate) fn check_long_text(value: &str, field: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(GovernanceError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(GovernanceError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_credit_code_verifies() {
        // A published example code.
        assert!(check_credit_code("91350100M000100Y43", "code").is_ok());
        assert!(check_credit_code("91350100M000100Y44", "code").is_err());
        assert!(check_credit_code("91350100M000100Y4", "code").is_err());
        assert!(check_credit_code("91350100I000100Y43", "code").is_err());
    }

    #[test]
    fn known_id_number_verifies_and_errors_hide_it() {
        assert!(check_id_number("11010519491231002X", "id").is_ok());
        assert!(check_id_number("11010519491231002x", "id").is_ok());
        let err = check_id_number("110105194912310021", "id")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("110105"), "{err}");
    }

    #[test]
    fn texts_are_bounded() {
        assert!(check_text("traffic study", "scenario", 10).is_err());
        assert!(check_text("  ", "scenario", 10).is_err());
        assert!(check_text("a\nb", "scenario", 10).is_err());
        assert!(check_text("交通研究", "scenario", 10).is_ok());
        assert!(check_long_text("line one\nline two", "description", 100).is_ok());
    }
}
