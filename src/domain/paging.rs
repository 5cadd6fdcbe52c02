//! Paging numbers as they arrive in a query string, bounded when parsed.
//!
//! Databases bind row counts as signed 64-bit integers: a `u64` above `i64::MAX` used to
//! reach sea-query's binding and panic there. These types refuse such values while the query
//! string is parsed, so the request answers 400 `invalid_query` and no handler ever sees one.

use std::fmt;

use serde::{Deserialize, Deserializer, de};

/// A non-negative count that fits a database's signed 64-bit integer: `0..=i64::MAX`.
///
/// Parsed from the query string; `-1`, `1e30`, `2^63` and anything longer are refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Count(u64);

impl Count {
    /// The largest count a database binds.
    pub const MAX: u64 = i64::MAX as u64;

    /// `n` when it fits, else `None`.
    pub fn new(n: u64) -> Option<Self> {
        (n <= Self::MAX).then_some(Self(n))
    }

    /// The value, at most `i64::MAX`.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<i64> for Count {
    type Error = NegativeCount;

    fn try_from(n: i64) -> Result<Self, NegativeCount> {
        u64::try_from(n).map(Self).map_err(|_| NegativeCount)
    }
}

/// A negative number given where a count is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegativeCount;

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Query strings carry text: parse it here so that every refusal names the range.
        let text = String::deserialize(d)?;
        text.trim()
            .parse::<u64>()
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| de::Error::custom(format!("`{text}` is not a whole number from 0 to {}", Self::MAX)))
    }
}

/// A page request: how many rows from which position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u64,
    pub offset: u64,
}

impl PageRequest {
    /// Lists that clamp: no limit → `default`, 0 → 1, above `max` → `max`.
    pub fn clamped(limit: Option<Count>, offset: Option<Count>, default: u64, max: u64) -> Self {
        let max = max.max(1);
        Self {
            limit: limit.map_or(default, Count::get).clamp(1, max),
            offset: offset.map_or(0, Count::get),
        }
    }

    /// Lists that refuse: a limit outside `1..=max` is `Err` with the accepted range.
    ///
    /// # Errors
    /// When the limit is 0 or above `max`.
    pub fn strict(limit: Option<Count>, offset: Option<Count>, default: u64, max: u64) -> Result<Self, String> {
        let limit = match limit {
            None => default,
            Some(l) if (1..=max).contains(&l.get()) => l.get(),
            Some(_) => return Err(format!("`limit` must be between 1 and {max}.")),
        };
        Ok(Self {
            limit,
            offset: offset.map_or(0, Count::get),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Count, String> {
        #[derive(Deserialize)]
        struct Q {
            n: Count,
        }
        serde_json::from_value::<Q>(serde_json::json!({ "n": text }))
            .map(|q| q.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn counts_within_i64_parse_and_the_rest_is_refused() {
        assert_eq!(parse("0").map(Count::get), Ok(0));
        assert_eq!(parse("9223372036854775807").map(Count::get), Ok(i64::MAX as u64));
        for bad in [
            "9223372036854775808",
            "18446744073709551616",
            "99999999999999999999",
            "-1",
            "1e30",
            "1.5",
            "",
            "ten",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(
                err.contains("whole number from 0 to 9223372036854775807"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn clamped_pages_default_and_bound_the_limit() {
        let c = |n| Count::new(n);
        assert_eq!(
            PageRequest::clamped(None, None, 20, 100),
            PageRequest { limit: 20, offset: 0 }
        );
        assert_eq!(
            PageRequest::clamped(c(0), c(5), 20, 100),
            PageRequest { limit: 1, offset: 5 }
        );
        assert_eq!(
            PageRequest::clamped(c(i64::MAX as u64), c(i64::MAX as u64), 20, 100),
            PageRequest {
                limit: 100,
                offset: i64::MAX as u64
            }
        );
    }

    #[test]
    fn strict_pages_refuse_a_limit_outside_the_range() {
        let c = |n| Count::new(n);
        assert_eq!(
            PageRequest::strict(c(100), None, 20, 100),
            Ok(PageRequest { limit: 100, offset: 0 })
        );
        assert!(PageRequest::strict(c(0), None, 20, 100).is_err());
        assert!(PageRequest::strict(c(101), None, 20, 100).is_err());
    }
}
