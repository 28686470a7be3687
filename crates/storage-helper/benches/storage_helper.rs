//! A token-sized `patch` of one storage next to a `system-config` `set` of the same change
//! (the whole `Storages` list with that storage's tokens replaced), measured in one run on a
//! WAL SQLite file: `cargo bench -p storage-helper` (or `cargo xtask bench`).

use anyhow::Result;
use serde_json::json;
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::bench::{compare_async, report};

fn main() -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

/// What a 115 token refresh writes.
fn tokens(n: u32) -> serde_json::Value {
    json!({
        "access_token": format!("{n:0>64}"),
        "refresh_token": format!("{n:0>64}"),
        "expires_in": 7200,
        "refresh_time": 1_764_000_000 + u64::from(n),
    })
}

async fn run() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
    let store = SystemConfig::open(&url).await?; // seeds the five default storages
    let storages = StorageHelper::new(store.clone());
    storages
        .handle("alipan")
        .patch(json!({"default_drive_id": "1", "resource_drive_id": "2", "user_id": "u"}))
        .await?;
    storages.handle("u115").patch(tokens(0)).await?;

    let result = compare_async(
        "storage patch (token-sized) vs system-config set of the same list",
        Some(1.5),
        9,
        200,
        |n| {
            let u115 = storages.handle("u115");
            async move {
                u115.patch(tokens(n)).await.ok();
            }
        },
        |n| {
            let store = store.clone();
            async move {
                // The same change, prepared outside the store: replace u115's tokens.
                let mut list = store.get("Storages").ok().flatten().unwrap_or_default();
                if let Some(items) = list.as_array_mut()
                    && let Some(u115) = items.iter_mut().find(|e| e["type"] == "u115")
                {
                    u115["config"] = tokens(n);
                }
                store.set("Storages", list).await.ok();
            }
        },
    )
    .await;
    report("storage-helper", &[result]);
    Ok(())
}
