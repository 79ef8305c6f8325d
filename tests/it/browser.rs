//! The web UI end to end, in headless Chromium driven over WebDriver: a real `cadena
//! serve --demo` on a free loopback port, Debian's `chromedriver`, and one browser session
//! for the whole flow (sign-in, screening, escaping, language, agencies, batch audit,
//! datasets, alerts, a decision on a match). Each page is saved as a PNG in `$CADENA_SCREENSHOT_DIR` (default
//! `screenshots` in the cargo target directory). Without Chromium the test says so and passes, or fails under `CI=true`.
//!
//! The WebDriver client is fantoccini, over plain HTTP to the local chromedriver.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long to wait for any one thing on a page.
const WAIT: Duration = Duration::from_secs(20);

/// Child processes, killed when dropped (also when a test fails).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session (fantoccini), with the few steps the flow needs, each failing the
/// test with what it was looking for.
struct Browser {
    client: fantoccini::Client,
    screenshots: PathBuf,
}

impl Browser {
    async fn start(driver: SocketAddr, profile: &Path, screenshots: PathBuf) -> Browser {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".to_owned(), json!({ "binary": CHROMIUM, "args": args }));
        // chromedriver listens a moment after it starts: retry until it answers.
        let started = Instant::now();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = loop {
            let connecting = fantoccini::ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://{driver}"))
                .await;
            match connecting {
                Ok(client) => break client,
                Err(_) if started.elapsed() < WAIT => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(err) => panic!("could not start a Chromium session through chromedriver: {err}"),
            }
        };
        Browser { client, screenshots }
    }

    async fn go(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|err| panic!("go to {url}: {err}"));
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|err| panic!("no element {css}: {err}"))
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    /// Clears a field and types `text` into it.
    async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element.clear().await.unwrap_or_else(|err| panic!("clear {css}: {err}"));
        if !text.is_empty() {
            element.send_keys(text).await.unwrap_or_else(|err| panic!("type into {css}: {err}"));
        }
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|err| panic!("text of {css}: {err}"))
    }

    /// Runs `script` (a function body) in the page and returns its value.
    async fn script(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap_or_else(|err| panic!("script {script}: {err}"))
    }

    /// Waits until `expression` is true in the page, or fails naming `what`.
    async fn wait_for(&self, what: &str, expression: &str) {
        let started = Instant::now();
        let script = format!("return !!({expression});");
        while self.script(&script).await != true {
            if started.elapsed() > WAIT {
                let body = self.script("return document.body.innerText;").await;
                panic!("timed out waiting for {what} ({expression}); the page shows:\n{}", body.as_str().unwrap_or(""));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element matching `css` to be shown.
    async fn wait_visible(&self, css: &str) {
        let css_js = serde_json::to_string(css).unwrap();
        self.wait_for(css, &format!("(e => e && e.offsetParent !== null)(document.querySelector({css_js}))")).await;
    }

    async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap_or_else(|err| panic!("resize: {err}"));
    }

    async fn screenshot(&self, name: &str) {
        let bytes = self.client.screenshot().await.unwrap_or_else(|err| panic!("screenshot {name}: {err}"));
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::create_dir_all(&self.screenshots).unwrap();
        std::fs::write(self.screenshots.join(format!("{name}.png")), bytes).unwrap();
    }

    /// Whether an alert, confirm or prompt dialog is open.
    async fn dialog_open(&self) -> bool {
        self.client.get_alert_text().await.is_ok()
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The cargo target directory this test binary was built in (`target/debug/deps/it-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).map_or_else(std::env::temp_dir, Path::to_path_buf)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `cadena serve --demo` on a free port; its base URL and admin key.
fn start_server(data_dir: &Path) -> (Killed, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cadena"))
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .env("CADENA_DATA_DIR", data_dir)
        .env_remove("CADENA_DATABASE_URL")
        .env("CADENA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cadena serve");
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut url = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("read cadena serve's output");
        if let Some(rest) = line.strip_prefix("cadena is listening on ") {
            url = rest.split_whitespace().next().map(|url| url.trim_end_matches('/').to_owned());
        }
        if line.starts_with("cadena_") {
            return (child, url.expect("the address before the key"), line);
        }
    }
    panic!("cadena serve ended without printing its address and key");
}

#[test]
fn the_web_ui_signs_in_screens_searches_and_audits_in_chromium() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        crate::harness::missing_prerequisite(
            &format!("{CHROMIUM} or {CHROMEDRIVER}"),
            "apt-get install chromium chromium-driver (.ci/run does)",
        );
        return;
    }
    // The flow is one long future: in a debug build it needs more than a test thread's stack.
    let flow = std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(web_ui_flow());
        })
        .unwrap();
    if let Err(panic) = flow.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn web_ui_flow() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, base, key) = start_server(&dir.path().join("data"));
    let port = free_port();
    let _driver = Killed(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let screenshots = std::env::var_os("CADENA_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("screenshots"));
    let browser =
        Browser::start(SocketAddr::from(([127, 0, 0, 1], port)), &dir.path().join("profile"), screenshots).await;

    // A browser opening `/` is sent to the UI, in Spanish, and asked to sign in.
    browser.go(&format!("{base}/")).await;
    browser.wait_for("the UI to start", "document.body.dataset.ready === 'true'").await;
    browser.wait_visible("#signin-key").await;
    assert_eq!(browser.text("#signin-title").await, "Iniciar sesión");
    browser.screenshot("signin").await;

    // A wrong key is refused with a message; the right one opens the screening page.
    browser.fill("#signin-key", "cadena_not_a_key").await;
    browser.click("#signin-submit").await;
    browser.wait_visible("#signin-error").await;
    assert!(browser.text("#signin-error").await.contains("Clave no válida"));
    browser.fill("#signin-key", &key).await;
    browser.click("#signin-submit").await;
    browser.wait_visible("#screen-form").await;
    assert!(browser.script("return sessionStorage.getItem('cadena.key')").await == key.as_str());

    // The demo supplier, with its agency and a line of gold, comes out critical, with its
    // reasons, their legal basis, the watchlist match explained, and the record.
    browser.fill("#s-name", "Minera Ficticia Oro Verde SAC").await;
    browser.fill("#s-tax", "20999999990").await;
    browser.script("document.getElementById('s-country').value = 'PE';").await;
    browser.fill("#s-agencies", "DEMO-A-001").await;
    browser.click("#add-item").await;
    browser.fill("#item-1-description", "Lingotes de oro 99.9%").await;
    browser.fill("#item-1-code", "11101700").await;
    browser.script("document.getElementById('item-1-origin').value = 'PE';").await;
    browser.click("#screen-submit").await;
    browser.wait_visible("#band-name").await;
    assert_eq!(browser.text("#band-name").await, "Crítico");
    // Its reasons, actions, evidence and questions are in Spanish, as the rule files
    // give them; no English rule text and no field path is on the page.
    let reasons = browser.text(".reason-list").await;
    let (title, action, _) = crate::rules::rule_texts("watchlist.toml", "watchlist.strong_match", "es");
    assert!(reasons.contains(&title) && reasons.contains(&action), "{reasons}");
    assert!(reasons.contains("Coincidencia fuerte con «Minera Ficticia Oro Verde S.A.C.»"), "{reasons}");
    assert!(reasons.contains("Estado de la licencia (agencia DEMO-A-001): sin licencia"), "{reasons}");
    let page = browser.text("#result").await;
    for english in crate::rules::all_rule_texts("en") {
        assert!(!page.contains(&english), "English on the Spanish page: {english:?}\n{page}");
    }
    for path in ["supplier.", "agency.", "match.", "line."] {
        assert!(!reasons.contains(path), "a field path {path} among the reasons: {reasons}");
    }
    let questions = browser.text("#result .gaps").await;
    assert!(questions.contains('¿'), "the questions are asked in Spanish: {questions}");
    assert!(browser.text(".legal-basis").await.contains("OAS WP3"), "a legal basis is shown");
    let matches = browser.text(".match-list").await;
    assert!(
        matches.contains("Minera Ficticia Oro Verde S.A.C.") && matches.contains("Demo forced-labour list"),
        "{matches}"
    );
    assert!(browser.text("#recommended-action").await.starts_with("No adjudicar"));
    assert!(!browser.text("#record-id").await.is_empty());
    browser.resize(1280, 2200).await;
    browser.screenshot("screening").await;
    browser.resize(1280, 1000).await;

    // The language switch changes the labels, and the result's words, at once.
    browser.click("#lang option[value='en']").await;
    browser.wait_for("English labels", "document.getElementById('band-name').textContent === 'Critical'").await;
    assert_eq!(browser.text("#nav a[data-view='screen']").await, "Screen");
    assert_eq!(browser.script("return document.documentElement.lang").await, "en");
    browser.click("#lang option[value='es']").await;
    browser.wait_for("Spanish labels", "document.getElementById('band-name').textContent === 'Crítico'").await;

    // A name that is markup is shown as text: no element is made of it, no dialog opens.
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    browser.click("#items .item button").await;
    browser.fill("#s-name", hostile).await;
    browser.fill("#s-tax", "").await;
    browser.fill("#s-agencies", "").await;
    browser.click("#screen-submit").await;
    let hostile_js = serde_json::to_string(hostile).unwrap();
    browser
        .wait_for(
            "the hostile name as text",
            &format!("document.getElementById('result-subject')?.textContent === {hostile_js}"),
        )
        .await;
    assert_eq!(browser.script("return document.getElementById('result-subject').childElementCount").await, 0);
    assert_eq!(browser.script("return document.querySelectorAll('script').length").await, 1, "only app.js");
    assert_eq!(browser.script("return document.querySelectorAll('#result img').length").await, 0);
    assert!(!browser.dialog_open().await, "no alert fired");

    // An inspector finds an agency despite two typos, sees its licence, and opens it.
    browser.click("#nav a[data-view='agencies']").await;
    browser.wait_visible("#agency-q").await;
    browser.fill("#agency-q", "reclutdora fictisia").await;
    browser
        .wait_for(
            "the agency in the list",
            "document.querySelector('#agency-list .agency')?.textContent.includes('Reclutadora Ficticia del Sur')",
        )
        .await;
    let listed = browser.text("#agency-list .agency").await;
    assert!(listed.contains("Suspendida") && listed.contains("2025-12-31"), "{listed}");
    browser.screenshot("agencies").await;
    browser.click("#agency-list .agency button").await;
    browser.wait_visible("#agency-name").await;
    assert_eq!(browser.text("#agency-name").await, "Reclutadora Ficticia del Sur S.R.L.");
    browser.wait_visible("#agency-suppliers").await;
    assert!(browser.text("#agency-suppliers").await.contains("Constructora Inventada Andina S.A.C."));
    browser.screenshot("agency").await;
    // An agency on a watchlist shows its finding in the list.
    browser.fill("#agency-q", "empleos inventados").await;
    browser
        .wait_for(
            "the finding in the list",
            "document.querySelector('#agency-list .agency .findings')?.textContent.includes('Demo unlicensed-recruitment list')",
        )
        .await;
    let listed = browser.text("#agency-list .agency").await;
    assert!(listed.contains("Agencia de Empleos Inventada E.I.R.L.") && listed.contains("Sin licencia"), "{listed}");

    // A batch audit runs through the page: progress, then the summary by band with the
    // rows that could not be read (line, id, field, reason), then the report to download.
    let mut suppliers =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/suppliers.csv")).unwrap();
    for i in 0..300 {
        suppliers.push_str(&format!("UI-{i},Proveedor Ficticio {i} S.A.,,,PE,Lima,paper,,,,,,,,,,,,,\n"));
    }
    suppliers.push_str("UI-BAD,Proveedor Ilegible S.A.,,,Narnia,Lima,paper,,,,,,,,,,,,,\n");
    let upload = dir.path().join("proveedores.csv");
    std::fs::write(&upload, suppliers).unwrap();
    browser.click("#nav a[data-view='audit']").await;
    browser.wait_visible("#audit-file").await;
    // Typing a path into a file input chooses that file (WebDriver's "element send keys").
    browser.find("#audit-file").await.send_keys(upload.to_str().unwrap()).await.unwrap();
    browser.click("#audit-submit").await;
    browser.wait_visible("#audit-progress").await;
    browser.wait_visible("#audit-download").await;
    assert_eq!(browser.script("return document.getElementById('audit-progress').value").await, 307);
    assert!(browser.text("#audit-rows").await.contains("307 de 307"));
    let bands = browser.text("#audit-bands").await;
    assert!(bands.contains("Crítico"), "{bands}");
    let rejected = browser.text("#audit-rejected").await;
    for shown in ["Filas que no se pudieron leer", "Motivo", "308", "UI-BAD", "country", "Narnia"] {
        assert!(rejected.contains(shown), "{shown:?} in {rejected}");
    }
    let href = browser.script("return document.getElementById('audit-download').href").await;
    assert!(href.as_str().unwrap().starts_with("blob:"), "{href}");
    browser.screenshot("audit").await;

    // What is loaded and the rules, with their legal basis.
    browser.click("#nav a[data-view='datasets']").await;
    browser.wait_for("the loads and rules", "document.querySelectorAll('#loads tbody tr').length >= 5 && document.querySelectorAll('#rules tbody tr').length >= 5").await;
    assert!(browser.text("#loads").await.contains("demo/suppliers.csv"));
    assert!(browser.text("#rules").await.contains("OAS WP3"));
    browser.screenshot("datasets").await;

    // Monitoring's alerts: the demo's listed supplier and agency, and its agencies whose
    // licence is suspended or expired (seven while DEMO-LIC-0102 is valid), with the open
    // count in the navigation; closing one with a note takes it off the list.
    browser.wait_for("the open count", "Number(document.getElementById('alert-count').textContent) >= 7").await;
    let n_open: usize = browser.text("#alert-count").await.parse().unwrap();
    browser.click("#nav a[data-view='alerts']").await;
    browser
        .wait_for("the alerts", &format!("document.querySelectorAll('#alert-list .alert').length === {n_open}"))
        .await;
    let listed = browser.text("#alert-list").await;
    assert!(listed.contains("Licencia perdida") && listed.contains("Reclutadora Ficticia del Sur S.R.L."), "{listed}");
    assert!(listed.contains("Suspendida") && listed.contains("Vencida"), "{listed}");
    assert!(listed.contains("Coincidencia nueva") && listed.contains("Minera Ficticia Oro Verde S.A.C."), "{listed}");
    browser.resize(1280, 2600).await;
    browser.screenshot("alerts").await;
    browser.resize(1280, 1000).await;
    browser.fill("#alert-list .alert textarea", "Inspección programada para esta semana").await;
    browser.click("#alert-list .alert .close-alert button").await;
    let fewer = n_open - 1;
    browser
        .wait_for("one alert fewer", &format!("document.querySelectorAll('#alert-list .alert').length === {fewer}"))
        .await;
    assert_eq!(browser.text("#alert-count").await, fewer.to_string());
    browser.click("#alerts-status option[value='closed']").await;
    browser
        .wait_for(
            "the closed alert",
            "document.querySelector('#alert-list .closed-note')?.textContent.includes('Inspección programada')",
        )
        .await;

    // A reviewer marks the demo supplier's watchlist match a false positive: the screening
    // shows it among the matches a decision dismissed.
    browser.click("#nav a[data-view='screen']").await;
    browser.fill("#s-name", "Minera Ficticia Oro Verde SAC").await;
    browser.fill("#s-tax", "20999999990").await;
    browser.click("#screen-submit").await;
    browser.wait_for("the match", "document.querySelector('.match-list .decide input') !== null").await;
    browser.fill(".match-list .decide input", "Otra empresa: domicilio y socios distintos").await;
    browser.click(".match-list .decide button").await;
    browser
        .wait_for(
            "the dismissed match",
            "document.getElementById('dismissed-list')?.textContent.includes('DEMO-W-001')",
        )
        .await;
    assert!(browser.text("#dismissed-list").await.contains("Otra empresa"));
    assert_eq!(browser.script("return document.querySelectorAll('.match-list .match').length").await, 0);

    // The phone layout, then signing out forgets the key.
    browser.resize(400, 850).await;
    browser.click("#nav a[data-view='screen']").await;
    browser.wait_visible("#band-name").await;
    browser.script("document.getElementById('result').scrollIntoView();").await;
    browser.screenshot("screening-phone").await;
    browser.resize(1280, 1000).await;
    browser.click("#signout").await;
    browser.wait_visible("#signin-key").await;
    assert_eq!(browser.script("return sessionStorage.getItem('cadena.key')").await, Value::Null);
    browser.close().await;
}
