//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Log cloud drives in, keep their tokens alive, manage settings and files.
#[derive(Parser, Debug)]
#[command(name = "cloudctl", version, about)]
pub struct Cli {
    /// The configuration database URL (`sqlite:///path/user.db`, `postgres://…`); also
    /// `CLOUDCTL_DATABASE_URL`. Default: the SQLite file `data/user.db`.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// A SQLite database file.
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<std::path::PathBuf>,
    /// A MoviePilot config folder: use the database MoviePilot uses (its `app.env`, or
    /// `user.db` there); also `CLOUDCTL_MOVIEPILOT_CONFIG`.
    #[arg(long, global = true, value_name = "DIR")]
    pub moviepilot_config: Option<std::path::PathBuf>,
    /// Point every host of a provider at one base URL: `u115=http://127.0.0.1:8115`.
    /// Repeatable; also `CLOUDCTL_ENDPOINTS` (comma-separated).
    #[arg(long = "endpoint", global = true, value_name = "PROVIDER=URL")]
    pub endpoints: Vec<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    /// More output on standard error (-v: info and causes, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create, adopt or roll back the database schema.
    Migrate {
        #[arg(value_enum, default_value_t = MigrateAction::Up)]
        action: MigrateAction,
    },
    /// Read and write `systemconfig` keys.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// The `Storages` list.
    Storage {
        #[command(subcommand)]
        action: StorageAction,
    },
    /// Log a drive in: with a QR code scanned in the provider's phone app, or with a user
    /// name and password where the storage offers that (`--username`).
    Login(LoginArgs),
    /// Token state, refresh, and the token itself for scripts.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// List a folder: `TYPE:/path`.
    Ls { target: String },
    /// Show one item: `TYPE:/path`.
    Stat { target: String },
    /// Make a folder and its parents: `TYPE:/path`.
    Mkdir { target: String },
    /// Move an item into a folder: `TYPE:/item TYPE:/folder`.
    Mv { source: String, folder: String },
    /// Copy an item into a folder: `TYPE:/item TYPE:/folder`.
    Cp { source: String, folder: String },
    /// Delete an item (alipan: to the recycle bin): `TYPE:/path`.
    Rm { target: String },
    /// Print a download link: `TYPE:/file`.
    Url { target: String },
    /// Space used and total: `TYPE`.
    Usage { storage: String },
    /// Download a file with a progress bar: `TYPE:/file LOCAL_PATH` (a folder, or the
    /// file to write). An interrupted download continues where it stopped when run again.
    Download {
        target: String,
        dest: std::path::PathBuf,
        /// Replace the local file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Upload a local file into a folder: `LOCAL_FILE TYPE:/folder`. Content the drive
    /// already has is not sent again; an interrupted upload continues when run again.
    Upload {
        local: std::path::PathBuf,
        folder: String,
        /// The name on the drive (default: the local file's name).
        #[arg(long)]
        name: Option<String>,
        /// When the name is taken: fail (refuse), upload under a free name (rename), or
        /// replace the existing file once the new one is complete (overwrite).
        #[arg(long, value_enum, default_value_t = OnConflict::Refuse)]
        on_conflict: OnConflict,
    },
    /// The whole system on the embedded database and a loopback simulator: QR login,
    /// listing, one refresh for many concurrent requests, the login surviving a restart.
    Demo(DemoArgs),
    /// Print a shell completion script: `cloudctl completions bash > /etc/bash_completion.d/cloudctl`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into `--dir`.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Keep logins alive in the foreground until Ctrl-C: refresh every logged-in storage
    /// ahead of its due time (one refresh per expiry however many instances run), keep
    /// idle refresh tokens alive, and print each state change.
    Keepalive(KeepaliveArgs),
    /// Keep every login alive and serve tokens to the programs of this host (API keys),
    /// server-sent events, QR and password logins, and a web console, on 127.0.0.1:5225 by
    /// default. Prints the console's one-time sign-in link at start. Manage API keys with
    /// `--new-key NAME` (printed once; only its SHA-256 is stored), `--list-keys`,
    /// `--revoke-key NAME`; a running server sees changes at once. See docs/serve.md.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("keys").args(["new_key", "list_keys", "revoke_key"])))]
pub struct ServeArgs {
    /// The address to listen on. Anything but loopback is served without TLS: a warning
    /// says so.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5225")]
    pub listen: std::net::SocketAddr,
    /// Create an API key named NAME, print it once and exit.
    #[arg(long, value_name = "NAME")]
    pub new_key: Option<String>,
    /// List the API keys (names and creation times, never the keys) and exit.
    #[arg(long)]
    pub list_keys: bool,
    /// Revoke the API key NAME and exit (a running server refuses it at once).
    #[arg(long, value_name = "NAME")]
    pub revoke_key: Option<String>,
}

#[derive(Args, Debug)]
pub struct KeepaliveArgs {
    /// The storages to keep alive (default: every storage with a known provider, including
    /// ones added while running).
    pub storages: Vec<String>,
    /// Refresh this many seconds before a token would be due (at most a quarter of its
    /// lifetime).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub lead: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OnConflict {
    Refuse,
    Rename,
    Overwrite,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MigrateAction {
    Up,
    Down,
    Status,
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Print a key's value (tokens and passwords as `[redacted]`).
    Get {
        key: String,
        /// Show tokens and passwords instead of `[redacted]`.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Set a key to a JSON value (`'[]'`, `'{"a":1}'`, `'"text"'`).
    Set { key: String, value: String },
    /// Delete a key.
    Delete { key: String },
    /// List the keys.
    List,
}

#[derive(Subcommand, Debug)]
pub enum StorageAction {
    /// List the storages.
    List {
        /// Show tokens and passwords instead of `[redacted]`.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Show one storage.
    Show {
        storage: String,
        #[arg(long)]
        show_secrets: bool,
    },
    /// Add a storage.
    Add {
        storage: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Merge-patch a storage's config with a JSON object (RFC 7386; null removes).
    Patch { storage: String, patch: String },
    /// Empty a storage's config (logs it out).
    Reset { storage: String },
    /// Remove a storage.
    Remove { storage: String },
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The storage type (`u115`, `alipan`, `alist`).
    pub storage: String,
    /// Your application's APP ID / client id; saved in the storage's config.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Log in with this user name and a password (storages with a password login). The
    /// password is asked for without echo, or read from standard input with
    /// `--password-stdin`; it is never taken from the command line.
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password from the first line of standard input (for scripts).
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// State, expiry and seconds left — never a secret.
    Status { storage: Option<String> },
    /// Refresh when due (or now, with `--force`).
    Refresh {
        storage: String,
        #[arg(long)]
        force: bool,
    },
    /// Print a valid access token (refreshing when needed), for scripts.
    Print { storage: String },
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Concurrent requests at expiry.
    #[arg(long, default_value_t = 200)]
    pub tasks: usize,
}
