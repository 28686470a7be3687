//! Cache coherence: writes of other stores (other pools, other processes) reach a store's
//! cache by themselves — pushed by `NOTIFY` on PostgreSQL, noticed with `PRAGMA
//! data_version` on SQLite — without polling while nothing changes, without missing a
//! change when the listening connection dies, and without ever putting an older value over
//! a newer one.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use system_config::{
    Change, Coherence, LISTENER_APPLICATION_NAME, NOTIFY_CHANNEL, StoreOptions, Subscription,
    SystemConfig,
};
use test_support::{Backend, Children, TestDb, backends, child_role, worker_done};

use crate::{count, exec, raw};

/// How long any single expected change may take to arrive before the test fails. Far above
/// the bounds (milliseconds on PostgreSQL, 250 ms on SQLite): this only stops a broken
/// build from hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// The next change of `key` (other keys are skipped).
async fn next_change(sub: &mut Subscription, key: &str) -> anyhow::Result<Change> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let change = tokio::time::timeout(left, sub.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no change of `{key}` within {PATIENCE:?}"))??;
        if change.key == key {
            return Ok(change);
        }
    }
}

/// Waits until `store` holds `expected` under `key`, following its change events.
async fn wait_for(
    store: &SystemConfig,
    sub: &mut Subscription,
    key: &str,
    expected: Option<Value>,
) -> anyhow::Result<()> {
    while store.get(key)? != expected {
        next_change(sub, key).await?;
    }
    Ok(())
}

/// Waits (bounded) until `condition` holds.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Every change received within `quiet` of the previous one.
async fn drain(sub: &mut Subscription, quiet: Duration) -> Vec<Change> {
    let mut out = Vec::new();
    while let Ok(Ok(change)) = tokio::time::timeout(quiet, sub.recv()).await {
        out.push(change);
    }
    out
}

/// The admin URL's database (`postgres`), for watching a test database from outside it.
async fn admin() -> anyhow::Result<sea_orm::DatabaseConnection> {
    raw(&std::env::var(test_support::PG_URL_ENV)?).await
}

fn database_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_update_delete_in_one_store_reach_another_without_refresh() -> anyhow::Result<()> {
    for db in backends().await? {
        let a = SystemConfig::open(&db.url).await?;
        let b = SystemConfig::open(&db.url).await?;
        let mut seen = b.subscribe();
        let mut own = a.subscribe();

        a.set("Shared", json!({"v": 1})).await?;
        let change = next_change(&mut seen, "Shared").await?;
        assert_eq!(change.value.as_deref(), Some(&json!({"v": 1})));
        assert_eq!(b.get("Shared")?, Some(json!({"v": 1})), "{:?}", db.backend);

        a.update(
            "Shared",
            |v| json!({"v": v.and_then(|v| v["v"].as_i64()).unwrap_or(0) + 1}),
        )
        .await?;
        let change = next_change(&mut seen, "Shared").await?;
        assert_eq!(change.value.as_deref(), Some(&json!({"v": 2})));
        assert_eq!(b.get("Shared")?, Some(json!({"v": 2})));

        assert!(a.delete("Shared").await?);
        assert_eq!(next_change(&mut seen, "Shared").await?.value, None);
        assert_eq!(b.get("Shared")?, None);

        // A key too long for a notification payload (PostgreSQL refuses 8000 bytes) is
        // announced as "reload everything".
        let long = "k".repeat(9000);
        a.set(&long, json!("long")).await?;
        wait_for(&b, &mut seen, &long, Some(json!("long"))).await?;

        // And the other way round.
        b.set("Back", json!([1, 2])).await?;
        let mut back = a.subscribe_key("Back");
        wait_for(&a, &mut back, "Back", Some(json!([1, 2]))).await?;

        // The writer heard of each of its own writes exactly once: its coherence machinery
        // (its own notifications, data_version moving after its own commits) announced
        // nothing twice.
        let mine: Vec<_> = drain(&mut own, Duration::from_millis(600))
            .await
            .into_iter()
            .map(|c| (c.key, c.value.map(|v| (*v).clone())))
            .collect();
        assert_eq!(
            mine,
            [
                ("Shared".to_owned(), Some(json!({"v": 1}))),
                ("Shared".to_owned(), Some(json!({"v": 2}))),
                ("Shared".to_owned(), None),
                (long.clone(), Some(json!("long"))),
                ("Back".to_owned(), Some(json!([1, 2]))),
            ],
            "{:?}",
            db.backend
        );
        let stats = b.coherence_stats();
        match db.backend {
            Backend::Postgres => {
                assert!(stats.key_reads >= 3, "{stats:?}");
                assert!(stats.reloads >= 1, "{stats:?}");
                assert!(a.coherence_stats().own_notifications >= 4, "{stats:?}");
            }
            Backend::Sqlite => assert!(stats.reloads >= 4, "{stats:?}"),
        }
    }
    Ok(())
}

/// Both stores increment one counter at once. Every store's subscribers must see the
/// values only grow: a refresh triggered by the other store's commit must never put an
/// older value over one this store has just committed (or already shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_never_goes_back_in_time() -> anyhow::Result<()> {
    const EACH: i64 = 150;
    for db in backends().await? {
        let stores = [
            SystemConfig::open(&db.url).await?,
            SystemConfig::open(&db.url).await?,
        ];
        let mut subs = [
            stores[0].subscribe_key("counter"),
            stores[1].subscribe_key("counter"),
        ];
        let mut tasks = Vec::new();
        for store in &stores {
            for _ in 0..2 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..EACH / 2 {
                        store
                            .update("counter", |v| {
                                json!(v.and_then(Value::as_i64).unwrap_or(0) + 1)
                            })
                            .await?;
                    }
                    anyhow::Ok(())
                }));
            }
        }
        for task in tasks {
            task.await??;
        }
        for (store, sub) in stores.iter().zip(&mut subs) {
            let mut last = 0;
            let mut values = Vec::new();
            while last < 2 * EACH {
                let change = next_change(sub, "counter").await?;
                let value = change.value.and_then(|v| v.as_i64()).unwrap_or(-1);
                values.push(value);
                assert!(
                    value > last,
                    "{:?}: {last} then {value} in {values:?}",
                    db.backend
                );
                last = value;
            }
            assert_eq!(store.get("counter")?, Some(json!(2 * EACH)));
        }
    }
    Ok(())
}

const PING_PONG: &str = "coherence::ping_pong_worker";

/// Runs only inside a child process started by the test below: writes `ping`, then waits —
/// without ever calling `refresh` — until the parent process's `pong` reaches its cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_worker() -> anyhow::Result<()> {
    if child_role().as_deref() != Some(PING_PONG) {
        return Ok(());
    }
    let store = SystemConfig::open(&std::env::var("SC_TEST_URL")?).await?;
    let mut pong = store.subscribe_key("pong");
    store.set("ping", json!(std::process::id())).await?;
    wait_for(&store, &mut pong, "pong", Some(json!("pong"))).await?;
    worker_done();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_one_process_reaches_another_process() -> anyhow::Result<()> {
    if child_role().is_some() {
        return Ok(());
    }
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let mut ping = store.subscribe_key("ping");
        let child = Children::spawn(PING_PONG, 1, &[("SC_TEST_URL", &db.url)])?;
        let pid = child.pids()[0];
        let change = next_change(&mut ping, "ping").await;
        if change.is_err() {
            child.kill_all()?;
            anyhow::bail!("{:?}: the child's write never arrived", db.backend);
        }
        assert_eq!(store.get("ping")?, Some(json!(pid)), "{:?}", db.backend);
        store.set("pong", json!("pong")).await?;
        child.wait()?;
    }
    Ok(())
}

/// PostgreSQL: the listening connection is killed between two writes, and cannot come back
/// for a while (the database refuses new connections), so the second write's notification
/// certainly reaches nobody. Once the listener is back it reloads: both writes are seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_killed_between_two_writes_misses_neither() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    let name = database_name(&db.url);
    // The writer does not listen, so the only listener in the database is the reader's;
    // and it keeps writing on the one connection it opened before the database stops
    // accepting new ones.
    let writer = SystemConfig::open_with(
        &db.url,
        StoreOptions::default()
            .coherence(Coherence::Off)
            .max_connections(1),
    )
    .await?;
    let reader = SystemConfig::open(&db.url).await?;
    let mut seen = reader.subscribe();
    let admin = admin().await?;
    let listeners = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' \
         AND application_name = '{LISTENER_APPLICATION_NAME}'"
    );
    assert_eq!(count(&admin, &listeners).await?, 1);

    writer.set("first", json!(1)).await?;
    wait_for(&reader, &mut seen, "first", Some(json!(1))).await?;
    let before = reader.coherence_stats();

    exec(
        &admin,
        &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"),
    )
    .await?;
    // Waits (up to 5 s) until the listener's backend has exited.
    let killed = count(
        &admin,
        &format!(
            // The function runs only on the rows the subquery chose (OFFSET 0 keeps the
            // planner from merging it into a WHERE it may evaluate for every backend).
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM \
             (SELECT pid FROM pg_stat_activity WHERE datname = '{name}' \
             AND application_name = '{LISTENER_APPLICATION_NAME}' OFFSET 0) AS listener"
        ),
    )
    .await?;
    assert_eq!(killed, 1);
    // Nobody listens now, and nobody can start listening.
    writer.set("second", json!(2)).await?;
    writer.set("first", json!(3)).await?;
    eventually("a failed reconnection attempt", || {
        reader.coherence_stats().failures > before.failures
    })
    .await?;
    assert_eq!(reader.get("second")?, None, "not yet: nobody listens");
    exec(
        &admin,
        &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"),
    )
    .await?;

    wait_for(&reader, &mut seen, "second", Some(json!(2))).await?;
    wait_for(&reader, &mut seen, "first", Some(json!(3))).await?;
    let after = reader.coherence_stats();
    assert!(after.connects > before.connects, "{after:?}");
    assert!(after.reloads > before.reloads, "{after:?}");
    assert_eq!(count(&admin, &listeners).await?, 1);

    // Pushed again.
    writer.set("third", json!(4)).await?;
    wait_for(&reader, &mut seen, "third", Some(json!(4))).await?;
    assert!(reader.coherence_stats().key_reads > after.key_reads);
    Ok(())
}

/// A plain kill (the listener may come back before, or after, the next write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_killed_again_and_again_misses_nothing() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    let name = database_name(&db.url);
    let writer = SystemConfig::open(&db.url).await?;
    let reader = SystemConfig::open(&db.url).await?;
    let mut seen = reader.subscribe_key("n");
    let admin = admin().await?;
    for n in 0..5 {
        writer.set("n", json!(n)).await?;
        exec(
            &admin,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND application_name = '{LISTENER_APPLICATION_NAME}'"
            ),
        )
        .await?;
    }
    writer.set("n", json!("last")).await?;
    wait_for(&reader, &mut seen, "n", Some(json!("last"))).await?;
    assert_eq!(writer.get("n")?, Some(json!("last")));
    Ok(())
}

/// PostgreSQL: a notification naming a key whose row is gone removes the key; payloads
/// that are not configuration notifications change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_naming_deleted_keys_and_malformed_payloads() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    let store = SystemConfig::open(&db.url).await?;
    store.set("gone", json!("x")).await?;
    store.set("stays", json!(1)).await?;
    let mut events = store.subscribe();
    let conn = raw(&db.url).await?;
    // Deleted behind the store's back, announced by nobody: the cache still has it.
    exec(&conn, "DELETE FROM systemconfig WHERE \"key\" = 'gone'").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.get("gone")?, Some(json!("x")));

    let before = store.coherence_stats();
    for garbage in [
        "garbage",
        "{\"all\": false}",
        "{\"key\": 42}",
        "{\"key\": \"gone\", \"all\": true}",
        "",
    ] {
        exec(
            &conn,
            &format!("NOTIFY {NOTIFY_CHANNEL}, '{}'", garbage.replace('\'', "''")),
        )
        .await?;
    }
    eventually("five ignored notifications", || {
        store.coherence_stats().malformed_notifications == before.malformed_notifications + 5
    })
    .await?;
    let after = store.coherence_stats();
    assert_eq!(
        (after.reloads, after.key_reads),
        (before.reloads, before.key_reads),
        "{after:?}"
    );
    assert_eq!(store.get("gone")?, Some(json!("x")));
    assert_eq!(store.get("stays")?, Some(json!(1)));
    assert_eq!(drain(&mut events, Duration::from_millis(200)).await, []);

    // A notification from another program (no origin) naming the deleted key.
    exec(
        &conn,
        &format!("SELECT pg_notify('{NOTIFY_CHANNEL}', json_build_object('key', 'gone')::text)"),
    )
    .await?;
    let change = next_change(&mut events, "gone").await?;
    assert_eq!(change.value, None);
    assert_eq!(store.get("gone")?, None);
    assert_eq!(store.get("stays")?, Some(json!(1)));
    assert_eq!(drain(&mut events, Duration::from_millis(200)).await, []);
    Ok(())
}

/// SQLite: another program (here a raw connection) deletes and changes rows; the store
/// notices through `data_version`, whoever the writer was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sees_writes_of_programs_that_do_not_announce_them() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let store = SystemConfig::open_with(
        &db.url,
        StoreOptions::default().sqlite_check_interval(Duration::from_millis(50)),
    )
    .await?;
    store.set("gone", json!("x")).await?;
    store.set("stays", json!(1)).await?;
    let mut events = store.subscribe();
    let conn = raw(&db.url).await?;
    exec(&conn, "DELETE FROM systemconfig WHERE \"key\" = 'gone'").await?;
    assert_eq!(next_change(&mut events, "gone").await?.value, None);
    exec(
        &conn,
        "UPDATE systemconfig SET value = '2' WHERE \"key\" = 'stays'",
    )
    .await?;
    let change = next_change(&mut events, "stays").await?;
    assert_eq!(change.value.as_deref(), Some(&json!(2)));
    Ok(())
}

/// While nothing changes, PostgreSQL sees no statement at all from the stores (listener or
/// pool), and on SQLite the checker runs one `PRAGMA data_version` per interval and nothing
/// else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_stores_cost_nothing_on_postgres_and_one_pragma_per_interval_on_sqlite()
-> anyhow::Result<()> {
    const WINDOW: Duration = Duration::from_secs(2);
    for db in backends().await? {
        let a = SystemConfig::open(&db.url).await?;
        let b = SystemConfig::open(&db.url).await?;
        let mut seen = b.subscribe_key("warm");
        a.set("warm", json!(1)).await?;
        wait_for(&b, &mut seen, "warm", Some(json!(1))).await?;
        // Let the SQLite checkers absorb that commit.
        tokio::time::sleep(Duration::from_millis(600)).await;
        match db.backend {
            Backend::Postgres => {
                // Watched from the admin database, so the watching itself is not counted:
                // every statement a backend of the test database runs moves its
                // `state_change` (idle → active → idle) and `query_start`.
                let admin = admin().await?;
                let name = database_name(&db.url);
                let sample = || {
                    let admin = admin.clone();
                    let sql = format!(
                        "SELECT string_agg(pid || ' ' || coalesce(application_name, '') || ' ' \
                         || coalesce(state, '') || ' ' || coalesce(state_change::text, '') \
                         || ' ' || coalesce(query_start::text, ''), E'\\n' ORDER BY pid) \
                         FROM pg_stat_activity WHERE datname = '{name}'"
                    );
                    async move { crate::scalar(&admin, &sql).await }
                };
                let start = sample().await?.unwrap_or_default();
                let listeners = start.matches(LISTENER_APPLICATION_NAME).count();
                assert_eq!(listeners, 2, "{start}");
                let stats = (a.coherence_stats(), b.coherence_stats());
                tokio::time::sleep(WINDOW).await;
                let end = sample().await?.unwrap_or_default();
                assert_eq!(start, end, "a backend of the test database ran a statement");
                assert_eq!((a.coherence_stats(), b.coherence_stats()), stats);
            }
            Backend::Sqlite => {
                let interval = StoreOptions::default().sqlite_check_interval;
                let before = b.coherence_stats();
                tokio::time::sleep(WINDOW).await;
                let after = b.coherence_stats();
                let checks = after.data_version_checks - before.data_version_checks;
                let most = (WINDOW.as_millis() / interval.as_millis()) as u64 + 1;
                assert!(
                    (1..=most).contains(&checks),
                    "{checks} checks in {WINDOW:?}"
                );
                assert_eq!(after.reloads, before.reloads, "{after:?}");
            }
        }
    }
    Ok(())
}

/// Background work ends with the store: the listener's connection goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_stops_its_listener() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    let name = database_name(&db.url);
    let admin = admin().await?;
    let listeners = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' \
         AND application_name = '{LISTENER_APPLICATION_NAME}'"
    );
    let store = SystemConfig::open(&db.url).await?;
    let clone = store.clone();
    assert_eq!(count(&admin, &listeners).await?, 1);
    drop(store);
    assert_eq!(count(&admin, &listeners).await?, 1, "a clone keeps it");
    drop(clone);
    let deadline = Instant::now() + PATIENCE;
    while count(&admin, &listeners).await? != 0 {
        anyhow::ensure!(Instant::now() < deadline, "the listener outlived its store");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// With `Coherence::Off` nothing runs in the background and nothing arrives by itself, but
/// the store's own writes still notify the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coherence_off_listens_to_nothing_but_still_notifies() -> anyhow::Result<()> {
    for db in backends().await? {
        let off =
            SystemConfig::open_with(&db.url, StoreOptions::default().coherence(Coherence::Off))
                .await?;
        let on = SystemConfig::open(&db.url).await?;
        let mut seen = on.subscribe_key("from_off");
        off.set("from_off", json!(1)).await?;
        wait_for(&on, &mut seen, "from_off", Some(json!(1))).await?;
        on.set("from_on", json!(2)).await?;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(off.get("from_on")?, None, "{:?}", db.backend);
        assert_eq!(off.coherence_stats(), Default::default());
        assert_eq!(off.refresh().await?, 1);
        assert_eq!(off.get("from_on")?, Some(json!(2)));
        let keys: BTreeSet<String> = on.all().into_keys().collect();
        assert!(keys.contains("from_off") && keys.contains("from_on"));
    }
    Ok(())
}

/// PostgreSQL: a store skips its own notifications — except after a write of the key failed
/// at `COMMIT` (it might have committed all the same; then the notification is news).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_notifications_are_skipped_unless_a_commit_failed() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    let store = SystemConfig::open(&db.url).await?;
    let conn = raw(&db.url).await?;
    // A deferred constraint trigger runs at COMMIT; raising there makes COMMIT fail.
    exec(
        &conn,
        "CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.value::text LIKE '%fail-commit%' THEN \
         RAISE EXCEPTION 'injected commit failure'; END IF; RETURN NULL; END $$",
    )
    .await?;
    exec(
        &conn,
        "CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT OR UPDATE ON systemconfig \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit()",
    )
    .await?;
    store.set("k", json!(1)).await?;
    eventually("the first own notification", || {
        store.coherence_stats().own_notifications == 1
    })
    .await?;
    assert!(store.set("k", json!("fail-commit")).await.is_err());
    let before = store.coherence_stats();
    // The next own notification of `k` is acted on (one re-read), the one after is skipped.
    store.set("k", json!(2)).await?;
    eventually("the re-read after an uncertain commit", || {
        store.coherence_stats().key_reads == before.key_reads + 1
    })
    .await?;
    store.set("k", json!(3)).await?;
    eventually("a skipped own notification", || {
        store.coherence_stats().own_notifications == before.own_notifications + 1
    })
    .await?;
    assert_eq!(store.coherence_stats().key_reads, before.key_reads + 1);
    assert_eq!(store.get("k")?, Some(json!(3)));
    Ok(())
}
