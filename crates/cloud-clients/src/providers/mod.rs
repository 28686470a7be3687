//! One folder per provider. A provider contributes only its protocol: endpoints, request
//! and answer types, and one classifier from its error envelope to a
//! [`Failure`](crate::transport::Failure). Everything else (auth header, rate limit,
//! retries, "token rejected → refresh once → retry") is the [`transport`](crate::transport).

pub mod alipan;
pub mod alist;
pub mod u115;
