//! What an OpenList server keeps: users and settings (its database, which survives a
//! restart) and the in-memory set of valid login tokens and the per-IP login failure
//! counters (which a restart loses).
//!
//! The [`Store`] sits inside the shared core's state, behind the same lock as the
//! counters, so a handler updates both at once. All times are Unix seconds on the
//! simulated clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use super::config::{ConfigOpenList, Flavor};
use super::jwt::{self, ParseError, new_permanent_token};
use crate::token::random_string;

/// Role of an ordinary user.
pub(crate) const ROLE_GENERAL: u8 = 0;
/// Role of the guest user (no `Authorization` header).
pub(crate) const ROLE_GUEST: u8 = 1;
/// Role of the admin user.
pub(crate) const ROLE_ADMIN: u8 = 2;
/// The admin's permission bits as a fresh install creates them.
pub(crate) const ADMIN_PERMISSION: u32 = 0x71FF;
/// Permission bits of users added by tests: see hidden, no password, offline download,
/// mkdir/upload, rename, move, copy, remove (bits 0–7).
pub const USER_PERMISSION: u32 = 0xFF;

/// A user of the simulated server.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: u64,
    pub username: String,
    static_hash: String,
    pub pwd_ts: i64,
    pub base_path: String,
    pub role: u8,
    pub disabled: bool,
    pub permission: u32,
    pub otp_code: Option<String>,
}

impl User {
    pub(crate) fn can(&self, bit: u32) -> bool {
        (self.permission >> bit) & 1 == 1
    }

    pub(crate) fn info(&self) -> OpenListUser {
        OpenListUser {
            id: self.id,
            username: self.username.clone(),
            base_path: self.base_path.clone(),
            role: self.role,
            disabled: self.disabled,
            permission: self.permission,
            otp: self.otp_code.is_some(),
            pwd_ts: self.pwd_ts,
        }
    }
}

/// A user as the control API reports it (no password, no token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenListUser {
    /// The user id.
    pub id: u64,
    /// The login name.
    pub username: String,
    /// The folder the user's paths are joined to.
    pub base_path: String,
    /// 0 general, 1 guest, 2 admin.
    pub role: u8,
    /// Whether the user is disabled.
    pub disabled: bool,
    /// Permission bits (3 write, 4 rename, 5 move, 6 copy, 7 remove, …).
    pub permission: u32,
    /// Whether a 2FA code is required at login.
    pub otp: bool,
    /// The password timestamp tokens are checked against.
    pub pwd_ts: i64,
}

/// Who a request runs as.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub user: User,
}

/// A refusal in the envelope: `code`, `message`, and the counter kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: u16,
    pub message: String,
    pub kind: &'static str,
}

impl Refusal {
    fn new(code: u16, message: impl Into<String>, kind: &'static str) -> Self {
        Self {
            code,
            message: message.into(),
            kind,
        }
    }
}

/// The message of a blocked login.
pub(crate) const TOO_MANY_ATTEMPTS: &str = "Too many unsuccessful sign-in attempts have been made using an incorrect username or password, Try again later.";

#[derive(Clone, Copy, Debug)]
struct Lockout {
    count: u32,
    expires_at: Option<u64>,
}

/// The server's state.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub flavor: Flavor,
    pub users: BTreeMap<String, User>,
    next_user_id: u64,
    valid_tokens: HashSet<String>,
    jwt_secret: String,
    pub permanent_token: String,
    pub token_expires_in: Duration,
    pub sign_all: bool,
    pub link_expiration: Duration,
    pub direct_links: bool,
    pub utc_offset_minutes: i32,
    lockouts: HashMap<String, Lockout>,
    max_auth_retries: u32,
    lock_duration: Duration,
    /// Simulated restarts so far.
    pub restarts: u64,
    /// Sub-second parts of modification times, by node id (uploads with `Last-Modified`).
    pub nanos: HashMap<u64, u32>,
}

impl Store {
    /// A fresh install: `admin` (password timestamp 0, as the bootstrap leaves it) and the
    /// `guest` user.
    pub(crate) fn new(c: &ConfigOpenList) -> Self {
        let mut store = Store {
            flavor: c.flavor,
            jwt_secret: random_string(16),
            permanent_token: c
                .permanent_token
                .clone()
                .unwrap_or_else(|| new_permanent_token(c.flavor)),
            token_expires_in: c.token_expires_in,
            sign_all: c.sign_all,
            link_expiration: c.link_expiration,
            direct_links: c.direct_links,
            utc_offset_minutes: c.utc_offset_minutes,
            max_auth_retries: c.max_auth_retries,
            lock_duration: c.lock_duration,
            ..Store::default()
        };
        store.insert_user(super::ADMIN, &c.admin_password, ROLE_ADMIN, 0);
        store.insert_user(super::GUEST, "guest", ROLE_GUEST, 0);
        if let Some(guest) = store.users.get_mut(super::GUEST) {
            guest.permission = 0;
            guest.disabled = !c.guest_enabled;
        }
        store
    }

    fn insert_user(&mut self, name: &str, password: &str, role: u8, pwd_ts: i64) -> OpenListUser {
        self.next_user_id += 1;
        let permission = if role == ROLE_ADMIN {
            ADMIN_PERMISSION
        } else {
            USER_PERMISSION
        };
        let user = User {
            id: self.next_user_id,
            username: name.to_owned(),
            static_hash: jwt::static_hash(password),
            pwd_ts,
            base_path: "/".to_owned(),
            role,
            disabled: false,
            permission,
            otp_code: None,
        };
        let info = user.info();
        self.users.insert(name.to_owned(), user);
        info
    }

    /// Adds a general user, or replaces the password of an existing one.
    pub(crate) fn add_user(&mut self, name: &str, password: &str, now: u64) -> OpenListUser {
        match self.users.get_mut(name) {
            Some(user) => {
                change_password(user, password, now);
                user.info()
            }
            None => self.insert_user(name, password, ROLE_GENERAL, now as i64),
        }
    }

    /// Sets a password; the new password timestamp invalidates every token of the user.
    /// Returns `false` for an unknown user.
    pub(crate) fn set_password(&mut self, name: &str, password: &str, now: u64) -> bool {
        match self.users.get_mut(name) {
            Some(user) => {
                change_password(user, password, now);
                true
            }
            None => false,
        }
    }

    /// The user the permanent token runs as.
    pub(crate) fn admin(&self) -> Option<&User> {
        self.users.values().find(|u| u.role == ROLE_ADMIN)
    }

    /// Issues a login token to `name` and adds it to the valid set.
    pub(crate) fn issue(&mut self, name: &str, now: u64) -> Option<String> {
        let user = self.users.get(name)?;
        let token = jwt::encode(
            &self.jwt_secret,
            &user.username,
            user.pwd_ts,
            now,
            self.token_expires_in.as_secs(),
        );
        self.valid_tokens.insert(token.clone());
        Some(token)
    }

    /// `GET /api/auth/logout`: drops one token from the valid set.
    pub(crate) fn invalidate(&mut self, token: &str) -> bool {
        self.valid_tokens.remove(token)
    }

    /// Login tokens in the valid set.
    pub(crate) fn valid_token_count(&self) -> usize {
        self.valid_tokens.len()
    }

    /// A simulated restart: the in-memory token set and failure counters are lost.
    /// Returns how many tokens died.
    pub(crate) fn restart(&mut self) -> usize {
        let n = self.valid_tokens.len();
        self.valid_tokens.clear();
        self.lockouts.clear();
        self.restarts += 1;
        n
    }

    /// The failure count of `ip`, dropping a lockout whose time is up.
    fn failures(&mut self, ip: &str, now: u64) -> u32 {
        match self.lockouts.get(ip) {
            Some(l) if l.expires_at.is_some_and(|e| now >= e) => {
                self.lockouts.remove(ip);
                0
            }
            Some(l) => l.count,
            None => 0,
        }
    }

    /// `loginHash`: checks the lockout, the user, the static hash and the 2FA code.
    pub(crate) fn login(
        &mut self,
        username: &str,
        hash: &str,
        otp_code: &str,
        ip: &str,
        now: u64,
    ) -> Result<String, Refusal> {
        let count = self.failures(ip, now);
        if count >= self.max_auth_retries {
            // Each blocked attempt re-arms the lock.
            let expires_at = now.saturating_add(self.lock_duration.as_secs());
            self.lockouts.insert(
                ip.to_owned(),
                Lockout {
                    count,
                    expires_at: Some(expires_at),
                },
            );
            return Err(Refusal::new(429, TOO_MANY_ATTEMPTS, "locked"));
        }
        let v3 = self.flavor.v3_login_errors();
        let invalid = |v3_message: &str| {
            if v3 {
                Refusal::new(400, v3_message, "bad_credentials")
            } else {
                Refusal::new(401, "Invalid username or password", "bad_credentials")
            }
        };
        let outcome = match self.users.get(username) {
            None => Err(invalid("failed find user: record not found")),
            Some(_) if hash.is_empty() => Err(invalid("password is empty")),
            Some(u) if u.static_hash != hash => Err(invalid("password is incorrect")),
            Some(u) if u.otp_code.as_deref().is_some_and(|c| c != otp_code) => {
                Err(Refusal::new(402, "Invalid 2FA code", "otp"))
            }
            Some(_) => Ok(()),
        };
        match outcome {
            Err(refusal) => {
                // The counter has no expiry until the IP is blocked.
                self.lockouts.insert(
                    ip.to_owned(),
                    Lockout {
                        count: count + 1,
                        expires_at: None,
                    },
                );
                Err(refusal)
            }
            Ok(()) => {
                self.lockouts.remove(ip);
                self.issue(username, now)
                    .ok_or_else(|| Refusal::new(500, "failed to sign the token", "internal"))
            }
        }
    }

    /// `middlewares.Auth`: who the raw `Authorization` value runs as.
    pub(crate) fn authorize(&self, header: &str, now: u64) -> Result<Caller, Refusal> {
        if !self.permanent_token.is_empty() && header == self.permanent_token {
            let admin = self.admin().ok_or_else(|| {
                Refusal::new(500, "failed find user: record not found", "internal")
            })?;
            return Ok(Caller {
                user: admin.clone(),
            });
        }
        if header.is_empty() {
            let guest = self
                .users
                .values()
                .find(|u| u.role == ROLE_GUEST)
                .ok_or_else(|| {
                    Refusal::new(500, "failed find user: record not found", "internal")
                })?;
            if guest.disabled {
                return Err(Refusal::new(
                    401,
                    "Guest user is disabled, login please",
                    "guest_disabled",
                ));
            }
            return Ok(Caller {
                user: guest.clone(),
            });
        }
        // Checked before the token is even parsed: covers restarts, logouts, garbage and
        // `Bearer <token>`.
        if !self.valid_tokens.contains(header) {
            return Err(Refusal::new(401, "token is invalidated", "invalidated"));
        }
        let claims = jwt::parse(&self.jwt_secret, header, now)
            .map_err(|e: ParseError| Refusal::new(401, e.message(), e.kind()))?;
        let user = self.users.get(&claims.username).ok_or_else(|| {
            Refusal::new(401, "failed find user: record not found", "user_missing")
        })?;
        if claims.pwd_ts != user.pwd_ts {
            return Err(Refusal::new(
                401,
                "Password has been changed, login please",
                "password_changed",
            ));
        }
        if user.disabled {
            return Err(Refusal::new(
                401,
                "Current user is disabled, replace please",
                "user_disabled",
            ));
        }
        Ok(Caller { user: user.clone() })
    }

    /// The user a valid-set token was issued to, whatever else is wrong with it (for
    /// per-account counters).
    pub(crate) fn token_owner(&self, token: &str) -> Option<String> {
        if !self.valid_tokens.contains(token) {
            return None;
        }
        jwt::unverified_username(token)
    }

    /// Whether `/d` and `/p` need `?sign=` (only `sign_all`: the simulator has no metas
    /// and no per-storage signing).
    pub(crate) fn needs_sign(&self) -> bool {
        self.sign_all
    }

    /// The sign of a storage path at `now`.
    pub(crate) fn sign(&self, path: &str, now: u64) -> String {
        let expire = if self.link_expiration.is_zero() {
            0
        } else {
            now.saturating_add(self.link_expiration.as_secs()) as i64
        };
        jwt::link_sign(&self.permanent_token, path, expire)
    }

    /// `HMACSign.Verify`: `expire missing`, `expire invalid`, `sign expired`, `sign invalid`.
    pub(crate) fn verify_sign(&self, path: &str, sign: &str, now: u64) -> Result<(), &'static str> {
        let sign = sign.strip_suffix('/').unwrap_or(sign);
        let exp = sign.rsplit_once(':').map_or(sign, |(_, e)| e);
        if exp.is_empty() {
            return Err("expire missing");
        }
        let expire: i64 = exp.parse().map_err(|_| "expire invalid")?;
        if expire != 0 && expire < now as i64 {
            return Err("sign expired");
        }
        if jwt::link_sign(&self.permanent_token, path, expire) != sign {
            return Err("sign invalid");
        }
        Ok(())
    }
}

/// `User.SetPassword`: a new hash and a new password timestamp, strictly increasing so
/// two changes within one second still differ.
fn change_password(user: &mut User, password: &str, now: u64) {
    user.static_hash = jwt::static_hash(password);
    user.pwd_ts = (now as i64).max(user.pwd_ts + 1);
}
