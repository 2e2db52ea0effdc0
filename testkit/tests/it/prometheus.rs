//! Prometheus sends firing alerts to the test's Alertmanager; amtool talks
//! to the test's Alertmanager API.

use std::time::{Duration, Instant};

use testkit::Prometheus;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const ALWAYS_FIRING: &str = "groups:
  - name: t
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: high}
";

/// One HTTP/1.1 request read from `stream`: the request line and the body.
async fn read_request(stream: &mut BufReader<TcpStream>) -> (String, String) {
    let mut request_line = String::new();
    stream
        .read_line(&mut request_line)
        .await
        .expect("request line");
    let mut length = 0;
    loop {
        let mut header = String::new();
        stream.read_line(&mut header).await.expect("header");
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("content-length");
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.expect("body");
    (
        request_line.trim_end().to_owned(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Answers one request on `stream` with `body` and closes the connection.
async fn answer(stream: BufReader<TcpStream>, body: &str) {
    let mut stream = stream.into_inner();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[tokio::test]
async fn prometheus_posts_a_firing_rule_to_the_alertmanager() {
    let alertmanager = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = alertmanager.local_addr().expect("addr").to_string();
    let started = Instant::now();
    let prometheus = Prometheus::start(&addr, ALWAYS_FIRING).await;
    eprintln!("prometheus ready in {:?}", started.elapsed());
    assert!(prometheus.url().starts_with("http://127.0.0.1:"));

    let (stream, _) = tokio::time::timeout(Duration::from_secs(15), alertmanager.accept())
        .await
        .unwrap_or_else(|_| panic!("no alert within 15s; prometheus log:\n{}", prometheus.log()))
        .expect("accept");
    eprintln!("first alert {:?} after start", started.elapsed());
    let mut stream = BufReader::new(stream);
    let (request_line, body) =
        tokio::time::timeout(Duration::from_secs(10), read_request(&mut stream))
            .await
            .expect("request within 10s");
    assert_eq!(request_line, "POST /api/v2/alerts HTTP/1.1");
    assert!(
        body.contains(r#""alertname":"AlwaysFiring""#) && body.contains(r#""severity":"high""#),
        "alert body: {body}"
    );
    answer(stream, "").await;

    let port = super::port_of(&prometheus.url());
    drop(prometheus);
    assert!(super::wait_closed(port).await, "server gone after drop");
}

#[tokio::test]
async fn amtool_queries_silences_over_api_v2() {
    let alertmanager = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", alertmanager.local_addr().expect("addr"));
    // A stand-in Alertmanager that answers `[]` to everything and reports
    // the request lines it saw.
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::channel(16);
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = alertmanager.accept().await else {
                return;
            };
            let mut stream = BufReader::new(stream);
            let (request_line, _) = read_request(&mut stream).await;
            answer(stream, "[]").await;
            if seen_tx.send(request_line).await.is_err() {
                return;
            }
        }
    });

    let out = tokio::time::timeout(
        Duration::from_secs(20),
        testkit::amtool_async(&url, &["silence", "query", "-o", "json"]),
    )
    .await
    .expect("amtool within 20s");
    server.abort();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "amtool failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let mut seen = Vec::new();
    while let Ok(line) = seen_rx.try_recv() {
        seen.push(line);
    }
    assert!(
        seen.iter().any(|l| l == "GET /api/v2/silences HTTP/1.1"),
        "requests: {seen:?}"
    );
}
