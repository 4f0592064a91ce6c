//! `resource.Quantity` parsing, for the errors the real decoder gives (`requests.cpu: lots`).
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuantityError {
    Format,
    Numeric,
    Suffix,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantityError::Format => "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            QuantityError::Numeric => "unable to parse quantity's numeric part",
            QuantityError::Suffix => "unable to parse quantity's suffix",
        })
    }
}

const SUFFIXES: [&str; 15] = [
    "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P",
];

/// Checks `text` as `resource.ParseQuantity` does; returns the numeric part and the suffix.
pub(crate) fn parse(text: &str) -> Result<(&str, &str), QuantityError> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    if number.is_empty() {
        return Err(QuantityError::Format);
    }
    let letters_end = suffix
        .find(|c: char| !"eEinumkKMGTP".contains(c))
        .unwrap_or(suffix.len());
    let rest = suffix[letters_end..]
        .strip_prefix(['+', '-'])
        .unwrap_or(&suffix[letters_end..]);
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QuantityError::Format);
    }
    if number.matches('.').count() > 1 || !number.bytes().any(|b| b.is_ascii_digit()) {
        return Err(QuantityError::Numeric);
    }
    let exponent = suffix
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
        .is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()));
    if !(exponent || SUFFIXES.contains(&suffix) || suffix == "E") {
        return Err(QuantityError::Suffix);
    }
    Ok((number, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_kubernetes_accepts() {
        for ok in [
            "1", "100m", "1.5Gi", "+2", "-3k", "1e3", "2E-2", "0.1", ".5", "5.",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_with_the_real_reason() {
        assert_eq!(parse("lots"), Err(QuantityError::Format));
        assert_eq!(parse(""), Err(QuantityError::Format));
        assert_eq!(parse("1Zi"), Err(QuantityError::Format));
        assert_eq!(parse("1.2.3"), Err(QuantityError::Numeric));
        assert_eq!(parse("1mi"), Err(QuantityError::Suffix));
    }
}
