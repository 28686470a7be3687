//! `config get` shows no secret unless asked to, like `storage show`.

use serde_json::{Value, json};
use system_config::SystemConfig;

use crate::{cloudctl, ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_get_redacts_secrets_unless_asked() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let url = db.url.as_str();
    let storages = json!([
        {"type": "u115", "name": "115网盘", "config": {
            "access_token": "SECRET-AT", "refresh_token": "SECRET-RT", "expires_in": 7200,
            "client_id": "app-1"}},
        {"type": "alipan", "name": "阿里云盘", "config": {
            "nested": {"client_secret": "SECRET-CS"}, "default_drive_id": "d-1"},
         "cookie": "SECRET-CK"},
        {"type": "alist", "name": "Alist", "config": {
            "url": "https://admin:SECRET-URL@alist.local/", "password": "SECRET-PW"}},
        "a string entry",
        {"type": "u115-2", "config": "oops"},
    ]);
    let notifications = json!([{"name": "tg", "type": "telegram", "enabled": true,
        "config": {"TELEGRAM_TOKEN": "SECRET-TG", "TELEGRAM_CHAT_ID": "42"}}]);
    {
        let store = SystemConfig::open(url).await?;
        store.set("Storages", storages.clone()).await?;
        store.set("Notifications", notifications.clone()).await?;
        store.set("ApiToken", json!("SECRET-KEY")).await?;
        store.set("UserCustomCSS", json!("body{}")).await?;
    }
    let secrets = [
        "SECRET-AT",
        "SECRET-RT",
        "SECRET-CS",
        "SECRET-CK",
        "SECRET-URL",
        "SECRET-PW",
        "SECRET-TG",
        "SECRET-KEY",
    ];

    for json_flag in [false, true] {
        let get = |key: &str, show: bool| {
            let mut args = vec![];
            if json_flag {
                args.push("--json");
            }
            args.extend(["config", "get", key]);
            if show {
                args.push("--show-secrets");
            }
            ok(cloudctl(url, None, &args))
        };
        let shown = get("Storages", false);
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        let shown: Value = serde_json::from_str(&shown)?;
        assert_eq!(shown[0]["config"]["access_token"], "[redacted]");
        assert_eq!(shown[0]["config"]["refresh_token"], "[redacted]");
        // What is not a secret is shown as stored, odd entries included.
        assert_eq!(shown[0]["config"]["expires_in"], 7200);
        assert_eq!(shown[0]["config"]["client_id"], "app-1");
        assert_eq!(shown[1]["config"]["nested"]["client_secret"], "[redacted]");
        assert_eq!(shown[1]["cookie"], "[redacted]");
        assert_eq!(shown[2]["config"]["url"], "https://admin:***@alist.local/");
        assert_eq!(shown[3], "a string entry");
        assert_eq!(shown[4]["config"], "oops");

        let shown = get("Notifications", false);
        assert!(
            !shown.contains("SECRET-TG") && shown.contains("42"),
            "{shown}"
        );
        assert_eq!(get("ApiToken", false).trim(), "\"[redacted]\"");
        assert_eq!(get("UserCustomCSS", false).trim(), "\"body{}\"");

        // --show-secrets shows the stored values exactly.
        let all: Value = serde_json::from_str(&get("Storages", true))?;
        assert_eq!(all, storages);
        let all: Value = serde_json::from_str(&get("Notifications", true))?;
        assert_eq!(all, notifications);
        assert_eq!(get("ApiToken", true).trim(), "\"SECRET-KEY\"");
    }
    Ok(())
}
