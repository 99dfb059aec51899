//! `epoch`: the one clock of reproducible outputs, `SOURCE_DATE_EPOCH`
//! (<https://reproducible-builds.org/specs/source-date-epoch/>).
//!
//! Invariant: the library never reads the clock or the environment; the command line reads
//! `SOURCE_DATE_EPOCH` and the clock, and this module gives both one meaning: seconds since
//! 1970, a non-negative integer, surrounding whitespace ignored.

/// The variable's name.
pub const VARIABLE: &str = "SOURCE_DATE_EPOCH";

/// A `SOURCE_DATE_EPOCH` that is not a number of seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SOURCE_DATE_EPOCH `{0}` (expected seconds since 1970)")]
pub struct InvalidEpoch(pub String);

/// The value of `SOURCE_DATE_EPOCH` (`None` when unset).
///
/// # Errors
/// [`InvalidEpoch`] when it is set but not a number of seconds.
pub fn parse(value: Option<&str>) -> Result<Option<u64>, InvalidEpoch> {
    value
        .map(|v| v.trim().parse().map_err(|_| InvalidEpoch(v.to_owned())))
        .transpose()
}

/// The time outputs carry: `SOURCE_DATE_EPOCH` when set, else `now` (the clock, read by the
/// caller).
///
/// # Errors
/// As [`parse`].
pub fn or_now(value: Option<&str>, now: u64) -> Result<u64, InvalidEpoch> {
    Ok(parse(value)?.unwrap_or(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_meaning() {
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some(" 1714981135\n")), Ok(Some(1_714_981_135)));
        assert_eq!(parse(Some("-1")), Err(InvalidEpoch("-1".to_owned())));
        assert_eq!(
            parse(Some("yesterday")).unwrap_err().to_string(),
            "invalid SOURCE_DATE_EPOCH `yesterday` (expected seconds since 1970)"
        );
        assert_eq!(or_now(None, 7), Ok(7));
        assert_eq!(or_now(Some("3"), 7), Ok(3));
    }
}
