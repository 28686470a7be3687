//! Integration tests of the token lifecycle against the 115 simulator, on a SQLite file and
//! (when configured, mandatory in CI) a real PostgreSQL server.

mod alipan;
mod alist;
mod alist_processes;
mod alist_upload;
mod authed;
mod common;
mod conformance;
mod durability;
mod failures;
mod keepalive;
mod kill;
mod metrics;
mod multiprocess;
mod registry;
mod secrets;
mod single_flight;
mod transfers;
mod u115;
mod u115_upload;
