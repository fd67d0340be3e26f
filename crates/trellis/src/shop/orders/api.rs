//! Orders over the API: the caller's orders (all of them for staff and managers), one order with its
//! lines and history, and the moves: cancel (the customer, on their own pending order; managers),
//! ship, deliver and refund (managers).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Detail, Filters, Line, Viewer};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::RequireUser;
use crate::shop::models::{Order, OrderStatus};
use crate::shop::money::MAX_AMOUNT;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(ship_order))
        .routes(routes!(deliver_order))
        .routes(routes!(refund_order))
}

const PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

// ---------------------------------------------------------------- shapes

#[derive(Serialize, ToSchema)]
pub struct AddressBody {
    name: String,
    line1: String,
    line2: String,
    city: String,
    postcode: String,
    /// ISO 3166 two-letter code; empty for digital goods.
    country: String,
}

#[derive(Serialize, ToSchema)]
pub struct LineBody {
    sku: String,
    product_name: String,
    variant_name: String,
    /// In minor units (cents) of the order's currency, as it was when bought.
    unit_price: i64,
    quantity: i32,
    line_total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct EventBody {
    at: String,
    /// The username of who made the change; null for the system (expiry, the payment gateway).
    actor: Option<String>,
    /// The state before; null for an event that changed none (an order placed).
    from: Option<OrderStatus>,
    to: OrderStatus,
    note: String,
    /// Money the change moved (a payment, a refund), in minor units.
    amount: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentBody {
    reference: String,
    gateway: String,
    /// `pending`, `succeeded`, `declined`, `failed` or `refunded`.
    status: String,
    amount: i64,
    card_last4: String,
    message: String,
    created_at: String,
}

/// An order as lists show it. Money fields are integers in minor units (cents) of `currency`.
#[derive(Serialize, ToSchema)]
pub struct OrderSummary {
    number: String,
    status: OrderStatus,
    currency: String,
    items_total: i64,
    discount_total: i64,
    shipping_total: i64,
    /// What the customer pays: items − discount + shipping.
    total: i64,
    paid_amount: i64,
    refunded_amount: i64,
    /// The voucher code used, if any.
    voucher: Option<String>,
    shipping_method: String,
    shipping_address: AddressBody,
    lines: Vec<LineBody>,
    created_at: String,
    /// When an unpaid order is cancelled; null once paid.
    expires_at: Option<String>,
    paid_at: Option<String>,
    /// This order's address in the API.
    url: String,
}

/// An order with its history and payments.
#[derive(Serialize, ToSchema)]
pub struct OrderBody {
    #[serde(flatten)]
    summary: OrderSummary,
    /// Every change, oldest first: who, when, from → to.
    events: Vec<EventBody>,
    payments: Vec<PaymentBody>,
}

fn line_body(l: &Line) -> LineBody {
    LineBody {
        sku: l.sku.clone(),
        product_name: l.product_name.clone(),
        variant_name: l.variant_name.clone(),
        unit_price: l.unit_price,
        quantity: l.quantity,
        line_total: l.line_total,
    }
}

fn summary(state: &AppState, o: &Order, lines: &[Line]) -> OrderSummary {
    OrderSummary {
        number: o.number.clone(),
        status: o.status(),
        currency: o.currency.clone(),
        items_total: o.items_total,
        discount_total: o.discount_total,
        shipping_total: o.shipping_total,
        total: o.grand_total,
        paid_amount: o.paid_amount,
        refunded_amount: o.refunded_amount,
        voucher: o.voucher_code.clone(),
        shipping_method: o.shipping_method.clone(),
        shipping_address: AddressBody {
            name: o.ship_name.clone(),
            line1: o.ship_line1.clone(),
            line2: o.ship_line2.clone(),
            city: o.ship_city.clone(),
            postcode: o.ship_postcode.clone(),
            country: o.ship_country.clone(),
        },
        lines: lines.iter().map(line_body).collect(),
        created_at: api::timestamp(&o.created_at),
        expires_at: o
            .expires_at
            .as_ref()
            .filter(|_| o.status() == OrderStatus::Pending)
            .map(api::timestamp),
        paid_at: o.paid_at.as_ref().map(api::timestamp),
        url: format!("{}/api/shop/orders/{}", state.settings.base_url(), o.number),
    }
}

fn order_body(state: &AppState, d: &Detail) -> OrderBody {
    OrderBody {
        summary: summary(state, &d.order, &d.lines),
        events: d
            .events
            .iter()
            .map(|e| EventBody {
                at: api::timestamp(&e.created_at),
                actor: e.actor.clone(),
                from: e.from_status.as_deref().and_then(OrderStatus::parse),
                to: OrderStatus::parse(&e.to_status).unwrap_or(OrderStatus::Pending),
                note: e.note.clone(),
                amount: e.amount,
            })
            .collect(),
        payments: d
            .payments
            .iter()
            .map(|p| PaymentBody {
                reference: p.reference.clone(),
                gateway: p.gateway.clone(),
                status: p.status.clone(),
                amount: p.amount,
                card_last4: p.card_last4.clone(),
                message: p.message.clone(),
                created_at: api::timestamp(&p.created_at),
            })
            .collect(),
    }
}

/// The order as it is now, with everything.
async fn answer(state: &AppState, order: Order) -> Result<Response> {
    let d = super::detail(&state.db, order).await?;
    Ok(Json(order_body(state, &d)).into_response())
}

// ---------------------------------------------------------------- handlers

/// List orders.
///
/// A customer sees their own orders; staff and shop managers see everyone's and may narrow them to one
/// customer with `user`. Newest first.
#[utoipa::path(get, path = "/shop/orders", tag = "shop-orders", security(("token" = [])),
    params(
        ("status" = Option<String>, Query, description = "Only orders in this state",
            pattern = r"^ *(pending|paid|shipped|delivered|cancelled|refunded)? *$"),
        ("user" = Option<i64>, Query, description = "Only this customer's orders (by user id)",
            minimum = 1, maximum = 9223372036854775807_i64),
        api::PageParams,
    ),
    responses((status = 200, body = Page<OrderSummary>),
              (status = 400, description = "a query parameter is invalid (named)"),
              (status = 401, description = "no or bad credentials"),
              (status = 404, description = "page past the end")))]
async fn list_orders(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let viewer = Viewer::of(&state.db, &me).await?;
    let status = super::parse_status("status", q.get("status").map_or("", String::as_str))?;
    let user_id =
        match q.get("user").map(|s| s.trim()) {
            None | Some("") => None,
            Some(raw) => Some(raw.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                AppError::bad_request("user", "must be a user id (a whole number)")
            })?),
        };
    let paging = PageNumber::from_query(&q, PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (orders, count) = super::list(
        &state.db,
        &viewer,
        &Filters { user_id, status },
        paging.window(),
    )
    .await?;
    let results = orders
        .iter()
        .map(|(o, lines)| summary(&state, o, lines))
        .collect();
    Ok(Json(paging.wrap(results, count, "/api/shop/orders", &q)?).into_response())
}

/// One order, with its lines, history and payments.
///
/// A customer's own; staff and managers see any. Anyone else's is 404, as a missing one.
#[utoipa::path(get, path = "/shop/orders/{number}", tag = "shop-orders", security(("token" = [])),
    params(("number" = String, Path, description = "The order number (`TR-…`)", max_length = 16)),
    responses((status = 200, body = OrderBody), (status = 401, description = "no or bad credentials"),
              (status = 404, description = "no such order of yours")))]
async fn get_order(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(number): Path<String>,
) -> Result<Response> {
    let viewer = Viewer::of(&state.db, &me).await?;
    let order = super::visible(&state.db, &viewer, &number).await?;
    answer(&state, order).await
}

/// Cancel an order.
///
/// The customer may cancel their own order while it awaits payment; shop managers any pending order.
/// Its stock goes back and its voucher use is given back. Another state is 409 naming it.
#[utoipa::path(post, path = "/shop/orders/{number}/cancel", tag = "shop-orders", security(("token" = [])),
    params(("number" = String, Path, description = "The order number", max_length = 16)),
    responses((status = 200, body = OrderBody), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "staff who are not shop managers, on another customer's order"),
              (status = 404, description = "no such order of yours"),
              (status = 409, description = "the order is no longer pending (its state is named)")))]
async fn cancel_order(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(number): Path<String>,
) -> Result<Response> {
    let viewer = Viewer::of(&state.db, &me).await?;
    let order = super::visible(&state.db, &viewer, &number).await?;
    let order = super::cancel(&state, &viewer, &order).await?;
    answer(&state, order).await
}

/// Mark a paid order shipped (shop managers).
///
/// Emails the customer that their order is on its way.
#[utoipa::path(post, path = "/shop/orders/{number}/ship", tag = "shop-orders", security(("token" = [])),
    params(("number" = String, Path, description = "The order number", max_length = 16)),
    responses((status = 200, body = OrderBody), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such order of yours"),
              (status = 409, description = "the order is not paid (its state is named)")))]
async fn ship_order(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(number): Path<String>,
) -> Result<Response> {
    let viewer = Viewer::of(&state.db, &me).await?;
    let order = super::visible(&state.db, &viewer, &number).await?;
    let order = super::ship(&state, &viewer, order.id).await?;
    answer(&state, order).await
}

/// Mark a shipped order delivered (shop managers).
#[utoipa::path(post, path = "/shop/orders/{number}/deliver", tag = "shop-orders", security(("token" = [])),
    params(("number" = String, Path, description = "The order number", max_length = 16)),
    responses((status = 200, body = OrderBody), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such order of yours"),
              (status = 409, description = "the order is not shipped (its state is named)")))]
async fn deliver_order(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(number): Path<String>,
) -> Result<Response> {
    let viewer = Viewer::of(&state.db, &me).await?;
    let order = super::visible(&state.db, &viewer, &number).await?;
    let order = super::deliver(&state, &viewer, order.id).await?;
    answer(&state, order).await
}

/// A refund. Fields are read as raw JSON so a wrong type is reported on its own field.
#[derive(Deserialize, ToSchema)]
pub struct RefundRequest {
    /// In minor units; default: all that remains refundable (paid less refunded).
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000_000_i64)]
    amount: Option<Value>,
    /// Put the order's lines back into stock (once per order). Default false.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    restock: Option<Value>,
}

/// Refund an order in full or in part (shop managers).
///
/// Paid, shipped, delivered and partly refunded orders may be refunded, never above what was paid less
/// what was refunded already (422 naming `amount`). With `restock` the order's lines go back into stock.
#[utoipa::path(post, path = "/shop/orders/{number}/refund", tag = "shop-orders", security(("token" = [])),
    params(("number" = String, Path, description = "The order number", max_length = 16)),
    request_body = RefundRequest,
    responses((status = 200, body = OrderBody), (status = 400, description = "malformed JSON"),
              (status = 401, description = "no or bad credentials"),
              (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such order of yours"),
              (status = 409, description = "the order cannot be refunded in its state (named), or was restocked already"),
              (status = 415, description = "the body is not JSON"),
              (status = 422, description = "the amount is invalid or above what remains refundable")))]
async fn refund_order(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<RefundRequest>,
) -> Result<Response> {
    let viewer = Viewer::of(&state.db, &me).await?;
    let order = super::visible(&state.db, &viewer, &number).await?;
    let mut errors = FieldErrors::new();
    let amount = match &body.amount {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().filter(|n| (1..=MAX_AMOUNT).contains(n)) {
            Some(n) => Some(n),
            None => {
                errors.add(
                    "amount",
                    format!("must be a whole number of minor units from 1 to {MAX_AMOUNT}"),
                );
                None
            }
        },
    };
    let restock = match &body.restock {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.add("restock", "must be true or false");
            false
        }
    };
    // Only managers learn whether a body was valid.
    if !viewer.manager {
        return Err(AppError::forbidden("order"));
    }
    errors.into_result()?;
    let order = super::refund(&state, &viewer, order.id, amount, restock).await?;
    answer(&state, order).await
}
