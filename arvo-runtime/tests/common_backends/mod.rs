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
