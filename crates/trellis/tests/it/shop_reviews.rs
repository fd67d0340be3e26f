//! Product reviews: only customers who received a product may review it, once; each review is scored
//! by the sentiment engine; the summary shows the rating, the sentiment shares and the most helpful
//! review of each kind; helpful votes count once per customer.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::sql::insert_id;

db_tests! {
    only_customers_who_received_a_product_may_review_it_once;
    reviews_are_scored_for_sentiment_and_summarized;
    helpful_votes_count_once_and_never_for_ones_own_review;
    reviews_are_changed_and_deleted_only_by_their_author_or_a_manager;
    bad_review_fields_are_422_naming_the_field;
    the_product_page_shows_reviews_and_takes_one_through_a_form;
}

/// A product with one variant: (product id, variant id).
async fn product(app: &TestApp, slug: &str) -> (i64, i64) {
    let now = chrono::Utc::now();
    let p = insert_id(
        app,
        "INSERT INTO shop_products (name, slug, currency, created_at, updated_at) VALUES ($1, $2, 'USD', $3, $3)",
        vec![slug.into(), slug.into(), now.into()],
    )
    .await;
    let v = insert_id(
        app,
        "INSERT INTO shop_variants (product_id, sku, price, stock, created_at) VALUES ($1, $2, 1000, 5, $3)",
        vec![p.into(), format!("SKU-{slug}").into(), now.into()],
    )
    .await;
    (p, v)
}

async fn user_id(app: &TestApp, name: &str) -> i64 {
    trellis::accounts::models::find_by_username(&app.state.db, name)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// An order of `user` holding the variant, in `status`; with `delivered` its history says it arrived.
async fn order(app: &TestApp, user: i64, variant: (i64, i64), status: &str, delivered: bool) {
    let now = chrono::Utc::now();
    let number = trellis::shop::models::new_order_number();
    let o = insert_id(
        app,
        "INSERT INTO shop_orders (number, user_id, status, currency, items_total, grand_total, shipping_method, \
           created_at, updated_at) VALUES ($1, $2, $3, 'USD', 1000, 1000, 'standard', $4, $4)",
        vec![number.into(), user.into(), status.into(), now.into()],
    )
    .await;
    insert_id(
        app,
        "INSERT INTO shop_order_lines (order_id, variant_id, product_id, product_name, sku, unit_price, quantity, \
           line_total) VALUES ($1, $2, $3, 'Thing', 'SKU', 1000, 1, 1000)",
        vec![o.into(), variant.1.into(), variant.0.into()],
    )
    .await;
    if delivered {
        insert_id(
            app,
            "INSERT INTO shop_order_events (order_id, from_status, to_status, created_at) \
             VALUES ($1, 'shipped', 'delivered', $2)",
            vec![o.into(), now.into()],
        )
        .await;
    }
}

/// A customer with a token: (signed-in browser, token).
async fn customer(app: &TestApp, name: &str) -> (TestApp, String) {
    let web = app.user(name, &[], false).await;
    let user = trellis::accounts::models::find_by_username(&app.state.db, name)
        .await
        .unwrap()
        .unwrap();
    let jwt = trellis::http::api::issue_jwt(&app.state, &user).unwrap();
    (web, jwt)
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(path))
        .header("Authorization", format!("Token {token}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let resp = app.get(path).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn only_customers_who_received_a_product_may_review_it_once(app: TestApp) {
    let lamp = product(&app, "lamp").await;
    let (_, ann) = customer(&app, "ann").await;
    let (_, bob) = customer(&app, "bob").await;
    let (_, cy) = customer(&app, "cy").await;
    order(&app, user_id(&app, "ann").await, lamp, "delivered", true).await;
    order(&app, user_id(&app, "bob").await, lamp, "shipped", false).await;

    let body = json!({"rating": 5, "title": "Lovely", "body": "Bright and warm, I love it."});
    let (s, r) = post(&app, &ann, "/api/shop/products/lamp/reviews", body.clone()).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["rating"], 5);
    assert_eq!(r["author"], "ann");

    let (s, r) = post(&app, &ann, "/api/shop/products/lamp/reviews", body.clone()).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["errors"]["product"].is_array(), "{r}");

    // Shipped is not received; never ordered is not either.
    let (s, _) = post(&app, &bob, "/api/shop/products/lamp/reviews", body.clone()).await;
    assert_eq!(s, 403);
    let (s, _) = post(&app, &cy, "/api/shop/products/lamp/reviews", body.clone()).await;
    assert_eq!(s, 403);
    let resp = app
        .client
        .post(app.url("/api/shop/products/lamp/reviews"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (s, _) = post(&app, &ann, "/api/shop/products/nothing/reviews", body).await;
    assert_eq!(s, 404);

    let (s, list) = get_json(&app, "/api/shop/products/lamp/reviews").await;
    assert_eq!(s, 200);
    assert_eq!(list["count"], 1);
}

async fn reviews_are_scored_for_sentiment_and_summarized(app: TestApp) {
    let kettle = product(&app, "kettle").await;
    let texts = [
        (
            "ann",
            5,
            "Wonderful, brilliant and a joy to use every morning. Highly recommended.",
        ),
        ("bob", 4, "Great kettle, fast and quiet. I love it."),
        (
            "cy",
            1,
            "Terrible. It broke after a week, awful waste of money, avoid.",
        ),
    ];
    let mut tokens = Vec::new();
    for (name, rating, text) in texts {
        let (_, token) = customer(&app, name).await;
        order(&app, user_id(&app, name).await, kettle, "delivered", true).await;
        let (s, r) = post(
            &app,
            &token,
            "/api/shop/products/kettle/reviews",
            json!({"rating": rating, "body": text}),
        )
        .await;
        assert_eq!(s, 201, "{r}");
        tokens.push((r["id"].as_i64().unwrap(), r["sentiment"].clone()));
    }
    assert_eq!(tokens[0].1, "positive");
    assert_eq!(tokens[1].1, "positive");
    assert_eq!(tokens[2].1, "negative");

    let (s, sum) = get_json(&app, "/api/shop/products/kettle/reviews/summary").await;
    assert_eq!(s, 200);
    assert_eq!(sum["count"], 3);
    assert_eq!(sum["rating"], 3.33);
    assert_eq!(sum["positive"], 2);
    assert_eq!(sum["negative"], 1);
    assert_eq!(sum["positive_share"], 0.67);
    assert_eq!(sum["most_helpful_negative"]["id"], tokens[2].0);
    assert!(sum["most_helpful_positive"]["id"].is_i64());

    let (_, empty) = get_json(&app, "/api/shop/products/kettle/reviews?ordering=-rating").await;
    assert_eq!(empty["results"][0]["rating"], 5);
    let (s, _) = get_json(&app, "/api/shop/products/kettle/reviews?ordering=colour").await;
    assert_eq!(s, 400);
}

async fn helpful_votes_count_once_and_never_for_ones_own_review(app: TestApp) {
    let mug = product(&app, "mug").await;
    let (_, ann) = customer(&app, "ann").await;
    let (_, bob) = customer(&app, "bob").await;
    let (_, cy) = customer(&app, "cy").await;
    for name in ["ann", "bob"] {
        order(&app, user_id(&app, name).await, mug, "delivered", true).await;
    }
    let (_, a) = post(
        &app,
        &ann,
        "/api/shop/products/mug/reviews",
        json!({"rating": 4, "body": "Good mug, nice and sturdy."}),
    )
    .await;
    let (_, b) = post(
        &app,
        &bob,
        "/api/shop/products/mug/reviews",
        json!({"rating": 5, "body": "Great mug, lovely glaze."}),
    )
    .await;
    let (a, b) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());

    let (s, r) = post(
        &app,
        &cy,
        &format!("/api/shop/reviews/{a}/helpful"),
        json!({}),
    )
    .await;
    assert_eq!((s, r["helpful"].clone()), (200, json!(1)));
    let (s, r) = post(
        &app,
        &cy,
        &format!("/api/shop/reviews/{a}/helpful"),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, r["helpful"].clone()),
        (200, json!(1)),
        "a second vote changes nothing"
    );
    let (s, _) = post(
        &app,
        &ann,
        &format!("/api/shop/reviews/{a}/helpful"),
        json!({}),
    )
    .await;
    assert_eq!(s, 403);
    post(
        &app,
        &bob,
        &format!("/api/shop/reviews/{a}/helpful"),
        json!({}),
    )
    .await;

    let (_, list) = get_json(&app, "/api/shop/products/mug/reviews").await;
    assert_eq!(list["results"][0]["id"], a, "most helpful first");
    assert_eq!(list["results"][0]["helpful"], 2);
    assert_eq!(list["results"][1]["id"], b);
    let (s, _) = post(&app, &cy, "/api/shop/reviews/999999/helpful", json!({})).await;
    assert_eq!(s, 404);
}

async fn reviews_are_changed_and_deleted_only_by_their_author_or_a_manager(app: TestApp) {
    let pen = product(&app, "pen").await;
    let (_, ann) = customer(&app, "ann").await;
    let (_, bob) = customer(&app, "bob").await;
    app.user("manager", &["shop_managers"], false).await;
    let manager = {
        let u = trellis::accounts::models::find_by_username(&app.state.db, "manager")
            .await
            .unwrap()
            .unwrap();
        trellis::http::api::issue_jwt(&app.state, &u).unwrap()
    };
    order(&app, user_id(&app, "ann").await, pen, "delivered", true).await;
    let (_, r) = post(
        &app,
        &ann,
        "/api/shop/products/pen/reviews",
        json!({"rating": 2, "body": "Awful pen, it leaks and smudges."}),
    )
    .await;
    assert_eq!(r["sentiment"], "negative");
    let id = r["id"].as_i64().unwrap();

    let patch = |token: String, body: Value| {
        let app = &app;
        async move {
            let resp = app
                .client
                .patch(app.url(&format!("/api/shop/reviews/{id}")))
                .header("Authorization", format!("Token {token}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let s = resp.status().as_u16();
            (s, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, r) = patch(
        ann.clone(),
        json!({"rating": 5, "body": "Actually a wonderful pen, I love it."}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(r["rating"], 5);
    assert_eq!(r["sentiment"], "positive", "scored again on change");
    let (s, _) = patch(bob.clone(), json!({"rating": 1})).await;
    assert_eq!(s, 403);

    let delete = |token: String| {
        let app = &app;
        async move {
            app.client
                .delete(app.url(&format!("/api/shop/reviews/{id}")))
                .header("Authorization", format!("Token {token}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(delete(bob).await, 403);
    assert_eq!(delete(manager).await, 204);
    assert_eq!(delete(ann).await, 404);
}

async fn bad_review_fields_are_422_naming_the_field(app: TestApp) {
    let cup = product(&app, "cup").await;
    let (_, ann) = customer(&app, "ann").await;
    order(&app, user_id(&app, "ann").await, cup, "delivered", true).await;
    for (body, field) in [
        (json!({"body": "no rating"}), "rating"),
        (json!({"rating": 6}), "rating"),
        (json!({"rating": 0}), "rating"),
        (json!({"rating": "five"}), "rating"),
        (json!({"rating": 3, "title": 7}), "title"),
        (json!({"rating": 3, "body": "x".repeat(5001)}), "body"),
        (json!({"rating": 3, "title": "t".repeat(201)}), "title"),
    ] {
        let (s, r) = post(&app, &ann, "/api/shop/products/cup/reviews", body.clone()).await;
        assert_eq!(s, 422, "{body}: {r}");
        assert!(r["errors"][field].is_array(), "{body}: {r}");
    }
    let (_, list) = get_json(&app, "/api/shop/products/cup/reviews").await;
    assert_eq!(list["count"], 0, "nothing was saved");
}

async fn the_product_page_shows_reviews_and_takes_one_through_a_form(app: TestApp) {
    let (p, v) = product(&app, "scarf").await;
    let ann = app.user("ann", &[], false).await;
    order(&app, user_id(&app, "ann").await, (p, v), "delivered", true).await;
    let page = ann.get_text("/shop/products/scarf").await;
    assert!(page.contains("id=\"reviews\""), "{page}");
    assert!(
        page.contains("Review this product"),
        "a customer who received it is offered the form"
    );
    let stranger = app.user("bob", &[], false).await;
    assert!(
        !stranger
            .get_text("/shop/products/scarf")
            .await
            .contains("Review this product")
    );
    let csrf = ann.csrf_token("/").await;
    let resp = ann
        .post_form_raw(
            "/shop/products/scarf/reviews",
            &[
                ("csrf_token", &csrf),
                ("rating", "5"),
                ("title", "Warm"),
                ("body", "So soft and warm, a lovely scarf."),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let (_, list) = get_json(&app, "/api/shop/products/scarf/reviews").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["sentiment"], "positive");

    // A second send changes the review instead of adding one.
    let resp = ann
        .post_form_raw(
            "/shop/products/scarf/reviews",
            &[
                ("csrf_token", &csrf),
                ("rating", "4"),
                ("title", "Warm"),
                ("body", "Soft."),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let (_, list) = get_json(&app, "/api/shop/products/scarf/reviews").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["rating"], 4);
    let page = ann.get_text("/shop/products/scarf").await;
    assert!(
        page.contains("Change your review") && page.contains("4/5"),
        "{page}"
    );
}
