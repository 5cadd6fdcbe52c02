//! Shares as exact integers: basis points (hundredths of a percent), shown as percentages.

/// Basis points of `part` in `whole`, rounded down; 0 for an empty whole.
#[must_use]
pub fn basis_points(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    i64::try_from(i128::from(part) * 10_000 / i128::from(whole)).unwrap_or(0)
}

/// Basis points as a percentage: 3,333 → 33.33.
#[must_use]
pub fn bp_percent(bp: i64) -> f64 {
    f64::from(i32::try_from(bp).unwrap_or(0)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_points_floor_and_handle_empty_cohorts() {
        assert_eq!(basis_points(1, 3), 3333);
        assert_eq!(basis_points(2, 3), 6666);
        assert_eq!(basis_points(3, 3), 10_000);
        assert_eq!(basis_points(0, 0), 0);
        assert_eq!(basis_points(5, -1), 0);
        assert!((bp_percent(3333) - 33.33).abs() < 1e-9);
        assert!((bp_percent(10_000) - 100.0).abs() < 1e-9);
    }
}
