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
