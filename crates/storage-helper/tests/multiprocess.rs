//! Several OS processes patching different fields of the same storages.

use serde_json::{Value, json};
use test_support::{Children, backends, child_index, child_role, worker_done};

use crate::helper;

const WORKER: &str = "multiprocess::patch_worker";
const PROCESSES: usize = 8;
const ROUNDS: u64 = 100;
const KINDS: [&str; 4] = ["u115", "alipan", "alist", "smb"];

/// Runs only inside a child process started by the test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_worker() -> anyhow::Result<()> {
    if child_role().as_deref() != Some(WORKER) {
        return Ok(());
    }
    let storages = helper(&std::env::var("SH_TEST_URL")?).await?;
    let me = child_index();
    for round in 1..=ROUNDS {
        for kind in KINDS {
            storages
                .handle(kind)
                .patch(json!({ format!("field_{me}"): round }))
                .await?;
        }
    }
    worker_done();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_patching_their_own_fields_lose_nothing() -> anyhow::Result<()> {
    if child_role().is_some() {
        return Ok(());
    }
    for db in backends().await? {
        // Created and seeded before the children start; `smb` does not exist yet, so the
        // children also race to append it.
        let storages = helper(&db.url).await?;
        Children::spawn(WORKER, PROCESSES, &[("SH_TEST_URL", &db.url)])?.wait()?;
        storages.store().refresh().await?;
        for kind in KINDS {
            let conf = storages.handle(kind).get_conf()?;
            for me in 0..PROCESSES {
                assert_eq!(
                    conf.get(&format!("field_{me}")),
                    Some(&Value::from(ROUNDS)),
                    "{:?} {kind} field_{me}",
                    db.backend
                );
            }
        }
        assert_eq!(storages.duplicates()?, Vec::<String>::new());
    }
    Ok(())
}
