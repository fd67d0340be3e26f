//! The cart, checkout, payment and voucher API. A cart and its checkout are always the caller's own;
//! vouchers are managed by shop managers.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cart::{self, Owner, Summary};
use super::payment::{self, Paid};
use super::vouchers::{self, Voucher};
use super::{Address, OrderLine, Placed};
use crate::accounts::models::User;
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::RequireUser;
use crate::shop::models::{self, Order};
use crate::shop::money;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart, clear_cart))
        .routes(routes!(add_item))
        .routes(routes!(set_item, remove_item))
        .routes(routes!(checkout))
        .routes(routes!(pay))
        .routes(routes!(webhook))
        .routes(routes!(list_vouchers, create_voucher))
        .routes(routes!(update_voucher))
}

// ---------------------------------------------------------------- cart

#[derive(Serialize, ToSchema)]
pub struct CartLineBody {
    /// The variant's id.
    variant: i64,
    sku: String,
    product: String,
    product_slug: String,
    /// The variant's name (empty for a product's only variant).
    name: String,
    /// Its price now, in minor units.
    unit_price: i64,
    quantity: i32,
    line_total: i64,
    /// Units in stock now.
    stock: i64,
    /// Whether the line can be bought as it stands (on sale, enough in stock).
    available: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CartBody {
    /// The currency of every line; null while the cart is empty.
    currency: Option<String>,
    lines: Vec<CartLineBody>,
    /// The sum of the lines, in minor units.
    items_total: i64,
    /// Units over all lines.
    count: i64,
}

fn cart_body(s: &Summary) -> CartBody {
    CartBody {
        currency: s.currency.clone(),
        lines: s
            .lines
            .iter()
            .map(|l| CartLineBody {
                variant: l.variant_id,
                sku: l.sku.clone(),
                product: l.product_name.clone(),
                product_slug: l.product_slug.clone(),
                name: l.variant_name.clone(),
                unit_price: l.unit_price,
                quantity: l.quantity,
                line_total: l.line_total(),
                stock: l.stock,
                available: l.available(),
            })
            .collect(),
        items_total: s.items_total,
        count: s.count,
    }
}

async fn my_cart(state: &AppState, me: &User, session: &Session) -> Result<Owner> {
    cart::owner(state, Some(me), session, true)
        .await?
        .ok_or_else(|| AppError::not_found("cart"))
}

async fn answer_cart(state: &AppState, owner: &Owner, status: StatusCode) -> Result<Response> {
    let s = cart::summary(&state.db, Some(owner)).await?;
    Ok((status, Json(cart_body(&s))).into_response())
}

/// The caller's cart, priced now.
///
/// A cart the caller filled before signing in (in this browser session) is merged into it first.
#[utoipa::path(get, path = "/shop/cart", tag = "shop-cart", security(("token" = [])),
    responses((status = 200, body = CartBody), (status = 401, description = "no or bad credentials")))]
async fn get_cart(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    session: Session,
) -> Result<Response> {
    let owner = my_cart(&state, &me, &session).await?;
    answer_cart(&state, &owner, StatusCode::OK).await
}

/// Empty the caller's cart.
#[utoipa::path(delete, path = "/shop/cart", tag = "shop-cart", security(("token" = [])),
    responses((status = 200, body = CartBody), (status = 401, description = "no or bad credentials")))]
async fn clear_cart(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    session: Session,
) -> Result<Response> {
    let owner = my_cart(&state, &me, &session).await?;
    cart::clear(&state.db, &owner).await?;
    answer_cart(&state, &owner, StatusCode::OK).await
}

#[derive(Deserialize, ToSchema)]
pub struct AddItem {
    /// The variant's id.
    #[schema(minimum = 1)]
    variant: i64,
    /// Units to add (on top of a line already in the cart, capped at 999 per line). Default 1.
    #[schema(minimum = 1, maximum = 999)]
    quantity: Option<i64>,
}

/// Add a variant to the caller's cart.
///
/// 201 when it makes a new line, 200 when it adds to one. Every line of a cart is in one currency.
#[utoipa::path(post, path = "/shop/cart/items", tag = "shop-cart", security(("token" = [])), request_body = AddItem,
    responses((status = 201, body = CartBody), (status = 200, body = CartBody),
              (status = 400, description = "malformed JSON"), (status = 401, description = "no or bad credentials"),
              (status = 415, description = "not JSON"),
              (status = 422, description = "no such variant on sale, another currency than the cart's, or a bad quantity")))]
async fn add_item(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    session: Session,
    ApiJson(body): ApiJson<AddItem>,
) -> Result<Response> {
    let owner = my_cart(&state, &me, &session).await?;
    let (cart_id, new) =
        cart::add(&state, &owner, body.variant, body.quantity.unwrap_or(1)).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let s = cart::summarize(&state.db, cart_id).await?;
    Ok((status, Json(cart_body(&s))).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct SetItem {
    /// The line's new quantity; 0 removes it.
    #[schema(minimum = 0, maximum = 999)]
    quantity: i64,
}

/// Set a line's quantity (0 removes it).
#[utoipa::path(patch, path = "/shop/cart/items/{variant}", tag = "shop-cart", security(("token" = [])),
    params(("variant" = i64, Path, description = "the variant's id")), request_body = SetItem,
    responses((status = 200, body = CartBody), (status = 400, description = "malformed JSON"),
              (status = 401, description = "no or bad credentials"), (status = 404, description = "not in the cart"),
              (status = 415, description = "not JSON"), (status = 422, description = "bad quantity")))]
async fn set_item(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    session: Session,
    Path(variant): Path<String>,
    ApiJson(body): ApiJson<SetItem>,
) -> Result<Response> {
    let owner = my_cart(&state, &me, &session).await?;
    let variant = cart::parse_variant(&variant)?;
    cart::set_quantity(&state, &owner, variant, body.quantity).await?;
    answer_cart(&state, &owner, StatusCode::OK).await
}

/// Remove a line.
#[utoipa::path(delete, path = "/shop/cart/items/{variant}", tag = "shop-cart", security(("token" = [])),
    params(("variant" = i64, Path, description = "the variant's id")),
    responses((status = 200, body = CartBody), (status = 401, description = "no or bad credentials"),
              (status = 404, description = "not in the cart")))]
async fn remove_item(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    session: Session,
    Path(variant): Path<String>,
) -> Result<Response> {
    let owner = my_cart(&state, &me, &session).await?;
    let variant = cart::parse_variant(&variant)?;
    cart::remove(&state, &owner, variant).await?;
    answer_cart(&state, &owner, StatusCode::OK).await
}

// ---------------------------------------------------------------- checkout

#[derive(Deserialize, ToSchema)]
pub struct AddressBody {
    #[schema(max_length = 200)]
    name: Option<String>,
    #[schema(max_length = 200)]
    line1: Option<String>,
    #[schema(max_length = 200)]
    line2: Option<String>,
    #[schema(max_length = 100)]
    city: Option<String>,
    #[schema(max_length = 20)]
    postcode: Option<String>,
    /// Two letters (ISO 3166-1), such as `US`.
    #[schema(max_length = 2)]
    country: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CheckoutBody {
    /// A shipping method's code: `standard` (the default), `express`, or `digital` (no address).
    #[schema(max_length = 32)]
    shipping_method: Option<String>,
    /// Required unless the method ships nothing physical.
    shipping_address: Option<AddressBody>,
    /// A voucher's code.
    #[schema(max_length = 32)]
    voucher: Option<String>,
    /// Where the confirmation goes; default the caller's email.
    #[schema(max_length = 254)]
    email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderLineBody {
    /// The variant's id; null once the variant is deleted.
    variant: Option<i64>,
    sku: String,
    product_name: String,
    variant_name: String,
    /// The price when the order was placed, in minor units.
    unit_price: i64,
    quantity: i32,
    line_total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PlacedBody {
    number: String,
    /// `pending` until paid.
    status: String,
    currency: String,
    items_total: i64,
    discount_total: i64,
    shipping_total: i64,
    /// The grand total: items − discount + shipping, in minor units.
    total: i64,
    paid_amount: i64,
    voucher: Option<String>,
    shipping_method: String,
    email: String,
    lines: Vec<OrderLineBody>,
    /// When an unpaid order is cancelled.
    expires_at: Option<String>,
    /// The order's address in the API.
    url: String,
}

fn placed_body(state: &AppState, o: &Order, lines: &[OrderLine]) -> PlacedBody {
    PlacedBody {
        number: o.number.clone(),
        status: o.status.clone(),
        currency: o.currency.clone(),
        items_total: o.items_total,
        discount_total: o.discount_total,
        shipping_total: o.shipping_total,
        total: o.grand_total,
        paid_amount: o.paid_amount,
        voucher: o.voucher_code.clone(),
        shipping_method: o.shipping_method.clone(),
        email: o.email.clone(),
        lines: lines
            .iter()
            .map(|l| OrderLineBody {
                variant: l.variant_id,
                sku: l.sku.clone(),
                product_name: l.product_name.clone(),
                variant_name: l.variant_name.clone(),
                unit_price: l.unit_price,
                quantity: l.quantity,
                line_total: l.line_total,
            })
            .collect(),
        expires_at: o.expires_at.as_ref().map(api::timestamp),
        url: format!("{}/api/shop/orders/{}", state.settings.base_url(), o.number),
    }
}

/// Place the caller's cart as an order.
///
/// In one transaction: prices are copied into the order's lines, stock is taken (409 keyed by each
/// short line's SKU, e.g. `{"errors": {"SKU-1": ["3 requested, 1 left"]}}`, and nothing is written), the
/// voucher's use is counted, and the cart is emptied. The order is `pending` until paid and is cancelled
/// when unpaid at `expires_at`. With an `Idempotency-Key`, the same key and body answer the order the
/// first request made (200); the same key with another body is 422.
#[utoipa::path(post, path = "/shop/checkout", tag = "shop-cart", security(("token" = [])), request_body = CheckoutBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters",
            min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")),
    responses((status = 201, body = PlacedBody), (status = 200, body = PlacedBody, description = "a repeated request: the order the first one placed"),
              (status = 400, description = "malformed JSON or Idempotency-Key"), (status = 401, description = "no or bad credentials"),
              (status = 409, description = "stock is short (keyed by SKU) or the voucher was just used up"),
              (status = 415, description = "not JSON"),
              (status = 422, description = "an invalid field, an empty cart, an unusable voucher, or a key reused with another body")))]
async fn checkout(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    session: Session,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> Result<Response> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(super::check_idempotency_key(v.as_bytes())?),
        None => None,
    };
    // A session cart left from before sign-in joins first, as on every cart access.
    my_cart(&state, &me, &session).await?;
    let req = super::Request {
        shipping_method: body.shipping_method,
        shipping_address: body.shipping_address.map(|a| Address {
            name: a.name.unwrap_or_default(),
            line1: a.line1.unwrap_or_default(),
            line2: a.line2.unwrap_or_default(),
            city: a.city.unwrap_or_default(),
            postcode: a.postcode.unwrap_or_default(),
            country: a.country.unwrap_or_default(),
        }),
        voucher: body.voucher,
        email: body.email,
    };
    let Placed {
        order,
        lines,
        created,
    } = super::place_order(&state, &me, &req, key.as_deref()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [(
            header::LOCATION,
            format!("/api/shop/orders/{}", order.number),
        )],
        Json(placed_body(&state, &order, &lines)),
    )
        .into_response())
}

// ---------------------------------------------------------------- payment

#[derive(Deserialize, ToSchema)]
pub struct PayBody {
    /// 12 to 19 digits (spaces and dashes ignored). Test cards: 4242424242424242 succeeds,
    /// 4000000000000002 is declined, 4000000000000119 fails (try again), 4000002500003155 is confirmed
    /// later by webhook.
    #[schema(max_length = 40)]
    card_number: String,
    #[schema(minimum = 1, maximum = 12)]
    exp_month: i64,
    /// Four digits (or two).
    #[schema(minimum = 0, maximum = 2100)]
    exp_year: i64,
    #[schema(min_length = 3, max_length = 4)]
    cvc: String,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentBody {
    number: String,
    /// The order's status: `paid`, or `pending` while the gateway confirms.
    status: String,
    /// `succeeded` or `pending`.
    payment: String,
    paid_amount: i64,
    currency: String,
}

/// Pay for one of the caller's pending orders by card.
///
/// 200 when paid; 202 when the gateway confirms later (by webhook); 402 when the card is declined; 409
/// when the gateway asks to try again or the order is no longer pending. The card number is never
/// stored (only its last four digits).
#[utoipa::path(post, path = "/shop/orders/{number}/pay", tag = "shop-orders", security(("token" = [])),
    params(("number" = String, Path, description = "the order's number")), request_body = PayBody,
    responses((status = 200, body = PaymentBody), (status = 202, body = PaymentBody),
              (status = 400, description = "malformed JSON"), (status = 401, description = "no or bad credentials"),
              (status = 402, description = "the card was declined (named `card`)"),
              (status = 404, description = "no such order of yours"),
              (status = 409, description = "try again (named `card`), or the order is no longer pending (named `status`)"),
              (status = 415, description = "not JSON"), (status = 422, description = "an invalid card field")))]
async fn pay(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<PayBody>,
) -> Result<Response> {
    let card = payment::check_card(&body.card_number, body.exp_month, body.exp_year, &body.cvc)?;
    let answer = payment::pay(&state, me.id, &number, &card).await?;
    let out = |status: StatusCode, o: &Order, payment: &str| {
        (
            status,
            Json(PaymentBody {
                number: o.number.clone(),
                status: o.status.clone(),
                payment: payment.into(),
                paid_amount: o.paid_amount,
                currency: o.currency.clone(),
            }),
        )
            .into_response()
    };
    Ok(match answer {
        Paid::Succeeded(o) => out(StatusCode::OK, &o, "succeeded"),
        Paid::Pending(o) => out(StatusCode::ACCEPTED, &o, "pending"),
        Paid::Declined(reason) => (
            StatusCode::PAYMENT_REQUIRED,
            Json(json!({"errors": {"card": [format!("declined: {reason}")]}})),
        )
            .into_response(),
        Paid::Retry(reason) => {
            AppError::Conflict(FieldErrors::single("card", reason)).into_response()
        }
    })
}

/// The payment gateway's webhook.
///
/// Signed with `Trellis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; a
/// missing, bad or older than five minutes signature is 400 and changes nothing. The body is
/// `{"id", "type": "payment.succeeded" | "payment.failed", "reference"}`; an event id seen before is
/// acknowledged (200) and changes nothing.
#[utoipa::path(post, path = "/shop/payments/webhook", tag = "shop-orders",
    params(("Trellis-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256>")),
    request_body(content = String, description = "the event, as JSON", content_type = "application/json"),
    responses((status = 200, description = "accepted (or seen before)"),
              (status = 400, description = "bad, stale or missing signature; not a payment event"),
              (status = 413, description = "a body over 64 KiB")))]
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    // Checked before any hashing: nothing a gateway sends comes near it.
    if body.len() > payment::WEBHOOK_MAX_BYTES {
        return Err(AppError::PayloadTooLarge(format!(
            "a payment event is at most {} bytes",
            payment::WEBHOOK_MAX_BYTES
        )));
    }
    let sig = headers
        .get(payment::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    payment::handle_webhook(&state, sig, &body).await?;
    Ok(Json(json!({"received": true})).into_response())
}

// ---------------------------------------------------------------- vouchers

#[derive(Serialize, ToSchema)]
pub struct VoucherBody {
    id: i64,
    code: String,
    /// `percent` or `fixed`.
    kind: String,
    /// A percentage (1–100), or an amount in minor units.
    value: i64,
    /// A fixed voucher's currency.
    currency: Option<String>,
    /// The least items total it applies to, in minor units.
    min_order: i64,
    starts_at: Option<String>,
    ends_at: Option<String>,
    usage_limit: Option<i32>,
    per_customer_limit: Option<i32>,
    /// Uses counted (orders placed with it and not cancelled or expired).
    used: i32,
    active: bool,
    created_at: String,
}

fn voucher_body(v: &Voucher) -> VoucherBody {
    VoucherBody {
        id: v.id,
        code: v.code.clone(),
        kind: v.kind.clone(),
        value: v.value,
        currency: v.currency.clone(),
        min_order: v.min_order,
        starts_at: v.starts_at.as_ref().map(api::timestamp),
        ends_at: v.ends_at.as_ref().map(api::timestamp),
        usage_limit: v.usage_limit,
        per_customer_limit: v.per_customer_limit,
        used: v.used,
        active: v.active,
        created_at: api::timestamp(&v.created_at),
    }
}

/// A voucher's writable fields; on create `code`, `kind` and `value` are required.
#[derive(Deserialize, ToSchema)]
pub struct VoucherWrite {
    /// 3 to 32 letters, digits, `-` or `_` (stored upper-cased).
    #[schema(max_length = 32)]
    code: Option<String>,
    /// `percent` or `fixed`.
    #[schema(max_length = 8)]
    kind: Option<String>,
    /// 1–100 for `percent`; minor units for `fixed`.
    #[schema(minimum = 1)]
    value: Option<i64>,
    /// Required for `fixed`.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, max_length = 3)]
    currency: Option<Option<String>>,
    #[schema(minimum = 0)]
    min_order: Option<i64>,
    /// RFC 3339; null for no start.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    starts_at: Option<Option<String>>,
    /// RFC 3339; null for no end.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    ends_at: Option<Option<String>>,
    /// Null for no limit.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    usage_limit: Option<Option<i64>>,
    /// Null for no limit.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    per_customer_limit: Option<Option<i64>>,
    active: Option<bool>,
}

fn time(errors: &mut FieldErrors, field: &str, raw: &str) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(raw.trim()) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.add(field, "must be a date and time (RFC 3339)");
            None
        }
    }
}

fn limit(errors: &mut FieldErrors, field: &str, raw: i64) -> Option<i32> {
    if (0..=1_000_000_000).contains(&raw) {
        Some(raw as i32)
    } else {
        errors.add(field, "must be from 0 to 1000000000");
        None
    }
}

impl VoucherWrite {
    /// `base` with the fields sent applied, checked.
    fn apply(self, base: Option<vouchers::Fields>) -> Result<vouchers::Fields> {
        let mut errors = FieldErrors::new();
        let creating = base.is_none();
        let mut f = base.unwrap_or(vouchers::Fields {
            code: String::new(),
            kind: String::new(),
            value: 0,
            currency: None,
            min_order: 0,
            starts_at: None,
            ends_at: None,
            usage_limit: None,
            per_customer_limit: None,
            active: true,
        });
        match self.code {
            Some(c) => match vouchers::check_code(&c) {
                Ok(c) => f.code = c,
                Err(m) => errors.add("code", m),
            },
            None if creating => errors.add("code", "can't be blank"),
            None => {}
        }
        match self.kind {
            Some(k) => f.kind = k.trim().to_ascii_lowercase(),
            None if creating => errors.add("kind", "must be `percent` or `fixed`"),
            None => {}
        }
        match self.value {
            Some(v) => f.value = v,
            None if creating => errors.add("value", "can't be blank"),
            None => {}
        }
        if let Some(c) = self.currency {
            f.currency = match c {
                None => None,
                Some(c) => match money::parse_currency(&c) {
                    Ok(c) => Some(c),
                    Err(m) => {
                        errors.add("currency", m);
                        None
                    }
                },
            };
        }
        if let Some(m) = self.min_order {
            match money::check_amount(m) {
                Ok(m) => f.min_order = m,
                Err(msg) => errors.add("min_order", msg),
            }
        }
        if let Some(s) = self.starts_at {
            f.starts_at = s.and_then(|s| time(&mut errors, "starts_at", &s));
        }
        if let Some(s) = self.ends_at {
            f.ends_at = s.and_then(|s| time(&mut errors, "ends_at", &s));
        }
        if let Some(u) = self.usage_limit {
            f.usage_limit = u.and_then(|u| limit(&mut errors, "usage_limit", u));
        }
        if let Some(u) = self.per_customer_limit {
            f.per_customer_limit = u.and_then(|u| limit(&mut errors, "per_customer_limit", u));
        }
        if let Some(a) = self.active {
            f.active = a;
        }
        if f.kind == "percent" {
            f.currency = None;
        }
        if errors.is_empty() {
            f.check(&mut errors);
        }
        errors.into_result()?;
        Ok(f)
    }
}

async fn manager(state: &AppState, me: &User) -> Result<()> {
    if models::is_manager(&state.db, me).await? {
        Ok(())
    } else {
        Err(AppError::forbidden("voucher"))
    }
}

/// Every voucher (shop managers).
#[utoipa::path(get, path = "/shop/vouchers", tag = "shop-cart", security(("token" = [])),
    params(api::PageParams),
    responses((status = 200, body = Page<VoucherBody>), (status = 400, description = "a bad query parameter"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 404, description = "page past the end")))]
async fn list_vouchers(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    manager(&state, &me).await?;
    let paging = PageNumber::from_query(&q, 20, 100)?;
    let (rows, count) = vouchers::list(&state.db, paging.window()).await?;
    let results = rows.iter().map(voucher_body).collect();
    Ok(Json(paging.wrap(results, count, "/api/shop/vouchers", &q)?).into_response())
}

/// Create a voucher (shop managers).
#[utoipa::path(post, path = "/shop/vouchers", tag = "shop-cart", security(("token" = [])), request_body = VoucherWrite,
    responses((status = 201, body = VoucherBody), (status = 400, description = "malformed JSON"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 409, description = "the code is taken"), (status = 415, description = "not JSON"),
              (status = 422, description = "an invalid field")))]
async fn create_voucher(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    ApiJson(body): ApiJson<VoucherWrite>,
) -> Result<Response> {
    manager(&state, &me).await?;
    let f = body.apply(None)?;
    let v = vouchers::create(&state.db, &f).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/shop/vouchers/{}", v.id))],
        Json(voucher_body(&v)),
    )
        .into_response())
}

/// Change a voucher's fields sent (shop managers).
#[utoipa::path(patch, path = "/shop/vouchers/{id}", tag = "shop-cart", security(("token" = [])),
    params(("id" = i64, Path)), request_body = VoucherWrite,
    responses((status = 200, body = VoucherBody), (status = 400, description = "malformed JSON"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such voucher"),
              (status = 409, description = "the code is taken, or the limit is below the uses counted"),
              (status = 415, description = "not JSON"), (status = 422, description = "an invalid field")))]
async fn update_voucher(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VoucherWrite>,
) -> Result<Response> {
    manager(&state, &me).await?;
    let id = crate::db::parse_id(&id, "voucher")?;
    let txn = state.db.begin().await?;
    let current = vouchers::by_id(&txn, id)
        .await?
        .ok_or_else(|| AppError::not_found("voucher"))?;
    let f = body.apply(Some(vouchers::Fields::of(&current)))?;
    let v = vouchers::update(&txn, id, &f).await?;
    txn.commit().await?;
    Ok(Json(voucher_body(&v)).into_response())
}
