//! Integration tests of the simulators, driven with a plain HTTP client.

mod alipan_files;
mod alipan_login;
mod alipan_upload;
mod binary;
mod common;
mod control;
mod faults;
mod openlist_common;
mod openlist_control;
mod openlist_files;
mod openlist_login;
mod openlist_transfer;
mod rate_limits;
mod transfers;
mod u115_files;
mod u115_login;
mod u115_tokens;
mod u115_upload;
