//! Fixtures of the web console's tests: the real console (`shuyu::console::serve`) on
//! 127.0.0.1:0 over a test server's governance store, people to sign in as, a result held
//! for review, a raw HTTP client for forged requests, and an "attacker" site on another
//! loopback port.

use std::net::SocketAddr;
use std::time::Duration;

use fantoccini::Client;
use shuyu::console::ConsoleOptions;
use shuyu_governance::validate::id_number_check_char;
use shuyu_governance::{ExportId, ExportStatus, NewPerson, Role, Store, UnitId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::browser;
use crate::fixture::{self, TestServer};

/// The session cookie's name (console contract).
pub const COOKIE: &str = "shuyu_console";

/// A held-for-review query of `beilin-jobs` (export policy `review`).
pub const HELD_SQL: &str = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY district";

/// The console on 127.0.0.1:0 over a store.
pub struct ConsoleServer {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), shuyu::Error>>>,
}

impl ConsoleServer {
    /// Serves the console over `store` with the default options (30-minute sessions).
    pub async fn start(store: Store) -> ConsoleServer {
        Self::start_with(store, ConsoleOptions::default()).await
    }

    /// Serves the console over `store` with `options`.
    pub async fn start_with(store: Store, options: ConsoleOptions) -> ConsoleServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(shuyu::console::serve(listener, store, options, async {
            let _ = rx.await;
        }));
        ConsoleServer { addr, shutdown: Some(tx), task: Some(task) }
    }

    /// The absolute URL of `path` (`/console/…`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the console and checks it stopped cleanly.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("console task").expect("console stopped cleanly");
        }
    }
}

/// A valid ID number from its first 17 digits.
pub fn id_number(body17: &str) -> String {
    let check = id_number_check_char(body17).expect("17 digits");
    format!("{body17}{check}")
}

/// Registers a person (by the bureau) and returns the bearer token they sign in with.
pub fn person(server: &TestServer, name: &str, id17: &str, role: Role, unit: Option<UnitId>, provider: Option<&str>) -> String {
    let d = &server.domain;
    let new = NewPerson { name: name.into(), id_number: id_number(id17), role, unit, provider: provider.map(str::to_string) };
    let id = d.store.create_person(&d.bureau, &new).expect("register the person");
    let token = d.store.issue_token(&d.bureau, id, chrono::Duration::days(1)).expect("issue a token");
    token.token.expose().to_string()
}

/// `beilin-jobs` runs [`HELD_SQL`] over Flight SQL; the result is held for the bureau's
/// review, and the notice names the export.
pub async fn held_export(server: &TestServer) -> ExportId {
    let jobs = server.jobs().clone();
    let mut client = server.client(&jobs).await;
    let (schema, batches) = fixture::query(&mut client, HELD_SQL).await.expect("the query is answered with a notice");
    assert_eq!(fixture::rows(&batches), 1, "one notice row in place of the held result");
    assert_eq!(schema.metadata().get("shuyu.export_status").map(String::as_str), Some("pending"));
    let id: i64 = schema.metadata().get("shuyu.export").expect("the notice names its export").parse().expect("an export id");
    ExportId(id)
}

/// The export's status, as the bureau sees it.
pub fn export_status(server: &TestServer, export: ExportId) -> ExportStatus {
    let d = &server.domain;
    let all = d.store.exports(&d.bureau, None).expect("list exports");
    all.into_iter().find(|e| e.id == export).expect("the export exists").status
}

/// Drops the browser's console session (its cookies) and leaves it on the sign-in page.
pub async fn forget_session(c: &Client, console: &ConsoleServer) {
    // Cookies are cleared for the current page's site: be on the console first.
    c.goto(&console.url("/console/sign-in")).await.expect("open the sign-in page");
    c.delete_all_cookies().await.expect("clear cookies");
    c.goto(&console.url("/console/sign-in")).await.expect("open the sign-in page");
}

/// Signs `c` in with `token` on `console` and waits for a signed-in page.
pub async fn sign_in(c: &Client, console: &ConsoleServer, token: &str) {
    forget_session(c, console).await;
    let form = browser::find(c, "form#sign-in").await;
    browser::fill(&form, "token", token).await;
    let landed = browser::click_and_wait(c, "#sign-in-submit", "#whoami, #sign-in-error").await;
    if landed.attr("id").await.expect("attr").as_deref() == Some("sign-in-error") {
        panic!("the console refused the sign-in: {}", landed.text().await.unwrap_or_default());
    }
}

/// Opens `path` on the console and waits for its `<h1>`.
pub async fn open(c: &Client, console: &ConsoleServer, path: &str) {
    c.goto(&console.url(path)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    browser::find(c, "h1").await;
}

/// The session cookie of the signed-in browser (WebDriver reads HttpOnly cookies).
pub async fn session_cookie(c: &Client) -> String {
    c.get_named_cookie(COOKIE).await.expect("the browser holds the console's session cookie").value().to_string()
}

/// A reply to a raw HTTP request.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: String,
}

impl Reply {
    /// The first header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request to `addr` and reads the whole reply (`Connection: close`).
pub async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(addr).await.expect("connect to the console");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("send the request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw)).await.expect("the console answers").expect("read the reply");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw.split_once("\r\n\r\n").expect("a reply head");
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    Reply { status, headers, body }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// A site on another loopback port that answers every request with one HTML page (no
/// script); stopped when dropped.
pub struct AttackerSite {
    /// The bound address.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl AttackerSite {
    /// Serves `html` on 127.0.0.1:0.
    pub async fn serve(html: String) -> AttackerSite {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let html = html.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                        html.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        AttackerSite { addr, task }
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/prize.html", self.addr)
    }
}

impl Drop for AttackerSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}
