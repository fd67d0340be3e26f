//! The to-do page in headless Chromium (see `browser.rs`): adding, completing without a reload, filtering.

use fantoccini::{Client, Locator};

use crate::browser::{browser_login, driver, screenshot};
use crate::helpers::{Backend, TestApp};

fn item(title: &str) -> String {
    format!("//li[@data-testid='todo-item'][.//span[@data-testid='todo-title'][.='{title}']]")
}

async fn add(c: &Client, title: &str, priority: &str) {
    c.find(Locator::Css("#id_title"))
        .await
        .unwrap()
        .send_keys(title)
        .await
        .unwrap();
    c.find(Locator::Css("#id_priority"))
        .await
        .unwrap()
        .select_by_value(priority)
        .await
        .unwrap();
    c.find(Locator::Css("[data-testid=todo-add]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::XPath(&item(title)))
        .await
        .unwrap();
}

async fn titles(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for el in c
        .find_all(Locator::Css("[data-testid=todo-title]"))
        .await
        .unwrap()
    {
        out.push(el.text().await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_user_adds_tasks_completes_one_without_a_reload_and_filters_the_list() {
    let Some(driver) = driver().await else {
        eprintln!("skipped: TEST_CHROMEDRIVER is not set, so the browser test did not run");
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, None, &[]).await;
    app.user("tess", &[], false).await;
    let c = &driver.client;
    browser_login(c, &app, "tess").await;

    c.goto(&app.url("/todos")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("[data-testid=todo-empty]"))
        .await
        .unwrap();
    add(c, "Buy milk", "low").await;
    add(c, "Write the report", "high").await;
    add(c, "Call the plumber", "medium").await;
    assert_eq!(
        titles(c).await,
        ["Buy milk", "Write the report", "Call the plumber"]
    );
    screenshot(c, "todo-1-added").await;

    // Completing goes through the API: the page stays, and so does this marker.
    c.execute("window.todoMarker = 'same page'; return null", vec![])
        .await
        .unwrap();
    c.find(Locator::XPath(&format!(
        "{}//button[@data-testid='todo-toggle']",
        item("Buy milk")
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::XPath(&format!(
            "{}[contains(@class, 'todo-done')]//button[@aria-pressed='true']",
            item("Buy milk")
        )))
        .await
        .unwrap();
    let marker = c
        .execute("return window.todoMarker || null", vec![])
        .await
        .unwrap();
    assert_eq!(marker, "same page", "no reload");
    let counts = c
        .find(Locator::Css("[data-testid=todo-counts]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(counts, "2 left · 1 done");
    screenshot(c, "todo-2-completed").await;

    // It was saved: a fresh load shows it done.
    c.goto(&app.url("/todos")).await.unwrap();
    c.wait()
        .for_element(Locator::XPath(&format!(
            "{}[contains(@class, 'todo-done')]",
            item("Buy milk")
        )))
        .await
        .unwrap();

    // The filter menus apply on change.
    c.find(Locator::Css("#f_status"))
        .await
        .unwrap()
        .select_by_value("active")
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#f_status option[value=active][selected]"))
        .await
        .unwrap();
    assert_eq!(titles(c).await, ["Write the report", "Call the plumber"]);
    screenshot(c, "todo-3-active").await;

    c.find(Locator::Css("#f_sort"))
        .await
        .unwrap()
        .select_by_value("-priority")
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#f_sort option[value='-priority'][selected]"))
        .await
        .unwrap();
    assert_eq!(titles(c).await, ["Call the plumber", "Write the report"]);
    c.find(Locator::Css("#f_priority"))
        .await
        .unwrap()
        .select_by_value("high")
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#f_priority option[value=high][selected]"))
        .await
        .unwrap();
    assert_eq!(titles(c).await, ["Write the report"]);
    let url = c.current_url().await.unwrap();
    assert_eq!(
        url.query(),
        Some("priority=high&status=active&sort=-priority")
    );
    screenshot(c, "todo-4-high-priority-active").await;
}
