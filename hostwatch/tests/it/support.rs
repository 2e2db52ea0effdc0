//! Test plumbing: a hub on port 0, a TCP proxy that can cut every connection
//! (to force agent reconnects), and polling with a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TestHub {
    pub grpc: SocketAddr,
    token: CancellationToken,
    task: JoinHandle<hub::Result<()>>,
}

impl TestHub {
    pub async fn start(dir: &std::path::Path) -> Self {
        let listeners = hub::Listeners {
            grpc: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            http: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        };
        let grpc = listeners.grpc.local_addr().expect("addr");
        let config = hub::Config {
            database_path: dir.join("hub.db"),
            ..Default::default()
        };
        let token = CancellationToken::new();
        let task = tokio::spawn(hub::run(config, listeners, token.clone()));
        Self { grpc, token, task }
    }

    pub async fn stop(self) {
        self.token.cancel();
        self.task.await.expect("hub task").expect("hub ran cleanly");
    }
}

/// Forwards TCP to `target`; `cut()` kills every open connection and
/// `set_refusing(true)` drops new ones at once, like a link going down.
pub struct Proxy {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refusing: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let (c, r) = (conns.clone(), refusing.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if r.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().expect("lock").push(handle);
            }
        });
        Self {
            addr,
            conns,
            refusing,
            accept,
        }
    }

    pub fn cut(&self) {
        for h in self.conns.lock().expect("lock").drain(..) {
            h.abort();
        }
    }

    pub fn set_refusing(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// One line of a `/metrics` page served at `http`, 0 when absent or
/// unreachable (callers poll it).
pub async fn metric(http: SocketAddr, line_prefix: &str) -> f64 {
    let Ok(r) = reqwest::get(format!("http://{http}/metrics")).await else {
        return 0.0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line_prefix)
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// Polls `check` every 50 ms until it returns Some, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
