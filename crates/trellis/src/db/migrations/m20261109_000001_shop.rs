//! The shop: a category tree, products with variants and images, carts, vouchers, shipping methods,
//! orders with their lines, events and payments, the stock ledger and reviews; the `shop_managers`
//! group; and delayed jobs (an unpaid order's expiry runs at a set time).
//!
//! Money is always an integer count of the currency's minor unit (cents) beside a three-letter code.
//! Stock never goes below zero (a CHECK backs the conditional updates), and every change to it is a
//! row of `shop_stock_moves`.

use sea_orm_migration::prelude::*;

use super::{run_script, seed_permissions};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261109_000001_shop"
    }
}

const UP: &str = r#"
ALTER TABLE jobs ADD COLUMN run_after_ms BIGINT;

CREATE TABLE shop_categories (
    id {PK},
    parent_id BIGINT REFERENCES shop_categories (id) ON DELETE RESTRICT,
    name VARCHAR(100) NOT NULL,
    slug VARCHAR(120) NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    created_at {TS} NOT NULL
);
CREATE INDEX shop_categories_parent ON shop_categories (parent_id, position);

CREATE TABLE shop_products (
    id {PK},
    category_id BIGINT REFERENCES shop_categories (id) ON DELETE SET NULL,
    name VARCHAR(200) NOT NULL,
    slug VARCHAR(220) NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    description_html TEXT NOT NULL DEFAULT '',
    currency VARCHAR(3) NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL
);
CREATE INDEX shop_products_category ON shop_products (category_id);
CREATE INDEX shop_products_active_created ON shop_products (active, created_at);
CREATE INDEX shop_products_name ON shop_products (name);

CREATE TABLE shop_variants (
    id {PK},
    product_id BIGINT NOT NULL REFERENCES shop_products (id) ON DELETE CASCADE,
    sku VARCHAR(64) NOT NULL UNIQUE,
    name VARCHAR(100) NOT NULL DEFAULT '',
    options TEXT NOT NULL DEFAULT '{}',
    price BIGINT NOT NULL CHECK (price >= 0),
    stock BIGINT NOT NULL DEFAULT 0 CHECK (stock >= 0),
    weight_grams INTEGER NOT NULL DEFAULT 0 CHECK (weight_grams >= 0),
    position INTEGER NOT NULL DEFAULT 0,
    created_at {TS} NOT NULL
);
CREATE INDEX shop_variants_product ON shop_variants (product_id, position);
CREATE INDEX shop_variants_price ON shop_variants (price);

CREATE TABLE shop_product_images (
    id {PK},
    product_id BIGINT NOT NULL REFERENCES shop_products (id) ON DELETE CASCADE,
    image VARCHAR(255) NOT NULL,
    alt VARCHAR(200) NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    created_at {TS} NOT NULL
);
CREATE INDEX shop_product_images_product ON shop_product_images (product_id, position);

CREATE TABLE shop_carts (
    id {PK},
    user_id BIGINT UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    session_key VARCHAR(64) UNIQUE,
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL,
    CHECK (user_id IS NOT NULL OR session_key IS NOT NULL)
);
CREATE INDEX shop_carts_updated ON shop_carts (updated_at);

CREATE TABLE shop_cart_items (
    id {PK},
    cart_id BIGINT NOT NULL REFERENCES shop_carts (id) ON DELETE CASCADE,
    variant_id BIGINT NOT NULL REFERENCES shop_variants (id) ON DELETE CASCADE,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    added_at {TS} NOT NULL,
    UNIQUE (cart_id, variant_id)
);
CREATE INDEX shop_cart_items_variant ON shop_cart_items (variant_id);

CREATE TABLE shop_vouchers (
    id {PK},
    code VARCHAR(32) NOT NULL UNIQUE,
    kind VARCHAR(8) NOT NULL CHECK (kind IN ('percent', 'fixed')),
    value BIGINT NOT NULL CHECK (value > 0),
    currency VARCHAR(3),
    min_order BIGINT NOT NULL DEFAULT 0 CHECK (min_order >= 0),
    starts_at {TS},
    ends_at {TS},
    usage_limit INTEGER CHECK (usage_limit IS NULL OR usage_limit >= 0),
    per_customer_limit INTEGER CHECK (per_customer_limit IS NULL OR per_customer_limit >= 0),
    used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {TS} NOT NULL,
    CHECK (kind <> 'percent' OR value <= 100),
    CHECK (usage_limit IS NULL OR used <= usage_limit)
);

CREATE TABLE shop_shipping_methods (
    id {PK},
    code VARCHAR(32) NOT NULL UNIQUE,
    name VARCHAR(100) NOT NULL,
    price BIGINT NOT NULL CHECK (price >= 0),
    currency VARCHAR(3) NOT NULL,
    needs_address BOOLEAN NOT NULL DEFAULT TRUE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    position INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE shop_orders (
    id {PK},
    number VARCHAR(16) NOT NULL UNIQUE,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    email VARCHAR(254) NOT NULL DEFAULT '',
    status VARCHAR(12) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    currency VARCHAR(3) NOT NULL,
    items_total BIGINT NOT NULL CHECK (items_total >= 0),
    discount_total BIGINT NOT NULL DEFAULT 0 CHECK (discount_total >= 0),
    shipping_total BIGINT NOT NULL DEFAULT 0 CHECK (shipping_total >= 0),
    grand_total BIGINT NOT NULL CHECK (grand_total >= 0),
    paid_amount BIGINT NOT NULL DEFAULT 0 CHECK (paid_amount >= 0),
    refunded_amount BIGINT NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    voucher_id BIGINT REFERENCES shop_vouchers (id) ON DELETE SET NULL,
    voucher_code VARCHAR(32),
    shipping_method VARCHAR(32) NOT NULL,
    ship_name VARCHAR(200) NOT NULL DEFAULT '',
    ship_line1 VARCHAR(200) NOT NULL DEFAULT '',
    ship_line2 VARCHAR(200) NOT NULL DEFAULT '',
    ship_city VARCHAR(100) NOT NULL DEFAULT '',
    ship_postcode VARCHAR(20) NOT NULL DEFAULT '',
    ship_country VARCHAR(2) NOT NULL DEFAULT '',
    idempotency_key VARCHAR(255),
    request_hash VARCHAR(64),
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL,
    expires_at {TS},
    paid_at {TS},
    UNIQUE (user_id, idempotency_key),
    CHECK (refunded_amount <= paid_amount)
);
CREATE INDEX shop_orders_user ON shop_orders (user_id, created_at);
CREATE INDEX shop_orders_status ON shop_orders (status, created_at);
CREATE INDEX shop_orders_voucher ON shop_orders (voucher_id, user_id);

CREATE TABLE shop_order_lines (
    id {PK},
    order_id BIGINT NOT NULL REFERENCES shop_orders (id) ON DELETE CASCADE,
    variant_id BIGINT REFERENCES shop_variants (id) ON DELETE SET NULL,
    product_id BIGINT REFERENCES shop_products (id) ON DELETE SET NULL,
    product_name VARCHAR(200) NOT NULL,
    variant_name VARCHAR(100) NOT NULL DEFAULT '',
    sku VARCHAR(64) NOT NULL,
    unit_price BIGINT NOT NULL CHECK (unit_price >= 0),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    line_total BIGINT NOT NULL CHECK (line_total >= 0)
);
CREATE INDEX shop_order_lines_order ON shop_order_lines (order_id);
CREATE INDEX shop_order_lines_variant ON shop_order_lines (variant_id);
CREATE INDEX shop_order_lines_product ON shop_order_lines (product_id);

CREATE TABLE shop_order_events (
    id {PK},
    order_id BIGINT NOT NULL REFERENCES shop_orders (id) ON DELETE CASCADE,
    actor_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    from_status VARCHAR(12),
    to_status VARCHAR(12) NOT NULL,
    amount BIGINT,
    note VARCHAR(500) NOT NULL DEFAULT '',
    created_at {TS} NOT NULL
);
CREATE INDEX shop_order_events_order ON shop_order_events (order_id, id);
CREATE INDEX shop_order_events_actor ON shop_order_events (actor_id);

CREATE TABLE shop_payments (
    id {PK},
    order_id BIGINT NOT NULL REFERENCES shop_orders (id) ON DELETE CASCADE,
    gateway VARCHAR(32) NOT NULL,
    reference VARCHAR(64) NOT NULL UNIQUE,
    status VARCHAR(12) NOT NULL
        CHECK (status IN ('pending', 'succeeded', 'declined', 'failed', 'refunded')),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    card_last4 VARCHAR(4) NOT NULL DEFAULT '',
    message VARCHAR(200) NOT NULL DEFAULT '',
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL
);
CREATE INDEX shop_payments_order ON shop_payments (order_id, id);

CREATE TABLE shop_webhook_events (
    id {PK},
    event_id VARCHAR(64) NOT NULL UNIQUE,
    kind VARCHAR(32) NOT NULL,
    received_at {TS} NOT NULL
);

CREATE TABLE shop_stock_moves (
    id {PK},
    variant_id BIGINT NOT NULL REFERENCES shop_variants (id) ON DELETE CASCADE,
    delta BIGINT NOT NULL,
    stock_after BIGINT NOT NULL CHECK (stock_after >= 0),
    reason VARCHAR(12) NOT NULL
        CHECK (reason IN ('initial', 'sale', 'cancel', 'expiry', 'refund', 'correction', 'import')),
    order_id BIGINT REFERENCES shop_orders (id) ON DELETE SET NULL,
    actor_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    note VARCHAR(200) NOT NULL DEFAULT '',
    created_at {TS} NOT NULL
);
CREATE INDEX shop_stock_moves_variant ON shop_stock_moves (variant_id, id);
CREATE INDEX shop_stock_moves_order ON shop_stock_moves (order_id);
CREATE INDEX shop_stock_moves_actor ON shop_stock_moves (actor_id);

CREATE TABLE shop_reviews (
    id {PK},
    product_id BIGINT NOT NULL REFERENCES shop_products (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title VARCHAR(200) NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    sentiment VARCHAR(8) NOT NULL DEFAULT '' CHECK (sentiment IN ('', 'positive', 'negative')),
    sentiment_score DOUBLE PRECISION,
    helpful INTEGER NOT NULL DEFAULT 0 CHECK (helpful >= 0),
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL,
    UNIQUE (product_id, user_id)
);
CREATE INDEX shop_reviews_user ON shop_reviews (user_id);
CREATE INDEX shop_reviews_product_helpful ON shop_reviews (product_id, sentiment, helpful);

CREATE TABLE shop_review_votes (
    review_id BIGINT NOT NULL REFERENCES shop_reviews (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (review_id, user_id)
);
CREATE INDEX shop_review_votes_user ON shop_review_votes (user_id);

INSERT INTO shop_shipping_methods (code, name, price, currency, needs_address, position) VALUES
    ('standard', 'Standard (3–5 days)', 500, 'USD', TRUE, 1),
    ('express', 'Express (next day)', 1500, 'USD', TRUE, 2),
    ('digital', 'Digital delivery', 0, 'USD', FALSE, 3)
"#;

const DOWN: &str = r#"
DROP TABLE shop_review_votes;
DROP TABLE shop_reviews;
DROP TABLE shop_stock_moves;
DROP TABLE shop_webhook_events;
DROP TABLE shop_payments;
DROP TABLE shop_order_events;
DROP TABLE shop_order_lines;
DROP TABLE shop_orders;
DROP TABLE shop_shipping_methods;
DROP TABLE shop_vouchers;
DROP TABLE shop_cart_items;
DROP TABLE shop_carts;
DROP TABLE shop_product_images;
DROP TABLE shop_variants;
DROP TABLE shop_products;
DROP TABLE shop_categories;
ALTER TABLE jobs DROP COLUMN run_after_ms
"#;

/// What the `shop_managers` group may do: everything on the catalog, stock, vouchers, shipping and
/// orders; reviews only to view and remove.
const MANAGED: &[&str] = &[
    "category",
    "product",
    "variant",
    "productimage",
    "voucher",
    "shippingmethod",
    "order",
    "orderline",
    "stockmove",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await?;
        let mut perms: Vec<(String, String)> = Vec::new();
        for model in MANAGED {
            for action in ["view", "add", "change", "delete"] {
                perms.push((
                    format!("shop.{action}_{model}"),
                    format!("Can {action} {model}"),
                ));
            }
        }
        for (code, name) in [
            ("shop.view_orderevent", "Can view order event"),
            ("shop.view_payment", "Can view payment"),
            ("shop.view_review", "Can view review"),
            ("shop.delete_review", "Can delete review"),
            ("shop.view_cart", "Can view cart"),
            (
                "shop.manage_shop",
                "Can manage the shop's catalog, stock and orders",
            ),
        ] {
            perms.push((code.to_string(), name.to_string()));
        }
        let refs: Vec<(&str, &str)> = perms
            .iter()
            .map(|(c, n)| (c.as_str(), n.as_str()))
            .collect();
        let codes: Vec<&str> = refs.iter().map(|(c, _)| *c).collect();
        seed_permissions(manager, &refs, &[("shop_managers", &codes)]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}
