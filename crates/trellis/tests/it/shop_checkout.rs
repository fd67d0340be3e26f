//! The shop's cart, vouchers, checkout and payment: through the API and the cart and checkout pages, on
//! both databases.

use chrono::{Duration, Utc};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, location};

db_tests! {
    a_cart_adds_sets_removes_and_clears_with_totals_from_current_prices;
    a_cart_is_in_one_currency_and_holds_only_variants_on_sale;
    each_customer_sees_only_their_own_cart;
    a_visitors_cart_joins_their_own_when_they_sign_in;
    a_refused_add_to_cart_shows_the_chosen_variant_and_quantity_again;
    only_shop_managers_create_list_and_change_vouchers;
    each_voucher_rule_is_enforced_at_checkout;
    a_voucher_used_up_is_refused_and_its_limit_counts_orders;
    checkout_takes_stock_snapshots_prices_and_empties_the_cart;
    adding_to_the_cart_and_checking_out_run_a_fixed_number_of_statements ["job_workers" = "0"];
    short_stock_is_409_naming_each_short_line_and_writes_nothing;
    checkout_checks_the_cart_the_address_and_the_key;
    one_idempotency_key_places_one_order;
    each_test_card_gets_the_gateways_answer;
    paying_is_for_the_callers_own_pending_orders_only;
    webhooks_need_a_fresh_signature_and_apply_once;
    an_asynchronous_payment_is_confirmed_by_the_gateways_webhook;
    the_cart_and_checkout_pages_place_and_pay_an_order;
}

// ---------------------------------------------------------------- helpers shared with shop_concurrency

/// A product with one variant, straight in the database; returns the variant's id.
pub async fn variant(app: &TestApp, sku: &str, price: i64, stock: i64, currency: &str) -> i64 {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let now = Utc::now();
    let slug = sku.to_ascii_lowercase();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO shop_products (name, slug, currency, active, created_at, updated_at) \
             VALUES ($1, $2, $3, TRUE, $4, $4) RETURNING id",
            [
                format!("Product {sku}").into(),
                slug.into(),
                currency.into(),
                now.into(),
            ],
        ))
        .await
        .unwrap()
        .unwrap();
    let product: i64 = row.try_get("", "id").unwrap();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO shop_variants (product_id, sku, price, stock, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            [
                product.into(),
                sku.into(),
                price.into(),
                stock.into(),
                now.into(),
            ],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "id").unwrap()
}

/// One number from the database.
pub async fn scalar(app: &TestApp, sql: &str) -> i64 {
    crate::helpers::sql::scalar(app, sql, vec![]).await
}

pub async fn exec(app: &TestApp, sql: &str) {
    crate::helpers::sql::exec(app, sql, vec![]).await
}

/// A customer made through the API: their JWT.
async fn customer(app: &TestApp, name: &str) -> String {
    app.api_user(name).await
}

/// A shop manager's JWT.
async fn manager(app: &TestApp, name: &str) -> String {
    app.user(name, &["shop_managers"], false).await;
    let user = trellis::accounts::models::find_by_username(&app.state.db, name)
        .await
        .unwrap()
        .unwrap();
    trellis::http::api::issue_jwt(&app.state, &user).unwrap()
}

async fn add(app: &TestApp, jwt: &str, variant: i64, quantity: i64) -> (u16, Value) {
    app.api(
        Method::POST,
        "/api/shop/cart/items",
        Some(jwt),
        Some(json!({"variant": variant, "quantity": quantity})),
    )
    .await
}

fn address() -> Value {
    json!({"name": "Ada Lovelace", "line1": "1 Analytical Way", "city": "London",
           "postcode": "N1 1AA", "country": "gb"})
}

async fn checkout(app: &TestApp, jwt: &str, body: Value, key: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url("/api/shop/checkout"))
        .header("Authorization", format!("Token {jwt}"))
        .json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn pay(app: &TestApp, jwt: &str, number: &str, card: &str) -> (u16, Value) {
    app.api(
        Method::POST,
        &format!("/api/shop/orders/{number}/pay"),
        Some(jwt),
        Some(json!({"card_number": card, "exp_month": 12, "exp_year": 2099, "cvc": "123"})),
    )
    .await
}

async fn stock(app: &TestApp, variant: i64) -> i64 {
    scalar(
        app,
        &format!("SELECT stock FROM shop_variants WHERE id = {variant}"),
    )
    .await
}

fn sign(app: &TestApp, t: i64, body: &str) -> String {
    trellis::shop::checkout::payment::sign(
        &trellis::shop::checkout::payment::webhook_secret(&app.state),
        t,
        body.as_bytes(),
    )
}

async fn webhook(app: &TestApp, signature: Option<&str>, body: &str) -> u16 {
    let mut req = app
        .client
        .post(app.url("/api/shop/payments/webhook"))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("Trellis-Signature", s);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn order_status(app: &TestApp, number: &str) -> String {
    let db = &app.state.db;
    trellis::shop::models::order_by_number(db, number)
        .await
        .unwrap()
        .unwrap()
        .status
}

// ---------------------------------------------------------------- cart

async fn a_cart_adds_sets_removes_and_clears_with_totals_from_current_prices(app: TestApp) {
    let jwt = customer(&app, "carol").await;
    let a = variant(&app, "MUG-1", 1250, 10, "USD").await;
    let b = variant(&app, "TEE-1", 1999, 3, "USD").await;
    let (s, cart) = app
        .api(Method::GET, "/api/shop/cart", Some(&jwt), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(cart["lines"], json!([]));
    assert_eq!(cart["currency"], Value::Null);

    let (s, cart) = add(&app, &jwt, a, 2).await;
    assert_eq!(s, 201, "{cart}");
    let (s, cart2) = add(&app, &jwt, a, 1).await;
    assert_eq!(s, 200, "adding to a line is 200: {cart2}");
    assert_eq!(cart2["lines"][0]["quantity"], 3);
    assert_eq!(cart["currency"], "USD");
    let (s, cart) = add(&app, &jwt, b, 5).await;
    assert_eq!(s, 201);
    assert_eq!(cart["items_total"], 3 * 1250 + 5 * 1999);
    assert_eq!(cart["count"], 8);
    assert_eq!(cart["lines"][1]["line_total"], 5 * 1999);
    assert_eq!(cart["lines"][1]["available"], false, "5 wanted, 3 in stock");

    // A price change shows at once: totals are computed now, not stored.
    exec(
        &app,
        &format!("UPDATE shop_variants SET price = 1000 WHERE id = {a}"),
    )
    .await;
    let (_, cart) = app
        .api(Method::GET, "/api/shop/cart", Some(&jwt), None)
        .await;
    assert_eq!(cart["items_total"], 3 * 1000 + 5 * 1999);

    let (s, cart) = app
        .api(
            Method::PATCH,
            &format!("/api/shop/cart/items/{b}"),
            Some(&jwt),
            Some(json!({"quantity": 2})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(cart["lines"][1]["quantity"], 2);
    assert_eq!(cart["lines"][1]["available"], true);
    let (s, body) = app
        .api(
            Method::PATCH,
            &format!("/api/shop/cart/items/{b}"),
            Some(&jwt),
            Some(json!({"quantity": 1000})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(body["errors"]["quantity"].is_array());
    let (s, _) = add(&app, &jwt, a, 0).await;
    assert_eq!(s, 422);
    // Quantities are capped at 999 per line.
    let (s, cart) = add(&app, &jwt, a, 999).await;
    assert_eq!(s, 200);
    assert_eq!(cart["lines"][0]["quantity"], 999);

    let (s, cart) = app
        .api(
            Method::PATCH,
            &format!("/api/shop/cart/items/{a}"),
            Some(&jwt),
            Some(json!({"quantity": 0})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1);
    let (s, _) = app
        .api(
            Method::DELETE,
            &format!("/api/shop/cart/items/{a}"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(s, 404, "already gone");
    let (s, cart) = app
        .api(
            Method::DELETE,
            &format!("/api/shop/cart/items/{b}"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(cart["lines"], json!([]));

    add(&app, &jwt, a, 1).await;
    add(&app, &jwt, b, 1).await;
    let (s, cart) = app
        .api(Method::DELETE, "/api/shop/cart", Some(&jwt), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(cart["items_total"], 0);
    let (s, _) = app.api(Method::GET, "/api/shop/cart", None, None).await;
    assert_eq!(s, 401);
}

async fn a_cart_is_in_one_currency_and_holds_only_variants_on_sale(app: TestApp) {
    let jwt = customer(&app, "dave").await;
    let usd = variant(&app, "USD-1", 100, 5, "USD").await;
    let eur = variant(&app, "EUR-1", 100, 5, "EUR").await;
    let off = variant(&app, "OFF-1", 100, 5, "USD").await;
    exec(
        &app,
        &format!("UPDATE shop_products SET active = FALSE WHERE id = (SELECT product_id FROM shop_variants WHERE id = {off})"),
    )
    .await;
    assert_eq!(add(&app, &jwt, usd, 1).await.0, 201);
    let (s, body) = add(&app, &jwt, eur, 1).await;
    assert_eq!(s, 422);
    assert!(
        body["errors"]["variant"][0]
            .as_str()
            .unwrap()
            .contains("EUR"),
        "{body}"
    );
    let (s, body) = add(&app, &jwt, off, 1).await;
    assert_eq!(s, 422);
    assert!(body["errors"]["variant"].is_array());
    let (s, body) = add(&app, &jwt, 987654, 1).await;
    assert_eq!(s, 422, "{body}");
    assert!(body["errors"]["variant"].is_array());
}

async fn each_customer_sees_only_their_own_cart(app: TestApp) {
    let ann = customer(&app, "ann").await;
    let bob = customer(&app, "bob").await;
    let v = variant(&app, "PEN-1", 300, 9, "USD").await;
    add(&app, &ann, v, 4).await;
    let (_, cart) = app
        .api(Method::GET, "/api/shop/cart", Some(&bob), None)
        .await;
    assert_eq!(cart["lines"], json!([]));
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("/api/shop/cart/items/{v}"),
            Some(&bob),
            Some(json!({"quantity": 1})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .api(
            Method::DELETE,
            &format!("/api/shop/cart/items/{v}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, 404);
    app.api(Method::DELETE, "/api/shop/cart", Some(&bob), None)
        .await;
    let (_, cart) = app
        .api(Method::GET, "/api/shop/cart", Some(&ann), None)
        .await;
    assert_eq!(cart["lines"][0]["quantity"], 4);
}

async fn a_refused_add_to_cart_shows_the_chosen_variant_and_quantity_again(app: TestApp) {
    let v = variant(&app, "JUG-1", 800, 3, "USD").await;
    let page = "/shop/products/jug-1";
    let token = app.csrf_token(page).await;
    let resp = app
        .post_form_raw(
            "/shop/cart/add",
            &[
                ("csrf_token", &token),
                ("variant", &v.to_string()),
                ("quantity", "1200"),
                ("next", page),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert_eq!(back, format!("{page}?variant={v}&quantity=1200"));
    let html = app.get_text(&back).await;
    assert!(html.contains("name=\"quantity\" value=\"1200\""), "{html}");
    assert!(html.contains(&format!("value=\"{v}\" checked")), "{html}");
    assert!(
        html.contains("message-error"),
        "the refusal is shown: {html}"
    );
    let cart = app.get_text("/shop/cart").await;
    assert!(
        cart.contains("data-testid=\"cart-empty\""),
        "nothing added: {cart}"
    );
    // A success goes back without the query.
    let resp = app
        .post_form_raw(
            "/shop/cart/add",
            &[
                ("csrf_token", &token),
                ("variant", &v.to_string()),
                ("quantity", "2"),
                ("next", page),
            ],
        )
        .await;
    assert_eq!(location(&resp), page);
}

async fn a_visitors_cart_joins_their_own_when_they_sign_in(app: TestApp) {
    let v = variant(&app, "CAP-1", 800, 50, "USD").await;
    let w = variant(&app, "HAT-1", 900, 50, "USD").await;
    // Eve's own cart already holds one cap.
    let signed = app.user("eve", &[], false).await;
    let token = signed.csrf_token("/shop/cart").await;
    let resp = signed
        .post_form_raw(
            "/shop/cart/add",
            &[
                ("csrf_token", &token),
                ("variant", &v.to_string()),
                ("quantity", "1"),
                ("next", "/shop/cart"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    signed.logout().await;

    // Anonymous, in another browser: two caps and a hat.
    let visitor = app.fork();
    let token = visitor.csrf_token("/shop/cart").await;
    for (variant, q) in [(v, "2"), (w, "1")] {
        let resp = visitor
            .post_form_raw(
                "/shop/cart/add",
                &[
                    ("csrf_token", &token),
                    ("variant", &variant.to_string()),
                    ("quantity", q),
                    ("next", "/shop/cart"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 303);
        assert_eq!(crate::helpers::location(&resp), "/shop/cart");
    }
    let page = visitor.get_text("/shop/cart").await;
    assert!(page.contains("CAP-1") && page.contains("HAT-1"), "{page}");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM shop_carts WHERE session_key IS NOT NULL"
        )
        .await,
        1
    );

    let resp = visitor.login("eve", crate::helpers::TEST_PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let page = visitor.get_text("/shop/cart").await;
    assert!(page.contains("CAP-1") && page.contains("HAT-1"), "{page}");
    let user_cart =
        "SELECT c.id FROM shop_carts c JOIN users u ON u.id = c.user_id WHERE u.username = 'eve'";
    assert_eq!(
        scalar(&app, &format!("SELECT quantity FROM shop_cart_items WHERE variant_id = {v} AND cart_id = ({user_cart})")).await,
        3,
        "quantities add"
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM shop_carts WHERE session_key IS NOT NULL"
        )
        .await,
        0
    );
    // Visiting again changes nothing more.
    visitor.get_text("/shop/cart").await;
    assert_eq!(
        scalar(&app, &format!("SELECT quantity FROM shop_cart_items WHERE variant_id = {v} AND cart_id = ({user_cart})")).await,
        3
    );
}

// ---------------------------------------------------------------- vouchers

async fn only_shop_managers_create_list_and_change_vouchers(app: TestApp) {
    let boss = manager(&app, "boss").await;
    let jwt = customer(&app, "cust").await;
    let body = json!({"code": "save10", "kind": "percent", "value": 10});
    let (s, _) = app
        .api(
            Method::POST,
            "/api/shop/vouchers",
            Some(&jwt),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .api(Method::GET, "/api/shop/vouchers", Some(&jwt), None)
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .api(
            Method::POST,
            "/api/shop/vouchers",
            Some(&boss),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["code"], "SAVE10");
    let (s, _) = app
        .api(Method::POST, "/api/shop/vouchers", Some(&boss), Some(body))
        .await;
    assert_eq!(s, 409, "codes are unique");
    for (bad, field) in [
        (
            json!({"code": "P0", "kind": "percent", "value": 10}),
            "code",
        ),
        (
            json!({"code": "P101", "kind": "percent", "value": 101}),
            "value",
        ),
        (
            json!({"code": "FIX1", "kind": "fixed", "value": 500}),
            "currency",
        ),
        (json!({"code": "KIND", "kind": "half", "value": 5}), "kind"),
        (
            json!({"code": "WIN1", "kind": "percent", "value": 5, "starts_at": "2030-01-02T00:00:00Z",
                "ends_at": "2030-01-01T00:00:00Z"}),
            "ends_at",
        ),
        (
            json!({"code": "WHEN", "kind": "percent", "value": 5, "starts_at": "soon"}),
            "starts_at",
        ),
    ] {
        let (s, e) = app
            .api(
                Method::POST,
                "/api/shop/vouchers",
                Some(&boss),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(s, 422, "{bad}: {e}");
        assert!(e["errors"][field].is_array(), "{bad}: {e}");
    }
    let id = v["id"].as_i64().unwrap();
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("/api/shop/vouchers/{id}"),
            Some(&jwt),
            Some(json!({"value": 20})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .api(
            Method::PATCH,
            &format!("/api/shop/vouchers/{id}"),
            Some(&boss),
            Some(json!({"value": 20, "usage_limit": 3})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["value"], 20);
    assert_eq!(v["usage_limit"], 3);
    assert_eq!(v["kind"], "percent");
    let (s, _) = app
        .api(
            Method::PATCH,
            "/api/shop/vouchers/999999",
            Some(&boss),
            Some(json!({"value": 20})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, page) = app
        .api(Method::GET, "/api/shop/vouchers", Some(&boss), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(page["count"], 1);
}

async fn voucher(app: &TestApp, boss: &str, body: Value) {
    let (s, v) = app
        .api(Method::POST, "/api/shop/vouchers", Some(boss), Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
}

async fn each_voucher_rule_is_enforced_at_checkout(app: TestApp) {
    let boss = manager(&app, "boss").await;
    let jwt = customer(&app, "vic").await;
    let v = variant(&app, "BOOK-1", 2000, 100, "USD").await;
    let past = (Utc::now() - Duration::days(2)).to_rfc3339();
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    let tomorrow = (Utc::now() + Duration::days(1)).to_rfc3339();
    voucher(&app, &boss, json!({"code": "OLD", "kind": "percent", "value": 10, "starts_at": past, "ends_at": yesterday})).await;
    voucher(
        &app,
        &boss,
        json!({"code": "SOON", "kind": "percent", "value": 10, "starts_at": tomorrow}),
    )
    .await;
    voucher(
        &app,
        &boss,
        json!({"code": "BIG", "kind": "percent", "value": 10, "min_order": 5000}),
    )
    .await;
    voucher(
        &app,
        &boss,
        json!({"code": "EURO", "kind": "fixed", "value": 100, "currency": "EUR"}),
    )
    .await;
    voucher(&app, &boss, json!({"code": "ONCE", "kind": "fixed", "value": 500, "currency": "USD", "per_customer_limit": 1})).await;
    voucher(
        &app,
        &boss,
        json!({"code": "HUGE", "kind": "fixed", "value": 999999, "currency": "USD"}),
    )
    .await;
    voucher(
        &app,
        &boss,
        json!({"code": "HALF", "kind": "percent", "value": 50, "active": false}),
    )
    .await;
    add(&app, &jwt, v, 1).await;
    let body = |code: &str| json!({"shipping_method": "digital", "voucher": code});
    for code in ["OLD", "SOON", "BIG", "EURO", "HALF", "NOPE"] {
        let (s, e) = checkout(&app, &jwt, body(code), None).await;
        assert_eq!(s, 422, "{code}: {e}");
        assert!(e["errors"]["voucher"].is_array(), "{code}: {e}");
    }
    assert_eq!(stock(&app, v).await, 100, "refusals took nothing");

    let (s, o) = checkout(&app, &jwt, body("once"), None).await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["discount_total"], 500);
    assert_eq!(o["total"], 1500);
    assert_eq!(o["voucher"], "ONCE");
    add(&app, &jwt, v, 1).await;
    let (s, e) = checkout(&app, &jwt, body("ONCE"), None).await;
    assert_eq!(s, 422, "once per customer: {e}");
    assert!(
        e["errors"]["voucher"][0]
            .as_str()
            .unwrap()
            .contains("already")
    );
    // A cancelled order gives the customer their use back.
    let number = o["number"].as_str().unwrap();
    exec(
        &app,
        &format!("UPDATE shop_orders SET status = 'cancelled' WHERE number = '{number}'"),
    )
    .await;
    let (s, o) = checkout(&app, &jwt, body("ONCE"), None).await;
    assert_eq!(s, 201, "{o}");

    // Never more than the items.
    add(&app, &jwt, v, 1).await;
    let (s, o) = checkout(
        &app,
        &jwt,
        json!({"voucher": "HUGE", "shipping_address": address()}),
        None,
    )
    .await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["discount_total"], 2000);
    assert_eq!(o["shipping_total"], 500);
    assert_eq!(o["total"], 500);
    // Above the minimum, the percentage applies.
    add(&app, &jwt, v, 3).await;
    let (s, o) = checkout(&app, &jwt, body("big"), None).await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["discount_total"], 600);
    assert_eq!(o["total"], 5400);
}

async fn a_voucher_used_up_is_refused_and_its_limit_counts_orders(app: TestApp) {
    let boss = manager(&app, "boss").await;
    let v = variant(&app, "GUM-1", 100, 100, "USD").await;
    voucher(
        &app,
        &boss,
        json!({"code": "TWO", "kind": "percent", "value": 10, "usage_limit": 2}),
    )
    .await;
    for i in 0..3 {
        let jwt = customer(&app, &format!("u{i}")).await;
        add(&app, &jwt, v, 1).await;
        let (s, e) = checkout(
            &app,
            &jwt,
            json!({"shipping_method": "digital", "voucher": "TWO"}),
            None,
        )
        .await;
        if i < 2 {
            assert_eq!(s, 201, "{e}");
        } else {
            assert_eq!(s, 422, "{e}");
            assert!(e["errors"]["voucher"].is_array());
        }
    }
    assert_eq!(
        scalar(&app, "SELECT used FROM shop_vouchers WHERE code = 'TWO'").await,
        2
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM shop_orders WHERE voucher_code = 'TWO'"
        )
        .await,
        2
    );
}

// ---------------------------------------------------------------- checkout

async fn checkout_takes_stock_snapshots_prices_and_empties_the_cart(app: TestApp) {
    let jwt = customer(&app, "pat").await;
    let a = variant(&app, "LAMP-1", 4500, 5, "USD").await;
    let b = variant(&app, "BULB-1", 250, 20, "USD").await;
    add(&app, &jwt, a, 2).await;
    add(&app, &jwt, b, 4).await;
    let (s, o) = checkout(
        &app,
        &jwt,
        json!({"shipping_method": "express", "shipping_address": address()}),
        None,
    )
    .await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["status"], "pending");
    assert_eq!(o["currency"], "USD");
    assert_eq!(o["items_total"], 2 * 4500 + 4 * 250);
    assert_eq!(o["shipping_total"], 1500);
    assert_eq!(o["total"], 2 * 4500 + 4 * 250 + 1500);
    assert_eq!(o["email"], "pat@example.com");
    assert!(o["expires_at"].is_string());
    let number = o["number"].as_str().unwrap();
    assert!(number.starts_with("TR-"));
    assert_eq!(o["lines"].as_array().unwrap().len(), 2);
    assert_eq!(stock(&app, a).await, 3);
    assert_eq!(stock(&app, b).await, 16);
    // Ledger rows: one sale per line, tied to the order.
    let oid = format!("(SELECT id FROM shop_orders WHERE number = '{number}')");
    assert_eq!(
        scalar(
            &app,
            &format!(
                "SELECT COUNT(*) FROM shop_stock_moves WHERE reason = 'sale' AND order_id = {oid}"
            )
        )
        .await,
        2
    );
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT SUM(delta) FROM shop_stock_moves WHERE variant_id = {a}")
        )
        .await,
        -2
    );
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT stock_after FROM shop_stock_moves WHERE variant_id = {b}")
        )
        .await,
        16
    );
    assert_eq!(scalar(&app, &format!("SELECT COUNT(*) FROM shop_order_events WHERE order_id = {oid} AND to_status = 'pending'")).await, 1);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM jobs WHERE kind = 'shop.expire_order' AND run_after_ms IS NOT NULL").await, 1);
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT COUNT(*) FROM shop_orders WHERE id = {oid} AND ship_country = 'GB'")
        )
        .await,
        1
    );
    let (_, cart) = app
        .api(Method::GET, "/api/shop/cart", Some(&jwt), None)
        .await;
    assert_eq!(cart["lines"], json!([]), "the cart is emptied");

    // A later price change leaves the order as it was.
    exec(
        &app,
        &format!("UPDATE shop_variants SET price = 9999 WHERE id = {a}"),
    )
    .await;
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT unit_price FROM shop_order_lines WHERE variant_id = {a}")
        )
        .await,
        4500
    );
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT grand_total FROM shop_orders WHERE id = {oid}")
        )
        .await,
        11500
    );
}

async fn short_stock_is_409_naming_each_short_line_and_writes_nothing(app: TestApp) {
    let boss = manager(&app, "boss").await;
    voucher(
        &app,
        &boss,
        json!({"code": "TEN", "kind": "percent", "value": 10, "usage_limit": 5}),
    )
    .await;
    let jwt = customer(&app, "sam").await;
    let a = variant(&app, "SKU-1", 100, 1, "USD").await;
    let b = variant(&app, "SKU-2", 100, 10, "USD").await;
    let c = variant(&app, "SKU-3", 100, 0, "USD").await;
    add(&app, &jwt, a, 3).await;
    add(&app, &jwt, b, 2).await;
    add(&app, &jwt, c, 1).await;
    let (s, e) = checkout(
        &app,
        &jwt,
        json!({"shipping_method": "digital", "voucher": "TEN"}),
        None,
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["errors"]["SKU-1"], json!(["3 requested, 1 left"]));
    assert_eq!(e["errors"]["SKU-3"], json!(["1 requested, 0 left"]));
    assert!(e["errors"].get("SKU-2").is_none(), "{e}");
    assert_eq!(stock(&app, a).await, 1);
    assert_eq!(stock(&app, b).await, 10);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM shop_orders").await, 0);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_order_lines").await,
        0
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_stock_moves").await,
        0
    );
    assert_eq!(scalar(&app, "SELECT used FROM shop_vouchers").await, 0);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM jobs").await, 0);
    let (_, cart) = app
        .api(Method::GET, "/api/shop/cart", Some(&jwt), None)
        .await;
    assert_eq!(
        cart["lines"].as_array().unwrap().len(),
        3,
        "the cart is kept"
    );
}

async fn checkout_checks_the_cart_the_address_and_the_key(app: TestApp) {
    let jwt = customer(&app, "kim").await;
    let (s, e) = checkout(&app, &jwt, json!({"shipping_method": "digital"}), None).await;
    assert_eq!(s, 422);
    assert!(e["errors"]["cart"].is_array(), "{e}");
    let v = variant(&app, "DVD-1", 1000, 5, "USD").await;
    add(&app, &jwt, v, 1).await;
    let (s, e) = checkout(&app, &jwt, json!({}), None).await;
    assert_eq!(s, 422);
    for f in ["name", "line1", "city", "postcode", "country"] {
        assert!(
            e["errors"][format!("shipping_address.{f}")].is_array(),
            "{f}: {e}"
        );
    }
    assert!(e["errors"].get("shipping_address.line2").is_none());
    let mut bad = address();
    bad["country"] = json!("GBR");
    let (s, e) = checkout(&app, &jwt, json!({"shipping_address": bad}), None).await;
    assert_eq!(s, 422);
    assert!(e["errors"]["shipping_address.country"].is_array(), "{e}");
    let (s, e) = checkout(&app, &jwt, json!({"shipping_method": "teleport"}), None).await;
    assert_eq!(s, 422);
    assert!(e["errors"]["shipping_method"].is_array(), "{e}");
    let (s, e) = checkout(
        &app,
        &jwt,
        json!({"shipping_method": "digital", "email": "nope"}),
        None,
    )
    .await;
    assert_eq!(s, 422);
    assert!(e["errors"]["email"].is_array(), "{e}");
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "has space"] {
        let (s, e) = checkout(&app, &jwt, json!({"shipping_method": "digital"}), Some(key)).await;
        assert_eq!(s, 400, "{key:?}: {e}");
        assert!(e["errors"]["Idempotency-Key"].is_array());
    }
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM shop_orders").await, 0);
    let (s, o) = checkout(
        &app,
        &jwt,
        json!({"shipping_method": "digital", "email": "other@example.org"}),
        None,
    )
    .await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["shipping_total"], 0);
    assert_eq!(o["email"], "other@example.org");
}

async fn one_idempotency_key_places_one_order(app: TestApp) {
    let jwt = customer(&app, "ida").await;
    let v = variant(&app, "KEY-1", 700, 10, "USD").await;
    add(&app, &jwt, v, 2).await;
    let body = json!({"shipping_method": "digital"});
    let (s, first) = checkout(&app, &jwt, body.clone(), Some("order-123")).await;
    assert_eq!(s, 201, "{first}");
    // The same request again (the cart is empty now) answers the same order.
    let (s, again) = checkout(&app, &jwt, body.clone(), Some("order-123")).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["number"], first["number"]);
    assert_eq!(again["total"], first["total"]);
    let (s, e) = checkout(
        &app,
        &jwt,
        json!({"shipping_method": "standard", "shipping_address": address()}),
        Some("order-123"),
    )
    .await;
    assert_eq!(s, 422, "{e}");
    assert!(e["errors"]["Idempotency-Key"].is_array());
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM shop_orders").await, 1);
    assert_eq!(stock(&app, v).await, 8);
    // Another customer's same key is theirs alone.
    let other = customer(&app, "olga").await;
    add(&app, &other, v, 1).await;
    let (s, o) = checkout(&app, &other, body, Some("order-123")).await;
    assert_eq!(s, 201, "{o}");
    assert_ne!(o["number"], first["number"]);
}

// ---------------------------------------------------------------- payment

async fn placed(app: &TestApp, jwt: &str, v: i64) -> String {
    add(app, jwt, v, 1).await;
    let (s, o) = checkout(app, jwt, json!({"shipping_method": "digital"}), None).await;
    assert_eq!(s, 201, "{o}");
    o["number"].as_str().unwrap().to_string()
}

async fn each_test_card_gets_the_gateways_answer(app: TestApp) {
    let jwt = customer(&app, "payer").await;
    let v = variant(&app, "PAY-1", 1234, 50, "USD").await;

    let n = placed(&app, &jwt, v).await;
    let (s, e) = pay(&app, &jwt, &n, "4000000000000002").await;
    assert_eq!(s, 402, "{e}");
    assert!(
        e["errors"]["card"][0]
            .as_str()
            .unwrap()
            .starts_with("declined: "),
        "{e}"
    );
    assert_eq!(order_status(&app, &n).await, "pending");
    let (s, e) = pay(&app, &jwt, &n, "4000000000000119").await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["errors"]["card"][0]
            .as_str()
            .unwrap()
            .contains("try again"),
        "{e}"
    );
    assert_eq!(order_status(&app, &n).await, "pending");
    let (s, p) = pay(&app, &jwt, &n, "4242 4242 4242 4242").await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["status"], "paid");
    assert_eq!(p["paid_amount"], 1234);
    assert_eq!(order_status(&app, &n).await, "paid");
    let oid = format!("(SELECT id FROM shop_orders WHERE number = '{n}')");
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT paid_amount FROM shop_orders WHERE id = {oid}")
        )
        .await,
        1234
    );
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT COUNT(*) FROM shop_payments WHERE order_id = {oid}")
        )
        .await,
        3
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM shop_payments WHERE card_last4 IN ('4242', '0002', '0119')"
        )
        .await,
        3
    );
    assert_eq!(
        scalar(&app, &format!("SELECT COUNT(*) FROM shop_order_events WHERE order_id = {oid} AND from_status = 'pending' AND to_status = 'paid' AND amount = 1234")).await,
        1
    );
    assert!(
        scalar(&app, &format!("SELECT COUNT(*) FROM shop_order_events WHERE order_id = {oid} AND note LIKE 'payment declined%'")).await == 1
    );
    assert!(
        app.sent_emails().iter().any(|m| m.contains(&n)),
        "a confirmation was sent"
    );
    let (s, e) = pay(&app, &jwt, &n, "4242424242424242").await;
    assert_eq!(s, 409, "paid already: {e}");
    assert!(e["errors"]["status"].is_array());

    // Card checks name the field.
    let n2 = placed(&app, &jwt, v).await;
    for (body, field) in [
        (
            json!({"card_number": "4242424242424241", "exp_month": 12, "exp_year": 2099, "cvc": "123"}),
            "card_number",
        ),
        (
            json!({"card_number": "42", "exp_month": 12, "exp_year": 2099, "cvc": "123"}),
            "card_number",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 13, "exp_year": 2099, "cvc": "123"}),
            "exp_month",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 1, "exp_year": 2020, "cvc": "123"}),
            "exp_year",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "12"}),
            "cvc",
        ),
        (
            json!({"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "12a"}),
            "cvc",
        ),
    ] {
        let (s, e) = app
            .api(
                Method::POST,
                &format!("/api/shop/orders/{n2}/pay"),
                Some(&jwt),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body}: {e}");
        assert!(e["errors"][field].is_array(), "{body}: {e}");
    }
    assert_eq!(order_status(&app, &n2).await, "pending");
    let all: String = {
        let db = &app.state.db;
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT card_last4, message FROM shop_payments",
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                format!(
                    "{}{}",
                    r.try_get::<String>("", "card_last4").unwrap(),
                    r.try_get::<String>("", "message").unwrap()
                )
            })
            .collect()
    };
    assert!(!all.contains("4242424242"), "no full card number is stored");
}

async fn paying_is_for_the_callers_own_pending_orders_only(app: TestApp) {
    let owner = customer(&app, "own").await;
    let other = customer(&app, "oth").await;
    let v = variant(&app, "OWN-1", 500, 5, "USD").await;
    let n = placed(&app, &owner, v).await;
    let (s, _) = pay(&app, &other, &n, "4242424242424242").await;
    assert_eq!(s, 404);
    let (s, _) = pay(&app, &other, "TR-NOPE", "4242424242424242").await;
    assert_eq!(s, 404);
    exec(
        &app,
        &format!("UPDATE shop_orders SET status = 'cancelled' WHERE number = '{n}'"),
    )
    .await;
    let (s, e) = pay(&app, &owner, &n, "4242424242424242").await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["errors"]["status"][0]
            .as_str()
            .unwrap()
            .contains("cancelled")
    );
}

async fn webhooks_need_a_fresh_signature_and_apply_once(app: TestApp) {
    let jwt = customer(&app, "hook").await;
    let v = variant(&app, "HOOK-1", 900, 5, "USD").await;
    let n = placed(&app, &jwt, v).await;
    let (s, p) = pay(&app, &jwt, &n, "4000002500003155").await;
    assert_eq!(s, 202, "{p}");
    assert_eq!(p["status"], "pending");
    let db = &app.state.db;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT reference FROM shop_payments",
        ))
        .await
        .unwrap()
        .unwrap();
    let reference: String = row.try_get("", "reference").unwrap();
    let body =
        json!({"id": "evt_1", "type": "payment.succeeded", "reference": reference}).to_string();
    let now = Utc::now().timestamp();

    assert_eq!(webhook(&app, None, &body).await, 400);
    assert_eq!(
        webhook(
            &app,
            Some(&format!("t={now},v1={}", "00".repeat(32))),
            &body
        )
        .await,
        400
    );
    let forged = trellis::shop::checkout::payment::sign(b"not the secret", now, body.as_bytes());
    assert_eq!(webhook(&app, Some(&forged), &body).await, 400);
    assert_eq!(
        webhook(&app, Some(&sign(&app, now - 301, &body)), &body).await,
        400,
        "stale"
    );
    let tampered = body.replace("evt_1", "evt_2");
    assert_eq!(
        webhook(&app, Some(&sign(&app, now, &body)), &tampered).await,
        400
    );
    // Thousands of empty signatures cost one hash of the body, and prove nothing.
    let many = format!("t={now}{}", ",v1=".repeat(5000));
    assert_eq!(webhook(&app, Some(&many), &body).await, 400);
    // An oversized body is refused before anything is hashed.
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(100 * 1024));
    assert_eq!(
        webhook(&app, Some(&sign(&app, now, &huge)), &huge).await,
        413
    );
    assert_eq!(order_status(&app, &n).await, "pending");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_webhook_events").await,
        0
    );

    // While a secret is rotated the gateway sends two signatures; the one that matches may come second.
    let good = sign(&app, now, &body);
    let v1 = good.split_once(",v1=").unwrap().1;
    let rotated = format!("{forged},v1={v1}");
    assert_eq!(webhook(&app, Some(&rotated), &body).await, 200);
    assert_eq!(order_status(&app, &n).await, "paid");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM shop_payments WHERE status = 'succeeded'"
        )
        .await,
        1
    );
    let events = scalar(&app, "SELECT COUNT(*) FROM shop_order_events").await;
    // A replay is acknowledged and changes nothing.
    assert_eq!(
        webhook(&app, Some(&sign(&app, now, &body)), &body).await,
        200
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_order_events").await,
        events
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_webhook_events").await,
        1
    );

    // Confirmation after the order was cancelled: recorded, refund due, the order stays cancelled.
    let n2 = placed(&app, &jwt, v).await;
    assert_eq!(pay(&app, &jwt, &n2, "4000002500003155").await.0, 202);
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT reference FROM shop_payments WHERE status = 'pending' ORDER BY id DESC",
        ))
        .await
        .unwrap()
        .unwrap();
    let reference: String = row.try_get("", "reference").unwrap();
    exec(
        &app,
        &format!("UPDATE shop_orders SET status = 'cancelled' WHERE number = '{n2}'"),
    )
    .await;
    let body =
        json!({"id": "evt_3", "type": "payment.succeeded", "reference": reference}).to_string();
    assert_eq!(
        webhook(&app, Some(&sign(&app, now, &body)), &body).await,
        200
    );
    assert_eq!(order_status(&app, &n2).await, "cancelled");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM shop_order_events WHERE note LIKE '%refund is due%'"
        )
        .await,
        1
    );
}

async fn an_asynchronous_payment_is_confirmed_by_the_gateways_webhook(app: TestApp) {
    let jwt = customer(&app, "later").await;
    let v = variant(&app, "LATE-1", 900, 5, "USD").await;
    let n = placed(&app, &jwt, v).await;
    assert_eq!(pay(&app, &jwt, &n, "4000002500003155").await.0, 202);
    assert_eq!(order_status(&app, &n).await, "pending");
    let mut status = String::new();
    for _ in 0..100 {
        status = order_status(&app, &n).await;
        if status == "paid" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status, "paid", "the delivery job confirmed it");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM shop_webhook_events").await,
        1
    );
}

// ---------------------------------------------------------------- pages

async fn the_cart_and_checkout_pages_place_and_pay_an_order(app: TestApp) {
    let v = variant(&app, "PAGE-1", 1500, 5, "USD").await;
    let resp = app.get("/shop/checkout").await;
    assert_eq!(resp.status(), 303);
    assert!(crate::helpers::location(&resp).starts_with("/accounts/login/?next="));
    let web = app.user("webby", &[], false).await;
    let token = web.csrf_token("/shop/cart").await;
    let resp = web
        .post_form_raw(
            "/shop/cart/add",
            &[
                ("csrf_token", &token),
                ("variant", &v.to_string()),
                ("quantity", "2"),
                ("next", "/shop/cart"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let page = web.get_text("/shop/cart").await;
    assert!(page.contains("PAGE-1") && page.contains("$30.00"), "{page}");
    let resp = web
        .post_form_raw(
            "/shop/cart/update",
            &[
                ("csrf_token", &token),
                ("variant", &v.to_string()),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert!(web.get_text("/shop/cart").await.contains("$15.00"));

    let form = web.get_text("/shop/checkout").await;
    let key = form
        .split("name=\"idempotency_key\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the form carries a key")
        .to_string();
    // A mistake keeps what was typed.
    let mut fields = vec![
        ("csrf_token", token.as_str()),
        ("idempotency_key", key.as_str()),
        ("shipping_method", "standard"),
        ("name", "Web Buyer"),
        ("line1", "2 Form Street"),
        ("line2", ""),
        ("city", "Leeds"),
        ("postcode", "LS1 1AA"),
        ("country", "GB"),
        ("voucher", ""),
        ("card_number", "4242424242424242"),
        ("exp_month", "12"),
        ("exp_year", "2099"),
        ("cvc", "1"),
    ];
    let resp = web.post_form_raw("/shop/checkout", &fields).await;
    assert_eq!(resp.status(), 422);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("2 Form Street") && page.contains("Leeds"),
        "{page}"
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM shop_orders").await, 0);
    fields.last_mut().unwrap().1 = "123";
    let resp = web.post_form_raw("/shop/checkout", &fields).await;
    assert_eq!(resp.status(), 303);
    let to = crate::helpers::location(&resp);
    assert!(to.starts_with("/shop/orders/TR-"), "{to}");
    let number = to.trim_start_matches("/shop/orders/");
    assert_eq!(order_status(&app, number).await, "paid");
    // A double submit lands on the same order.
    let resp = web.post_form_raw("/shop/checkout", &fields).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(crate::helpers::location(&resp), to);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM shop_orders").await, 1);
    assert_eq!(stock(&app, v).await, 4);
}

/// The hot write path stays cheap: the statements behind one add to cart and one checkout are pinned.
async fn adding_to_the_cart_and_checking_out_run_a_fixed_number_of_statements(app: TestApp) {
    let v = variant(&app, "PIN-1", 700, 1000, "USD").await;
    let jwt = customer(&app, "pinny").await;
    let counted = |before: u64| app.state.queries.get() - before;
    let mut seen = Vec::new();
    for round in 0..3 {
        let before = app.state.queries.get();
        assert_eq!(add(&app, &jwt, v, 1).await.0, 201);
        let adding = counted(before);
        let before = app.state.queries.get();
        let (status, o) = checkout(
            &app,
            &jwt,
            json!({"shipping_method": "digital"}),
            Some(&format!("pin-{round}")),
        )
        .await;
        assert_eq!(status, 201, "{o}");
        seen.push((adding, counted(before)));
    }
    // No job workers here: they poll the same database in the background, and their statements would
    // be counted too. Only the requests' own are.
    eprintln!("statements (add, checkout): {seen:?}");
    let adding = seen.iter().map(|s| s.0).max().unwrap();
    let placing = seen.iter().map(|s| s.1).max().unwrap();
    assert!(adding <= 6, "add to cart: {adding} statements");
    assert!(placing <= 12, "checkout: {placing} statements");
}
