//! Running `cloudctl serve` as an OS process for the tests in `serve.rs`: its address read
//! from its first lines, its standard error collected (to look for secrets), SIGTERM and
//! SIGKILL, and a few HTTP helpers.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A running `cloudctl serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The one-time console token printed at start.
    pub one_time: String,
    stderr: Arc<Mutex<String>>,
}

/// Starts `cloudctl -v serve --listen 127.0.0.1:0` on `db` with the given `--endpoint`s.
pub fn start(db: &str, endpoints: &[String]) -> Result<Server> {
    start_on(db, endpoints, "127.0.0.1:0")
}

/// Starts `cloudctl -v serve --listen ADDR`.
pub fn start_on(db: &str, endpoints: &[String], listen: &str) -> Result<Server> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudctl"));
    cmd.arg("--database-url")
        .arg(db)
        .env_remove("DATABASE_URL")
        .env_remove("CLOUDCTL_ENDPOINTS")
        .env_remove("CLOUDCTL_LOG");
    for endpoint in endpoints {
        cmd.arg("--endpoint").arg(endpoint);
    }
    let mut child = cmd
        .args(["-v", "serve", "--listen", listen])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = Arc::new(Mutex::new(String::new()));
    {
        let mut pipe = child.stderr.take().context("stderr")?;
        let stderr = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut text) = stderr.lock() {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
    }
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut base = None;
    let mut one_time = None;
    while base.is_none() || one_time.is_none() {
        let Some(line) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            let text = stderr.lock().map(|s| s.clone()).unwrap_or_default();
            bail!("serve ended before listening: {text}");
        };
        let line = line?;
        if let Some(url) = line.strip_prefix("listening on ") {
            base = Some(url.trim().to_owned());
        } else if let Some((_, token)) = line.split_once("#one_time=") {
            one_time = Some(token.trim().to_owned());
        }
    }
    // Keep the pipe drained.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    Ok(Server {
        child: Some(child),
        base: base.unwrap_or_default(),
        one_time: one_time.unwrap_or_default(),
        stderr,
    })
}

impl Server {
    /// `base` + `/api/v1` + `path`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Everything written to standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let pid = self.child.as_ref().context("running")?.id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -{signal} failed");
        Ok(())
    }

    /// Sends SIGTERM and waits (bounded) for the exit code.
    pub async fn terminate(mut self) -> Result<(Option<i32>, String)> {
        self.signal("TERM")?;
        let mut child = self.child.take().context("running")?;
        let status = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || child.wait()),
        )
        .await
        .context("serve did not exit within 60 s of SIGTERM")???;
        // Let the reader thread take the last bytes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok((status.code(), self.stderr()))
    }

    /// SIGKILL, no clean-up at all.
    pub fn kill(mut self) -> Result<String> {
        self.signal("KILL")?;
        if let Some(mut child) = self.child.take() {
            child.wait()?;
        }
        Ok(self.stderr())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `cloudctl serve --new-key NAME` on `db`: the key printed.
pub fn new_key(db: &str, name: &str) -> Result<String> {
    let out = crate::ok(crate::cloudctl(db, None, &["serve", "--new-key", name]));
    let key = out.trim().to_owned();
    anyhow::ensure!(key.starts_with("dk_") && key.len() == 67, "{key}");
    Ok(key)
}

/// An HTTP client (loopback; no TLS, but the rule is to install the provider first).
pub fn client() -> Result<reqwest::Client> {
    cloud_clients::install_crypto_provider();
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// GET `url` with `key`: status and body text.
pub async fn get(http: &reqwest::Client, url: &str, key: Option<&str>) -> Result<(u16, String)> {
    let mut request = http.get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await?;
    Ok((response.status().as_u16(), response.text().await?))
}

/// POST `url` with `key` and a JSON body: status and body text.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: serde_json::Value,
) -> Result<(u16, String)> {
    let response = http.post(url).bearer_auth(key).json(&body).send().await?;
    Ok((response.status().as_u16(), response.text().await?))
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let end = tokio::time::Instant::now() + limit;
    loop {
        if check().await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() > end {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts `body` is exactly an error object of `kind`.
pub fn assert_error_only(body: &str, kind: &str) -> Result<()> {
    let value: serde_json::Value = serde_json::from_str(body)?;
    let object = value.as_object().context("an object")?;
    anyhow::ensure!(object.len() == 1, "more than the error: {body}");
    let error = object
        .get("error")
        .and_then(|e| e.as_object())
        .context("error")?;
    anyhow::ensure!(error.len() == 2 && error["kind"] == kind, "{body}");
    Ok(())
}

/// Stores a login of `account` in `url`'s `u115` storage, whose token was issued `age`
/// ago with lifetime `lifetime` (so it falls due at `lifetime / 2 - age`).
pub async fn logged_in_with(
    url: &str,
    sim: &cloud_sim::Sim115Handle,
    lifetime: u64,
    age: u64,
) -> Result<cloud_sim::TokenPair> {
    let pair = sim.login(crate::ACCOUNT);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    storage_helper::StorageHelper::new(system_config::SystemConfig::open(url).await?)
        .handle("u115")
        .patch(serde_json::json!({
            "access_token": pair.access_token, "refresh_token": pair.refresh_token,
            "expires_in": lifetime, "refresh_time": now - age, "client_id": crate::APP_ID,
        }))
        .await?;
    Ok(pair)
}
