//! Leaderboard ranks: standard competition ranking ("1224"), with a stable order within ties.

use std::cmp::Ordering;

use chrono::NaiveDate;

/// Competition ranks for scores: equal scores share a rank and the next rank skips
/// (`[90, 80, 80, 70]` → `[1, 2, 2, 4]`).
///
/// Each rank is one more than the number of scores strictly greater, so the answer is right
/// even if the input is not in fact sorted; for sorted input it is the usual tie walk.
#[must_use]
pub fn competition_ranks(sorted_scores_desc: &[i64]) -> Vec<u64> {
    let mut desc = sorted_scores_desc.to_vec();
    desc.sort_unstable_by(|a, b| b.cmp(a));
    sorted_scores_desc
        .iter()
        .map(|score| {
            let greater = desc.partition_point(|other| other > score);
            rank_for(u64::try_from(greater).unwrap_or(u64::MAX))
        })
        .collect()
}

/// A participant's competition rank given how many participants have strictly more steps.
///
/// This is how a single rank is computed in SQL (`COUNT(*) WHERE steps > mine`) without
/// loading the whole board.
#[must_use]
pub fn rank_for(strictly_greater: u64) -> u64 {
    strictly_greater.saturating_add(1)
}

/// Sort key for a leaderboard row.
///
/// Orders by `steps` descending, then by `furthest_reached_on` ascending (whoever reached
/// their furthest station first; `None` after any date), then by `id` ascending. Only
/// `steps` decides the rank; the rest only makes the order of tied rows stable across pages
/// and requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankKey {
    /// Counted steps (or the figure the board ranks by).
    pub steps: i64,
    /// Date the subject reached its furthest station, if any.
    pub furthest_reached_on: Option<NaiveDate>,
    /// The subject's id, the final tiebreak.
    pub id: i64,
}

impl Ord for RankKey {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .steps
            .cmp(&self.steps)
            .then_with(|| match (self.furthest_reached_on, other.furthest_reached_on) {
                (Some(a), Some(b)) => a.cmp(&b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for RankKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ranks of a page from the rank of its first row: a row tied with the first shares its
/// rank; any other row has exactly `offset + index` rows above it with more steps (every
/// row before the page and every earlier row on the page with a different score), because
/// the page is ordered by score.
pub fn page_ranks(first_rank: u64, offset: u64, scores: impl IntoIterator<Item = i64>) -> Vec<u64> {
    ranks_from(first_rank, offset, scores).collect()
}

/// [`page_ranks`] one at a time, for walking a long board without collecting it.
pub fn ranks_from(first_rank: u64, offset: u64, scores: impl IntoIterator<Item = i64>) -> impl Iterator<Item = u64> {
    let mut prev: Option<(i64, u64)> = None;
    (0u64..).zip(scores).map(move |(i, s)| {
        let rank = match prev {
            None => first_rank,
            Some((ps, pr)) if ps == s => pr,
            Some(_) => offset + i + 1,
        };
        prev = Some((s, rank));
        rank
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 10, day).unwrap()
    }

    fn key(steps: i64, day: Option<u32>, id: i64) -> RankKey {
        RankKey {
            steps,
            furthest_reached_on: day.map(d),
            id,
        }
    }

    #[test]
    fn competition_ranks_table() {
        let cases: [(&[i64], &[u64]); 8] = [
            (&[], &[]),
            (&[5], &[1]),
            (&[9, 8, 7], &[1, 2, 3]),
            (&[9, 8, 8, 7], &[1, 2, 2, 4]),
            (&[5, 5, 5], &[1, 1, 1]),
            (&[9, 9, 8, 8, 8, 1], &[1, 1, 3, 3, 3, 6]),
            (&[0, 0, -1], &[1, 1, 3]),
            (&[i64::MAX, i64::MIN], &[1, 2]),
        ];
        for (scores, ranks) in cases {
            assert_eq!(competition_ranks(scores), ranks, "{scores:?}");
        }
    }

    #[test]
    fn rank_for_is_one_more_than_strictly_greater() {
        assert_eq!(rank_for(0), 1);
        assert_eq!(rank_for(3), 4);
        assert_eq!(rank_for(u64::MAX), u64::MAX);
    }

    #[test]
    fn rank_key_order_table() {
        // Each row: a < b in board order.
        let cases = [
            (key(100, None, 9), key(99, Some(1), 1)),
            (key(100, Some(5), 9), key(100, Some(6), 1)),
            (key(100, Some(28), 9), key(100, None, 1)),
            (key(100, Some(5), 1), key(100, Some(5), 2)),
            (key(100, None, 1), key(100, None, 2)),
            (key(0, None, 1), key(-1, Some(1), 0)),
        ];
        for (a, b) in cases {
            assert!(a < b, "{a:?} should sort before {b:?}");
            assert_eq!(b.cmp(&a), Ordering::Greater);
            assert_eq!(a.partial_cmp(&b), Some(Ordering::Less));
        }
        assert_eq!(key(1, Some(1), 1).cmp(&key(1, Some(1), 1)), Ordering::Equal);
    }

    #[test]
    fn sorting_keys_gives_board_order_and_ranks() {
        let mut rows = [
            key(500, Some(3), 4),
            key(800, Some(2), 2),
            key(500, None, 1),
            key(500, Some(2), 3),
            key(900, None, 5),
        ];
        rows.sort();
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        assert_eq!(ids, [5, 2, 3, 4, 1]);
        let steps: Vec<i64> = rows.iter().map(|r| r.steps).collect();
        assert_eq!(competition_ranks(&steps), [1, 2, 3, 3, 3]);
    }

    fn arb_key() -> impl Strategy<Value = RankKey> {
        (0i64..5, prop::option::of(1u32..4), 0i64..5).prop_map(|(s, day, id)| key(s, day, id))
    }

    proptest! {
        #[test]
        fn competition_ranks_count_strictly_greater(mut scores in prop::collection::vec(-5i64..5, 0..40)) {
            scores.sort_unstable_by(|a, b| b.cmp(a));
            let ranks = competition_ranks(&scores);
            prop_assert_eq!(ranks.len(), scores.len());
            for (i, score) in scores.iter().enumerate() {
                let greater = scores.iter().filter(|s| *s > score).count() as u64;
                prop_assert_eq!(ranks[i], greater + 1);
                prop_assert_eq!(ranks[i], rank_for(greater));
            }
            // The classic walk: same score → same rank, else rank = position + 1.
            for i in 1..scores.len() {
                let expected = if scores[i] == scores[i - 1] { ranks[i - 1] } else { i as u64 + 1 };
                prop_assert_eq!(ranks[i], expected);
            }
        }

        #[test]
        fn competition_ranks_do_not_depend_on_input_order(scores in prop::collection::vec(-5i64..5, 0..40)) {
            let ranks = competition_ranks(&scores);
            for (i, score) in scores.iter().enumerate() {
                let greater = scores.iter().filter(|s| *s > score).count() as u64;
                prop_assert_eq!(ranks[i], greater + 1);
            }
        }

        #[test]
        fn rank_key_is_a_total_order(a in arb_key(), b in arb_key(), c in arb_key()) {
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
            if a.steps > b.steps {
                prop_assert!(a < b);
            }
        }
    }

    #[test]
    fn page_ranks_follow_competition_ranking_across_pages() {
        // Whole board: 90 80 80 70 70 70 60 → 1 2 2 4 4 4 7.
        assert_eq!(page_ranks(1, 0, [90, 80, 80, 70]), vec![1, 2, 2, 4]);
        // Page starting inside a tie of 70s at offset 4: first rank from the count query.
        assert_eq!(page_ranks(4, 4, [70, 70, 60]), vec![4, 4, 7]);
        assert_eq!(page_ranks(2, 2, [80, 70]), vec![2, 4]);
        assert!(page_ranks(1, 0, []).is_empty());
    }
}
