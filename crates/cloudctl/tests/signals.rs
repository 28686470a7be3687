//! Signals at every point of a refresh (`token refresh --force`), with real processes and
//! real signals. SIGINT and SIGTERM must never lose the login; SIGKILL may lose it only
//! while the refresh request is with the provider (it has rotated the refresh token and its
//! answer has not reached the client) — which no client can prevent. Each trial's phase is
//! read off the simulator's request timeline against the instants around the `kill`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloud_sim::{Fault, Sim115Handle};
use test_support::TestDb;

use crate::{logged_in, sim};

const REFRESH: &str = "/open/refreshToken";
const TRIALS: usize = 20;
/// The provider holds its answer this long after rotating the tokens.
const ANSWER_DELAY: Duration = Duration::from_millis(250);
/// The provider holds every request this long before acting on it (a kill then drops the
/// request unanswered and unprocessed).
const REQUEST_DELAY: Duration = Duration::from_millis(150);
/// Signals land spread over this window after the process starts.
const WINDOW_MS: u64 = 800;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Before the refresh request reached the provider (or no request at all).
    Before,
    /// The provider had the request (and rotated) and its answer had not left it.
    During,
    /// The answer had left the provider.
    After,
}

fn spawn(url: &str, sim: &Sim115Handle) -> std::io::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_cloudctl"))
        .arg("--database-url")
        .arg(url)
        .arg("--endpoint")
        .arg(format!("u115={}", sim.base_url()))
        .args(["token", "refresh", "--force", "u115"])
        .env_remove("DATABASE_URL")
        .env_remove("CLOUDCTL_ENDPOINTS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
}

fn send(signal: &str, child: &Child) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill -{signal} failed");
    Ok(())
}

/// Where `[sent_from, sent_to]` (the instants around the `kill`) fell in the refresh
/// request's life at the simulator. A kill straddling a boundary counts as `During`.
fn phase(sim: &Sim115Handle, sent_from: Instant, sent_to: Instant) -> Phase {
    let Some(request) = sim.timings().into_iter().find(|t| t.path == REFRESH) else {
        return Phase::Before;
    };
    if sent_to < request.received {
        return Phase::Before;
    }
    match request.answered {
        // A few milliseconds for the answer to cross loopback.
        Some(answered) if sent_from >= answered + Duration::from_millis(5) => Phase::After,
        _ => Phase::During,
    }
}

/// Whether the login survived: the next process can still refresh it (replaying a rescue
/// file first if one was left) without a new login.
fn login_intact(url: &str, sim: &Sim115Handle) -> bool {
    crate::cloudctl(url, Some(sim), &["token", "refresh", "--force", "u115"])
        .status
        .success()
}

struct Trial {
    phase: Phase,
    lost: bool,
    /// The dead process left a rescue file (the answer had arrived, the save had not).
    rescued: bool,
    exit: Option<i32>,
}

async fn trial(signal: &str, offset: Duration) -> anyhow::Result<Trial> {
    let db = TestDb::sqlite()?;
    let sim = sim().await;
    logged_in(&db.url, &sim).await?;
    sim.inject_fault(REFRESH, Fault::DelayAnswer(ANSWER_DELAY), 1);
    sim.set_request_delay(REQUEST_DELAY);
    let mut child = spawn(&db.url, &sim)?;
    tokio::time::sleep(offset).await;
    let sent_from = Instant::now();
    let delivered = child.try_wait()?.is_none() && send(signal, &child).is_ok();
    let sent_to = Instant::now();
    let status = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let phase = if delivered {
        phase(&sim, sent_from, sent_to)
    } else {
        Phase::After
    };
    sim.set_request_delay(Duration::ZERO);
    let folder = db
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("/user.db?mode=rwc");
    let rescued = std::fs::read_dir(folder)?.filter_map(Result::ok).any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with("drivekeep-rescue.")
    });
    let lost = !login_intact(&db.url, &sim);
    Ok(Trial {
        phase,
        lost,
        rescued,
        exit: status.status.code(),
    })
}

fn offsets() -> impl Iterator<Item = Duration> {
    // Stratified: one random point in each of TRIALS equal slices of the window.
    let slice = WINDOW_MS / TRIALS as u64;
    (0..TRIALS as u64).map(move |i| Duration::from_millis(i * slice + rand_below(slice)))
}

fn rand_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    nanos % n.max(1)
}

fn table(signal: &str, trials: &[Trial]) -> String {
    let mut text = format!("{signal}: {} trials\n", trials.len());
    for phase in [Phase::Before, Phase::During, Phase::After] {
        let of: Vec<&Trial> = trials.iter().filter(|t| t.phase == phase).collect();
        let lost = of.iter().filter(|t| t.lost).count();
        let rescued = of.iter().filter(|t| t.rescued).count();
        text.push_str(&format!(
            "  {phase:?}: {} trials, {lost} logins lost, {rescued} saved from a rescue file\n",
            of.len()
        ));
    }
    text
}

async fn graceful(signal: &str, code: i32) -> anyhow::Result<()> {
    let mut trials = Vec::new();
    for offset in offsets() {
        trials.push(trial(signal, offset).await?);
    }
    let summary = table(signal, &trials);
    eprintln!("{summary}");
    for t in &trials {
        assert!(!t.lost, "a login was lost\n{summary}");
        match t.exit {
            Some(c) if c == code || c == 0 => {}
            // Killed before the handlers were installed: nothing had been sent.
            None => assert_eq!(t.phase, Phase::Before, "{summary}"),
            other => panic!("unexpected exit {other:?}\n{summary}"),
        }
    }
    assert!(
        trials.iter().filter(|t| t.phase == Phase::During).count() >= 3,
        "too few signals landed during the request to prove anything\n{summary}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_at_any_point_of_a_refresh_loses_no_login() -> anyhow::Result<()> {
    graceful("INT", 130).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_any_point_of_a_refresh_loses_no_login() -> anyhow::Result<()> {
    graceful("TERM", 143).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_a_login_only_while_the_provider_holds_the_request() -> anyhow::Result<()> {
    let mut trials = Vec::new();
    for offset in offsets() {
        trials.push(trial("KILL", offset).await?);
    }
    let summary = table("SIGKILL", &trials);
    eprintln!("{summary}");
    for t in &trials {
        if t.phase != Phase::During {
            assert!(
                !t.lost,
                "a login was lost outside the provider's window\n{summary}"
            );
        }
    }
    // The window is real: the provider rotated, the answer never arrived.
    assert!(
        trials.iter().any(|t| t.phase == Phase::During && t.lost),
        "no kill landed in the provider's window\n{summary}"
    );
    Ok(())
}

/// The window after the answer, made wide on purpose: the database is locked when the
/// answer arrives, so the save waits; SIGKILL then lands after the answer and before the
/// save. The answer is in the rescue file, and the next process replays it: no login lost,
/// no second refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_the_answer_and_the_save_is_recovered_from_the_rescue_file()
-> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let sim = sim().await;
    logged_in(&db.url, &sim).await?;
    sim.inject_fault(REFRESH, Fault::DelayAnswer(ANSWER_DELAY), 1);
    let mut child = spawn(&db.url, &sim)?;
    // Once the provider has the request, take the database's write lock.
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.timings().iter().all(|t| t.path != REFRESH) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the refresh never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pool = system_config::sea_orm::sqlx::SqlitePool::connect(&db.url).await?;
    let mut holder = pool.acquire().await?;
    system_config::sea_orm::sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await?;
    // The answer leaves the provider; give the client a moment to write its rescue file.
    while sim
        .timings()
        .iter()
        .all(|t| t.path != REFRESH || t.answered.is_none())
    {
        anyhow::ensure!(Instant::now() < deadline, "the provider never answered");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    send("KILL", &child)?;
    let _ = tokio::task::spawn_blocking(move || child.wait()).await?;
    system_config::sea_orm::sqlx::query("ROLLBACK")
        .execute(&mut *holder)
        .await?;
    drop(holder);
    let folder = db
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("/user.db?mode=rwc");
    let rescued = std::fs::read_dir(folder)?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("drivekeep-rescue.")
        })
        .count();
    assert_eq!(rescued, 1, "the answer was on disk when the process died");
    // The next process saves it: the stored login is the provider's live one, and printing
    // a token needs no refresh.
    crate::ok(crate::cloudctl(
        &db.url,
        Some(&sim),
        &["token", "print", "u115"],
    ));
    assert_eq!(sim.path_count(REFRESH), 1, "replayed, not refreshed again");
    assert!(login_intact(&db.url, &sim));
    Ok(())
}
