//! Real headless Chromium driven over the W3C WebDriver protocol: chromedriver started on a free
//! loopback port for one test and killed when it ends. The protocol is a handful of JSON calls,
//! spoken here with reqwest.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the driver process goes with it.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    driver: Child,
}

/// Chromium and its driver, or `None` (loudly) outside CI when they are not installed.
pub async fn open() -> Option<Browser> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        let why = format!("{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the browser test must run in CI: {why}");
        }
        eprintln!("\n!!! SKIPPING the browser test: {why}\n");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Its own process group, so that Chromium goes with it even when a test panics.
    let driver = Command::new(CHROMEDRIVER)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut browser = Browser { base, http, driver };
    browser.wait_for_driver().await;
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]
        }
    }}});
    let session = browser.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
    let id = session["sessionId"].as_str().expect("a WebDriver session id").to_string();
    browser.base = format!("{}/session/{id}", browser.base);
    Some(browser)
}

impl Browser {
    /// Polls the driver's status until it is ready (at most 100 tries, 100 ms apart).
    async fn wait_for_driver(&mut self) {
        for _ in 0..100 {
            if let Ok(r) = self.http.get(format!("{}/status", self.base)).send().await {
                if r.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not come up");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        let value = answer["value"].clone();
        if let Some(error) = value.get("error") {
            panic!("WebDriver {path}: {error}: {}", value["message"]);
        }
        value
    }

    /// The `error` a call answers with, if it fails.
    async fn call_error(&self, method: reqwest::Method, path: &str) -> Option<String> {
        let answer: Value =
            self.http.request(method, format!("{}{path}", self.base)).send().await.unwrap().json().await.unwrap();
        answer["value"]["error"].as_str().map(str::to_string)
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_string()
    }

    /// The first element `css` selects, waiting (at most 150 tries, 100 ms apart) for it to appear.
    pub async fn find(&self, css: &str) -> String {
        for _ in 0..150 {
            let req = self.http.post(format!("{}/element", self.base));
            let answer: Value =
                req.json(&json!({ "using": "css selector", "value": css })).send().await.unwrap().json().await.unwrap();
            if let Some(id) = answer["value"][ELEMENT].as_str() {
                return id.to_string();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element {css:?} on {}", self.url().await);
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None).await.as_str().unwrap().to_string()
    }

    /// Types into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    /// Presses keys on the page, as a person would.
    pub async fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                [
                    json!({ "type": "keyDown", "value": k.to_string() }),
                    json!({ "type": "keyUp", "value": k.to_string() }),
                ]
            })
            .collect();
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] });
        self.call(reqwest::Method::POST, "/actions", Some(body)).await;
    }

    /// Whether a JavaScript alert is open (hostile data that ran would open one).
    pub async fn alert_open(&self) -> bool {
        self.call_error(reqwest::Method::GET, "/alert/text").await.as_deref() != Some("no such alert")
    }

    /// Saves a PNG of the page.
    pub async fn screenshot(&self, path: &Path) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = openssl::base64::decode_block(data.as_str().unwrap()).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Browser {
    /// Ends the session, which closes Chromium, before the driver goes.
    pub async fn close(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
