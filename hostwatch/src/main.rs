//! `hostwatch`: the server binary. Each subcommand loads its component's
//! config (defaults < TOML file < `HOSTWATCH_*` env < flags), sets up logging,
//! binds and calls the component's `run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(
    name = "hostwatch",
    version,
    about = "Fleet monitoring: hub, edge, gateway and the all-in-one demo"
)]
struct Cli {
    /// Log format: text or json.
    #[arg(
        long,
        global = true,
        env = "HOSTWATCH_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: common::telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Everything in one process with embedded storage: the quickest look.
    Demo(DemoArgs),
    /// A site hub: gRPC ingest and query, history, uplink to the edge.
    Hub(HubArgs),
    /// The cloud edge: hub uplinks, dashboard and API.
    Edge(EdgeArgs),
    /// A site's LAN dashboard against one hub.
    Gateway(GatewayArgs),
    /// The alert service (Alertmanager v2 API, subscriptions, delivery),
    /// or with a subcommand, a client of it.
    Alerts(AlertsArgs),
    /// The agent (same as the `hostwatch-agent` binary, without --once).
    Agent(agent::cli::Flags),
    /// Score NAB-style CSVs (`timestamp,value`) with the hub's detection engine.
    Detect(DetectArgs),
    /// TLS helpers.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Dashboard users (argon2-hashed passwords in the users file).
    User(hostwatch::user_cmd::UserArgs),
    /// Dashboard API tokens for automation (only their hashes are kept).
    Token(hostwatch::user_cmd::TokenArgs),
}

#[derive(Subcommand, Debug)]
enum TlsCommand {
    /// Write a throwaway CA, a server and a client certificate (FOR TESTING ONLY).
    MakeDevCerts {
        /// Directory to write ca.pem, server.pem/.key and client.pem/.key into.
        #[arg(long)]
        dir: PathBuf,
        /// Another name or IP the server certificate is for (besides
        /// localhost, 127.0.0.1 and ::1); repeatable.
        #[arg(long = "name")]
        names: Vec<String>,
    },
}

/// Admin commands on the hub's database (the same --config, --database-path
/// or DATABASE_URL as the hub), usable while the hub runs.
#[derive(Subcommand, Debug)]
enum HubAdmin {
    /// Enrolment tokens: what a new agent presents once to get its credential.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Enrolled agents and their credentials.
    #[command(subcommand)]
    Agents(AgentsCommand),
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print it (only now) on stdout.
    Create {
        /// How long the token can be used, e.g. 1h, 24h, 7d.
        #[arg(long, default_value = "24h", value_parser = common::config::parse_duration)]
        ttl: Duration,
        /// How many agents may enrol with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Only agents of this site may enrol with it (and get this site).
        #[arg(long, default_value = "")]
        site: String,
    },
    /// List tokens (by id: the start of their hash).
    List,
}

#[derive(Subcommand, Debug)]
enum AgentsCommand {
    /// List enrolled agents.
    List,
    /// Revoke an agent's credential: its stream ends within seconds and it is
    /// refused from then on.
    Revoke { agent_id: String },
    /// Forget an agent (revoked or not) so it can enrol again with a new token.
    Remove { agent_id: String },
}

#[derive(Args, Debug)]
struct DetectArgs {
    /// A CSV file, or a folder searched recursively for *.csv.
    #[arg(long)]
    input: PathBuf,
    /// Where `timestamp,anomaly_score` CSVs go, under the same relative paths.
    #[arg(long)]
    output: PathBuf,
    /// TOML with detection settings (default: the built-in ones).
    #[arg(long, env = "HOSTWATCH_DETECT_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Dashboard address.
    #[arg(long, env = "HOSTWATCH_DEMO_HTTP", default_value = hostwatch::demo::DEFAULT_HTTP)]
    http: SocketAddr,
    /// Simulated hosts beside this machine.
    #[arg(long, default_value_t = hostwatch::demo::DEFAULT_SIMULATE)]
    simulate: usize,
    /// Sites the simulated hosts are spread over.
    #[arg(long, default_value_t = hostwatch::demo::DEFAULT_SITES)]
    sites: usize,
    /// Collection interval.
    #[arg(long, default_value = "1s", value_parser = common::config::parse_duration)]
    interval: Duration,
    /// Anomaly scenario of the simulated hosts: normal, production, chaos,
    /// temperature, network, dev, demo.
    #[arg(long, default_value = hostwatch::demo::DEFAULT_SCENARIO)]
    scenario: String,
    /// Keep history in this directory (default: a temporary one, removed at exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The alert service's address.
    #[arg(long, env = "HOSTWATCH_DEMO_ALERTS_HTTP", default_value = hostwatch::demo::DEFAULT_ALERTS_HTTP)]
    alerts_http: SocketAddr,
    /// History to generate for the simulated hosts before they go live
    /// (e.g. 10m), so anomaly detection is warm from the start; without it
    /// the detectors need about 5 minutes of data at 1 s.
    #[arg(long, default_value = "0s", value_parser = common::config::parse_duration)]
    backfill: Duration,
    /// Inject an incident: KIND@HOST[+DELAY][/DURATION][*SEVERITY], e.g.
    /// cpu_spike@1+60s/3m (HOST: a simulated host's name or number; DELAY
    /// from the start; DURATION default 5m; SEVERITY 0–1, default 1). Kinds:
    /// cpu_spike, memory_leak, temperature_rise, network_saturation,
    /// power_spike, latency_spike, error_rate_spike, host_crash. Repeatable.
    #[arg(long = "inject", value_name = "SPEC", value_delimiter = ',')]
    inject: Vec<String>,
}

#[derive(Args, Debug)]
struct HubArgs {
    /// Token and agent administration instead of running the hub.
    #[command(subcommand)]
    admin: Option<HubAdmin>,
    #[arg(long, env = "HOSTWATCH_HUB_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// gRPC ingest and query address.
    #[arg(long, env = "HOSTWATCH_HUB_GRPC")]
    grpc: Option<SocketAddr>,
    /// /metrics and health address.
    #[arg(long, env = "HOSTWATCH_HUB_HTTP")]
    http: Option<SocketAddr>,
    /// ws:// URL of the edge's /uplink; turns the uplink on.
    #[arg(long, env = "HOSTWATCH_HUB_EDGE")]
    edge: Option<String>,
    /// Credential for the edge.
    #[arg(long, env = "HOSTWATCH_HUB_EDGE_CREDENTIALS", hide_env_values = true)]
    edge_credentials: Option<String>,
    /// This hub's site.
    #[arg(long, env = "HOSTWATCH_HUB_SITE")]
    site: Option<String>,
    /// Embedded SQLite history file.
    #[arg(long, env = "HOSTWATCH_HUB_DATABASE_PATH", global = true)]
    database_path: Option<PathBuf>,
    /// Redis buffer (`redis://HOST:PORT`); unset keeps the in-process buffer.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// PostgreSQL history (`postgres://USER@HOST/DB`); unset keeps the SQLite file.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// PEM certificate chain: serve gRPC over TLS (with --tls-key).
    #[arg(long, env = "HOSTWATCH_HUB_TLS_CERT_FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "HOSTWATCH_HUB_TLS_KEY_FILE")]
    tls_key: Option<PathBuf>,
    /// PEM CA: require client certificates signed by it (mutual TLS).
    #[arg(long, env = "HOSTWATCH_HUB_TLS_CLIENT_CA_FILE")]
    tls_client_ca: Option<PathBuf>,
    /// Agent authentication: off or required.
    #[arg(long, env = "HOSTWATCH_HUB_AUTH")]
    auth: Option<hub::config::AuthMode>,
}

#[derive(Args, Debug)]
struct AlertsArgs {
    #[command(subcommand)]
    client: Option<AlertsClient>,
    #[arg(long, env = "HOSTWATCH_ALERTS_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "HOSTWATCH_ALERTS_HTTP")]
    http: Option<SocketAddr>,
    /// `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "HOSTWATCH_ALERTS_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The edge whose anomaly-event feed becomes alerts, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "HOSTWATCH_ALERTS_EDGE")]
    edge: Option<String>,
    /// The edge's feed_token.
    #[arg(long, env = "HOSTWATCH_ALERTS_EDGE_TOKEN", hide_env_values = true)]
    edge_token: Option<String>,
}

#[derive(Subcommand, Debug)]
enum AlertsClient {
    /// Subscribe to alerts matching --match, delivered to the channels given.
    Subscribe(Box<SubscribeArgs>),
    /// List your subscriptions.
    Subscriptions(ClientArgs),
    /// Delete one of your subscriptions.
    Unsubscribe {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make an API token for a user; prints the token and its [[users]] entry.
    HashToken {
        #[arg(long, default_value = "me")]
        name: String,
    },
}

#[derive(Args, Debug)]
struct ClientArgs {
    /// The alert service.
    #[arg(
        long,
        env = "HOSTWATCH_ALERTS_URL",
        default_value = "http://127.0.0.1:9093"
    )]
    url: String,
    /// Your API token (none in demo mode).
    #[arg(long, env = "HOSTWATCH_ALERTS_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Args, Debug)]
struct SubscribeArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Matchers, e.g. 'site=eu,severity>=high' (empty: everything).
    #[arg(long = "match", default_value = "")]
    matchers: String,
    /// A name to recognise it by (default: the matchers).
    #[arg(long, default_value = "")]
    name: String,
    /// Generic webhook URL (Alertmanager's JSON); repeatable.
    #[arg(long)]
    webhook: Vec<String>,
    /// HMAC secret for the webhooks' X-Hostwatch-Signature.
    #[arg(long, env = "HOSTWATCH_ALERTS_WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Slack-compatible incoming webhook URL; repeatable.
    #[arg(long)]
    slack: Vec<String>,
    /// Email address (needs [smtp] on the service); repeatable.
    #[arg(long)]
    email: Vec<String>,
    /// ntfy topic URL, e.g. https://ntfy.sh/mytopic; repeatable.
    #[arg(long)]
    ntfy: Vec<String>,
    /// The dashboard's live feed.
    #[arg(long)]
    live: bool,
    /// Labels that split notifications into groups, comma-separated.
    #[arg(long, value_delimiter = ',')]
    group_by: Option<Vec<String>>,
    /// Hold notifications during these hours, e.g. 22:00-07:00.
    #[arg(long)]
    quiet_hours: Option<String>,
    /// The quiet hours' time zone offset, e.g. +01:00.
    #[arg(long, default_value = "Z")]
    utc_offset: String,
}

#[derive(Args, Debug)]
struct EdgeArgs {
    #[arg(long, env = "HOSTWATCH_EDGE_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "HOSTWATCH_EDGE_HTTP")]
    http: Option<SocketAddr>,
    /// Dashboard users file (auth.users_file); see `hostwatch user add`.
    #[arg(long, env = "HOSTWATCH_USERS_FILE")]
    users_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct GatewayArgs {
    #[arg(long, env = "HOSTWATCH_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC URL of the hub, e.g. http://127.0.0.1:7400.
    #[arg(long, env = "HOSTWATCH_GATEWAY_HUB")]
    hub: Option<String>,
    #[arg(long, env = "HOSTWATCH_GATEWAY_HTTP")]
    http: Option<SocketAddr>,
    /// Dashboard users file (auth.users_file); see `hostwatch user add`.
    #[arg(long, env = "HOSTWATCH_USERS_FILE")]
    users_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    common::telemetry::init(cli.log_format)?;
    let token = common::shutdown::on_signals();
    match cli.command {
        Command::Demo(a) => {
            let http = bind(a.http).await?;
            let config = hostwatch::demo::DemoConfig {
                simulate: a.simulate,
                sites: a.sites,
                interval: a.interval,
                scenario: a.scenario,
                data_dir: a.data_dir,
                alerts_http: a.alerts_http,
                backfill: a.backfill,
                inject: a.inject,
                ..Default::default()
            };
            let (addrs, done) = hostwatch::demo::start(config, http, token).await?;
            println!(
                "hostwatch demo running: dashboard at http://{}/  (Ctrl-C to stop)",
                addrs.dashboard
            );
            println!(
                "  hub gRPC {}  hub metrics http://{}/metrics",
                addrs.hub_grpc, addrs.hub_http
            );
            println!(
                "  alerts http://{}/  (hostwatch alerts subscribe --url http://{} --match 'severity>=high' --webhook URL)",
                addrs.alerts, addrs.alerts
            );
            // The hub's detectors have an opinion only after `warmup` points of a
            // series: history from --backfill counts, and so does the delay.
            let warm_ms =
                hub::detect::Config::default().warmup as f64 * a.interval.as_millis() as f64;
            let now = common::now_ms();
            for i in &addrs.injected {
                println!(
                    "  inject {} on {} ({}) from {} to {}",
                    i.kind.name(),
                    i.host,
                    i.site,
                    agent::simulate::calendar::iso8601(i.start_ms),
                    agent::simulate::calendar::iso8601(i.end_ms)
                );
                let history_ms = a.backfill.as_millis() as f64 + (i.start_ms - now) as f64;
                if history_ms < warm_ms {
                    println!(
                        "    (detection warms up over {:.0} s of data: with less history than that before it, this incident may go undetected; add --backfill 10m)",
                        warm_ms / 1000.0
                    );
                }
            }
            done.await.context("demo task")??;
        }
        Command::Hub(a) => {
            let c = hub_config(&a)?;
            match a.admin {
                Some(cmd) => hub_admin(&c, cmd).await?,
                None => {
                    let listeners = hub::Listeners::bind(&c).await?;
                    hub::run(c, listeners, token).await?;
                }
            }
        }
        Command::Edge(a) => {
            let mut c: edge::Config = common::config::load(a.config.as_deref())?;
            if let Some(v) = a.http {
                c.http_addr = v;
            }
            if let Some(v) = a.users_file {
                c.auth.users_file = Some(v);
            }
            c.validate().map_err(anyhow::Error::msg)?;
            let listener = bind(c.http_addr).await?;
            println!(
                "hostwatch edge: dashboard at http://{}/",
                listener.local_addr()?
            );
            edge::run(c, listener, token).await?;
        }
        Command::Gateway(a) => {
            let mut c: gateway::Config = common::config::load(a.config.as_deref())?;
            if let Some(v) = a.hub {
                c.hub_url = v;
            }
            if let Some(v) = a.http {
                c.http_addr = v;
            }
            if let Some(v) = a.users_file {
                c.auth.users_file = Some(v);
            }
            c.validate().map_err(anyhow::Error::msg)?;
            let listener = bind(c.http_addr).await?;
            println!(
                "hostwatch gateway: dashboard at http://{}/",
                listener.local_addr()?
            );
            gateway::run(c, listener, token).await?;
        }
        Command::Alerts(a) => alerts(a, token).await?,
        Command::Agent(flags) => {
            agent::run(flags.load()?, token).await?;
        }
        Command::Detect(a) => detect(a)?,
        Command::User(a) => hostwatch::user_cmd::user(a)?,
        Command::Token(a) => hostwatch::user_cmd::token(a)?,
        Command::Tls(TlsCommand::MakeDevCerts { dir, names }) => {
            let c = hostwatch::dev_certs::make(&dir, &names)?;
            println!(
                "wrote a throwaway CA and certificates (FOR TESTING ONLY) to {}:",
                dir.display()
            );
            for (what, path) in [
                ("CA (agents: --ca-file)", &c.ca_cert),
                ("CA key", &c.ca_key),
                ("hub certificate (--tls-cert)", &c.server_cert),
                ("hub key (--tls-key)", &c.server_key),
                ("agent certificate (--tls-cert, mutual TLS)", &c.client_cert),
                ("agent key (--tls-key)", &c.client_key),
            ] {
                println!("  {:<44} {}", what, path.display());
            }
        }
    }
    Ok(())
}

/// `hostwatch alerts`: the service, or one of its client commands.
async fn alerts(a: AlertsArgs, token: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    use hostwatch::alerts_cmd::{new_token, Client, NewSubscription};
    let client = |c: ClientArgs| Client {
        url: c.url,
        token: c.token,
    };
    match a.client {
        None => {
            let mut c: alerts::Config = common::config::load(a.config.as_deref())?;
            if let Some(v) = a.http {
                c.http_addr = v;
            }
            if let Some(v) = a.database_url {
                c.database_url = v;
            }
            if let Some(v) = a.edge {
                c.edge_url = Some(v);
            }
            if let Some(v) = a.edge_token {
                c.edge_token = Some(v);
            }
            c.validate().map_err(anyhow::Error::msg)?;
            let listener = bind(c.http_addr).await?;
            println!("hostwatch alerts: http://{}/", listener.local_addr()?);
            alerts::run(c, listener, token).await?;
        }
        Some(AlertsClient::Subscribe(s)) => {
            let s = *s;
            let new = NewSubscription {
                name: s.name,
                matchers: s.matchers,
                webhooks: s.webhook,
                secret: s.secret,
                slack: s.slack,
                emails: s.email,
                ntfy: s.ntfy,
                live: s.live,
                group_by: s.group_by,
                quiet_hours: s.quiet_hours,
                utc_offset: s.utc_offset,
            };
            let id = client(s.client).subscribe(&new).await?;
            println!("{id}");
        }
        Some(AlertsClient::Subscriptions(c)) => print!("{}", client(c).list().await?),
        Some(AlertsClient::Unsubscribe { id, client: c }) => {
            client(c).unsubscribe(&id).await?;
            eprintln!("subscription {id} deleted");
        }
        Some(AlertsClient::HashToken { name }) => {
            let (token, entry) = new_token(&name);
            println!("{token}");
            eprintln!("give the token above to {name}; add this to the alerts config:\n{entry}");
        }
    }
    Ok(())
}

/// The hub's config: file < env < flags, validated.
fn hub_config(a: &HubArgs) -> anyhow::Result<hub::Config> {
    let mut c: hub::Config = common::config::load(a.config.as_deref())?;
    if let Some(v) = a.grpc {
        c.grpc_addr = v;
    }
    if let Some(v) = a.http {
        c.http_addr = v;
    }
    if let Some(v) = &a.edge {
        c.uplink.edge_url = v.clone();
    }
    if let Some(v) = &a.edge_credentials {
        c.uplink.credentials = v.clone();
    }
    if let Some(v) = &a.site {
        c.site = v.clone();
    }
    if let Some(v) = &a.redis_url {
        c.redis.url = v.clone();
    }
    if let Some(v) = &a.database_path {
        c.database_path = v.clone();
    }
    if let Some(v) = &a.database_url {
        c.database_url = v.clone();
    }
    if let Some(v) = &a.tls_cert {
        c.security.tls_cert_file = Some(v.clone());
    }
    if let Some(v) = &a.tls_key {
        c.security.tls_key_file = Some(v.clone());
    }
    if let Some(v) = &a.tls_client_ca {
        c.security.tls_client_ca_file = Some(v.clone());
    }
    if let Some(v) = a.auth {
        c.security.auth = v;
    }
    c.validate().map_err(anyhow::Error::msg)?;
    Ok(c)
}

/// `hostwatch hub token|agents …`: the secret goes to stdout, the rest to
/// stderr or stdout as a table.
async fn hub_admin(c: &hub::Config, cmd: HubAdmin) -> anyhow::Result<()> {
    use hostwatch::admin;
    match cmd {
        HubAdmin::Token(TokenCommand::Create { ttl, uses, site }) => {
            let (token, note) = admin::token_create(c, ttl, uses, &site).await?;
            println!("{token}");
            eprintln!("{note}");
        }
        HubAdmin::Token(TokenCommand::List) => print!("{}", admin::token_list(c).await?),
        HubAdmin::Agents(AgentsCommand::List) => print!("{}", admin::agents_list(c).await?),
        HubAdmin::Agents(AgentsCommand::Revoke { agent_id }) => {
            println!("{}", admin::agents_revoke(c, &agent_id).await?)
        }
        HubAdmin::Agents(AgentsCommand::Remove { agent_id }) => {
            println!("{}", admin::agents_remove(c, &agent_id).await?)
        }
    }
    Ok(())
}

/// Runs `hostwatch detect`, showing progress on stderr.
fn detect(a: DetectArgs) -> anyhow::Result<()> {
    let config: hub::detect::Config = common::config::load(a.config.as_deref())?;
    let started = std::time::Instant::now();
    let mut progress = |done: usize, total: usize, file: &std::path::Path| {
        eprint!("\r\x1b[2K[{done}/{total}] {}", file.display());
        if done == total {
            eprintln!();
        }
    };
    let s = hostwatch::detect_cmd::run(&a.input, &a.output, &config, &mut progress)?;
    let engine = s.engine_time.as_secs_f64();
    eprintln!(
        "{} files, {} rows ({} malformed) in {:.2} s; engine {:.3} s = {:.0} rows/s",
        s.files,
        s.rows,
        s.malformed,
        started.elapsed().as_secs_f64(),
        engine,
        s.rows as f64 / engine.max(1e-9)
    );
    Ok(())
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}
