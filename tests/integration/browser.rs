//! The HTML page opened as a person would: headless Chromium (Debian's `chromium`) loads index.html
//! from disk, and the test checks over the DevTools protocol that nothing failed or was fetched, that
//! every chart is visible with a size, and takes a screenshot.
//!
//! Without chromium the test skips with a message, unless TOKENSTORM_REQUIRE_CHROMIUM is set (CI sets
//! it, and .ci/run installs chromium), where a missing browser fails it.

use super::plots::fixture;
use base64::Engine;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Only guards against a browser that hangs; no assertion depends on time.
const HANG_GUARD: Duration = Duration::from_secs(90);

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TOKENSTORM_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// Kills the browser when the test ends, however it ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(binary: &Path, profile: &Path) -> (Browser, String) {
    let child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let browser = Browser(child);
    // Chromium writes its DevTools port and browser path here once it listens.
    let file = profile.join("DevToolsActivePort");
    let started = std::time::Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return (browser, format!("ws://127.0.0.1:{port}{path}"));
            }
        }
        assert!(
            started.elapsed() < HANG_GUARD,
            "chromium never wrote {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A DevTools protocol connection: numbered calls, and every event kept for the assertions.
struct Cdp {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    events: Vec<Value>,
}

impl Cdp {
    /// Connects to the browser's DevTools endpoint.
    fn connect(endpoint: &str) -> Cdp {
        let (ws, _) = tungstenite::connect(endpoint).expect("DevTools websocket");
        if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
            stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        }
        Cdp {
            ws,
            next: 0,
            events: Vec::new(),
        }
    }

    fn read(&mut self) -> Value {
        loop {
            let msg = self.ws.read().expect("DevTools connection broke");
            if let Message::Text(text) = msg {
                return serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
            }
        }
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut msg = json!({"id": self.next, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let v = self.read();
            if v["id"].as_u64() == Some(self.next) {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    fn wait_for(&mut self, method: &str) {
        if self.events.iter().any(|e| e["method"] == method) {
            return;
        }
        loop {
            let v = self.read();
            let found = v["method"] == method;
            self.events.push(v);
            if found {
                return;
            }
        }
    }
}

#[test]
fn the_report_page_loads_in_chromium_without_errors_and_shows_every_chart() {
    let Some(binary) = chromium_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = fixture();
    let page = tokenstorm::report::pages::write_run(&report, dir.path()).unwrap();
    let page_url = format!("file://{}", page.canonicalize().unwrap().display());

    let (_browser, endpoint) = start(&binary, &dir.path().join("chromium-profile"));
    let mut cdp = Cdp::connect(&endpoint);
    let session = open_page(&mut cdp, &page_url);
    let s = Some(session.as_str());
    every_chart_is_visible_with_labels(&mut cdp, s);
    the_screenshot_holds_the_whole_page(&mut cdp, s, dir.path());
    the_console_has_no_errors(&cdp);
    the_page_fetched_only_itself(&cdp, &page_url);
}

/// The browser, or `None` with a message when there is none and none is required.
fn chromium_or_skip() -> Option<PathBuf> {
    let binary = chromium();
    if binary.is_none() {
        assert!(
            std::env::var_os("TOKENSTORM_REQUIRE_CHROMIUM").is_none(),
            "TOKENSTORM_REQUIRE_CHROMIUM is set but there is no chromium (apt-get install chromium)"
        );
        eprintln!(
            "SKIPPED: no chromium on PATH, so the page was not checked in a browser \
             (apt-get install chromium, or set TOKENSTORM_CHROMIUM; CI sets TOKENSTORM_REQUIRE_CHROMIUM=1)"
        );
    }
    binary
}

/// A new tab at the desktop size, with page, console, log and network events on, loaded with
/// `page_url`. Returns the tab's session id.
fn open_page(cdp: &mut Cdp, page_url: &str) -> String {
    let target = cdp.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let attached = cdp.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    let session = attached["sessionId"].as_str().unwrap().to_owned();
    let s = Some(session.as_str());
    for domain in ["Page", "Runtime", "Log", "Network"] {
        cdp.call(s, &format!("{domain}.enable"), json!({}));
    }
    cdp.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1100, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    cdp.call(s, "Page.navigate", json!({"url": page_url}));
    cdp.wait_for("Page.loadEventFired");
    session
}

fn every_chart_is_visible_with_labels(cdp: &mut Cdp, s: Option<&str>) {
    let probe = r#"JSON.stringify({
        title: document.title,
        heading: document.querySelector('h1') && document.querySelector('h1').textContent,
        charts: Array.from(document.querySelectorAll('figure.chart')).map(f => {
            const svg = f.querySelector('svg');
            const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            const st = svg ? getComputedStyle(svg) : null;
            return {id: f.id, width: r.width, height: r.height,
                    visible: !!st && st.display !== 'none' && st.visibility !== 'hidden' && st.opacity !== '0',
                    texts: svg ? svg.querySelectorAll('text').length : 0};
        })
    })"#;
    let result = cdp.call(
        s,
        "Runtime.evaluate",
        json!({"expression": probe, "returnByValue": true}),
    );
    let seen: Value = serde_json::from_str(result["result"]["value"].as_str().unwrap()).unwrap();
    assert_eq!(seen["title"], "tokenstorm: fixture");
    assert!(seen["heading"]
        .as_str()
        .unwrap()
        .contains("tokenstorm report: fixture"));
    let charts = seen["charts"].as_array().unwrap();
    assert_eq!(charts.len(), 13, "{seen}");
    for c in charts {
        assert_eq!(c["visible"], true, "{c}");
        assert!(c["width"].as_f64().unwrap() > 300.0, "{c}");
        assert!(c["height"].as_f64().unwrap() > 150.0, "{c}");
        assert!(
            c["texts"].as_u64().unwrap() > 5,
            "chart without labels: {c}"
        );
    }
}

/// Also written next to the page, for a person to look at.
fn the_screenshot_holds_the_whole_page(cdp: &mut Cdp, s: Option<&str>, dir: &Path) {
    let shot = cdp.call(
        s,
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true}),
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let info = decoder.read_info().unwrap();
    assert!(
        info.info().height > 3000,
        "the whole page: {:?}",
        info.info()
    );
    std::fs::write(dir.join("screenshot.png"), &png).unwrap();
}

fn the_console_has_no_errors(cdp: &Cdp) {
    let errors: Vec<&Value> = cdp
        .events
        .iter()
        .filter(|e| {
            e["method"] == "Runtime.exceptionThrown"
                || (e["method"] == "Runtime.consoleAPICalled"
                    && matches!(e["params"]["type"].as_str(), Some("error" | "assert")))
                || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
        })
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

fn the_page_fetched_only_itself(cdp: &Cdp, page_url: &str) {
    let fetched: Vec<&str> = cdp
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .filter_map(|e| e["params"]["request"]["url"].as_str())
        .collect();
    assert_eq!(fetched, [page_url], "the page fetched more than itself");
}
