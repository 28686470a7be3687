//! Change events name the storage that changed, after commit.

use std::time::Duration;

use serde_json::json;
use test_support::backends;

use crate::helper;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_learn_which_storage_changed() -> anyhow::Result<()> {
    for db in backends().await? {
        let storages = helper(&db.url).await?;
        let mut all = storages.subscribe();
        let mut only_alipan = storages.handle("alipan").subscribe();

        storages
            .handle("u115")
            .patch(json!({"access_token": "a"}))
            .await?;
        storages
            .handle("u115")
            .patch(json!({"access_token": "a"}))
            .await?; // unchanged
        storages
            .handle("alipan")
            .patch(json!({"default_drive_id": "d"}))
            .await?;
        storages.remove("rclone").await?;

        let wait = Duration::from_secs(5);
        let first = tokio::time::timeout(wait, all.recv()).await?.expect("open");
        assert_eq!(first.kind, "u115");
        assert_eq!(
            first.conf.map(|c| c.config["access_token"].clone()),
            Some(json!("a"))
        );
        let second = tokio::time::timeout(wait, all.recv()).await?.expect("open");
        assert_eq!(second.kind, "alipan");
        let third = tokio::time::timeout(wait, all.recv()).await?.expect("open");
        assert_eq!((third.kind.as_str(), third.conf), ("rclone", None));

        let mine = tokio::time::timeout(wait, only_alipan.recv())
            .await?
            .expect("open");
        assert_eq!(mine.kind, "alipan");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), only_alipan.recv())
                .await
                .is_err(),
            "a filtered subscriber hears only its own storage"
        );
    }
    Ok(())
}
