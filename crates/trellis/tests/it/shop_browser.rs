//! The shop in headless Chromium (see `browser.rs`): a customer browses, fills the cart, applies a
//! voucher and pays with the test card; a manager ships the order in the admin; the customer sees it
//! shipped. Then every storefront page at phone width (390 px) without sideways scrolling.

use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::json;

use crate::browser::{browser_login, click, driver, fill, landed, screenshot, text};
use crate::helpers::{Backend, TestApp};

async fn switch_user(c: &Client, app: &TestApp, name: &str) {
    c.delete_all_cookies().await.unwrap();
    browser_login(c, app, name).await;
}

/// The page's widths: (document scroll width, viewport width).
pub(crate) async fn widths(c: &Client) -> (u64, u64) {
    let v = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await
        .unwrap();
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
}

#[tokio::test]
async fn a_customer_buys_with_a_voucher_and_sees_the_order_shipped_by_a_manager() {
    let Some(driver) = driver().await else {
        eprintln!("skipped: TEST_CHROMEDRIVER is not set, so the browser test did not run");
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, None, &[]).await;
    app.user("mia", &["shop_managers"], true).await;
    app.user("cora", &[], false).await;
    let mia = trellis::accounts::models::find_by_username(&app.state.db, "mia")
        .await
        .unwrap()
        .unwrap();
    let boss = trellis::http::api::issue_jwt(&app.state, &mia).unwrap();
    let (status, body) = app
        .api(
            Method::POST,
            "/api/shop/categories",
            Some(&boss),
            Some(json!({"name": "Kitchen"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (name, price, sku, description) in [
        (
            "Blue mug",
            1200,
            "MUG-BLUE",
            "A **stoneware** mug that holds 350 ml.\n\n- dishwasher safe\n- made to last",
        ),
        ("Tea towel", 800, "TOWEL", "Linen, 50 × 70 cm."),
    ] {
        let (status, body) = app
            .api(
                Method::POST,
                "/api/shop/products",
                Some(&boss),
                Some(
                    json!({"name": name, "price": price, "currency": "USD", "stock": 10,
                            "sku": sku, "description": description, "category": "kitchen"}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app
        .api(
            Method::POST,
            "/api/shop/vouchers",
            Some(&boss),
            Some(json!({"code": "WELCOME10", "kind": "percent", "value": 10})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let c = &driver.client;
    browser_login(c, &app, "cora").await;

    // Browse: search the catalog, open the mug.
    c.goto(&app.url("/shop/")).await.unwrap();
    assert_eq!(text(c, "[data-testid=shop-count]").await, "2 products");
    fill(c, "#f_q", "mug").await;
    click(c, ".shop-filters button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css(
            "[data-testid=shop-product] a[href='/shop/products/blue-mug']",
        ))
        .await
        .unwrap();
    assert_eq!(text(c, "[data-testid=shop-count]").await, "1 product");
    screenshot(c, "shop-1-catalog").await;
    click(
        c,
        "[data-testid=shop-product] h2 a[href='/shop/products/blue-mug']",
    )
    .await;
    landed(c, "/shop/products/blue-mug").await;
    assert_eq!(text(c, "[data-testid=price]").await, "$12.00");
    c.find(Locator::Css("a[href='/shop/?category=kitchen']"))
        .await
        .expect("a link to the product's category");
    let prose = text(c, ".prose").await;
    assert!(prose.contains("dishwasher safe"), "{prose}");
    screenshot(c, "shop-2-product").await;

    // Two into the cart, then the voucher.
    click(c, "[data-testid=add-to-cart] input[name=variant]").await;
    fill(c, "#id_quantity", "2").await;
    click(c, "[data-testid=add-to-cart] button[type=submit]").await;
    // The answer to the form first: leaving before it arrives could cancel the add.
    c.wait()
        .for_element(Locator::XPath("//*[contains(., 'Added to your cart.')]"))
        .await
        .expect("the add is confirmed");
    c.goto(&app.url("/shop/cart")).await.unwrap();
    assert_eq!(text(c, "[data-testid=cart-total]").await, "$24.00");
    fill(c, "#id_voucher", "WELCOME10").await;
    click(c, "form[action='/shop/cart'] button[type=submit]").await;
    c.wait()
        .for_element(Locator::XPath(
            "//p[contains(., 'Discount: −$2.40') and contains(., '$21.60')]",
        ))
        .await
        .unwrap();
    screenshot(c, "shop-3-cart-with-voucher").await;

    // Checkout: the voucher came along; a declined card keeps what was typed.
    click(c, "[data-testid=cart-checkout]").await;
    landed(c, "/shop/checkout").await;
    let voucher = c
        .find(Locator::Css("#id_voucher"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(voucher.as_deref(), Some("WELCOME10"));
    click(c, "input[name=shipping_method][value=standard]").await;
    fill(c, "#id_name", "Cora Buyer").await;
    fill(c, "#id_line1", "3 Market Street").await;
    fill(c, "#id_city", "York").await;
    fill(c, "#id_postcode", "YO1 7HH").await;
    fill(c, "#id_country", "GB").await;
    fill(c, "#id_card_number", "4000 0000 0000 0002").await;
    fill(c, "#id_exp_month", "12").await;
    fill(c, "#id_exp_year", "2099").await;
    fill(c, "#id_cvc", "123").await;
    screenshot(c, "shop-4-checkout").await;
    click(c, "[data-testid=checkout-submit]").await;
    c.wait()
        .for_element(Locator::XPath(
            "//ul[@class='errors']/li[contains(., 'declined')]",
        ))
        .await
        .unwrap();
    let kept = c
        .find(Locator::Css("#id_line1"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("3 Market Street"),
        "the address is kept"
    );
    screenshot(c, "shop-5-declined").await;

    // The card that succeeds, sent with the same form: the same order, now paid.
    fill(c, "#id_card_number", "4242 4242 4242 4242").await;
    fill(c, "#id_cvc", "123").await;
    click(c, "[data-testid=checkout-submit]").await;
    let path = landed(c, "/shop/orders/TR-").await;
    let number = path.trim_start_matches("/shop/orders/").to_string();
    c.wait()
        .for_element(Locator::XPath(
            "//*[@data-testid='order-status'][normalize-space(.)='Paid']",
        ))
        .await
        .unwrap();
    let (_, orders) = app
        .api(Method::GET, "/api/shop/orders", Some(&boss), None)
        .await;
    assert_eq!(orders["count"], 1, "one order for both submits: {orders}");
    let totals = text(c, "[data-testid=order-lines] tfoot").await;
    assert!(
        totals.contains("$24.00") && totals.contains("$2.40") && totals.contains("$26.60"),
        "items, discount and a $5 shipping: {totals}"
    );
    screenshot(c, "shop-6-paid").await;

    // The manager ships it from the admin's order list.
    switch_user(c, &app, "mia").await;
    c.goto(&app.url("/admin/shop/order/")).await.unwrap();
    let row = format!("//tr[.//*[contains(., '{number}')]]//input[@name='_selected']");
    c.wait()
        .for_element(Locator::XPath(&row))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("#id_action"))
        .await
        .unwrap()
        .select_by_value("mark_shipped")
        .await
        .unwrap();
    click(c, "[data-testid=run-action]").await;
    c.wait()
        .for_element(Locator::XPath(
            "//li[contains(@class, 'message-success')][contains(., 'Mark shipped: 1 order changed.')]",
        ))
        .await
        .unwrap();
    screenshot(c, "shop-7-admin-shipped").await;

    // The customer sees it shipped, with the event.
    switch_user(c, &app, "cora").await;
    c.goto(&app.url("/shop/orders")).await.unwrap();
    c.wait()
        .for_element(Locator::XPath(&format!(
            "//*[contains(., '{number}')][contains(., 'Shipped')]"
        )))
        .await
        .unwrap();
    c.goto(&app.url(&format!("/shop/orders/{number}")))
        .await
        .unwrap();
    // The badge is shown in capitals by the stylesheet.
    assert_eq!(
        text(c, "[data-testid=order-status]").await.to_lowercase(),
        "shipped"
    );
    let page = c.source().await.unwrap();
    assert!(page.contains("mia"), "the event names who shipped it");
    screenshot(c, "shop-8-customer-sees-shipped").await;

    // Phone width: no page scrolls sideways. A towel in the cart so the cart and checkout have lines.
    c.goto(&app.url("/shop/products/tea-towel")).await.unwrap();
    click(c, "[data-testid=add-to-cart] input[name=variant]").await;
    click(c, "[data-testid=add-to-cart] button[type=submit]").await;
    landed(c, "/shop/").await;
    c.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/shop/".to_string(), "catalog"),
        ("/shop/products/blue-mug".to_string(), "product"),
        ("/shop/cart?voucher=WELCOME10".to_string(), "cart"),
        ("/shop/checkout".to_string(), "checkout"),
        ("/shop/orders".to_string(), "orders"),
        (format!("/shop/orders/{number}"), "order"),
    ] {
        c.goto(&app.url(&path)).await.unwrap();
        c.wait().for_element(Locator::Css("main")).await.unwrap();
        let (scroll, inner) = widths(c).await;
        assert!(
            (360..=414).contains(&inner),
            "the viewport is phone-sized: {inner}"
        );
        screenshot(c, &format!("shop-390-{name}")).await;
        assert!(
            scroll <= inner,
            "{path} is {scroll} px wide in a {inner} px viewport"
        );
    }
}
