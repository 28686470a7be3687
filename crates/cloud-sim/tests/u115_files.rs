//! 115 resources over the in-memory tree: paging, folder operations, download links.

use std::collections::HashSet;

use cloud_sim::SimFile;

use crate::common::*;

#[tokio::test]
async fn paging_a_folder_of_5000_entries() {
    let sim = sim115().await;
    let c = client();
    let (access, _) = login115(&sim, &c, "alice").await;
    let folder = sim.add_folder("alice", "/media/big").unwrap();
    let ids = sim
        .add_files("alice", "/media/big", 5000, "ep", 100)
        .unwrap();
    assert_eq!(ids.len(), 5000);

    let mut seen = HashSet::new();
    let mut pages = 0;
    let mut offset = 0;
    loop {
        let path = format!(
            "/open/ufile/files?cid={}&limit=1000&offset={offset}&show_dir=1&cur=1",
            folder.id
        );
        let r = get115(&sim, &c, &path, &access).await;
        assert_eq!(r["code"], 0, "{r}");
        assert_eq!(r["count"], 5000);
        let items = r["data"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        pages += 1;
        for it in items {
            assert_eq!(it["pid"], folder.id.as_str());
            assert_eq!(it["fc"], "1");
            assert_eq!(it["fs"], 100);
            assert_eq!(it["ico"], "mkv");
            assert_eq!(it["sha1"].as_str().unwrap().len(), 40);
            assert!(seen.insert(it["fid"].as_str().unwrap().to_owned()));
        }
        offset += items.len();
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 5000);
    assert_eq!(seen, ids.into_iter().collect::<HashSet<_>>());

    // A limit above 1000 is capped.
    let path = format!(
        "/open/ufile/files?cid={}&limit=5000&offset=0&show_dir=1",
        folder.id
    );
    let r = get115(&sim, &c, &path, &access).await;
    assert_eq!(r["data"].as_array().unwrap().len(), 1000);
    // An unknown folder.
    let r = get115(&sim, &c, "/open/ufile/files?cid=42&limit=10", &access).await;
    assert_ne!(r["code"], 0);
}

#[tokio::test]
async fn folder_operations() {
    let sim = sim115().await;
    let c = client();
    let (t, _) = login115(&sim, &c, "alice").await;
    let t = t.as_str();
    sim.add_file("alice", "/movies/a.mkv", SimFile::bytes(b"hello".to_vec()))
        .unwrap();

    // Root listing shows the folder with fc "0".
    let r = get115(&sim, &c, "/open/ufile/files?cid=0&show_dir=1&limit=100", t).await;
    assert_eq!(r["data"][0]["fn"], "movies");
    assert_eq!(r["data"][0]["fc"], "0");

    // get_info by path and by id.
    let info = post115(
        &sim,
        &c,
        "/open/folder/get_info",
        t,
        &[("path", "/movies/a.mkv")],
    )
    .await;
    assert_eq!(info["code"], 0, "{info}");
    assert_eq!(info["data"]["file_name"], "a.mkv");
    assert_eq!(info["data"]["file_category"], "1");
    assert_eq!(info["data"]["size_byte"], 5);
    let fid = info["data"]["file_id"].as_str().unwrap().to_owned();
    let by_id = post115(&sim, &c, "/open/folder/get_info", t, &[("file_id", &fid)]).await;
    assert_eq!(by_id["data"]["pick_code"], info["data"]["pick_code"]);
    // A missing path answers with empty data.
    let missing = post115(&sim, &c, "/open/folder/get_info", t, &[("path", "/nope")]).await;
    assert_ne!(missing["code"], 0);
    assert_eq!(missing["data"], serde_json::json!([]));
    // No parameters at all.
    let bad = post115(&sim, &c, "/open/folder/get_info", t, &[]).await;
    assert_eq!(bad["code"], 40140100);

    // folder/add, and 20004 when it exists.
    let add = post115(
        &sim,
        &c,
        "/open/folder/add",
        t,
        &[("pid", "0"), ("file_name", "tv")],
    )
    .await;
    assert_eq!(add["code"], 0, "{add}");
    let tv = add["data"]["file_id"].as_str().unwrap().to_owned();
    let dup = post115(
        &sim,
        &c,
        "/open/folder/add",
        t,
        &[("pid", "0"), ("file_name", "tv")],
    )
    .await;
    assert_eq!(dup["code"], 20004);

    // rename, move, copy, delete.
    let r = post115(
        &sim,
        &c,
        "/open/ufile/update",
        t,
        &[("file_id", &fid), ("file_name", "b.mkv")],
    )
    .await;
    assert_eq!(r["code"], 0);
    assert!(sim.stat("alice", "/movies/b.mkv").is_some());
    let r = post115(
        &sim,
        &c,
        "/open/ufile/move",
        t,
        &[("file_ids", &fid), ("to_cid", &tv)],
    )
    .await;
    assert_eq!(r["code"], 0, "{r}");
    assert!(sim.stat("alice", "/tv/b.mkv").is_some());
    assert!(sim.stat("alice", "/movies/b.mkv").is_none());
    let r = post115(
        &sim,
        &c,
        "/open/ufile/copy",
        t,
        &[("file_id", &fid), ("pid", "0")],
    )
    .await;
    assert_eq!(r["code"], 0);
    let copy = sim.stat("alice", "/b.mkv").unwrap();
    assert_ne!(copy.id, fid);
    assert_eq!(copy.size, 5);
    let r = post115(
        &sim,
        &c,
        "/open/ufile/delete",
        t,
        &[("file_ids", &format!("{fid},{}", copy.id))],
    )
    .await;
    assert_eq!(r["code"], 0);
    assert_eq!(sim.list("alice", "/tv").unwrap(), Vec::<String>::new());
    assert!(sim.stat("alice", "/b.mkv").is_none());
    // Deleting again: not found.
    let r = post115(&sim, &c, "/open/ufile/delete", t, &[("file_ids", &fid)]).await;
    assert_ne!(r["code"], 0);
    // Moving a folder into itself is refused.
    let r = post115(
        &sim,
        &c,
        "/open/ufile/move",
        t,
        &[("file_ids", &tv), ("to_cid", &tv)],
    )
    .await;
    assert_ne!(r["code"], 0);
}

#[tokio::test]
async fn download_url_is_bound_to_the_user_agent() {
    let sim = sim115().await;
    let c = client();
    let (t, _) = login115(&sim, &c, "alice").await;
    let file = sim
        .add_file("alice", "/a.mkv", SimFile::bytes(b"movie-bytes".to_vec()))
        .unwrap();
    let resp = c
        .post(format!("{}/open/ufile/downurl", sim.base_url()))
        .bearer_auth(&t)
        .header("User-Agent", "AgentA/1.0")
        .form(&[("pick_code", file.pick_code.as_str())])
        .send()
        .await
        .unwrap();
    let r = json(resp).await;
    assert_eq!(r["code"], 0, "{r}");
    let url = r["data"][&file.id]["url"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(sim.base_url()));
    assert_eq!(r["data"][&file.id]["file_size"], 11);

    let same = c
        .get(&url)
        .header("User-Agent", "AgentA/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    assert_eq!(same.bytes().await.unwrap().as_ref(), b"movie-bytes");
    let other = c
        .get(&url)
        .header("User-Agent", "AgentB/2.0")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    assert_eq!(sim.path_count("/__sim/dl"), 2);

    // The link expires on the simulated clock.
    sim.clock().advance(std::time::Duration::from_secs(7201));
    let late = c
        .get(&url)
        .header("User-Agent", "AgentA/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 403);

    // A sized file streams zeros.
    let (t2, _) = (sim.login("alice").access_token, ());
    let big = sim.add_file("alice", "/big.mkv", 200_000u64).unwrap();
    let r = post115(
        &sim,
        &c,
        "/open/ufile/downurl",
        &t2,
        &[("pick_code", &big.pick_code)],
    )
    .await;
    let url = r["data"][&big.id]["url"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len(), 200_000);
    assert!(body.iter().all(|b| *b == 0));
}

#[tokio::test]
async fn upload_init_instant_upload_for_known_content() {
    let sim = sim115().await;
    let c = client();
    let (t, _) = login115(&sim, &c, "alice").await;
    let known = sim
        .add_file("alice", "/src.mkv", SimFile::bytes(b"known".to_vec()))
        .unwrap();
    let dst = sim.add_folder("alice", "/dst").unwrap();
    let target = format!("U_1_{}", dst.id);
    let r = post115(
        &sim,
        &c,
        "/open/upload/init",
        &t,
        &[
            ("file_name", "copy.mkv"),
            ("file_size", "5"),
            ("target", &target),
            ("fileid", &known.sha1),
            ("preid", &known.sha1),
        ],
    )
    .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"]["status"], 2);
    assert_eq!(sim.stat("alice", "/dst/copy.mkv").unwrap().sha1, known.sha1);
    let r = post115(
        &sim,
        &c,
        "/open/upload/init",
        &t,
        &[
            ("file_name", "new.mkv"),
            ("file_size", "9"),
            ("target", &target),
            ("fileid", &"A".repeat(40)),
            ("preid", ""),
        ],
    )
    .await;
    assert_eq!(r["data"]["status"], 1);
    assert!(sim.stat("alice", "/dst/new.mkv").is_none());
}
