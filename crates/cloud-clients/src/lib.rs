//! Cloud-drive clients whose access tokens keep themselves alive.
//!
//! The heart is [`TokenAccessor`]: MoviePilot's `access_token` property, made async and
//! correct when many tasks, processes and hosts share one database. A valid token is
//! served from memory; an expiring one is refreshed exactly once — per expiry, across every
//! process sharing the database — and the rotated tokens are saved (merged into the
//! storage's config, next to fields such as drive ids) before anyone uses them.
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod accessor;
mod clock;
mod error;
mod http;
mod provider;
mod secret;
mod state;
mod tokens;
mod util;

pub use accessor::{AccessorOptions, LEASE_MEMBER, TokenAccessor};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use http::{HttpClient, HttpOptions};
pub use provider::{Grant, RefreshFailure, TokenProvider};
pub use secret::{AccessToken, ClientSecret, RefreshToken};
pub use state::TokenState;
pub use tokens::ExpiryMargin;
