//! Every page of the site in headless Chromium (see `browser.rs`), found by following links from the
//! home page, once as a visitor and once as a superuser who has used every app. For each page:
//! - the link answers 200 (no link leads to an error or a dead end);
//! - at 390 px the page does not scroll sideways;
//! - axe-core (`TEST_AXE`: the path of `axe.min.js` from the npm package) finds no serious or critical
//!   violation, in the light and in the dark colour scheme;
//! - a screenshot at 1280 px, at 390 px and in dark mode lands in `target/screenshots/site/`.

use std::collections::{BTreeSet, VecDeque};

use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::{Driver, browser_login, driver_with, screenshot_dir};
use crate::helpers::{Backend, TestApp, location, png_bytes};

/// Pages found from these as well as from `/`: the ones a visitor reaches by typing or from an email.
const ENTRY_POINTS: &[&str] = &[
    "/",
    "/accounts/password/reset/",
    "/admin/",
    "/blog/search/?q=rust",
    "/accounts/users/ada/",
];

/// At most this many pages per role, so a link explosion fails loudly instead of running for ever.
const MAX_PAGES: usize = 300;

/// A superuser's data in every app, so each list and detail page has something in it.
async fn seed(app: &TestApp) -> TestApp {
    let ada = app.user("ada", &["authors", "shop_managers"], true).await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.state.db,
        "UPDATE users SET is_superuser = TRUE WHERE username = 'ada'",
    )
    .await
    .unwrap();
    let user = trellis::accounts::models::find_by_username(&app.state.db, "ada")
        .await
        .unwrap()
        .unwrap();
    let jwt = trellis::http::api::issue_jwt(&app.state, &user).unwrap();
    let ok = |what: &str, (status, body): (u16, Value)| -> Value {
        assert!((200..300).contains(&status), "{what}: {status} {body}");
        body
    };

    // Blog: two posts with tags, a long link and a comment; a reader who follows the author.
    for (title, body) in [
        (
            "Shipping a Rust web app",
            "Notes from the first release.\n\n- [x] migrations\n- [ ] backups\n\nSee \
             https://example.com/a/very/long/address/that/should/wrap/inside/its/box/and/never/widen/the/page \
             for the full story.[^1]\n\n[^1]: A footnote.\n\n```rust\nfn main() { println!(\"a long line of code that scrolls inside its own box rather than the page\"); }\n```",
        ),
        (
            "Caching without tears",
            "Generation counters make invalidation exact.",
        ),
    ] {
        ok(
            "article",
            app.api(
                Method::POST,
                "/api/articles",
                Some(&jwt),
                Some(
                    json!({"article": {"title": title, "description": "A short summary.",
                                       "body": body, "tagList": ["rust", "web"]}}),
                ),
            )
            .await,
        );
    }
    ok(
        "comment",
        app.api(
            Method::POST,
            "/api/articles/shipping-a-rust-web-app/comments",
            Some(&jwt),
            Some(json!({"comment": {"body": "Thanks, this helped."}})),
        )
        .await,
    );

    // To-do: open, done and overdue tasks.
    for (title, priority, due) in [
        ("Write the deployment guide", "high", "2020-01-01"),
        ("Review pull requests", "medium", "2099-12-31"),
        ("Water the plants", "low", "2099-12-31"),
    ] {
        ok(
            "todo",
            app.api(
                Method::POST,
                "/api/todos",
                Some(&jwt),
                Some(json!({"title": title, "priority": priority, "due_date": due})),
            )
            .await,
        );
    }

    // Tracker: the seed roadmap with a plan, a share link and a few statuses.
    let md = String::from_utf8(crate::tracker::seed()).unwrap();
    let roadmap = ok(
        "roadmap",
        app.api(
            Method::POST,
            "/api/roadmaps",
            Some(&jwt),
            Some(json!({"markdown": md})),
        )
        .await,
    );
    let id = roadmap["id"].as_i64().unwrap();
    for (key, status) in [("p1-w1-d1", "done"), ("p1-w1-d2", "learning")] {
        ok(
            "status",
            app.api(
                Method::PATCH,
                &format!("/api/roadmaps/{id}/items/{key}"),
                Some(&jwt),
                Some(json!({"status": status})),
            )
            .await,
        );
    }
    let page = format!("/tracker/{id}/");
    let resp = ada
        .post_form_from(
            &format!("/tracker/{id}/plan/"),
            &format!("/tracker/{id}/plan/"),
            &[("start_date", "2026-11-02"), ("days_per_week", "5")],
        )
        .await;
    assert_eq!(resp.status(), 303, "plan");
    let resp = ada
        .post_form_from(&page, &format!("/tracker/{id}/share/"), &[])
        .await;
    assert_eq!(resp.status(), 303, "share");

    // Sentiment: a dataset, an analysis of it and a model trained on it.
    let (status, ds) = app
        .upload(
            &jwt,
            "reviews",
            crate::sentiment_jobs::labeled_csv().into_bytes(),
        )
        .await;
    assert_eq!(status, 201, "{ds}");
    for body in [
        json!({"kind": "analyze", "dataset": ds["id"]}),
        json!({"kind": "train", "dataset": ds["id"], "name": "reviews-v1"}),
    ] {
        let job = app.start_job(&jwt, body).await;
        let done = app.wait_job(Some(&jwt), job).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }

    // Shop: a category, two products (one with a picture), a review and a paid order.
    ok(
        "category",
        app.api(
            Method::POST,
            "/api/shop/categories",
            Some(&jwt),
            Some(json!({"name": "Kitchen"})),
        )
        .await,
    );
    let mut variant = 0;
    for (name, price, sku) in [("Blue mug", 1200, "MUG-BLUE"), ("Tea towel", 800, "TOWEL")] {
        let product = ok(
            "product",
            app.api(
                Method::POST,
                "/api/shop/products",
                Some(&jwt),
                Some(
                    json!({"name": name, "price": price, "currency": "USD", "stock": 10,
                            "sku": sku, "description": "Made to last.", "category": "kitchen"}),
                ),
            )
            .await,
        );
        variant = product["variants"][0]["id"].as_i64().unwrap();
    }
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(png_bytes(40, 30)).file_name("mug.png"),
    );
    let resp = app
        .client
        .post(app.url("/api/shop/products/blue-mug/images"))
        .header("Authorization", format!("Token {jwt}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "image: {}", resp.status());
    ok(
        "cart",
        app.api(
            Method::POST,
            "/api/shop/cart/items",
            Some(&jwt),
            Some(json!({"variant": variant, "quantity": 2})),
        )
        .await,
    );
    let order = ok(
        "checkout",
        app.api(
            Method::POST,
            "/api/shop/checkout",
            Some(&jwt),
            Some(
                json!({"shipping_address": {"name": "Ada Lovelace", "line1": "1 Engine Row",
                        "city": "London", "postcode": "N1 1AA", "country": "gb"}}),
            ),
        )
        .await,
    );
    let number = order["number"].as_str().unwrap();
    ok(
        "pay",
        app.api(
            Method::POST,
            &format!("/api/shop/orders/{number}/pay"),
            Some(&jwt),
            Some(json!({"card_number": "4242424242424242", "exp_month": 12,
                        "exp_year": 2099, "cvc": "123"})),
        )
        .await,
    );
    ada
}

/// The path with numeric segments folded, so `/admin/x/y/7/` and `/admin/x/y/8/` count as one page.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "#"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Same-site links of an HTML page, as paths (query kept, fragment dropped).
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in html.split("href=\"").skip(1) {
        let Some(end) = piece.find('"') else { continue };
        let href = piece[..end].replace("&amp;", "&");
        let href = href.split('#').next().unwrap_or_default();
        if href.starts_with('/') && !href.starts_with("//") {
            out.push(href.to_string());
        }
    }
    out
}

/// What a page is not: a file, an API answer or an image.
fn is_file(path: &str) -> bool {
    let bare = path.split('?').next().unwrap_or_default();
    bare.starts_with("/static/")
        || bare.starts_with("/media/")
        || (bare.starts_with("/api/") && !bare.starts_with("/api/docs"))
        || bare.starts_with("/metrics")
        || [
            ".xml", ".ics", ".md", ".csv", ".json", ".png", ".ico", ".txt",
        ]
        .iter()
        .any(|ext| bare.ends_with(ext))
}

/// Follows every same-site link from the entry points with `client`; returns the HTML pages found and
/// any link that did not answer 200.
async fn crawl(
    app: &TestApp,
    client: &reqwest::Client,
    extra: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut queue: VecDeque<String> = ENTRY_POINTS.iter().map(|s| s.to_string()).collect();
    queue.extend(extra.iter().cloned());
    let mut seen = BTreeSet::new();
    let mut pages = Vec::new();
    let mut broken = Vec::new();
    while let Some(path) = queue.pop_front() {
        let key = shape(path.split('?').next().unwrap_or_default());
        if is_file(&path) || !seen.insert(key) {
            continue;
        }
        assert!(
            pages.len() < MAX_PAGES,
            "more than {MAX_PAGES} pages: {pages:?}"
        );
        let resp = client.get(app.url(&path)).send().await.unwrap();
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            queue.push_back(location(&resp));
            continue;
        }
        let html = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("text/html"));
        let body = resp.text().await.unwrap();
        if status != 200 {
            broken.push(format!("{path} → {status}"));
            continue;
        }
        if html {
            queue.extend(links(&body));
            pages.push(path);
        }
    }
    (pages, broken)
}

/// A name for a screenshot of `path`.
fn file_name(role: &str, path: &str, variant: &str) -> String {
    let mut name: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name = name.trim_matches('-').to_string();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    if name.is_empty() {
        name = "home".into();
    }
    format!("{role}-{name}-{variant}.png")
}

async fn shoot(c: &Client, name: &str) {
    let dir = screenshot_dir().join("site");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), c.screenshot().await.unwrap()).unwrap();
}

/// The serious and critical axe-core violations on the current page, one line each.
async fn axe(c: &Client, source: &str) -> Vec<String> {
    c.execute(source, vec![]).await.unwrap();
    let found = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { resultTypes: ['violations'] })
                 .then(r => done(r.violations
                   .filter(v => v.impact === 'serious' || v.impact === 'critical')
                   .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' — ' +
                        v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))
                 .catch(e => done(['axe failed: ' + e]));"#,
            vec![],
        )
        .await
        .unwrap();
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The innermost elements that reach past the right edge of the viewport, outside any box that scrolls
/// on its own: what widens the page.
const WIDEST: &str = r#"
  const edge = window.innerWidth + 1, out = [];
  const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; }
    return false; };
  for (const el of document.body.querySelectorAll('*')) {
    if (el.getBoundingClientRect().right <= edge || scrolls(el)) continue;
    if ([...el.children].some(k => k.getBoundingClientRect().right > edge)) continue;
    out.push(el.tagName.toLowerCase() + [...el.classList].map(c => '.' + c).join('') +
             ' "' + (el.textContent || '').trim().slice(0, 40) + '"');
    if (out.length === 3) break;
  }
  return out.join(', ');"#;

async fn wait_page(c: &Client) {
    c.wait().for_element(Locator::Css("body")).await.unwrap();
}

/// Visits `pages` in one browser session, collecting every problem as a line.
async fn sweep(
    driver: &Driver,
    app: &TestApp,
    role: &str,
    pages: &[String],
    axe_source: &str,
    dark: bool,
    problems: &mut Vec<String>,
) {
    let c = &driver.client;
    let scheme = if dark { "dark" } else { "light" };
    c.goto(&app.url("/")).await.unwrap();
    let is_dark = c
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(is_dark, Value::Bool(dark), "the browser's colour scheme");
    if role != "visitor" {
        browser_login(c, app, role).await;
    }
    c.set_window_size(1280, 900).await.unwrap();
    for path in pages {
        c.goto(&app.url(path)).await.unwrap();
        wait_page(c).await;
        for v in axe(c, axe_source).await {
            problems.push(format!("{role} {scheme} {path}: {v}"));
        }
        let variant = if dark { "dark" } else { "1280" };
        shoot(c, &file_name(role, path, variant)).await;
    }
    if dark {
        return;
    }
    c.set_window_size(390, 844).await.unwrap();
    for path in pages {
        c.goto(&app.url(path)).await.unwrap();
        wait_page(c).await;
        let (scroll, inner) = crate::shop_browser::widths(c).await;
        assert!((360..=414).contains(&inner), "phone viewport: {inner}");
        if scroll > inner {
            let culprits = c.execute(WIDEST, vec![]).await.unwrap();
            problems.push(format!(
                "{role} {path}: {scroll} px wide in a {inner} px viewport, past its edge: {culprits}"
            ));
        }
        shoot(c, &file_name(role, path, "390")).await;
    }
}

#[tokio::test]
async fn every_page_fits_a_phone_passes_axe_and_is_photographed() {
    let Some(axe_path) = crate::helpers::service("TEST_AXE", "the accessibility sweep") else {
        return;
    };
    let axe_source = std::fs::read_to_string(&axe_path)
        .unwrap_or_else(|e| panic!("reading axe-core from {axe_path}: {e}"));
    let Some(light) = driver_with(&[]).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, None, &[]).await;
    let ada = seed(&app).await;
    let (visitor, _) = app.new_client();

    let mut problems = Vec::new();
    let mut visited = 0;
    let dark = driver_with(&[
        "--force-dark-mode",
        "--blink-settings=preferredColorScheme=0",
    ])
    .await
    .unwrap();
    // The tracker's share link is shown for copying, not as a link: both roles open it.
    let detail = ada.get_text("/tracker/1/").await;
    let at = detail
        .find("/tracker/share/")
        .expect("the tracker shows its share link");
    let end = at + detail[at..].find('<').expect("the link ends");
    let shared = vec![detail[at..end].to_string()];
    for (role, client) in [("visitor", &visitor), ("ada", &ada.client)] {
        let (pages, broken) = crawl(&app, client, &shared).await;
        eprintln!("{role}: {} pages: {pages:?}", pages.len());
        problems.extend(broken.into_iter().map(|b| format!("{role} link {b}")));
        visited += pages.len();
        for (driver, is_dark) in [(&light, false), (&dark, true)] {
            driver.client.delete_all_cookies().await.unwrap();
            sweep(
                driver,
                &app,
                role,
                &pages,
                &axe_source,
                is_dark,
                &mut problems,
            )
            .await;
        }
    }
    assert!(visited > 40, "the crawl found only {visited} pages");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Forms a refusal test must not send: they sign out, destroy, or have nothing typed to keep.
fn form_is_skipped(action: &str) -> bool {
    [
        "logout",
        "delete",
        "revoke",
        "cancel",
        "clear-completed",
        "toggle",
        "publish",
        "/share/",
        "/items/",
        "/pay",
        "/ship",
        "/deliver",
        "/refund",
        "confirm ",
    ]
    .iter()
    .any(|word| action.contains(word))
}

/// Fills form number `index` of the page (among its POST forms) and submits it with its first button,
/// so that it is likely refused: the first required text field is left empty and every other field gets
/// a value naming it (numbers 7777, dates 2031-02-03). A form whose only field is the required one gets
/// 5,000 characters there instead. Returns the values typed, or null when there is nothing to type into.
const FILL_AND_SUBMIT: &str = r#"
  const [index] = arguments;
  const form = [...document.querySelectorAll('form')].filter(f => f.method === 'post')[index];
  const textual = ['text', 'email', 'search', 'url', 'tel', 'textarea'];
  const samples = { number: '7777', date: '2031-02-03' };
  const typed = {};
  let blanked = null;
  for (const el of form.elements) {
    const type = (el.getAttribute('type') || (el.tagName === 'TEXTAREA' ? 'textarea' : 'text')).toLowerCase();
    if (el.disabled || el.readOnly || !el.name || el.closest('[hidden]')) continue;
    if (!['INPUT', 'TEXTAREA'].includes(el.tagName)) continue;
    if (textual.includes(type)) {
      if (!blanked && el.required) { el.value = ''; blanked = el; continue; }
      el.value = 'kept ' + el.name.replace(/[^a-z0-9]/gi, '');
    } else if (type in samples) {
      el.value = samples[type];
    } else {
      continue;
    }
    typed[el.name] = el.value;
  }
  if (Object.keys(typed).length === 0 && blanked) {
    blanked.value = 'kept ' + 'x'.repeat(5000);
    typed[blanked.name] = blanked.value;
  }
  if (Object.keys(typed).length === 0) return null;
  window.__unsent = true;
  form.noValidate = true;
  const button = form.querySelector('button[type=submit], input[type=submit], button:not([type])');
  form.requestSubmit(button || undefined);
  return typed;"#;

/// After a refused submission: the values of the page's fields, or null if the page shows no refusal.
const REFUSED_FIELDS: &str = r#"
  if (window.__unsent) return 'not yet';
  const refused = document.querySelector('.errors, [aria-invalid=true], .alert-error, .message-error');
  if (!refused) return null;
  return [...document.querySelectorAll('input, textarea')].map(e => e.value);"#;

#[tokio::test]
async fn no_form_loses_what_was_typed_when_it_is_refused() {
    let Some(driver) = driver_with(&[]).await else {
        return;
    };
    let c = &driver.client;
    let app = TestApp::spawn(Backend::Sqlite, None, &[]).await;
    let ada = seed(&app).await;
    let (visitor, _) = app.new_client();
    let mut problems = Vec::new();
    let mut refused = 0;
    for (role, client) in [("visitor", &visitor), ("ada", &ada.client)] {
        let (pages, _) = crawl(&app, client, &[]).await;
        c.delete_all_cookies().await.unwrap();
        if role != "visitor" {
            browser_login(c, &app, role).await;
        }
        for path in &pages {
            c.goto(&app.url(path)).await.unwrap();
            wait_page(c).await;
            let actions = c
                .execute(
                    "return [...document.querySelectorAll('form')].filter(f => f.method === 'post')\
                       .map(f => (f.matches('[data-confirm]') || f.querySelector('[data-confirm]') \
                                  ? 'confirm ' : '') + (f.getAttribute('action') || location.pathname))",
                    vec![],
                )
                .await
                .unwrap();
            let actions: Vec<String> = serde_json::from_value(actions).unwrap();
            for (index, action) in actions.iter().enumerate() {
                if form_is_skipped(action) {
                    continue;
                }
                c.goto(&app.url(path)).await.unwrap();
                wait_page(c).await;
                let typed = c
                    .execute(FILL_AND_SUBMIT, vec![json!(index)])
                    .await
                    .unwrap();
                let Some(typed) = typed.as_object().cloned() else {
                    eprintln!("{role} {path}: the form to {action} has nothing to type into");
                    continue;
                };
                let mut after = Value::String("not yet".into());
                for _ in 0..100 {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    // The old page may be gone mid-call; try again.
                    if let Ok(v) = c.execute(REFUSED_FIELDS, vec![]).await {
                        after = v;
                        if after != "not yet" {
                            break;
                        }
                    }
                }
                assert_ne!(
                    after, "not yet",
                    "{path}: the form to {action} never answered"
                );
                let Some(values) = after.as_array() else {
                    eprintln!("{role} {path}: the form to {action} was accepted");
                    continue;
                };
                eprintln!("{role} {path}: the form to {action} was refused");
                refused += 1;
                for (name, value) in &typed {
                    if !values.contains(value) {
                        let shown: String = value
                            .as_str()
                            .unwrap_or_default()
                            .chars()
                            .take(20)
                            .collect();
                        problems.push(format!(
                            "{role} {path}: the form to {action} lost `{name}` ({shown}…) when refused"
                        ));
                    }
                }
            }
        }
    }
    eprintln!("{refused} refused forms checked");
    assert!(refused > 20, "only {refused} forms were refused");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
