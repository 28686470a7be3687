//! `cloudctl demo`: the whole system on the configured database (by default the embedded
//! SQLite file) and a 115 simulator on loopback. Nothing leaves this machine.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use cloud_clients::CloudStorage;
use cloud_sim::{Config115, Sim115};
use futures::TryStreamExt;
use serde_json::json;

use crate::cli::DemoArgs;
use crate::commands::migrate_up;
use crate::context::Context;
use crate::login::qr_login;
use crate::output::{json, line, note};

/// The demo's own storage entry, so a real `u115` login in the same database is never touched.
const STORAGE: &str = "u115-demo";
const APP_ID: &str = "drivekeep-demo-app";

fn step(n: u32, text: &str) {
    note(format!("\n[{n}/6] {text}"));
}

pub async fn run(ctx: &Context, args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    step(1, "migrating the configuration database");
    let report = migrate_up(ctx).await?;
    note(format!(
        "      {}: {report}",
        system_config::redact_url(&ctx.database_url)
    ));

    step(2, "starting a 115 simulator on loopback");
    let sim = Sim115::start(Config115 {
        client_id: Some(APP_ID.into()),
        poll_timeout: Duration::from_secs(5),
        ..Config115::default()
    })
    .await?;
    note(format!("      {}", sim.base_url()));
    let account = sim.create_account("demo").name;
    sim.add_folder(&account, "/Movies")?;
    for (name, size) in [
        ("Dune (2021).mkv", 4_096u64),
        ("Arrival (2016).mkv", 2_048),
        ("Heat (1995).mp4", 1_024),
    ] {
        sim.add_file(
            &account,
            &format!("/Movies/{name}"),
            vec![0u8; usize::try_from(size).unwrap_or(0)],
        )?;
    }
    let ctx = ctx.with_endpoint("u115", sim.base_url());

    step(
        3,
        "logging in by QR code (a simulated phone scans and confirms)",
    );
    let storages = ctx.storages().await?;
    storages
        .patch(STORAGE, &json!({"client_id": APP_ID}))
        .await?;
    let drive = ctx.client(&storages, STORAGE)?;
    let login_started = Instant::now();
    qr_login_as(&sim, &account, drive.as_ref()).await?;
    let login_time = login_started.elapsed();

    step(4, "listing u115-demo:/Movies");
    let folder = drive
        .stat("/Movies")
        .await?
        .ok_or_else(|| anyhow::anyhow!("/Movies is missing"))?;
    let items: Vec<_> = drive.list(&folder).try_collect().await?;
    for item in &items {
        note(format!(
            "      {:>6} B  {}",
            item.size.unwrap_or(0),
            item.name
        ));
    }

    step(
        5,
        &format!("the token expires; {} requests arrive at once", args.tasks),
    );
    // Two hours pass: at the provider, and in the stored login.
    sim.clock().advance(Duration::from_secs(7_201));
    storages
        .handle(STORAGE)
        .update_config(|config| {
            if let Some(at) = config
                .get("refresh_time")
                .and_then(serde_json::Value::as_i64)
            {
                config.insert("refresh_time".into(), json!(at - 7_201));
            }
        })
        .await?;
    let refreshes_before = sim.account_stats(&account).refresh_calls;
    let expired = ctx.client(&ctx.storages().await?, STORAGE)?;
    let expired: std::sync::Arc<dyn CloudStorage> = std::sync::Arc::from(expired);
    let burst = Instant::now();
    let tasks: Vec<_> = (0..args.tasks)
        .map(|_| {
            let drive = expired.clone();
            tokio::spawn(async move { drive.accessor().access_token().await })
        })
        .collect();
    let mut tokens = Vec::with_capacity(tasks.len());
    for task in tasks {
        tokens.push(task.await??);
    }
    let burst_time = burst.elapsed();
    let refreshes = sim.account_stats(&account).refresh_calls - refreshes_before;
    let same = tokens.windows(2).all(|w| w[0] == w[1]);
    ensure!(
        refreshes == 1 && same,
        "expected one refresh shared by every request"
    );
    note(format!(
        "      {} requests, {refreshes} refresh, all got the same new token in {burst_time:.1?}",
        args.tasks
    ));

    step(
        6,
        "reopening the client from the database, as after a restart",
    );
    let reopened = ctx.client(&ctx.storages().await?, STORAGE)?;
    let token = reopened.accessor().access_token().await?;
    let usage = reopened.usage().await?;
    let survived =
        token == tokens[0] && sim.account_stats(&account).refresh_calls - refreshes_before == 1;
    ensure!(
        survived,
        "the reopened client should use the saved token without refreshing"
    );
    note("      the saved login is used as is: no refresh, the provider accepts it");

    let stats = sim.account_stats(&account);
    let summary = json!({
        "database": system_config::redact_url(&ctx.database_url),
        "storage": STORAGE,
        "qr_login_seconds": login_time.as_secs_f64(),
        "listed_items": items.len(),
        "concurrent_requests": args.tasks,
        "refresh_requests": refreshes,
        "rejected_reuses": stats.rejected_reuses,
        "burst_milliseconds": burst_time.as_secs_f64() * 1000.0,
        "login_survived_reopen": survived,
        "space_used_bytes": usage.used,
        "total_seconds": started.elapsed().as_secs_f64(),
    });
    sim.shutdown().await;
    if ctx.json {
        return json(&summary);
    }
    line("\nDemo report");
    line(format!(
        "  database               {}",
        summary["database"].as_str().unwrap_or_default()
    ));
    line(format!(
        "  QR login               confirmed in {:.1} s, tokens saved before use",
        login_time.as_secs_f64()
    ));
    line(format!(
        "  listing                {} items in /Movies",
        items.len()
    ));
    line(format!(
        "  expiry                 {} concurrent requests, {refreshes} refresh request, {} rejected reuses",
        args.tasks, stats.rejected_reuses
    ));
    line("  restart                login survived (same token, no refresh)");
    line(format!(
        "  total                  {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    line(format!(
        "  (the demo keeps its login under the storage `{STORAGE}`; `cloudctl storage remove {STORAGE}` removes it)"
    ));
    Ok(())
}

/// The simulator confirms QR logins as its default account; the demo confirms as `account`
/// by itself while the login is being polled, exactly as a phone would.
async fn qr_login_as(
    sim: &cloud_sim::Sim115Handle,
    account: &str,
    drive: &dyn CloudStorage,
) -> Result<()> {
    let phone = async {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(qr) = sim.latest_qr() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                sim.scan(&qr.id).ok();
                tokio::time::sleep(Duration::from_millis(500)).await;
                sim.confirm_as(&qr.id, account).ok();
                return;
            }
        }
    };
    let (result, ()) = tokio::join!(
        qr_login(drive, Duration::from_secs(60), crate::login::Show::Terminal),
        phone
    );
    result
}
