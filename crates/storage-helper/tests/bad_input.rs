//! Bad `Storages` values: typed errors, nothing written, nothing lost.

use serde_json::{Value, json};
use storage_helper::{Error, StorageConf, StorageHelper};
use system_config::SystemConfig;
use test_support::{Backend, backends};

use crate::raw_storages;

/// Runs every write and read of the helper and asserts each fails with `check`.
async fn every_operation_fails(
    storages: &StorageHelper,
    check: impl Fn(&Error) -> bool,
) -> anyhow::Result<()> {
    let u = storages.handle("u115");
    let results: Vec<(&str, Result<(), Error>)> = vec![
        ("list", storages.list().map(|_| ())),
        ("get", storages.get("u115").map(|_| ())),
        ("duplicates", storages.duplicates().map(|_| ())),
        (
            "set_config",
            storages
                .set_config("u115", Default::default())
                .await
                .map(|_| ()),
        ),
        (
            "patch",
            storages.patch("u115", &json!({"a": 1})).await.map(|_| ()),
        ),
        ("add", storages.add(StorageConf::new("smb", "SMB")).await),
        ("reset", storages.reset("u115").await.map(|_| ())),
        ("remove", storages.remove("u115").await.map(|_| ())),
        (
            "handle.update_config",
            u.update_config(|c| c.clear()).await.map(|_| ()),
        ),
        ("handle.get_conf", u.get_conf().map(|_| ())),
    ];
    for (name, result) in results {
        match result {
            Err(err) if check(&err) => {}
            other => anyhow::bail!("{name}: expected the typed error, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storages_that_is_not_a_list_is_refused_and_untouched() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let storages = StorageHelper::new(store.clone());
        for (bad, found) in [
            (json!({"u115": {"access_token": "x"}}), "an object"),
            (json!("[{\"type\": \"u115\"}"), "a string"),
            (json!(42), "a number"),
        ] {
            store.set("Storages", bad.clone()).await?;
            let before = raw_storages(&db.url).await?;
            every_operation_fails(
                &storages,
                |e| matches!(e, Error::NotAList { found: f } if *f == found),
            )
            .await?;
            assert_eq!(
                raw_storages(&db.url).await?,
                before,
                "{:?}: the raw value changed",
                db.backend
            );
            assert_eq!(store.get_fresh("Storages").await?, Some(bad));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_storages_row_is_refused_and_untouched() -> anyhow::Result<()> {
    for db in backends().await? {
        SystemConfig::open(&db.url).await?;
        let conn = sea_orm::Database::connect(db.url.as_str()).await?;
        use sea_orm::ConnectionTrait;
        if db.backend == Backend::Postgres {
            conn.execute_unprepared("ALTER TABLE systemconfig ALTER COLUMN value TYPE text")
                .await?;
        }
        conn.execute_unprepared(
            "UPDATE systemconfig SET value = '[{\"type\": \"u115\", ' WHERE \"key\" = 'Storages'",
        )
        .await?;
        let storages = StorageHelper::new(SystemConfig::open(&db.url).await?);
        every_operation_fails(&storages, |e| {
            matches!(e, Error::Config(system_config::Error::CorruptValue { key, .. }) if key == "Storages")
        })
        .await?;
        assert_eq!(
            raw_storages(&db.url).await?.as_deref(),
            Some("[{\"type\": \"u115\", ")
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_objects_kept_duplicates_resolved_to_first_and_reported() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let original = json!([
            "a stray string",
            {"type": "u115", "name": "first", "config": {"access_token": "one"}},
            42,
            {"type": "u115", "name": "second", "config": {"access_token": "two"}},
            null,
            {"type": "alipan", "name": "dup-a", "config": {}},
            {"type": "alipan", "name": "dup-b", "config": {}}
        ]);
        store.set("Storages", original.clone()).await?;
        let storages = StorageHelper::new(store.clone());

        assert_eq!(storages.duplicates()?, ["u115", "alipan"]);
        assert_eq!(
            storages.list()?.len(),
            4,
            "non-objects are skipped by reads"
        );
        assert_eq!(
            storages.get("u115")?.and_then(|s| s.name).as_deref(),
            Some("first")
        );

        storages
            .handle("u115")
            .patch(json!({"access_token": "one-b"}))
            .await?;
        let mut expected = original.clone();
        expected[1]["config"]["access_token"] = json!("one-b");
        assert_eq!(
            store.get_fresh("Storages").await?,
            Some(expected),
            "{:?}",
            db.backend
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_that_is_not_an_object_is_refused_and_untouched() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let original = json!([{"type": "u115", "name": "115", "config": "oops"}]);
        store.set("Storages", original.clone()).await?;
        let storages = StorageHelper::new(store.clone());
        let u = storages.handle("u115");
        for result in [
            u.patch(json!({"a": 1})).await.map(|_| ()),
            u.set_config(Default::default()).await.map(|_| ()),
            storages.reset("u115").await.map(|_| ()),
            u.get_conf().map(|_| ()),
        ] {
            assert!(
                matches!(&result, Err(Error::ConfigNotAnObject { kind, found: "a string" }) if kind == "u115"),
                "{result:?}"
            );
        }
        // A patch that is not an object is refused before anything is read.
        assert!(matches!(
            storages.patch("local", &Value::from(3)).await,
            Err(Error::ConfigNotAnObject { .. })
        ));
        assert_eq!(store.get_fresh("Storages").await?, Some(original));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_with_members_of_the_wrong_type_is_named_as_such() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let original = json!([{"type": "u115", "name": 5, "config": {}}]);
        store.set("Storages", original.clone()).await?;
        let storages = StorageHelper::new(store.clone());
        let err = storages.get("u115").unwrap_err();
        assert!(
            matches!(&err, Error::MalformedEntry { kind, .. } if kind == "u115"),
            "{err}"
        );
        assert_eq!(
            store.get_fresh("Storages").await?,
            Some(original),
            "{:?}",
            db.backend
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looking_at_a_missing_storage_writes_nothing() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let storages = StorageHelper::new(store.clone());
        for original in [
            Some(json!(["u115", "alipan"])),
            None,
            Some(json!([{"type": "local", "name": "本地", "config": {}}])),
        ] {
            match &original {
                Some(value) => store.set("Storages", value.clone()).await.map(|_| ())?,
                None => store.delete("Storages").await.map(|_| ())?,
            }
            // A read-modify-write that leaves the (missing) entry alone appends nothing and
            // writes nothing, not even `[]` for a missing key.
            let (seen, changed) = storages
                .handle("u115")
                .try_update_entry(|entry| Ok::<_, Error>(entry.raw().get("config").cloned()))
                .await?;
            assert_eq!(seen, Some(json!({})), "{:?}", db.backend);
            assert!(!changed, "{:?}", db.backend);
            assert_eq!(
                store.get_fresh("Storages").await?,
                original,
                "{:?}",
                db.backend
            );
            // One that puts something in it appends the storage.
            let (_, changed) = storages
                .try_update_entry("u115", |entry| {
                    entry.set_member("refresh_lease", &json!({"owner": "me"}))
                })
                .await?;
            assert!(changed, "{:?}", db.backend);
            let u115 = storages.get("u115")?.expect("appended");
            assert_eq!(u115.extra["refresh_lease"], json!({"owner": "me"}));
        }
    }
    Ok(())
}
