//! OpenList `/api/fs/*` endpoints (list, dirs, mkdir, rename, move, copy, remove), the
//! AList v3 differences, and the web-page fallback, over HTTP.

use cloud_sim::{ConfigOpenList, Flavor, SimFile};
use serde_json::{Value, json};

use crate::common::{client, send_json};
use crate::openlist_common::*;

fn is_rfc3339_nano_7(s: &str) -> bool {
    // 2024-05-17T13:47:55.4174917+08:00
    let b = s.as_bytes();
    s.len() == 33
        && b[10] == b'T'
        && b[19] == b'.'
        && b[20..27].iter().all(u8::is_ascii_digit)
        && s.ends_with("+08:00")
}

#[tokio::test]
async fn list_pages_with_total_and_null_for_an_empty_page() {
    let sim = sim_openlist().await;
    let c = client();
    let t = token(&sim, &c, "admin", ADMIN_PW).await;
    sim.add_files("admin", "/media", 25, "ep-", 10).unwrap();
    sim.add_folder("admin", "/media/Season 1").unwrap();

    let first = list(&sim, &c, &t, "/media/", 1, 10).await;
    assert_eq!(first["code"], 200);
    assert_eq!(first["data"]["total"], 26);
    assert_eq!(first["data"]["provider"], "unknown");
    assert_eq!(first["data"]["write"], true);
    let items = first["data"]["content"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    let (folder, file) = (&items[0], &items[1]);
    assert_eq!(folder["name"], "Season 1", "sorted by name");
    assert_eq!(
        (folder["is_dir"].clone(), folder["type"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(folder["sign"], "");
    assert_eq!(file["name"], "ep-00001.mkv");
    assert_eq!(
        (file["size"].clone(), file["type"].clone()),
        (json!(10), json!(2))
    );
    assert!(file["sign"].as_str().unwrap().ends_with("=:0"), "{file}");
    assert_eq!(file["hashinfo"], "null");
    assert_eq!(file["hash_info"], Value::Null);
    assert!(
        is_rfc3339_nano_7(file["modified"].as_str().unwrap()),
        "{file}"
    );

    let third = list(&sim, &c, &t, "/media", 3, 10).await;
    assert_eq!(names(&third).len(), 6);
    assert_eq!(names(&third)[5], "ep-00025.mkv");
    let past = list(&sim, &c, &t, "/media", 4, 10).await;
    assert_eq!(past["data"]["content"], Value::Null);
    assert_eq!(past["data"]["total"], 26);
    assert_eq!(
        names(&list(&sim, &c, &t, "/media", 1, 0).await).len(),
        26,
        "per_page < 1 is all"
    );
    assert_eq!(
        names(&list(&sim, &c, &t, "/media", 0, 5).await)[0],
        "Season 1",
        "page < 1 is 1"
    );

    // Strict JSON types, Go's decoder message.
    let r = post(
        &sim,
        &c,
        "/api/fs/list",
        &t,
        json!({"path": "/media", "page": "1"}),
    )
    .await;
    assert_eq!(r["code"], 400);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .starts_with("json: cannot unmarshal string")
    );
    let r = list(&sim, &c, &t, "/nowhere", 1, 0).await;
    assert_eq!(
        r,
        json!({"code": 500, "message": "failed get objs: failed get dir: object not found", "data": null})
    );
    let r = list(&sim, &c, &t, "/media/ep-00001.mkv", 1, 0).await;
    assert_eq!(r["message"], "failed get objs: not a folder");

    // A read-only user may not ask for a refresh.
    sim.add_user("viewer", "pw");
    sim.set_permission("viewer", 0).unwrap();
    let v = token(&sim, &c, "viewer", "pw").await;
    let body = json!({"path": "/media", "refresh": true});
    let r = post(&sim, &c, "/api/fs/list", &v, body).await;
    assert_eq!(
        r,
        json!({"code": 403, "message": "Refresh without permission", "data": null})
    );
}

#[tokio::test]
async fn alist_flavor_answers_download_errors_as_json_and_copy_with_tasks() {
    let sim = sim_openlist_with(ConfigOpenList {
        flavor: Flavor::Al338,
        ..ConfigOpenList::default()
    })
    .await;
    let c = client();
    sim.add_file("admin", "/a/x.mkv", b"x".to_vec()).unwrap();
    sim.add_folder("admin", "/b").unwrap();
    let resp = c
        .get(format!("{}/d/a/x.mkv?sign=AAAA:0", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r: Value = resp.json().await.unwrap();
    assert_eq!(
        r,
        json!({"code": 401, "message": "sign invalid", "data": null})
    );
    let t = sim.permanent_token();
    let body = json!({"src_dir": "/a", "dst_dir": "/b", "names": ["x.mkv"]});
    let r = post(&sim, &c, "/api/fs/copy", &t, body.clone()).await;
    assert_eq!(r["data"], json!({"tasks": []}));
    // No "exists" check in v3: the copy replaces.
    assert_eq!(post(&sim, &c, "/api/fs/copy", &t, body).await["code"], 200);
    let body = json!({"src_dir": "/b", "dst_dir": "/", "names": ["x.mkv"]});
    assert_eq!(
        post(&sim, &c, "/api/fs/move", &t, body).await["data"],
        Value::Null
    );
    assert_eq!(
        list(&sim, &c, &t, "/a", 1, 0).await["data"]["provider"],
        "Local"
    );
}

#[tokio::test]
async fn mkdir_rename_move_copy_remove_follow_openlist() {
    let sim = sim_openlist().await;
    let c = client();
    let t = token(&sim, &c, "admin", ADMIN_PW).await;
    let call = |path: &'static str, body: Value| {
        let (sim, c, t) = (&sim, &c, t.clone());
        async move { post(sim, c, path, &t, body).await }
    };
    let r = call("/api/fs/mkdir", json!({"path": "/a/b/c"})).await;
    assert_eq!(r, json!({"code": 200, "message": "success", "data": null}));
    assert_eq!(
        call("/api/fs/mkdir", json!({"path": "/a/b/c"})).await["code"],
        200,
        "mkdir -p"
    );
    sim.add_file("admin", "/a/f.txt", SimFile::bytes(b"f".to_vec()))
        .unwrap();
    let r = call("/api/fs/mkdir", json!({"path": "/a/f.txt"})).await;
    assert_eq!(
        (r["code"].clone(), r["message"].clone()),
        (json!(500), json!("file exists"))
    );
    let r = call("/api/fs/mkdir", json!({"path": "/a/f.txt/x"})).await;
    assert_eq!(
        r["message"],
        "failed to make parent dir [/a/f.txt/]: file exists"
    );
    let r = call("/api/fs/mkdir", json!({"path": "/a/../b"})).await;
    assert_eq!(
        r,
        json!({"code": 403, "message": "using relative path is not allowed", "data": null})
    );

    // rename
    assert_eq!(
        call(
            "/api/fs/rename",
            json!({"path": "/a/f.txt", "name": "g.txt"})
        )
        .await["code"],
        200
    );
    assert!(sim.stat("admin", "/a/g.txt").is_some() && sim.stat("admin", "/a/f.txt").is_none());
    let r = call("/api/fs/rename", json!({"path": "/a/g.txt", "name": "b"})).await;
    assert_eq!(
        r,
        json!({"code": 403, "message": "file [b] exists", "data": null})
    );
    let r = call("/api/fs/rename", json!({"path": "/a/g.txt", "name": "x/y"})).await;
    assert_eq!(r["message"], "using relative path is not allowed");
    let r = call("/api/fs/rename", json!({"path": "/a/none", "name": "z"})).await;
    assert_eq!(r["message"], "failed to get src object: object not found");

    // copy: collisions refused unless overwrite / skip_existing
    let copy = json!({"src_dir": "/a", "dst_dir": "/a/b", "names": ["g.txt"]});
    let r = call("/api/fs/copy", copy.clone()).await;
    assert_eq!(
        r["data"],
        json!({"message": "Copy operations completed immediately"})
    );
    let r = call("/api/fs/copy", copy).await;
    assert_eq!(
        r,
        json!({"code": 403, "message": "file [g.txt] exists", "data": null})
    );
    let skip =
        json!({"src_dir": "/a", "dst_dir": "/a/b", "names": ["g.txt"], "skip_existing": true});
    assert_eq!(call("/api/fs/copy", skip).await["code"], 200);
    let over = json!({"src_dir": "/a", "dst_dir": "/a/b", "names": ["g.txt"], "overwrite": true});
    assert_eq!(call("/api/fs/copy", over).await["code"], 200);
    assert_eq!(sim.list("admin", "/a/b").unwrap(), ["c", "g.txt"]);
    let r = call(
        "/api/fs/copy",
        json!({"src_dir": "/a", "dst_dir": "/a", "names": ["g.txt"], "overwrite": true}),
    )
    .await;
    assert_eq!(
        (r["code"].clone(), r["message"].clone()),
        (json!(500), json!("copy in place"))
    );
    let r = call(
        "/api/fs/copy",
        json!({"src_dir": "/a", "dst_dir": "/", "names": []}),
    )
    .await;
    assert_eq!(
        r,
        json!({"code": 400, "message": "Empty file names", "data": null})
    );

    // move: names escaping src_dir are dropped silently
    let r = call(
        "/api/fs/move",
        json!({"src_dir": "/a/b", "dst_dir": "/", "names": ["c", "../g.txt"]}),
    )
    .await;
    assert_eq!(
        r["data"]["message"],
        "Move operations completed immediately"
    );
    assert!(sim.stat("admin", "/c").is_some_and(|e| e.is_dir));
    assert!(
        sim.stat("admin", "/a/g.txt").is_some(),
        "the escaping name was not moved"
    );

    // remove: missing names are fine
    let r = call(
        "/api/fs/remove",
        json!({"dir": "/a", "names": ["g.txt", "missing"]}),
    )
    .await;
    assert_eq!(r["code"], 200);
    assert!(sim.stat("admin", "/a/g.txt").is_none());
    assert_eq!(
        call("/api/fs/remove", json!({"dir": "/a", "names": []})).await["code"],
        400
    );
    let dirs = post(&sim, &c, "/api/fs/dirs", &t, json!({"path": "/"})).await;
    assert_eq!(dirs["data"].as_array().unwrap().len(), 2, "{dirs}");
}

#[tokio::test]
async fn unknown_routes_get_the_web_page_and_pings_pong() {
    let sim = sim_openlist().await;
    let c = client();
    let base = sim.base_url();
    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/api/fs/unknown"),
        ("GET", "/api/fs/mkdir"),
    ] {
        let req = c.request(method.parse().unwrap(), format!("{base}{path}"));
        let (status, ct, text) = raw(req.send().await.unwrap()).await;
        assert_eq!((status, ct.as_str()), (200, "text/html"), "{method} {path}");
        assert!(text.contains("<div id=\"root\"></div>"));
    }
    for (method, path) in [("DELETE", "/nope"), ("PUT", "/api/fs/mkdir")] {
        let req = c.request(method.parse().unwrap(), format!("{base}{path}"));
        let (status, _, text) = raw(req.send().await.unwrap()).await;
        assert_eq!((status, text.as_str()), (405, ""), "{method} {path}");
    }
    assert_eq!(
        c.get(format!("{base}/ping"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "pong"
    );
    let settings = send_json(c.get(format!("{base}/api/public/settings"))).await;
    assert_eq!(settings["data"]["version"], "v4.2.5");
}
