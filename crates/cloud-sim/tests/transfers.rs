//! Transfer plumbing shared by the providers: Range on download links, `Fault::CutBody`,
//! the transfer rate, and faults on part uploads.

use std::time::{Duration, Instant};

use cloud_sim::{ConfigAlipan, Fault};
use serde_json::{Value, json};

use crate::alipan_upload::{Up, data};
use crate::common::{get_range, send_json};

async fn link(up: &Up, path: &str, content: Vec<u8>) -> String {
    let entry = up.sim.add_file("alice", path, content).unwrap();
    let (st, r) = up
        .post(
            "/adrive/v1.0/openFile/getDownloadUrl",
            json!({"file_id": entry.id}),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    r["url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn download_links_answer_single_ranges() {
    let up = Up::start(ConfigAlipan::default()).await;
    let file = data(1000, 3);
    let url = link(&up, "/r.bin", file.clone()).await;
    let resp = up.c.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["accept-ranges"], "bytes");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), file.as_slice());

    for (range, status, content_range, body) in [
        ("bytes=100-199", 206, "bytes 100-199/1000", &file[100..200]),
        ("bytes=990-", 206, "bytes 990-999/1000", &file[990..]),
        ("bytes=1000-", 416, "bytes */1000", &[][..]),
    ] {
        let resp = get_range(&up.c, &url, range).await;
        assert_eq!(resp.status(), status, "{range}");
        assert_eq!(resp.headers()["content-range"], content_range, "{range}");
        if status == 206 {
            let len = body.len().to_string();
            assert_eq!(resp.headers()["content-length"], len.as_str(), "{range}");
            assert_eq!(resp.bytes().await.unwrap().as_ref(), body, "{range}");
        }
    }
    assert_eq!(up.sim.stats().download_bytes_sent, 1000 + 100 + 10);
}

#[tokio::test]
async fn cut_body_breaks_a_download_off() {
    let up = Up::start(ConfigAlipan::default()).await;
    let file = data(300_000, 5);
    let url = link(&up, "/cut.bin", file.clone()).await;
    up.sim
        .inject_fault("/__sim/dl", Fault::CutBody { after: 70_000 }, 1);
    let mut resp = up.c.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut got = Vec::new();
    let outcome = loop {
        match resp.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(outcome.is_err(), "a cut body must not end cleanly");
    assert!(got.len() <= 70_000, "{}", got.len());
    assert_eq!(got.as_slice(), &file[..got.len()]);
    // The rule is used up: the next download is whole.
    let body = up.c.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len(), file.len());
    assert_eq!(up.sim.stats().faults_injected, 1);
}

#[tokio::test]
async fn transfer_rate_paces_downloads_and_part_uploads() {
    let up = Up::start(ConfigAlipan::default()).await;
    let url = link(&up, "/big.bin", data(1024 * 1024, 1)).await;
    up.sim.set_transfer_rate(Some(4 * 1024 * 1024));
    let started = Instant::now();
    let body = up.c.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len(), 1024 * 1024);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );

    up.sim.set_transfer_rate(Some(1024 * 1024));
    let (_, task) = up
        .create(json!({"name": "slow.bin", "part_info_list": [{"part_number": 1}]}))
        .await;
    let started = Instant::now();
    let (st, _, _) = up
        .put(&task["part_info_list"][0]["upload_url"], &data(300_000, 2))
        .await;
    assert_eq!(st, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    up.sim.set_transfer_rate(None);
    let started = Instant::now();
    up.c.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn uploaded(up: &Up, task: &Value) -> usize {
    let (_, r) = up.uploaded_parts(task, "").await;
    r["uploaded_parts"].as_array().unwrap().len()
}

#[tokio::test]
async fn faults_on_part_uploads_leave_the_part_unstored() {
    let up = Up::start(ConfigAlipan::default()).await;
    let (_, task) = up
        .create(json!({"name": "f.bin", "part_info_list": [{"part_number": 1}]}))
        .await;
    let url = task["part_info_list"][0]["upload_url"].clone();
    let part = data(200_000, 4);

    up.sim.inject_fault("/__sim/up", Fault::Status(500), 1);
    let (st, _, _) = up.put(&url, &part).await;
    assert_eq!(st, 500);
    assert_eq!(uploaded(&up, &task).await, 0);

    up.sim
        .inject_fault("/__sim/up", Fault::CutBody { after: 50_000 }, 1);
    let sent =
        up.c.put(url.as_str().unwrap())
            .body(part.clone())
            .send()
            .await;
    assert!(sent.is_err(), "the connection is dropped: {sent:?}");
    assert_eq!(uploaded(&up, &task).await, 0);
    assert_eq!(up.sim.stats().upload_parts_rejected, 1);

    let (st, _, _) = up.put(&url, &part).await;
    assert_eq!(st, 200);
    assert_eq!(uploaded(&up, &task).await, 1);
    let (st, f) = up.complete(&task).await;
    assert_eq!((st, f["size"].as_u64()), (200, Some(200_000)));
    let s = up.sim.stats();
    assert_eq!(s.path("/__sim/up"), 3);
    assert_eq!(s.faults_injected, 2);
}

#[tokio::test]
async fn transfer_settings_and_cut_faults_over_http() {
    let up = Up::start(ConfigAlipan::default()).await;
    let base = up.sim.base_url().to_owned();
    let post = |path: &str, body: Value| send_json(up.c.post(format!("{base}{path}")).json(&body));
    let r = post(
        "/__sim/settings",
        json!({"transfer_rate": 1_000_000, "upload_url_lifetime_secs": 60,
            "list_parts_page_size": 3}),
    )
    .await;
    assert_eq!(r["transfer_rate"], 1_000_000);
    assert_eq!(r["upload_url_lifetime_secs"], 60);
    assert_eq!(r["list_parts_page_size"], 3);
    let r = post("/__sim/settings", json!({"transfer_rate": null})).await;
    assert_eq!(r["transfer_rate"], Value::Null);
    let r = post(
        "/__sim/faults",
        json!({"path": "/__sim/dl", "fault": "cut_body", "after": 10}),
    )
    .await;
    assert_eq!(r["pending"], 1);
    let url = link(&up, "/t.bin", data(1000, 0)).await;
    assert!(up.c.get(&url).send().await.unwrap().bytes().await.is_err());
    assert_eq!(up.sim.pending_faults(), 0);
}
