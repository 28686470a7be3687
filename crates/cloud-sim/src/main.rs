//! `cloud-sim`: runs one provider simulator (115, alipan or OpenList) standalone until
//! Ctrl-C or SIGTERM.
//!
//! It prints the base URL on stdout (and writes it to `--port-file` when asked); tests in
//! other processes drive it through the `/__sim/` control paths.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use cloud_sim::{
    Config115, ConfigAlipan, ConfigOpenList, Flavor, RateLimitStyle115, Sim115, SimAlipan,
    SimOpenList,
};

/// Loopback simulator of the 115 and alipan Open APIs and of an OpenList / AList server.
#[derive(Debug, Parser)]
#[command(name = "cloud-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    provider: ProviderCmd,
}

#[derive(Debug, Subcommand)]
enum ProviderCmd {
    /// Simulate the 115 Open Platform (passportapi, qrcodeapi and proapi on one port).
    U115(Common),
    /// Simulate the alipan (Aliyun Drive) Open Platform.
    Alipan(Common),
    /// Simulate an OpenList / AList server (MoviePilot's `alist` storage).
    Openlist(OpenListArgs),
}

#[derive(Debug, clap::Args)]
struct OpenListArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0, env = "CLOUD_SIM_PORT")]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Write the chosen port to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// The server release to answer as.
    #[arg(long, value_enum, default_value_t = FlavorArg::Ol4_2)]
    flavor: FlavorArg,
    /// Password of the `admin` user.
    #[arg(long, default_value = "admin-password")]
    admin_password: String,
    /// Extra users, `NAME:PASSWORD` (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// Login token lifetime in hours (`token_expires_in`).
    #[arg(long, value_name = "HOURS", default_value_t = 48.0)]
    token_expires_in: f64,
    /// The permanent token (default: generated; read it from `GET /__sim/token`).
    #[arg(long)]
    permanent_token: Option<String>,
    /// Enable the guest user.
    #[arg(long)]
    guest: bool,
    /// Turn the `sign_all` setting off.
    #[arg(long)]
    no_sign_all: bool,
    /// Sign lifetime in hours (`link_expiration`; 0 = never expires).
    #[arg(long, value_name = "HOURS", default_value_t = 0.0)]
    link_expiration: f64,
    /// The storage hands out direct links (`/d` redirects) instead of proxying.
    #[arg(long)]
    direct_links: bool,
    /// Per-user rate limit, e.g. `5/s` (answered HTTP 429 as a proxy would).
    #[arg(long, value_name = "N/s")]
    rate_limit: Option<String>,
    /// Delay in milliseconds added to every provider request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    request_delay_ms: u64,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum FlavorArg {
    #[value(name = "al338")]
    Al338,
    #[value(name = "ol4_1")]
    Ol4_1,
    #[value(name = "ol4_2")]
    Ol4_2,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0, env = "CLOUD_SIM_PORT")]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Write the chosen port to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// Scan and confirm every new QR session after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    auto_confirm: Option<f64>,
    /// Access-token lifetime in seconds.
    #[arg(long, value_name = "S")]
    access_lifetime: Option<u64>,
    /// Refresh-token lifetime in seconds.
    #[arg(long, value_name = "S")]
    refresh_lifetime: Option<u64>,
    /// Minimum seconds between two refreshes of one account (0 = off).
    #[arg(long, value_name = "S", default_value_t = 0.0)]
    min_refresh_interval: f64,
    /// Per-account rate limit, e.g. `5/s` or `5`.
    #[arg(long, value_name = "N/s")]
    rate_limit: Option<String>,
    /// 115 only: how a request over the rate limit is answered.
    #[arg(long, value_enum, default_value_t = RateStyle::Http429)]
    rate_limit_style: RateStyle,
    /// QR session lifetime in seconds (simulated clock).
    #[arg(long, value_name = "S", default_value_t = 300)]
    qr_lifetime: u64,
    /// 115 only: seconds the status long-poll holds a request.
    #[arg(long, value_name = "S", default_value_t = 25.0)]
    poll_timeout: f64,
    /// Delay in milliseconds added to every provider request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    request_delay_ms: u64,
    /// Account a QR confirmation logs in when none is named.
    #[arg(long, default_value = "sim-user")]
    default_account: String,
    /// Accept only this client id (APP ID).
    #[arg(long)]
    client_id: Option<String>,
    /// alipan only: the application's client secret.
    #[arg(long)]
    client_secret: Option<String>,
    /// alipan only: access-token lifetime in seconds for PKCE logins without a secret.
    #[arg(long, value_name = "S")]
    pkce_access_lifetime: Option<u64>,
    /// alipan only: lifetime in seconds of part upload URLs (simulated clock).
    #[arg(long, value_name = "S", default_value_t = 3600)]
    upload_url_lifetime: u64,
    /// Limit download and part-upload bodies to this many bytes per second per connection.
    #[arg(long, value_name = "BYTES/s")]
    transfer_rate: Option<u64>,
    /// 115 only: lifetime of the STS credentials `upload/get_token` issues.
    #[arg(long, value_name = "S", default_value_t = 3600)]
    sts_lifetime: u64,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum RateStyle {
    Http429,
    Quota770004,
    Quota406,
}

fn parse_rate(s: &str) -> Result<u32> {
    let n = s.strip_suffix("/s").unwrap_or(s).trim();
    n.parse()
        .with_context(|| format!("--rate-limit must look like 5/s, got {s:?}"))
}

fn secs(s: f64, flag: &str) -> Result<Duration> {
    match Duration::try_from_secs_f64(s) {
        Ok(d) => Ok(d),
        Err(_) => bail!("{flag} must be a non-negative number of seconds, got {s}"),
    }
}

async fn run_openlist(o: OpenListArgs) -> Result<()> {
    let hours = |h: f64, flag: &str| match Duration::try_from_secs_f64(h * 3600.0) {
        Ok(d) => Ok(d),
        Err(_) => bail!("{flag} must be a non-negative number of hours, got {h}"),
    };
    let cfg = ConfigOpenList {
        flavor: match o.flavor {
            FlavorArg::Al338 => Flavor::Al338,
            FlavorArg::Ol4_1 => Flavor::Ol41,
            FlavorArg::Ol4_2 => Flavor::Ol42,
        },
        admin_password: o.admin_password,
        token_expires_in: hours(o.token_expires_in, "--token-expires-in")?,
        permanent_token: o.permanent_token,
        guest_enabled: o.guest,
        sign_all: !o.no_sign_all,
        link_expiration: hours(o.link_expiration, "--link-expiration")?,
        direct_links: o.direct_links,
        request_delay: Duration::from_millis(o.request_delay_ms),
        rate_limit_per_sec: o.rate_limit.as_deref().map(parse_rate).transpose()?,
        ..ConfigOpenList::default()
    };
    let h = SimOpenList::start_on(SocketAddr::new(o.bind, o.port), cfg).await?;
    for spec in &o.users {
        let Some((name, password)) = spec.split_once(':') else {
            bail!("--user must look like NAME:PASSWORD, got {spec:?}");
        };
        h.add_user(name, password);
    }
    let (base_url, port) = (h.base_url().to_owned(), h.local_addr().port());
    announce_and_wait(&base_url, port, o.port_file.as_deref(), Box::new(h)).await
}

async fn announce_and_wait(
    base_url: &str,
    port: u16,
    port_file: Option<&std::path::Path>,
    handle: Box<dyn std::any::Any>,
) -> Result<()> {
    if let Some(path) = port_file {
        std::fs::write(path, port.to_string())
            .with_context(|| format!("writing the port to {}", path.display()))?;
    }
    println!("{base_url}");
    wait_for_signal().await?;
    drop(handle);
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    let (provider, c) = match cli.provider {
        ProviderCmd::U115(c) => ("u115", c),
        ProviderCmd::Alipan(c) => ("alipan", c),
        ProviderCmd::Openlist(o) => return run_openlist(o).await,
    };
    let addr = SocketAddr::new(c.bind, c.port);
    let rate = c.rate_limit.as_deref().map(parse_rate).transpose()?;
    let auto_confirm = c
        .auto_confirm
        .map(|s| secs(s, "--auto-confirm"))
        .transpose()?;
    let min_refresh = secs(c.min_refresh_interval, "--min-refresh-interval")?;
    let request_delay = Duration::from_millis(c.request_delay_ms);
    let qr_lifetime = Duration::from_secs(c.qr_lifetime);
    let (base_url, port, handle): (String, u16, Box<dyn std::any::Any>) = if provider == "u115" {
        let mut cfg = Config115 {
            min_refresh_interval: min_refresh,
            rate_limit_per_sec: rate,
            rate_limit_style: match c.rate_limit_style {
                RateStyle::Http429 => RateLimitStyle115::Http429,
                RateStyle::Quota770004 => RateLimitStyle115::Quota770004,
                RateStyle::Quota406 => RateLimitStyle115::Quota406,
            },
            qr_lifetime,
            poll_timeout: secs(c.poll_timeout, "--poll-timeout")?,
            auto_confirm,
            request_delay,
            default_account: c.default_account,
            client_id: c.client_id,
            ..Config115::default()
        };
        if let Some(s) = c.access_lifetime {
            cfg.access_lifetime = Duration::from_secs(s);
        }
        if let Some(s) = c.refresh_lifetime {
            cfg.refresh_lifetime = Duration::from_secs(s);
        }
        let h = Sim115::start_on(addr, cfg).await?;
        h.set_transfer_rate(c.transfer_rate);
        h.set_sts_lifetime(Duration::from_secs(c.sts_lifetime));
        tracing::info!(endpoint = %h.oss_endpoint(), "115 upload OSS service listening");
        (h.base_url().to_owned(), h.local_addr().port(), Box::new(h))
    } else {
        let mut cfg = ConfigAlipan {
            min_refresh_interval: min_refresh,
            rate_limit_per_sec: rate,
            qr_lifetime,
            auto_confirm,
            request_delay,
            default_account: c.default_account,
            client_id: c.client_id,
            client_secret: c.client_secret,
            upload_url_lifetime: Duration::from_secs(c.upload_url_lifetime),
            ..ConfigAlipan::default()
        };
        if let Some(s) = c.access_lifetime {
            cfg.access_lifetime = Duration::from_secs(s);
        }
        if let Some(s) = c.refresh_lifetime {
            cfg.refresh_lifetime = Duration::from_secs(s);
        }
        if let Some(s) = c.pkce_access_lifetime {
            cfg.pkce_access_lifetime = Duration::from_secs(s);
        }
        let h = SimAlipan::start_on(addr, cfg).await?;
        h.set_transfer_rate(c.transfer_rate);
        (h.base_url().to_owned(), h.local_addr().port(), Box::new(h))
    };
    announce_and_wait(&base_url, port, c.port_file.as_deref(), handle).await
}

#[cfg(unix)]
async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Result<()> {
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("cloud-sim: error: {e:#}");
        std::process::exit(1);
    }
}
