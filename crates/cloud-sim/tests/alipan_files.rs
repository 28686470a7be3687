//! alipan resources: paging with markers, file operations, download URLs, drive checks.

use std::collections::HashSet;

use cloud_sim::{DriveKind, SimFile};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn paging_a_folder_of_1000_entries() {
    let sim = sim_alipan().await;
    let c = client();
    let t = login_alipan_secret(&sim, &c, "alice").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let drive = sim.drive_id("alice", DriveKind::Default).unwrap();
    let folder = sim.add_folder("alice", "/big").unwrap();
    let ids = sim.add_files("alice", "/big", 1000, "ep", 7).unwrap();

    let mut seen = HashSet::new();
    let mut marker = String::new();
    let mut pages = 0;
    loop {
        let mut body = json!({"drive_id": drive, "parent_file_id": folder.id, "limit": 100});
        if !marker.is_empty() {
            body["marker"] = json!(marker);
        }
        let (st, r) = alipan_post(&sim, &c, "/adrive/v1.0/openFile/list", &t, body).await;
        assert_eq!(st, 200, "{r}");
        pages += 1;
        for it in r["items"].as_array().unwrap() {
            assert_eq!(it["type"], "file");
            assert_eq!(it["size"], 7);
            assert_eq!(it["file_extension"], "mkv");
            assert_eq!(it["parent_file_id"], folder.id.as_str());
            assert_eq!(it["drive_id"], drive.as_str());
            assert!(it["updated_at"].as_str().unwrap().ends_with('Z'));
            assert!(seen.insert(it["file_id"].as_str().unwrap().to_owned()));
        }
        marker = r["next_marker"].as_str().unwrap().to_owned();
        if marker.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 10);
    assert_eq!(seen, ids.into_iter().collect::<HashSet<_>>());

    let (st, r) = alipan_post(
        &sim,
        &c,
        "/adrive/v1.0/openFile/list",
        &t,
        json!({"drive_id": drive, "parent_file_id": "root", "limit": 101}),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(r["code"], "InvalidParameter.Limit");
    // Unknown drive.
    let (st, r) = alipan_post(
        &sim,
        &c,
        "/adrive/v1.0/openFile/list",
        &t,
        json!({"drive_id": "999999", "parent_file_id": "root"}),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(r["code"], "ForbiddenDriveNotValid");
    // Missing drive id.
    let (st, r) = alipan_post(
        &sim,
        &c,
        "/adrive/v1.0/openFile/list",
        &t,
        json!({"parent_file_id": "root"}),
    )
    .await;
    assert_eq!(st, 400);
    assert!(r["code"].as_str().unwrap().starts_with("InvalidParameter"));
}

#[tokio::test]
async fn file_operations_and_download() {
    let sim = sim_alipan().await;
    let c = client();
    let t = login_alipan_secret(&sim, &c, "alice").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = t.as_str();
    let drive = sim.drive_id("alice", DriveKind::Default).unwrap();
    let d = drive.as_str();
    let post = |path: &'static str, body: serde_json::Value| {
        let (sim, c) = (&sim, &c);
        async move { alipan_post(sim, c, path, t, body).await }
    };

    // Create with each check_name_mode.
    let create = |name: &'static str, mode: &'static str| {
        post(
            "/adrive/v1.0/openFile/create",
            json!({"drive_id": d, "parent_file_id": "root", "name": name, "type": "folder", "check_name_mode": mode}),
        )
    };
    let (st, a) = create("movies", "refuse").await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["exist"], false);
    let (_, again) = create("movies", "refuse").await;
    assert_eq!(again["exist"], true);
    assert_eq!(again["file_id"], a["file_id"]);
    let (_, renamed) = create("movies", "auto_rename").await;
    assert_eq!(renamed["file_name"], "movies(1)");
    let (_, dup) = create("movies", "ignore").await;
    assert_ne!(dup["file_id"], a["file_id"]);
    assert_eq!(
        sim.list("alice", "/").unwrap(),
        ["movies", "movies(1)", "movies"]
    );

    // get_by_path, update, move, copy, trash.
    sim.add_file(
        "alice",
        "/movies/x.mkv",
        SimFile::bytes(b"0123456789".to_vec()),
    )
    .unwrap();
    let (st, x) = post(
        "/adrive/v1.0/openFile/get_by_path",
        json!({"drive_id": d, "file_path": "/movies/x.mkv"}),
    )
    .await;
    assert_eq!(st, 200, "{x}");
    assert_eq!(x["size"], 10);
    assert_eq!(x["category"], "video");
    let fid = x["file_id"].as_str().unwrap().to_owned();
    let (st, r) = post(
        "/adrive/v1.0/openFile/get_by_path",
        json!({"drive_id": d, "file_path": "/nope"}),
    )
    .await;
    assert_eq!((st, r["code"].as_str().unwrap()), (404, "NotFound.File"));
    let (st, r) = post(
        "/adrive/v1.0/openFile/update",
        json!({"drive_id": d, "file_id": fid, "name": "y.mkv"}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(r["name"], "y.mkv");
    let (st, r) = post(
        "/adrive/v1.0/openFile/move",
        json!({"drive_id": d, "file_id": fid, "to_parent_file_id": renamed["file_id"]}),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert!(sim.stat("alice", "/movies(1)/y.mkv").is_some());
    let (st, r) = post(
        "/adrive/v1.0/openFile/copy",
        json!({"drive_id": d, "file_id": fid, "to_parent_file_id": "root"}),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_ne!(r["file_id"], fid.as_str());
    assert_eq!(sim.stat("alice", "/y.mkv").unwrap().size, 10);

    // Download URL served by the simulator.
    let (st, dl) = post(
        "/adrive/v1.0/openFile/getDownloadUrl",
        json!({"drive_id": d, "file_id": fid}),
    )
    .await;
    assert_eq!(st, 200, "{dl}");
    assert!(dl["expiration"].as_str().unwrap().ends_with('Z'));
    let body = c
        .get(dl["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"0123456789");

    let (st, _) = post(
        "/adrive/v1.0/openFile/recyclebin/trash",
        json!({"drive_id": d, "file_id": fid}),
    )
    .await;
    assert_eq!(st, 200);
    assert!(sim.stat("alice", "/movies(1)/y.mkv").is_none());
    let (st, r) = post(
        "/adrive/v1.0/openFile/getDownloadUrl",
        json!({"drive_id": d, "file_id": fid}),
    )
    .await;
    assert_eq!((st, r["code"].as_str().unwrap()), (404, "NotFound.File"));

    // Space info counts the remaining copy.
    let (_, space) = post("/adrive/v1.0/user/getSpaceInfo", json!({})).await;
    assert_eq!(space["personal_space_info"]["used_size"], 10);
    // The resource drive is separate and usable.
    let res = sim.drive_id("alice", DriveKind::Resource).unwrap();
    sim.add_file_in_drive("alice", DriveKind::Resource, "/r.mkv", 3u64)
        .unwrap();
    let (st, r) = post(
        "/adrive/v1.0/openFile/list",
        json!({"drive_id": res, "parent_file_id": "root"}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
    // Another account's drive is refused.
    let bob = sim.create_account("bob");
    let (st, r) = post(
        "/adrive/v1.0/openFile/list",
        json!({"drive_id": bob.default_drive_id, "parent_file_id": "root"}),
    )
    .await;
    assert_eq!(
        (st, r["code"].as_str().unwrap()),
        (403, "ForbiddenDriveNotValid")
    );
    // Malformed JSON.
    let resp = c
        .post(format!("{}/adrive/v1.0/openFile/list", sim.base_url()))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body("{\"drive_id\":")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["code"], "InvalidParameter");
    // Unknown path in provider shape.
    let resp = c
        .post(format!("{}/adrive/v1.0/nothing", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(json(resp).await["code"], "NotFound");
}
