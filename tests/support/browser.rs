//! A real headless Chromium driven over WebDriver (W3C, through Debian's `chromedriver`), for
//! the dashboard's browser tests. The protocol is plain JSON over HTTP, so this speaks it with
//! the tests' own `reqwest` rather than a WebDriver crate.
//!
//! `Browser::start` returns `None` (after printing why) when Chromium or its driver is
//! missing and `CI` is not `true`; under CI a missing browser fails the test.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How often `wait_for` and `find` look again.
const POLL: Duration = Duration::from_millis(50);
/// How long `find` waits for an element to appear.
const FIND_WITHIN: Duration = Duration::from_secs(10);

/// One element of the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

/// A WebDriver failure: the command, and the driver's error and message.
#[derive(Debug)]
pub struct DriverError {
    pub command: String,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.command, self.error, self.message)
    }
}

/// A headless Chromium session; the browser and its driver are ended when dropped.
pub struct Browser {
    client: reqwest::Client,
    driver_port: u16,
    session: String,
    driver: Child,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

/// Whether the tests run under CI (`CI=true`), where a missing browser is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium 1280×900; screenshots go to `shots`.
    pub async fn start(shots: &Path) -> Option<Browser> {
        for program in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(program).exists() {
                let reason = format!(
                    "{program} is missing: install Debian's chromium and chromium-driver \
                     (.ci/run does)"
                );
                assert!(!in_ci(), "{reason}");
                eprintln!("skipping the browser test: {reason}");
                return None;
            }
        }
        std::fs::create_dir_all(shots).expect("screenshot directory");
        let driver_port = super::free_port();
        // Its own process group, so that dropping it ends the browser it started too.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let base = format!("http://127.0.0.1:{driver_port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = client.get(format!("{base}/status")).send().await;
            if let Ok(answer) = status {
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                if body["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(POLL).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--window-size=1280,900", "--hide-scrollbars",
                    "--force-device-scale-factor=1", "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Some(Browser {
            client,
            driver_port,
            session,
            driver,
            shots: shots.to_path_buf(),
            _profile: profile,
        })
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DriverError> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.driver_port, self.session
        );
        let mut request = self.client.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let name = format!("{method} {path}");
        let answer = request.send().await.map_err(|e| DriverError {
            command: name.clone(),
            error: "transport".into(),
            message: e.to_string(),
        })?;
        let body: Value = answer.json().await.map_err(|e| DriverError {
            command: name.clone(),
            error: "body".into(),
            message: e.to_string(),
        })?;
        let value = body["value"].clone();
        match value.get("error").and_then(Value::as_str) {
            Some(error) => Err(DriverError {
                command: name,
                error: error.to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            }),
            None => Ok(value),
        }
    }

    async fn must(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Opens `url` and waits for its load.
    pub async fn goto(&self, url: &str) {
        self.must(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        let value = self.must(reqwest::Method::GET, "/url", None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    pub async fn title(&self) -> String {
        let value = self.must(reqwest::Method::GET, "/title", None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The visible text of the whole page.
    pub async fn page_text(&self) -> String {
        match self.find_all("body").await.first() {
            Some(body) => self.text(body).await,
            None => String::new(),
        }
    }

    /// Every element matching the CSS selector (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let value = self
            .command(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item[ELEMENT].as_str())
                    .map(|id| Element(id.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, looked for every 50 ms for up to 10 s (a page an
    /// action led to may still be loading); fails the test when none comes.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + FIND_WITHIN;
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no element {css:?} on {}:\n{}",
                    self.url().await,
                    self.page_text().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn text(&self, element: &Element) -> String {
        // An element replaced since it was found (the live rows) has no text.
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
    }

    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// A DOM property (`value` of a select or a textarea).
    pub async fn property(&self, element: &Element, name: &str) -> Option<String> {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/property/{name}", element.0),
            None,
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Clicks the first element matching `css`, found again if the page replaced it in
    /// between (the live rows).
    pub async fn click_css(&self, css: &str) {
        for _ in 0..20 {
            let element = self.find(css).await;
            let clicked = self
                .command(
                    reqwest::Method::POST,
                    &format!("/element/{}/click", element.0),
                    None,
                )
                .await;
            match clicked {
                Ok(_) => return,
                Err(e) if e.error == "stale element reference" => continue,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{css} kept being replaced");
    }

    /// Clicks the first element matching `css` (a form's button, a link) and waits until the
    /// browser has left the page for the one it leads to and loaded it, even when that is the
    /// same URL (a form that redirects back to its page): a marker set on the old page's
    /// window is gone. Without this, a navigation the test starts next could cancel the
    /// click's own before its request was sent.
    pub async fn click_to_navigate(&self, css: &str) {
        self.script("window.duroOldPage = true; return null;", vec![])
            .await;
        self.click_css(css).await;
        let deadline = Instant::now() + FIND_WITHIN * 3;
        loop {
            let state = self
                .command(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({
                        "script": "return [window.duroOldPage === true, document.readyState];",
                        "args": []
                    })),
                )
                .await;
            if let Ok(state) = state {
                if state[0] == false && state[1] == "complete" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css} did not lead to a new page"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn click(&self, element: &Element) {
        self.must(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            None,
        )
        .await;
    }

    /// Types `text` into the element (WebDriver key codes such as `ENTER` included).
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.must(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn clear(&self, element: &Element) {
        self.must(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            None,
        )
        .await;
    }

    /// Presses and releases `key` (a WebDriver key code, such as TAB `\u{E004}`) on whatever
    /// has the focus, as a person at the keyboard would.
    pub async fn press(&self, key: &str) {
        self.must(
            reqwest::Method::POST,
            "/actions",
            Some(
                json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                    {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}
                ]}]}),
            ),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its result.
    /// WebDriver scripts run whatever the page's CSP says: the tests use them to look, and to
    /// act as a forged form would.
    pub async fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.must(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The text of an open alert dialog, if one is open.
    pub async fn alert_text(&self) -> Option<String> {
        self.command(reqwest::Method::GET, "/alert/text", None)
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Sets the window's size (the viewport of a headless window is the same).
    pub async fn resize(&self, width: u32, height: u32) {
        self.must(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Saves a PNG of the viewport as `target/ui-screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let value = self.must(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .expect("screenshot base64");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write screenshot");
        path
    }

    /// Saves a PNG of the whole page (as tall as its content, up to 4000 px).
    pub async fn full_screenshot(&self, name: &str, width: u32) -> PathBuf {
        let height = self
            .script(
                "return Math.ceil(document.documentElement.scrollHeight);",
                vec![],
            )
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(300, 4000) as u32;
        self.resize(width, height).await;
        let path = self.screenshot(name).await;
        self.resize(width, 900).await;
        path
    }

    /// Looks at the page every 50 ms until `check` gives a value, at most `within`; fails the
    /// test with `what` and the page's text otherwise.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, within: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + within;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if Instant::now() >= deadline {
                panic!(
                    "waited {within:?} for {what} on {}; the page says:\n{}",
                    self.url().await,
                    self.page_text().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and so the browser) through the driver, then the driver's group.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver_port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                self.session
            );
            let mut answer = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
        }
        let pid = i32::try_from(self.driver.id()).expect("pid");
        // SAFETY: kill(2) of the process group this test started (the driver leads it).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}
