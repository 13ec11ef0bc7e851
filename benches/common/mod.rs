//! What the benches that run the server in a child process share: the child itself, and
//! reading its CPU time and RSS from `/proc`.

#![allow(dead_code)] // each bench uses its own part

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret-0123456789";

/// The child: the real app on a fresh SQLite store, its port on stdout, until stdin closes.
pub fn server() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let data_dir = tempfile::tempdir().expect("temp dir");
        // The parent's `APP__…` settings (the per-address socket cap), then the bench's own.
        let mut config = agora::config::Config::load(None, std::env::vars())
            .expect("the APP__ settings are valid");
        config.http.bind = "127.0.0.1:0".parse().unwrap();
        config.store.data_dir = data_dir.path().to_owned();
        config.auth.jwt_secret = Some(JWT_SECRET.into());
        config.rate_limits.enabled = false;
        let app = agora::App::build(config).await.expect("the app starts");
        println!("port {}", app.port());
        std::io::stdout().flush().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            // The parent closes our stdin when it is done (or dies).
            let _ = std::io::stdin().lines().count();
            let _ = stop.send(());
        });
        app.run_until(async {
            let _ = stopped.await;
        })
        .await
        .expect("the server runs");
    });
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user and system) used so far by all threads of process `pid`, from the
/// scheduler's per-thread nanosecond counters.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// This binary again as a child in `role` (stdin and stdout piped), and the port it prints
/// first (`port N`).
pub fn spawn_role(role: &str, env: &[(&str, String)]) -> (Child, u16) {
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env("BENCH_ROLE", role)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("the {role} child starts: {err}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap_or_else(|err| panic!("the {role} child prints its port: {err}"));
    let port = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the {role} child printed {line:?}, not its port"));
    (child, port)
}

pub fn stop(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

/// POSTs one GraphQL request to the server child and returns its JSON answer.
pub async fn post(
    http: &reqwest::Client,
    port: u16,
    token: Option<&str>,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    let mut request = http
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&serde_json::json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a JSON answer")
}
