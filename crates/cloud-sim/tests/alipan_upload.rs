//! alipan uploads: create (pre-hash, proof, name modes), part PUTs, URL renewal, resume
//! listing, complete.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cloud_sim::{ConfigAlipan, DriveKind, SimAlipan, SimAlipanHandle};
use md5::Md5;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

pub struct Up {
    pub sim: SimAlipanHandle,
    pub c: reqwest::Client,
    pub token: String,
    pub drive: String,
}

impl Up {
    pub async fn start(config: ConfigAlipan) -> Up {
        let sim = SimAlipan::start(config).await.unwrap();
        let token = sim.login("alice").access_token;
        let drive = sim.drive_id("alice", DriveKind::Default).unwrap();
        Up {
            sim,
            c: client(),
            token,
            drive,
        }
    }

    pub async fn post(&self, path: &str, mut body: Value) -> (u16, Value) {
        body["drive_id"] = json!(self.drive);
        alipan_post(&self.sim, &self.c, path, &self.token, body).await
    }

    pub async fn create(&self, body: Value) -> (u16, Value) {
        let mut body = body;
        body["parent_file_id"] = json!("root");
        body["type"] = json!("file");
        self.post("/adrive/v1.0/openFile/create", body).await
    }

    /// PUTs `data` to the upload URL `url` with the extra `headers`.
    pub async fn put_with(
        &self,
        url: &Value,
        data: &[u8],
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.c.put(url.as_str().unwrap()).body(data.to_vec());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await.unwrap()
    }

    pub async fn put(&self, url: &Value, data: &[u8]) -> (u16, String, Option<String>) {
        let resp = self.put_with(url, data, &[]).await;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, resp.text().await.unwrap(), etag)
    }

    /// POSTs `body` with the `file_id` and `upload_id` of `task` added.
    pub async fn on_task(&self, path: &str, task: &Value, mut body: Value) -> (u16, Value) {
        body["file_id"] = task["file_id"].clone();
        body["upload_id"] = task["upload_id"].clone();
        self.post(path, body).await
    }

    pub async fn complete(&self, task: &Value) -> (u16, Value) {
        self.on_task("/adrive/v1.0/openFile/complete", task, json!({}))
            .await
    }

    /// `getUploadUrl` for part `n` of `task`.
    pub async fn upload_url(&self, task: &Value, n: u32) -> (u16, Value) {
        let body = json!({"part_info_list": [{"part_number": n}]});
        self.on_task("/adrive/v1.0/openFile/getUploadUrl", task, body)
            .await
    }

    /// `listUploadedParts` of `task`, from `part_number_marker` `marker` ("" for none).
    pub async fn uploaded_parts(&self, task: &Value, marker: &str) -> (u16, Value) {
        let mut body = json!({});
        if !marker.is_empty() {
            body["part_number_marker"] = json!(marker);
        }
        self.on_task("/adrive/v1.0/openFile/listUploadedParts", task, body)
            .await
    }
}

pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sha1_hex(b: &[u8]) -> String {
    hex::encode(Sha1::digest(b))
}

fn parts(n: u32) -> Value {
    json!(
        (1..=n)
            .map(|i| json!({"part_number": i}))
            .collect::<Vec<_>>()
    )
}

#[tokio::test]
async fn parts_uploaded_out_of_order_complete_into_the_file() {
    let up = Up::start(ConfigAlipan::default()).await;
    let file = data(200 * 1024 + 150 * 1024 + 1000, 7);
    let (p1, rest) = file.split_at(200 * 1024);
    let (p2, p3) = rest.split_at(150 * 1024);
    let (st, task) = up
        .create(
            json!({"name": "movie.mkv", "check_name_mode": "refuse", "size": file.len(),
            "pre_hash": sha1_hex(&file[..1024]), "part_info_list": [
                {"part_number": 1, "part_size": 204800}, {"part_number": 2}, {"part_number": 3}]}),
        )
        .await;
    assert_eq!(st, 200, "{task}");
    assert_eq!(task["rapid_upload"], false);
    assert_eq!(task["exist"], false);
    assert_eq!(task["available"], true);
    assert_eq!(task["file_name"], "movie.mkv");
    assert_eq!(task["parent_file_id"], "root");
    let urls = task["part_info_list"].as_array().unwrap().clone();
    assert_eq!(urls.len(), 3);
    assert_eq!(urls[0]["part_size"], 204800);
    assert!(urls[1].get("part_size").is_none());
    let url1 = urls[0]["upload_url"].as_str().unwrap();
    assert!(url1.contains("/__sim/up/") && url1.contains("partNumber=1&uploadId="));
    assert!(
        up.sim.list("alice", "/").unwrap().is_empty(),
        "hidden until complete"
    );

    for (i, part) in [(2, p3), (0, p1), (1, p2)] {
        let (st, body, etag) = up.put(&urls[i]["upload_url"], part).await;
        assert_eq!(st, 200, "{body}");
        let md5 = hex::encode_upper(Md5::digest(part));
        assert_eq!(etag.unwrap(), format!("\"{md5}\""));
    }
    let (st, body, _) = up.put(&urls[0]["upload_url"], p1).await;
    assert_eq!(st, 409);
    assert!(body.contains("PartAlreadyExist"), "{body}");

    let (st, f) = up.complete(&task).await;
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["name"], "movie.mkv");
    assert_eq!(f["type"], "file");
    assert_eq!(f["size"], file.len());
    assert_eq!(f["file_id"], task["file_id"]);
    assert_eq!(f["file_extension"], "mkv");
    assert_eq!(f["content_hash"], sha1_hex(&file).to_uppercase());
    assert_eq!(f["content_hash_name"], "sha1");
    assert!(f["created_at"].as_str().unwrap().ends_with('Z'));
    // Idempotent.
    let (st, again) = up.complete(&task).await;
    assert_eq!((st, &again["file_id"]), (200, &f["file_id"]));
    assert_eq!(up.sim.list("alice", "/").unwrap(), ["movie.mkv"]);
    let s = up.sim.stats();
    assert_eq!(s.upload_parts_received, 3);
    assert_eq!(s.upload_bytes_received, file.len() as u64);
    assert_eq!(s.upload_parts_rejected, 1);
    assert_eq!(s.upload_sessions, 1);
    assert_eq!(s.path("/__sim/up"), 4);
    // The completed upload's URLs are dead.
    let (st, body, _) = up.put(&urls[0]["upload_url"], p1).await;
    assert_eq!(st, 404, "{body}");
}

#[tokio::test]
async fn part_puts_are_checked_like_oss() {
    let up = Up::start(ConfigAlipan::default()).await;
    let (_, task) = up
        .create(json!({"name": "a.bin", "part_info_list": parts(2)}))
        .await;
    let url1 = task["part_info_list"][0]["upload_url"].clone();
    let url2 = task["part_info_list"][1]["upload_url"].clone();
    // A Content-Type header breaks the signature.
    let octets = [("content-type", "application/octet-stream")];
    let resp = up.put_with(&url1, &data(120_000, 1), &octets).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("SignatureDoesNotMatch"));
    // A part other than the last below 100 KB.
    let (st, body, _) = up.put(&url1, &data(102_399, 1)).await;
    assert_eq!(st, 400);
    assert!(body.contains("EntityTooSmall"), "{body}");
    // Authorization and User-Agent are ignored; the last part may be small.
    let bearer = format!("Bearer {}", up.token);
    let headers = [
        ("authorization", bearer.as_str()),
        ("user-agent", "AND/1.0"),
    ];
    let resp = up.put_with(&url2, &data(10, 2), &headers).await;
    assert_eq!(resp.status(), 200);
    // An unknown URL.
    let bogus = json!(format!("{}/__sim/up/nope", up.sim.base_url()));
    assert_eq!(up.put(&bogus, b"x").await.0, 404);
    // Complete with part 1 missing.
    let (st, r) = up.complete(&task).await;
    assert_eq!(st, 400);
    assert_eq!(r["code"], "InvalidParameter.PartNotComplete");
    // A chunked body (no Content-Length) is accepted.
    let part1 = data(102_400, 1);
    let (st, head) = chunked_put(up.sim.base_url(), url1.as_str().unwrap(), &part1).await;
    assert_eq!(st, 200, "{head}");
    let (st, f) = up.complete(&task).await;
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["size"], 102_410);
    let s = up.sim.stats();
    assert_eq!((s.upload_parts_received, s.upload_parts_rejected), (2, 3));
}

/// A raw HTTP/1.1 PUT with `Transfer-Encoding: chunked`; returns the status and head.
async fn chunked_put(base: &str, url: &str, body: &[u8]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let path = &url[base.len()..];
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(30_000) {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(chunk).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text[9..12].parse().unwrap();
    (status, text)
}

#[tokio::test]
async fn expired_urls_are_renewed_with_get_upload_url() {
    let up = Up::start(ConfigAlipan::default()).await;
    let (_, task) = up
        .create(json!({"name": "b.bin", "size": 5, "part_info_list": parts(1)}))
        .await;
    let url = task["part_info_list"][0]["upload_url"].clone();
    up.sim.clock().advance(Duration::from_secs(3601));
    let (st, body, _) = up.put(&url, b"hello").await;
    assert_eq!(st, 403);
    assert!(body.contains("Request has expired."), "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    let (st, r) = up.upload_url(&task, 1).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["file_id"], task["file_id"]);
    assert_eq!(r["upload_id"], task["upload_id"]);
    assert!(r["created_at"].as_str().unwrap().ends_with('Z'));
    let fresh = &r["part_info_list"][0];
    assert_eq!(fresh["part_number"], 1);
    assert_ne!(fresh["upload_url"], url);
    assert_eq!(up.put(&fresh["upload_url"], b"hello").await.0, 200);
    // Shorter lifetime through the handle.
    up.sim.set_upload_url_lifetime(Duration::from_secs(10));
    let (_, r) = up.upload_url(&task, 2).await;
    assert_eq!(r["code"], "InvalidParameter.PartNumber", "{r}");
    let (st, r) = up
        .post(
            "/adrive/v1.0/openFile/getUploadUrl",
            json!({"file_id": task["file_id"], "upload_id": "0000"}),
        )
        .await;
    assert_eq!(
        (st, r["code"].as_str().unwrap()),
        (404, "NotFound.UploadId")
    );
    assert_eq!(up.complete(&task).await.0, 200);
}

#[tokio::test]
async fn list_uploaded_parts_pages_with_a_marker() {
    let up = Up::start(ConfigAlipan {
        list_parts_page_size: 2,
        ..ConfigAlipan::default()
    })
    .await;
    let (_, task) = up
        .create(json!({"name": "c.bin", "part_info_list": parts(5)}))
        .await;
    let urls = task["part_info_list"].as_array().unwrap().clone();
    for i in [0usize, 1, 2, 4] {
        let part = data(102_400, i as u8);
        assert_eq!(up.put(&urls[i]["upload_url"], &part).await.0, 200);
    }
    let list = |marker: &'static str| up.uploaded_parts(&task, marker);
    let (st, page1) = list("").await;
    assert_eq!(st, 200, "{page1}");
    assert_eq!(page1["parallelUpload"], false);
    assert_eq!(page1["upload_id"], task["upload_id"]);
    let numbers = |p: &Value| -> Vec<u64> {
        p["uploaded_parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["part_number"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(numbers(&page1), [1, 2]);
    assert_eq!(page1["uploaded_parts"][0]["part_size"], 102_400);
    let md5 = hex::encode_upper(Md5::digest(data(102_400, 0)));
    assert_eq!(page1["uploaded_parts"][0]["etag"], md5);
    assert_eq!(page1["next_part_number_marker"], "2");
    let (_, page2) = list("2").await;
    assert_eq!(numbers(&page2), [3, 5]);
    assert_eq!(page2["next_part_number_marker"], "");
    // Resume: renew the missing part's URL and finish.
    let (_, r) = up.upload_url(&task, 4).await;
    let part4 = data(102_400, 3);
    assert_eq!(
        up.put(&r["part_info_list"][0]["upload_url"], &part4)
            .await
            .0,
        200
    );
    let (st, f) = up.complete(&task).await;
    assert_eq!((st, f["size"].as_u64()), (200, Some(5 * 102_400)));
}

#[tokio::test]
async fn pre_hash_then_proof_gives_a_rapid_upload() {
    let up = Up::start(ConfigAlipan::default()).await;
    let file = data(300_000, 9);
    up.sim
        .add_file("alice", "/seed/orig.mkv", file.clone())
        .unwrap();
    let pre = sha1_hex(&file[..1024]);
    let (st, r) = up
        .create(
            json!({"name": "copy.mkv", "size": file.len(), "pre_hash": pre.to_uppercase(),
            "part_info_list": parts(1)}),
        )
        .await;
    assert_eq!(st, 409, "{r}");
    assert_eq!(r["code"], "PreHashMatched");
    assert_eq!(r["message"], "Pre hash matched.");
    assert_eq!(r["file_name"], "copy.mkv");
    assert_eq!(r["parent_file_id"], "root");
    assert_eq!(r["pre_hash"], pre.to_uppercase());
    // A size that differs does not match.
    let (st, _) = up
        .create(json!({"name": "other.mkv", "size": 1, "pre_hash": pre}))
        .await;
    assert_eq!(st, 200);

    let digest = hex::encode(Md5::digest(up.token.as_bytes()));
    let index = u64::from_str_radix(&digest[..16], 16).unwrap() % file.len() as u64;
    let index = index as usize;
    let proof = STANDARD.encode(&file[index..(index + 8).min(file.len())]);
    let proof_body = |code: &str| {
        json!({"name": "copy.mkv", "size": file.len(), "content_hash": sha1_hex(&file),
            "content_hash_name": "sha1", "proof_code": code, "proof_version": "v1",
            "part_info_list": parts(1)})
    };
    let (st, bad) = up.create(proof_body("AAAAAAAAAAA=")).await;
    assert_eq!(st, 200, "{bad}");
    assert_eq!(bad["rapid_upload"], false);
    assert_eq!(bad["part_info_list"].as_array().unwrap().len(), 1);
    assert!(up.sim.stat("alice", "/copy.mkv").is_none());

    let (st, rapid) = up.create(proof_body(&proof)).await;
    assert_eq!(st, 200, "{rapid}");
    assert_eq!(rapid["rapid_upload"], true);
    for key in [
        "file_id",
        "upload_id",
        "drive_id",
        "parent_file_id",
        "file_name",
    ] {
        assert!(rapid[key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
    }
    let entry = up.sim.stat("alice", "/copy.mkv").unwrap();
    assert_eq!(entry.size, file.len() as u64);
    assert_eq!(up.sim.stats().instant_uploads, 1);
    let (st, f) = up.complete(&rapid).await;
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["file_id"], rapid["file_id"]);
    assert_eq!(f["content_hash"], sha1_hex(&file).to_uppercase());
    // The proof call needs its companions.
    let mut missing = proof_body(&proof);
    missing["proof_version"] = json!("v2");
    assert_eq!(
        up.create(missing).await.1["code"],
        "InvalidParameter.ProofVersion"
    );
}

#[tokio::test]
async fn check_name_modes_and_names() {
    let up = Up::start(ConfigAlipan::default()).await;
    let existing = up.sim.add_file("alice", "/a.mkv", b"abc".to_vec()).unwrap();
    let (st, r) = up
        .create(json!({"name": "a.mkv", "check_name_mode": "refuse", "size": 3}))
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["exist"], true);
    assert_eq!(r["file_id"], existing.id.as_str());
    assert!(r.get("upload_id").is_none());
    let (_, r) = up
        .create(json!({"name": "a.mkv", "check_name_mode": "auto_rename", "size": 3}))
        .await;
    assert_eq!(r["file_name"], "a(1).mkv");
    assert_eq!(r["exist"], false);
    let (_, dup) = up
        .create(json!({"name": "a.mkv", "check_name_mode": "ignore", "size": 3}))
        .await;
    assert_eq!(dup["file_name"], "a.mkv");
    assert_eq!(
        up.put(&dup["part_info_list"][0]["upload_url"], b"xyz")
            .await
            .0,
        200
    );
    assert_eq!(up.complete(&dup).await.0, 200);
    assert_eq!(up.sim.list("alice", "/").unwrap(), ["a.mkv", "a.mkv"]);
    // Size mismatch at complete.
    let (_, t) = up.create(json!({"name": "s.mkv", "size": 4})).await;
    up.put(&t["part_info_list"][0]["upload_url"], b"xyz").await;
    assert_eq!(up.complete(&t).await.1["code"], "InvalidParameter.Size");
    // An empty file with no parts.
    let (_, t) = up
        .create(json!({"name": "empty.txt", "size": 0, "part_info_list": []}))
        .await;
    assert_eq!(t["part_info_list"], json!([]));
    let (st, f) = up.complete(&t).await;
    assert_eq!((st, f["size"].as_u64()), (200, Some(0)));

    for (body, code) in [
        (
            json!({"name": "x", "check_name_mode": "overwrite"}),
            "InvalidParameter.CheckNameMode",
        ),
        (json!({"name": "dir/"}), "InvalidParameter.Name"),
        (json!({"name": "é".repeat(513)}), "InvalidParameter.Name"),
        (
            json!({"name": "x", "part_info_list": [{"part_number": 2}]}),
            "InvalidParameter.PartInfoList",
        ),
        (
            json!({"name": "x", "part_info_list": parts(10_001)}),
            "InvalidParameter.PartInfoList",
        ),
        (
            json!({"name": "x", "content_hash": "ab", "content_hash_name": "sha1"}),
            "InvalidParameterMissing.Size",
        ),
    ] {
        let (st, r) = up.create(body).await;
        assert_eq!((st, r["code"].as_str().unwrap()), (400, code));
    }
    let (st, r) = up
        .post(
            "/adrive/v1.0/openFile/create",
            json!({"parent_file_id": "root", "name": "x", "type": "link"}),
        )
        .await;
    assert_eq!(
        (st, r["code"].as_str().unwrap()),
        (400, "InvalidParameter.Type")
    );
    // No token.
    let resp =
        up.c.post(format!(
            "{}/adrive/v1.0/openFile/complete",
            up.sim.base_url()
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
