//! Read commands never write, whatever the database holds; odd `Storages` values give a
//! typed error naming the problem, not a success and not "not logged in".

use serde_json::{Value, json};
use system_config::SystemConfig;

use crate::{cloudctl, fingerprint, sim, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_commands_never_write_and_name_odd_storages() -> anyhow::Result<()> {
    let sim = sim().await;
    let dir = tempfile::tempdir()?;
    let dest = dir.path().display().to_string();
    // (what `Storages` holds — `None`: the key is missing, what the u115 commands must say)
    let cases: [(&str, Option<Value>, &[&str]); 5] = [
        (
            "a list of strings",
            Some(json!(["u115", "alipan"])),
            &["no storage `u115`"],
        ),
        ("missing", None, &["no storage `u115`"]),
        (
            "a list without u115",
            Some(json!([{"type": "local", "name": "本地", "config": {}},
                        {"type": "alipan", "name": "阿里云盘", "config": {}}])),
            &["no storage `u115`"],
        ),
        (
            "a u115 config that is a string",
            Some(json!([{"type": "u115", "name": "115网盘", "config": "oops"}])),
            &["storage `u115`", "not an object"],
        ),
        (
            "an object",
            Some(json!({"u115": {"access_token": "x"}})),
            &["`Storages`", "not a list"],
        ),
    ];
    // Commands that need the u115 storage: each must fail and say why — exit 7 (not found)
    // when there is no such storage, 2 (configuration error) when `Storages` is malformed.
    let u115_commands: Vec<Vec<&str>> = vec![
        vec!["token", "print", "u115"],
        vec!["token", "status", "u115"],
        vec!["ls", "u115:/"],
        vec!["stat", "u115:/Movies"],
        vec!["url", "u115:/Movies/Dune.mkv"],
        vec!["usage", "u115"],
        vec!["download", "u115:/Movies/Dune.mkv", &dest],
        vec!["storage", "show", "u115"],
    ];
    // Commands that read everything: whatever they answer, they write nothing.
    let other_commands: Vec<Vec<&str>> = vec![
        vec!["config", "get", "Storages"],
        vec!["config", "list"],
        vec!["storage", "list"],
        vec!["--json", "storage", "list"],
        vec!["token", "status"],
    ];

    for (label, storages, says) in cases {
        let db = test_support::TestDb::sqlite()?;
        let url = db.url.as_str();
        {
            let store = SystemConfig::open(url).await?;
            match &storages {
                Some(value) => {
                    store.set("Storages", value.clone()).await?;
                }
                None => {
                    store.delete("Storages").await?;
                }
            }
            store.set("Directories", json!([])).await?;
        }
        let before = fingerprint(url).await?;
        assert_eq!(
            before.0.get("Storages"),
            storages.as_ref(),
            "{label}: set up"
        );

        for args in &u115_commands {
            let out = cloudctl(url, Some(&sim), args);
            let err = stderr(&out);
            let expected = if says[0].starts_with("no storage") {
                7
            } else {
                2
            };
            assert_eq!(
                out.status.code(),
                Some(expected),
                "{label}: {args:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{label}: {args:?}: one line: {err}");
            // `token status` lists only well-formed entries (its display of broken ones is
            // not this test's business); every other command names the problem.
            if args[..2] != ["token", "status"] || !label.contains("config") {
                for words in says {
                    assert!(err.contains(words), "{label}: {args:?}: {err}");
                }
            }
            assert!(!err.contains("not logged in"), "{label}: {args:?}: {err}");
            assert_eq!(
                fingerprint(url).await?,
                before,
                "{label}: {args:?} wrote to the database"
            );
        }
        for args in &other_commands {
            let out = cloudctl(url, Some(&sim), args);
            assert_ne!(
                out.status.code(),
                None,
                "{label}: {args:?}: {}",
                stderr(&out)
            );
            assert_eq!(
                fingerprint(url).await?,
                before,
                "{label}: {args:?} wrote to the database"
            );
        }
    }
    // Not a single request reached the provider.
    assert_eq!(sim.stats().total_requests, 0);
    Ok(())
}
