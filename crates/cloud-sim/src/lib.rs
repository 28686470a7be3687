//! Loopback simulators of the 115 and alipan (Aliyun Drive) Open APIs and of an
//! OpenList / AList server, and of the Aliyun OSS service that 115 uploads go to.
//!
//! Each simulator is an in-process HTTP server on `127.0.0.1` that answers the provider's
//! login, token and file endpoints the way the provider documents them (rotating single-use
//! refresh tokens, OpenList's in-memory login tokens, provider error codes, rate limits),
//! plus a control surface — the [`SimHandle`] and the HTTP paths under `/__sim/` — that
//! tests use to confirm QR logins, restart a server, advance the clock, inject faults and
//! read counters. See the crate's `README.md`.

mod alipan;
mod clock;
mod config;
mod control;
mod core;
mod error;
mod fault;
mod handle;
mod input;
mod openlist;
mod oss;
mod pkce;
mod server;
mod stats;
mod token;
mod transfer;
mod tree;
mod u115;
mod util;

pub use clock::SimClock;
pub use config::{Config115, ConfigAlipan, RateLimitStyle115};
pub use error::{Error, Result};
pub use fault::{Fault, Malformed, RateLimitAnswer};
pub use handle::{QrLoginProvider, Sim115, Sim115Handle, SimAlipan, SimAlipanHandle, SimHandle};
pub use openlist::{
    ConfigOpenList, Flavor, OpenListUser, SimOpenList, SimOpenListHandle, USER_PERMISSION,
};
pub use oss::OssPartFault;
pub use oss::control::OssObjectInfo;
pub use stats::{AccountStats, RequestTiming, Stats};
pub use token::{AccountInfo, DriveKind, QrInfo, QrState, TokenPair};
pub use tree::{EntryInfo, SimFile};

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
