//! Carts, vouchers, shipping, checkout and payment.
//!
//! Checkout turns the caller's cart into a pending order in one transaction: prices are copied into the
//! order's lines, stock is taken line by line with conditional updates (any short line undoes it all),
//! the voucher's use is counted, and the order's expiry is queued. An `Idempotency-Key` makes a repeated
//! request answer the order the first one made.

pub mod api;
pub mod cart;
pub mod pages;
pub mod payment;
pub mod vouchers;

use std::time::Duration;

use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::accounts::models::User;
use crate::error::{AppError, FieldErrors, Result};
use crate::shop::models::{self, Order, OrderStatus, StockMove, StockReason};
use crate::state::AppState;

/// The job that cancels an order still unpaid when its time is up.
pub const EXPIRE_ORDER: &str = "shop.expire_order";

/// A flat-rate shipping method.
#[derive(Clone, Debug, FromQueryResult, Serialize)]
pub struct ShippingMethod {
    pub code: String,
    pub name: String,
    pub price: i64,
    pub currency: String,
    pub needs_address: bool,
}

/// The active shipping methods, in their order.
pub async fn shipping_methods(db: &impl ConnectionTrait) -> Result<Vec<ShippingMethod>> {
    Ok(
        ShippingMethod::find_by_statement(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT code, name, price, currency, needs_address FROM shop_shipping_methods \
         WHERE active = TRUE ORDER BY position, id",
            [],
        ))
        .all(db)
        .await?,
    )
}

/// A shipping address as typed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postcode: String,
    pub country: String,
}

impl Address {
    /// Checks every field, naming each missing or invalid one as `shipping_address.<field>`.
    pub fn check(&self, errors: &mut FieldErrors) -> Address {
        let mut out = Address::default();
        for (field, raw, max, required, slot) in [
            ("name", &self.name, 200, true, &mut out.name),
            ("line1", &self.line1, 200, true, &mut out.line1),
            ("line2", &self.line2, 200, false, &mut out.line2),
            ("city", &self.city, 100, true, &mut out.city),
            ("postcode", &self.postcode, 20, true, &mut out.postcode),
        ] {
            let v = raw.trim();
            let key = format!("shipping_address.{field}");
            if v.is_empty() && required {
                errors.add(&key, "can't be blank");
            } else if v.chars().count() > max {
                errors.add(&key, format!("must be at most {max} characters"));
            } else if v.chars().any(char::is_control) {
                errors.add(&key, "must not contain control characters");
            } else {
                *slot = v.to_string();
            }
        }
        let c = self.country.trim().to_ascii_uppercase();
        if c.is_empty() {
            errors.add("shipping_address.country", "can't be blank");
        } else if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.add(
                "shipping_address.country",
                "must be a two-letter country code, such as US",
            );
        } else {
            out.country = c;
        }
        out
    }
}

/// What a checkout asks for, as sent (fields not yet checked).
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub shipping_method: Option<String>,
    pub shipping_address: Option<Address>,
    pub voucher: Option<String>,
    pub email: Option<String>,
}

/// A checkout request, checked.
#[derive(Clone, Debug, Serialize)]
struct Checked {
    shipping_method: String,
    shipping_address: Option<Address>,
    voucher: Option<String>,
    email: String,
}

impl Checked {
    /// A fingerprint of what was asked for, to tell a replay from a different request under one key.
    fn hash(&self) -> String {
        let canonical = serde_json::to_string(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// An `Idempotency-Key` as sent: 1 to 255 visible ASCII characters.
pub fn check_idempotency_key(raw: &[u8]) -> Result<String> {
    if (1..=255).contains(&raw.len()) && raw.iter().all(|b| (0x21..=0x7e).contains(b)) {
        Ok(String::from_utf8_lossy(raw).into_owned())
    } else {
        Err(AppError::bad_request(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ))
    }
}

fn check_email(raw: &str) -> std::result::Result<String, String> {
    let e = raw.trim();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e.to_string())
    } else {
        Err("must be an email address".into())
    }
}

/// A line of an order as placed.
#[derive(Clone, Debug, FromQueryResult)]
pub struct OrderLine {
    pub variant_id: Option<i64>,
    pub product_id: Option<i64>,
    pub product_name: String,
    pub variant_name: String,
    pub sku: String,
    pub unit_price: i64,
    pub quantity: i32,
    pub line_total: i64,
}

/// An order's lines, in the order they were placed.
pub async fn order_lines(db: &impl ConnectionTrait, order_id: i64) -> Result<Vec<OrderLine>> {
    Ok(OrderLine::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT variant_id, product_id, product_name, variant_name, sku, unit_price, quantity, line_total \
         FROM shop_order_lines WHERE order_id = $1 ORDER BY id",
        [order_id.into()],
    ))
    .all(db)
    .await?)
}

/// An order placed, or the one an earlier request with the same key placed.
pub struct Placed {
    pub order: Order,
    pub lines: Vec<OrderLine>,
    /// False when this answers a replay.
    pub created: bool,
}

fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

async fn by_key(db: &impl ConnectionTrait, user_id: i64, key: &str) -> Result<Option<Order>> {
    Ok(Order::find_by_statement(stmt(
        db,
        &format!(
            "SELECT {} FROM shop_orders WHERE user_id = $1 AND idempotency_key = $2",
            models::ORDER_COLUMNS
        ),
        vec![user_id.into(), key.into()],
    ))
    .one(db)
    .await?)
}

/// Places `user`'s cart as a pending order. See the module's description; errors: 422 naming `cart`,
/// `shipping_method`, `shipping_address.*`, `voucher`, `email` or `Idempotency-Key`; 409 keyed by each
/// short line's SKU, or naming `voucher` when its last use was just taken.
pub async fn place_order(
    state: &AppState,
    user: &User,
    req: &Request,
    idempotency_key: Option<&str>,
) -> Result<Placed> {
    let db = &state.db;
    // What can be checked without the cart.
    let mut errors = FieldErrors::new();
    let code = req
        .shipping_method
        .as_deref()
        .map(str::trim)
        .unwrap_or("standard")
        .to_string();
    let methods = shipping_methods(db).await?;
    let method = methods.iter().find(|m| m.code == code).cloned();
    if method.is_none() {
        let known: Vec<&str> = methods.iter().map(|m| m.code.as_str()).collect();
        errors.add(
            "shipping_method",
            format!("must be one of: {}", known.join(", ")),
        );
    }
    let address = match (&method, &req.shipping_address) {
        (Some(m), Some(a)) if m.needs_address => Some(a.check(&mut errors)),
        (Some(m), None) if m.needs_address => {
            Address::default().check(&mut errors);
            None
        }
        _ => None,
    };
    let email = match req.email.as_deref() {
        Some(e) => match check_email(e) {
            Ok(e) => e,
            Err(m) => {
                errors.add("email", m);
                String::new()
            }
        },
        None => user.email.clone(),
    };
    let voucher_code = req
        .voucher
        .as_deref()
        .map(vouchers::normalize_code)
        .filter(|c| !c.is_empty());
    if voucher_code.as_ref().is_some_and(|c| c.len() > 32) {
        errors.add("voucher", "no such voucher");
    }
    errors.into_result()?;
    let method = method.expect("checked above");
    let checked = Checked {
        shipping_method: method.code.clone(),
        shipping_address: address.clone(),
        voucher: voucher_code.clone(),
        email,
    };
    let hash = checked.hash();

    let txn = state.db.begin().await?;
    let cart_id = cart::lock_user_cart(&txn, user.id).await?;
    if let Some(key) = idempotency_key
        && let Some(order) = by_key(&txn, user.id, key).await?
    {
        if order.request_hash.as_deref() != Some(hash.as_str()) {
            return Err(AppError::invalid(
                "Idempotency-Key",
                "was already used with a different request",
            ));
        }
        let lines = order_lines(&txn, order.id).await?;
        return Ok(Placed {
            order,
            lines,
            created: false,
        });
    }
    let Some(cart_id) = cart_id else {
        return Err(AppError::invalid("cart", "is empty"));
    };
    let summary = cart::summarize(&txn, cart_id).await?;
    if summary.is_empty() {
        return Err(AppError::invalid("cart", "is empty"));
    }
    let currency = summary.currency.clone().unwrap_or_default();
    if method.currency != currency {
        return Err(AppError::invalid(
            "shipping_method",
            format!(
                "`{}` ships orders in {}, the cart is in {currency}",
                method.code, method.currency
            ),
        ));
    }
    let mut short = FieldErrors::new();
    for l in summary.lines.iter().filter(|l| !l.active) {
        short.add(&l.sku, "is no longer sold");
    }
    if !short.is_empty() {
        return Err(AppError::Conflict(short));
    }
    let items_total = summary.items_total;
    if items_total > crate::shop::money::MAX_AMOUNT {
        return Err(AppError::invalid("cart", "the total is too large"));
    }
    let voucher = match &voucher_code {
        Some(c) => Some(
            vouchers::by_code(&txn, c)
                .await?
                .ok_or_else(|| AppError::invalid("voucher", "no such voucher"))?,
        ),
        None => None,
    };
    let discount = match &voucher {
        Some(v) => vouchers::evaluate(&txn, v, user.id, &currency, items_total).await?,
        None => 0,
    };
    let shipping = method.price;
    let grand = items_total - discount + shipping;
    let now = models::now();
    let expires = now + chrono::Duration::seconds(state.settings.shop_order_ttl_secs as i64);
    let address = address.unwrap_or_default();

    // A number already taken (one in 10^15) makes the insert return nothing; draw another.
    let mut placed = None;
    for _ in 0..5 {
        let number = models::new_order_number();
        placed = models::Order::find_by_statement(stmt(
            &txn,
            &format!(
                "INSERT INTO shop_orders (number, user_id, email, status, currency, items_total, discount_total, \
                    shipping_total, grand_total, voucher_id, voucher_code, shipping_method, ship_name, ship_line1, \
                    ship_line2, ship_city, ship_postcode, ship_country, idempotency_key, request_hash, created_at, \
                    updated_at, expires_at) \
                 VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                    $18, $19, $20, $20, $21) ON CONFLICT (number) DO NOTHING RETURNING {}",
                models::ORDER_COLUMNS
            ),
            vec![
                number.into(),
                user.id.into(),
                checked.email.clone().into(),
                currency.clone().into(),
                items_total.into(),
                discount.into(),
                shipping.into(),
                grand.into(),
                voucher.as_ref().map(|v| v.id).into(),
                voucher.as_ref().map(|v| v.code.clone()).into(),
                method.code.clone().into(),
                address.name.clone().into(),
                address.line1.clone().into(),
                address.line2.clone().into(),
                address.city.clone().into(),
                address.postcode.clone().into(),
                address.country.clone().into(),
                idempotency_key.map(str::to_string).into(),
                hash.clone().into(),
                now.into(),
                expires.into(),
            ],
        ))
        .one(&txn)
        .await?;
        if placed.is_some() {
            break;
        }
    }
    let order =
        placed.ok_or_else(|| AppError::Internal(anyhow::anyhow!("no free order number")))?;
    let order_id = order.id;

    // Stock, in variant order so concurrent checkouts take row locks in one order.
    let mut by_variant: Vec<&cart::Line> = summary.lines.iter().collect();
    by_variant.sort_by_key(|l| l.variant_id);
    for l in by_variant {
        let took = models::move_stock(
            &txn,
            StockMove {
                variant_id: l.variant_id,
                delta: -(l.quantity as i64),
                reason: StockReason::Sale,
                order_id: Some(order_id),
                actor_id: Some(user.id),
                note: "",
            },
        )
        .await?;
        if took.is_none() {
            let left = models::variant(&txn, l.variant_id)
                .await?
                .map(|v| v.stock)
                .unwrap_or(0);
            short.add(&l.sku, format!("{} requested, {left} left", l.quantity));
        }
    }
    if !short.is_empty() {
        // Dropping the transaction rolls back the order and every stock move made above.
        return Err(AppError::Conflict(short));
    }
    for l in &summary.lines {
        txn.execute_raw(stmt(
            &txn,
            "INSERT INTO shop_order_lines (order_id, variant_id, product_id, product_name, variant_name, sku, \
                unit_price, quantity, line_total) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![
                order_id.into(),
                l.variant_id.into(),
                l.product_id.into(),
                l.product_name.clone().into(),
                l.variant_name.clone().into(),
                l.sku.clone().into(),
                l.unit_price.into(),
                l.quantity.into(),
                l.line_total().into(),
            ],
        ))
        .await?;
    }
    if let Some(v) = &voucher {
        vouchers::take(&txn, v.id).await?;
    }
    models::record_event(
        &txn,
        order_id,
        OrderStatus::Pending,
        Some(user.id),
        "order placed",
        Some(grand),
    )
    .await?;
    cart::clear_id(&txn, cart_id).await?;
    crate::jobs::enqueue_after(
        &txn,
        EXPIRE_ORDER,
        Some(user.id),
        &json!({"order_id": order_id}),
        3,
        Duration::from_secs(state.settings.shop_order_ttl_secs),
    )
    .await?;
    // The lines as written above, in the order `order_lines` reads them back (insertion order).
    let lines = summary
        .lines
        .iter()
        .map(|l| OrderLine {
            variant_id: Some(l.variant_id),
            product_id: Some(l.product_id),
            product_name: l.product_name.clone(),
            variant_name: l.variant_name.clone(),
            sku: l.sku.clone(),
            unit_price: l.unit_price,
            quantity: l.quantity,
            line_total: l.line_total(),
        })
        .collect();
    txn.commit().await?;
    crate::jobs::wake(state);
    Ok(Placed {
        order,
        lines,
        created: true,
    })
}
