//! The cohort tree: colleges of classes (any depth), each cohort knowing only its parent.

use std::collections::HashMap;

/// Each cohort's parent (`None` at the top), by cohort id.
pub type Parents = HashMap<i32, Option<i32>>;

/// A cohort and its ancestors' ids, nearest first: what one member's steps count towards.
/// `None` when a cohort on the way is not in `parents` (created since they were read) or
/// the links loop (a corrupt tree), rather than a partial chain or no answer at all.
#[must_use]
pub fn chain(parents: &Parents, cohort_id: i32) -> Option<Vec<i32>> {
    let mut chain = Vec::new();
    let mut next = Some(cohort_id);
    while let Some(id) = next {
        if chain.len() > parents.len() {
            return None;
        }
        chain.push(id);
        next = *parents.get(&id)?;
    }
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_runs_from_the_cohort_up_to_its_top() {
        // 1 ← 2 ← 3 (a class in a department in a college), 4 on its own.
        let parents: Parents = [(1, None), (2, Some(1)), (3, Some(2)), (4, None)].into();
        let cases: [(i32, Option<Vec<i32>>); 4] = [
            (3, Some(vec![3, 2, 1])),
            (2, Some(vec![2, 1])),
            (4, Some(vec![4])),
            (9, None),
        ];
        for (cohort, expected) in cases {
            assert_eq!(chain(&parents, cohort), expected, "chain of {cohort}");
        }
    }

    #[test]
    fn an_unknown_parent_or_a_loop_has_no_chain() {
        let orphan: Parents = [(2, Some(1))].into();
        assert_eq!(chain(&orphan, 2), None);
        let looped: Parents = [(1, Some(2)), (2, Some(1))].into();
        assert_eq!(chain(&looped, 1), None);
        let own_parent: Parents = [(1, Some(1))].into();
        assert_eq!(chain(&own_parent, 1), None);
    }
}
