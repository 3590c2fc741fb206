//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh browser (own profile, so own cookies); `javascript: false` disables scripts.
    pub async fn start(javascript: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test installs Debian's chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000", format!("--user-data-dir={}", profile.path().display())
            ]
        });
        if let Ok(binary) = std::env::var("CHROMIUM_BIN") {
            options["binary"] = json!(binary);
        }
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn fill(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// The element's text. Pages that update themselves (HTMX) may swap the element between
    /// finding it and reading it: then it is found again, a few times at most.
    pub async fn text(&self, css: &str) -> String {
        let mut tries = 0;
        loop {
            let element = self.client.find(Locator::Css(css)).await.unwrap();
            match element.text().await {
                Ok(text) => return text,
                Err(e) if tries < 5 && is_stale(&e) => tries += 1,
                Err(e) => panic!("reading `{css}`: {e}"),
            }
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// Waits for an element to appear, reloading the page each second when `reload`.
    pub async fn wait_for(&self, css: &str, reload: bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.exists(css).await {
            assert!(
                Instant::now() < deadline,
                "`{css}` never appeared on {}",
                self.client.current_url().await.unwrap()
            );
            if reload {
                self.client.refresh().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits for an element to appear and hold `text`, reloading the page each time when
    /// `reload` (without JavaScript nothing updates it). The element may go while the page
    /// replaces itself (a script's navigation, an HTMX swap): that is "not yet", not a failure.
    pub async fn wait_for_text(&self, css: &str, text: &str, reload: bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let shown = self.text_if_shown(css).await;
            if shown.as_deref().is_some_and(|shown| shown.contains(text)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` never said `{text}` on {} (it says {shown:?})",
                self.client.current_url().await.unwrap()
            );
            if reload {
                self.client.refresh().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The element's text, or `None` while there is no such element (or it was swapped
    /// between finding and reading it).
    async fn text_if_shown(&self, css: &str) -> Option<String> {
        let element = match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) if is_missing(&e) || is_stale(&e) => return None,
            Err(e) => panic!("finding `{css}`: {e}"),
        };
        match element.text().await {
            Ok(text) => Some(text),
            Err(e) if is_stale(&e) => None,
            Err(e) => panic!("reading `{css}`: {e}"),
        }
    }

    /// Saves a screenshot under `screenshots/` (ignored by git), after checking that the page
    /// fits the window's width (1280 px): nothing overflows sideways.
    pub async fn screenshot(&self, name: &str) {
        let widths = self
            .client
            .execute(
                "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (page, window) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
        assert!(
            page <= window,
            "the `{name}` page is {page} px wide in a {window} px window"
        );
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Whether the element found is no longer in the page. Chromium says so with a stale element
/// reference, or (when the swap happens while it reads the element) with an "unknown error"
/// whose message says the node "does not belong to the document".
fn is_missing(error: &fantoccini::error::CmdError) -> bool {
    matches!(error, fantoccini::error::CmdError::Standard(e)
        if e.error == fantoccini::error::ErrorStatus::NoSuchElement)
}

fn is_stale(error: &fantoccini::error::CmdError) -> bool {
    matches!(error, fantoccini::error::CmdError::Standard(e)
        if e.error == fantoccini::error::ErrorStatus::StaleElementReference
            || (e.error == fantoccini::error::ErrorStatus::UnknownError
                && e.message.contains("does not belong to the document")))
}
