//! The shop's models as the admin, the `models` commands and fixtures see them.
//!
//! Money is an integer count of minor units beside its currency. History is never edited here: order
//! events, payments, webhook receipts and the stock ledger may be viewed (and removed by whoever holds
//! the delete permission) but not added or changed; orders are made by checkout and move between states
//! only through their actions, which record who ran them. Stock is read-only: every change to it must
//! be a ledger row, so it is corrected through the API.

use chrono::Utc;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use super::models;
use super::money::MAX_AMOUNT;
use super::orders::{self, Viewer};
use crate::accounts::models::User;
use crate::error::{AppError, FieldErrors};
use crate::http::api::timestamp;
use crate::registry::{
    Action, ActionFuture, Admin, CleanCtx, CleanFuture, Field, Kind, Model, Values,
};
use crate::state::AppState;

const CENTS: &str = "in minor units (cents)";

const ORDER_STATUSES: &[(&str, &str)] = &[
    ("pending", "Awaiting payment"),
    ("paid", "Paid"),
    ("shipped", "Shipped"),
    ("delivered", "Delivered"),
    ("cancelled", "Cancelled"),
    ("refunded", "Refunded"),
];

const PAYMENT_STATUSES: &[(&str, &str)] = &[
    ("pending", "Pending"),
    ("succeeded", "Succeeded"),
    ("declined", "Declined"),
    ("failed", "Failed"),
    ("refunded", "Refunded"),
];

const VOUCHER_KINDS: &[(&str, &str)] = &[("percent", "Percentage"), ("fixed", "Fixed amount")];

const STOCK_REASONS: &[(&str, &str)] = &[
    ("initial", "Initial stock"),
    ("sale", "Sale"),
    ("cancel", "Order cancelled"),
    ("expiry", "Order expired"),
    ("refund", "Refund"),
    ("correction", "Correction"),
    ("import", "Import"),
];

const SENTIMENTS: &[(&str, &str)] = &[
    ("", "Not scored"),
    ("positive", "Positive"),
    ("negative", "Negative"),
];

const RATINGS: &[(i64, &str)] = &[(1, "1"), (2, "2"), (3, "3"), (4, "4"), (5, "5")];

/// The longest product description, in characters.
const DESCRIPTION_MAX: usize = 20_000;

fn id() -> Field {
    Field::new("id", "ID", Kind::Id).read_only()
}

fn fk(name: &'static str, label: &'static str, to: &'static str) -> Field {
    Field::new(name, label, Kind::ForeignKey { to })
}

fn money(name: &'static str, label: &'static str) -> Field {
    Field::new(
        name,
        label,
        Kind::Integer {
            min: 0,
            max: MAX_AMOUNT,
        },
    )
    .help(CENTS)
}

fn text(name: &'static str, label: &'static str, max: usize) -> Field {
    Field::new(name, label, Kind::Text { max })
}

fn stamp(name: &'static str, label: &'static str) -> Field {
    Field::new(name, label, Kind::DateTime).read_only()
}

fn int(name: &'static str, label: &'static str, min: i64, max: i64) -> Field {
    Field::new(name, label, Kind::Integer { min, max })
}

fn currency() -> Field {
    text("currency", "Currency", 3).help("three letters, such as USD")
}

/// View and delete only: rows that record what happened.
fn history_admin(
    list_display: &'static [&'static str],
    search: &'static [&'static str],
    filters: &'static [&'static str],
) -> Option<Admin> {
    Some(Admin {
        list_display,
        search,
        filters,
        no_add: true,
        no_change: true,
        ..Admin::default()
    })
}

pub fn models() -> Vec<Model> {
    vec![
        Model {
            app: "shop",
            name: "category",
            verbose_name: "category",
            verbose_name_plural: "categories",
            table: "shop_categories",
            pk: &["id"],
            fields: vec![
                id(),
                fk("parent_id", "Parent", "shop.category")
                    .optional()
                    .help("Empty for a top-level category."),
                text("name", "Name", 100),
                text("slug", "Slug", 120)
                    .blank()
                    .help("Made from the name when left empty."),
                Field::new("description", "Description", Kind::LongText { max: 5_000 }).blank(),
                int("position", "Position", -1_000_000, 1_000_000)
                    .blank()
                    .help("Order among its siblings."),
                stamp("created_at", "Created"),
            ],
            display: "name",
            ordering: &["position", "name"],
            admin: Some(Admin {
                list_display: &["name", "slug", "parent_id", "position"],
                search: &["name", "slug"],
                filters: &["parent_id"],
                inlines: &[
                    ("shop.category", "parent_id"),
                    ("shop.product", "category_id"),
                ],
                ..Admin::default()
            }),
            clean: Some(clean_category),
        },
        Model {
            app: "shop",
            name: "product",
            verbose_name: "product",
            verbose_name_plural: "products",
            table: "shop_products",
            pk: &["id"],
            fields: vec![
                id(),
                fk("category_id", "Category", "shop.category")
                    .optional()
                    .set_null_on_delete(),
                text("name", "Name", 200),
                text("slug", "Slug", 220)
                    .blank()
                    .help("Made from the name when left empty."),
                Field::new(
                    "description",
                    "Description (Markdown)",
                    Kind::LongText {
                        max: DESCRIPTION_MAX,
                    },
                )
                .blank(),
                Field::new(
                    "description_html",
                    "Description as HTML",
                    Kind::LongText { max: usize::MAX },
                )
                .read_only(),
                currency(),
                Field::new("active", "Active", Kind::Bool)
                    .help("Inactive products are hidden from the catalog."),
                stamp("created_at", "Created"),
                stamp("updated_at", "Updated"),
            ],
            display: "name",
            ordering: &["-created_at", "-id"],
            admin: Some(Admin {
                list_display: &["name", "category_id", "currency", "active", "created_at"],
                search: &["name", "slug", "description"],
                filters: &["active", "category_id", "created_at"],
                inlines: &[
                    ("shop.variant", "product_id"),
                    ("shop.productimage", "product_id"),
                    ("shop.review", "product_id"),
                ],
                ..Admin::default()
            }),
            clean: Some(clean_product),
        },
        Model {
            app: "shop",
            name: "variant",
            verbose_name: "variant",
            verbose_name_plural: "variants",
            table: "shop_variants",
            pk: &["id"],
            fields: vec![
                id(),
                fk("product_id", "Product", "shop.product"),
                text("sku", "SKU", 64).help("Unique stock-keeping unit."),
                text("name", "Name", 100)
                    .blank()
                    .help("Such as “Large / Red”; empty for a product's only variant."),
                Field::new("options", "Options", Kind::Json)
                    .blank()
                    .help("Option values as a JSON object, such as {\"size\": \"L\"}."),
                money("price", "Price"),
                int("stock", "Stock", 0, i64::MAX).read_only().help(
                    "Change stock with a correction through the API, so the ledger records it.",
                ),
                int("weight_grams", "Weight (g)", 0, i64::from(i32::MAX)).blank(),
                int("position", "Position", -1_000_000, 1_000_000).blank(),
                stamp("created_at", "Created"),
            ],
            display: "sku",
            ordering: &["product_id", "position", "id"],
            admin: Some(Admin {
                list_display: &["sku", "product_id", "name", "price", "stock"],
                search: &["sku", "name"],
                filters: &["product_id"],
                inlines: &[("shop.stockmove", "variant_id")],
                ..Admin::default()
            }),
            clean: Some(clean_variant),
        },
        Model {
            app: "shop",
            name: "productimage",
            verbose_name: "product image",
            verbose_name_plural: "product images",
            table: "shop_product_images",
            pk: &["id"],
            fields: vec![
                id(),
                fk("product_id", "Product", "shop.product"),
                text("image", "Image", 255)
                    .read_only()
                    .help("Uploaded through the catalog, which checks and re-encodes it."),
                text("alt", "Alternative text", 200).blank(),
                int("position", "Position", -1_000_000, 1_000_000).blank(),
                stamp("created_at", "Created"),
            ],
            display: "image",
            ordering: &["product_id", "position", "id"],
            admin: Some(Admin {
                list_display: &["product_id", "image", "alt", "position"],
                search: &["alt"],
                filters: &["product_id"],
                no_add: true,
                ..Admin::default()
            }),
            clean: None,
        },
        Model {
            app: "shop",
            name: "voucher",
            verbose_name: "voucher",
            verbose_name_plural: "vouchers",
            table: "shop_vouchers",
            pk: &["id"],
            fields: vec![
                id(),
                text("code", "Code", 32),
                Field::new("kind", "Kind", Kind::Choice(VOUCHER_KINDS)),
                int("value", "Value", 1, MAX_AMOUNT)
                    .help("A percentage (1 to 100), or a fixed amount in minor units (cents)."),
                currency()
                    .optional()
                    .help("The currency of a fixed amount; empty for a percentage."),
                money("min_order", "Minimum order").blank(),
                Field::new("starts_at", "Valid from", Kind::DateTime).optional(),
                Field::new("ends_at", "Valid until", Kind::DateTime).optional(),
                int("usage_limit", "Usage limit", 0, i64::from(i32::MAX))
                    .optional()
                    .help("Uses in all; empty for no limit."),
                int(
                    "per_customer_limit",
                    "Per-customer limit",
                    0,
                    i64::from(i32::MAX),
                )
                .optional()
                .help("Uses per customer; empty for no limit."),
                int("used", "Used", 0, i64::from(i32::MAX)).read_only(),
                Field::new("active", "Active", Kind::Bool),
                stamp("created_at", "Created"),
            ],
            display: "code",
            ordering: &["-created_at", "-id"],
            admin: Some(Admin {
                list_display: &[
                    "code",
                    "kind",
                    "value",
                    "used",
                    "usage_limit",
                    "active",
                    "ends_at",
                ],
                search: &["code"],
                filters: &["active", "kind", "ends_at"],
                ..Admin::default()
            }),
            clean: Some(clean_voucher),
        },
        Model {
            app: "shop",
            name: "shippingmethod",
            verbose_name: "shipping method",
            verbose_name_plural: "shipping methods",
            table: "shop_shipping_methods",
            pk: &["id"],
            fields: vec![
                id(),
                text("code", "Code", 32).help("What checkout sends, such as `standard`."),
                text("name", "Name", 100),
                money("price", "Price"),
                currency(),
                Field::new("needs_address", "Needs an address", Kind::Bool),
                Field::new("active", "Active", Kind::Bool),
                int("position", "Position", -1_000_000, 1_000_000).blank(),
            ],
            display: "name",
            ordering: &["position", "id"],
            admin: Some(Admin {
                list_display: &[
                    "name",
                    "code",
                    "price",
                    "currency",
                    "needs_address",
                    "active",
                ],
                search: &["code", "name"],
                filters: &["active"],
                ..Admin::default()
            }),
            clean: Some(clean_shipping_method),
        },
        Model {
            app: "shop",
            name: "order",
            verbose_name: "order",
            verbose_name_plural: "orders",
            table: "shop_orders",
            pk: &["id"],
            fields: vec![
                id(),
                text("number", "Number", 16).read_only(),
                fk("user_id", "Customer", "accounts.user")
                    .optional()
                    .set_null_on_delete()
                    .read_only(),
                Field::new("email", "Email", Kind::Text { max: 254 }).blank(),
                Field::new("status", "Status", Kind::Choice(ORDER_STATUSES))
                    .read_only()
                    .help("Changed only by the actions, which record who did it."),
                text("currency", "Currency", 3).read_only(),
                money("items_total", "Items").read_only(),
                money("discount_total", "Discount").read_only(),
                money("shipping_total", "Shipping").read_only(),
                money("grand_total", "Total").read_only(),
                money("paid_amount", "Paid").read_only(),
                money("refunded_amount", "Refunded").read_only(),
                fk("voucher_id", "Voucher", "shop.voucher")
                    .optional()
                    .set_null_on_delete()
                    .read_only(),
                text("voucher_code", "Voucher code", 32)
                    .optional()
                    .read_only(),
                text("shipping_method", "Shipping method", 32).read_only(),
                text("ship_name", "Ship to: name", 200).blank(),
                text("ship_line1", "Address line 1", 200).blank(),
                text("ship_line2", "Address line 2", 200).blank(),
                text("ship_city", "City", 100).blank(),
                text("ship_postcode", "Postcode", 20).blank(),
                text("ship_country", "Country", 2)
                    .blank()
                    .help("Two-letter code, such as US."),
                text("idempotency_key", "Idempotency key", 255)
                    .optional()
                    .read_only(),
                text("request_hash", "Request hash", 64)
                    .optional()
                    .read_only(),
                stamp("created_at", "Placed"),
                stamp("updated_at", "Updated"),
                Field::new("expires_at", "Expires", Kind::DateTime)
                    .optional()
                    .read_only(),
                Field::new("paid_at", "Paid at", Kind::DateTime)
                    .optional()
                    .read_only(),
            ],
            display: "number",
            ordering: &["-created_at", "-id"],
            admin: Some(Admin {
                list_display: &[
                    "number",
                    "user_id",
                    "status",
                    "grand_total",
                    "currency",
                    "created_at",
                ],
                search: &["number", "email", "ship_name"],
                filters: &["status", "created_at"],
                inlines: &[
                    ("shop.orderline", "order_id"),
                    ("shop.orderevent", "order_id"),
                    ("shop.payment", "order_id"),
                ],
                actions: vec![
                    Action {
                        name: "mark_shipped",
                        label: "Mark shipped",
                        permission: Some(models::MANAGE),
                        run: mark_shipped,
                    },
                    Action {
                        name: "mark_delivered",
                        label: "Mark delivered",
                        permission: Some(models::MANAGE),
                        run: mark_delivered,
                    },
                    Action {
                        name: "refund_restock",
                        label: "Refund in full and restock",
                        permission: Some(models::MANAGE),
                        run: refund_and_restock,
                    },
                ],
                no_add: true,
                ..Admin::default()
            }),
            clean: Some(clean_order),
        },
        Model {
            app: "shop",
            name: "orderline",
            verbose_name: "order line",
            verbose_name_plural: "order lines",
            table: "shop_order_lines",
            pk: &["id"],
            fields: vec![
                id(),
                fk("order_id", "Order", "shop.order"),
                fk("variant_id", "Variant", "shop.variant")
                    .optional()
                    .set_null_on_delete(),
                fk("product_id", "Product", "shop.product")
                    .optional()
                    .set_null_on_delete(),
                text("product_name", "Product name", 200),
                text("variant_name", "Variant name", 100).blank(),
                text("sku", "SKU", 64),
                money("unit_price", "Unit price"),
                int("quantity", "Quantity", 1, i64::from(i32::MAX)),
                money("line_total", "Line total"),
            ],
            display: "sku",
            ordering: &["order_id", "id"],
            admin: history_admin(
                &[
                    "sku",
                    "product_name",
                    "variant_name",
                    "unit_price",
                    "quantity",
                    "line_total",
                ],
                &["sku", "product_name"],
                &[],
            ),
            clean: None,
        },
        Model {
            app: "shop",
            name: "orderevent",
            verbose_name: "order event",
            verbose_name_plural: "order events",
            table: "shop_order_events",
            pk: &["id"],
            fields: vec![
                id(),
                fk("order_id", "Order", "shop.order"),
                fk("actor_id", "By", "accounts.user")
                    .optional()
                    .set_null_on_delete(),
                Field::new("from_status", "From", Kind::Choice(ORDER_STATUSES)).optional(),
                Field::new("to_status", "To", Kind::Choice(ORDER_STATUSES)),
                Field::new(
                    "amount",
                    "Amount",
                    Kind::Integer {
                        min: 0,
                        max: MAX_AMOUNT,
                    },
                )
                .optional()
                .help(CENTS),
                text("note", "Note", 500).blank(),
                stamp("created_at", "When"),
            ],
            display: "to_status",
            ordering: &["order_id", "id"],
            admin: history_admin(
                &[
                    "created_at",
                    "actor_id",
                    "from_status",
                    "to_status",
                    "amount",
                    "note",
                ],
                &["note"],
                &["to_status", "created_at"],
            ),
            clean: None,
        },
        Model {
            app: "shop",
            name: "payment",
            verbose_name: "payment",
            verbose_name_plural: "payments",
            table: "shop_payments",
            pk: &["id"],
            fields: vec![
                id(),
                fk("order_id", "Order", "shop.order"),
                text("gateway", "Gateway", 32),
                text("reference", "Reference", 64),
                Field::new("status", "Status", Kind::Choice(PAYMENT_STATUSES)),
                money("amount", "Amount"),
                text("card_last4", "Card (last 4)", 4).blank(),
                text("message", "Message", 200).blank(),
                stamp("created_at", "Created"),
                stamp("updated_at", "Updated"),
            ],
            display: "reference",
            ordering: &["-created_at", "-id"],
            admin: history_admin(
                &[
                    "reference",
                    "order_id",
                    "status",
                    "amount",
                    "card_last4",
                    "created_at",
                ],
                &["reference", "message"],
                &["status", "gateway", "created_at"],
            ),
            clean: None,
        },
        Model {
            app: "shop",
            name: "webhookevent",
            verbose_name: "webhook event",
            verbose_name_plural: "webhook events",
            table: "shop_webhook_events",
            pk: &["id"],
            fields: vec![
                id(),
                text("event_id", "Event id", 64),
                text("kind", "Kind", 32),
                stamp("received_at", "Received"),
            ],
            display: "event_id",
            ordering: &["-received_at", "-id"],
            admin: history_admin(
                &["event_id", "kind", "received_at"],
                &["event_id"],
                &["kind", "received_at"],
            ),
            clean: None,
        },
        Model {
            app: "shop",
            name: "stockmove",
            verbose_name: "stock move",
            verbose_name_plural: "stock moves",
            table: "shop_stock_moves",
            pk: &["id"],
            fields: vec![
                id(),
                fk("variant_id", "Variant", "shop.variant"),
                int("delta", "Change", -MAX_AMOUNT, MAX_AMOUNT),
                int("stock_after", "Stock after", 0, i64::MAX),
                Field::new("reason", "Reason", Kind::Choice(STOCK_REASONS)),
                fk("order_id", "Order", "shop.order")
                    .optional()
                    .set_null_on_delete(),
                fk("actor_id", "By", "accounts.user")
                    .optional()
                    .set_null_on_delete(),
                text("note", "Note", 200).blank(),
                stamp("created_at", "When"),
            ],
            display: "reason",
            ordering: &["-id"],
            admin: history_admin(
                &[
                    "created_at",
                    "variant_id",
                    "delta",
                    "stock_after",
                    "reason",
                    "order_id",
                    "actor_id",
                ],
                &["note"],
                &["reason", "created_at"],
            ),
            clean: None,
        },
        Model {
            app: "shop",
            name: "review",
            verbose_name: "review",
            verbose_name_plural: "reviews",
            table: "shop_reviews",
            pk: &["id"],
            fields: vec![
                id(),
                fk("product_id", "Product", "shop.product"),
                fk("user_id", "Customer", "accounts.user"),
                Field::new("rating", "Rating", Kind::IntChoice(RATINGS)),
                text("title", "Title", 200).blank(),
                Field::new("body", "Review", Kind::LongText { max: 10_000 }).blank(),
                Field::new("sentiment", "Sentiment", Kind::Choice(SENTIMENTS)).read_only(),
                Field::new("sentiment_score", "Sentiment score", Kind::Float)
                    .optional()
                    .read_only(),
                int("helpful", "Helpful votes", 0, i64::from(i32::MAX)).read_only(),
                stamp("created_at", "Created"),
                stamp("updated_at", "Updated"),
            ],
            display: "title",
            ordering: &["-created_at", "-id"],
            admin: history_admin(
                &[
                    "title",
                    "product_id",
                    "user_id",
                    "rating",
                    "sentiment",
                    "helpful",
                    "created_at",
                ],
                &["title", "body"],
                &["rating", "sentiment", "created_at"],
            ),
            clean: None,
        },
        Model {
            app: "shop",
            name: "reviewvote",
            verbose_name: "review vote",
            verbose_name_plural: "review votes",
            table: "shop_review_votes",
            pk: &["review_id", "user_id"],
            fields: vec![
                fk("review_id", "Review", "shop.review"),
                fk("user_id", "User", "accounts.user"),
            ],
            display: "review_id",
            ordering: &["review_id", "user_id"],
            admin: None,
            clean: None,
        },
        Model {
            app: "shop",
            name: "cart",
            verbose_name: "cart",
            verbose_name_plural: "carts",
            table: "shop_carts",
            pk: &["id"],
            fields: vec![
                id(),
                fk("user_id", "Customer", "accounts.user").optional(),
                text("session_key", "Visitor's session", 64)
                    .optional()
                    .help("An anonymous visitor's cart, until they sign in."),
                stamp("created_at", "Created"),
                stamp("updated_at", "Updated"),
            ],
            display: "id",
            ordering: &["-updated_at", "-id"],
            admin: Some(Admin {
                list_display: &["id", "user_id", "created_at", "updated_at"],
                filters: &["updated_at"],
                inlines: &[("shop.cartitem", "cart_id")],
                no_add: true,
                no_change: true,
                ..Admin::default()
            }),
            clean: None,
        },
        Model {
            app: "shop",
            name: "cartitem",
            verbose_name: "cart item",
            verbose_name_plural: "cart items",
            table: "shop_cart_items",
            pk: &["id"],
            fields: vec![
                id(),
                fk("cart_id", "Cart", "shop.cart"),
                fk("variant_id", "Variant", "shop.variant"),
                int("quantity", "Quantity", 1, i64::from(i32::MAX)),
                stamp("added_at", "Added"),
            ],
            display: "variant_id",
            ordering: &["cart_id", "id"],
            admin: history_admin(&["variant_id", "quantity", "added_at"], &[], &["added_at"]),
            clean: None,
        },
    ]
}

// ---------------------------------------------------------------- clean hooks

fn now() -> Value {
    Value::String(timestamp(&Utc::now()))
}

fn str_of<'v>(values: &'v Values, name: &str) -> Option<&'v str> {
    values.get(name).and_then(Value::as_str)
}

/// The value being saved, or the stored one when it is not being changed.
fn current<'v>(ctx: &'v CleanCtx<'v>, values: &'v Values, name: &str) -> Option<&'v Value> {
    values
        .get(name)
        .or_else(|| ctx.existing.and_then(|e| e.get(name)))
}

/// A slug from a name: lower-case ASCII letters and digits joined by single dashes.
fn slugify(name: &str, max: usize, fallback: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= max {
            break;
        }
    }
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() {
        fallback.to_string()
    } else {
        slug
    }
}

/// Checks a slug typed by hand.
fn check_slug(raw: &str, max: usize) -> Result<String, String> {
    let s = raw.trim();
    if s.len() > max {
        return Err(format!("is too long (maximum is {max} characters)"));
    }
    if s.starts_with('-')
        || s.ends_with('-')
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may contain only lowercase letters, digits and dashes".into());
    }
    Ok(s.to_string())
}

/// The first of `base`, `base-2`, `base-3`… that no other row of `table` uses. A concurrent save that
/// takes it first makes the write collide, and the save derives it again.
async fn free_slug(
    state: &AppState,
    table: &str,
    base: &str,
    max: usize,
    except: Option<i64>,
) -> Result<String, sea_orm::DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct Row {
        slug: String,
    }
    use sea_orm::FromQueryResult;
    let taken: std::collections::HashSet<String> =
        Row::find_by_statement(Statement::from_sql_and_values(
            state.db.get_database_backend(),
            format!("SELECT slug FROM {table} WHERE (slug = $1 OR slug LIKE $2) AND id <> $3"),
            [
                base.into(),
                format!("{base}-%").into(),
                except.unwrap_or(0).into(),
            ],
        ))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|r| r.slug)
        .collect();
    let mut n = 1u64;
    loop {
        let candidate = if n == 1 {
            base.to_string()
        } else {
            let suffix = format!("-{n}");
            let keep = base.len().min(max.saturating_sub(suffix.len()));
            format!("{}{suffix}", base[..keep].trim_end_matches('-'))
        };
        if !taken.contains(&candidate) {
            return Ok(candidate);
        }
        n += 1;
    }
}

/// Fills `slug` from `name` when it is left empty (on add, or cleared on change), or checks a typed one.
async fn derive_slug(
    ctx: &CleanCtx<'_>,
    values: &mut Values,
    table: &str,
    max: usize,
    fallback: &str,
    errors: &mut FieldErrors,
) {
    let typed = str_of(values, "slug").map(|s| s.trim().to_string());
    match typed {
        Some(s) if !s.is_empty() => match check_slug(&s, max) {
            Ok(s) => {
                values.insert("slug".into(), Value::String(s));
            }
            Err(e) => errors.add("slug", e),
        },
        _ if ctx.existing.is_none() || values.contains_key("slug") => {
            let name = current(ctx, values, "name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let base = slugify(&name, max, fallback);
            let except = ctx
                .existing
                .and_then(|e| e.get("id"))
                .and_then(Value::as_i64);
            match free_slug(ctx.state, table, &base, max, except).await {
                Ok(s) => {
                    values.insert("slug".into(), Value::String(s));
                }
                Err(e) => errors.add("slug", e.to_string()),
            }
        }
        _ => {}
    }
}

/// A trimmed, non-blank name.
fn clean_name(values: &mut Values, errors: &mut FieldErrors) {
    if let Some(n) = str_of(values, "name") {
        let n = n.trim().to_string();
        if n.is_empty() {
            errors.add("name", "can't be blank");
        }
        values.insert("name".into(), Value::String(n));
    }
}

fn clean_currency(values: &mut Values, errors: &mut FieldErrors) {
    if let Some(c) = str_of(values, "currency") {
        match super::money::parse_currency(c) {
            Ok(c) => {
                values.insert("currency".into(), Value::String(c));
            }
            Err(e) => errors.add("currency", e),
        }
    }
}

fn done(errors: FieldErrors) -> Result<(), FieldErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn clean_category<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        clean_name(values, &mut errors);
        derive_slug(ctx, values, "shop_categories", 120, "category", &mut errors).await;
        if let Some(parent) = values.get("parent_id").and_then(Value::as_i64)
            && let Some(me) = ctx
                .existing
                .and_then(|e| e.get("id"))
                .and_then(Value::as_i64)
        {
            match is_descendant(ctx.state, parent, me).await {
                Ok(true) => errors.add(
                    "parent_id",
                    "cannot be the category itself or one inside it",
                ),
                Ok(false) => {}
                Err(e) => errors.add("parent_id", e.to_string()),
            }
        }
        if ctx.existing.is_none() {
            values.entry("created_at".into()).or_insert_with(now);
            if values.get("position").is_none_or(Value::is_null) {
                values.insert("position".into(), Value::from(0));
            }
        }
        done(errors)
    })
}

/// Whether `candidate` is `category` or lies inside it (the tree must stay a tree).
async fn is_descendant(
    state: &AppState,
    candidate: i64,
    category: i64,
) -> Result<bool, sea_orm::DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct Row {
        parent_id: Option<i64>,
    }
    use sea_orm::FromQueryResult;
    let mut at = Some(candidate);
    // The tree is shallow; the bound only guards against a loop already stored.
    for _ in 0..100 {
        let Some(id) = at else { return Ok(false) };
        if id == category {
            return Ok(true);
        }
        at = Row::find_by_statement(Statement::from_sql_and_values(
            state.db.get_database_backend(),
            "SELECT parent_id FROM shop_categories WHERE id = $1",
            [id.into()],
        ))
        .one(&state.db)
        .await?
        .and_then(|r| r.parent_id);
    }
    Ok(true)
}

/// A product: trimmed name, a free slug from it when none is given, the Markdown description rendered
/// and sanitized as the catalog's API renders it, the currency checked, timestamps.
fn clean_product<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        clean_name(values, &mut errors);
        derive_slug(ctx, values, "shop_products", 220, "product", &mut errors).await;
        clean_currency(values, &mut errors);
        if let Some(d) = str_of(values, "description") {
            let rendered = match super::catalog::parse_description(d) {
                Ok(d) => super::catalog::render_description(d).await,
                Err(e) => Err(AppError::invalid("description", e)),
            };
            match rendered {
                Ok(html) => {
                    values.insert("description_html".into(), Value::String(html));
                }
                Err(AppError::Validation(e)) => {
                    for (_, messages) in e.0 {
                        for m in messages {
                            errors.add("description", m);
                        }
                    }
                }
                Err(e) => errors.add("description", e.to_string()),
            }
        }
        if ctx.existing.is_none() {
            values.entry("created_at".into()).or_insert_with(now);
            values.entry("active".into()).or_insert(Value::Bool(true));
        }
        values.insert("updated_at".into(), now());
        done(errors)
    })
}

fn clean_variant<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        if let Some(s) = str_of(values, "sku") {
            let s = s.trim().to_string();
            if s.is_empty() {
                errors.add("sku", "can't be blank");
            }
            values.insert("sku".into(), Value::String(s));
        }
        let options = values.get("options").cloned();
        match options {
            Some(Value::Object(_)) => {}
            Some(Value::Null) => {
                values.insert("options".into(), Value::Object(Default::default()));
            }
            None if ctx.existing.is_none() => {
                values.insert("options".into(), Value::Object(Default::default()));
            }
            None => {}
            Some(_) => errors.add("options", "must be a JSON object"),
        }
        if ctx.existing.is_none() {
            values.entry("created_at".into()).or_insert_with(now);
            for name in ["weight_grams", "position"] {
                if values.get(name).is_none_or(Value::is_null) {
                    values.insert(name.into(), Value::from(0));
                }
            }
        }
        done(errors)
    })
}

/// A voucher: trimmed code, a percentage of at most 100, a currency for a fixed amount, a window that
/// ends after it starts, and a usage limit no lower than the uses already counted.
fn clean_voucher<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        if let Some(c) = str_of(values, "code") {
            let c = c.trim().to_string();
            if c.is_empty() {
                errors.add("code", "can't be blank");
            } else if c.chars().any(char::is_whitespace) {
                errors.add("code", "must not contain spaces");
            }
            values.insert("code".into(), Value::String(c));
        }
        match str_of(values, "currency").map(str::trim) {
            Some("") => {
                values.insert("currency".into(), Value::Null);
            }
            Some(_) => clean_currency(values, &mut errors),
            None => {}
        }
        let kind = current(ctx, values, "kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let value = current(ctx, values, "value")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if kind == "percent" && value > 100 {
            errors.add("value", "a percentage is at most 100");
        }
        if kind == "fixed" && current(ctx, values, "currency").is_none_or(Value::is_null) {
            errors.add("currency", "is needed for a fixed amount");
        }
        let starts = current(ctx, values, "starts_at").and_then(Value::as_str);
        let ends = current(ctx, values, "ends_at").and_then(Value::as_str);
        if let (Some(s), Some(e)) = (starts, ends)
            && let (Ok(s), Ok(e)) = (
                chrono::DateTime::parse_from_rfc3339(s),
                chrono::DateTime::parse_from_rfc3339(e),
            )
            && e <= s
        {
            errors.add("ends_at", "must be after the start");
        }
        let used = ctx
            .existing
            .and_then(|e| e.get("used"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Some(limit) = values.get("usage_limit").and_then(Value::as_i64)
            && limit < used
        {
            errors.add(
                "usage_limit",
                format!("cannot be below the {used} uses already made"),
            );
        }
        if ctx.existing.is_none() {
            values.entry("created_at".into()).or_insert_with(now);
            values.entry("active".into()).or_insert(Value::Bool(true));
            if values.get("min_order").is_none_or(Value::is_null) {
                values.insert("min_order".into(), Value::from(0));
            }
        }
        done(errors)
    })
}

fn clean_shipping_method<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        clean_name(values, &mut errors);
        clean_currency(values, &mut errors);
        if let Some(c) = str_of(values, "code") {
            let c = c.trim().to_ascii_lowercase();
            if c.is_empty() {
                errors.add("code", "can't be blank");
            }
            values.insert("code".into(), Value::String(c));
        }
        if ctx.existing.is_none() && values.get("position").is_none_or(Value::is_null) {
            values.insert("position".into(), Value::from(0));
        }
        done(errors)
    })
}

/// What may change on an order by hand: its contact address and where it ships.
fn clean_order<'a>(_: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        if let Some(c) = str_of(values, "ship_country") {
            let c = c.trim().to_ascii_uppercase();
            if !(c.is_empty() || c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) {
                errors.add("ship_country", "must be a two-letter code, such as US");
            }
            values.insert("ship_country".into(), Value::String(c));
        }
        if let Some(e) = str_of(values, "email") {
            let e = e.trim().to_string();
            if !e.is_empty() && !e.contains('@') {
                errors.add("email", "is not an email address");
            }
            values.insert("email".into(), Value::String(e));
        }
        values.insert("updated_at".into(), now());
        done(errors)
    })
}

// ---------------------------------------------------------------- order actions

#[derive(Clone, Copy)]
enum Move {
    Ship,
    Deliver,
    RefundRestock,
}

/// Applies `mv` to each selected order as `by`, recorded as the actor of each event. Orders whose state
/// does not allow the move are left as they are; answers how many moved.
async fn each_order(state: &AppState, by: &User, ids: &[i64], mv: Move) -> Result<u64, AppError> {
    let viewer = Viewer::of(&state.db, by).await?;
    if !viewer.manager {
        return Err(AppError::forbidden("order"));
    }
    let mut n = 0;
    for &id in ids {
        let outcome = match mv {
            Move::Ship => orders::ship(state, &viewer, id).await,
            Move::Deliver => orders::deliver(state, &viewer, id).await,
            Move::RefundRestock => orders::refund(state, &viewer, id, None, true).await,
        };
        match outcome {
            Ok(_) => n += 1,
            Err(AppError::Conflict(_) | AppError::Validation(_) | AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn mark_shipped<'a>(state: &'a AppState, by: &'a User, ids: &'a [i64]) -> ActionFuture<'a> {
    Box::pin(each_order(state, by, ids, Move::Ship))
}

fn mark_delivered<'a>(state: &'a AppState, by: &'a User, ids: &'a [i64]) -> ActionFuture<'a> {
    Box::pin(each_order(state, by, ids, Move::Deliver))
}

fn refund_and_restock<'a>(state: &'a AppState, by: &'a User, ids: &'a [i64]) -> ActionFuture<'a> {
    Box::pin(each_order(state, by, ids, Move::RefundRestock))
}
