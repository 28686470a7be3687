//! A small benchmark harness that measures a subject next to its baseline in the same run
//! and reports the ratio, which is what the project's targets are stated in.
//!
//! Rounds alternate subject and baseline so both see the same machine state; the reported
//! figure per side is the median of the rounds' per-iteration times.

use std::time::{Duration, Instant};

/// One subject/baseline comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What is measured.
    pub name: String,
    /// Median time per iteration of the subject.
    pub subject: Duration,
    /// Median time per iteration of the baseline.
    pub baseline: Duration,
    /// The target ratio, if there is one.
    pub target: Option<f64>,
}

impl Comparison {
    /// subject / baseline.
    pub fn ratio(&self) -> f64 {
        self.subject.as_secs_f64() / self.baseline.as_secs_f64().max(1e-12)
    }

    /// One line for the report.
    pub fn line(&self) -> String {
        let target = match self.target {
            Some(t) => format!(
                " (target ≤ {t}×: {})",
                if self.ratio() <= t { "met" } else { "MISSED" }
            ),
            None => String::new(),
        };
        format!(
            "{:<58} {:>12} vs baseline {:>12}  ratio {:>5.2}×{target}",
            self.name,
            fmt(self.subject),
            fmt(self.baseline),
            self.ratio()
        )
    }
}

/// Formats a per-iteration time with a fitting unit.
pub fn fmt(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// Times synchronous closures: `rounds` rounds of `iters` iterations each.
pub fn compare_sync(
    name: &str,
    target: Option<f64>,
    rounds: usize,
    iters: u32,
    mut subject: impl FnMut(),
    mut baseline: impl FnMut(),
) -> Comparison {
    let (mut s, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..iters {
            subject();
        }
        s.push(t.elapsed() / iters);
        let t = Instant::now();
        for _ in 0..iters {
            baseline();
        }
        b.push(t.elapsed() / iters);
    }
    Comparison {
        name: name.to_owned(),
        subject: median(s),
        baseline: median(b),
        target,
    }
}

/// Times async closures the same way (awaited one after the other).
pub async fn compare_async<S, SF, B, BF>(
    name: &str,
    target: Option<f64>,
    rounds: usize,
    iters: u32,
    mut subject: S,
    mut baseline: B,
) -> Comparison
where
    S: FnMut(u32) -> SF,
    SF: Future<Output = ()>,
    B: FnMut(u32) -> BF,
    BF: Future<Output = ()>,
{
    let (mut s, mut b) = (Vec::new(), Vec::new());
    let mut n = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..iters {
            n += 1;
            subject(n).await;
        }
        s.push(t.elapsed() / iters);
        let t = Instant::now();
        for _ in 0..iters {
            n += 1;
            baseline(n).await;
        }
        b.push(t.elapsed() / iters);
    }
    Comparison {
        name: name.to_owned(),
        subject: median(s),
        baseline: median(b),
        target,
    }
}

/// Prints a report header and every comparison.
#[allow(clippy::print_stdout)]
pub fn report(title: &str, comparisons: &[Comparison]) {
    println!("\n== {title} ==");
    for c in comparisons {
        println!("{}", c.line());
    }
}

/// The benchmarks' runtime: multi-threaded with two workers (the machine's cores).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Polls a future that must be ready at once (the token hot path never waits); panics
/// when it is not, which ends the benchmark with the reason.
pub fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the hot path must not wait"),
    }
}

/// The median of `samples` (the upper one of an even count); `samples` must not be empty.
pub fn median<T: Ord + Copy>(mut samples: Vec<T>) -> T {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// `bytes` in MiB, two decimals (`"32.01 MiB"`).
pub fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / (1u64 << 20) as f64;
    format!("{mib:.2} MiB")
}

/// Throughput of `bytes` in `time`, whole MiB/s (`"1076 MiB/s"`).
pub fn mib_per_s(bytes: u64, time: Duration) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / (1u64 << 20) as f64;
    format!("{:.0} MiB/s", mib / time.as_secs_f64().max(1e-9))
}

/// Runs a baseline tool (`curl`, `openssl`, …) with its stdout captured and its stderr
/// shown; a non-zero exit is an error.
pub fn run(command: &mut std::process::Command) -> anyhow::Result<String> {
    let output = command.stderr(std::process::Stdio::inherit()).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        output.status
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
