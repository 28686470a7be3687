//! A throwaway PostgreSQL server for the tests: installed from the distribution's packages
//! when missing, initialised in a temporary folder, started as a non-root user on a private
//! port and socket directory, stopped afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Port of the throwaway server (away from the standard 5432).
pub const PORT: u16 = 55432;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Start the server and print the admin URL for `DRIVEKEEP_TEST_PG_URL`.
    Start {
        /// Port (and name of the data folder) of the server.
        #[arg(long, default_value_t = PORT)]
        port: u16,
    },
    /// Stop the server and delete its data.
    Stop {
        /// Port of the server to stop.
        #[arg(long, default_value_t = PORT)]
        port: u16,
    },
}

#[allow(clippy::print_stdout)]
pub fn run(action: Action) -> Result<()> {
    match action {
        Action::Start { port } => {
            let server = Server::start_on(port)?;
            println!("{}", server.url());
            println!("export DRIVEKEEP_TEST_PG_URL={}", server.url());
            // Keep it running after this command.
            std::mem::forget(server);
            Ok(())
        }
        Action::Stop { port } => Server::stop_existing(port),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn base_dir(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("drivekeep-pg-{port}"))
}

/// The folder holding `initdb` and `pg_ctl`, installing PostgreSQL when there is none.
fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = find_bin_dir() {
        return Ok(dir);
    }
    eprintln!("xtask: PostgreSQL server not found; installing it from the distribution's packages");
    if !is_root() {
        bail!(
            "PostgreSQL is not installed and this is not root: run `apt-get install postgresql` first"
        );
    }
    let env = [("DEBIAN_FRONTEND", "noninteractive")];
    sh(Command::new("apt-get").arg("update").envs(env))?;
    sh(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "postgresql"])
        .envs(env))?;
    find_bin_dir().context("PostgreSQL was installed but initdb is still missing")
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() && dir.join("postgres").exists() {
            return Some(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn sh(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// `program` run as the `postgres` user when we are root (initdb refuses root).
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Writes a self-signed certificate and its key (`server.crt`, `server.key`, key mode 600,
/// both owned by the server user) into the data folder, for `ssl = on`: clients can then
/// connect with `sslmode=require` (encrypted, certificate not verified).
fn self_signed_certificate(data: &Path) -> Result<()> {
    sh(as_server_user(Path::new("openssl"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(data.join("server.key"))
        .arg("-out")
        .arg(data.join("server.crt"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null()))
    .context("creating the server's TLS certificate with openssl")?;
    // The server refuses a key that others can read.
    sh(as_server_user(Path::new("chmod"))
        .arg("600")
        .arg(data.join("server.key")))
}

/// A running throwaway server; stopped when dropped.
pub struct Server {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Server {
    /// Initialises and starts a new server, replacing any earlier one on [`PORT`].
    pub fn start() -> Result<Server> {
        Self::start_on(PORT)
    }

    /// Initialises and starts a new server on `port` (data in a folder named after it),
    /// replacing any earlier one there. TLS is on, with a self-signed certificate.
    pub fn start_on(port: u16) -> Result<Server> {
        let bin = bin_dir()?;
        let _ = Self::stop_existing(port);
        let base = base_dir(port);
        let data = base.join("data");
        let socket = base.join("socket");
        std::fs::create_dir_all(&socket)?;
        if is_root() {
            sh(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&base))?;
        }
        sh(as_server_user(&bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(&data)
            .stdout(std::process::Stdio::null()))?;
        self_signed_certificate(&data)?;
        // `ssl_cert_file` and `ssl_key_file` are relative to the data folder.
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 \
             -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key",
            socket.display()
        );
        sh(as_server_user(&bin.join("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(base.join("server.log"))
            .arg("start")
            .stdout(std::process::Stdio::null()))?;
        Ok(Server { bin, data, port })
    }

    /// The admin URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn stop_existing(port: u16) -> Result<()> {
        let data = base_dir(port).join("data");
        if data.exists()
            && let Some(bin) = find_bin_dir()
        {
            let _ = as_server_user(&bin.join("pg_ctl"))
                .args(["-w", "-m", "immediate", "-D"])
                .arg(&data)
                .arg("stop")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(base_dir(port));
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop")
            .stdout(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(base_dir(self.port));
    }
}
