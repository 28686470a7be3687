//! The helper's and the handle's operations, and MoviePilot-shaped round trips.

use serde_json::{Map, Value, json};
use storage_helper::{Error, StorageConf, StorageHelper};
use system_config::SystemConfig;
use test_support::backends;

use crate::helper;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_get_set_add_reset_remove() -> anyhow::Result<()> {
    for db in backends().await? {
        let storages = helper(&db.url).await?;
        let kinds: Vec<_> = storages
            .list()?
            .into_iter()
            .filter_map(|s| s.kind)
            .collect();
        assert_eq!(
            kinds,
            ["local", "alipan", "u115", "rclone", "alist"],
            "{:?}",
            db.backend
        );
        assert_eq!(
            storages.get("u115")?.and_then(|s| s.name).as_deref(),
            Some("115网盘")
        );
        assert_eq!(storages.get("onedrive")?, None);

        // set replaces the config and says whether it changed.
        assert!(
            storages
                .set_config("u115", obj(json!({"access_token": "a"})))
                .await?
        );
        assert!(
            !storages
                .set_config("u115", obj(json!({"access_token": "a"})))
                .await?
        );
        assert!(
            storages
                .set_config("u115", obj(json!({"refresh_token": "r"})))
                .await?
        );
        assert_eq!(
            storages.get("u115")?.map(|s| s.config),
            Some(obj(json!({"refresh_token": "r"})))
        );

        // set on a missing type appends it instead of silently doing nothing.
        assert!(
            storages
                .set_config("smb", obj(json!({"host": "nas"})))
                .await?
        );
        let smb = storages.get("smb")?.expect("appended");
        assert_eq!(
            (smb.name.as_deref(), smb.config["host"].as_str()),
            (Some("smb"), Some("nas"))
        );

        let err = storages
            .add(StorageConf::new("smb", "again"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::AlreadyExists { kind } if kind == "smb"),
            "{err}"
        );
        storages
            .add(StorageConf::new("onedrive", "OneDrive"))
            .await?;
        assert_eq!(
            storages
                .list()?
                .last()
                .and_then(|s| s.kind.clone())
                .as_deref(),
            Some("onedrive")
        );

        assert!(storages.reset("u115").await?);
        assert!(!storages.reset("u115").await?);
        assert_eq!(storages.get("u115")?.map(|s| s.config), Some(Map::new()));
        assert!(matches!(
            storages.reset("nope").await,
            Err(Error::NotFound { .. })
        ));

        assert!(storages.remove("onedrive").await?);
        assert!(!storages.remove("onedrive").await?);
        assert_eq!(storages.get("onedrive")?, None);

        // Everything above was committed: a second store sees it.
        let other = StorageHelper::new(SystemConfig::open(&db.url).await?);
        assert_eq!(other.list()?, storages.list()?);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_merges_and_handle_keeps_tokens() -> anyhow::Result<()> {
    for db in backends().await? {
        let storages = helper(&db.url).await?;
        let alipan = storages.handle("alipan");
        alipan
            .set_config(obj(
                json!({"default_drive_id": "d1", "resource_drive_id": "r1", "access_token": "old"}),
            ))
            .await?;
        // A token refresh merges: the drive ids stay.
        assert!(
            alipan
                .patch(json!({"access_token": "new", "refresh_time": 1}))
                .await?
        );
        assert!(!alipan.patch(json!({"access_token": "new"})).await?);
        let conf = alipan.get_conf()?;
        assert_eq!(conf["default_drive_id"], "d1");
        assert_eq!(conf["resource_drive_id"], "r1");
        assert_eq!(conf["access_token"], "new");
        // null removes a member.
        alipan.patch(json!({"refresh_time": null})).await?;
        assert!(!alipan.get_conf()?.contains_key("refresh_time"));

        let (old, changed) = alipan
            .update_config(|conf| conf.insert("expires_in".into(), json!(7200)))
            .await?;
        assert_eq!((old, changed), (None, true));

        // get_conf_fresh reads what another store committed; the cached get_conf lags.
        let other = helper(&db.url).await?.handle("alipan");
        other
            .patch(json!({"access_token": "rotated-elsewhere"}))
            .await?;
        assert_eq!(alipan.get_conf()?["access_token"], "new");
        assert_eq!(
            alipan.get_conf_fresh().await?["access_token"],
            "rotated-elsewhere"
        );
        assert_eq!(alipan.get_conf()?["access_token"], "rotated-elsewhere");

        // Handles of storages that do not exist yet read as {} and create the storage on write.
        let u = storages.handle("u115_second");
        assert!(u.get_conf()?.is_empty());
        u.patch(json!({"a": 1})).await?;
        assert_eq!(
            storages.get("u115_second")?.map(|s| s.config),
            Some(obj(json!({"a": 1})))
        );
    }
    Ok(())
}

/// A `Storages` value as found in a real MoviePilot database, with members this project
/// does not know, null names, and a missing config.
fn moviepilot_storages() -> Value {
    json!([
        {"type": "local", "name": "本地", "config": {}},
        {"type": "alipan", "name": "阿里云盘", "config": {
            "token_type": "Bearer", "access_token": "at", "refresh_token": "rt", "expires_in": 7200,
            "refresh_time": 1_764_000_000, "user_id": "u", "name": "me", "avatar": "https://a/b.png",
            "default_drive_id": "1", "resource_drive_id": "2", "backup_drive_id": "3",
            "future_field": {"nested": [1, 2, {"deep": true}]}
        }, "ui_order": 3, "enabled": true},
        {"type": "u115", "name": null, "config": {"access_token": "x", "refresh_token": "y", "expires_in": 7200, "refresh_time": 1}},
        {"type": "rclone", "name": "RClone"},
        {"type": null, "name": "orphan", "config": {"k": "v"}},
        {"type": "alist", "name": "AList", "config": {"url": "http://alist:5244", "token": "t"}}
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moviepilot_value_round_trips_with_unknown_fields() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let original = moviepilot_storages();
        store.set("Storages", original.clone()).await?;
        let storages = StorageHelper::new(store.clone());

        // Reads see every entry, nulls included.
        let list = storages.list()?;
        assert_eq!(list.len(), 6);
        assert_eq!(list[2].name, None);
        assert_eq!(list[4].kind, None);
        assert_eq!(list[1].extra["ui_order"], 3);
        assert!(list[3].config.is_empty());

        // A write to one storage leaves every other byte of meaning alone.
        storages
            .handle("u115")
            .patch(json!({"access_token": "x2"}))
            .await?;
        let reopened = SystemConfig::open(&db.url).await?;
        let mut expected = original.clone();
        expected[2]["config"]["access_token"] = json!("x2");
        assert_eq!(
            reopened.get("Storages")?,
            Some(expected),
            "{:?}",
            db.backend
        );

        // StorageConf serialises to exactly MoviePilot's shape.
        let alipan = storages.get("alipan")?.expect("present");
        assert_eq!(serde_json::to_value(&alipan)?, original[1]);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_updates_reach_members_beside_the_config() -> anyhow::Result<()> {
    for db in backends().await? {
        let storages = helper(&db.url).await?;
        let u = storages.handle("u115");
        u.patch(json!({"access_token": "a"})).await?;
        let (previous, changed) = u
            .try_update_entry(|entry| {
                let previous = entry.raw().get("refresh_lease").cloned();
                entry.set_member("refresh_lease", &json!({"owner": "me"}))?;
                entry
                    .config_mut()?
                    .insert("refresh_token".into(), json!("r"));
                Ok::<_, Error>(previous)
            })
            .await?;
        assert_eq!((previous, changed), (None, true));
        let fresh = helper(&db.url)
            .await?
            .handle("u115")
            .get_fresh()
            .await?
            .expect("present");
        assert_eq!(fresh.extra["refresh_lease"], json!({"owner": "me"}));
        assert_eq!(fresh.config["access_token"], "a");
        assert_eq!(fresh.config["refresh_token"], "r");
        // A failing closure writes nothing.
        let failed: Result<((), bool), Error> = u
            .try_update_entry(|_| Err(Error::NotFound { kind: "x".into() }))
            .await;
        assert!(failed.is_err());
        assert_eq!(u.get_fresh().await?.expect("present"), fresh);
    }
    Ok(())
}
