//! SIGINT and SIGTERM in every command: stop starting new work, let a token refresh under
//! way finish and save (it runs in a task the token core owns, so dropping the command
//! does not tear it), then exit 130 (SIGINT) or 143 (SIGTERM).
//!
//! The wait is bounded by [`FLUSH_TIMEOUT`], longer than the HTTP client's 30 s request
//! timeout, so a refresh request already sent is answered (or times out) and saved before
//! the process exits. A second signal exits at once; tokens the provider already handed
//! out are then in a rescue file that the next run saves.

use std::time::Duration;

use anyhow::Result;
use cloud_clients::Flushed;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::context::Context;
use crate::output::note;

/// How long an interrupted command waits for a refresh under way.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(40);

/// The command was stopped by a signal.
#[derive(Debug, thiserror::Error)]
#[error("{verb} by {name}")]
pub struct Interrupted {
    /// `cancelled` (SIGINT) or `stopped` (SIGTERM).
    pub verb: &'static str,
    /// `SIGINT` or `SIGTERM`.
    pub name: &'static str,
    /// The exit code (128 + the signal number).
    pub code: u8,
}

/// The signals a command listens to, installed before any work starts.
pub struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    /// Installs the handlers (from now on the signals no longer kill the process).
    pub fn install() -> Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Interrupted {
        tokio::select! {
            _ = self.int.recv() => Interrupted { verb: "cancelled", name: "SIGINT", code: 130 },
            _ = self.term.recv() => Interrupted { verb: "stopped", name: "SIGTERM", code: 143 },
        }
    }

    /// After `signal` stopped the command: waits for the refreshes of every drive the
    /// command opened to finish and save (bounded), and says what happened to tokens that
    /// could not be saved.
    pub async fn wind_down(&mut self, ctx: &Context, signal: Interrupted) -> anyhow::Error {
        let flush = async {
            for accessor in ctx.accessors() {
                match accessor.flush(FLUSH_TIMEOUT).await {
                    Flushed::Clean | Flushed::Saved => {}
                    Flushed::Rescued(path) => note(format!(
                        "{}: new tokens could not be saved to the database; kept in {} and saved by the next run",
                        accessor.storage(),
                        path.display()
                    )),
                    Flushed::StillRefreshing => note(format!(
                        "{}: a token refresh did not finish within {}s",
                        accessor.storage(),
                        FLUSH_TIMEOUT.as_secs()
                    )),
                    _ => {}
                }
            }
        };
        tokio::select! {
            () = flush => {}
            again = self.recv() => note(format!("{}: exiting without waiting", again.name)),
        }
        signal.into()
    }
}
