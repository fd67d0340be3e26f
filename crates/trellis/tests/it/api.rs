//! The REST layer and the RealWorld API (run in conformance mode: length-only passwords, open authoring).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

impl TestApp {
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Registers through the API and returns the JWT.
    pub async fn api_user(&self, name: &str) -> String {
        let (status, body) = self
            .api(
                Method::POST,
                "/api/users",
                None,
                Some(json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": crate::helpers::TEST_PASSWORD}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["user"]["token"].as_str().unwrap().to_string()
    }

    pub async fn api_article(&self, token: &str, title: &str, tags: &[&str]) -> Value {
        let (status, body) = self
            .api(
                Method::POST,
                "/api/articles",
                Some(token),
                Some(json!({"article": {"title": title, "description": "d", "body": "b", "tagList": tags}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["article"].clone()
    }
}

macro_rules! rw_tests {
    ($($name:ident),* $(,)?) => {
        db_tests! { $($name ["password_validators" = "length", "blog_open_authoring" = "true"];)* }
    };
}

rw_tests! {
    users_register_login_and_read_themselves,
    user_errors_follow_the_spec,
    passwords_of_8_and_64_characters_are_accepted,
    updating_the_user_stores_blank_bio_as_null_and_voids_old_tokens_on_password_change,
    profiles_and_follows,
    articles_are_created_listed_and_shaped_by_the_spec,
    articles_list_newest_first_with_a_tie_breaker,
    the_article_count_is_kept_exact_by_every_kind_of_write,
    article_filters_and_feed,
    article_updates_follow_the_tag_and_slug_rules,
    only_the_author_changes_an_article,
    favorites_are_counted_per_caller,
    comments_follow_the_spec,
    drafts_never_appear_and_web_posts_are_articles,
    article_lists_run_a_fixed_number_of_queries,
    personal_tokens_are_created_used_and_revoked,
    bad_bodies_get_clear_errors,
    session_auth_on_the_api_needs_the_csrf_header,
}

db_tests! {
    default_validators_name_the_failed_rule;
    without_open_authoring_only_authors_publish;
    anonymous_api_calls_are_throttled ["throttle_anon" = "3/min"];
    openapi_document_and_docs_are_served;
    cors_is_off_by_default;
    cors_allows_configured_origins ["cors_origins" = "https://app.example.com"];
}

async fn users_register_login_and_read_themselves(app: TestApp) {
    let token = app.api_user("jake").await;
    let (s, body) = app
        .api(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"user": {"email": "jake@example.com", "password": crate::helpers::TEST_PASSWORD}})),
        )
        .await;
    assert_eq!(s, 200);
    let u = &body["user"];
    assert_eq!(
        (u["username"].as_str(), u["email"].as_str()),
        (Some("jake"), Some("jake@example.com"))
    );
    assert!(u["bio"].is_null() && u["image"].is_null());
    assert!(u["token"].as_str().unwrap().len() > 20);
    let (s, body) = app.api(Method::GET, "/api/user", Some(&token), None).await;
    assert_eq!(s, 200);
    assert_eq!(body["user"]["username"], "jake");
    // Bearer works too.
    let resp = app
        .client
        .get(app.url("/api/user"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn user_errors_follow_the_spec(app: TestApp) {
    app.api_user("jake").await;
    let (s, body) = app
        .api(Method::POST, "/api/users", None, Some(json!({"user": {"username": "Jake", "email": "other@example.com", "password": "password123"}})))
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        body,
        json!({"errors": {"username": ["has already been taken"]}})
    );
    let (s, body) = app
        .api(Method::POST, "/api/users", None, Some(json!({"user": {"username": "other", "email": "JAKE@example.com", "password": "password123"}})))
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        body,
        json!({"errors": {"email": ["has already been taken"]}})
    );
    let (s, body) = app.api(Method::POST, "/api/users", None, Some(json!({"user": {"username": "", "email": "x@example.com", "password": "password123"}}))).await;
    assert_eq!(s, 422);
    assert_eq!(body, json!({"errors": {"username": ["can't be blank"]}}));
    let (s, body) = app
        .api(
            Method::POST,
            "/api/users",
            None,
            Some(json!({"user": {"username": "pat", "email": "pat@example.com"}})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["errors"]["password"], json!(["can't be blank"]));
    let (s, body) = app.api(Method::POST, "/api/users", None, Some(json!({"user": {"username": "pat", "email": "pat@example.com", "password": "short"}}))).await;
    assert_eq!(s, 422);
    assert!(
        body["errors"]["password"][0]
            .as_str()
            .unwrap()
            .contains("too short")
    );
    let (s, body) = app
        .api(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"user": {"email": "jake@example.com", "password": "wrong-one"}})),
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(body, json!({"errors": {"credentials": ["invalid"]}}));
    let (s, body) = app.api(Method::GET, "/api/user", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(body, json!({"errors": {"token": ["is missing"]}}));
    let (s, body) = app
        .api(Method::GET, "/api/user", Some("not-a-token"), None)
        .await;
    assert_eq!(s, 401);
    assert_eq!(body, json!({"errors": {"token": ["is invalid"]}}));
}

async fn passwords_of_8_and_64_characters_are_accepted(app: TestApp) {
    for (name, len) in [("eight", 8), ("sixtyfour", 64)] {
        let pw = "p".repeat(len);
        let (s, body) = app
            .api(Method::POST, "/api/users", None, Some(json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": pw}})))
            .await;
        assert_eq!(s, 201, "{len}: {body}");
        let (s, _) = app
            .api(
                Method::POST,
                "/api/users/login",
                None,
                Some(json!({"user": {"email": format!("{name}@example.com"), "password": pw}})),
            )
            .await;
        assert_eq!(s, 200);
    }
    let (s, _) = app.api(Method::POST, "/api/users", None, Some(json!({"user": {"username": "seven", "email": "s@example.com", "password": "1234567"}}))).await;
    assert_eq!(s, 422);
}

async fn default_validators_name_the_failed_rule(app: TestApp) {
    let (s, body) = app
        .api(Method::POST, "/api/users", None, Some(json!({"user": {"username": "jake", "email": "jake@example.com", "password": "password123"}})))
        .await;
    assert_eq!(s, 422);
    assert_eq!(
        body["errors"]["password"],
        json!(["is too common or too easy to guess"])
    );
}

async fn updating_the_user_stores_blank_bio_as_null_and_voids_old_tokens_on_password_change(
    app: TestApp,
) {
    let token = app.api_user("jake").await;
    let (s, body) = app.api(Method::PUT, "/api/user", Some(&token), Some(json!({"user": {"bio": "I work at statefarm", "image": "https://example.com/me.png"}}))).await;
    assert_eq!(s, 200);
    assert_eq!(body["user"]["bio"], "I work at statefarm");
    assert_eq!(body["user"]["image"], "https://example.com/me.png");
    let (_, body) = app
        .api(
            Method::PUT,
            "/api/user",
            Some(&token),
            Some(json!({"user": {"bio": ""}})),
        )
        .await;
    assert!(body["user"]["bio"].is_null());
    let (s, body) = app
        .api(
            Method::PUT,
            "/api/user",
            Some(&token),
            Some(json!({"user": {"image": "javascript:alert(1)"}})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    app.api_user("taken").await;
    let (s, _) = app
        .api(
            Method::PUT,
            "/api/user",
            Some(&token),
            Some(json!({"user": {"username": "taken"}})),
        )
        .await;
    assert_eq!(s, 409);
    let (s, body) = app
        .api(
            Method::PUT,
            "/api/user",
            Some(&token),
            Some(json!({"user": {"password": "new-password-1"}})),
        )
        .await;
    assert_eq!(s, 200);
    let fresh = body["user"]["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.api(Method::GET, "/api/user", Some(&token), None)
            .await
            .0,
        401,
        "old JWT voided"
    );
    assert_eq!(
        app.api(Method::GET, "/api/user", Some(&fresh), None)
            .await
            .0,
        200
    );
}

async fn profiles_and_follows(app: TestApp) {
    let a = app.api_user("alice").await;
    app.api_user("bob").await;
    let (s, body) = app.api(Method::GET, "/api/profiles/bob", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        body,
        json!({"profile": {"username": "bob", "bio": null, "image": null, "following": false}})
    );
    let (_, body) = app
        .api(Method::POST, "/api/profiles/bob/follow", Some(&a), None)
        .await;
    assert_eq!(body["profile"]["following"], true);
    assert_eq!(
        app.api(Method::GET, "/api/profiles/bob", Some(&a), None)
            .await
            .1["profile"]["following"],
        true
    );
    assert_eq!(
        app.api(Method::GET, "/api/profiles/bob", None, None)
            .await
            .1["profile"]["following"],
        false
    );
    let (_, body) = app
        .api(Method::DELETE, "/api/profiles/bob/follow", Some(&a), None)
        .await;
    assert_eq!(body["profile"]["following"], false);
    let (s, body) = app
        .api(Method::GET, "/api/profiles/nobody", None, None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(body, json!({"errors": {"profile": ["not found"]}}));
    assert_eq!(
        app.api(Method::POST, "/api/profiles/bob/follow", None, None)
            .await
            .0,
        401
    );
}

fn has_millis(ts: &str) -> bool {
    // 2026-11-23T22:10:24.123Z
    ts.len() == 24 && ts.as_bytes()[19] == b'.' && ts.ends_with('Z')
}

async fn articles_are_created_listed_and_shaped_by_the_spec(app: TestApp) {
    let t = app.api_user("jake").await;
    let a = app
        .api_article(
            &t,
            "How to train your dragon",
            &["training", "dragons", "Angular"],
        )
        .await;
    assert_eq!(a["slug"], "how-to-train-your-dragon");
    assert_eq!(
        a["tagList"],
        json!(["angular", "dragons", "training"]),
        "sorted"
    );
    assert_eq!(a["body"], "b");
    assert_eq!(
        (a["favorited"].as_bool(), a["favoritesCount"].as_i64()),
        (Some(false), Some(0))
    );
    assert_eq!(a["author"]["username"], "jake");
    assert!(
        has_millis(a["createdAt"].as_str().unwrap())
            && has_millis(a["updatedAt"].as_str().unwrap()),
        "{a}"
    );
    let (s, body) = app.api(Method::GET, "/api/articles", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(body["articlesCount"], 1);
    let first = &body["articles"][0];
    assert!(
        first.get("body").is_none(),
        "lists leave out the body: {first}"
    );
    assert_eq!(first["tagList"], json!(["angular", "dragons", "training"]));
    let (s, body) = app
        .api(
            Method::GET,
            "/api/articles/how-to-train-your-dragon",
            None,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["article"]["body"], "b");
    let (s, body) = app
        .api(Method::GET, "/api/articles/no-such-thing", None, None)
        .await;
    assert_eq!(s, 404);
    assert_eq!(body, json!({"errors": {"article": ["not found"]}}));
    let (s, body) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&t),
            Some(json!({"article": {"title": "", "description": "d", "body": "b"}})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body, json!({"errors": {"title": ["can't be blank"]}}));
    let (s, body) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&t),
            Some(json!({"article": {"title": "t"}})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(body["errors"]["description"], json!(["can't be blank"]));
    assert_eq!(body["errors"]["body"], json!(["can't be blank"]));
    let (_, tags) = app.api(Method::GET, "/api/tags", None, None).await;
    let mut got: Vec<String> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, vec!["angular", "dragons", "training"]);
    let (s, _) = app
        .api(
            Method::DELETE,
            "/api/articles/how-to-train-your-dragon",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        app.api(
            Method::GET,
            "/api/articles/how-to-train-your-dragon",
            None,
            None
        )
        .await
        .0,
        404
    );
}

async fn articles_list_newest_first_with_a_tie_breaker(app: TestApp) {
    use sea_orm::ConnectionTrait;
    let t = app.api_user("jake").await;
    for title in ["First", "Second", "Third"] {
        app.api_article(&t, title, &[]).await;
    }
    // The same instant for all three: the order must still be the creation order reversed.
    let same = match app.backend {
        Backend::Postgres => {
            "UPDATE blog_posts SET published_at = TIMESTAMPTZ '2026-01-01 00:00:00.123+00'"
        }
        Backend::Sqlite => "UPDATE blog_posts SET published_at = '2026-01-01 00:00:00.123+00:00'",
    };
    app.state.db.execute_unprepared(same).await.unwrap();
    let (_, body) = app.api(Method::GET, "/api/articles", None, None).await;
    let titles: Vec<&str> = body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Third", "Second", "First"]);
    let (_, body) = app
        .api(Method::GET, "/api/articles?limit=1&offset=1", None, None)
        .await;
    assert_eq!(body["articles"][0]["title"], "Second");
    assert_eq!(body["articlesCount"], 3);
    assert_eq!(
        app.api(Method::GET, "/api/articles?limit=0", None, None)
            .await
            .0,
        400
    );
    let (s, body) = app
        .api(Method::GET, "/api/articles?limit=abc", None, None)
        .await;
    assert_eq!(s, 400);
    assert!(body["errors"]["limit"].is_array());
}

async fn article_filters_and_feed(app: TestApp) {
    let a = app.api_user("alice").await;
    let b = app.api_user("bob").await;
    let c = app.api_user("carol").await;
    app.api_article(&a, "Alice rust", &["rust"]).await;
    app.api_article(&b, "Bob rust", &["rust", "web"]).await;
    app.api_article(&b, "Bob web", &["web"]).await;
    let titles = |v: &Value| -> Vec<String> {
        v["articles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, body) = app
        .api(Method::GET, "/api/articles?tag=rust", None, None)
        .await;
    assert_eq!(titles(&body), vec!["Bob rust", "Alice rust"]);
    let (_, body) = app
        .api(Method::GET, "/api/articles?author=bob", None, None)
        .await;
    assert_eq!(titles(&body), vec!["Bob web", "Bob rust"]);
    app.api(
        Method::POST,
        "/api/articles/alice-rust/favorite",
        Some(&c),
        None,
    )
    .await;
    let (_, body) = app
        .api(Method::GET, "/api/articles?favorited=carol", None, None)
        .await;
    assert_eq!(titles(&body), vec!["Alice rust"]);
    let (_, body) = app
        .api(
            Method::GET,
            "/api/articles?tag=web&author=bob&limit=1",
            None,
            None,
        )
        .await;
    assert_eq!(
        (titles(&body), body["articlesCount"].as_u64()),
        (vec!["Bob web".to_string()], Some(2))
    );
    // Feed: followed authors only.
    let (_, body) = app
        .api(Method::GET, "/api/articles/feed", Some(&c), None)
        .await;
    assert_eq!(body["articlesCount"], 0);
    app.api(Method::POST, "/api/profiles/bob/follow", Some(&c), None)
        .await;
    let (_, body) = app
        .api(Method::GET, "/api/articles/feed", Some(&c), None)
        .await;
    assert_eq!(titles(&body), vec!["Bob web", "Bob rust"]);
    assert_eq!(body["articles"][0]["author"]["following"], true);
    assert_eq!(
        app.api(Method::GET, "/api/articles/feed", None, None)
            .await
            .0,
        401
    );
}

async fn article_updates_follow_the_tag_and_slug_rules(app: TestApp) {
    let t = app.api_user("jake").await;
    app.api_article(&t, "Original", &["a", "b"]).await;
    let (s, body) = app
        .api(
            Method::PUT,
            "/api/articles/original",
            Some(&t),
            Some(json!({"article": {"body": "new body"}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body["article"]["tagList"],
        json!(["a", "b"]),
        "absent tagList keeps the tags"
    );
    assert_eq!(body["article"]["slug"], "original");
    let (_, body) = app
        .api(
            Method::PUT,
            "/api/articles/original",
            Some(&t),
            Some(json!({"article": {"tagList": []}})),
        )
        .await;
    assert_eq!(body["article"]["tagList"], json!([]), "[] clears them");
    let (s, body) = app
        .api(
            Method::PUT,
            "/api/articles/original",
            Some(&t),
            Some(json!({"article": {"tagList": null}})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(body["errors"]["tagList"].is_array());
    let (s, body) = app
        .api(
            Method::PUT,
            "/api/articles/original",
            Some(&t),
            Some(json!({"article": {"title": "A New Title"}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        body["article"]["slug"], "a-new-title",
        "a new title gives a new slug"
    );
    assert_eq!(
        app.api(Method::GET, "/api/articles/original", None, None)
            .await
            .0,
        404
    );
    assert_eq!(
        app.api(Method::GET, "/api/articles/a-new-title", None, None)
            .await
            .0,
        200
    );
}

async fn only_the_author_changes_an_article(app: TestApp) {
    let a = app.api_user("alice").await;
    let b = app.api_user("bob").await;
    app.api_article(&a, "Theirs", &[]).await;
    for (method, body) in [
        (Method::PUT, Some(json!({"article": {"body": "hijack"}}))),
        (Method::DELETE, None),
    ] {
        let (s, resp) = app
            .api(method, "/api/articles/theirs", Some(&b), body)
            .await;
        assert_eq!(s, 403);
        assert_eq!(resp, json!({"errors": {"article": ["forbidden"]}}));
    }
    assert_eq!(
        app.api(
            Method::PUT,
            "/api/articles/theirs",
            None,
            Some(json!({"article": {"body": "x"}}))
        )
        .await
        .0,
        401
    );
    assert_eq!(
        app.api(Method::GET, "/api/articles/theirs", None, None)
            .await
            .1["article"]["body"],
        "b"
    );
}

async fn favorites_are_counted_per_caller(app: TestApp) {
    let a = app.api_user("alice").await;
    let b = app.api_user("bob").await;
    app.api_article(&a, "Fav", &[]).await;
    let (_, body) = app
        .api(Method::POST, "/api/articles/fav/favorite", Some(&b), None)
        .await;
    assert_eq!(
        (
            body["article"]["favorited"].as_bool(),
            body["article"]["favoritesCount"].as_i64()
        ),
        (Some(true), Some(1))
    );
    app.api(Method::POST, "/api/articles/fav/favorite", Some(&b), None)
        .await;
    let (_, body) = app
        .api(Method::GET, "/api/articles/fav", Some(&a), None)
        .await;
    assert_eq!(
        (
            body["article"]["favorited"].as_bool(),
            body["article"]["favoritesCount"].as_i64()
        ),
        (Some(false), Some(1))
    );
    let (_, body) = app.api(Method::GET, "/api/articles/fav", None, None).await;
    assert_eq!(body["article"]["favorited"], false);
    let (_, body) = app
        .api(Method::DELETE, "/api/articles/fav/favorite", Some(&b), None)
        .await;
    assert_eq!(
        (
            body["article"]["favorited"].as_bool(),
            body["article"]["favoritesCount"].as_i64()
        ),
        (Some(false), Some(0))
    );
    assert_eq!(
        app.api(Method::POST, "/api/articles/nope/favorite", Some(&b), None)
            .await
            .0,
        404
    );
}

async fn comments_follow_the_spec(app: TestApp) {
    let a = app.api_user("alice").await;
    let b = app.api_user("bob").await;
    app.api_article(&a, "Talk", &[]).await;
    let (s, body) = app
        .api(
            Method::POST,
            "/api/articles/talk/comments",
            Some(&b),
            Some(json!({"comment": {"body": "Thank you so much!"}})),
        )
        .await;
    assert_eq!(s, 201);
    let c = &body["comment"];
    assert_eq!(
        (c["body"].as_str(), c["author"]["username"].as_str()),
        (Some("Thank you so much!"), Some("bob"))
    );
    assert!(has_millis(c["createdAt"].as_str().unwrap()));
    let id = c["id"].as_i64().unwrap();
    let (s, body) = app
        .api(
            Method::POST,
            "/api/articles/talk/comments",
            Some(&b),
            Some(json!({"comment": {"body": ""}})),
        )
        .await;
    assert_eq!(
        (s, body),
        (422, json!({"errors": {"body": ["can't be blank"]}}))
    );
    let (s, body) = app
        .api(Method::GET, "/api/articles/talk/comments", None, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["comments"].as_array().unwrap().len(), 1);
    let (s, body) = app
        .api(
            Method::DELETE,
            &format!("/api/articles/talk/comments/{id}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        (s, body),
        (403, json!({"errors": {"comment": ["forbidden"]}}))
    );
    let (s, body) = app
        .api(
            Method::DELETE,
            "/api/articles/talk/comments/999999",
            Some(&b),
            None,
        )
        .await;
    assert_eq!(
        (s, body),
        (404, json!({"errors": {"comment": ["not found"]}}))
    );
    assert_eq!(
        app.api(
            Method::DELETE,
            &format!("/api/articles/talk/comments/{id}"),
            Some(&b),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.api(Method::GET, "/api/articles/talk/comments", None, None)
            .await
            .1["comments"],
        json!([])
    );
    assert_eq!(
        app.api(Method::GET, "/api/articles/nope/comments", None, None)
            .await
            .0,
        404
    );
}

async fn drafts_never_appear_and_web_posts_are_articles(app: TestApp) {
    let author = app.user("webby", &["authors"], false).await;
    for (title, status) in [("Web Draft", "draft"), ("Web Published", "published")] {
        let resp = author
            .post_multipart(
                "/blog/new/",
                "/blog/new/",
                &[
                    ("title", title),
                    ("body", "from the web"),
                    ("status", status),
                    ("description", "web"),
                    ("tags", "web"),
                    ("action", "save"),
                ],
                None,
            )
            .await;
        assert_eq!(resp.status(), 303);
    }
    let (_, body) = app.api(Method::GET, "/api/articles", None, None).await;
    let titles: Vec<&str> = body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Web Published"]);
    assert_eq!(
        app.api(Method::GET, "/api/articles/web-draft", None, None)
            .await
            .0,
        404
    );
    // The author's own token still never sees the draft through the API.
    let (_, login) = app.api(Method::POST, "/api/users/login", None, Some(json!({"user": {"email": "webby@example.com", "password": crate::helpers::TEST_PASSWORD}}))).await;
    let t = login["user"]["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.api(Method::GET, "/api/articles/web-draft", Some(&t), None)
            .await
            .0,
        404
    );
    // And the other way: an API article is a published post on the web.
    app.api_article(&t, "From the API", &["api"]).await;
    let html = app.get_text("/blog/").await;
    assert!(
        html.contains("From the API")
            && html.contains("Web Published")
            && !html.contains("Web Draft")
    );
}

async fn article_lists_run_a_fixed_number_of_queries(app: TestApp) {
    let t = app.api_user("counter").await;
    let f = app.api_user("follower").await;
    app.api(Method::POST, "/api/profiles/counter/follow", Some(&f), None)
        .await;
    for i in 0..30 {
        app.api_article(&t, &format!("Counted {i}"), &["x", "y"])
            .await;
    }
    let count = |path: String, token: Option<String>| {
        let app = &app;
        async move {
            let before = app.state.queries.get();
            let (s, _) = app.api(Method::GET, &path, token.as_deref(), None).await;
            assert_eq!(s, 200);
            app.state.queries.get() - before
        }
    };
    let anon_small = count("/api/articles?limit=2".into(), None).await;
    let anon_large = count("/api/articles?limit=30".into(), None).await;
    assert_eq!(anon_small, anon_large);
    assert_eq!(
        anon_large, 1,
        "the page, each row with its tags and the total"
    );
    let feed_small = count("/api/articles/feed?limit=2".into(), Some(f.clone())).await;
    let feed_large = count("/api/articles/feed?limit=30".into(), Some(f.clone())).await;
    assert_eq!(feed_small, feed_large);
    assert_eq!(feed_large, 2, "the caller + the page");
    // A page past the end has no row to carry the total: it is counted on its own. An offset this deep
    // first looks for its bookmark (see `feed_anchor`), which is past the end too.
    let past = count("/api/articles?limit=10&offset=1000".into(), None).await;
    assert_eq!(past, 3);
    let (_, body) = app
        .api(
            Method::GET,
            "/api/articles?limit=10&offset=1000",
            None,
            None,
        )
        .await;
    assert_eq!(body["articlesCount"], 30);
    assert_eq!(body["articles"], serde_json::json!([]));
}

async fn personal_tokens_are_created_used_and_revoked(app: TestApp) {
    let jwt = app.api_user("tokenist").await;
    let (s, body) = app
        .api(
            Method::POST,
            "/api/tokens",
            Some(&jwt),
            Some(json!({"name": "laptop"})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let id = body["id"].as_i64().unwrap();
    assert!(token.starts_with("trl_"));
    let (s, me) = app.api(Method::GET, "/api/user", Some(&token), None).await;
    assert_eq!(
        (s, me["user"]["username"].as_str()),
        (200, Some("tokenist"))
    );
    let (_, list) = app
        .api(Method::GET, "/api/tokens", Some(&token), None)
        .await;
    assert_eq!(list["count"], 1);
    assert!(
        list["results"][0].get("token").is_none(),
        "never shown again"
    );
    assert!(list["results"][0]["last_used_at"].is_string());
    use sea_orm::ConnectionTrait;
    let stored = app.state.db.execute_unprepared("SELECT 1").await;
    assert!(stored.is_ok());
    let (s, _) = app
        .api(
            Method::POST,
            "/api/tokens",
            Some(&jwt),
            Some(json!({"name": ""})),
        )
        .await;
    assert_eq!(s, 422);
    let other = app.api_user("other").await;
    assert_eq!(
        app.api(
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            Some(&other),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.api(
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            Some(&jwt),
            None
        )
        .await
        .0,
        204
    );
    let (s, body) = app.api(Method::GET, "/api/user", Some(&token), None).await;
    assert_eq!(
        (s, body),
        (401, json!({"errors": {"token": ["is invalid"]}}))
    );
    // The web page creates one and shows it once.
    let web = app.user("webtoken", &[], false).await;
    let resp = web.post_form("/accounts/tokens/", &[("name", "cli")]).await;
    assert_eq!(resp.status(), 201);
    let html = resp.text().await.unwrap();
    assert!(html.contains("data-testid=\"new-token\"") && html.contains("trl_"));
    assert!(
        !web.get_text("/accounts/tokens/")
            .await
            .contains("data-testid=\"new-token\"")
    );
}

async fn bad_bodies_get_clear_errors(app: TestApp) {
    let resp = app
        .client
        .post(app.url("/api/users"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errors"]["body"][0]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let resp = app
        .client
        .post(app.url("/api/users"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let (s, body) = app
        .api(Method::POST, "/api/users", None, Some(json!({"nope": {}})))
        .await;
    assert_eq!(s, 422);
    assert!(
        body["errors"]["nope"][0]
            .as_str()
            .unwrap()
            .contains("expected `user`"),
        "{body}"
    );
    let (s, body) = app
        .api(Method::POST, "/api/users", None, Some(json!({})))
        .await;
    assert_eq!(s, 422);
    assert!(body["errors"]["user"].is_array(), "{body}");
    // An array is no object, even though serde would fill a struct from one.
    let token = app.api_user("arrays").await;
    let slug = app.api_article(&token, "Arrays", &[]).await["slug"]
        .as_str()
        .unwrap()
        .to_string();
    for body in [
        json!({"article": []}),
        json!({"article": ["T", "d", "b", []]}),
    ] {
        let (s, answer) = app
            .api(
                Method::PUT,
                &format!("/api/articles/{slug}"),
                Some(&token),
                Some(body),
            )
            .await;
        assert_eq!(s, 422, "{answer}");
    }
    let (s, _) = app
        .api(
            Method::PUT,
            "/api/user",
            Some(&token),
            Some(json!({"user": [null]})),
        )
        .await;
    assert_eq!(s, 422);
    // Integers written with a zero fraction are integers, as the schema's `integer` says.
    let (s, body) = app
        .api(
            Method::POST,
            "/api/todos",
            Some(&token),
            Some(json!({"title": "t", "position": 3.0})),
        )
        .await;
    assert_eq!((s, &body["position"]), (201, &json!(3)), "{body}");
    let huge = "x".repeat(9 * 1024 * 1024);
    let resp = app
        .client
        .post(app.url("/api/users"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

async fn session_auth_on_the_api_needs_the_csrf_header(app: TestApp) {
    let web = app.user("sess", &["authors"], false).await;
    let article = json!({"article": {"title": "By session", "description": "d", "body": "b"}});
    let resp = web
        .client
        .post(web.url("/api/articles"))
        .json(&article)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        403,
        "a cookie alone is not enough for unsafe API calls"
    );
    let token = web.csrf_token("/").await;
    let resp = web
        .client
        .post(web.url("/api/articles"))
        .header("x-csrf-token", token)
        .json(&article)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    // Reads need no token.
    let resp = web.client.get(web.url("/api/user")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

async fn without_open_authoring_only_authors_publish(app: TestApp) {
    let (s, body) = app
        .api(Method::POST, "/api/users", None, Some(json!({"user": {"username": "reader", "email": "r@example.com", "password": "violet-harbor-quantum-41"}})))
        .await;
    assert_eq!(s, 201, "{body}");
    let t = body["user"]["token"].as_str().unwrap().to_string();
    let (s, body) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&t),
            Some(json!({"article": {"title": "t", "description": "d", "body": "b"}})),
        )
        .await;
    assert_eq!(
        (s, body),
        (403, json!({"errors": {"article": ["forbidden"]}}))
    );
}

async fn anonymous_api_calls_are_throttled(app: TestApp) {
    for _ in 0..3 {
        assert_eq!(app.api(Method::GET, "/api/tags", None, None).await.0, 200);
    }
    let resp = app.client.get(app.url("/api/tags")).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert!(body["errors"]["throttle"].is_array());
}

async fn openapi_document_and_docs_are_served(app: TestApp) {
    let (s, doc) = app.api(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // Every operation lists the errors the shared layers can give, with the error body.
    let error_body = json!({"$ref": "#/components/schemas/ErrorBody"});
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = &op["responses"];
            let mut expected = vec!["401", "429"];
            if op.get("requestBody").is_some() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if path.contains('{') {
                expected.extend(["400", "404"]);
            }
            if method != "get" {
                expected.push("403");
            }
            for status in expected {
                assert_eq!(
                    responses[status]["content"]["application/json"]["schema"], error_body,
                    "{method} {path} documents {status}"
                );
            }
        }
    }
    let upload = &doc["paths"]["/api/sentiment/datasets"]["post"]["requestBody"];
    assert!(upload["content"]["multipart/form-data"]["schema"].is_object());
    assert_eq!(
        doc["components"]["schemas"]["JobKind"]["enum"],
        json!(["analyze", "train"])
    );
    for path in [
        "/api/users",
        "/api/users/login",
        "/api/user",
        "/api/profiles/{username}",
        "/api/articles",
        "/api/articles/feed",
        "/api/articles/{slug}",
        "/api/articles/{slug}/favorite",
        "/api/articles/{slug}/comments",
        "/api/articles/{slug}/comments/{id}",
        "/api/tags",
        "/api/tokens",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }
    let resp = app.get("/api/docs/").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text().await.unwrap().contains("swagger"),
        "the UI is served from the binary"
    );
}

async fn cors_is_off_by_default(app: TestApp) {
    let resp = app
        .client
        .get(app.url("/api/tags"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
}

async fn cors_allows_configured_origins(app: TestApp) {
    let resp = app
        .client
        .request(Method::OPTIONS, app.url("/api/articles"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let resp = app
        .client
        .get(app.url("/api/tags"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!resp.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn throttles_hold_across_instances_with_redis() {
    let Some(redis_url) = crate::helpers::service("TEST_REDIS_URL", "the shared-throttle test")
    else {
        return;
    };
    let settings = [
        ("redis_url", redis_url.as_str()),
        ("throttle_register", "2/hour"),
        ("password_validators", "length"),
        ("trust_proxy", "true"),
    ];
    let app = TestApp::spawn(Backend::Sqlite, None, &settings).await;
    let other = app.sibling(&[]).await;
    // A client address of its own, so earlier runs against the same Redis do not count.
    let ip = format!(
        "10.{}.{}.{}",
        rand::random::<u8>(),
        rand::random::<u8>(),
        rand::random::<u8>()
    );
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let mut statuses = Vec::new();
    for (n, target) in [&app, &other, &other].into_iter().enumerate() {
        let name = format!("r{n}{tag}");
        let status = target
            .client
            .post(target.url("/api/users"))
            .header("x-forwarded-for", ip.as_str())
            .json(&json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "password123"}}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        vec![201, 201, 429],
        "the limit is shared by both instances"
    );
}

/// Login and password-reset limits are counted in Redis too, so N instances do not allow N times the
/// setting: guesses at one account, each from a new address and alternating instances, are refused once
/// the account's limit is reached, on whichever instance the next one lands.
#[tokio::test]
async fn login_and_reset_throttles_hold_across_instances_with_redis() {
    let Some(redis_url) =
        crate::helpers::service("TEST_REDIS_URL", "the shared login-throttle test")
    else {
        return;
    };
    let settings = [
        ("redis_url", redis_url.as_str()),
        ("throttle_login", "3/hour"),
        ("throttle_password_reset", "2/hour"),
        ("trust_proxy", "true"),
    ];
    let app = TestApp::spawn(Backend::Sqlite, None, &settings).await;
    let other = app.sibling(&[]).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let fresh_ip = || {
        format!(
            "10.{}.{}.{}",
            rand::random::<u8>(),
            rand::random::<u8>(),
            rand::random::<u8>()
        )
    };
    let email = format!("target{}@example.com", &tag[..10]);
    let mut statuses = Vec::new();
    for target in [&app, &other, &app, &other] {
        let status = target
            .client
            .post(target.url("/api/users/login"))
            .header("x-forwarded-for", fresh_ip())
            .json(&json!({"user": {"email": email, "password": "wrong-password-1"}}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        vec![401, 401, 401, 429],
        "three guesses at one account in all, whichever instance takes them"
    );

    let reset_email = format!("reset{}@example.com", &tag[..10]);
    let mut statuses = Vec::new();
    for target in [&app, &other, &app] {
        let token = target.csrf_token("/accounts/password/reset/").await;
        let status = target
            .client
            .post(target.url("/accounts/password/reset/"))
            .header("x-forwarded-for", fresh_ip())
            .form(&[
                ("csrf_token", token.as_str()),
                ("email", reset_email.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        vec![303, 303, 429],
        "two reset requests per address, across both"
    );
}

/// Two sites sharing one Redis under different key prefixes keep their throttle counts apart.
#[tokio::test]
async fn sites_sharing_redis_count_throttles_apart() {
    let Some(redis_url) = crate::helpers::service("TEST_REDIS_URL", "the key prefix test") else {
        return;
    };
    let base = [
        ("redis_url", redis_url.as_str()),
        ("throttle_login", "2/hour"),
        ("trust_proxy", "true"),
    ];
    // TestApp gives each app its own cache_key_prefix, which throttles now use too.
    let one = TestApp::spawn(Backend::Sqlite, None, &base).await;
    let two = TestApp::spawn(Backend::Sqlite, None, &base).await;
    assert_ne!(
        one.state.settings.cache_key_prefix,
        two.state.settings.cache_key_prefix
    );
    let ip = format!(
        "10.{}.{}.{}",
        rand::random::<u8>(),
        rand::random::<u8>(),
        rand::random::<u8>()
    );
    let email = format!(
        "shared{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let attempt = |app: &TestApp| {
        app.client
            .post(app.url("/api/users/login"))
            .header("x-forwarded-for", ip.as_str())
            .json(&json!({"user": {"email": email, "password": "wrong-password-1"}}))
            .send()
    };
    let mut statuses = Vec::new();
    for app in [&one, &one, &one, &two] {
        statuses.push(attempt(app).await.unwrap().status().as_u16());
    }
    assert_eq!(
        statuses,
        vec![401, 401, 429, 401],
        "the second site has its own count"
    );
}

/// The unfiltered total comes from counts the database keeps with triggers: it must match a real count
/// after concurrent publishing, deletes through the API and changes made by hand in SQL.
async fn the_article_count_is_kept_exact_by_every_kind_of_write(app: TestApp) {
    use crate::helpers::sql::{exec, scalar};
    let real = "SELECT COUNT(*) FROM blog_posts WHERE status = 'published'";
    // Changes made by hand in SQL are invisible to the cache (as in any framework); the kept count itself
    // is what is checked here, so the list is read uncached.
    async fn listed(app: &TestApp) -> i64 {
        app.state.cache.bump().await;
        let (_, body) = app
            .api(Method::GET, "/api/articles?limit=1", None, None)
            .await;
        body["articlesCount"].as_i64().unwrap()
    }
    let mut writers = Vec::new();
    for i in 0..6 {
        writers.push(app.api_user(&format!("writer{i}")).await);
    }
    // Thirty articles in flight at once.
    let mut titles = Vec::new();
    for (i, token) in writers.iter().enumerate() {
        for j in 0..5 {
            titles.push((token, format!("Post {i}-{j}")));
        }
    }
    let created = futures_util::future::join_all(
        titles
            .iter()
            .map(|(token, title)| app.api_article(token, title, &["count"])),
    )
    .await;
    let slugs: Vec<String> = created
        .iter()
        .map(|a| a["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(scalar(&app, real, vec![]).await, 30);
    assert_eq!(listed(&app).await, 30);

    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/articles/{}", slugs[0]),
            Some(&writers[0]),
            None,
        )
        .await;
    assert_eq!(status, 204);
    exec(
        &app,
        "UPDATE blog_posts SET status = 'draft' WHERE slug = $1",
        vec![slugs[7].clone().into()],
    )
    .await;
    // A change that leaves the status as it was counts nothing twice.
    exec(
        &app,
        "UPDATE blog_posts SET status = 'published' WHERE slug = $1",
        vec![slugs[8].clone().into()],
    )
    .await;
    exec(
        &app,
        "DELETE FROM blog_posts WHERE slug = $1",
        vec![slugs[9].clone().into()],
    )
    .await;
    assert_eq!(scalar(&app, real, vec![]).await, 27);
    assert_eq!(listed(&app).await, 27);
    exec(
        &app,
        "UPDATE blog_posts SET status = 'published' WHERE slug = $1",
        vec![slugs[7].clone().into()],
    )
    .await;
    assert_eq!(listed(&app).await, 28);
    // Filtered lists are still counted where they stand.
    let (_, body) = app
        .api(Method::GET, "/api/articles?tag=count&limit=1", None, None)
        .await;
    assert_eq!(body["articlesCount"], 28);
    // And the blog index agrees.
    let (_, count) = trellis::blog::models::list(
        &app.state.db,
        &trellis::blog::models::Filter::Published,
        trellis::db::Window {
            offset: 0,
            limit: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(count, 28);
    // The tag counts follow the same writes, and those only tags see.
    use crate::helpers::sql::assert_tag_counts_exact;
    assert_tag_counts_exact(&app).await;
    let retag = |i: usize, tags: serde_json::Value| {
        let slug = slugs[i].clone();
        let token = writers[i / 5].clone();
        let app = &app;
        async move {
            let (s, body) = app
                .api(
                    Method::PUT,
                    &format!("/api/articles/{slug}"),
                    Some(&token),
                    Some(json!({"article": {"tagList": tags}})),
                )
                .await;
            assert_eq!(s, 200, "{body}");
        }
    };
    retag(1, json!(["count", "extra", "more"])).await;
    retag(2, json!([])).await;
    retag(3, json!(["extra"])).await;
    assert_tag_counts_exact(&app).await;
    // A link moved by hand to a draft and back; a draft's tags changed; a tag deleted outright.
    exec(
        &app,
        "UPDATE blog_post_tags SET post_id = (SELECT id FROM blog_posts WHERE slug = $1) \
         WHERE post_id = (SELECT id FROM blog_posts WHERE slug = $2)",
        vec![slugs[7].clone().into(), slugs[3].clone().into()],
    )
    .await;
    exec(
        &app,
        "UPDATE blog_posts SET status = 'draft' WHERE slug = $1",
        vec![slugs[4].clone().into()],
    )
    .await;
    assert_tag_counts_exact(&app).await;
    exec(
        &app,
        "INSERT INTO blog_post_tags (post_id, tag_id) SELECT p.id, t.id FROM blog_posts p, blog_tags t \
         WHERE p.slug = $1 AND t.name = 'extra'",
        vec![slugs[4].clone().into()],
    )
    .await;
    assert_tag_counts_exact(&app).await;
    exec(&app, "DELETE FROM blog_tags WHERE name = 'more'", vec![]).await;
    exec(
        &app,
        "UPDATE blog_posts SET status = 'published' WHERE slug = $1",
        vec![slugs[4].clone().into()],
    )
    .await;
    exec(
        &app,
        "DELETE FROM blog_posts WHERE slug = $1",
        vec![slugs[1].clone().into()],
    )
    .await;
    assert_tag_counts_exact(&app).await;
    app.state.cache.bump().await;
    let (_, body) = app.api(Method::GET, "/api/tags", None, None).await;
    let tags = body["tags"].as_array().unwrap();
    assert_eq!(tags[0], "count", "the most used first: {body}");
    assert!(!tags.contains(&json!("more")), "{body}");
}
