//! [`AlipanClient`]: an alipan drive whose login keeps itself alive.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Map, Value};
use storage_helper::StorageHelper;

use super::api::Empty;
use super::error::name_drive;
use super::{
    AlipanEndpoints, AlipanProtocol, AlipanProvider, DRIVE_FIELDS, config_text, credentials,
};
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::provider::Grant;
use crate::secret::{AccessToken, ClientSecret};
use crate::storage::LoginStatus;
use crate::token::{AccessorOptions, TokenAccessor};
use crate::transport::{Transport, setup};

/// The PKCE challenge method of a QR login without client secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PkceMethod {
    /// `code_challenge = base64url(SHA-256(verifier))`, no padding. Preferred.
    #[default]
    S256,
    /// `code_challenge = verifier`.
    Plain,
}

impl PkceMethod {
    /// The name alipan uses (`S256`, `plain`).
    pub fn as_str(self) -> &'static str {
        match self {
            PkceMethod::S256 => "S256",
            PkceMethod::Plain => "plain",
        }
    }
}

/// Which of the account's drives a [`AlipanClient`] works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlipanDrive {
    /// MoviePilot's choice: `resource_drive_id`, else `backup_drive_id`, else
    /// `default_drive_id` — the resource drive ("资源库") when the account has one.
    #[default]
    Auto,
    /// The resource drive (`resource_drive_id`).
    Resource,
    /// The backup drive (`backup_drive_id`).
    Backup,
    /// The default drive (`default_drive_id`).
    Default,
}

impl AlipanDrive {
    /// The config fields tried, in order.
    pub(crate) fn fields(self) -> &'static [&'static str] {
        match self {
            AlipanDrive::Auto => &["resource_drive_id", "backup_drive_id", "default_drive_id"],
            AlipanDrive::Resource => &["resource_drive_id"],
            AlipanDrive::Backup => &["backup_drive_id"],
            AlipanDrive::Default => &["default_drive_id"],
        }
    }
}

crate::registry::registration!(
    "alipan",
    "Aliyun Drive (alipan)",
    AlipanOptions,
    AlipanClient
);

/// How an [`AlipanClient`] is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AlipanOptions {
    /// The storage type in `Storages` (default `alipan`).
    pub storage: String,
    /// Where the Open Platform is.
    pub endpoints: AlipanEndpoints,
    /// The application's client id from the alipan Open Platform. When `None`, the storage
    /// config's `client_id` is used. No client id is built in.
    pub client_id: Option<String>,
    /// The application's client secret, if it has one. When `None`, the storage config's
    /// `client_secret` is used. With a secret, QR logins use the secret (and get a refresh
    /// token); without one they use PKCE and get a 30-day access token only.
    pub client_secret: Option<ClientSecret>,
    /// The PKCE method of a login without client secret. Default `S256`.
    pub pkce_method: PkceMethod,
    /// The scopes a QR login asks for. Default `user:base`, `file:all:read`,
    /// `file:all:write`.
    pub scopes: Vec<String>,
    /// Which drive the file operations work on. Default [`AlipanDrive::Auto`].
    pub drive: AlipanDrive,
    /// Client-side limit on resource requests per second, so the account is not
    /// throttled. Default 5.
    pub requests_per_second: f64,
    /// How often a rate-limited resource request is retried after waiting. Default 2.
    pub rate_limit_retries: u32,
    /// The longest wait before such a retry. Default 10 s.
    pub max_rate_limit_wait: Duration,
    /// Entries per listing page (alipan allows up to 100). Default 100.
    pub page_size: u32,
    /// How often `poll_qr_login` asks for the QR status (alipan has no long-poll).
    /// Default 1 s.
    pub qr_poll_interval: Duration,
    /// Token lifecycle tuning.
    pub accessor: AccessorOptions,
}

impl Default for AlipanOptions {
    fn default() -> Self {
        Self {
            storage: "alipan".into(),
            endpoints: AlipanEndpoints::default(),
            client_id: None,
            client_secret: None,
            pkce_method: PkceMethod::S256,
            scopes: ["user:base", "file:all:read", "file:all:write"]
                .map(str::to_owned)
                .to_vec(),
            drive: AlipanDrive::Auto,
            requests_per_second: 5.0,
            rate_limit_retries: 2,
            max_rate_limit_wait: Duration::from_secs(10),
            page_size: 100,
            qr_poll_interval: Duration::from_secs(1),
            accessor: AccessorOptions::default(),
        }
    }
}

impl AlipanOptions {
    crate::transport::shared_options!(AlipanEndpoints::at);

    crate::transport::setters! {
        /// Sets the client secret (QR logins then use it instead of PKCE).
        client_secret: ClientSecret,
        /// Sets the PKCE method.
        pkce_method: PkceMethod,
        /// Sets the drive the file operations work on.
        drive: AlipanDrive,
        /// Sets the QR status polling interval.
        qr_poll_interval: Duration,
    }
}

/// An alipan drive client. Its tokens and drive ids live in the storage's config and the
/// tokens refresh themselves; [`CloudStorage`](crate::CloudStorage) gives its login and file
/// operations.
#[derive(Debug, Clone)]
pub struct AlipanClient {
    transport: Transport,
    options: Arc<AlipanOptions>,
    /// The last QR status reported per `sid`, so a poll waits for the next change.
    qr_seen: Arc<Mutex<HashMap<String, LoginStatus>>>,
}

impl AlipanClient {
    crate::transport::constructors!(AlipanOptions);

    fn build(storages: &StorageHelper, options: AlipanOptions, http: HttpClient) -> Self {
        let provider = Arc::new(
            AlipanProvider::new(options.endpoints.clone())
                .with_credentials(options.client_id.clone(), options.client_secret.clone()),
        );
        let transport = Transport::new(storages, provider, AlipanProtocol, setup!(options, http));
        Self {
            transport,
            options: Arc::new(options),
            qr_seen: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The token accessor (state, watch, `access_token`).
    pub fn accessor(&self) -> &TokenAccessor {
        self.transport.accessor()
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &AlipanEndpoints {
        &self.options.endpoints
    }

    /// The options in use.
    pub fn options(&self) -> &AlipanOptions {
        &self.options
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn page_size(&self) -> u32 {
        self.options.page_size.clamp(1, 100)
    }

    pub(crate) fn qr_seen(&self) -> &Mutex<HashMap<String, LoginStatus>> {
        &self.qr_seen
    }

    /// The application's client id and secret (options first, then the storage config).
    /// No client id → [`Error::Configuration`].
    pub(crate) fn credentials(&self) -> Result<(String, Option<ClientSecret>)> {
        let config = self.transport.handle().get_conf()?;
        let (id, secret) = credentials(
            self.options.client_id.as_deref(),
            self.options.client_secret.as_ref(),
            &config,
        );
        let id = id.ok_or_else(|| Error::Configuration {
            storage: self.transport.storage().to_owned(),
            message: "alipan needs your application's client id from the alipan Open Platform \
                      (and its client secret, if it has one): set `client_id` (and \
                      `client_secret`) in the storage's config or in AlipanOptions"
                .into(),
        })?;
        Ok((id, secret))
    }

    /// Saves the tokens of a new login together with the account's drive information.
    ///
    /// Fetches `user/getDriveInfo` with the new access token, then stores tokens, `token_type`
    /// and the drive fields (`user_id`, `name`, `avatar`, `default_drive_id`,
    /// `resource_drive_id`, `backup_drive_id`) in one save. A drive field the answer lacks is
    /// stored as `null`, so a previous account's drive is never used by mistake. The QR login
    /// calls this; call it yourself with tokens obtained elsewhere.
    pub async fn complete_login(&self, grant: Grant) -> Result<AccessToken> {
        let info = self.fetch_drive_info(&grant.access_token).await?;
        let mut extra = grant.extra.clone();
        extra.extend(drive_fields(&info));
        let grant = Grant { extra, ..grant };
        let token = self.accessor().save_login(grant).await?;
        tracing::info!(storage = %self.transport.storage(), "alipan login saved with drive info");
        Ok(token)
    }

    /// `user/getDriveInfo` with a given token (right after a login, before it is saved).
    async fn fetch_drive_info(&self, token: &AccessToken) -> Result<Value> {
        let url = self.endpoints().url("/adrive/v1.0/user/getDriveInfo");
        self.transport
            .call_with("reading drive info", token, |client| {
                client.post(&url).json(&Empty {})
            })
            .await
    }

    /// The account's drive information (`user/getDriveInfo`) with the current token.
    pub async fn drive_info(&self) -> Result<Value> {
        let path = "/adrive/v1.0/user/getDriveInfo";
        self.post("reading drive info", path, None, &Empty {}).await
    }

    /// The drive the file operations work on, per [`AlipanOptions::drive`]. When the stored
    /// config has no drive information (tokens saved without
    /// [`complete_login`](Self::complete_login)), it is fetched and stored first.
    pub async fn drive_id(&self) -> Result<String> {
        let config = self.transport.handle().get_conf()?;
        if let Some(id) = self.pick_drive(&config) {
            return Ok(id);
        }
        if DRIVE_FIELDS[3..].iter().all(|f| !config.contains_key(*f)) {
            let info = self.drive_info().await?;
            let patch: Map<String, Value> = drive_fields(&info).collect();
            let handle = self.transport.handle();
            handle.patch(Value::Object(patch)).await?;
            if let Some(id) = self.pick_drive(&handle.get_conf()?) {
                return Ok(id);
            }
        }
        Err(Error::Configuration {
            storage: self.transport.storage().to_owned(),
            message: format!(
                "the alipan account has no drive for the configured choice ({:?}: none of {} \
                 is set); log in again or choose another drive in AlipanOptions",
                self.options.drive,
                self.options.drive.fields().join(", ")
            ),
        })
    }

    /// The configured drive id, if the config names one.
    pub(crate) fn pick_drive(&self, config: &Map<String, Value>) -> Option<String> {
        self.options
            .drive
            .fields()
            .iter()
            .find_map(|f| config_text(config, f))
    }

    /// A resource call (`POST` with a JSON body) with the current token (see
    /// [`Transport::call`]). Returns the answer's payload; a refused drive is named.
    pub(crate) async fn post<B: Serialize + Sync>(
        &self,
        operation: &str,
        path: &str,
        drive: Option<&str>,
        body: &B,
    ) -> Result<Value> {
        let url = self.endpoints().url(path);
        self.transport
            .call(operation, |client| client.post(&url).json(body))
            .await
            .map_err(|err| name_drive(err, drive))
    }
}

/// The drive fields of a `getDriveInfo` answer; absent ones as `null`.
fn drive_fields(info: &Value) -> impl Iterator<Item = (String, Value)> + '_ {
    DRIVE_FIELDS.iter().map(move |field| {
        let value = match info.get(*field) {
            Some(Value::String(s)) if s.is_empty() => Value::Null,
            Some(v) => v.clone(),
            None => Value::Null,
        };
        ((*field).to_owned(), value)
    })
}
