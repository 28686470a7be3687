//! OpenList bytes in and out over HTTP: `raw_url` and the signed `/d` and `/p` routes,
//! `PUT /api/fs/put`, direct links.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::client;
use crate::openlist_common::*;

#[tokio::test]
async fn get_gives_raw_url_and_the_download_routes_check_the_sign() {
    let sim = sim_openlist().await;
    let c = client();
    let base = sim.base_url().to_owned();
    let t = token(&sim, &c, "admin", ADMIN_PW).await;
    sim.add_file("admin", "/media/Movie (2024).mkv", b"0123456789".to_vec())
        .unwrap();
    sim.add_file("admin", "/media/Movie (2024).srt", b"subs".to_vec())
        .unwrap();
    // MoviePilot's get body: page, per_page and refresh are not fields of the request.
    let body = json!({"path": "/media/Movie (2024).mkv", "password": "", "page": 1, "per_page": 0, "refresh": true});
    let r = post(&sim, &c, "/api/fs/get", &t, body).await;
    let d = &r["data"];
    assert_eq!(
        (d["size"].clone(), d["type"].clone()),
        (json!(10), json!(2))
    );
    assert_eq!(d["provider"], "Local");
    assert_eq!(d["related"][0]["name"], "Movie (2024).srt");
    let sign = sim.sign("/media/Movie (2024).mkv");
    assert_eq!(d["sign"], sign.as_str());
    let raw_url = d["raw_url"].as_str().unwrap();
    assert_eq!(
        raw_url,
        format!("{base}/p/media/Movie%20%282024%29.mkv?sign={sign}")
    );
    assert_eq!(sim.stats().ignored_fields["/api/fs/get refresh"], 1);
    let resp = c.get(raw_url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"0123456789");

    let dir = post(&sim, &c, "/api/fs/get", &t, json!({"path": "/media"})).await;
    assert_eq!(
        (
            dir["data"]["is_dir"].clone(),
            dir["data"]["raw_url"].clone()
        ),
        (json!(true), json!(""))
    );
    assert_eq!(
        dir["data"]["type"], 0,
        "get types a folder by its extension"
    );
    let r = post(
        &sim,
        &c,
        "/api/fs/get",
        &t,
        json!({"path": "/media/none.mkv"}),
    )
    .await;
    assert_eq!(
        r,
        json!({"code": 500, "message": "object not found", "data": null})
    );

    // /d with the sign; Authorization is ignored; Range and HEAD work.
    let d_url = format!("{base}/d/media/Movie%20(2024).mkv");
    let resp = c
        .get(format!("{d_url}?sign={sign}"))
        .header("Authorization", "garbage")
        .header("Range", "bytes=2-4")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 2-4/10");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"234");
    let head = c.head(format!("{d_url}?sign={sign}")).send().await.unwrap();
    assert_eq!(head.headers()["content-length"], "10");

    for (query, message) in [
        ("", "expire missing"),
        ("?sign=abc:xyz", "expire invalid"),
        ("?sign=AAAA:0", "sign invalid"),
    ] {
        let (status, ct, text) = raw(c.get(format!("{d_url}{query}")).send().await.unwrap()).await;
        assert_eq!((status, ct.as_str()), (401, "text/html; charset=utf-8"));
        assert!(
            text.contains("<h1>401 Unauthorized</h1>") && text.contains(message),
            "{text}"
        );
    }

    // Expiring signs, on the simulated clock.
    sim.set_link_expiration(Duration::from_secs(3600));
    let expiring = sim.sign("/media/Movie (2024).mkv");
    assert!(!expiring.ends_with(":0"));
    assert_eq!(
        c.get(format!("{d_url}?sign={expiring}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    sim.clock().advance(Duration::from_secs(7200));
    let (status, _, text) = raw(c
        .get(format!("{d_url}?sign={expiring}"))
        .send()
        .await
        .unwrap())
    .await;
    assert!(status == 401 && text.contains("sign expired"), "{text}");
    sim.set_sign_all(false);
    assert_eq!(c.get(&d_url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn put_uploads_and_users_are_confined_to_their_base_path() {
    let sim = sim_openlist().await;
    let c = client();
    let t = token(&sim, &c, "admin", ADMIN_PW).await;
    let put = |path: &str, body: &'static [u8], extra: &[(&'static str, &'static str)]| {
        let mut req = c
            .put(format!("{}/api/fs/put", sim.base_url()))
            .header("Authorization", t.as_str())
            .header("File-Path", path)
            .body(body);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let r = put(
        "/home/bob/%E7%94%B5%E5%BD%B1/a+b.mkv",
        b"hello",
        &[("Last-Modified", "1715924875417")],
    )
    .await;
    assert_eq!(r, json!({"code": 200, "message": "success", "data": null}));
    let l = list(&sim, &c, &t, "/home/bob/电影", 1, 0).await;
    assert_eq!(
        l["data"]["content"][0]["name"], "a+b.mkv",
        "PathUnescape keeps +"
    );
    assert_eq!(
        l["data"]["content"][0]["modified"],
        "2024-05-17T13:47:55.417+08:00"
    );
    let r = put(
        "/home/bob/%E7%94%B5%E5%BD%B1/a+b.mkv",
        b"x",
        &[("Overwrite", "false")],
    )
    .await;
    assert_eq!(
        r,
        json!({"code": 403, "message": "file exists", "data": null})
    );
    assert_eq!(
        put("/home/bob/%E7%94%B5%E5%BD%B1/a+b.mkv", b"longer!", &[]).await["code"],
        200
    );
    assert_eq!(sim.stat("admin", "/home/bob/电影/a+b.mkv").unwrap().size, 7);
    assert_eq!(put("/x%zz", b"x", &[]).await["code"], 400);
    let r = put("/t.mkv", b"x", &[("As-Task", "true")]).await;
    assert_eq!(r["data"]["task"]["state"], 2, "{r}");

    sim.add_user("bob", "pw");
    sim.set_base_path("bob", "/home/bob").unwrap();
    let bob = token(&sim, &c, "bob", "pw").await;
    assert_eq!(names(&list(&sim, &c, &bob, "/", 1, 0).await), ["电影"]);
    let r = list(&sim, &c, &bob, "/../", 1, 0).await;
    assert_eq!(r["message"], "using relative path is not allowed");
    sim.set_permission("bob", 0).unwrap();
    let r = post(&sim, &c, "/api/fs/mkdir", &bob, json!({"path": "/new"})).await;
    assert_eq!(
        r,
        json!({"code": 403, "message": "permission denied", "data": null})
    );
    let r = post(
        &sim,
        &c,
        "/api/fs/remove",
        &bob,
        json!({"dir": "/", "names": ["电影"]}),
    )
    .await;
    assert_eq!(r["message"], "permission denied");
}

#[tokio::test]
async fn direct_links_redirect_and_count_a_leaked_token() {
    let sim = sim_openlist().await;
    let c = client();
    let t = token(&sim, &c, "admin", ADMIN_PW).await;
    sim.add_file("admin", "/m/a.mkv", b"abc".to_vec()).unwrap();
    sim.set_direct_links(true);
    let r = post(&sim, &c, "/api/fs/get", &t, json!({"path": "/m/a.mkv"})).await;
    let raw_url = r["data"]["raw_url"].as_str().unwrap().to_owned();
    assert!(raw_url.contains("/__sim/dl/"), "{raw_url}");
    // MoviePilot sends its Authorization header to raw_url as well.
    let resp = c
        .get(&raw_url)
        .header("Authorization", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"abc");
    assert_eq!(sim.stats().download_authorization_leaks, 1);

    crate::common::install_crypto_provider();
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let d = format!("{}/d/m/a.mkv?sign={}", sim.base_url(), sim.sign("/m/a.mkv"));
    let resp = no_redirect.get(&d).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/__sim/dl/")
    );
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    let p = d.replace("/d/", "/p/");
    let (status, _, text) = raw(c.get(&p).send().await.unwrap()).await;
    assert!(
        status == 403 && text.contains("proxy not allowed"),
        "{text}"
    );
}
