//! Starting the OpenList simulator ([`SimOpenList::start`]) and the handle methods only
//! it has: users and passwords, restarts, the permanent token, server settings.
//!
//! The methods every simulator has (base URL, clock, faults, counters, files) come from
//! [`SimHandle`]. Files: every user sees the one storage, so the `account` argument of
//! `add_file`, `add_folder`, `stat` and `list` only names an existing user and the paths
//! are storage paths (not joined with the user's base path).

use std::net::SocketAddr;
use std::time::Duration;

use super::config::ConfigOpenList;
use super::jwt::new_permanent_token;
use super::state::{OpenListUser, Store};
use super::{ADMIN, GUEST, router};
use crate::config::Settings;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::handle::{SimHandle, start_with};

/// The OpenList / AList simulator. Start one with [`SimOpenList::start`].
#[derive(Debug)]
pub enum SimOpenList {}

/// Handle on a running OpenList simulator.
pub type SimOpenListHandle = SimHandle<SimOpenList>;

impl SimOpenList {
    /// Starts an OpenList simulator on `127.0.0.1` with an ephemeral port, as a fresh
    /// install: the `admin` user with [`ConfigOpenList::admin_password`], a disabled
    /// `guest`, a permanent token, and an empty storage at `/`.
    pub async fn start(config: ConfigOpenList) -> Result<SimOpenListHandle> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts an OpenList simulator on a given address.
    pub async fn start_on(addr: SocketAddr, config: ConfigOpenList) -> Result<SimOpenListHandle> {
        let settings = Settings::from(&config);
        start_with(addr, settings, router(), move |core| {
            core.create_account(ADMIN);
            core.state.lock().openlist = Store::new(&config);
        })
        .await
    }
}

/// Adds a general user (full file permissions, base path `/`), or sets the password of
/// an existing one.
pub(super) fn add_user(core: &Core, name: &str, password: &str) -> OpenListUser {
    core.create_account(name);
    let now = core.now_unix();
    core.state.lock().openlist.add_user(name, password, now)
}

/// Issues a login token to `name` as a successful login would (counted as a token
/// exchange, not as a login call).
pub(super) fn issue_token(core: &Core, name: &str) -> Result<String> {
    let now = core.now_unix();
    let mut st = core.state.lock();
    let token = st
        .openlist
        .issue(name, now)
        .ok_or_else(|| Error::UnknownUser(name.to_owned()))?;
    st.stats.account_mut(name).token_exchanges += 1;
    Ok(token)
}

impl SimHandle<SimOpenList> {
    fn with_user<R>(&self, name: &str, f: impl FnOnce(&mut super::state::User) -> R) -> Result<R> {
        let mut st = self.core.state.lock();
        let user = st
            .openlist
            .users
            .get_mut(name)
            .ok_or_else(|| Error::UnknownUser(name.to_owned()))?;
        Ok(f(user))
    }

    // ----- users ----------------------------------------------------------------------

    /// Adds a general user with full file permissions and base path `/` (or sets the
    /// password of an existing one, which invalidates its tokens).
    pub fn add_user(&self, name: &str, password: &str) -> OpenListUser {
        add_user(&self.core, name, password)
    }

    /// Changes a password, as the admin UI does: a new password timestamp, so every
    /// token of the user is answered `Password has been changed, login please`.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let now = self.core.now_unix();
        if self
            .core
            .state
            .lock()
            .openlist
            .set_password(name, password, now)
        {
            Ok(())
        } else {
            Err(Error::UnknownUser(name.to_owned()))
        }
    }

    /// Sets the folder a user's paths are joined to.
    pub fn set_base_path(&self, name: &str, base_path: &str) -> Result<()> {
        let base = super::bind::fix_and_clean(base_path);
        self.with_user(name, |u| u.base_path = base)
    }

    /// Sets a user's permission bits (3 mkdir/upload, 4 rename, 5 move, 6 copy, 7 remove).
    pub fn set_permission(&self, name: &str, bits: u32) -> Result<()> {
        self.with_user(name, |u| u.permission = bits)
    }

    /// Disables or enables a user: its tokens get `Current user is disabled, replace
    /// please` (it can still log in, as on the real server).
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        self.with_user(name, |u| u.disabled = disabled)
    }

    /// Requires this 2FA code at login (`None` turns 2FA off). The simulator checks the
    /// code literally instead of a TOTP.
    pub fn set_otp(&self, name: &str, code: Option<&str>) -> Result<()> {
        let code = code.map(str::to_owned);
        self.with_user(name, |u| u.otp_code = code)
    }

    /// Deletes a user: its tokens get `failed find user: record not found`.
    pub fn remove_user(&self, name: &str) -> Result<()> {
        match self.core.state.lock().openlist.users.remove(name) {
            Some(_) => Ok(()),
            None => Err(Error::UnknownUser(name.to_owned())),
        }
    }

    /// One user.
    pub fn user(&self, name: &str) -> Option<OpenListUser> {
        self.core
            .state
            .lock()
            .openlist
            .users
            .get(name)
            .map(|u| u.info())
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<OpenListUser> {
        let st = self.core.state.lock();
        st.openlist.users.values().map(|u| u.info()).collect()
    }

    /// Enables or disables the guest user (requests without `Authorization`).
    pub fn set_guest_enabled(&self, enabled: bool) {
        let _ = self.with_user(GUEST, |u| u.disabled = !enabled);
    }

    // ----- sessions -------------------------------------------------------------------

    /// Simulates a server restart: the in-memory token set and the login failure
    /// counters are lost, so every login token is answered `token is invalidated`.
    /// Users, settings and the permanent token survive. Returns the tokens that died.
    pub fn restart(&self) -> usize {
        self.core.state.lock().openlist.restart()
    }

    /// Issues a login token to `name` directly, as if it had just logged in.
    pub fn issue_token(&self, name: &str) -> Result<String> {
        issue_token(&self.core, name)
    }

    /// Drops one token from the valid set, as `GET /api/auth/logout` does.
    pub fn invalidate_token(&self, token: &str) -> bool {
        self.core.state.lock().openlist.invalidate(token)
    }

    /// Login tokens the server currently accepts (before expiry checks).
    pub fn valid_tokens(&self) -> usize {
        self.core.state.lock().openlist.valid_token_count()
    }

    /// The permanent token (settings → other → token): runs as admin, never expires.
    pub fn permanent_token(&self) -> String {
        self.core.state.lock().openlist.permanent_token.clone()
    }

    /// Replaces the permanent token (as `/api/admin/setting/reset_token` does); every
    /// link sign changes with it. Returns the new token.
    pub fn reset_permanent_token(&self) -> String {
        let mut st = self.core.state.lock();
        let token = new_permanent_token(st.openlist.flavor);
        st.openlist.permanent_token = token.clone();
        token
    }

    // ----- settings -------------------------------------------------------------------

    /// Sets the lifetime of tokens issued from now on (`token_expires_in`).
    pub fn set_token_expires_in(&self, lifetime: Duration) {
        self.core.state.lock().openlist.token_expires_in = lifetime;
    }

    /// Turns the `sign_all` setting on or off.
    pub fn set_sign_all(&self, on: bool) {
        self.core.state.lock().openlist.sign_all = on;
    }

    /// Sets `link_expiration` (zero: signs never expire).
    pub fn set_link_expiration(&self, lifetime: Duration) {
        self.core.state.lock().openlist.link_expiration = lifetime;
    }

    /// Switches the storage between proxied (Local-like) and direct links.
    pub fn set_direct_links(&self, on: bool) {
        self.core.state.lock().openlist.direct_links = on;
    }

    /// The sign the server would give a storage path now.
    pub fn sign(&self, path: &str) -> String {
        let now = self.core.now_unix();
        let path = super::bind::fix_and_clean(path);
        self.core.state.lock().openlist.sign(&path, now)
    }
}
