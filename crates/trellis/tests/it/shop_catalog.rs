//! The shop's catalog: products with variants in a category tree, its public list with filters and
//! ordering, managers' writes, the stock ledger and product photos.

use reqwest::Method;
use serde_json::{Value, json};

use std::process::{Command, Output};

use crate::helpers::{TestApp, png_bytes};

fn trellis(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trellis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TRELLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TRELLIS_LOG_LEVEL", "warn")
        .env("TRELLIS_DATABASE_URL", &app.database_url)
        .env("TRELLIS_DATA_DIR", app.data_dir.display().to_string())
        .args(args)
        .output()
        .expect("run trellis")
}

db_tests! {
    managers_create_products_with_a_slug_and_a_first_variant;
    customers_and_visitors_cannot_write_the_catalog;
    names_already_used_get_the_next_free_slug;
    concurrent_creates_of_one_name_all_get_distinct_slugs;
    every_filter_narrows_the_list;
    the_category_filter_includes_sub_categories;
    every_ordering_sorts_the_list;
    the_list_is_paginated_in_the_drf_envelope;
    the_list_runs_a_fixed_number_of_statements;
    inactive_products_are_hidden_from_customers;
    a_taken_sku_is_a_409_naming_sku;
    bad_fields_are_422_and_bad_filters_400_naming_them;
    stock_corrections_write_the_ledger_and_never_go_below_zero;
    photos_are_accepted_and_anything_else_refused_with_nothing_stored;
    the_csv_import_makes_products_with_variants_and_the_export_round_trips;
    a_csv_import_with_a_bad_line_names_it_and_imports_nothing;
    the_catalog_page_searches_and_filters_without_javascript;
    the_product_page_shows_variants_stock_and_an_add_to_cart_form;
}

/// A JWT for a new user, a shop manager or not.
async fn token(app: &TestApp, name: &str, manager: bool) -> String {
    let groups: &[&str] = if manager { &["shop_managers"] } else { &[] };
    app.user(name, groups, false).await;
    let user = trellis::accounts::models::find_by_username(&app.state.db, name)
        .await
        .unwrap()
        .unwrap();
    trellis::http::api::issue_jwt(&app.state, &user).unwrap()
}

impl TestApp {
    async fn product(&self, t: &str, body: Value) -> Value {
        let (s, p) = self
            .api(Method::POST, "/api/shop/products", Some(t), Some(body))
            .await;
        assert_eq!(s, 201, "{p}");
        p
    }

    async fn category(&self, t: &str, body: Value) -> Value {
        let (s, c) = self
            .api(Method::POST, "/api/shop/categories", Some(t), Some(body))
            .await;
        assert_eq!(s, 201, "{c}");
        c
    }

    /// The slugs a list answers, in order.
    async fn product_slugs(&self, t: Option<&str>, query: &str) -> Vec<String> {
        let (s, body) = self
            .api(Method::GET, &format!("/api/shop/products?{query}"), t, None)
            .await;
        assert_eq!(s, 200, "{query}: {body}");
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["slug"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn managers_create_products_with_a_slug_and_a_first_variant(app: TestApp) {
    let m = token(&app, "mia", true).await;
    let p = app
        .product(
            &m,
            json!({"name": "Blue Mug", "price": 1250, "currency": "usd", "stock": 7,
                   "description": "A *big* mug <script>x</script>", "sku": "MUG-1",
                   "options": {"size": "L"}, "weight_grams": 350}),
        )
        .await;
    assert_eq!(p["slug"], "blue-mug");
    assert_eq!(p["currency"], "USD");
    assert_eq!(p["price"], 1250);
    assert_eq!(p["in_stock"], true);
    assert!(p["rating"].is_null());
    assert_eq!(p["review_count"], 0);
    let html = p["description_html"].as_str().unwrap();
    assert!(
        html.contains("<em>big</em>") && !html.contains("<script"),
        "{html}"
    );
    let v = &p["variants"][0];
    assert!(v["id"].as_i64().unwrap() > 0);
    assert_eq!(v["sku"], "MUG-1");
    assert_eq!(v["options"], json!({"size": "L"}));
    assert_eq!(
        (v["stock"].as_i64(), v["weight_grams"].as_i64()),
        (Some(7), Some(350))
    );
    assert!(
        p["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/shop/products/blue-mug")
    );

    let (s, got) = app
        .api(Method::GET, "/api/shop/products/blue-mug", None, None)
        .await;
    assert_eq!((s, &got["variants"]), (200, &p["variants"]));

    // The initial stock is the ledger's first row.
    let vid = v["id"].as_i64().unwrap();
    let (s, moves) = app
        .api(
            Method::GET,
            &format!("/api/shop/variants/{vid}/stock-moves"),
            Some(&m),
            None,
        )
        .await;
    assert_eq!(s, 200, "{moves}");
    assert_eq!(moves["count"], 1);
    assert_eq!(moves["results"][0]["reason"], "initial");
    assert_eq!(moves["results"][0]["delta"], 7);

    // A second variant.
    let (s, v2) = app
        .api(
            Method::POST,
            "/api/shop/products/blue-mug/variants",
            Some(&m),
            Some(json!({"sku": "MUG-2", "price": 900, "name": "Small"})),
        )
        .await;
    assert_eq!(s, 201, "{v2}");
    let (_, got) = app
        .api(Method::GET, "/api/shop/products/blue-mug", None, None)
        .await;
    assert_eq!(got["price"], 900);
    assert_eq!(got["variants"].as_array().unwrap().len(), 2);

    // Update and deactivate.
    let (s, up) = app
        .api(
            Method::PATCH,
            "/api/shop/products/blue-mug",
            Some(&m),
            Some(json!({"name": "Big Blue Mug"})),
        )
        .await;
    assert_eq!(
        (s, &up["name"], &up["slug"]),
        (200, &json!("Big Blue Mug"), &json!("blue-mug"))
    );
    let (s, _) = app
        .api(
            Method::DELETE,
            "/api/shop/products/blue-mug",
            Some(&m),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .api(Method::GET, "/api/shop/products/blue-mug", None, None)
        .await;
    assert_eq!(s, 404);
}

async fn customers_and_visitors_cannot_write_the_catalog(app: TestApp) {
    let m = token(&app, "mia", true).await;
    let c = token(&app, "cal", false).await;
    let body = json!({"name": "Mug", "price": 100, "currency": "USD", "stock": 1});
    let (s, _) = app
        .api(
            Method::POST,
            "/api/shop/products",
            Some(&c),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .api(Method::POST, "/api/shop/products", None, Some(body.clone()))
        .await;
    assert_eq!(s, 401);
    let p = app.product(&m, body).await;
    let vid = p["variants"][0]["id"].as_i64().unwrap();
    for (method, path, body) in [
        (
            Method::PATCH,
            "/api/shop/products/mug".to_string(),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, "/api/shop/products/mug".to_string(), None),
        (
            Method::POST,
            "/api/shop/products/mug/variants".to_string(),
            Some(json!({"price": 1})),
        ),
        (
            Method::PATCH,
            format!("/api/shop/variants/{vid}"),
            Some(json!({"stock": 5})),
        ),
        (
            Method::GET,
            format!("/api/shop/variants/{vid}/stock-moves"),
            None,
        ),
        (
            Method::POST,
            "/api/shop/categories".to_string(),
            Some(json!({"name": "Cups"})),
        ),
    ] {
        let (s, _) = app.api(method.clone(), &path, Some(&c), body.clone()).await;
        assert_eq!(s, 403, "{method} {path}");
        let (s, _) = app.api(method.clone(), &path, None, body).await;
        assert_eq!(s, 401, "{method} {path}");
    }
}

async fn names_already_used_get_the_next_free_slug(app: TestApp) {
    let m = token(&app, "mia", true).await;
    let body = json!({"name": "Tea Pot", "price": 100, "currency": "USD"});
    let mut slugs = Vec::new();
    for _ in 0..3 {
        slugs.push(app.product(&m, body.clone()).await["slug"].clone());
    }
    assert_eq!(
        slugs,
        vec![json!("tea-pot"), json!("tea-pot-2"), json!("tea-pot-3")]
    );
    // "Tea Pot 2" would be tea-pot-2, already taken.
    let p = app
        .product(
            &m,
            json!({"name": "Tea Pot 2", "price": 1, "currency": "USD"}),
        )
        .await;
    assert_eq!(p["slug"], "tea-pot-2-2");
    // A slug given and taken is a 409.
    let (s, e) = app
        .api(
            Method::POST,
            "/api/shop/products",
            Some(&m),
            Some(json!({"name": "Other", "slug": "tea-pot", "price": 1, "currency": "USD"})),
        )
        .await;
    assert_eq!(s, 409);
    assert!(e["errors"]["slug"].is_array(), "{e}");
}

async fn concurrent_creates_of_one_name_all_get_distinct_slugs(app: TestApp) {
    let m = token(&app, "mia", true).await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let client = app.client.clone();
        let url = app.url("/api/shop/products");
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .header("Authorization", format!("Token {m}"))
                .json(&json!({"name": "Rush", "price": 100, "currency": "USD", "stock": 1}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body["slug"].as_str().unwrap_or("").to_string())
        }));
    }
    let mut slugs = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, slug) = t.await.unwrap();
        assert_eq!(status, 201, "{slug}");
        slugs.insert(slug);
    }
    assert_eq!(slugs.len(), 32);
    assert!(slugs.contains("rush") && slugs.contains("rush-32"));
}

/// Three products: a cheap one in stock, a dear one out of stock, a middle one with a SKU to find.
async fn three(app: &TestApp, m: &str) {
    app.product(
        m,
        json!({"name": "Apple Juice", "price": 300, "currency": "USD", "stock": 5,
               "description": "Fresh and cold"}),
    )
    .await;
    app.product(
        m,
        json!({"name": "Caviar", "price": 90000, "currency": "USD", "stock": 0}),
    )
    .await;
    app.product(
        m,
        json!({"name": "Bread", "price": 450, "currency": "USD", "stock": 2, "sku": "LOAF-77"}),
    )
    .await;
}

async fn every_filter_narrows_the_list(app: TestApp) {
    let m = token(&app, "mia", true).await;
    three(&app, &m).await;
    let all = app.product_slugs(None, "ordering=name").await;
    assert_eq!(all, ["apple-juice", "bread", "caviar"]);
    assert_eq!(
        app.product_slugs(None, "ordering=name&min_price=400").await,
        ["bread", "caviar"]
    );
    assert_eq!(
        app.product_slugs(None, "ordering=name&max_price=450").await,
        ["apple-juice", "bread"]
    );
    assert_eq!(
        app.product_slugs(None, "ordering=name&in_stock=true").await,
        ["apple-juice", "bread"]
    );
    assert_eq!(app.product_slugs(None, "in_stock=false").await, ["caviar"]);
    assert_eq!(app.product_slugs(None, "q=COLD").await, ["apple-juice"]);
    assert_eq!(app.product_slugs(None, "q=loaf-7").await, ["bread"]);
    assert_eq!(app.product_slugs(None, "q=juice").await, ["apple-juice"]);
    assert!(app.product_slugs(None, "q=%25").await.is_empty());
    assert_eq!(
        app.product_slugs(None, "min_price=400&max_price=500&in_stock=true")
            .await,
        ["bread"]
    );
}

async fn the_category_filter_includes_sub_categories(app: TestApp) {
    let m = token(&app, "mia", true).await;
    app.category(&m, json!({"name": "Drinks"})).await;
    let hot = app
        .category(&m, json!({"name": "Hot", "parent": "drinks"}))
        .await;
    assert_eq!(
        (&hot["parent"], &hot["depth"]),
        (&json!("drinks"), &json!(1))
    );
    app.category(&m, json!({"name": "Tea", "parent": "hot"}))
        .await;
    app.category(&m, json!({"name": "Food"})).await;
    for (name, cat) in [
        ("Cola", "drinks"),
        ("Cocoa", "hot"),
        ("Green", "tea"),
        ("Rice", "food"),
    ] {
        app.product(
            &m,
            json!({"name": name, "price": 100, "currency": "USD", "category": cat}),
        )
        .await;
    }
    assert_eq!(
        app.product_slugs(None, "category=drinks&ordering=name")
            .await,
        ["cocoa", "cola", "green"]
    );
    assert_eq!(
        app.product_slugs(None, "category=hot&ordering=name").await,
        ["cocoa", "green"]
    );
    assert_eq!(app.product_slugs(None, "category=tea").await, ["green"]);
    assert_eq!(app.product_slugs(None, "category=food").await, ["rice"]);
    assert!(app.product_slugs(None, "category=none").await.is_empty());
    let (_, cats) = app
        .api(Method::GET, "/api/shop/categories", None, None)
        .await;
    let order: Vec<&str> = cats
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["drinks", "hot", "tea", "food"]);
    let (s, e) = app
        .api(
            Method::POST,
            "/api/shop/products",
            Some(&m),
            Some(json!({"name": "X", "price": 1, "currency": "USD", "category": "nope"})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(e["errors"]["category"].is_array());
}

async fn every_ordering_sorts_the_list(app: TestApp) {
    let m = token(&app, "mia", true).await;
    three(&app, &m).await;
    assert_eq!(
        app.product_slugs(None, "ordering=price").await,
        ["apple-juice", "bread", "caviar"]
    );
    assert_eq!(
        app.product_slugs(None, "ordering=-price").await,
        ["caviar", "bread", "apple-juice"]
    );
    assert_eq!(
        app.product_slugs(None, "ordering=-created").await,
        ["bread", "caviar", "apple-juice"]
    );
    assert_eq!(
        app.product_slugs(None, "").await,
        ["bread", "caviar", "apple-juice"]
    );
    // Ratings come from reviews: bread 4.5, caviar 2, apple juice unrated (last).
    use sea_orm::ConnectionTrait;
    token(&app, "cy", false).await;
    let db = &app.state.db;
    let ids: Vec<i64> = {
        let (_, body) = app
            .api(Method::GET, "/api/shop/products?ordering=name", None, None)
            .await;
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect()
    };
    let users: Vec<i64> = {
        let mut v = Vec::new();
        for n in ["mia", "cy"] {
            v.push(
                trellis::accounts::models::find_by_username(db, n)
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
            );
        }
        v
    };
    let now = "2026-01-01T00:00:00Z";
    for (product, user, rating) in [
        (ids[1], users[0], 4),
        (ids[1], users[1], 5),
        (ids[2], users[0], 2),
    ] {
        let ts = if db.is_sqlite() {
            format!("'{now}'")
        } else {
            format!("TIMESTAMPTZ '{now}'")
        };
        db.execute_unprepared(&format!(
            "INSERT INTO shop_reviews (product_id, user_id, rating, created_at, updated_at) \
             VALUES ({product}, {user}, {rating}, {ts}, {ts})"
        ))
        .await
        .unwrap();
    }
    assert_eq!(
        app.product_slugs(None, "ordering=rating").await,
        ["bread", "caviar", "apple-juice"]
    );
    let (_, bread) = app
        .api(Method::GET, "/api/shop/products/bread", None, None)
        .await;
    assert_eq!(
        (bread["rating"].as_f64(), &bread["review_count"]),
        (Some(4.5), &json!(2))
    );
}

async fn the_list_is_paginated_in_the_drf_envelope(app: TestApp) {
    let m = token(&app, "mia", true).await;
    for i in 0..5 {
        app.product(
            &m,
            json!({"name": format!("Item {i}"), "price": 100 + i, "currency": "USD"}),
        )
        .await;
    }
    let (s, p1) = app
        .api(
            Method::GET,
            "/api/shop/products?page_size=2&ordering=price",
            None,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(p1["count"], 5);
    assert!(p1["previous"].is_null());
    assert!(p1["next"].as_str().unwrap().contains("page=2"));
    assert_eq!(p1["results"].as_array().unwrap().len(), 2);
    let (_, p3) = app
        .api(
            Method::GET,
            "/api/shop/products?page_size=2&ordering=price&page=3",
            None,
            None,
        )
        .await;
    assert_eq!(p3["results"].as_array().unwrap().len(), 1);
    assert!(p3["next"].is_null() && p3["previous"].is_string());
    for bad in ["page_size=0", "page_size=101", "page=0", "page_size=x"] {
        let (s, e) = app
            .api(
                Method::GET,
                &format!("/api/shop/products?{bad}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    let (s, _) = app
        .api(Method::GET, "/api/shop/products?page_size=100", None, None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .api(Method::GET, "/api/shop/products?page=9", None, None)
        .await;
    assert_eq!(s, 404);
}

async fn the_list_runs_a_fixed_number_of_statements(app: TestApp) {
    let m = token(&app, "mia", true).await;
    for i in 0..6 {
        let p = app
            .product(
                &m,
                json!({"name": format!("Thing {i}"), "price": 100, "currency": "USD", "stock": 3}),
            )
            .await;
        let slug = p["slug"].as_str().unwrap();
        let (s, _) = app
            .api(
                Method::POST,
                &format!("/api/shop/products/{slug}/variants"),
                Some(&m),
                Some(json!({"price": 50})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (one, s1) = app.queries_for("/api/shop/products?page_size=1").await;
    let (hundred, s2) = app.queries_for("/api/shop/products?page_size=100").await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200));
    assert_eq!(one, hundred);
    assert_eq!(hundred, 3, "the page with its count, variants, images");
}

async fn inactive_products_are_hidden_from_customers(app: TestApp) {
    let m = token(&app, "mia", true).await;
    let c = token(&app, "cal", false).await;
    app.product(&m, json!({"name": "Shown", "price": 1, "currency": "USD"}))
        .await;
    app.product(
        &m,
        json!({"name": "Hidden", "price": 1, "currency": "USD", "active": false}),
    )
    .await;
    assert_eq!(app.product_slugs(None, "").await, ["shown"]);
    assert_eq!(app.product_slugs(Some(&c), "").await, ["shown"]);
    assert_eq!(app.product_slugs(Some(&m), "").await, ["hidden", "shown"]);
    let (s, _) = app
        .api(Method::GET, "/api/shop/products/hidden", Some(&c), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .api(Method::GET, "/api/shop/products/hidden", Some(&m), None)
        .await;
    assert_eq!(s, 200);
}

async fn a_taken_sku_is_a_409_naming_sku(app: TestApp) {
    let m = token(&app, "mia", true).await;
    app.product(
        &m,
        json!({"name": "One", "price": 1, "currency": "USD", "sku": "SAME"}),
    )
    .await;
    let (s, e) = app
        .api(
            Method::POST,
            "/api/shop/products",
            Some(&m),
            Some(json!({"name": "Two", "price": 1, "currency": "USD", "sku": "SAME"})),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(e["errors"]["sku"].is_array());
    // Nothing of the refused product was kept.
    assert_eq!(app.product_slugs(None, "").await, ["one"]);
    let (s, e) = app
        .api(
            Method::POST,
            "/api/shop/products/one/variants",
            Some(&m),
            Some(json!({"price": 1, "sku": "SAME"})),
        )
        .await;
    assert_eq!(s, 409);
    assert!(e["errors"]["sku"].is_array());
}

async fn bad_fields_are_422_and_bad_filters_400_naming_them(app: TestApp) {
    let m = token(&app, "mia", true).await;
    for (body, field) in [
        (json!({"price": 1, "currency": "USD"}), "name"),
        (json!({"name": " ", "price": 1, "currency": "USD"}), "name"),
        (
            json!({"name": "x".repeat(201), "price": 1, "currency": "USD"}),
            "name",
        ),
        (json!({"name": "A", "currency": "USD"}), "price"),
        (
            json!({"name": "A", "price": -1, "currency": "USD"}),
            "price",
        ),
        (
            json!({"name": "A", "price": 1.5, "currency": "USD"}),
            "price",
        ),
        (
            json!({"name": "A", "price": 1_000_000_000_000_001_i64, "currency": "USD"}),
            "price",
        ),
        (json!({"name": "A", "price": 1}), "currency"),
        (
            json!({"name": "A", "price": 1, "currency": "dollars"}),
            "currency",
        ),
        (
            json!({"name": "A", "price": 1, "currency": "USD", "stock": -1}),
            "stock",
        ),
        (
            json!({"name": "A", "price": 1, "currency": "USD", "sku": "has space"}),
            "sku",
        ),
        (
            json!({"name": "A", "price": 1, "currency": "USD", "options": {"a": 1}}),
            "options",
        ),
        (
            json!({"name": "A", "price": 1, "currency": "USD", "options": [1]}),
            "options",
        ),
        (
            json!({"name": "A", "price": 1, "currency": "USD", "slug": "Bad Slug"}),
            "slug",
        ),
        (
            json!({"name": "A", "price": 1, "currency": "USD", "active": "yes"}),
            "active",
        ),
        (
            json!({"name": "A", "price": 1, "currency": "USD", "description": 5}),
            "description",
        ),
        (
            json!({"name": "A", "price": 1, "currency": "USD", "description": ">".repeat(200)}),
            "description",
        ),
    ] {
        let (s, e) = app
            .api(
                Method::POST,
                "/api/shop/products",
                Some(&m),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body}: {e}");
        assert!(e["errors"][field].is_array(), "{body}: {e}");
    }
    for (query, param) in [
        ("min_price=x", "min_price"),
        ("max_price=-1", "max_price"),
        ("in_stock=maybe", "in_stock"),
        ("ordering=stock", "ordering"),
        ("page_size=1000", "page_size"),
    ] {
        let (s, e) = app
            .api(
                Method::GET,
                &format!("/api/shop/products?{query}"),
                None,
                None,
            )
            .await;
        assert_eq!(s, 400, "{query}: {e}");
        assert!(e["errors"][param].is_array(), "{query}: {e}");
    }
    let long = "q".repeat(201);
    let (s, e) = app
        .api(
            Method::GET,
            &format!("/api/shop/products?q={long}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert!(e["errors"]["q"].is_array());
}

async fn stock_corrections_write_the_ledger_and_never_go_below_zero(app: TestApp) {
    let m = token(&app, "mia", true).await;
    let p = app
        .product(
            &m,
            json!({"name": "Pen", "price": 100, "currency": "USD", "stock": 5}),
        )
        .await;
    let vid = p["variants"][0]["id"].as_i64().unwrap();
    let path = format!("/api/shop/variants/{vid}");
    let (s, v) = app
        .api(
            Method::PATCH,
            &path,
            Some(&m),
            Some(json!({"stock": 12, "note": "counted", "price": 150})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["stock"].as_i64(), v["price"].as_i64()),
        (Some(12), Some(150))
    );
    let (s, v) = app
        .api(
            Method::PATCH,
            &path,
            Some(&m),
            Some(json!({"stock_delta": -2})),
        )
        .await;
    assert_eq!((s, v["stock"].as_i64()), (200, Some(10)));
    let (s, e) = app
        .api(
            Method::PATCH,
            &path,
            Some(&m),
            Some(json!({"stock_delta": -11})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert!(e["errors"]["stock_delta"].is_array());
    let (s, e) = app
        .api(Method::PATCH, &path, Some(&m), Some(json!({"stock": -1})))
        .await;
    assert_eq!(s, 422);
    assert!(e["errors"]["stock"].is_array());
    let (_, moves) = app
        .api(Method::GET, &format!("{path}/stock-moves"), Some(&m), None)
        .await;
    assert_eq!(moves["count"], 3);
    let rows = moves["results"].as_array().unwrap();
    let seen: Vec<(i64, i64, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["delta"].as_i64().unwrap(),
                r["stock_after"].as_i64().unwrap(),
                r["reason"].as_str().unwrap(),
                r["note"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (-2, 10, "correction", ""),
            (7, 12, "correction", "counted"),
            (5, 5, "initial", "")
        ]
    );
    let (s, _) = app
        .api(
            Method::PATCH,
            "/api/shop/variants/999999",
            Some(&m),
            Some(json!({"stock": 1})),
        )
        .await;
    assert_eq!(s, 404);
}

async fn photos_are_accepted_and_anything_else_refused_with_nothing_stored(app: TestApp) {
    let m = token(&app, "mia", true).await;
    app.product(&m, json!({"name": "Lamp", "price": 100, "currency": "USD"}))
        .await;
    let upload = |bytes: Vec<u8>, name: &str| {
        let form = reqwest::multipart::Form::new().part(
            "image",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        app.client
            .post(app.url("/api/shop/products/lamp/images"))
            .header("Authorization", format!("Token {m}"))
            .multipart(form)
    };
    let resp = upload(b"just some text, really".to_vec(), "photo.png")
        .send()
        .await
        .unwrap();
    assert!(
        [415, 422].contains(&resp.status().as_u16()),
        "{}",
        resp.status()
    );
    assert!(app.state.storage.list("shop").await.unwrap().is_empty());
    let resp = upload(png_bytes(40, 30), "photo.png").send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let img: Value = resp.json().await.unwrap();
    assert!(img["url"].as_str().unwrap().starts_with("/media/shop/"));
    assert!(
        img["thumbnail_url"]
            .as_str()
            .unwrap()
            .ends_with(".thumb.jpg")
    );
    assert_eq!(app.state.storage.list("shop").await.unwrap().len(), 2);
    let (_, p) = app
        .api(Method::GET, "/api/shop/products/lamp", None, None)
        .await;
    assert_eq!(p["images"][0]["url"], img["url"]);
    let resp = app.get(img["url"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 200);
}

const CSV: &str = "name,slug,category,description,sku,price,currency,stock,weight_grams,options
T-Shirt,t-shirt,clothes,\"Soft, *cotton*\",TS-S,12.50,USD,3,200,colour=red;size=S
T-Shirt,t-shirt,clothes,\"Soft, *cotton*\",TS-L,13.00,USD,0,220,colour=red;size=L
Green Tea,green-tea,,Loose leaf,TEA-1,4.00,USD,10,100,
Yen Thing,yen-thing,,,YEN-1,500,JPY,1,0,
";

async fn the_csv_import_makes_products_with_variants_and_the_export_round_trips(app: TestApp) {
    let m = token(&app, "mia", true).await;
    app.category(&m, json!({"name": "Clothes"})).await;
    let file = app.data_dir.join("products.csv");
    std::fs::write(&file, CSV).unwrap();
    let out = trellis(&app, &["shop", "import-products", file.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Imported 3 products with 4 variants"),
        "{text}"
    );
    let (_, shirt) = app
        .api(Method::GET, "/api/shop/products/t-shirt", None, None)
        .await;
    assert_eq!(shirt["category"], "clothes");
    assert_eq!(shirt["price"], 1250);
    assert_eq!(shirt["variants"].as_array().unwrap().len(), 2);
    assert_eq!(
        shirt["variants"][1]["options"],
        json!({"colour": "red", "size": "L"})
    );
    let vid = shirt["variants"][0]["id"].as_i64().unwrap();
    let (_, moves) = app
        .api(
            Method::GET,
            &format!("/api/shop/variants/{vid}/stock-moves"),
            Some(&m),
            None,
        )
        .await;
    assert_eq!(moves["results"][0]["reason"], "import");
    let (_, yen) = app
        .api(Method::GET, "/api/shop/products/yen-thing", None, None)
        .await;
    assert_eq!(
        (&yen["price"], &yen["currency"]),
        (&json!(500), &json!("JPY"))
    );

    let back = app.data_dir.join("export.csv");
    let out = trellis(&app, &["shop", "export-products", back.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&back).unwrap(), CSV);
    let out = trellis(&app, &["shop", "export-products"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), CSV);
}

async fn a_csv_import_with_a_bad_line_names_it_and_imports_nothing(app: TestApp) {
    let m = token(&app, "mia", true).await;
    app.product(
        &m,
        json!({"name": "Old", "price": 1, "currency": "USD", "sku": "OLD-1"}),
    )
    .await;
    let file = app.data_dir.join("bad.csv");
    std::fs::write(
        &file,
        "name,price,currency,stock\nMug,1.00,USD,3\nCup,1.234,USD,2\nBowl,2.00,USD,-4\n",
    )
    .unwrap();
    let out = trellis(&app, &["shop", "import-products", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(err.contains("line 3, column price"), "{err}");
    assert!(err.contains("line 4, column stock"), "{err}");
    assert!(err.contains("Nothing was imported"), "{err}");
    assert_eq!(app.product_slugs(Some(&m), "").await, ["old"]);

    // A problem found only while writing (a SKU the catalog already has) rolls back the rows before it.
    std::fs::write(
        &file,
        "name,price,currency,sku\nMug,1.00,USD,MUG-1\nCup,1.00,USD,OLD-1\n",
    )
    .unwrap();
    let out = trellis(&app, &["shop", "import-products", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(err.contains("line 3, column sku"), "{err}");
    assert_eq!(app.product_slugs(Some(&m), "").await, ["old"]);
}

async fn the_catalog_page_searches_and_filters_without_javascript(app: TestApp) {
    let m = token(&app, "mia", true).await;
    app.category(&m, json!({"name": "Drinks"})).await;
    app.category(&m, json!({"name": "Tea", "parent": "drinks"}))
        .await;
    app.product(&m, json!({"name": "Green Tea", "price": 400, "currency": "USD", "stock": 3, "category": "tea"}))
        .await;
    app.product(
        &m,
        json!({"name": "Gold Watch", "price": 90000, "currency": "USD", "stock": 0}),
    )
    .await;
    let page = app.get_text("/shop/").await;
    assert!(
        page.contains("Green Tea") && page.contains("Gold Watch"),
        "{page}"
    );
    assert!(page.contains("action=\"/shop/\"") && page.contains("name=\"q\""));
    assert!(page.contains("Tea</a>") && page.contains("$4.00"));
    let page = app.get_text("/shop/?category=drinks").await;
    assert!(page.contains("Green Tea") && !page.contains("Gold Watch"));
    let page = app.get_text("/shop/?q=watch").await;
    assert!(!page.contains("Green Tea") && page.contains("Gold Watch"));
    let page = app.get_text("/shop/?min_price=10.00&max_price=1000").await;
    assert!(!page.contains("Green Tea") && page.contains("Gold Watch"));
    let page = app.get_text("/shop/?in_stock=true&ordering=price").await;
    assert!(page.contains("Green Tea") && !page.contains("Gold Watch"));
    assert_eq!(app.get("/shop/?ordering=nope").await.status(), 400);
    assert_eq!(app.get("/shop/?page=5").await.status(), 404);
}

async fn the_product_page_shows_variants_stock_and_an_add_to_cart_form(app: TestApp) {
    let m = token(&app, "mia", true).await;
    app.product(
        &m,
        json!({"name": "Sock", "price": 500, "currency": "USD", "stock": 3,
               "options": {"size": "M"}, "description": "Warm **wool**"}),
    )
    .await;
    for (price, stock) in [(600, 0), (700, 40)] {
        let (s, _) = app
            .api(
                Method::POST,
                "/api/shop/products/sock/variants",
                Some(&m),
                Some(json!({"price": price, "stock": stock})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let page = app.get_text("/shop/products/sock").await;
    assert!(page.contains("<strong>wool</strong>"), "{page}");
    assert!(
        page.contains("Only 3 left") && page.contains("Out of stock") && page.contains("In stock")
    );
    assert!(page.contains("action=\"/shop/cart/add\""));
    assert!(page.contains("name=\"csrf_token\"") && page.contains("name=\"quantity\""));
    assert!(
        page.contains("name=\"variant\"")
            && page.contains("name=\"next\" value=\"/shop/products/sock\"")
    );
    assert!(page.contains("No reviews yet"));
    assert_eq!(app.get("/shop/products/nope").await.status(), 404);
    let (s, _) = app
        .api(Method::DELETE, "/api/shop/products/sock", Some(&m), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(app.get("/shop/products/sock").await.status(), 404);
}
