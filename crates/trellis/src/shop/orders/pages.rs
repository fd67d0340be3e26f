//! "My orders" and one order's page: its state, lines, totals, address and history, with a Cancel
//! button (a plain POST form) and a link to pay while it awaits payment.

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Filters, Line, Viewer};
use crate::error::{AppError, Result};
use crate::http::auth::RequireUser;
use crate::http::templates::Ctx;
use crate::shop::models::{Order, OrderStatus};
use crate::shop::money;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/shop/orders", get(list))
        .route(
            "/shop/orders/",
            get(|| async { Redirect::permanent("/shop/orders") }),
        )
        .route("/shop/orders/{number}", get(show))
        .route("/shop/orders/{number}/cancel", post(cancel))
}

const PAGE_SIZE: u64 = 20;

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn status_value(s: OrderStatus) -> Value {
    context! { value => s.as_str(), label => s.label() }
}

fn line_value(l: &Line, currency: &str) -> Value {
    context! {
        sku => l.sku,
        product_name => l.product_name,
        variant_name => l.variant_name,
        unit_price => money::format(l.unit_price, currency),
        quantity => l.quantity,
        line_total => money::format(l.line_total, currency),
    }
}

fn order_value(o: &Order) -> Value {
    let c = o.currency.as_str();
    let status = o.status();
    context! {
        number => o.number,
        status => status_value(status),
        pending => status == OrderStatus::Pending,
        created_at => when(&o.created_at),
        expires_at => o.expires_at.as_ref().filter(|_| status == OrderStatus::Pending).map(when),
        paid_at => o.paid_at.as_ref().map(when),
        items_total => money::format(o.items_total, c),
        discount_total => (o.discount_total > 0).then(|| money::format(o.discount_total, c)),
        shipping_total => money::format(o.shipping_total, c),
        total => money::format(o.grand_total, c),
        paid => (o.paid_amount > 0).then(|| money::format(o.paid_amount, c)),
        refunded => (o.refunded_amount > 0).then(|| money::format(o.refunded_amount, c)),
        voucher => o.voucher_code,
        shipping_method => o.shipping_method,
        address => (!o.ship_line1.is_empty()).then(|| context! {
            name => o.ship_name,
            line1 => o.ship_line1,
            line2 => o.ship_line2,
            city => o.ship_city,
            postcode => o.ship_postcode,
            country => o.ship_country,
        }),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    page: String,
}

/// The signed-in customer's own orders, newest first (staff and managers have the admin for all).
async fn list(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    let page = match q.page.trim() {
        "" => 1,
        p => p
            .parse::<u64>()
            .ok()
            .filter(|p| (1..=crate::http::api::MAX_PAGE).contains(p))
            .ok_or_else(|| AppError::not_found("page"))?,
    };
    let own = Viewer {
        id: me.id,
        username: me.username.clone(),
        sees_all: false,
        manager: false,
    };
    let filters = Filters {
        user_id: Some(me.id),
        status: None,
    };
    let (orders, count) = super::list(
        &ctx.state.db,
        &own,
        &filters,
        crate::db::Window {
            offset: (page - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        },
    )
    .await?;
    let pages = count.div_ceil(PAGE_SIZE).max(1);
    if page > pages {
        return Err(AppError::not_found("page"));
    }
    let url = |p: u64| {
        if p == 1 {
            "/shop/orders".to_string()
        } else {
            format!("/shop/orders?page={p}")
        }
    };
    let orders: Vec<Value> = orders
        .iter()
        .map(|(o, lines)| {
            let items: i64 = lines.iter().map(|l| i64::from(l.quantity)).sum();
            context! { items => items, ..order_value(o) }
        })
        .collect();
    ctx.render(
        "shop/orders.html",
        context! {
            orders => orders,
            count => count,
            pagination => context! {
                page => page, pages => pages,
                prev => (page > 1).then(|| url(page - 1)),
                next => (page < pages).then(|| url(page + 1)),
            },
        },
    )
    .await
}

/// One order: the customer's own, or any for staff and managers.
async fn show(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(number): Path<String>,
) -> Result<Response> {
    let viewer = Viewer::of(&ctx.state.db, &me).await?;
    let order = super::visible(&ctx.state.db, &viewer, &number).await?;
    let own = order.user_id == Some(me.id);
    let can_cancel = order.status() == OrderStatus::Pending && (own || viewer.manager);
    let d = super::detail(&ctx.state.db, order).await?;
    let c = d.order.currency.as_str();
    let events: Vec<Value> = d
        .events
        .iter()
        .map(|e| {
            let label = |s: &str| OrderStatus::parse(s).map_or("", OrderStatus::label);
            context! {
                at => when(&e.created_at),
                at_iso => crate::http::api::timestamp(&e.created_at),
                actor => e.actor,
                from => e.from_status.as_deref().map(label),
                to => label(&e.to_status),
                note => e.note,
                amount => e.amount.map(|a| money::format(a, c)),
            }
        })
        .collect();
    let lines: Vec<Value> = d.lines.iter().map(|l| line_value(l, c)).collect();
    ctx.render(
        "shop/order.html",
        context! {
            order => order_value(&d.order),
            lines => lines,
            events => events,
            own => own,
            can_cancel => can_cancel,
        },
    )
    .await
}

/// The Cancel button. A state that no longer allows it is shown as a message on the order's page.
async fn cancel(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(number): Path<String>,
) -> Result<Response> {
    let viewer = Viewer::of(&ctx.state.db, &me).await?;
    let order = super::visible(&ctx.state.db, &viewer, &number).await?;
    let back = format!("/shop/orders/{}", order.number);
    match super::cancel(&ctx.state, &viewer, &order).await {
        Ok(_) => ctx.flash("success", "Your order was cancelled.").await,
        Err(AppError::Conflict(e)) => {
            let msg = e.get("status").first().cloned().unwrap_or_default();
            ctx.flash("error", format!("The order was not cancelled: {msg}."))
                .await
        }
        Err(e) => return Err(e),
    }
    Ok(Redirect::to(&back).into_response())
}
