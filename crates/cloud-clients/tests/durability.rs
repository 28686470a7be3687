//! Rotated tokens are never only in memory, and failure states are shared: a save that
//! fails through a database outage is retried until the database is back; a process that
//! gives up leaves a rescue file the next process replays; "needs login" and "rate limited"
//! reach every process through the database.

use std::time::Duration;

use cloud_clients::u115::U115Client;
use cloud_clients::{Error, Flushed, LOGIN_STATE_MEMBER, LoginSummary, SummaryState};
use cloud_sim::{Fault, RateLimitAnswer};
use storage_helper::StorageHelper;
use system_config::sea_orm::{ConnectionTrait, Database};
use system_config::{StoreOptions, SystemConfig};
use test_support::{Backend, TestDb, backends};

use crate::common::{ACCOUNT, Env, env, grant};

const REFRESH: &str = "/open/refreshToken";

fn rescue_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().contains("drivekeep-rescue."))
                .collect()
        })
        .unwrap_or_default()
}

/// The folder of a SQLite test database (where its rescue files go by default).
fn sqlite_dir(db: &TestDb) -> std::path::PathBuf {
    std::path::PathBuf::from(
        db.url
            .trim_start_matches("sqlite://")
            .trim_end_matches("?mode=rwc")
            .trim_end_matches("/user.db"),
    )
}

/// A client on its own store whose writes give up after `busy` (as a separate process
/// would have), saving rotated tokens for `patience`; the token is expired and a refresh is
/// started whose answer the provider holds back 250 ms. Returns once the provider has the
/// request.
async fn refresh_in_flight(
    env: &Env,
    db: &TestDb,
    busy: Duration,
    patience: Duration,
    rescue_dir: Option<&std::path::Path>,
) -> anyhow::Result<(
    U115Client,
    tokio::task::JoinHandle<cloud_clients::Result<cloud_clients::AccessToken>>,
)> {
    let impatient =
        SystemConfig::open_with(&db.url, StoreOptions::default().busy_timeout(busy)).await?;
    let mut options = env.options();
    options.accessor = options.accessor.save_patience(patience);
    if let Some(dir) = rescue_dir {
        options.accessor = options.accessor.rescue_dir(dir);
    }
    let client = U115Client::new(&StorageHelper::new(impatient), options)?;
    env.expire();
    env.sim
        .inject_fault(REFRESH, Fault::Delay(Duration::from_millis(250)), 1);
    let refreshing = tokio::spawn({
        let client = client.clone();
        async move { client.accessor().access_token().await }
    });
    until_refresh_is_held(env).await;
    Ok((client, refreshing))
}

/// Waits until the simulator holds back the refresh request.
async fn until_refresh_is_held(env: &Env) {
    while env.sim.stats().faults_injected == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// SQLite: another connection holds the write lock for 1.5 s while the refresh answer
/// arrives. With enough patience the save is retried until it commits: one refresh, the
/// caller gets the new token, nothing is left on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_outlasts_a_locked_database() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = env(&db.url).await?;
    env.login().await?;
    let (_client, refreshing) = refresh_in_flight(
        &env,
        &db,
        Duration::from_millis(100),
        Duration::from_secs(20),
        None,
    )
    .await?;
    let blocker = block_writes(&db).await?;
    // Let the answer arrive and the first save attempts fail, then free the database.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!refreshing.is_finished(), "the save gave up too early");
    let dir = sqlite_dir(&db);
    assert_eq!(
        rescue_files(&dir).len(),
        1,
        "while unsaved, the answer is on disk"
    );
    drop(blocker);
    let token = refreshing.await??;
    assert_eq!(token.secret(), env.stored_token("access_token").await?);
    assert_eq!(
        Some(env.stored_token("refresh_token").await?),
        env.sim.live_refresh_token(ACCOUNT)
    );
    assert_eq!(env.sim.path_count(REFRESH), 1);
    assert!(rescue_files(&dir).is_empty(), "saved: no rescue file left");
    Ok(())
}

/// PostgreSQL: the database refuses every connection for 2 s (existing ones terminated)
/// while the refresh is answered; the save waits it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_outlasts_a_postgres_outage() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    let admin_url = std::env::var(test_support::PG_URL_ENV)?;
    let name = db.url.rsplit('/').next().unwrap_or_default().to_owned();
    let env = env(&db.url).await?;
    env.login().await?;
    let rescue = tempfile::tempdir()?;
    let mut options = env.options();
    options.accessor = options
        .accessor
        .save_patience(Duration::from_secs(30))
        .rescue_dir(rescue.path());
    let client = env.fresh_client(options).await?;
    env.expire();
    env.sim
        .inject_fault(REFRESH, Fault::Delay(Duration::from_millis(300)), 1);
    let refreshing = tokio::spawn({
        let client = client.clone();
        async move { client.accessor().access_token().await }
    });
    until_refresh_is_held(&env).await;
    let admin = Database::connect(admin_url.as_str()).await?;
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await?;
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await?;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        !refreshing.is_finished(),
        "the save gave up during the outage"
    );
    assert_eq!(rescue_files(rescue.path()).len(), 1);
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await?;
    let token = tokio::time::timeout(Duration::from_secs(30), refreshing).await???;
    let check = env.fresh_client(env.options()).await?;
    assert_eq!(
        check.accessor().access_token().await?.secret(),
        token.secret()
    );
    assert_eq!(env.sim.path_count(REFRESH), 1);
    assert!(rescue_files(rescue.path()).is_empty());
    admin.close().await.ok();
    Ok(())
}

/// A process that gives up on the database (and exits) leaves the rotated tokens in a rescue
/// file; the next process replays them — no new login, no second refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescue_file_is_replayed_by_the_next_process() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = env(&db.url).await?;
    let dir = sqlite_dir(&db);
    env.login().await?;
    let (client, refreshing) = refresh_in_flight(
        &env,
        &db,
        Duration::from_millis(50),
        Duration::from_millis(300),
        None,
    )
    .await?;
    let blocker = block_writes(&db).await?;
    let err = refreshing.await?.unwrap_err();
    assert!(matches!(err, Error::SaveFailed { .. }), "{err}");
    // An explicit flush cannot save either: the tokens are (still) in the rescue file.
    let flushed = client.accessor().flush(Duration::from_millis(200)).await;
    let Flushed::Rescued(path) = flushed else {
        anyhow::bail!("expected a rescue file, got {flushed:?}");
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(rescue_files(&dir), vec![path.clone()]);
    drop(client); // the process exits
    drop(blocker);
    // The stored refresh token is dead at the provider; the rescue file holds the live one.
    assert_ne!(
        Some(env.stored_token("refresh_token").await?),
        env.sim.live_refresh_token(ACCOUNT)
    );

    let next = env.fresh_client(env.options()).await?;
    let token = next.accessor().access_token().await?;
    assert_eq!(env.sim.path_count(REFRESH), 1, "replayed, not refreshed");
    assert_eq!(token.secret(), env.stored_token("access_token").await?);
    assert_eq!(
        Some(env.stored_token("refresh_token").await?),
        env.sim.live_refresh_token(ACCOUNT)
    );
    assert!(!path.exists(), "the replayed file is removed");
    // And the login keeps working: the next refresh uses the replayed refresh token.
    env.expire();
    next.accessor().access_token().await?;
    assert_eq!(env.sim.path_count(REFRESH), 2);
    Ok(())
}

/// A rescue file older than the login in the database is dropped, never replayed over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescue_file_never_overwrites_a_newer_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let rescue = tempfile::tempdir()?;
        env.login().await?;
        let (client, refreshing) = refresh_in_flight(
            &env,
            &db,
            Duration::from_millis(50),
            Duration::from_millis(200),
            Some(rescue.path()),
        )
        .await?;
        // Make the save fail: on SQLite a held write lock, on PostgreSQL a locked table.
        let blocker = block_writes(&db).await?;
        let err = refreshing.await?.unwrap_err();
        assert!(
            matches!(err, Error::SaveFailed { .. }),
            "{:?}: {err}",
            db.backend
        );
        drop(client);
        drop(blocker);
        assert_eq!(rescue_files(rescue.path()).len(), 1, "{:?}", db.backend);

        // Meanwhile the user logs in again.
        let fresh = env.sim.login(ACCOUNT);
        env.client()?.accessor().save_login(grant(&fresh)).await?;

        let mut options = env.options();
        options.accessor = options.accessor.rescue_dir(rescue.path());
        let next = env.fresh_client(options).await?;
        let token = next.accessor().access_token().await?;
        assert_eq!(token.secret(), fresh.access_token, "{:?}", db.backend);
        assert_eq!(
            env.stored_token("refresh_token").await?,
            fresh.refresh_token.clone().unwrap_or_default()
        );
        assert!(rescue_files(rescue.path()).is_empty(), "{:?}", db.backend);
    }
    Ok(())
}

/// Something that makes every write of the storage entry fail or wait until dropped.
#[allow(dead_code)] // held for its effect until dropped
enum Blocker {
    Sqlite(
        system_config::sea_orm::sqlx::pool::PoolConnection<system_config::sea_orm::sqlx::Sqlite>,
    ),
    Postgres(system_config::sea_orm::sqlx::postgres::PgConnection),
}

async fn block_writes(db: &TestDb) -> anyhow::Result<Blocker> {
    use system_config::sea_orm::sqlx::{self, Connection};
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await?;
            let mut conn = pool.acquire().await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            Ok(Blocker::Sqlite(conn))
        }
        Backend::Postgres => {
            let mut conn = sqlx::postgres::PgConnection::connect(&db.url).await?;
            sqlx::query("BEGIN").execute(&mut conn).await?;
            sqlx::query("SET LOCAL lock_timeout = '0'")
                .execute(&mut conn)
                .await?;
            sqlx::query("LOCK TABLE systemconfig IN ACCESS EXCLUSIVE MODE")
                .execute(&mut conn)
                .await?;
            Ok(Blocker::Postgres(conn))
        }
    }
}

/// A refused refresh token is recorded in the database: other processes report "needs
/// login" without asking the provider again, until a new login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn needs_login_is_shared_through_the_database() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        env.login().await?;
        env.expire();
        env.sim.revoke(ACCOUNT)?;
        let err = env.client()?.accessor().access_token().await.unwrap_err();
        assert!(matches!(err, Error::NeedsLogin { .. }), "{err}");
        assert_eq!(env.sim.path_count(REFRESH), 1);
        for _ in 0..3 {
            // Each a new process: its own store and accessor.
            let other = env.fresh_client(env.options()).await?;
            let err = other.accessor().access_token().await.unwrap_err();
            assert!(matches!(err, Error::NeedsLogin { .. }), "{err}");
        }
        assert_eq!(
            env.sim.path_count(REFRESH),
            1,
            "{:?}: nobody asked the provider again",
            db.backend
        );
        let entry = entry_of(&env).await?;
        let summary = LoginSummary::of_entry(&entry, env.clock_now(), &Default::default());
        assert_eq!(summary.state, SummaryState::NeedsLogin);
        assert!(!summary.refreshable);

        // A new login clears it everywhere.
        env.login().await?;
        assert!(!entry_of(&env).await?.contains_key(LOGIN_STATE_MEMBER));
        let other = env.fresh_client(env.options()).await?;
        other.accessor().access_token().await?;
    }
    Ok(())
}

/// A rate limit with a reset hint is recorded: other processes wait it out without calling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_shared_through_the_database() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        env.login().await?;
        env.expire();
        env.sim
            .inject_rate_limit(REFRESH, RateLimitAnswer::Http429 { reset_secs: 30 }, 1);
        let err = env.client()?.accessor().access_token().await.unwrap_err();
        assert!(matches!(err, Error::RateLimited { .. }), "{err}");
        for _ in 0..5 {
            let other = env.fresh_client(env.options()).await?;
            let err = other.accessor().access_token().await.unwrap_err();
            assert!(matches!(err, Error::RateLimited { .. }), "{err}");
        }
        assert_eq!(env.sim.path_count(REFRESH), 1, "{:?}", db.backend);
        let summary =
            LoginSummary::of_entry(&entry_of(&env).await?, env.clock_now(), &Default::default());
        assert_eq!(summary.state, SummaryState::RateLimited);
        // After the hint, the next process refreshes (once) and the mark is gone.
        env.advance(Duration::from_secs(31));
        let other = env.fresh_client(env.options()).await?;
        other.accessor().access_token().await?;
        assert_eq!(env.sim.path_count(REFRESH), 2);
        assert!(!entry_of(&env).await?.contains_key(LOGIN_STATE_MEMBER));
    }
    Ok(())
}

async fn entry_of(env: &Env) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let conf = env
        .storages
        .handle("u115")
        .get_fresh()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no u115 entry"))?;
    Ok(serde_json::to_value(conf)?
        .as_object()
        .cloned()
        .unwrap_or_default())
}
