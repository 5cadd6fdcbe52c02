//! Where SQL repeats a domain rule (a set-based UPDATE cannot call Rust), the fragment is
//! built beside the rule in `domain/`; here both run on the same cases, on the database this
//! run tests, and must agree.

use chrono::NaiveDate;
use longmarch::domain::{
    conversion::{ProgressMode, cohort_metres, cohort_metres_sql, counted, counted_sql, metres, metres_sql},
    progress::{may_shift, may_shift_sql},
    step_day::DayDelta,
};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection,
    sea_query::{Alias, CaseStatement, Expr, Query, SimpleExpr},
};

use crate::helpers::TestDatabase;

async fn connect() -> (TestDatabase, DatabaseConnection) {
    let (database, url) = TestDatabase::create().await;
    let url = if url.starts_with("sqlite:") {
        format!("{url}?mode=rwc")
    } else {
        url
    };
    (database, Database::connect(&url).await.expect("connect"))
}

/// What the database makes of `expr`.
async fn eval(db: &DatabaseConnection, expr: SimpleExpr) -> i64 {
    let select = Query::select().expr_as(expr, Alias::new("v")).to_owned();
    let row = db
        .query_one(&select)
        .await
        .expect("the fragment runs")
        .expect("one row");
    row.try_get::<i64>("", "v").expect("an integer")
}

/// Counts a province could reach: a million members' campaign totals at most.
const STEPS: [i64; 8] = [0, 1, 17, 12_000, 49_999, 50_000, 70_000, 1_000_000_000_000];

#[tokio::test]
async fn the_daily_cap_in_sql_is_the_cap_in_rust() {
    let (_database, db) = connect().await;
    for cap in [0, 1, 20_000, 50_000, 100_000] {
        for steps in STEPS.into_iter().chain([-5]) {
            let sql = eval(&db, counted_sql(Expr::val(steps), cap)).await;
            assert_eq!(sql, counted(steps, cap), "counted({steps}, {cap})");
        }
    }
}

#[tokio::test]
async fn metres_in_sql_are_metres_in_rust_in_every_mode() {
    let (_database, db) = connect().await;
    for spk in [0, 1, 18, 1_300, 1_333, 2_000] {
        for total in STEPS {
            let sql = eval(&db, metres_sql(Expr::val(total), spk)).await;
            assert_eq!(sql, metres(total, spk), "metres({total}, {spk})");
            for mode in [
                ProgressMode::Individual,
                ProgressMode::CohortTotal,
                ProgressMode::CohortMean,
            ] {
                for members in [0, 1, 3, 7, 1_000_000] {
                    let sql = eval(&db, cohort_metres_sql(mode, Expr::val(total), Expr::val(members), spk)).await;
                    assert_eq!(
                        sql,
                        cohort_metres(mode, total, members, spk),
                        "{mode:?}: cohort_metres({total}, {members}, {spk})"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn may_shift_in_sql_is_may_shift_in_rust() {
    let (_database, db) = connect().await;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 10, d).expect("date");
    let change = |d: u32, counted: i64| DayDelta {
        day: day(d),
        counted,
        steps: counted,
        active: 0,
    };
    let cases: [&[DayDelta]; 7] = [
        &[change(5, 3_000)],
        &[change(5, -3_000)],
        &[change(3, 1_000), change(7, 2_000)],
        &[change(6, 0), change(9, 500)],
        &[change(5, 0)],
        &[change(4, -10), change(5, 10)],
        &[change(8, -1_000), change(2, 4_000)],
    ];
    for changes in cases {
        for last in [
            None,
            Some(day(1)),
            Some(day(3)),
            Some(day(5)),
            Some(day(8)),
            Some(day(30)),
        ] {
            let fragment = may_shift_sql(changes, Expr::val(last)).expect("changes");
            let sql = eval(
                &db,
                CaseStatement::new()
                    .case(fragment, Expr::val(1_i64))
                    .finally(Expr::val(0_i64))
                    .into(),
            )
            .await;
            assert_eq!(sql == 1, may_shift(changes, last), "may_shift({changes:?}, {last:?})");
        }
    }
    assert!(may_shift_sql(&[], Expr::val(Some(day(5)))).is_none());
}
