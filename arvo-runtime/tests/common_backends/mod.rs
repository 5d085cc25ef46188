//! Shared helpers of the server-backend tests (PostgreSQL, Redis): where the servers are, unique
//! namespaces, and the resumable workflow drivers run on every backend.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod workflows;

/// The server URL in `var`, or `None` (after saying why) when it is unset outside CI. With
/// `CI=true` an unset variable fails the test: CI must never skip a backend.
pub fn server_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: {var} is not set, and CI=true: backend tests must run in CI");
            }
            eprintln!("{test}: skipped, {var} is not set (`.ci/run` sets it)");
            None
        }
    }
}

/// `ARVO_TEST_POSTGRES_URL`, see [`server_url`].
pub fn postgres_url(test: &str) -> Option<String> {
    server_url("ARVO_TEST_POSTGRES_URL", test)
}

/// `ARVO_TEST_REDIS_URL`, see [`server_url`].
pub fn redis_url(test: &str) -> Option<String> {
    server_url("ARVO_TEST_REDIS_URL", test)
}

/// A name unique to this run: `{prefix}_{8 random hex digits}`.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..8])
}

/// A "server" that accepts connections and never answers (a hung backend): returns its
/// address. The sockets are held open until the runtime ends.
pub async fn black_hole() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// Every event stored on `subject` in `t`'s event stream, oldest first, read by a consumer of
/// its own that is removed afterwards (a work-queue stream allows one consumer per subject).
#[cfg(feature = "nats")]
pub async fn stored_on(
    t: &arvo_runtime::transport::nats::NatsTransport,
    subject: String,
) -> Vec<arvo_runtime::event::ArvoEvent> {
    use async_nats::jetstream::{self, consumer};
    use futures_util::StreamExt;
    let js = jetstream::new(t.client().clone());
    let stream = js.get_stream(t.streams().name()).await.unwrap();
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: subject,
            ack_policy: consumer::AckPolicy::Explicit,
            // Nothing is acknowledged: no limit on what may be pending (1,000 by default).
            max_ack_pending: -1,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    loop {
        let mut batch = consumer.fetch().max_messages(500).messages().await.unwrap();
        let before = out.len();
        while let Some(msg) = batch.next().await {
            // Not acknowledged: the events stay in the stream for a later look.
            let msg = msg.unwrap();
            out.push(arvo_runtime::event::ArvoEvent::from_json_slice(&msg.payload).unwrap());
        }
        if out.len() == before {
            break;
        }
    }
    let name = consumer.cached_info().name.clone();
    stream.delete_consumer(&name).await.unwrap();
    out
}

/// A TCP proxy to a server that can cut every connection through it and refuse new ones for a
/// while: a network failure, or a server restart, as the server's clients see it.
pub struct Proxy {
    /// Where the proxy listens.
    pub addr: std::net::SocketAddr,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    refusing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    /// A proxy on a free local port to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        use std::sync::atomic::Ordering;
        let upstream = upstream.to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let refusing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (l, r) = (links.clone(), refusing.clone());
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if r.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                l.lock().unwrap().push(link.abort_handle());
            }
        });
        Proxy {
            addr,
            links,
            refusing,
        }
    }

    /// Closes every open connection and refuses new ones for `down`; returns how many were
    /// open.
    pub async fn cut(&self, down: std::time::Duration) -> usize {
        use std::sync::atomic::Ordering;
        self.refusing.store(true, Ordering::SeqCst);
        let links: Vec<_> = self.links.lock().unwrap().drain(..).collect();
        let open = links.iter().filter(|l| !l.is_finished()).count();
        links.iter().for_each(tokio::task::AbortHandle::abort);
        tokio::time::sleep(down).await;
        self.refusing.store(false, Ordering::SeqCst);
        open
    }
}

/// `url` (a PostgreSQL URL) with its host and port replaced by `addr` (a [`Proxy`]'s).
pub fn postgres_url_via(url: &str, addr: std::net::SocketAddr) -> String {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}{password}@{addr}/{db}")
}

/// The `host:port` of a PostgreSQL URL (the first host).
pub fn postgres_host_port(url: &str) -> String {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}
