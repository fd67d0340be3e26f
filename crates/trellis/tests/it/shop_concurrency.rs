//! Checkouts under load, on both databases: stock never oversold, one order per idempotency key, a
//! voucher's limit held, every answer a success or a clean 4xx.

use std::sync::OnceLock;

use serde_json::{Value, json};
use trellis::accounts::models::{self as accounts, NewUser};

use crate::helpers::{TEST_PASSWORD, TestApp};
use crate::shop_checkout::{scalar, variant};

db_tests! {
    a_hundred_customers_racing_for_ten_units_make_ten_orders ["throttle" = "off", "job_workers" = "0"];
    twenty_requests_with_one_key_make_one_order ["throttle" = "off", "job_workers" = "0"];
    a_voucher_limited_to_five_uses_is_used_five_times ["throttle" = "off", "job_workers" = "0"];
    items_added_while_checking_out_are_ordered_or_kept ["throttle" = "off", "job_workers" = "0"];
}

fn shared_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| trellis::accounts::password::hash(TEST_PASSWORD).expect("hash"))
        .clone()
}

/// `n` customers straight in the database, each with a JWT.
async fn customers(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}{i}");
        let email = format!("{name}@example.com");
        let user = accounts::create_user(
            &app.state.db,
            NewUser {
                username: &name,
                email: &email,
                password_hash: shared_hash(),
                is_staff: false,
                is_superuser: false,
            },
        )
        .await
        .expect("insert user")
        .expect("name is free");
        out.push(trellis::http::api::issue_jwt(&app.state, &user).expect("jwt"));
    }
    out
}

async fn fill_cart(app: &TestApp, jwt: &str, variant: i64, quantity: i64) {
    let resp = app
        .client
        .post(app.url("/api/shop/cart/items"))
        .header("Authorization", format!("Token {jwt}"))
        .json(&json!({"variant": variant, "quantity": quantity}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
}

/// Sends every checkout at once; answers (status, body) in order.
async fn storm(app: &TestApp, requests: Vec<(String, Value, Option<String>)>) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(jwt, body, key)| {
            let mut req = app
                .client
                .post(app.url("/api/shop/checkout"))
                .header("Authorization", format!("Token {jwt}"))
                .json(&body);
            if let Some(k) = key {
                req = req.header("Idempotency-Key", k);
            }
            tokio::spawn(async move {
                let resp = req.send().await.expect("the server answers");
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn tally(answers: &[(u16, Value)], status: u16) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

async fn a_hundred_customers_racing_for_ten_units_make_ten_orders(app: TestApp) {
    let v = variant(&app, "RARE-1", 5000, 10, "USD").await;
    let jwts = customers(&app, "racer", 100).await;
    for j in &jwts {
        fill_cart(&app, j, v, 1).await;
    }
    let answers = storm(
        &app,
        jwts.iter()
            .map(|j| (j.clone(), json!({"shipping_method": "digital"}), None))
            .collect(),
    )
    .await;
    assert!(answers.iter().all(|(s, _)| *s < 500), "no 5xx: {answers:?}");
    assert_eq!(tally(&answers, 201), 10, "{answers:?}");
    assert_eq!(tally(&answers, 409), 90, "{answers:?}");
    for (s, body) in &answers {
        if *s == 409 {
            assert_eq!(
                body["errors"]["RARE-1"],
                json!(["1 requested, 0 left"]),
                "{body}"
            );
        }
    }
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT stock FROM shop_variants WHERE id = {v}")
        )
        .await,
        0
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM shop_orders").await, 10);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_order_lines").await,
        10
    );
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT SUM(delta) FROM shop_stock_moves WHERE variant_id = {v}")
        )
        .await,
        -10
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM shop_stock_moves WHERE reason = 'sale'"
        )
        .await,
        10
    );
    assert_eq!(
        scalar(&app, "SELECT MIN(stock_after) FROM shop_stock_moves").await,
        0
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_cart_items").await,
        90,
        "losers keep their carts"
    );
}

async fn twenty_requests_with_one_key_make_one_order(app: TestApp) {
    let v = variant(&app, "ONCE-1", 100, 50, "USD").await;
    let jwt = customers(&app, "twin", 1).await.remove(0);
    fill_cart(&app, &jwt, v, 3).await;
    let answers = storm(
        &app,
        (0..20)
            .map(|_| {
                (
                    jwt.clone(),
                    json!({"shipping_method": "digital"}),
                    Some("same-key".to_string()),
                )
            })
            .collect(),
    )
    .await;
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 201),
        "{answers:?}"
    );
    assert_eq!(tally(&answers, 201), 1, "{answers:?}");
    let numbers: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(_, b)| b["number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(numbers.len(), 1, "one order: {numbers:?}");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM shop_orders").await, 1);
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT stock FROM shop_variants WHERE id = {v}")
        )
        .await,
        47
    );
}

async fn a_voucher_limited_to_five_uses_is_used_five_times(app: TestApp) {
    let v = variant(&app, "DEAL-1", 1000, 1000, "USD").await;
    let boss = app.user("boss", &["shop_managers"], false).await;
    drop(boss);
    let user = trellis::accounts::models::find_by_username(&app.state.db, "boss")
        .await
        .unwrap()
        .unwrap();
    let boss_jwt = trellis::http::api::issue_jwt(&app.state, &user).unwrap();
    let (s, body) = app
        .api(
            reqwest::Method::POST,
            "/api/shop/vouchers",
            Some(&boss_jwt),
            Some(json!({"code": "FIVE", "kind": "percent", "value": 20, "usage_limit": 5})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let jwts = customers(&app, "hunter", 50).await;
    for j in &jwts {
        fill_cart(&app, j, v, 1).await;
    }
    let answers = storm(
        &app,
        jwts.iter()
            .map(|j| {
                (
                    j.clone(),
                    json!({"shipping_method": "digital", "voucher": "FIVE"}),
                    None,
                )
            })
            .collect(),
    )
    .await;
    assert!(answers.iter().all(|(s, _)| *s < 500), "no 5xx: {answers:?}");
    assert_eq!(tally(&answers, 201), 5, "{answers:?}");
    for (s, body) in &answers {
        if *s != 201 {
            assert!(*s == 409 || *s == 422, "{s}: {body}");
            assert!(body["errors"]["voucher"].is_array(), "{body}");
        }
    }
    assert_eq!(
        scalar(&app, "SELECT used FROM shop_vouchers WHERE code = 'FIVE'").await,
        5
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM shop_orders WHERE voucher_code = 'FIVE'"
        )
        .await,
        5
    );
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT stock FROM shop_variants WHERE id = {v}")
        )
        .await,
        995
    );
}

/// One customer adds to the cart while their own checkouts run: every unit added ends up in exactly one
/// order or is still in the cart, never cleared unordered, and stock moves by what was ordered.
async fn items_added_while_checking_out_are_ordered_or_kept(app: TestApp) {
    let v = variant(&app, "BUSY-1", 500, 10_000, "USD").await;
    let jwt = customers(&app, "busy", 1).await.remove(0);
    fill_cart(&app, &jwt, v, 1).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let req = if i % 4 == 0 {
            app.client
                .post(app.url("/api/shop/checkout"))
                .json(&json!({"shipping_method": "digital"}))
        } else {
            app.client
                .post(app.url("/api/shop/cart/items"))
                .json(&json!({"variant": v, "quantity": 1}))
        };
        let req = req.header("Authorization", format!("Token {jwt}"));
        tasks.push(tokio::spawn(async move {
            let resp = req.send().await.expect("the server answers");
            (i % 4 == 0, resp.status().as_u16())
        }));
    }
    let mut added = 1;
    let mut placed = 0;
    for t in tasks {
        match t.await.unwrap() {
            (false, 200 | 201) => added += 1,
            (true, 201) => placed += 1,
            // Its twin took the whole cart first.
            (true, 422) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(added, 31, "every add succeeds");
    assert!(placed >= 1, "at least one checkout found items");
    let ordered = scalar(
        &app,
        &format!("SELECT COALESCE(SUM(quantity), 0) FROM shop_order_lines WHERE variant_id = {v}"),
    )
    .await;
    let in_cart = scalar(
        &app,
        &format!("SELECT COALESCE(SUM(quantity), 0) FROM shop_cart_items WHERE variant_id = {v}"),
    )
    .await;
    assert_eq!(
        ordered + in_cart,
        added,
        "ordered {ordered}, in the cart {in_cart}"
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_orders").await,
        placed
    );
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT stock FROM shop_variants WHERE id = {v}")
        )
        .await,
        10_000 - ordered
    );
}
