//! Shop orders after checkout: who sees them, the state machine and its history, cancellations and
//! refunds that give back stock and vouchers, expiry through the job queue, the shipping email, the
//! customer's pages and the admin's order actions.

use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::sql::{exec, insert_id as insert, scalar};

db_tests! {
    customers_see_only_their_own_orders_and_anyone_elses_is_404;
    managers_and_staff_see_every_order_and_filter_them;
    the_list_runs_a_fixed_number_of_statements;
    an_order_moves_through_every_valid_state_and_each_event_names_who_moved_it;
    invalid_transitions_are_409_naming_the_current_state;
    customers_may_not_ship_deliver_or_refund_and_staff_may_only_look;
    cancelling_returns_stock_with_ledger_rows_and_frees_the_voucher_use;
    refunds_go_in_parts_never_above_what_was_paid_and_restock_once;
    an_unpaid_order_expires_through_the_queue_and_a_paid_one_is_left_alone;
    an_expiry_that_runs_early_waits_for_the_order_s_time;
    shipping_emails_the_customer;
    the_pages_list_orders_show_the_timeline_and_cancel_with_a_form;
    a_shop_manager_ships_from_the_admin_and_plain_staff_cannot;
    every_shop_table_is_registered_with_the_admin_and_history_is_read_only;
}

// ---------------------------------------------------------------- seeding

/// A product with one variant priced `price` cents and `stock` on hand; answers the variant's id.
async fn variant(app: &TestApp, sku: &str, price: i64, stock: i64) -> i64 {
    let now = chrono::Utc::now();
    let product = insert(
        app,
        "INSERT INTO shop_products (name, slug, currency, active, created_at, updated_at) \
         VALUES ($1, $2, 'USD', TRUE, $3, $3)",
        vec![
            format!("Product {sku}").into(),
            sku.to_lowercase().into(),
            now.into(),
        ],
    )
    .await;
    insert(
        app,
        "INSERT INTO shop_variants (product_id, sku, name, price, stock, created_at) \
         VALUES ($1, $2, 'Default', $3, $4, $5)",
        vec![
            product.into(),
            sku.into(),
            price.into(),
            stock.into(),
            now.into(),
        ],
    )
    .await
}

async fn stock(app: &TestApp, variant: i64) -> i64 {
    scalar(
        app,
        "SELECT stock AS n FROM shop_variants WHERE id = $1",
        vec![variant.into()],
    )
    .await
}

async fn user_id(app: &TestApp, name: &str) -> i64 {
    trellis::accounts::models::find_by_username(&app.state.db, name)
        .await
        .unwrap()
        .expect("user exists")
        .id
}

/// A JWT for an existing user.
async fn token(app: &TestApp, name: &str) -> String {
    let user = trellis::accounts::models::find_by_username(&app.state.db, name)
        .await
        .unwrap()
        .unwrap();
    trellis::http::api::issue_jwt(&app.state, &user).unwrap()
}

/// An order as checkout leaves it: lines bought out of stock (a sale each), an event, and for a
/// paid order its payment.
struct NewOrder<'a> {
    owner: i64,
    status: &'a str,
    lines: &'a [(i64, i32)],
    voucher: Option<i64>,
    expires_in_ms: i64,
}

async fn order(app: &TestApp, o: NewOrder<'_>) -> (i64, String) {
    let now = chrono::Utc::now();
    let number = trellis::shop::models::new_order_number();
    let mut items = 0;
    for (v, q) in o.lines {
        items += scalar(
            app,
            "SELECT price AS n FROM shop_variants WHERE id = $1",
            vec![(*v).into()],
        )
        .await
            * i64::from(*q);
    }
    let discount = if o.voucher.is_some() { 100 } else { 0 };
    let total = items - discount + 500;
    let paid = if o.status == "pending" { 0 } else { total };
    let email = format!(
        "{}@example.com",
        scalar_text(
            app,
            "SELECT username AS s FROM users WHERE id = $1",
            o.owner
        )
        .await
    );
    let id = insert(
        app,
        "INSERT INTO shop_orders (number, user_id, email, status, currency, items_total, discount_total, \
         shipping_total, grand_total, paid_amount, voucher_id, voucher_code, shipping_method, ship_name, \
         ship_line1, ship_city, ship_postcode, ship_country, created_at, updated_at, expires_at, paid_at) \
         VALUES ($1, $2, $3, $4, 'USD', $5, $6, 500, $7, $8, $9, $10, 'standard', 'Ann Example', \
         '1 Main Street', 'Springfield', '12345', 'US', $11, $11, $12, $13)",
        vec![
            number.clone().into(),
            o.owner.into(),
            email.into(),
            o.status.into(),
            items.into(),
            discount.into(),
            total.into(),
            paid.into(),
            o.voucher.into(),
            o.voucher.map(|_| "SAVE1".to_string()).into(),
            now.into(),
            (now + chrono::Duration::milliseconds(o.expires_in_ms)).into(),
            (o.status != "pending").then_some(now).into(),
        ],
    )
    .await;
    for (v, q) in o.lines {
        let price = scalar(
            app,
            "SELECT price AS n FROM shop_variants WHERE id = $1",
            vec![(*v).into()],
        )
        .await;
        insert(
            app,
            "INSERT INTO shop_order_lines (order_id, variant_id, product_id, product_name, variant_name, \
             sku, unit_price, quantity, line_total) \
             SELECT $1, v.id, v.product_id, p.name, v.name, v.sku, $2, $3, $4 \
             FROM shop_variants v JOIN shop_products p ON p.id = v.product_id WHERE v.id = $5",
            vec![
                id.into(),
                price.into(),
                (*q).into(),
                (price * i64::from(*q)).into(),
                (*v).into(),
            ],
        )
        .await;
        exec(
            app,
            "UPDATE shop_variants SET stock = stock - $2 WHERE id = $1",
            vec![(*v).into(), i64::from(*q).into()],
        )
        .await;
    }
    exec(
        app,
        "INSERT INTO shop_order_events (order_id, actor_id, from_status, to_status, note, created_at) \
         VALUES ($1, $2, NULL, 'pending', 'placed', $3)",
        vec![id.into(), o.owner.into(), now.into()],
    )
    .await;
    if o.status != "pending" {
        exec(
            app,
            "INSERT INTO shop_payments (order_id, gateway, reference, status, amount, card_last4, created_at, updated_at) \
             VALUES ($1, 'simulated', $2, 'succeeded', $3, '4242', $4, $4)",
            vec![
                id.into(),
                format!("pay_{number}").into(),
                total.into(),
                now.into(),
            ],
        )
        .await;
    }
    (id, number)
}

#[derive(FromQueryResult)]
struct S {
    s: String,
}

async fn scalar_text(app: &TestApp, sql: &str, id: i64) -> String {
    let db = &app.state.db;
    S::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [id.into()],
    ))
    .one(db)
    .await
    .unwrap()
    .unwrap()
    .s
}

fn pending<'a>(owner: i64, lines: &'a [(i64, i32)]) -> NewOrder<'a> {
    NewOrder {
        owner,
        status: "pending",
        lines,
        voucher: None,
        expires_in_ms: 30 * 60 * 1000,
    }
}

fn paid<'a>(owner: i64, lines: &'a [(i64, i32)]) -> NewOrder<'a> {
    NewOrder {
        status: "paid",
        ..pending(owner, lines)
    }
}

async fn voucher(app: &TestApp, code: &str, used: i32) -> i64 {
    insert(
        app,
        "INSERT INTO shop_vouchers (code, kind, value, currency, used, created_at) \
         VALUES ($1, 'fixed', 100, 'USD', $2, $3)",
        vec![code.into(), used.into(), chrono::Utc::now().into()],
    )
    .await
}

impl TestApp {
    async fn order_move(
        &self,
        token: &str,
        number: &str,
        action: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.api(
            Method::POST,
            &format!("/api/shop/orders/{number}/{action}"),
            Some(token),
            body,
        )
        .await
    }

    async fn order_json(&self, token: &str, number: &str) -> (u16, Value) {
        self.api(
            Method::GET,
            &format!("/api/shop/orders/{number}"),
            Some(token),
            None,
        )
        .await
    }

    async fn order_numbers(&self, token: &str, query: &str) -> Vec<String> {
        let (s, body) = self
            .api(
                Method::GET,
                &format!("/api/shop/orders?{query}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, 200, "{query}: {body}");
        let mut out: Vec<String> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["number"].as_str().unwrap().to_string())
            .collect();
        out.sort();
        out
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A customer (signed in on the returned browser) and their id and token.
async fn customer(app: &TestApp, name: &str) -> (TestApp, i64, String) {
    let web = app.user(name, &[], false).await;
    (web, user_id(app, name).await, token(app, name).await)
}

async fn manager(app: &TestApp, name: &str) -> (TestApp, String) {
    let web = app.user(name, &["shop_managers"], true).await;
    (web, token(app, name).await)
}

// ---------------------------------------------------------------- tests

async fn customers_see_only_their_own_orders_and_anyone_elses_is_404(app: TestApp) {
    let (_, ann, ann_t) = customer(&app, "ann").await;
    let (_, bob, bob_t) = customer(&app, "bob").await;
    let v = variant(&app, "MUG", 1200, 10).await;
    let (_, a1) = order(&app, pending(ann, &[(v, 1)])).await;
    let (_, a2) = order(&app, paid(ann, &[(v, 2)])).await;
    let (_, b1) = order(&app, pending(bob, &[(v, 1)])).await;

    let (s, list) = app
        .api(Method::GET, "/api/shop/orders", Some(&ann_t), None)
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["count"], 2);
    assert!(list["next"].is_null() && list["previous"].is_null());
    assert_eq!(
        app.order_numbers(&ann_t, "").await,
        sorted(vec![a1.clone(), a2.clone()])
    );
    assert_eq!(app.order_numbers(&bob_t, "").await, vec![b1.clone()]);
    // Asking for someone else's orders only narrows one's own.
    assert!(
        app.order_numbers(&ann_t, &format!("user={bob}"))
            .await
            .is_empty()
    );

    let (s, mine) = app.order_json(&ann_t, &a2).await;
    assert_eq!(s, 200, "{mine}");
    assert_eq!(mine["number"], a2.as_str());
    assert_eq!(mine["status"], "paid");
    assert_eq!(mine["currency"], "USD");
    assert_eq!(mine["items_total"], 2400);
    assert_eq!(mine["shipping_total"], 500);
    assert_eq!(mine["total"], 2900);
    assert_eq!(mine["paid_amount"], 2900);
    assert_eq!(mine["refunded_amount"], 0);
    assert_eq!(mine["shipping_method"], "standard");
    assert_eq!(mine["shipping_address"]["city"], "Springfield");
    assert_eq!(mine["lines"][0]["sku"], "MUG");
    assert_eq!(mine["lines"][0]["quantity"], 2);
    assert_eq!(mine["lines"][0]["line_total"], 2400);
    assert_eq!(mine["events"][0]["to"], "pending");
    assert_eq!(mine["events"][0]["actor"], "ann");
    assert_eq!(mine["payments"][0]["amount"], 2900);
    assert!(
        mine["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/shop/orders/{a2}"))
    );

    for (method, path) in [
        (Method::GET, format!("/api/shop/orders/{b1}")),
        (Method::POST, format!("/api/shop/orders/{b1}/cancel")),
        (Method::POST, format!("/api/shop/orders/{b1}/ship")),
        (Method::POST, format!("/api/shop/orders/{b1}/deliver")),
        (Method::GET, "/api/shop/orders/TR-NOSUCHORDER".to_string()),
        (
            Method::GET,
            "/api/shop/orders/far-too-long-to-be-an-order-number".to_string(),
        ),
    ] {
        let (s, body) = app.api(method, &path, Some(&ann_t), None).await;
        assert_eq!(s, 404, "{path}: {body}");
        assert_eq!(body["errors"]["order"][0], "not found");
    }
    let (s, _) = app.order_move(&ann_t, &b1, "refund", Some(json!({}))).await;
    assert_eq!(s, 404);
    let (s, _) = app.api(Method::GET, "/api/shop/orders", None, None).await;
    assert_eq!(s, 401);
    // Bob's order is untouched.
    let (_, b) = app.order_json(&bob_t, &b1).await;
    assert_eq!(b["status"], "pending");
}

async fn managers_and_staff_see_every_order_and_filter_them(app: TestApp) {
    let (_, ann, _) = customer(&app, "ann").await;
    let (_, bob, _) = customer(&app, "bob").await;
    let (_, mia_t) = manager(&app, "mia").await;
    app.user("sam", &[], true).await;
    let sam_t = token(&app, "sam").await;
    let v = variant(&app, "MUG", 1200, 10).await;
    let (_, a1) = order(&app, pending(ann, &[(v, 1)])).await;
    let (_, a2) = order(&app, paid(ann, &[(v, 1)])).await;
    let (_, b1) = order(&app, paid(bob, &[(v, 1)])).await;

    for t in [&mia_t, &sam_t] {
        assert_eq!(
            app.order_numbers(t, "").await,
            sorted(vec![a1.clone(), a2.clone(), b1.clone()])
        );
        assert_eq!(
            app.order_numbers(t, &format!("user={ann}")).await,
            sorted(vec![a1.clone(), a2.clone()])
        );
        assert_eq!(
            app.order_numbers(t, "status=paid").await,
            sorted(vec![a2.clone(), b1.clone()])
        );
        assert_eq!(
            app.order_numbers(t, &format!("status=paid&user={bob}"))
                .await,
            vec![b1.clone()]
        );
        let (s, o) = app.order_json(t, &b1).await;
        assert_eq!((s, o["number"].as_str()), (200, Some(b1.as_str())));
    }
    let (_, page) = app
        .api(
            Method::GET,
            "/api/shop/orders?page_size=2",
            Some(&mia_t),
            None,
        )
        .await;
    assert_eq!(page["count"], 3);
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    assert!(page["next"].as_str().unwrap().contains("page=2"));
    for (q, field) in [
        ("status=lost", "status"),
        ("user=abc", "user"),
        ("user=0", "user"),
        ("page_size=1000", "page_size"),
        ("page=0", "page"),
    ] {
        let (s, body) = app
            .api(
                Method::GET,
                &format!("/api/shop/orders?{q}"),
                Some(&mia_t),
                None,
            )
            .await;
        assert_eq!(s, 400, "{q}: {body}");
        assert!(body["errors"][field].is_array(), "{q}: {body}");
    }
    let (s, _) = app
        .api(Method::GET, "/api/shop/orders?page=9", Some(&mia_t), None)
        .await;
    assert_eq!(s, 404);
}

async fn the_list_runs_a_fixed_number_of_statements(app: TestApp) {
    let (web, ann, _) = customer(&app, "ann").await;
    let v = variant(&app, "MUG", 1200, 100).await;
    let w = variant(&app, "CUP", 800, 100).await;
    order(&app, pending(ann, &[(v, 1), (w, 2)])).await;
    // The first request may renew the session; count from the second.
    web.queries_for("/api/shop/orders").await;
    let (one, s) = web.queries_for("/api/shop/orders").await;
    assert_eq!(s, 200);
    for _ in 0..6 {
        order(&app, paid(ann, &[(v, 1), (w, 1)])).await;
    }
    let (seven, s) = web.queries_for("/api/shop/orders").await;
    assert_eq!(s, 200);
    assert_eq!(one, seven, "statements for 1 order and for 7");
    web.queries_for("/shop/orders").await;
    let (page_one, _) = web.queries_for("/shop/orders").await;
    let (page_again, _) = web.queries_for("/shop/orders").await;
    assert_eq!(page_one, page_again);
}

async fn an_order_moves_through_every_valid_state_and_each_event_names_who_moved_it(app: TestApp) {
    let (_, ann, ann_t) = customer(&app, "ann").await;
    let (_, mia_t) = manager(&app, "mia").await;
    let v = variant(&app, "MUG", 1000, 10).await;
    let (_, n) = order(&app, paid(ann, &[(v, 2)])).await;

    let (s, o) = app.order_move(&mia_t, &n, "ship", None).await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["status"], "shipped");
    let (s, o) = app.order_move(&mia_t, &n, "deliver", None).await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["status"], "delivered");
    let (s, o) = app
        .order_move(&mia_t, &n, "refund", Some(json!({"amount": 1000})))
        .await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["status"], "refunded");
    assert_eq!(o["refunded_amount"], 1000);

    let (_, o) = app.order_json(&ann_t, &n).await;
    let events: Vec<(Value, Value, Value, Value)> = o["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].clone(),
                e["from"].clone(),
                e["to"].clone(),
                e["amount"].clone(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (json!("ann"), Value::Null, json!("pending"), Value::Null),
            (json!("mia"), json!("paid"), json!("shipped"), Value::Null),
            (
                json!("mia"),
                json!("shipped"),
                json!("delivered"),
                Value::Null
            ),
            (
                json!("mia"),
                json!("delivered"),
                json!("refunded"),
                json!(1000)
            ),
        ]
    );
    assert!(o["events"][1]["at"].as_str().unwrap().ends_with('Z'));

    // A customer's own pending order, cancelled by the customer.
    let (_, p) = order(&app, pending(ann, &[(v, 1)])).await;
    let (s, o) = app.order_move(&ann_t, &p, "cancel", None).await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["status"], "cancelled");
    assert!(o["expires_at"].is_null(), "no expiry once cancelled");
    let last = o["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["actor"].clone(), last["from"].clone()),
        (json!("ann"), json!("pending"))
    );
    // And one cancelled by a manager.
    let (_, p2) = order(&app, pending(ann, &[(v, 1)])).await;
    let (s, o) = app.order_move(&mia_t, &p2, "cancel", None).await;
    assert_eq!((s, o["status"].as_str()), (200, Some("cancelled")));
    assert_eq!(
        o["events"].as_array().unwrap().last().unwrap()["actor"],
        "mia"
    );
}

async fn invalid_transitions_are_409_naming_the_current_state(app: TestApp) {
    let (_, ann, ann_t) = customer(&app, "ann").await;
    let (_, mia_t) = manager(&app, "mia").await;
    let v = variant(&app, "MUG", 1000, 50).await;
    let (_, p) = order(&app, pending(ann, &[(v, 1)])).await;
    let (_, paid_n) = order(&app, paid(ann, &[(v, 1)])).await;

    let conflict = |body: &Value, state: &str| {
        let msg = body["errors"]["status"][0]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(msg.contains(&format!("is {state}")), "{body}");
    };
    for action in ["ship", "deliver"] {
        let (s, body) = app.order_move(&mia_t, &p, action, None).await;
        assert_eq!(s, 409, "{action}: {body}");
        conflict(&body, "pending");
    }
    let (s, body) = app.order_move(&mia_t, &p, "refund", Some(json!({}))).await;
    assert_eq!(s, 409, "{body}");
    conflict(&body, "pending");

    for (token, action) in [(&ann_t, "cancel"), (&mia_t, "cancel"), (&mia_t, "deliver")] {
        let (s, body) = app.order_move(token, &paid_n, action, None).await;
        assert_eq!(s, 409, "{action}: {body}");
        conflict(&body, "paid");
    }
    app.order_move(&mia_t, &paid_n, "ship", None).await;
    let (s, body) = app.order_move(&mia_t, &paid_n, "ship", None).await;
    assert_eq!(s, 409);
    conflict(&body, "shipped");
    app.order_move(&mia_t, &paid_n, "deliver", None).await;
    for action in ["ship", "deliver", "cancel"] {
        let (s, body) = app.order_move(&mia_t, &paid_n, action, None).await;
        assert_eq!(s, 409, "{action}: {body}");
        conflict(&body, "delivered");
    }

    let (s, _) = app.order_move(&ann_t, &p, "cancel", None).await;
    assert_eq!(s, 200);
    for (token, action) in [(&ann_t, "cancel"), (&mia_t, "ship"), (&mia_t, "cancel")] {
        let (s, body) = app.order_move(token, &p, action, None).await;
        assert_eq!(s, 409, "{action}: {body}");
        conflict(&body, "cancelled");
    }
    let (s, body) = app.order_move(&mia_t, &p, "refund", Some(json!({}))).await;
    assert_eq!(s, 409, "{body}");
    conflict(&body, "cancelled");
    // Stock came back once only.
    assert_eq!(stock(&app, v).await, 49);
}

async fn customers_may_not_ship_deliver_or_refund_and_staff_may_only_look(app: TestApp) {
    let (_, ann, ann_t) = customer(&app, "ann").await;
    let (_, bob, _) = customer(&app, "bob").await;
    app.user("sam", &[], true).await;
    let sam_t = token(&app, "sam").await;
    let v = variant(&app, "MUG", 1000, 50).await;
    let (_, mine) = order(&app, paid(ann, &[(v, 1)])).await;
    let (_, bobs) = order(&app, pending(bob, &[(v, 1)])).await;

    for action in ["ship", "deliver"] {
        let (s, body) = app.order_move(&ann_t, &mine, action, None).await;
        assert_eq!(s, 403, "{action}: {body}");
    }
    let (s, _) = app
        .order_move(&ann_t, &mine, "refund", Some(json!({"amount": 1})))
        .await;
    assert_eq!(s, 403);
    // Staff who are not managers see every order but move none of others'.
    for (action, body) in [
        ("ship", None),
        ("cancel", None),
        ("refund", Some(json!({}))),
    ] {
        let (s, b) = app.order_move(&sam_t, &bobs, action, body).await;
        assert_eq!(s, 403, "{action}: {b}");
    }
    let (_, o) = app.order_json(&ann_t, &mine).await;
    assert_eq!(o["status"], "paid");
    assert_eq!(o["events"].as_array().unwrap().len(), 1);
}

async fn cancelling_returns_stock_with_ledger_rows_and_frees_the_voucher_use(app: TestApp) {
    let (_, ann, ann_t) = customer(&app, "ann").await;
    let mug = variant(&app, "MUG", 1000, 10).await;
    let cup = variant(&app, "CUP", 500, 4).await;
    let code = voucher(&app, "SAVE1", 1).await;
    let (id, n) = order(
        &app,
        NewOrder {
            voucher: Some(code),
            ..pending(ann, &[(mug, 3), (cup, 4)])
        },
    )
    .await;
    assert_eq!((stock(&app, mug).await, stock(&app, cup).await), (7, 0));

    let (s, o) = app.order_move(&ann_t, &n, "cancel", None).await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["status"], "cancelled");
    assert_eq!(o["voucher"], "SAVE1");
    assert_eq!((stock(&app, mug).await, stock(&app, cup).await), (10, 4));
    assert_eq!(
        scalar(
            &app,
            "SELECT used AS n FROM shop_vouchers WHERE id = $1",
            vec![code.into()]
        )
        .await,
        0
    );
    let ann_id = ann;
    for (v, delta, after) in [(mug, 3, 10), (cup, 4, 4)] {
        assert_eq!(
            scalar(
                &app,
                "SELECT COUNT(*) AS n FROM shop_stock_moves WHERE variant_id = $1 AND delta = $2 \
                 AND stock_after = $3 AND reason = 'cancel' AND order_id = $4 AND actor_id = $5",
                vec![
                    v.into(),
                    delta.into(),
                    after.into(),
                    id.into(),
                    ann_id.into()
                ],
            )
            .await,
            1,
            "ledger row for variant {v}"
        );
    }
    // A second try changes nothing.
    let (s, _) = app.order_move(&ann_t, &n, "cancel", None).await;
    assert_eq!(s, 409);
    assert_eq!(stock(&app, mug).await, 10);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM shop_stock_moves", vec![]).await,
        2
    );
}

async fn refunds_go_in_parts_never_above_what_was_paid_and_restock_once(app: TestApp) {
    let (_, ann, _) = customer(&app, "ann").await;
    let (_, mia_t) = manager(&app, "mia").await;
    let v = variant(&app, "MUG", 1500, 10).await;
    let (id, n) = order(&app, paid(ann, &[(v, 3)])).await; // 4500 + 500 shipping
    assert_eq!(stock(&app, v).await, 7);

    for (body, field) in [
        (json!({"amount": 0}), "amount"),
        (json!({"amount": -5}), "amount"),
        (json!({"amount": 12.5}), "amount"),
        (json!({"amount": "100"}), "amount"),
        (json!({"amount": 5001}), "amount"),
        (json!({"amount": 1, "restock": "yes"}), "restock"),
    ] {
        let (s, b) = app
            .order_move(&mia_t, &n, "refund", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body}: {b}");
        assert!(b["errors"][field].is_array(), "{body}: {b}");
    }
    let (s, o) = app
        .order_move(&mia_t, &n, "refund", Some(json!({"amount": 2000})))
        .await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(
        (o["status"].as_str(), o["refunded_amount"].as_i64()),
        (Some("refunded"), Some(2000))
    );
    assert_eq!(stock(&app, v).await, 7, "no restock unless asked");

    let (s, b) = app
        .order_move(&mia_t, &n, "refund", Some(json!({"amount": 3001})))
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(
        b["errors"]["amount"][0].as_str().unwrap().contains("3000"),
        "{b}"
    );

    // The rest, by default, with the stock back on the shelf.
    let (s, o) = app
        .order_move(&mia_t, &n, "refund", Some(json!({"restock": true})))
        .await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["refunded_amount"], 5000);
    assert_eq!(o["paid_amount"], 5000);
    assert_eq!(stock(&app, v).await, 10);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM shop_stock_moves WHERE order_id = $1 AND reason = 'refund' AND delta = 3",
            vec![id.into()],
        )
        .await,
        1
    );
    let amounts: Vec<Value> = o["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"] == "refunded")
        .map(|e| e["amount"].clone())
        .collect();
    assert_eq!(amounts, vec![json!(2000), json!(3000)]);

    // Nothing remains.
    let (s, b) = app.order_move(&mia_t, &n, "refund", Some(json!({}))).await;
    assert_eq!(s, 422, "{b}");
    assert!(b["errors"]["amount"].is_array());

    // A second restock of the same order is refused.
    let (_, n2) = order(&app, paid(ann, &[(v, 1)])).await;
    let (s, _) = app
        .order_move(
            &mia_t,
            &n2,
            "refund",
            Some(json!({"amount": 100, "restock": true})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .order_move(
            &mia_t,
            &n2,
            "refund",
            Some(json!({"amount": 100, "restock": true})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert!(b["errors"]["restock"].is_array());
    assert_eq!(stock(&app, v).await, 10);

    // A refund needs a JSON body.
    let resp = app
        .client
        .post(app.url(&format!("/api/shop/orders/{n2}/refund")))
        .header("Authorization", format!("Token {mia_t}"))
        .body("amount=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}

/// Waits until every job of `kind` has finished.
async fn jobs_done(app: &TestApp, kind: &str, expected: i64) {
    for _ in 0..200 {
        let done = scalar(
            app,
            "SELECT COUNT(*) AS n FROM jobs WHERE kind = $1 AND status = 'succeeded'",
            vec![kind.into()],
        )
        .await;
        if done >= expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the {kind} jobs did not finish");
}

async fn an_unpaid_order_expires_through_the_queue_and_a_paid_one_is_left_alone(app: TestApp) {
    let (_, ann, ann_t) = customer(&app, "ann").await;
    let v = variant(&app, "MUG", 1000, 10).await;
    let code = voucher(&app, "SAVE1", 1).await;
    let (unpaid, un) = order(
        &app,
        NewOrder {
            voucher: Some(code),
            expires_in_ms: 600,
            ..pending(ann, &[(v, 2)])
        },
    )
    .await;
    let (paid_id, pn) = order(
        &app,
        NewOrder {
            expires_in_ms: 600,
            ..paid(ann, &[(v, 3)])
        },
    )
    .await;
    assert_eq!(stock(&app, v).await, 5);
    for id in [unpaid, paid_id] {
        trellis::jobs::enqueue_after(
            &app.state.db,
            "shop.expire_order",
            None,
            &json!({"order_id": id}),
            3,
            Duration::from_millis(600),
        )
        .await
        .unwrap();
    }
    trellis::jobs::wake(&app.state);
    // Not before its time.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.order_json(&ann_t, &un).await.1["status"], "pending");

    jobs_done(&app, "shop.expire_order", 2).await;
    let (_, o) = app.order_json(&ann_t, &un).await;
    assert_eq!(o["status"], "cancelled", "{o}");
    let last = o["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["note"], "expired unpaid");
    assert!(last["actor"].is_null());
    assert_eq!(last["from"], "pending");
    assert_eq!(stock(&app, v).await, 7, "the unpaid order's 2 came back");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM shop_stock_moves WHERE order_id = $1 AND reason = 'expiry' AND delta = 2",
            vec![unpaid.into()],
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT used AS n FROM shop_vouchers WHERE id = $1",
            vec![code.into()]
        )
        .await,
        0
    );
    let (_, p) = app.order_json(&ann_t, &pn).await;
    assert_eq!(p["status"], "paid");
    assert_eq!(p["events"].as_array().unwrap().len(), 1);

    // A job for an order that is gone succeeds without doing anything.
    trellis::jobs::enqueue(
        &app.state.db,
        "shop.expire_order",
        None,
        &json!({"order_id": 999999}),
        1,
    )
    .await
    .unwrap();
    trellis::jobs::wake(&app.state);
    jobs_done(&app, "shop.expire_order", 3).await;
    assert_eq!(stock(&app, v).await, 7);
}

async fn an_expiry_that_runs_early_waits_for_the_order_s_time(app: TestApp) {
    let (_, ann, ann_t) = customer(&app, "ann").await;
    let v = variant(&app, "MUG", 1000, 10).await;
    let (id, n) = order(
        &app,
        NewOrder {
            expires_in_ms: 1500,
            ..pending(ann, &[(v, 1)])
        },
    )
    .await;
    trellis::jobs::enqueue(
        &app.state.db,
        "shop.expire_order",
        None,
        &json!({"order_id": id}),
        3,
    )
    .await
    .unwrap();
    trellis::jobs::wake(&app.state);
    jobs_done(&app, "shop.expire_order", 1).await;
    assert_eq!(app.order_json(&ann_t, &n).await.1["status"], "pending");
    jobs_done(&app, "shop.expire_order", 2).await;
    assert_eq!(app.order_json(&ann_t, &n).await.1["status"], "cancelled");
    assert_eq!(stock(&app, v).await, 10);
}

async fn shipping_emails_the_customer(app: TestApp) {
    let (_, ann, _) = customer(&app, "ann").await;
    let (_, mia_t) = manager(&app, "mia").await;
    let v = variant(&app, "MUG", 1000, 10).await;
    let (_, n) = order(&app, paid(ann, &[(v, 1)])).await;
    let before = app.sent_emails().len();
    let (s, _) = app.order_move(&mia_t, &n, "ship", None).await;
    assert_eq!(s, 200);
    let mails = app.sent_emails();
    assert_eq!(mails.len(), before + 1);
    let mail = mails.last().unwrap();
    assert!(mail.contains("To: ann@example.com"), "{mail}");
    assert!(
        mail.contains(&format!("Your order {n} has shipped")),
        "{mail}"
    );
    assert!(mail.contains(&format!("/shop/orders/{n}")), "{mail}");
    // Delivery sends nothing more.
    app.order_move(&mia_t, &n, "deliver", None).await;
    assert_eq!(app.sent_emails().len(), before + 1);
}

async fn the_pages_list_orders_show_the_timeline_and_cancel_with_a_form(app: TestApp) {
    let anon = app.fork();
    let resp = anon.get("/shop/orders").await;
    assert_eq!(resp.status(), 303);
    assert!(crate::helpers::location(&resp).starts_with("/accounts/login/"));

    let (ann_web, ann, _) = customer(&app, "ann").await;
    let (bob_web, _, _) = customer(&app, "bob").await;
    let v = variant(&app, "MUG", 1250, 10).await;
    let (_, p) = order(&app, pending(ann, &[(v, 2)])).await;
    let (_, paid_n) = order(&app, paid(ann, &[(v, 1)])).await;

    let list = ann_web.get_text("/shop/orders").await;
    assert!(list.contains("My orders"));
    assert!(
        list.contains(&format!("href=\"/shop/orders/{p}\"")),
        "{list}"
    );
    assert!(list.contains(&paid_n));
    assert!(list.contains("Awaiting payment") && list.contains("Paid"));
    assert!(
        list.contains("$30.00"),
        "total of 2 × $12.50 + $5.00: {list}"
    );
    assert!(!bob_web.get_text("/shop/orders").await.contains(&p));
    assert_eq!(
        bob_web.get(&format!("/shop/orders/{p}")).await.status(),
        404
    );

    let page = ann_web.get_text(&format!("/shop/orders/{p}")).await;
    assert!(page.contains("Awaiting payment"));
    assert!(page.contains("Product MUG") && page.contains("$25.00"));
    assert!(page.contains("1 Main Street"));
    assert!(
        page.contains(&format!("href=\"/shop/orders/{p}/pay\"")),
        "a Pay link"
    );
    assert!(page.contains(&format!("action=\"/shop/orders/{p}/cancel\"")));
    assert!(page.contains("name=\"csrf_token\""));
    assert!(page.contains("by ann"));

    let paid_page = ann_web.get_text(&format!("/shop/orders/{paid_n}")).await;
    assert!(!paid_page.contains("/pay\""), "no Pay link once paid");
    assert!(!paid_page.contains("/cancel\""), "no Cancel once paid");

    // Without the CSRF token nothing happens.
    let resp = ann_web
        .post_form_raw(&format!("/shop/orders/{p}/cancel"), &[])
        .await;
    assert_eq!(resp.status(), 403);
    let resp = ann_web
        .post_form_from(
            &format!("/shop/orders/{p}"),
            &format!("/shop/orders/{p}/cancel"),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(crate::helpers::location(&resp), format!("/shop/orders/{p}"));
    let page = ann_web.get_text(&format!("/shop/orders/{p}")).await;
    assert!(page.contains("Your order was cancelled."));
    assert!(page.contains("Cancelled"));
    assert!(
        page.contains("Awaiting payment → "),
        "the timeline shows from → to"
    );
    assert!(!page.contains("/pay\""));
    assert_eq!(stock(&app, v).await, 9);

    // A second cancel says why it did not happen.
    let resp = ann_web
        .post_form_from("/shop/orders", &format!("/shop/orders/{p}/cancel"), &[])
        .await;
    assert_eq!(resp.status(), 303);
    let page = ann_web.get_text(&format!("/shop/orders/{p}")).await;
    assert!(page.contains("not cancelled"), "{page}");
    // Someone else's order cannot be cancelled from the page either.
    let resp = bob_web
        .post_form_from(
            "/shop/orders",
            &format!("/shop/orders/{paid_n}/cancel"),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 404);
}

async fn a_shop_manager_ships_from_the_admin_and_plain_staff_cannot(app: TestApp) {
    let (_, ann, ann_t) = customer(&app, "ann").await;
    let (mia, _) = manager(&app, "mia").await;
    let sam = app.user("sam", &[], true).await;
    let v = variant(&app, "MUG", 1000, 10).await;
    let (id, n) = order(&app, paid(ann, &[(v, 1)])).await;
    let (pid, pn) = order(&app, pending(ann, &[(v, 1)])).await;

    let index = mia.get_text("/admin/").await;
    for name in [
        "order",
        "product",
        "variant",
        "category",
        "voucher",
        "stockmove",
    ] {
        assert!(
            index.contains(&format!("href=\"/admin/shop/{name}/\"")),
            "{name} on the manager's index"
        );
    }
    let list = mia.get_text("/admin/shop/order/").await;
    assert!(list.contains(&n) && list.contains("Mark shipped"));
    let resp = mia
        .post_form_from(
            "/admin/shop/order/",
            "/admin/shop/order/",
            &[
                ("action", "mark_shipped"),
                ("_selected", &id.to_string()),
                ("_selected", &pid.to_string()),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let (_, o) = app.order_json(&ann_t, &n).await;
    assert_eq!(o["status"], "shipped");
    let last = o["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "mia");
    assert_eq!(
        app.order_json(&ann_t, &pn).await.1["status"],
        "pending",
        "a pending order is not shipped"
    );
    assert!(app.sent_emails().iter().any(|m| m.contains(&n)));
    let page = mia
        .get_text(&format!("/admin/shop/order/{id}/change/"))
        .await;
    assert!(
        page.contains("order events") || page.contains("Order events"),
        "events inline"
    );
    assert!(page.contains("mia"), "the event names the manager");

    // Deliver, then refund in full with the stock back.
    for action in ["mark_delivered", "refund_restock"] {
        let resp = mia
            .post_form_from(
                "/admin/shop/order/",
                "/admin/shop/order/",
                &[("action", action), ("_selected", &id.to_string())],
            )
            .await;
        assert_eq!(resp.status(), 303, "{action}");
    }
    let (_, o) = app.order_json(&ann_t, &n).await;
    assert_eq!(o["status"], "refunded");
    assert_eq!(o["refunded_amount"], o["paid_amount"]);
    assert_eq!(
        stock(&app, v).await,
        9,
        "the refunded order's one came back"
    );

    // Plain staff see no shop models and may not run the action.
    let index = sam.get_text("/admin/").await;
    assert!(!index.contains("/admin/shop/order/"));
    let (_, n2) = order(&app, paid(ann, &[(v, 1)])).await;
    let id2 = scalar(
        &app,
        "SELECT id AS n FROM shop_orders WHERE number = $1",
        vec![n2.clone().into()],
    )
    .await;
    let token = sam.csrf_token("/admin/").await;
    let resp = sam
        .client
        .post(sam.url("/admin/shop/order/"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("action", "mark_shipped"),
            ("_selected", &id2.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(app.order_json(&ann_t, &n2).await.1["status"], "paid");
}

async fn every_shop_table_is_registered_with_the_admin_and_history_is_read_only(app: TestApp) {
    let (mia, _) = manager(&app, "mia").await;
    let names: Vec<&str> = app
        .state
        .registry
        .models()
        .iter()
        .filter(|m| m.app == "shop")
        .map(|m| m.name)
        .collect();
    for name in [
        "category",
        "product",
        "variant",
        "productimage",
        "voucher",
        "shippingmethod",
        "order",
        "orderline",
        "orderevent",
        "payment",
        "stockmove",
        "review",
        "cart",
        "cartitem",
    ] {
        assert!(names.contains(&name), "shop.{name} registered");
    }
    for name in [
        "orderevent",
        "payment",
        "stockmove",
        "webhookevent",
        "orderline",
    ] {
        let m = app.state.registry.model("shop", name).unwrap();
        let admin = m.admin.as_ref().unwrap();
        assert!(admin.no_add && admin.no_change, "{name} is history");
    }
    // The seeded shipping methods are listed, with money in cents.
    let list = mia.get_text("/admin/shop/shippingmethod/").await;
    assert!(list.contains("Express (next day)"), "{list}");
    // A category and a product added by a manager get slugs; the description is rendered.
    let resp = mia
        .post_form_from(
            "/admin/shop/category/add/",
            "/admin/shop/category/add/",
            &[
                ("name", "Tea & Coffee"),
                ("slug", ""),
                ("description", ""),
                ("position", ""),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let resp = mia
        .post_form_from(
            "/admin/shop/product/add/",
            "/admin/shop/product/add/",
            &[
                ("name", "Green Tea"),
                ("slug", ""),
                ("description", "A **fine** tea <script>x</script>"),
                ("currency", "usd"),
                ("active", "on"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    #[derive(FromQueryResult)]
    struct P {
        slug: String,
        description_html: String,
        currency: String,
    }
    let p = P::find_by_statement(Statement::from_sql_and_values(
        app.state.db.get_database_backend(),
        "SELECT slug, description_html, currency FROM shop_products WHERE name = 'Green Tea'",
        [],
    ))
    .one(&app.state.db)
    .await
    .unwrap()
    .unwrap();
    assert_eq!(p.slug, "green-tea");
    assert!(p.description_html.contains("<strong>fine</strong>"));
    assert!(!p.description_html.contains("<script"));
    assert_eq!(p.currency, "USD");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM shop_categories WHERE slug = 'tea-coffee'",
            vec![]
        )
        .await,
        1
    );
    // History cannot be added by hand.
    assert_eq!(mia.get("/admin/shop/stockmove/add/").await.status(), 403);
    assert_eq!(mia.get("/admin/shop/orderevent/add/").await.status(), 403);
}
