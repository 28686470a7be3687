//! Login, logout, `/api/me`, the permanent-token reset, and the `Authorization` check
//! every authenticated route runs first (`middlewares.Auth`).
//!
//! The header is read raw: no `Bearer` scheme is stripped, so `Bearer <token>` is not in
//! the valid set and gets `token is invalidated`, like a garbage value or a token from
//! before a restart.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::bind::bind;
use super::jwt::new_permanent_token;
use super::state::{Caller, ROLE_ADMIN};
use super::{fail, ok, record_ignored};
use crate::config::Provider;
use crate::core::Core;
use crate::fault::RateLimitAnswer;
use crate::input::Input;
use crate::server::{ConnInfo, rate_limit_answer};

/// The raw `Authorization` header ("" when absent).
pub(super) fn raw_authorization(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .unwrap_or_default()
}

/// Runs the `Authorization` check: the caller, or the `code:401` envelope. Counts the
/// request for the user, the rejection by kind, and applies the per-user rate limit.
pub(super) fn authenticate(core: &Core, headers: &HeaderMap) -> Result<Caller, Response> {
    let token = raw_authorization(headers);
    let now = core.now_unix();
    let mut st = core.state.lock();
    match st.openlist.authorize(&token, now) {
        Err(refusal) => {
            *st.stats
                .token_rejections
                .entry(refusal.kind.to_owned())
                .or_insert(0) += 1;
            if let Some(owner) = st.openlist.token_owner(&token) {
                st.stats.account_mut(&owner).expired_access += 1;
            }
            Err(fail(refusal.code, &refusal.message))
        }
        Ok(caller) => {
            st.stats.account_mut(&caller.user.username).requests += 1;
            if let Some(reset_secs) = core.check_rate(&mut st, &caller.user.username) {
                return Err(rate_limit_answer(
                    Provider::OpenList,
                    RateLimitAnswer::Http429 { reset_secs },
                ));
            }
            Ok(caller)
        }
    }
}

/// gin's `ClientIP()` with every proxy trusted (OpenList never narrows them): the first
/// address of `X-Forwarded-For`, else `X-Real-IP`, else the peer.
fn client_ip(headers: &HeaderMap, peer: IpAddr) -> String {
    for name in ["x-forwarded-for", "x-real-ip"] {
        let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let items: Vec<&str> = value.split(',').map(str::trim).collect();
        if items.iter().all(|ip| ip.parse::<IpAddr>().is_ok())
            && let Some(first) = items.first()
        {
            return (*first).to_owned();
        }
    }
    peer.to_string()
}

/// `POST /api/auth/login` (deprecated but routed): the server hashes the password.
pub(super) async fn login(
    State(core): State<Arc<Core>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    input: Input,
) -> Response {
    do_login(&core, &conn, &input, false, "/api/auth/login")
}

/// `POST /api/auth/login/hash`: the client sends `sha256(password + "-" + salt)`.
pub(super) async fn login_hash(
    State(core): State<Arc<Core>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    input: Input,
) -> Response {
    do_login(&core, &conn, &input, true, "/api/auth/login/hash")
}

fn do_login(core: &Core, conn: &ConnInfo, input: &Input, hashed: bool, path: &str) -> Response {
    let ip = client_ip(&input.headers, conn.peer.ip());
    let fields = bind(input, &Method::POST, "LoginReq").and_then(|b| {
        record_ignored(core, path, b.unknown(&["username", "password", "otp_code"]));
        Ok((
            b.string("username")?,
            b.string("password")?,
            b.string("otp_code")?,
        ))
    });
    let now = core.now_unix();
    let mut st = core.state.lock();
    st.stats.login_calls += 1;
    let (username, password, otp) = match fields {
        Ok((u, _, _)) if u.is_empty() => {
            st.stats.logins_failed += 1;
            return fail(
                400,
                "Key: 'LoginReq.Username' Error:Field validation for 'Username' failed on the 'required' tag",
            );
        }
        Ok(fields) => fields,
        Err(message) => {
            st.stats.logins_failed += 1;
            return fail(400, &message);
        }
    };
    let hash = if hashed {
        password
    } else {
        super::jwt::static_hash(&password)
    };
    let known = st.openlist.users.contains_key(&username);
    match st.openlist.login(&username, &hash, &otp, &ip, now) {
        Ok(token) => {
            st.stats.logins_ok += 1;
            st.stats.account_mut(&username).token_exchanges += 1;
            ok(json!({"token": token}))
        }
        Err(refusal) => {
            st.stats.logins_failed += 1;
            if refusal.code == 429 {
                st.stats.rate_limited += 1;
            }
            if known {
                st.stats.account_mut(&username).logins_failed += 1;
            }
            fail(refusal.code, &refusal.message)
        }
    }
}

/// `GET /api/auth/logout`: drops the presented token from the valid set.
pub(super) async fn logout(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    if let Err(answer) = authenticate(&core, &headers) {
        return answer;
    }
    let token = raw_authorization(&headers);
    core.state.lock().openlist.invalidate(&token);
    ok(Value::Null)
}

/// `GET /api/me`: the caller's user record, the cheapest validity probe.
pub(super) async fn me(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&core, &headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let u = caller.user;
    ok(json!({
        "id": u.id,
        "username": u.username,
        "password": "",
        "base_path": u.base_path,
        "role": u.role,
        "disabled": u.disabled,
        "permission": u.permission,
        "sso_id": "",
        "allow_ldap": true,
        "otp": u.otp_code.is_some(),
    }))
}

/// `/api/public/settings` (no auth): a few public settings, including `version`.
pub(super) async fn public_settings(State(core): State<Arc<Core>>) -> Response {
    let flavor = core.state.lock().openlist.flavor;
    let title = if flavor.is_alist() {
        "AList"
    } else {
        "OpenList"
    };
    ok(json!({
        "title": title,
        "version": flavor.version(),
        "allow_indexed": "false",
        "allow_mounted": "true",
        "announcement": "",
        "sso_login_enabled": false,
    }))
}

/// `POST /api/admin/setting/reset_token` (admin): a new permanent token, which also
/// re-keys every link sign.
pub(super) async fn reset_token(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&core, &headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    if caller.user.role != ROLE_ADMIN {
        return fail(403, "You are not an admin");
    }
    let mut st = core.state.lock();
    let token = new_permanent_token(st.openlist.flavor);
    st.openlist.permanent_token = token.clone();
    ok(Value::String(token))
}
