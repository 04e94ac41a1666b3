//! A real browser for the console tests: headless Chromium driven through a chromedriver
//! process this module starts on a free loopback port, with fantoccini as the WebDriver
//! client.
//!
//! Chromedriver and Chromium come from Debian's `chromium-driver` and `chromium` packages
//! (`.ci/run` installs them); `SHUYU_CHROMEDRIVER` and `SHUYU_CHROMIUM` name other binaries.
//! A missing chromedriver fails the test with what to install: it is never skipped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

/// The browser window's size: wide enough for the console's tables.
pub const WINDOW: (u32, u32) = (1280, 900);

/// The Chromium flags of every session: headless, no sandbox (containers), no GPU, no
/// /dev/shm (small in containers), and the window size.
pub fn chromium_args() -> Vec<String> {
    vec![
        "--headless=new".into(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        format!("--window-size={},{}", WINDOW.0, WINDOW.1),
    ]
}

/// The chromedriver binary: `SHUYU_CHROMEDRIVER`, else `/usr/bin/chromedriver`, else the
/// first `chromedriver` on `PATH`. Panics with what to install when there is none.
pub fn chromedriver_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SHUYU_CHROMEDRIVER") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "SHUYU_CHROMEDRIVER={} is not a file: point it at a chromedriver binary", p.display());
        return p;
    }
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/bin"))
        .chain(path_dirs)
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed, and the console's browser tests need it: \
                 install Debian's packages (`apt-get install chromium chromium-driver`; .ci/run does) \
                 or set SHUYU_CHROMEDRIVER (and SHUYU_CHROMIUM) to the binaries"
            )
        })
}

/// The Chromium binary chromedriver should start: `SHUYU_CHROMIUM`, else `/usr/bin/chromium`
/// when present, else chromedriver's own search.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SHUYU_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let debian = Path::new("/usr/bin/chromium");
    debian.is_file().then(|| debian.to_path_buf())
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A chromedriver process on a loopback port, asked to quit (closing its browsers) and then
/// killed when dropped.
pub struct Chromedriver {
    child: Child,
    addr: SocketAddr,
}

impl Chromedriver {
    /// Starts chromedriver on a free loopback port and waits until it answers `/status`.
    pub fn start() -> Chromedriver {
        let bin = chromedriver_path();
        let port = free_port();
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; install Debian's chromium-driver package", bin.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let driver = Chromedriver { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(addr, "/status").is_none_or(|r| !r.contains("\"ready\":true")) {
            assert!(Instant::now() < deadline, "{} did not answer on {addr} within 20 s", bin.display());
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// The WebDriver URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new headless Chromium session.
    pub async fn session(&self) -> Client {
        let mut options = serde_json::Map::new();
        options.insert("args".into(), serde_json::json!(chromium_args()));
        if let Some(bin) = chromium_path() {
            options.insert("binary".into(), serde_json::json!(bin.to_string_lossy()));
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), serde_json::json!("chrome"));
        caps.insert("goog:chromeOptions".into(), serde_json::Value::Object(options));
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium ({e}); is Debian's chromium package installed?"))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // `/shutdown` closes the sessions' browsers too; the kill is for a driver that hangs.
        let _ = get(self.addr, "/shutdown");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking `GET path` on the driver; the body, or `None` when it does not answer.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok());
            if length.is_none_or(|len| body.len() >= len) {
                break;
            }
        }
    }
    Some(String::from_utf8_lossy(&raw).into_owned())
}

/// The element `css`, waited for (a page that has just been navigated to).
pub async fn find(c: &Client, css: &str) -> Element {
    match c.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let page = c.source().await.unwrap_or_default();
            panic!("no `{css}` on {url} ({e}); the page:\n{page}")
        }
    }
}

/// Whether the current page has an element `css` (no waiting).
pub async fn has(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.expect("find_all").is_empty()
}

/// The trimmed text of `css`, waited for.
pub async fn text(c: &Client, css: &str) -> String {
    find(c, css).await.text().await.expect("element text").trim().to_string()
}

/// Sets a form control by name: clears an input or textarea and types `value`, or selects
/// the option `value` of a select.
pub async fn fill(form: &Element, name: &str, value: &str) {
    let field = form
        .find(Locator::Css(&format!("[name='{name}']")))
        .await
        .unwrap_or_else(|e| panic!("the form has no control named {name} ({e})"));
    if field.tag_name().await.expect("tag name").eq_ignore_ascii_case("select") {
        field.select_by_value(value).await.unwrap_or_else(|e| panic!("{name} has no option {value} ({e})"));
        return;
    }
    field.clear().await.unwrap_or_else(|e| panic!("cannot clear {name} ({e})"));
    field.send_keys(value).await.unwrap_or_else(|e| panic!("cannot type into {name} ({e})"));
}

/// Clicks `css` and waits for the next page to show `expect`.
pub async fn click_and_wait(c: &Client, css: &str, expect: &str) -> Element {
    find(c, css).await.click().await.unwrap_or_else(|e| panic!("cannot click `{css}` ({e})"));
    find(c, expect).await
}

/// Whether an alert (a `window.alert`, say) is open.
pub async fn alert_open(c: &Client) -> bool {
    match c.get_alert_text().await {
        Ok(_) => true,
        Err(e) if e.is_no_such_alert() => false,
        Err(e) => panic!("asking for an alert: {e}"),
    }
}

/// Where the console tests write their screenshots: `SHUYU_SCREENSHOTS`, else
/// `<target>/console-screenshots` (beside the `debug`/`release` folder of the test
/// binary, i.e. `$CARGO_TARGET_DIR/console-screenshots` or `target/console-screenshots`).
pub fn screenshots_dir() -> PathBuf {
    let dir = match std::env::var_os("SHUYU_SCREENSHOTS") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().expect("the test binary's path");
            let target = exe.ancestors().nth(3).expect("the test binary is in <target>/<profile>/deps");
            target.join("console-screenshots")
        }
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Saves a PNG screenshot of the current page as `<dir>/<name>.png`; returns its path.
pub async fn screenshot(c: &Client, dir: &Path, name: &str) -> PathBuf {
    let png = c.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot {name} is a PNG");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, &png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}
