//! Real headless Chromium through chromedriver. Set `TEST_CHROMEDRIVER` to the driver's path
//! (CI: /usr/bin/chromedriver) and optionally `TEST_CHROMIUM` to the browser binary.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::{Backend, TestApp, png_bytes};

pub struct Driver {
    child: Child,
    pub client: Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver on a free port and opens a headless session, or `None` when not configured.
pub async fn driver() -> Option<Driver> {
    driver_with(&[]).await
}

/// As [`driver`], with more Chromium switches (e.g. a dark colour scheme).
pub async fn driver_with(extra: &[&str]) -> Option<Driver> {
    let path = crate::helpers::service("TEST_CHROMEDRIVER", "this browser test")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {path}: {e}"));
    let profile = tempfile::tempdir().unwrap().keep();
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        "--window-size=1200,900".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args.sort();
    let mut opts = serde_json::json!({ "args": args });
    if let Ok(bin) = std::env::var("TEST_CHROMIUM") {
        opts["binary"] = serde_json::Value::String(bin);
    } else if std::path::Path::new("/usr/bin/chromium").exists() {
        opts["binary"] = "/usr/bin/chromium".into();
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), opts);
    let url = format!("http://127.0.0.1:{port}");
    let mut last_err = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return Some(Driver { child, client }),
            Err(e) => {
                last_err = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("chromedriver did not accept a session: {last_err:?}");
}

pub fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Types `text` into the field `css`, replacing what it held.
pub async fn fill(c: &Client, css: &str, text: &str) {
    let el = c.find(Locator::Css(css)).await.unwrap();
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The rendered text of `css`, once it is there.
pub async fn text(c: &Client, css: &str) -> String {
    c.wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits for a new page whose path starts with `prefix` after a form was submitted.
pub async fn landed(c: &Client, prefix: &str) -> String {
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if url.path().starts_with(prefix) {
            return url.path().to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "never reached {prefix}: at {}",
        c.current_url().await.unwrap()
    );
}

#[tokio::test]
async fn a_visitor_registers_logs_out_logs_in_and_sets_an_avatar() {
    let Some(driver) = driver().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, None, &[]).await;
    let c = &driver.client;
    let pw = "violet-harbor-quantum-41";

    c.goto(&app.url("/accounts/register/")).await.unwrap();
    c.find(Locator::Css("#id_username"))
        .await
        .unwrap()
        .send_keys("wendy")
        .await
        .unwrap();
    c.find(Locator::Css("#id_email"))
        .await
        .unwrap()
        .send_keys("wendy@example.com")
        .await
        .unwrap();
    c.find(Locator::Css("#id_password1"))
        .await
        .unwrap()
        .send_keys(pw)
        .await
        .unwrap();
    c.find(Locator::Css("#id_password2"))
        .await
        .unwrap()
        .send_keys(pw)
        .await
        .unwrap();
    c.find(Locator::Css("form.form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let nav = c
        .wait()
        .for_element(Locator::Css("[data-testid=nav-user]"))
        .await
        .unwrap();
    assert_eq!(nav.text().await.unwrap().trim(), "wendy");
    screenshot(c, "accounts-1-registered").await;

    c.find(Locator::Css("[data-testid=logout]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::XPath("//h1[contains(., 'logged out')]"))
        .await
        .unwrap();

    c.goto(&app.url("/accounts/login/")).await.unwrap();
    c.find(Locator::Css("#id_login"))
        .await
        .unwrap()
        .send_keys("wendy@example.com")
        .await
        .unwrap();
    c.find(Locator::Css("#id_password"))
        .await
        .unwrap()
        .send_keys(pw)
        .await
        .unwrap();
    c.find(Locator::Css("form.form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("[data-testid=nav-user]"))
        .await
        .unwrap();

    let avatar = tempfile::Builder::new().suffix(".png").tempfile().unwrap();
    std::fs::write(avatar.path(), png_bytes(320, 240)).unwrap();
    c.goto(&app.url("/accounts/profile/edit/")).await.unwrap();
    let name = c.find(Locator::Css("#id_display_name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("Wendy Walker").await.unwrap();
    c.find(Locator::Css("#id_bio"))
        .await
        .unwrap()
        .send_keys("Learning Rust on the web.")
        .await
        .unwrap();
    c.find(Locator::Css("#id_avatar"))
        .await
        .unwrap()
        .send_keys(&avatar.path().display().to_string())
        .await
        .unwrap();
    screenshot(c, "accounts-2-editing-profile").await;
    c.find(Locator::Css("form.form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let img = c
        .wait()
        .for_element(Locator::Css("[data-testid=avatar]"))
        .await
        .unwrap();
    let src = img.attr("src").await.unwrap().unwrap();
    assert!(src.starts_with("/media/avatars/"), "{src}");
    // The browser really loaded the image.
    let loaded = c
        .execute(
            "return document.querySelector('[data-testid=avatar]').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded.as_u64(), Some(256));
    let body = c
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Wendy Walker") && body.contains("Learning Rust on the web."));
    screenshot(c, "accounts-3-profile").await;
}

pub async fn browser_login(c: &Client, app: &TestApp, name: &str) {
    c.goto(&app.url("/accounts/login/")).await.unwrap();
    c.find(Locator::Css("#id_login"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    c.find(Locator::Css("#id_password"))
        .await
        .unwrap()
        .send_keys(crate::helpers::TEST_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("form.form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("[data-testid=nav-user]"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_author_publishes_an_illustrated_post_that_a_reader_cannot_edit() {
    let Some(driver) = driver().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, None, &[]).await;
    let author = app.user("penny", &["authors"], false).await;
    drop(author);
    let c = &driver.client;
    browser_login(c, &app, "penny").await;

    let cover = tempfile::Builder::new().suffix(".png").tempfile().unwrap();
    std::fs::write(cover.path(), png_bytes(1600, 900)).unwrap();
    c.goto(&app.url("/blog/new/")).await.unwrap();
    c.find(Locator::Css("#id_title"))
        .await
        .unwrap()
        .send_keys("Gardens of Rust")
        .await
        .unwrap();
    c.find(Locator::Css("#id_description"))
        .await
        .unwrap()
        .send_keys("Notes from the trellis.")
        .await
        .unwrap();
    c.find(Locator::Css("#id_body"))
        .await
        .unwrap()
        .send_keys("## Growing\n\nA **sturdy** frame helps vines climb.")
        .await
        .unwrap();
    c.find(Locator::Css("#id_tags"))
        .await
        .unwrap()
        .send_keys("rust, gardening")
        .await
        .unwrap();
    c.find(Locator::Css("#id_cover"))
        .await
        .unwrap()
        .send_keys(&cover.path().display().to_string())
        .await
        .unwrap();
    screenshot(c, "blog-1-editor").await;
    c.find(Locator::Css("button[value=save]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("[data-testid=draft-badge]"))
        .await
        .unwrap();
    c.find(Locator::Css("[data-testid=publish]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The cover is on the draft page too, so wait for what only the
    // redirected page shows: the confirmation message.
    c.wait()
        .for_element(Locator::XPath(
            "//li[contains(@class, 'message') and contains(., 'is published')]",
        ))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Css("[data-testid=draft-badge]"))
            .await
            .is_err(),
        "published"
    );
    let width = c
        .execute(
            "return document.querySelector('[data-testid=cover]').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(width.as_u64(), Some(1200), "the resized cover loaded");
    screenshot(c, "blog-2-post").await;

    c.goto(&app.url("/blog/")).await.unwrap();
    let item = c
        .find(Locator::Css("[data-testid=post-item]"))
        .await
        .unwrap();
    assert!(item.text().await.unwrap().contains("Gardens of Rust"));
    screenshot(c, "blog-3-home").await;

    // A reader opens the post but not its editor.
    c.find(Locator::Css("[data-testid=logout]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::XPath("//h1[contains(., 'logged out')]"))
        .await
        .unwrap();
    app.user("rita", &[], false).await;
    browser_login(c, &app, "rita").await;
    c.goto(&app.url("/blog/gardens-of-rust/")).await.unwrap();
    assert!(
        c.find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("sturdy")
    );
    c.goto(&app.url("/blog/gardens-of-rust/edit/"))
        .await
        .unwrap();
    let h1 = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "Forbidden");
    screenshot(c, "blog-4-reader-forbidden").await;
}

#[tokio::test]
async fn marking_items_done_moves_the_progress_bar() {
    let Some(driver) = driver().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, None, &[]).await;
    app.user("tracy", &[], false).await;
    let c = &driver.client;
    browser_login(c, &app, "tracy").await;
    c.goto(&app.url("/tracker/")).await.unwrap();
    let seed = std::fs::canonicalize(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/roadmap/seed.md"
    ))
    .unwrap();
    c.find(Locator::Css("#id_file"))
        .await
        .unwrap()
        .send_keys(&seed.display().to_string())
        .await
        .unwrap();
    c.find(Locator::Css("form.form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let pct = c
        .wait()
        .for_element(Locator::Css("[data-testid=overall-percent]"))
        .await
        .unwrap();
    assert_eq!(pct.text().await.unwrap(), "0%");
    screenshot(c, "tracker-1-imported").await;
    for key in [
        "p1-w1-d1",
        "p1-w1-d2",
        "p1-w1-d3-4",
        "p1-w1-d5-6",
        "p1-w1-d7",
    ] {
        c.find(Locator::Css(&format!("[data-testid=set-{key}-done]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The script saves through the API and marks the button; wait for it.
        c.wait()
            .for_element(Locator::Css(&format!(
                "[data-testid=set-{key}-done].is-current"
            )))
            .await
            .unwrap();
    }
    let pct = c
        .find(Locator::Css("[data-testid=overall-percent]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pct, "11%", "5 of 42 items");
    let bar = c
        .execute(
            "return document.querySelector('[data-testid=overall-progress]').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(bar.as_f64(), Some(11.0));
    // Every other figure follows without a reload: the counts, the phase's percentage and the week's bar.
    let figures = "return [document.querySelector('[data-testid=overall-counts]').textContent, \
                   document.querySelector('[data-testid=phase-1-percent]').textContent, \
                   document.querySelector('[data-live=week-1-1]').value]";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let seen = loop {
        let v = c.execute(figures, vec![]).await.unwrap();
        let counts = v[0].as_str().unwrap_or_default().to_string();
        if counts.contains("✅ 5 done") || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(seen[0].as_str().unwrap().contains("✅ 5 done"), "{seen:?}");
    assert_ne!(
        seen[1].as_str().unwrap().trim(),
        "0%",
        "phase 1 moved: {seen:?}"
    );
    assert!(
        seen[2].as_f64().unwrap() > 0.0,
        "week 1's bar moved: {seen:?}"
    );
    // Status controls carry words, not only symbols.
    let label = c
        .find(Locator::Css("[data-testid=set-p1-w1-d1-done]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(label.contains("Done"), "{label}");
    screenshot(c, "tracker-2-progress").await;
    // The change was saved, not just drawn: a reload shows it.
    c.refresh().await.unwrap();
    let pct = c
        .wait()
        .for_element(Locator::Css("[data-testid=overall-percent]"))
        .await
        .unwrap();
    assert_eq!(pct.text().await.unwrap(), "11%");

    // A share link comes with a Copy button that puts it on the clipboard.
    c.find(Locator::XPath(
        "//button[contains(., 'Create a public read-only link')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let link = c
        .wait()
        .for_element(Locator::Css("[data-testid=share-url]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(link.contains("/tracker/share/"), "{link}");
    let copy = c
        .find(Locator::Css("button[data-copy='#share-url']"))
        .await
        .unwrap();
    assert!(
        copy.is_displayed().await.unwrap(),
        "shown where the clipboard works"
    );
    copy.click().await.unwrap();
    c.wait()
        .for_element(Locator::XPath(
            "//button[@data-copy='#share-url' and normalize-space(.)='Copied']",
        ))
        .await
        .expect("the button confirms the copy");
}
