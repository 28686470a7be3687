//! 115 uploads against the simulator: `init` (instant upload, second verification),
//! `get_token`, `resume`, and the OSS service (V1 signatures with STS credentials, multipart
//! rules, callback), driven by a V1 signer written here from the spec (upload.md §3.3).

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cloud_sim::{OssPartFault, Sim115Handle, SimFile};
use hmac::{Hmac, KeyInit as _, Mac as _};
use md5::Md5;
use serde_json::Value;
use sha1::{Digest as _, Sha1};

use crate::common::*;

const KIB: usize = 1024;

/// Query parameters that V1 signs (the subset these tests send).
const SIGNED: &[&str] = &[
    "partNumber",
    "uploadId",
    "uploads",
    "sequential",
    "callback",
];

/// STS credentials from `get_token`, and a hand-written V1 signer.
#[derive(Clone)]
struct Oss {
    endpoint: String,
    id: String,
    secret: String,
    token: String,
    /// Added to the wall clock for `Date`.
    skew: i64,
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Oss {
    async fn get(sim: &Sim115Handle, c: &reqwest::Client, token: &str) -> Self {
        let r = get115(sim, c, "/open/upload/get_token", token).await;
        assert_eq!(r["state"], true, "{r}");
        let d = &r["data"];
        let s = |k: &str| d[k].as_str().unwrap().to_owned();
        assert_eq!(s("endpoint"), sim.oss_endpoint());
        assert!(s("Expiration").ends_with('Z'), "{d}");
        Self {
            endpoint: s("endpoint"),
            id: s("AccessKeyId"),
            secret: s("AccessKeySecret"),
            token: s("SecurityToken"),
            skew: 0,
        }
    }

    fn date(&self) -> String {
        let t = if self.skew >= 0 {
            SystemTime::now() + Duration::from_secs(self.skew as u64)
        } else {
            SystemTime::now() - Duration::from_secs((-self.skew) as u64)
        };
        httpdate::fmt_http_date(t)
    }

    /// The V1 signature of a request (headers: lower-case names).
    fn signature(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
    ) -> String {
        let h = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut oss: Vec<&(String, String)> = headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-oss-"))
            .collect();
        oss.sort();
        let mut sts = format!(
            "{method}\n{}\n{}\n{}\n",
            h("content-md5"),
            h("content-type"),
            h("date")
        );
        for (k, v) in oss {
            sts.push_str(&format!("{k}:{v}\n"));
        }
        let mut subs: Vec<&(&str, &str)> =
            query.iter().filter(|(k, _)| SIGNED.contains(k)).collect();
        subs.sort();
        sts.push_str(&format!("/{bucket}/{key}"));
        for (i, (k, v)) in subs.iter().enumerate() {
            sts.push(if i == 0 { '?' } else { '&' });
            sts.push_str(k);
            if !v.is_empty() {
                sts.push('=');
                sts.push_str(v);
            }
        }
        let mut mac = Hmac::<Sha1>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(sts.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    /// Sends a signed request; `tamper` edits the headers after signing.
    #[allow(clippy::too_many_arguments)]
    async fn send_with(
        &self,
        c: &reqwest::Client,
        method: &str,
        bucket: &str,
        key: &str,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: Vec<u8>,
        tamper: impl FnOnce(&mut Vec<(String, String)>),
    ) -> reqwest::Response {
        self.try_send(c, method, bucket, key, query, extra, body, tamper)
            .await
            .unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    async fn try_send(
        &self,
        c: &reqwest::Client,
        method: &str,
        bucket: &str,
        key: &str,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: Vec<u8>,
        tamper: impl FnOnce(&mut Vec<(String, String)>),
    ) -> reqwest::Result<reqwest::Response> {
        let mut headers: Vec<(String, String)> = vec![
            ("date".into(), self.date()),
            ("x-oss-security-token".into(), self.token.clone()),
        ];
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| (k.to_lowercase(), (*v).to_owned())),
        );
        let sig = self.signature(method, bucket, key, query, &headers);
        headers.push(("authorization".into(), format!("OSS {}:{sig}", self.id)));
        tamper(&mut headers);
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        let url = format!("{}/{bucket}/{}?{}", self.endpoint, enc(key), q.join("&"));
        let mut req = c.request(method.parse().unwrap(), url).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send().await
    }

    async fn send(
        &self,
        c: &reqwest::Client,
        method: &str,
        t: &Task,
        query: &[(&str, &str)],
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.send_with(c, method, &t.bucket, &t.object, query, extra, body, |_| {})
            .await
    }

    async fn initiate(&self, c: &reqwest::Client, t: &Task) -> String {
        let q = [
            ("encoding-type", "url"),
            ("sequential", ""),
            ("uploads", ""),
        ];
        let ct = [("content-type", "application/octet-stream")];
        let resp = self.send(c, "POST", t, &q, &ct, vec![]).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("x-oss-request-id"));
        let xml = resp.text().await.unwrap();
        assert!(xml.contains("<EncodingType>url</EncodingType>"), "{xml}");
        tag(&xml, "UploadId")
    }

    /// UploadPart; returns the quoted ETag.
    async fn part(&self, c: &reqwest::Client, t: &Task, id: &str, n: u32, data: &[u8]) -> String {
        let n = n.to_string();
        let resp = self
            .send(
                c,
                "PUT",
                t,
                &[("partNumber", &n), ("uploadId", id)],
                &[],
                data.to_vec(),
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(
            etag,
            format!("\"{}\"", hex::encode_upper(Md5::digest(data)))
        );
        let crc: u64 = resp.headers()["x-oss-hash-crc64ecma"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let want = crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(data);
        assert_eq!(crc, want);
        etag
    }

    /// CompleteMultipartUpload with the task's callback (oss2's body form).
    async fn complete(
        &self,
        c: &reqwest::Client,
        t: &Task,
        id: &str,
        parts: &[(u32, String)],
        callback: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let body = complete_body(parts);
        let (cb, cbv) = callback.unwrap_or((&t.callback, &t.callback_var));
        let (cb, cbv) = (STANDARD.encode(cb), STANDARD.encode(cbv));
        let headers = [
            ("X-oss-callback", cb.as_str()),
            ("x-oss-callback-var", cbv.as_str()),
            ("x-oss-forbid-overwrite", "false"),
        ];
        self.send(
            c,
            "POST",
            t,
            &[("uploadId", id)],
            &headers,
            body.into_bytes(),
        )
        .await
    }
}

/// A CompleteMultipartUpload document (oss2's form).
fn complete_body(parts: &[(u32, String)]) -> String {
    let mut body =
        String::from("<?xml version='1.0' encoding='utf-8'?>\n<CompleteMultipartUpload>");
    for (n, e) in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    xml[start..end].to_owned()
}

async fn oss_error(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    assert!(resp.headers().contains_key("x-oss-request-id"));
    let xml = resp.text().await.unwrap();
    (status, tag(&xml, "Code"), xml)
}

/// What `init` answered for an upload.
#[derive(Debug)]
struct Task {
    data: Value,
    pick_code: String,
    bucket: String,
    object: String,
    callback: String,
    callback_var: String,
}

impl Task {
    fn from(r: &Value) -> Self {
        let d = &r["data"];
        let s = |v: &Value| v.as_str().unwrap().to_owned();
        Self {
            data: d.clone(),
            pick_code: s(&d["pick_code"]),
            bucket: s(&d["bucket"]),
            object: s(&d["object"]),
            callback: s(&d["callback"]["callback"]),
            callback_var: s(&d["callback"]["callback_var"]),
        }
    }
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode_upper(Sha1::digest(data))
}

/// Bytes that are not all zeros (the simulator keeps zero runs compactly).
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn init(
    sim: &Sim115Handle,
    c: &reqwest::Client,
    token: &str,
    name: &str,
    cid: &str,
    size: usize,
    sha1: &str,
    extra: &[(&str, &str)],
) -> Value {
    let size = size.to_string();
    let target = format!("U_1_{cid}");
    let mut form = vec![
        ("file_name", name),
        ("file_size", size.as_str()),
        ("target", target.as_str()),
        ("fileid", sha1),
    ];
    form.extend_from_slice(extra);
    post115(sim, c, "/open/upload/init", token, &form).await
}

struct Env {
    sim: Sim115Handle,
    c: reqwest::Client,
    token: String,
    cid: String,
}

async fn env() -> Env {
    let sim = sim115().await;
    let c = client();
    let (token, _) = login115(&sim, &c, "alice").await;
    let cid = sim.add_folder("alice", "/up").unwrap().id;
    Env { sim, c, token, cid }
}

impl Env {
    async fn task(&self, name: &str, data: &[u8]) -> Task {
        let lower = sha1_hex(data).to_lowercase();
        let r = init(
            &self.sim,
            &self.c,
            &self.token,
            name,
            &self.cid,
            data.len(),
            &lower,
            &[],
        )
        .await;
        assert_eq!(r["state"], true, "{r}");
        assert_eq!(r["data"]["status"], 1, "{r}");
        Task::from(&r)
    }

    async fn oss(&self) -> Oss {
        Oss::get(&self.sim, &self.c, &self.token).await
    }
}

// ----- flows ---------------------------------------------------------------------------

#[tokio::test]
async fn multipart_upload_with_callback_registers_the_file() {
    let e = env().await;
    let data = content(250 * KIB + 17, 1);
    let sha1 = sha1_hex(&data);
    let t = e.task("movie.mkv", &data).await;
    assert_eq!(t.data["code"], 0);
    assert_eq!(t.bucket, "fhnfile");
    assert_eq!(t.data["target"], format!("U_1_{}", e.cid));
    let var: Value = serde_json::from_str(&t.callback_var).unwrap();
    assert_eq!(var["x:pick_code"], t.pick_code.as_str());
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    let chunks: Vec<&[u8]> = data.chunks(100 * KIB).collect();
    assert_eq!(chunks.len(), 3);
    let mut parts = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let n = i as u32 + 1;
        parts.push((n, oss.part(&e.c, &t, &id, n, chunk).await));
    }
    // ListParts, paged by max-parts / part-number-marker.
    let resp = oss
        .send(
            &e.c,
            "GET",
            &t,
            &[("uploadId", &id), ("max-parts", "2")],
            &[],
            vec![],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let xml = resp.text().await.unwrap();
    assert_eq!(tag(&xml, "IsTruncated"), "true");
    assert_eq!(tag(&xml, "NextPartNumberMarker"), "2");
    assert_eq!(xml.matches("<Part>").count(), 2);
    let q = [("uploadId", id.as_str()), ("part-number-marker", "2")];
    let xml = oss
        .send(&e.c, "GET", &t, &q, &[], vec![])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(tag(&xml, "IsTruncated"), "false");
    assert_eq!(tag(&xml, "PartNumber"), "3");
    assert_eq!(tag(&xml, "Size"), (50 * KIB + 17).to_string());

    let resp = oss.complete(&e.c, &t, &id, &parts, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let crc: u64 = resp.headers()["x-oss-hash-crc64ecma"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(crc, crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(&data));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["state"], true, "{body}");
    let d = &body["data"];
    assert_eq!(d["file_name"], "movie.mkv");
    assert_eq!(d["sha1"], sha1.as_str());
    assert_eq!(d["file_size"], data.len() as u64);
    assert_eq!(d["pick_code"], t.pick_code.as_str());
    assert_eq!(d["cid"], e.cid.as_str());
    let file_id = d["file_id"].as_str().unwrap().to_owned();

    // Visible at once, by id and by listing, and the bytes come back.
    let info = post115(
        &e.sim,
        &e.c,
        "/open/folder/get_info",
        &e.token,
        &[("file_id", &file_id)],
    )
    .await;
    assert_eq!(info["data"]["sha1"], sha1.as_str(), "{info}");
    assert_eq!(info["data"]["size_byte"], data.len() as u64);
    let list = get115(
        &e.sim,
        &e.c,
        &format!("/open/ufile/files?cid={}", e.cid),
        &e.token,
    )
    .await;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(list["data"][0]["fn"], "movie.mkv");
    let dl = post115(
        &e.sim,
        &e.c,
        "/open/ufile/downurl",
        &e.token,
        &[("pick_code", &t.pick_code)],
    )
    .await;
    let url = dl["data"][&file_id]["url"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = e.c.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(back.as_ref(), data.as_slice());

    let st = e.sim.stats();
    assert_eq!(st.oss_multipart_initiated, 1);
    assert_eq!(st.oss_multipart_completed, 1);
    assert_eq!(st.oss_parts_stored, 3);
    assert_eq!(st.oss_bytes_received, data.len() as u64);
    assert_eq!(st.oss_callbacks_ok, 1);
    assert_eq!(st.oss_callbacks_failed, 0);
    assert_eq!(st.u115_sts_issued, 1);
    assert_eq!(e.sim.oss_open_uploads(), 0);
    // The upload id is gone: a retried Complete cannot make a second file.
    let again = oss.complete(&e.c, &t, &id, &parts, None).await;
    assert_eq!(oss_error(again).await.1, "NoSuchUpload");
    assert_eq!(e.sim.list("alice", "/up").unwrap(), vec!["movie.mkv"]);
}

#[tokio::test]
async fn a_reuploaded_part_overwrites_and_abort_drops_the_upload() {
    let e = env().await;
    let data = content(120 * KIB, 2);
    let t = e.task("a.bin", &data).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    oss.part(&e.c, &t, &id, 1, &content(120 * KIB, 9)).await;
    let etag = oss.part(&e.c, &t, &id, 1, &data).await;
    let resp = oss.complete(&e.c, &t, &id, &[(1, etag)], None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        e.sim.stat("alice", "/up/a.bin").unwrap().sha1,
        sha1_hex(&data)
    );

    let t2 = e.task("b.bin", &content(10, 20)).await;
    let id2 = oss.initiate(&e.c, &t2).await;
    let resp = oss
        .send(&e.c, "DELETE", &t2, &[("uploadId", &id2)], &[], vec![])
        .await;
    assert_eq!(resp.status(), 204);
    let resp = oss
        .send(&e.c, "GET", &t2, &[("uploadId", &id2)], &[], vec![])
        .await;
    assert_eq!(oss_error(resp).await.1, "NoSuchUpload");
}

#[tokio::test]
async fn put_object_with_callback_and_forbid_overwrite() {
    let e = env().await;
    let data = content(3000, 3);
    let t = e.task("small.txt", &data).await;
    let oss = e.oss().await;
    let (cb, cbv) = (
        STANDARD.encode(&t.callback),
        STANDARD.encode(&t.callback_var),
    );
    let headers = [
        ("x-oss-callback", cb.as_str()),
        ("x-oss-callback-var", cbv.as_str()),
    ];
    let resp = oss.send(&e.c, "PUT", &t, &[], &headers, data.clone()).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["file_name"], "small.txt");
    assert_eq!(
        e.sim.stat("alice", "/up/small.txt").unwrap().sha1,
        sha1_hex(&data)
    );
    let obj = e.sim.oss_object(&t.bucket, &t.object).unwrap();
    assert_eq!(obj.size, 3000);
    assert_eq!(obj.etag, hex::encode_upper(Md5::digest(&data)));
    // The key exists now.
    let forbid = [("x-oss-forbid-overwrite", "true")];
    let resp = oss.send(&e.c, "PUT", &t, &[], &forbid, data.clone()).await;
    let (status, code, _) = oss_error(resp).await;
    assert_eq!((status, code.as_str()), (409, "FileAlreadyExists"));
    // Without the callback the object is written, but no second file appears.
    let resp = oss.send(&e.c, "PUT", &t, &[], &[], data).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(e.sim.list("alice", "/up").unwrap(), vec!["small.txt"]);
}

#[tokio::test]
async fn instant_upload_small_and_name_conflict_renames() {
    let e = env().await;
    let data = content(4000, 4);
    let known = e
        .sim
        .add_file("alice", "/src/known.bin", data.clone())
        .unwrap();
    e.sim
        .add_file("alice", "/up/copy.bin", SimFile::bytes(b"x".to_vec()))
        .unwrap();
    let r = init(
        &e.sim,
        &e.c,
        &e.token,
        "copy.bin",
        &e.cid,
        4000,
        &known.sha1,
        &[],
    )
    .await;
    assert_eq!(r["data"]["status"], 2, "{r}");
    assert_eq!(r["data"]["code"], 0);
    assert_eq!(r["data"]["file_name"], "copy(1).bin");
    let made = e.sim.stat("alice", "/up/copy(1).bin").unwrap();
    assert_eq!(made.id, r["data"]["file_id"].as_str().unwrap());
    assert_eq!(made.sha1, known.sha1);
    assert_eq!(made.pick_code, r["data"]["pick_code"].as_str().unwrap());
    assert_eq!(e.sim.stats().instant_uploads, 1);
    // The empty file is always known.
    let empty = sha1_hex(b"");
    let r = init(&e.sim, &e.c, &e.token, "empty", &e.cid, 0, &empty, &[]).await;
    assert_eq!(r["data"]["status"], 2, "{r}");
    assert_eq!(e.sim.stat("alice", "/up/empty").unwrap().size, 0);
}

#[tokio::test]
async fn second_verification_right_and_wrong() {
    let e = env().await;
    let data = content(2 * 1024 * KIB + 5, 5);
    let known = e
        .sim
        .add_file("alice", "/src/big.bin", data.clone())
        .unwrap();
    let lower = known.sha1.to_lowercase();
    let preid = sha1_hex(&data[..128 * KIB]);
    let first = init(
        &e.sim,
        &e.c,
        &e.token,
        "big.bin",
        &e.cid,
        data.len(),
        &lower,
        &[("preid", &preid)],
    )
    .await;
    let d = &first["data"];
    assert_eq!(
        (d["status"].clone(), d["code"].clone()),
        (7.into(), 701.into()),
        "{first}"
    );
    let challenge = Task::from(&first);
    let check = d["sign_check"].as_str().unwrap();
    let (s, end) = check.split_once('-').unwrap();
    let (s, end): (usize, usize) = (s.parse().unwrap(), end.parse().unwrap());
    assert!(s <= end && end < data.len(), "{check}");
    let sign_key = d["sign_key"].as_str().unwrap().to_owned();
    let right = sha1_hex(&data[s..=end]);

    // Lower case is wrong (DOC115: upper case); the answer keeps the task's OSS fields.
    let lower_val = right.to_lowercase();
    let extra = [
        ("sign_key", sign_key.as_str()),
        ("sign_val", lower_val.as_str()),
        ("pick_code", challenge.pick_code.as_str()),
    ];
    let wrong = init(
        &e.sim,
        &e.c,
        &e.token,
        "big.bin",
        &e.cid,
        data.len(),
        &lower,
        &extra,
    )
    .await;
    assert_eq!(wrong["state"], true);
    assert_eq!(
        (
            wrong["data"]["status"].clone(),
            wrong["data"]["code"].clone()
        ),
        (8.into(), 702.into())
    );
    let w = Task::from(&wrong);
    assert_eq!(
        (
            &w.pick_code,
            &w.bucket,
            &w.object,
            &w.callback,
            &w.callback_var
        ),
        (
            &challenge.pick_code,
            &challenge.bucket,
            &challenge.object,
            &challenge.callback,
            &challenge.callback_var
        )
    );
    assert!(e.sim.stat("alice", "/up/big.bin").is_none());
    // An off-by-one range (exclusive end) is wrong too.
    let short = sha1_hex(&data[s..end]);
    let extra = [
        ("sign_key", sign_key.as_str()),
        ("sign_val", short.as_str()),
    ];
    let wrong = init(
        &e.sim,
        &e.c,
        &e.token,
        "big.bin",
        &e.cid,
        data.len(),
        &lower,
        &extra,
    )
    .await;
    assert_eq!(wrong["data"]["status"], 8);

    let extra = [
        ("sign_key", sign_key.as_str()),
        ("sign_val", right.as_str()),
    ];
    let ok = init(
        &e.sim,
        &e.c,
        &e.token,
        "big.bin",
        &e.cid,
        data.len(),
        &lower,
        &extra,
    )
    .await;
    assert_eq!(ok["data"]["status"], 2, "{ok}");
    assert_eq!(ok["data"]["pick_code"], challenge.pick_code.as_str());
    assert_eq!(e.sim.stat("alice", "/up/big.bin").unwrap().sha1, known.sha1);
    let st = e.sim.stats();
    assert_eq!(
        (
            st.u115_sign_challenges,
            st.u115_sign_failures,
            st.instant_uploads
        ),
        (1, 2, 1)
    );
}

#[tokio::test]
async fn resume_takes_dummy_fileid_and_size() {
    let e = env().await;
    let data = content(1000, 6);
    let t = e.task("r.bin", &data).await;
    let target = format!("U_1_{}", e.cid);
    let form = [
        ("file_size", "1"),
        ("target", target.as_str()),
        ("fileid", &"0".repeat(40)),
        ("pick_code", t.pick_code.as_str()),
    ];
    let r = post115(&e.sim, &e.c, "/open/upload/resume", &e.token, &form).await;
    assert_eq!(r["state"], true, "{r}");
    let resumed = Task::from(&r);
    assert_eq!(
        (
            &resumed.bucket,
            &resumed.object,
            &resumed.callback,
            &resumed.callback_var
        ),
        (&t.bucket, &t.object, &t.callback, &t.callback_var)
    );
    let form = [
        ("file_size", "1"),
        ("target", target.as_str()),
        ("fileid", &"0".repeat(40)),
        ("pick_code", "nosuchpickcode"),
    ];
    let r = post115(&e.sim, &e.c, "/open/upload/resume", &e.token, &form).await;
    assert_eq!(r["state"], false, "{r}");
    assert_eq!(r["code"], 10002);
    let form = [("target", "U_1_999"), ("pick_code", t.pick_code.as_str())];
    let r = post115(&e.sim, &e.c, "/open/upload/resume", &e.token, &form).await;
    assert_eq!(r["state"], false, "{r}");
}

#[tokio::test]
async fn init_validates_its_fields() {
    let e = env().await;
    let sha = "a".repeat(40);
    let cases: [(&str, &str, &str, &str); 5] = [
        ("", "1", "U_1_0", sha.as_str()),
        ("n", "-1", "U_1_0", sha.as_str()),
        ("n", "1", "0", sha.as_str()),
        ("n", "1", "U_1_0", "abc"),
        ("n", "1", "U_1_0", &"g".repeat(40)),
    ];
    for (name, size, target, fileid) in cases {
        let form = [
            ("file_name", name),
            ("file_size", size),
            ("target", target),
            ("fileid", fileid),
        ];
        let r = post115(&e.sim, &e.c, "/open/upload/init", &e.token, &form).await;
        assert_eq!(
            (r["state"].clone(), r["code"].clone()),
            (false.into(), 10002.into()),
            "{form:?}: {r}"
        );
    }
    let r = init(&e.sim, &e.c, &e.token, "n", "424242", 1, &sha, &[]).await;
    assert_eq!(r["code"], 20018, "{r}");
    let r = init(
        &e.sim,
        &e.c,
        &e.token,
        "n",
        &e.cid,
        1,
        &sha,
        &[("preid", "short")],
    )
    .await;
    assert_eq!(r["code"], 10002, "{r}");
    // A preid that is not SHA-1 of the first 128 KiB (MoviePilot's 128 MiB one) is fine,
    // and unknown fields are ignored.
    let r = init(
        &e.sim,
        &e.c,
        &e.token,
        "n",
        &e.cid,
        1,
        &sha,
        &[
            ("preid", &"b".repeat(40)),
            ("topupload", "1"),
            ("path", "x"),
        ],
    )
    .await;
    assert_eq!(r["data"]["status"], 1, "{r}");
    // multipart/form-data (DOC115's "form-data") is accepted as well.
    let fields = [
        ("file_name", "m.bin"),
        ("file_size", "1"),
        ("target", &format!("U_1_{}", e.cid)),
        ("fileid", &sha),
    ];
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--BoUnD\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str("--BoUnD--\r\n");
    let r = json(
        e.c.post(format!("{}/open/upload/init", e.sim.base_url()))
            .bearer_auth(&e.token)
            .header("content-type", "multipart/form-data; boundary=BoUnD")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r["data"]["status"], 1, "{r}");
    // Without a token: 401… codes as every 115 resource endpoint.
    let r = post115(
        &e.sim,
        &e.c,
        "/open/upload/init",
        "nope",
        &[("file_name", "n")],
    )
    .await;
    assert_eq!(r["code"], 40140126);
    let r = get115(&e.sim, &e.c, "/open/upload/get_token", "nope").await;
    assert_eq!(r["code"], 40140126);
}

// ----- strictness ----------------------------------------------------------------------

#[tokio::test]
async fn tampered_signature_is_refused() {
    let e = env().await;
    let t = e.task("t.bin", &content(10, 7)).await;
    let oss = e.oss().await;
    let q = [("uploads", "")];
    // A header added after signing.
    let resp = oss
        .send_with(&e.c, "POST", &t.bucket, &t.object, &q, &[], vec![], |h| {
            h.push(("x-oss-meta-late".into(), "1".into()))
        })
        .await;
    let (status, code, xml) = oss_error(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (403, "SignatureDoesNotMatch"),
        "{xml}"
    );
    assert!(xml.contains("<StringToSign>"), "{xml}");
    // One flipped character of the signature.
    let resp = oss
        .send_with(&e.c, "POST", &t.bucket, &t.object, &q, &[], vec![], |h| {
            let auth = h.iter_mut().find(|(k, _)| k == "authorization").unwrap();
            let flipped = if auth.1.ends_with("A=") { "B=" } else { "A=" };
            auth.1.truncate(auth.1.len() - 2);
            auth.1.push_str(flipped);
        })
        .await;
    assert_eq!(oss_error(resp).await.1, "SignatureDoesNotMatch");
    // A sub-resource signed but not sent (uploads signed, partNumber sent).
    let resp = oss
        .send_with(
            &e.c,
            "POST",
            &t.bucket,
            &t.object,
            &[("uploads", "")],
            &[("content-type", "text/plain")],
            vec![],
            |h| {
                h.iter_mut().find(|(k, _)| k == "content-type").unwrap().1 =
                    "application/xml".into();
            },
        )
        .await;
    assert_eq!(oss_error(resp).await.1, "SignatureDoesNotMatch");
    // The signature over the encoded key instead of the raw one.
    let mut wrong_key = oss.clone();
    wrong_key.secret = oss.secret.clone();
    let sig = oss.signature(
        "POST",
        &t.bucket,
        &enc(&t.object),
        &q,
        &[
            ("date".into(), oss.date()),
            ("x-oss-security-token".into(), oss.token.clone()),
        ],
    );
    let resp = oss
        .send_with(&e.c, "POST", &t.bucket, &t.object, &q, &[], vec![], |h| {
            h.iter_mut().find(|(k, _)| k == "authorization").unwrap().1 =
                format!("OSS {}:{sig}", oss.id);
        })
        .await;
    assert_eq!(oss_error(resp).await.1, "SignatureDoesNotMatch");
    assert_eq!(e.sim.stats().oss_signature_failures, 4);
    // The right signature over the same request works.
    let resp = oss.send(&e.c, "POST", &t, &q, &[], vec![]).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn credentials_token_and_date_are_checked() {
    let e = env().await;
    let t = e.task("c.bin", &content(10, 8)).await;
    let oss = e.oss().await;
    let q = [("uploads", "")];
    let mut unknown = oss.clone();
    unknown.id = "STS.unknown".into();
    let (s, code, _) = oss_error(unknown.send(&e.c, "POST", &t, &q, &[], vec![]).await).await;
    assert_eq!((s, code.as_str()), (403, "InvalidAccessKeyId"));
    let mut other_token = oss.clone();
    other_token.token = "CAISsomethingelse".into();
    let (s, code, _) = oss_error(other_token.send(&e.c, "POST", &t, &q, &[], vec![]).await).await;
    assert_eq!((s, code.as_str()), (403, "InvalidSecurityToken"));
    let resp = oss
        .send_with(&e.c, "POST", &t.bucket, &t.object, &q, &[], vec![], |h| {
            h.retain(|(k, _)| k != "x-oss-security-token")
        })
        .await;
    assert_eq!(oss_error(resp).await.1, "InvalidSecurityToken");
    let mut skewed = oss.clone();
    skewed.skew = 16 * 60;
    let (s, code, _) = oss_error(skewed.send(&e.c, "POST", &t, &q, &[], vec![]).await).await;
    assert_eq!((s, code.as_str()), (403, "RequestTimeTooSkewed"));
    skewed.skew = -16 * 60;
    assert_eq!(
        oss_error(skewed.send(&e.c, "POST", &t, &q, &[], vec![]).await)
            .await
            .1,
        "RequestTimeTooSkewed"
    );
    skewed.skew = 14 * 60;
    assert_eq!(
        skewed
            .send(&e.c, "POST", &t, &q, &[], vec![])
            .await
            .status(),
        200
    );
    // x-oss-date wins over Date.
    let late = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    let resp = oss
        .send(
            &e.c,
            "POST",
            &t,
            &q,
            &[("x-oss-date", late.as_str())],
            vec![],
        )
        .await;
    assert_eq!(oss_error(resp).await.1, "RequestTimeTooSkewed");
    // No Authorization at all, or a V4 one.
    let url = format!("{}/{}/{}?uploads", oss.endpoint, t.bucket, enc(&t.object));
    let resp = e.c.post(&url).send().await.unwrap();
    assert_eq!(oss_error(resp).await.1, "AccessDenied");
}

#[tokio::test]
async fn expired_sts_credentials_answer_security_token_expired() {
    let e = env().await;
    e.sim.set_sts_lifetime(Duration::from_secs(600));
    let data = content(150 * KIB, 9);
    let t = e.task("x.bin", &data).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    let p1 = oss.part(&e.c, &t, &id, 1, &data[..100 * KIB]).await;
    e.sim.clock().advance(Duration::from_secs(601));
    let resp = oss
        .send(
            &e.c,
            "PUT",
            &t,
            &[("partNumber", "2"), ("uploadId", &id)],
            &[],
            data[100 * KIB..].to_vec(),
        )
        .await;
    let (status, code, xml) = oss_error(resp).await;
    assert_eq!((status, code.as_str()), (403, "SecurityTokenExpired"));
    assert!(xml.contains("<EC>0002-00000007</EC>"), "{xml}");
    // Fresh credentials carry on with the same upload; the finished part stays.
    let fresh = e.oss().await;
    let p2 = fresh.part(&e.c, &t, &id, 2, &data[100 * KIB..]).await;
    let resp = fresh
        .complete(&e.c, &t, &id, &[(1, p1), (2, p2)], None)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        e.sim.stat("alice", "/up/x.bin").unwrap().sha1,
        sha1_hex(&data)
    );
    // expire_sts_credentials expires without moving the clock.
    e.sim.expire_sts_credentials();
    let t2 = e.task("y.bin", &content(10, 21)).await;
    let resp = fresh
        .send(&e.c, "POST", &t2, &[("uploads", "")], &[], vec![])
        .await;
    assert_eq!(oss_error(resp).await.1, "SecurityTokenExpired");
    assert_eq!(e.sim.stats().oss_error("SecurityTokenExpired"), 2);
}

#[tokio::test]
async fn bucket_and_key_must_be_the_issued_ones() {
    let e = env().await;
    let t = e.task("k.bin", &content(200 * KIB, 10)).await;
    let oss = e.oss().await;
    let q = [("uploads", "")];
    let resp = oss
        .send_with(
            &e.c,
            "POST",
            "otherbucket",
            &t.object,
            &q,
            &[],
            vec![],
            |_| {},
        )
        .await;
    assert_eq!(oss_error(resp).await.1, "NoSuchBucket");
    let other_key = format!("{}x", t.object);
    let resp = oss
        .send_with(&e.c, "POST", &t.bucket, &other_key, &q, &[], vec![], |_| {})
        .await;
    let (s, code, _) = oss_error(resp).await;
    assert_eq!((s, code.as_str()), (403, "AccessDenied"));
    // A part for this upload under another key.
    let id = oss.initiate(&e.c, &t).await;
    let pq = [("partNumber", "1"), ("uploadId", id.as_str())];
    let resp = oss
        .send_with(
            &e.c,
            "PUT",
            &t.bucket,
            &other_key,
            &pq,
            &[],
            vec![1; 10],
            |_| {},
        )
        .await;
    let (s, code, _) = oss_error(resp).await;
    assert_eq!((s, code.as_str()), (404, "NoSuchUpload"));
    for n in ["0", "10001", "x"] {
        let resp = oss
            .send(
                &e.c,
                "PUT",
                &t,
                &[("partNumber", n), ("uploadId", &id)],
                &[],
                vec![1; 10],
            )
            .await;
        assert_eq!(oss_error(resp).await.1, "InvalidArgument", "part {n}");
    }
}

#[tokio::test]
async fn complete_checks_parts() {
    let e = env().await;
    let data = content(300 * KIB, 11);
    let t = e.task("p.bin", &data).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    let p1 = oss.part(&e.c, &t, &id, 1, &data[..50 * KIB]).await;
    let p2 = oss.part(&e.c, &t, &id, 2, &data[50 * KIB..]).await;
    let err = |resp| async { oss_error(resp).await };
    let (s, code, _) = err(oss
        .complete(&e.c, &t, &id, &[(2, p2.clone()), (1, p1.clone())], None)
        .await)
    .await;
    assert_eq!((s, code.as_str()), (400, "InvalidPartOrder"));
    let (s, code, _) = err(oss
        .complete(&e.c, &t, &id, &[(1, p1.clone()), (2, p2.clone())], None)
        .await)
    .await;
    assert_eq!((s, code.as_str()), (400, "EntityTooSmall"));
    let (s, code, _) = err(oss.complete(&e.c, &t, &id, &[(1, p2.clone())], None).await).await;
    assert_eq!((s, code.as_str()), (400, "InvalidPart"));
    let (s, code, _) = err(oss.complete(&e.c, &t, &id, &[(3, p2.clone())], None).await).await;
    assert_eq!((s, code.as_str()), (400, "InvalidPart"));
    let (s, code, _) = err(oss.complete(&e.c, &t, &id, &[], None).await).await;
    assert_eq!((s, code.as_str()), (400, "MalformedXML"));
    let resp = oss
        .send(
            &e.c,
            "POST",
            &t,
            &[("uploadId", &id)],
            &[],
            b"<CompleteMultipartUpload><Part>".to_vec(),
        )
        .await;
    assert_eq!(err(resp).await.1, "MalformedXML");
    let resp = oss
        .send(
            &e.c,
            "POST",
            &t,
            &[("uploadId", "NOSUCHUPLOAD")],
            &[],
            vec![],
        )
        .await;
    assert_eq!(err(resp).await.0, 404);
    // A bad callback header is refused before anything is stored.
    let resp = oss.send(&e.c, "POST", &t, &[("uploadId", &id)], &[("x-oss-callback", "not base64!")],
        format!("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{p1}</ETag></Part></CompleteMultipartUpload>").into_bytes()).await;
    assert_eq!(err(resp).await.1, "InvalidArgument");
    // Re-upload part 1 at 100 KB+, then the Go SDK's body form (&#34; quotes, no declaration).
    let p1 = oss.part(&e.c, &t, &id, 1, &data[..200 * KIB]).await;
    let p2 = oss.part(&e.c, &t, &id, 2, &data[200 * KIB..]).await;
    let q = |e: &str| e.replace('"', "&#34;");
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part><Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        q(&p1),
        q(&p2)
    );
    let (cb, cbv) = (
        STANDARD.encode(&t.callback),
        STANDARD.encode(&t.callback_var),
    );
    let resp = oss
        .send(
            &e.c,
            "POST",
            &t,
            &[("uploadId", &id)],
            &[
                ("x-oss-callback", &cb),
                ("x-oss-callback-var", &cbv),
                ("content-type", "text/xml"),
            ],
            body.into_bytes(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        e.sim.stat("alice", "/up/p.bin").unwrap().sha1,
        sha1_hex(&data)
    );
}

#[tokio::test]
async fn wrong_callback_fails_with_203_and_keeps_the_object() {
    let e = env().await;
    let data = content(120 * KIB, 12);
    let t = e.task("w.bin", &data).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    let p1 = oss.part(&e.c, &t, &id, 1, &data).await;
    // Same meaning, different text (the JSON re-serialised with a space).
    let var = t.callback_var.replacen(':', ": ", 1);
    let resp = oss
        .complete(&e.c, &t, &id, &[(1, p1)], Some((&t.callback, &var)))
        .await;
    let (status, code, xml) = oss_error(resp).await;
    assert_eq!((status, code.as_str()), (203, "CallbackFailed"), "{xml}");
    assert!(e.sim.oss_object(&t.bucket, &t.object).is_some());
    assert!(e.sim.stat("alice", "/up/w.bin").is_none());
    let st = e.sim.stats();
    assert_eq!(
        (
            st.oss_callbacks_ok,
            st.oss_callbacks_failed,
            st.oss_multipart_completed
        ),
        (0, 1, 1)
    );
}

#[tokio::test]
async fn sha1_other_than_fileid_fails_the_callback() {
    let e = env().await;
    let data = content(120 * KIB, 13);
    let t = e.task("s.bin", &data).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    let mut other = data.clone();
    other[5] ^= 1;
    let p1 = oss.part(&e.c, &t, &id, 1, &other).await;
    let resp = oss.complete(&e.c, &t, &id, &[(1, p1)], None).await;
    let (status, code, xml) = oss_error(resp).await;
    assert_eq!((status, code.as_str()), (203, "CallbackFailed"));
    assert!(xml.contains("fileid"), "{xml}");
    assert!(e.sim.stat("alice", "/up/s.bin").is_none());
}

#[tokio::test]
async fn injected_part_and_callback_failures() {
    let e = env().await;
    let data = content(120 * KIB, 14);
    let t = e.task("f.bin", &data).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    e.sim.inject_oss_part_fault(OssPartFault::Status(503), 1);
    e.sim.inject_oss_part_fault(
        OssPartFault::CutBody {
            after: 50 * KIB as u64,
        },
        1,
    );
    let q = [("partNumber", "1"), ("uploadId", id.as_str())];
    let (s, code, _) = oss_error(oss.send(&e.c, "PUT", &t, &q, &[], data.clone()).await).await;
    assert_eq!((s, code.as_str()), (503, "ServiceUnavailable"));
    let cut = oss.try_send(
        &e.c,
        "PUT",
        &t.bucket,
        &t.object,
        &q,
        &[],
        data.clone(),
        |_| {},
    );
    let cut = tokio::time::timeout(Duration::from_secs(10), cut)
        .await
        .unwrap();
    assert!(cut.is_err(), "{cut:?}");
    assert_eq!(e.sim.stats().oss_parts_stored, 0);
    let p1 = oss.part(&e.c, &t, &id, 1, &data).await;
    e.sim.fail_next_callbacks(1);
    let c2 = client();
    let resp = oss.complete(&c2, &t, &id, &[(1, p1)], None).await;
    assert_eq!(oss_error(resp).await.1, "CallbackFailed");
    assert!(e.sim.stat("alice", "/up/f.bin").is_none());
    let st = e.sim.stats();
    assert_eq!(
        (
            st.oss_parts_stored,
            st.oss_callbacks_failed,
            st.faults_injected
        ),
        (1, 1, 3)
    );
}

// ----- the official Python SDK (oss2), as MoviePilot uses it -----------------------------

const OSS2_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oss2_client.py");

/// A Python that imports oss2: `DRIVEKEEP_OSS2_PYTHON`, the venv `.ci/run` makes
/// (`/opt/drivekeep-py`), then `python3` / `/usr/bin/python3`. `None` (test skipped) when
/// there is none, except under CI (`CI` or `DRIVEKEEP_REQUIRE_PG` set), where it fails.
fn python_with_oss2() -> Option<String> {
    let mut candidates: Vec<String> = std::env::var("DRIVEKEEP_OSS2_PYTHON").into_iter().collect();
    candidates.extend(
        [
            "/opt/drivekeep-py/bin/python3",
            "python3",
            "/usr/bin/python3",
        ]
        .map(str::to_owned),
    );
    for py in &candidates {
        let ok = std::process::Command::new(py)
            .args(["-c", "import oss2"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py.clone());
        }
    }
    let required = ["CI", "DRIVEKEEP_REQUIRE_PG"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty() && x != "false"));
    assert!(
        !required,
        "no Python among {candidates:?} imports oss2 (.ci/run installs it: python3 -m venv \
         /opt/drivekeep-py && /opt/drivekeep-py/bin/pip install oss2)"
    );
    eprintln!("note: no Python with oss2; the oss2 compatibility test is skipped");
    None
}

async fn oss2(python: &str, mode: &str, cfg: &Value) -> Value {
    let out = tokio::process::Command::new(python)
        .arg(OSS2_SCRIPT)
        .arg(mode)
        .arg(cfg.to_string())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "oss2_client.py {mode} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn oss2_config(oss: &Oss, t: &Task) -> Value {
    serde_json::json!({
        "endpoint": oss.endpoint, "access_key_id": oss.id, "access_key_secret": oss.secret,
        "security_token": oss.token, "bucket": t.bucket, "object": t.object,
        "callback": t.callback, "callback_var": t.callback_var,
    })
}

#[tokio::test]
async fn oss2_uploads_like_moviepilot() {
    let Some(python) = python_with_oss2() else {
        return;
    };
    let e = env().await;
    let data = content(350 * KIB + 3, 30);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("episode.mkv");
    std::fs::write(&path, &data).unwrap();
    // MoviePilot: lower-case fileid, preid over the first 128 MiB (here the whole file),
    // then resume before going to OSS.
    let lower = sha1_hex(&data).to_lowercase();
    let r = init(
        &e.sim,
        &e.c,
        &e.token,
        "episode.mkv",
        &e.cid,
        data.len(),
        &lower,
        &[("preid", &lower)],
    )
    .await;
    assert_eq!(r["data"]["status"], 1, "{r}");
    let t = Task::from(&r);
    let target = format!("U_1_{}", e.cid);
    let size = data.len().to_string();
    let form = [
        ("file_size", size.as_str()),
        ("target", target.as_str()),
        ("fileid", lower.as_str()),
        ("pick_code", t.pick_code.as_str()),
    ];
    let resumed = post115(&e.sim, &e.c, "/open/upload/resume", &e.token, &form).await;
    assert_eq!(resumed["data"]["callback"]["callback"], t.callback.as_str());
    let oss = e.oss().await;
    let mut cfg = oss2_config(&oss, &t);
    cfg["path"] = path.to_str().unwrap().into();
    cfg["part_size"] = (100 * KIB).into();
    let out = oss2(&python, "upload", &cfg).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["parts"], 4);
    assert_eq!(out["crc_checked"], 4);
    let listed: Vec<u64> = out["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, vec![1, 2, 3, 4]);
    assert_eq!(out["listed"][3]["size"], (50 * KIB + 3) as u64);
    assert_eq!(out["listed"][0]["etag"], out["etags"][0]);
    let body = &out["body"];
    assert_eq!(body["state"], true, "{out}");
    assert_eq!(body["data"]["sha1"], sha1_hex(&data).as_str());
    assert_eq!(body["data"]["file_name"], "episode.mkv");
    let stat = e.sim.stat("alice", "/up/episode.mkv").unwrap();
    assert_eq!(stat.sha1, sha1_hex(&data));
    assert_eq!(stat.id, body["data"]["file_id"].as_str().unwrap());
    let st = e.sim.stats();
    assert_eq!(st.oss_parts_stored, 4);
    assert_eq!(st.oss_bytes_received, data.len() as u64);
    assert_eq!(st.oss_signature_failures, 0);
    assert_eq!(st.oss_errors, Default::default());
    assert_eq!(st.oss_callbacks_ok, 1);

    // A callback_var that differs from the issued one: 203, which oss2 does not raise on.
    let data2 = content(120 * KIB, 31);
    let path2 = dir.path().join("other.mkv");
    std::fs::write(&path2, &data2).unwrap();
    let t2 = e.task("other.mkv", &data2).await;
    let mut cfg = oss2_config(&oss, &t2);
    cfg["callback_var"] = t2
        .callback_var
        .replace("\"x:source\":\"100\"", "\"x:source\":\"101\"")
        .into();
    cfg["path"] = path2.to_str().unwrap().into();
    cfg["part_size"] = (100 * KIB).into();
    let out = oss2(&python, "upload", &cfg).await;
    assert_eq!(out["status"], 203, "{out}");
    assert!(e.sim.stat("alice", "/up/other.mkv").is_none());

    // Expired STS credentials: oss2 raises OssError 403 SecurityTokenExpired.
    e.sim.set_sts_lifetime(Duration::from_secs(600));
    let short = e.oss().await;
    e.sim.clock().advance(Duration::from_secs(601));
    let t3 = e.task("late.mkv", &content(10, 32)).await;
    let out = oss2(&python, "expired", &oss2_config(&short, &t3)).await;
    assert_eq!(out["status"], 403, "{out}");
    assert_eq!(out["code"], "SecurityTokenExpired");
    assert_eq!(out["ec"], "0002-00000007");
}

#[tokio::test]
async fn object_digests_are_right_whatever_the_part_order() {
    let e = env().await;
    let data = content(430 * KIB, 40);
    let chunks: Vec<&[u8]> = data.chunks(110 * KIB).collect();
    assert_eq!(chunks.len(), 4);
    let t = e.task("order.bin", &data).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    let mut etags = vec![String::new(); 4];
    for i in [2usize, 0, 3, 1] {
        etags[i] = oss.part(&e.c, &t, &id, i as u32 + 1, chunks[i]).await;
    }
    // Part 1 replaced by other bytes and back, after it may have been hashed.
    oss.part(&e.c, &t, &id, 1, &content(110 * KIB, 41)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    etags[0] = oss.part(&e.c, &t, &id, 1, chunks[0]).await;
    let parts: Vec<(u32, String)> = (1..=4).zip(etags).collect();
    let resp = oss.complete(&e.c, &t, &id, &parts, None).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        e.sim.stat("alice", "/up/order.bin").unwrap().sha1,
        sha1_hex(&data)
    );

    // Parts 1..4 uploaded in order (hashed as they come), Complete lists 1, 2 and 4.
    let picked: Vec<u8> = [chunks[0], chunks[1], chunks[3]].concat();
    let t = e.task("picked.bin", &picked).await;
    let id = oss.initiate(&e.c, &t).await;
    let mut etags = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        etags.push(oss.part(&e.c, &t, &id, i as u32 + 1, chunk).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let parts = vec![
        (1, etags[0].clone()),
        (2, etags[1].clone()),
        (4, etags[3].clone()),
    ];
    let resp = oss.complete(&e.c, &t, &id, &parts, None).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let obj = e.sim.oss_object(&t.bucket, &t.object).unwrap();
    assert_eq!(obj.sha1, sha1_hex(&picked));
    assert_eq!(
        obj.crc64,
        crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(&picked)
    );
    assert_eq!(obj.size, picked.len() as u64);
}

#[tokio::test]
async fn oss_control_paths() {
    let e = env().await;
    let base = e.sim.base_url().to_owned();
    let r = post_form(
        &e.c,
        format!("{base}/__sim/oss/settings"),
        &[("sts_lifetime_secs", "120")],
    )
    .await;
    assert_eq!(r["sts_lifetime_secs"], 120);
    assert_eq!(r["endpoint"], e.sim.oss_endpoint());
    let data = content(120 * KIB, 60);
    let t = e.task("ctl.bin", &data).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    let r = post_form(
        &e.c,
        format!("{base}/__sim/oss/faults"),
        &[("fault", "status"), ("status", "500"), ("times", "1")],
    )
    .await;
    assert_eq!(r["pending"], 1);
    let q = [("partNumber", "1"), ("uploadId", id.as_str())];
    let (s, code, _) = oss_error(oss.send(&e.c, "PUT", &t, &q, &[], data.clone()).await).await;
    assert_eq!((s, code.as_str()), (500, "InternalError"));
    let p1 = oss.part(&e.c, &t, &id, 1, &data).await;
    let r = post_form(
        &e.c,
        format!("{base}/__sim/oss/callback_failures"),
        &[("times", "1")],
    )
    .await;
    assert_eq!(r["pending"], 1);
    let resp = oss.complete(&e.c, &t, &id, &[(1, p1)], None).await;
    assert_eq!(resp.status(), 203);
    let resp =
        e.c.post(format!("{base}/__sim/oss/expire_sts"))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 204);
    let t2 = e.task("ctl2.bin", &content(10, 61)).await;
    let resp = oss
        .send(&e.c, "POST", &t2, &[("uploads", "")], &[], vec![])
        .await;
    assert_eq!(oss_error(resp).await.1, "SecurityTokenExpired");
    let stats: Value = json(e.c.get(format!("{base}/__sim/stats")).send().await.unwrap()).await;
    assert_eq!(stats["oss_callbacks_failed"], 1);
    assert_eq!(stats["oss_errors"]["SecurityTokenExpired"], 1);
}

#[tokio::test]
async fn answers_carry_the_simulated_date_so_a_skewed_client_can_correct_itself() {
    let e = env().await;
    let t = e.task("date.bin", &content(10, 70)).await;
    let mut oss = e.oss().await;
    let ahead = 20 * 60;
    e.sim.clock().advance(Duration::from_secs(ahead));
    let q = [("uploads", "")];
    let resp = oss.send(&e.c, "POST", &t, &q, &[], vec![]).await;
    let date = |resp: &reqwest::Response| {
        let value = resp.headers()["date"].to_str().unwrap();
        httpdate::parse_http_date(value).unwrap()
    };
    // The refusal's Date is the simulator's clock, 20 minutes ahead of ours.
    let server = date(&resp);
    let offset = server.duration_since(SystemTime::now()).unwrap().as_secs();
    assert!((ahead - 5..=ahead + 5).contains(&offset), "{offset}");
    assert_eq!(oss_error(resp).await.1, "RequestTimeTooSkewed");
    // Signed with that offset, the same request passes.
    oss.skew = i64::try_from(ahead).unwrap();
    let resp = oss.send(&e.c, "POST", &t, &q, &[], vec![]).await;
    assert_eq!(resp.status(), 200);
    assert!(date(&resp) >= server);
}

#[tokio::test]
async fn list_parts_pages_and_lost_complete_answers_are_controllable() {
    let e = env().await;
    let base = e.sim.base_url().to_owned();
    let parts: Vec<Vec<u8>> = (0..3u8).map(|i| content(120 * KIB, 80 + i)).collect();
    let all: Vec<u8> = parts.concat();
    let t = e.task("pages.bin", &all).await;
    let oss = e.oss().await;
    let id = oss.initiate(&e.c, &t).await;
    let mut etags = Vec::new();
    for (n, data) in (1..).zip(&parts) {
        etags.push((n, oss.part(&e.c, &t, &id, n, data).await));
    }
    let bad =
        e.c.post(format!("{base}/__sim/oss/settings"))
            .form(&[("list_parts_page_size", "0")])
            .send()
            .await
            .unwrap();
    assert_eq!(bad.status(), 400);
    let r = post_form(
        &e.c,
        format!("{base}/__sim/oss/settings"),
        &[("list_parts_page_size", "2")],
    )
    .await;
    assert_eq!(r["list_parts_page_size"], 2);
    // Without max-parts: pages of 2, then the rest.
    let list = |marker: Option<&'static str>, max: Option<&'static str>| {
        let (oss, t, id, c) = (&oss, &t, id.clone(), &e.c);
        async move {
            let mut q = vec![("uploadId", id.as_str())];
            q.extend(marker.map(|m| ("part-number-marker", m)));
            q.extend(max.map(|m| ("max-parts", m)));
            let resp = oss.send(c, "GET", t, &q, &[], vec![]).await;
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };
    let first = list(None, None).await;
    assert_eq!(tag(&first, "IsTruncated"), "true");
    assert_eq!(tag(&first, "NextPartNumberMarker"), "2");
    assert_eq!(first.matches("<Part>").count(), 2);
    let rest = list(Some("2"), None).await;
    assert_eq!(tag(&rest, "IsTruncated"), "false");
    assert_eq!(rest.matches("<Part>").count(), 1);
    // max-parts still wins.
    let whole = list(None, Some("3")).await;
    assert_eq!(whole.matches("<Part>").count(), 3);
    assert_eq!(e.sim.stats().oss_list_parts_pages, 3);

    // A lost answer: the upload is completed and the file registered, but the client
    // sees its connection dropped; completing again finds no upload.
    let r = post_form(
        &e.c,
        format!("{base}/__sim/oss/lost_complete_answers"),
        &[("times", "1")],
    )
    .await;
    assert_eq!(r["pending"], 1);
    let lost = oss
        .try_send(
            &e.c,
            "POST",
            &t.bucket,
            &t.object,
            &[("uploadId", id.as_str())],
            &[
                ("x-oss-callback", STANDARD.encode(&t.callback).as_str()),
                (
                    "x-oss-callback-var",
                    STANDARD.encode(&t.callback_var).as_str(),
                ),
            ],
            complete_body(&etags).into_bytes(),
            |_| {},
        )
        .await;
    match lost {
        Err(_) => {}
        Ok(resp) => assert!(resp.bytes().await.is_err(), "the answer was lost"),
    }
    assert_eq!(
        e.sim.stat("alice", "/up/pages.bin").map(|f| f.sha1),
        Some(sha1_hex(&all))
    );
    let again = oss.complete(&e.c, &t, &id, &etags, None).await;
    assert_eq!(oss_error(again).await.1, "NoSuchUpload");
    let stats = e.sim.stats();
    assert_eq!(
        (stats.oss_multipart_completed, stats.oss_callbacks_ok),
        (1, 1)
    );
}
