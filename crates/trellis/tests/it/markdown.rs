//! Markdown bodies built to be expensive: thousands of nested quotes or HTML elements, which the sanitizer
//! took up to minutes over. They are refused with a 422 naming `body`, and never hold up other requests.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

db_tests! {
    the_api_refuses_bodies_that_nest_too_deep ["blog_open_authoring" = "true"];
    the_editor_and_its_previews_refuse_bodies_that_nest_too_deep;
    health_checks_answer_while_bombs_are_posted ["blog_open_authoring" = "true"];
}

const REFUSAL: &str = "nests deeper than 64 levels";

/// 100,000 nested quotes: the longest body allowed.
fn quote_bomb() -> String {
    ">".repeat(trellis::blog::BODY_MAX)
}

/// 20,000 nested `div`s: nothing for the text scan to see, so it reaches the renderer.
fn html_bomb() -> String {
    "<div>".repeat(trellis::blog::BODY_MAX / 5)
}

async fn the_api_refuses_bodies_that_nest_too_deep(app: TestApp) {
    let token = app.api_user("quoter").await;
    for (title, bomb) in [("Quotes", quote_bomb()), ("Divs", html_bomb())] {
        let (status, body) = app
            .api(
                Method::POST,
                "/api/articles",
                Some(&token),
                Some(json!({"article": {"title": title, "description": "d", "body": bomb}})),
            )
            .await;
        assert_eq!(status, 422, "{title}: {body}");
        assert_eq!(body["errors"]["body"][0], REFUSAL, "{title}");
    }
    let (_, list) = app.api(Method::GET, "/api/articles", None, None).await;
    assert_eq!(list["articlesCount"], 0, "nothing created");

    let slug = app.api_article(&token, "Shallow", &[]).await["slug"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/articles/{slug}");
    let (status, body) = app
        .api(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({"article": {"body": quote_bomb()}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"]["body"][0], REFUSAL);
    let (_, got) = app.api(Method::GET, &path, None, None).await;
    assert_eq!(got["article"]["body"], "b", "unchanged");

    let fine = format!("{}deep", "> ".repeat(20));
    let (status, got) = app
        .api(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({"article": {"body": fine}})),
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["article"]["body"], fine);
}

async fn the_editor_and_its_previews_refuse_bodies_that_nest_too_deep(app: TestApp) {
    let author = app.user("deepwriter", &["authors"], false).await;
    let post = |body: String, action: &'static str| {
        let author = &author;
        async move {
            author
                .post_multipart(
                    "/blog/new/",
                    "/blog/new/",
                    &[
                        ("title", "Deep"),
                        ("body", body.as_str()),
                        ("action", action),
                    ],
                    None,
                )
                .await
        }
    };
    // Found by the text scan: the form comes back with the message beside the body.
    let resp = post(quote_bomb(), "save").await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Body nests deeper than 64 levels."), "{html}");
    assert!(html.contains("value=\"Deep\""), "input kept");
    // Found on the rendered HTML, before sanitizing.
    let resp = post(html_bomb(), "save").await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains(REFUSAL));
    assert!(
        trellis::blog::models::by_slug(&app.state.db, "deep")
            .await
            .unwrap()
            .is_none(),
        "nothing created"
    );

    for bomb in [quote_bomb(), html_bomb()] {
        let resp = post(bomb, "preview").await;
        assert_eq!(resp.status(), 200);
        let html = resp.text().await.unwrap();
        assert!(html.contains("Body nests deeper than 64 levels."), "{html}");
        assert_eq!(html.matches("Body nests deeper").count(), 1, "said once");
    }

    let token = author.csrf_token("/blog/new/").await;
    for bomb in [quote_bomb(), html_bomb()] {
        let resp = author
            .client
            .post(author.url("/blog/preview/"))
            .header("x-csrf-token", &token)
            .header("accept", "application/json")
            .json(&json!({ "body": bomb }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errors"]["body"][0], REFUSAL);
    }
}

async fn health_checks_answer_while_bombs_are_posted(app: TestApp) {
    let token = app.api_user("flooder").await;
    let mut bombs = Vec::new();
    for i in 0..6 {
        let (client, _) = app.new_client();
        let (url, token) = (app.url("/api/articles"), token.clone());
        let body = if i % 2 == 0 {
            quote_bomb()
        } else {
            html_bomb()
        };
        bombs.push(tokio::spawn(async move {
            client
                .post(url)
                .header("Authorization", format!("Token {token}"))
                .json(&json!({"article": {"title": format!("Bomb {i}"), "description": "d", "body": body}}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    loop {
        let started = Instant::now();
        assert_eq!(app.get("/healthz").await.status(), 200);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "/healthz took {took:?}");
        if bombs.iter().all(|b| b.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for b in bombs {
        assert_eq!(b.await.unwrap(), 422);
    }
}
