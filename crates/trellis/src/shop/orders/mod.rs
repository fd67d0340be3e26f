//! Orders after checkout: who may see them, their history, and the moves managers and customers make —
//! cancel, ship, deliver, refund — each one transaction that takes the order's turn first
//! ([`models::lock_order`]), so a payment, a cancellation and an expiry can never both apply. Unpaid
//! orders expire through the job queue ([`expire`], kind [`EXPIRE_JOB`]).

pub mod api;
pub mod pages;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use serde_json::{Value, json};

use super::models::{
    self, ORDER_COLUMNS, Order, OrderStatus, StockReason, Transition, lock_order, order_by_id,
};
use crate::accounts::models::User;
use crate::error::{AppError, Result};
use crate::jobs::{JobCtx, JobError};
use crate::state::AppState;

/// The job kind that cancels an order left unpaid past its `expires_at`; payload `{"order_id": id}`.
pub const EXPIRE_JOB: &str = "shop.expire_order";

/// The note of an order cancelled because nobody paid for it in time.
pub const EXPIRED_NOTE: &str = "expired unpaid";

// ---------------------------------------------------------------- who is asking

/// The user acting on orders, with what they may do.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub id: i64,
    pub username: String,
    /// Staff and managers see every order.
    pub sees_all: bool,
    /// Managers ship, deliver, refund and cancel any order.
    pub manager: bool,
}

impl Viewer {
    pub async fn of(db: &impl ConnectionTrait, user: &User) -> Result<Viewer> {
        let manager = models::is_manager(db, user).await?;
        Ok(Viewer {
            id: user.id,
            username: user.username.clone(),
            sees_all: manager || models::sees_all(db, user).await?,
            manager,
        })
    }

    fn sees(&self, order: &Order) -> bool {
        self.sees_all || order.user_id == Some(self.id)
    }

    fn require_manager(&self) -> Result<()> {
        if self.manager {
            Ok(())
        } else {
            Err(AppError::forbidden("order"))
        }
    }
}

/// The order with this number if `viewer` may see it; anyone else's is the same 404 as a missing one.
pub async fn visible(db: &impl ConnectionTrait, viewer: &Viewer, number: &str) -> Result<Order> {
    match models::order_by_number(db, number).await? {
        Some(o) if viewer.sees(&o) => Ok(o),
        _ => Err(AppError::not_found("order")),
    }
}

// ---------------------------------------------------------------- lists

/// What a list of orders is narrowed to.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// One customer's orders (for those who see all; a customer's list is always their own).
    pub user_id: Option<i64>,
    pub status: Option<OrderStatus>,
}

/// Parses the `status` filter: blank is none.
pub fn parse_status(field: &str, raw: &str) -> Result<Option<OrderStatus>> {
    match raw.trim() {
        "" => Ok(None),
        s => OrderStatus::parse(s).map(Some).ok_or_else(|| {
            AppError::bad_request(
                field,
                format!(
                    "`{}` is not one of {}",
                    s.chars().take(40).collect::<String>(),
                    OrderStatus::ALL.map(OrderStatus::as_str).join(", ")
                ),
            )
        }),
    }
}

/// One page of the orders `viewer` may see, newest first, with their lines: three statements whatever
/// the page size.
pub async fn list(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    filters: &Filters,
    window: crate::db::Window,
) -> Result<(Vec<(Order, Vec<Line>)>, u64)> {
    let mut conds: Vec<String> = Vec::new();
    let mut values: Vec<sea_orm::Value> = Vec::new();
    if !viewer.sees_all {
        values.push(viewer.id.into());
        conds.push(format!("user_id = ${}", values.len()));
    }
    if let Some(u) = filters.user_id {
        values.push(u.into());
        conds.push(format!("user_id = ${}", values.len()));
    }
    if let Some(s) = filters.status {
        values.push(s.as_str().into());
        conds.push(format!("status = ${}", values.len()));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let (orders, count) = crate::db::paged::<Order>(
        db,
        format!("SELECT COUNT(*) AS n FROM shop_orders{filter}"),
        format!(
            "SELECT {ORDER_COLUMNS} FROM shop_orders{filter} ORDER BY created_at DESC, id DESC"
        ),
        values,
        window,
    )
    .await?;
    let mut lines = lines_of(db, &orders.iter().map(|o| o.id).collect::<Vec<_>>()).await?;
    let out = orders
        .into_iter()
        .map(|o| {
            let l = lines.remove(&o.id).unwrap_or_default();
            (o, l)
        })
        .collect();
    Ok((out, count))
}

// ---------------------------------------------------------------- one order

/// A line of an order, as it was bought (prices are snapshots).
#[derive(Clone, Debug, FromQueryResult)]
pub struct Line {
    pub order_id: i64,
    pub variant_id: Option<i64>,
    pub product_id: Option<i64>,
    pub sku: String,
    pub product_name: String,
    pub variant_name: String,
    pub unit_price: i64,
    pub quantity: i32,
    pub line_total: i64,
}

/// One entry of an order's history.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Event {
    pub id: i64,
    /// Who made it; `None` for the system (expiry, a gateway) or a deleted user.
    pub actor: Option<String>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub amount: Option<i64>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// A payment attempt on an order.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Payment {
    pub id: i64,
    pub gateway: String,
    pub reference: String,
    pub status: String,
    pub amount: i64,
    pub card_last4: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// An order with its lines, history and payments.
#[derive(Clone, Debug)]
pub struct Detail {
    pub order: Order,
    pub lines: Vec<Line>,
    pub events: Vec<Event>,
    pub payments: Vec<Payment>,
}

/// The lines of several orders, by order id, in two-way stable order.
async fn lines_of(db: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, Vec<Line>>> {
    let mut out: HashMap<i64, Vec<Line>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let rows = Line::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "SELECT order_id, variant_id, product_id, sku, product_name, variant_name, unit_price, \
             quantity, line_total FROM shop_order_lines WHERE order_id IN ({}) ORDER BY order_id, id",
            placeholders.join(", ")
        ),
        ids.iter().map(|id| sea_orm::Value::from(*id)).collect::<Vec<_>>(),
    ))
    .all(db)
    .await?;
    for l in rows {
        out.entry(l.order_id).or_default().push(l);
    }
    Ok(out)
}

/// An order's lines, history (oldest first, with who made each change) and payments.
pub async fn detail(db: &impl ConnectionTrait, order: Order) -> Result<Detail> {
    let backend = db.get_database_backend();
    let lines = lines_of(db, &[order.id])
        .await?
        .remove(&order.id)
        .unwrap_or_default();
    let events = Event::find_by_statement(Statement::from_sql_and_values(
        backend,
        "SELECT e.id, u.username AS actor, e.from_status, e.to_status, e.amount, e.note, e.created_at \
         FROM shop_order_events e LEFT JOIN users u ON u.id = e.actor_id \
         WHERE e.order_id = $1 ORDER BY e.id",
        [order.id.into()],
    ))
    .all(db)
    .await?;
    let payments = Payment::find_by_statement(Statement::from_sql_and_values(
        backend,
        "SELECT id, gateway, reference, status, amount, card_last4, message, created_at \
         FROM shop_payments WHERE order_id = $1 ORDER BY id",
        [order.id.into()],
    ))
    .all(db)
    .await?;
    Ok(Detail {
        order,
        lines,
        events,
        payments,
    })
}

// ---------------------------------------------------------------- moves

/// Runs `f` on order `id` as read inside one transaction that holds the order's turn, and commits
/// what it wrote; an error rolls everything back. Answers the order as it is afterwards.
async fn locked<F>(state: &AppState, id: i64, f: F) -> Result<Order>
where
    F: for<'t> FnOnce(
        &'t sea_orm::DatabaseTransaction,
        Order,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 't>>,
{
    let txn = state.db.begin().await?;
    lock_order(&txn, id).await?;
    let order = order_by_id(&txn, id)
        .await?
        .ok_or_else(|| AppError::not_found("order"))?;
    f(&txn, order).await?;
    let after = order_by_id(&txn, id)
        .await?
        .ok_or_else(|| AppError::not_found("order"))?;
    txn.commit().await?;
    Ok(after)
}

/// Cancels a pending order: its stock goes back to the shelves (ledger rows, reason `cancel`) and its
/// voucher use is given back. The customer may cancel their own order; managers any order. Another
/// state is a 409 naming it.
pub async fn cancel(state: &AppState, viewer: &Viewer, order: &Order) -> Result<Order> {
    let own = order.user_id == Some(viewer.id);
    if !own {
        viewer.require_manager()?;
    }
    let actor = Some(viewer.id);
    let note = if own && !viewer.manager {
        "cancelled by the customer"
    } else {
        "cancelled by the shop"
    };
    locked(state, order.id, move |txn, o| {
        Box::pin(async move {
            models::transition(
                txn,
                &o,
                Transition {
                    to: OrderStatus::Cancelled,
                    actor_id: actor,
                    note,
                    amount: None,
                },
            )
            .await?;
            models::return_stock(txn, o.id, StockReason::Cancel, actor).await?;
            models::release_voucher(txn, &o).await?;
            Ok(())
        })
    })
    .await
}

/// Marks a paid order shipped (managers only) and emails the customer that it is on its way.
pub async fn ship(state: &AppState, viewer: &Viewer, order_id: i64) -> Result<Order> {
    viewer.require_manager()?;
    let actor = Some(viewer.id);
    let order = locked(state, order_id, move |txn, o| {
        Box::pin(async move {
            models::transition(
                txn,
                &o,
                Transition {
                    to: OrderStatus::Shipped,
                    actor_id: actor,
                    note: "",
                    amount: None,
                },
            )
            .await
        })
    })
    .await?;
    send_shipped_email(state, &order).await;
    Ok(order)
}

/// Marks a shipped order delivered (managers only).
pub async fn deliver(state: &AppState, viewer: &Viewer, order_id: i64) -> Result<Order> {
    viewer.require_manager()?;
    let actor = Some(viewer.id);
    locked(state, order_id, move |txn, o| {
        Box::pin(async move {
            models::transition(
                txn,
                &o,
                Transition {
                    to: OrderStatus::Delivered,
                    actor_id: actor,
                    note: "",
                    amount: None,
                },
            )
            .await
        })
    })
    .await
}

/// Refunds `amount` (default: all that remains) of a paid, shipped, delivered or partly refunded order
/// (managers only). Never more than was paid less what was refunded already (422 naming `amount`).
/// `restock` puts the order's lines back into stock (ledger rows, reason `refund`), once per order.
pub async fn refund(
    state: &AppState,
    viewer: &Viewer,
    order_id: i64,
    amount: Option<i64>,
    restock: bool,
) -> Result<Order> {
    viewer.require_manager()?;
    let actor = Some(viewer.id);
    locked(state, order_id, move |txn, o| {
        Box::pin(async move {
            let from = o.status();
            if !from.can_become(OrderStatus::Refunded) {
                return Err(models::invalid_transition(from, OrderStatus::Refunded));
            }
            let remaining = o.paid_amount - o.refunded_amount;
            let amount = amount.unwrap_or(remaining);
            if remaining <= 0 {
                return Err(AppError::invalid(
                    "amount",
                    "nothing remains to refund: the order was refunded in full",
                ));
            }
            if amount < 1 || amount > remaining {
                return Err(AppError::invalid(
                    "amount",
                    format!(
                        "must be from 1 to {remaining} (what remains of the {} paid)",
                        o.paid_amount
                    ),
                ));
            }
            if restock && already_restocked(txn, o.id).await? {
                return Err(AppError::Conflict(crate::error::FieldErrors::single(
                    "restock",
                    "this order's stock was returned already",
                )));
            }
            models::transition(
                txn,
                &o,
                Transition {
                    to: OrderStatus::Refunded,
                    actor_id: actor,
                    note: if restock {
                        "refunded and restocked"
                    } else {
                        "refunded"
                    },
                    amount: Some(amount),
                },
            )
            .await?;
            let res = txn
                .execute_raw(Statement::from_sql_and_values(
                    txn.get_database_backend(),
                    "UPDATE shop_orders SET refunded_amount = refunded_amount + $2 \
                     WHERE id = $1 AND refunded_amount + $2 <= paid_amount",
                    [o.id.into(), amount.into()],
                ))
                .await?;
            if res.rows_affected() == 0 {
                return Err(AppError::invalid(
                    "amount",
                    "is more than remains to refund",
                ));
            }
            if restock {
                models::return_stock(txn, o.id, StockReason::Refund, actor).await?;
            }
            Ok(())
        })
    })
    .await
}

async fn already_restocked(txn: &impl ConnectionTrait, order_id: i64) -> Result<bool> {
    let n = crate::db::count(
        txn,
        "SELECT COUNT(*) AS n FROM shop_stock_moves WHERE order_id = $1 AND reason IN ('refund', 'cancel', 'expiry')"
            .to_string(),
        vec![order_id.into()],
    )
    .await?;
    Ok(n > 0)
}

/// Tells the customer their order is on its way. A mail failure is logged, never undoes the shipment.
async fn send_shipped_email(state: &AppState, order: &Order) {
    if order.email.is_empty() {
        return;
    }
    let url = format!("{}/shop/orders/{}", state.settings.base_url(), order.number);
    let body = format!(
        "Good news: your order {number} has shipped.\n\n\
         Shipping method: {method}\n\
         Ship to: {name}, {line1}{line2}, {city} {postcode}, {country}\n\
         Total: {total}\n\n\
         Follow it at {url}\n",
        number = order.number,
        method = order.shipping_method,
        name = order.ship_name,
        line1 = order.ship_line1,
        line2 = if order.ship_line2.is_empty() {
            String::new()
        } else {
            format!(", {}", order.ship_line2)
        },
        city = order.ship_city,
        postcode = order.ship_postcode,
        country = order.ship_country,
        total = super::money::format(order.grand_total, &order.currency),
    );
    let subject = format!("Your order {} has shipped", order.number);
    if let Err(e) = state.mailer.send(&order.email, &subject, body).await {
        tracing::warn!(order = order.id, error = %e, "sending the shipping email failed");
    }
}

// ---------------------------------------------------------------- expiry

/// The `shop.expire_order` job: cancels the order if it is still unpaid once its time is up, returning
/// its stock (reason `expiry`) and its voucher use. A paid, cancelled or missing order is left alone; an
/// order whose time is not up yet (a job that ran early) is looked at again when it is.
pub async fn expire(ctx: JobCtx) -> std::result::Result<Value, JobError> {
    let Some(id) = ctx.payload().get("order_id").and_then(Value::as_i64) else {
        return Err(JobError::Failed("the payload names no order_id".into()));
    };
    let state = &ctx.state;
    let txn = state.db.begin().await?;
    lock_order(&txn, id).await?;
    let Some(order) = order_by_id(&txn, id).await? else {
        txn.commit().await?;
        return Ok(json!({"order_id": id, "expired": false, "reason": "no such order"}));
    };
    if order.status() != OrderStatus::Pending {
        txn.commit().await?;
        return Ok(json!({"order_id": id, "expired": false, "status": order.status}));
    }
    let now = Utc::now();
    if let Some(at) = order.expires_at
        && at > now
    {
        let wait = (at - now).to_std().unwrap_or_default();
        crate::jobs::enqueue_after(&txn, EXPIRE_JOB, None, &json!({"order_id": id}), 5, wait)
            .await?;
        txn.commit().await?;
        crate::jobs::wake(state);
        return Ok(json!({"order_id": id, "expired": false, "reason": "not yet due"}));
    }
    let moved = models::transition(
        &txn,
        &order,
        Transition {
            to: OrderStatus::Cancelled,
            actor_id: None,
            note: EXPIRED_NOTE,
            amount: None,
        },
    )
    .await;
    match moved {
        Ok(()) => {}
        Err(AppError::Conflict(_)) => {
            txn.commit().await?;
            return Ok(json!({"order_id": id, "expired": false}));
        }
        Err(e) => return Err(JobError::Internal(anyhow::anyhow!("{e}"))),
    }
    models::return_stock(&txn, id, StockReason::Expiry, None).await?;
    models::release_voucher(&txn, &order).await?;
    txn.commit().await?;
    Ok(json!({"order_id": id, "expired": true}))
}
