//! The shop: a catalog of products with variants in a category tree, carts (a signed-in customer's, or
//! an anonymous visitor's kept in the session and merged at login), vouchers, an idempotent checkout that
//! never oversells, payments behind a gateway seam with signed webhooks, orders that move through a
//! state machine with every change recorded, a stock ledger, and reviews scored by the sentiment engine.
//! Pages under `/shop/`, a DRF-style API under `/api/shop/`.
//!
//! Customers see only their own carts and orders (anyone else's is a 404); the `shop_managers` group
//! (permission `shop.manage_shop`) manages the catalog, stock, vouchers and orders; staff see everything.

pub mod admin;
pub mod catalog;
pub mod checkout;
pub mod models;
pub mod money;
pub mod orders;
pub mod reviews;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

fn pages() -> Router<AppState> {
    Router::new()
        .merge(catalog::pages::router())
        .merge(checkout::pages::router())
        .merge(orders::pages::router())
        .merge(reviews::pages::router())
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(catalog::api::router())
        .merge(checkout::api::router())
        .merge(orders::api::router())
        .merge(reviews::api::router())
}

/// The shop app.
pub fn app() -> crate::registry::AppConfig {
    crate::registry::AppConfig {
        label: "shop",
        name: "Shop",
        pages,
        api: Some(api),
        api_tags: &[
            ("shop-catalog", "Categories, products and their variants"),
            ("shop-cart", "The caller's cart and checkout"),
            ("shop-orders", "Orders, their states and events, payments"),
            ("shop-reviews", "Product reviews, scored for sentiment"),
        ],
        jobs: &[
            (checkout::payment::DELIVER_WEBHOOK, |ctx| {
                Box::pin(checkout::payment::deliver_webhook(ctx))
            }),
            (orders::EXPIRE_JOB, |ctx| Box::pin(orders::expire(ctx))),
        ],
        nav: Some(crate::registry::NavEntry {
            label: "Shop",
            href: "/shop/",
            summary: "A store: catalog, cart, checkout and orders.",
        }),
        permissions: &[(
            models::MANAGE,
            "Can manage the shop's catalog, stock and orders",
        )],
        templates: crate::embedded_templates![
            "shop/_nav.html",
            "shop/_reviews.html",
            "shop/catalog.html",
            "shop/product.html",
            "shop/cart.html",
            "shop/checkout.html",
            "shop/orders.html",
            "shop/order.html",
        ],
        sessionless_templates: &[],
        cached_views: &[
            "/shop/",
            "/shop/products/{slug}",
            "/api/shop/products",
            "/api/shop/products/{slug}",
            "/api/shop/categories",
        ],
        models: admin::models,
        init: None,
    }
}
