//! The schema migrates up, down and up again, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::helpers::{TestDatabase, test_settings};

/// Every table of DESIGN.md's domain.
const TABLES: [&str; 19] = [
    "organisers",
    "routes",
    "stations",
    "campaigns",
    "campaign_grants",
    "cohorts",
    "participants",
    "enrollments",
    "step_days",
    "cohort_days",
    "campaign_days",
    "unlocks",
    "roster_entries",
    "audit_log",
    "wechat_tokens",
    "subscription_credits",
    "reminder_claims",
    "join_qrcodes",
    "certificates",
];

/// The user tables present in the database, sorted.
async fn tables(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        _ => "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    };
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("list tables")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("table name"))
        .collect()
}

async fn count(db: &DatabaseConnection, table: &str) -> Result<i64, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, format!("SELECT COUNT(*) FROM {table}")))
        .await?
        .expect("a row");
    row.try_get_by_index::<i64>(0)
}

fn expected_after_up() -> Vec<String> {
    let mut all: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    all.push("seaql_migrations".to_owned());
    all.sort();
    all
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let (database, url) = TestDatabase::create().await;
    let db = longmarch::db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    let backend = db.get_database_backend();
    assert_eq!(
        backend,
        if database.is_postgres() {
            DbBackend::Postgres
        } else {
            DbBackend::Sqlite
        }
    );

    Migrator::up(&db, None).await.expect("up");
    assert_eq!(tables(&db).await, expected_after_up());
    for table in TABLES {
        assert_eq!(count(&db, table).await.expect(table), 0, "{table} starts empty");
    }
    assert!(Migrator::get_pending_migrations(&db).await.expect("pending").is_empty());
    assert_eq!(
        count(&db, "seaql_migrations").await.expect("history"),
        i64::try_from(Migrator::migrations().len()).expect("few")
    );

    Migrator::down(&db, None).await.expect("down");
    assert_eq!(
        tables(&db).await,
        vec!["seaql_migrations".to_owned()],
        "down drops every table"
    );
    for table in TABLES {
        assert!(count(&db, table).await.is_err(), "{table} is gone");
    }
    assert_eq!(count(&db, "seaql_migrations").await.expect("history"), 0);
    assert_eq!(
        Migrator::get_pending_migrations(&db).await.expect("pending").len(),
        Migrator::migrations().len()
    );

    Migrator::up(&db, None).await.expect("up again");
    assert_eq!(tables(&db).await, expected_after_up());
    // The schema works after the round trip: the seed fills it.
    longmarch::services::campaigns::seed::run(&db, &test_settings(&url).seed)
        .await
        .expect("seed");
    assert_eq!(count(&db, "stations").await.expect("stations"), 36);
    assert_eq!(count(&db, "cohorts").await.expect("cohorts"), 6);
    db.close().await.expect("close");
}

/// A fresh database, migrated and seeded as the test settings say (the demo included).
async fn seeded() -> (TestDatabase, DatabaseConnection) {
    let (database, url) = TestDatabase::create().await;
    let db = longmarch::db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    longmarch::db::migrate(&db).await.expect("migrate");
    longmarch::services::campaigns::seed::run(&db, &test_settings(&url).seed)
        .await
        .expect("seed");
    (database, db)
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let (_database, url) = TestDatabase::create().await;
    let db = longmarch::db::connect(&test_settings(&url).database)
        .await
        .expect("connect");
    longmarch::db::migrate(&db).await.expect("first");
    longmarch::db::migrate(&db).await.expect("second");
    assert_eq!(
        count(&db, "seaql_migrations").await.expect("history"),
        i64::try_from(Migrator::migrations().len()).expect("few")
    );
    assert_eq!(tables(&db).await, expected_after_up());
    db.close().await.expect("close");
}

#[tokio::test]
async fn the_schema_enforces_its_unique_constraints() {
    let (_database, db) = seeded().await;
    // A second route with the built-in slug must be refused by the database itself.
    let backend = db.get_database_backend();
    let err = db
        .execute_raw(Statement::from_string(
            backend,
            "INSERT INTO routes (slug, name, description, distance_note, total_metres, created_at, updated_at) \
             SELECT slug, name, description, distance_note, total_metres, created_at, updated_at FROM routes",
        ))
        .await
        .expect_err("duplicate slug refused");
    assert!(
        longmarch::http::error::is_unique_violation(&err),
        "unique violation: {err}"
    );
    db.close().await.expect("close");
}

/// m20261125_000002: in cohort modes a member's own unlocks are no longer stored, and the
/// rows stored before are deleted; those of a participant without a cohort (their own are
/// their subject of record) and the cohorts' own stay.
#[tokio::test]
async fn the_cohort_dates_migration_deletes_only_cohort_members_own_unlocks() {
    use longmarch::{
        domain::states::Subject,
        models::{campaigns, cohorts, enrollments, participants, unlocks},
    };
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

    let (_database, db) = seeded().await;
    let demo = campaigns::Model::find_by_slug(&db, crate::helpers::DEMO)
        .await
        .expect("q")
        .expect("the demo, in cohort_mean");
    let class = cohorts::Entity::find()
        .filter(cohorts::Column::JoinCode.eq("DEMO01"))
        .one(&db)
        .await
        .expect("q")
        .expect("class");
    let now = chrono::Utc::now();
    let mut ids = Vec::new();
    for (openid, cohort) in [("o_mig_member", Some(class.id)), ("o_mig_alone", None)] {
        let p = participants::ActiveModel {
            openid: Set(openid.to_owned()),
            display_name: Set(openid.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("participant");
        enrollments::new_active(demo.id, p.id, cohort, now)
            .insert(&db)
            .await
            .expect("enrollment");
        ids.push(p.id);
    }
    for (kind, subject) in [
        (Subject::Participant, ids[0]),
        (Subject::Participant, ids[1]),
        (Subject::Cohort, class.id),
    ] {
        unlocks::ActiveModel {
            campaign_id: Set(demo.id),
            subject_kind: Set(kind),
            subject_id: Set(subject),
            station_seq: Set(1),
            unlocked_at: Set(now),
            reached_on: Set(now.date_naive()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("unlock");
    }
    // Back to before m20261125_000002 (the migrations after it go down first).
    let after_it = Migrator::migrations()
        .iter()
        .rev()
        .take_while(|m| m.name() != "m20261125_000002_cohort_dates")
        .count();
    let steps = u32::try_from(after_it + 1).expect("few");
    Migrator::down(&db, Some(steps)).await.expect("down to before it");
    Migrator::up(&db, None).await.expect("up again");
    let mut left: Vec<(String, i32)> = unlocks::Entity::find()
        .all(&db)
        .await
        .expect("unlocks")
        .into_iter()
        .map(|u| (u.subject_kind.as_str().to_owned(), u.subject_id))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [("cohort".to_owned(), class.id), ("participant".to_owned(), ids[1])]
    );
    db.close().await.expect("close");
}
