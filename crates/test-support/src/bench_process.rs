//! The process side of benchmarks: the memory this process uses, sampled while work runs,
//! and a server (a simulator) run in a child process so that its memory and CPU are not
//! counted as the subject's.
//!
//! The child is the benchmark binary itself, started again with an environment variable
//! set: its `main` checks [`ChildServer::is_child`], builds its server, calls
//! [`ChildServer::serve`] with a JSON hello (URLs, tokens) and serves until the parent
//! closes its stdin. The parent holds a [`ChildServer`], which reads that hello and stops
//! the child when dropped.

use std::io::{BufRead as _, Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes; 0 where unreadable.
pub fn status_bytes(field: &str) -> u64 {
    status_field(
        &std::fs::read_to_string("/proc/self/status").unwrap_or_default(),
        field,
    )
}

fn status_field(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
        * 1024
}

/// What [`peak_rss_growth`] saw.
#[derive(Debug, Clone, Copy)]
pub struct RssPeak {
    /// The highest `VmRSS` sampled, less the `VmRSS` just before.
    pub growth: u64,
    /// Bytes the sampler read from `/proc` (to take out of this process's `rchar`).
    pub sampler_read: u64,
}

/// Runs `f` while a thread samples `VmRSS` every millisecond (and once more after `f`);
/// returns `f`'s result and the peak growth.
pub fn peak_rss_growth<T>(f: impl FnOnce() -> T) -> (T, RssPeak) {
    let before = status_bytes("VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let (mut peak, mut read) = (0, 0);
            loop {
                let done = stop.load(Ordering::Relaxed);
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                peak = u64::max(peak, status_field(&status, "VmRSS"));
                read += status.len() as u64;
                if done {
                    return (peak, read);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let value = f();
    stop.store(true, Ordering::Relaxed);
    let (peak, sampler_read) = sampler.join().unwrap_or((0, 0));
    let growth = peak.saturating_sub(before);
    (
        value,
        RssPeak {
            growth,
            sampler_read,
        },
    )
}

/// A server running in a child copy of this benchmark; stopped when dropped.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    /// The JSON the child announced (its URLs, tokens …).
    pub hello: Value,
}

impl ChildServer {
    /// Whether this process is the child started by [`ChildServer::spawn`] with `env`.
    pub fn is_child(env: &str) -> bool {
        std::env::var_os(env).is_some()
    }

    /// Starts this executable again with `env` set and waits for its hello line.
    pub fn spawn(env: &str) -> anyhow::Result<ChildServer> {
        let mut child = Command::new(std::env::current_exe()?)
            .env(env, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        let hello = serde_json::from_str(&line).context("the child server did not start")?;
        Ok(ChildServer { child, hello })
    }

    /// A string field of the hello ("" when absent).
    pub fn text(&self, key: &str) -> String {
        self.hello[key].as_str().unwrap_or_default().to_owned()
    }

    /// In the child: announces `hello` on stdout, then returns once the parent closed stdin
    /// (it is done, or gone). Serve from other tasks meanwhile.
    pub async fn serve(hello: &Value) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{hello}")?;
        stdout.flush()?;
        drop(stdout);
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
        Ok(())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
