//! What every part of the shop shares: the variant row, the order's states and the moves between them,
//! the stock ledger, order numbers and who may manage the shop.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::models::User;
use crate::error::AppError;

/// The permission that makes a user a shop manager (the `shop_managers` group holds it).
pub const MANAGE: &str = "shop.manage_shop";

/// Whether `user` manages the shop: catalog, stock, vouchers and every order.
pub async fn is_manager(db: &impl ConnectionTrait, user: &User) -> Result<bool, AppError> {
    crate::accounts::perms::has_perm(db, user, MANAGE).await
}

/// Whether `user` may see every customer's carts and orders: managers and staff.
pub async fn sees_all(db: &impl ConnectionTrait, user: &User) -> Result<bool, AppError> {
    Ok(user.is_active && user.is_staff || is_manager(db, user).await?)
}

/// One purchasable variant of a product, with what a cart or checkout needs of its product.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Variant {
    pub id: i64,
    pub product_id: i64,
    pub sku: String,
    pub name: String,
    pub options: String,
    pub price: i64,
    pub stock: i64,
    pub weight_grams: i32,
    pub position: i32,
    pub product_name: String,
    pub product_slug: String,
    pub currency: String,
    pub active: bool,
}

/// `SELECT` list for [`Variant`], over `shop_variants v JOIN shop_products p`.
pub const VARIANT_COLUMNS: &str = "v.id, v.product_id, v.sku, v.name, v.options, v.price, v.stock, \
     v.weight_grams, v.position, p.name AS product_name, p.slug AS product_slug, p.currency, p.active";

pub async fn variant(db: &impl ConnectionTrait, id: i64) -> Result<Option<Variant>, DbErr> {
    Variant::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "SELECT {VARIANT_COLUMNS} FROM shop_variants v JOIN shop_products p ON p.id = v.product_id \
             WHERE v.id = $1"
        ),
        [id.into()],
    ))
    .one(db)
    .await
}

// ---------------------------------------------------------------- orders' states

/// Where an order is. Moves: `pending` → `paid` → `shipped` → `delivered`; `pending` → `cancelled`;
/// `paid`, `shipped`, `delivered` → `refunded`, and `refunded` → `refunded` again while less than what was
/// paid has been returned (partial refunds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::Pending => "Awaiting payment",
            OrderStatus::Paid => "Paid",
            OrderStatus::Shipped => "Shipped",
            OrderStatus::Delivered => "Delivered",
            OrderStatus::Cancelled => "Cancelled",
            OrderStatus::Refunded => "Refunded",
        }
    }

    pub fn parse(raw: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether an order in this state may move to `to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Pending, Paid)
                | (Pending, Cancelled)
                | (Paid, Shipped)
                | (Shipped, Delivered)
                | (Paid | Shipped | Delivered | Refunded, Refunded)
        )
    }

    /// The states this one may move to.
    pub fn next(self) -> Vec<OrderStatus> {
        OrderStatus::ALL
            .into_iter()
            .filter(|to| self.can_become(*to))
            .collect()
    }
}

/// The 409 for a move the state machine does not allow, naming where the order is.
pub fn invalid_transition(from: OrderStatus, to: OrderStatus) -> AppError {
    AppError::Conflict(crate::error::FieldErrors::single(
        "status",
        format!(
            "the order is {}; it cannot become {}",
            from.as_str(),
            to.as_str()
        ),
    ))
}

/// An order's row.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Order {
    pub id: i64,
    pub number: String,
    pub user_id: Option<i64>,
    pub email: String,
    pub status: String,
    pub currency: String,
    pub items_total: i64,
    pub discount_total: i64,
    pub shipping_total: i64,
    pub grand_total: i64,
    pub paid_amount: i64,
    pub refunded_amount: i64,
    pub voucher_id: Option<i64>,
    pub voucher_code: Option<String>,
    pub shipping_method: String,
    pub ship_name: String,
    pub ship_line1: String,
    pub ship_line2: String,
    pub ship_city: String,
    pub ship_postcode: String,
    pub ship_country: String,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl Order {
    /// Its state (a row always holds one of ours: the table's CHECK allows no other).
    pub fn status(&self) -> OrderStatus {
        OrderStatus::parse(&self.status).unwrap_or(OrderStatus::Pending)
    }
}

pub const ORDER_COLUMNS: &str = "id, number, user_id, email, status, currency, items_total, discount_total, \
     shipping_total, grand_total, paid_amount, refunded_amount, voucher_id, voucher_code, shipping_method, \
     ship_name, ship_line1, ship_line2, ship_city, ship_postcode, ship_country, idempotency_key, request_hash, \
     created_at, updated_at, expires_at, paid_at";

/// An order by its number, whoever owns it (callers check ownership).
pub async fn order_by_number(
    db: &impl ConnectionTrait,
    number: &str,
) -> Result<Option<Order>, DbErr> {
    if number.len() > 16 {
        return Ok(None);
    }
    Order::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT {ORDER_COLUMNS} FROM shop_orders WHERE number = $1"),
        [number.into()],
    ))
    .one(db)
    .await
}

/// An order by id, read inside `txn` (after taking its turn with [`lock_order`]).
pub async fn order_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<Order>, DbErr> {
    Order::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT {ORDER_COLUMNS} FROM shop_orders WHERE id = $1"),
        [id.into()],
    ))
    .one(db)
    .await
}

/// Serializes, until `txn` ends, everything that changes order `id` (a payment and a cancellation, a
/// webhook and its replay); SQLite's write transactions are serialized already.
pub async fn lock_order(txn: &sea_orm::DatabaseTransaction, id: i64) -> Result<(), DbErr> {
    crate::db::lock(txn, "shop-order", id).await
}

/// A move of an order to another state, as the order's history records it.
pub struct Transition<'a> {
    pub to: OrderStatus,
    /// Who did it; `None` for the system (expiry, a gateway's webhook).
    pub actor_id: Option<i64>,
    pub note: &'a str,
    /// The money it moved (a payment or a refund), if any.
    pub amount: Option<i64>,
}

/// Moves `order` (as read in `txn`) to `t.to` and records the event, inside the caller's transaction.
/// The UPDATE is conditional on the state read, so two racing moves cannot both apply: the loser gets
/// the 409 naming the state it found. Stock and vouchers are the caller's part ([`return_stock`],
/// [`release_voucher`]).
pub async fn transition(
    txn: &impl ConnectionTrait,
    order: &Order,
    t: Transition<'_>,
) -> Result<(), AppError> {
    let from = order.status();
    if !from.can_become(t.to) {
        return Err(invalid_transition(from, t.to));
    }
    let now = Utc::now();
    let backend = txn.get_database_backend();
    let res = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE shop_orders SET status = $2, updated_at = $3, \
               paid_at = CASE WHEN $2 = 'paid' THEN $3 ELSE paid_at END \
             WHERE id = $1 AND status = $4",
            [
                order.id.into(),
                t.to.as_str().into(),
                now.into(),
                from.as_str().into(),
            ],
        ))
        .await?;
    if res.rows_affected() == 0 {
        let now_status = order_by_id(txn, order.id)
            .await?
            .map(|o| o.status())
            .unwrap_or(from);
        return Err(invalid_transition(now_status, t.to));
    }
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO shop_order_events (order_id, actor_id, from_status, to_status, amount, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            order.id.into(),
            t.actor_id.into(),
            from.as_str().into(),
            t.to.as_str().into(),
            t.amount.into(),
            t.note.chars().take(500).collect::<String>().into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Records an event that is not a change of state (an order placed, a payment declined).
pub async fn record_event(
    txn: &impl ConnectionTrait,
    order_id: i64,
    status: OrderStatus,
    actor_id: Option<i64>,
    note: &str,
    amount: Option<i64>,
) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "INSERT INTO shop_order_events (order_id, actor_id, from_status, to_status, amount, note, created_at) \
         VALUES ($1, $2, NULL, $3, $4, $5, $6)",
        [
            order_id.into(),
            actor_id.into(),
            status.as_str().into(),
            amount.into(),
            note.chars().take(500).collect::<String>().into(),
            Utc::now().into(),
        ],
    ))
    .await?;
    Ok(())
}

#[derive(FromQueryResult)]
struct LineStock {
    variant_id: i64,
    quantity: i32,
}

/// Puts every line of the order back into stock (variants since deleted are skipped), one ledger row
/// each with `reason`, inside the caller's transaction.
pub async fn return_stock(
    txn: &impl ConnectionTrait,
    order_id: i64,
    reason: StockReason,
    actor_id: Option<i64>,
) -> Result<(), DbErr> {
    let lines = LineStock::find_by_statement(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT variant_id, quantity FROM shop_order_lines WHERE order_id = $1 AND variant_id IS NOT NULL \
         ORDER BY variant_id",
        [order_id.into()],
    ))
    .all(txn)
    .await?;
    for l in lines {
        move_stock(
            txn,
            StockMove {
                variant_id: l.variant_id,
                delta: l.quantity as i64,
                reason,
                order_id: Some(order_id),
                actor_id,
                note: "",
            },
        )
        .await?;
    }
    Ok(())
}

/// Gives back the voucher use an order took (it was cancelled or expired unpaid).
pub async fn release_voucher(txn: &impl ConnectionTrait, order: &Order) -> Result<(), DbErr> {
    if let Some(v) = order.voucher_id {
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "UPDATE shop_vouchers SET used = used - 1 WHERE id = $1 AND used > 0",
            [v.into()],
        ))
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- the stock ledger

/// Why stock changed; each change is one row of `shop_stock_moves`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StockReason {
    /// Stock a variant was created with.
    Initial,
    /// Sold at checkout (negative).
    Sale,
    /// Returned when an order was cancelled.
    Cancel,
    /// Returned when an unpaid order expired.
    Expiry,
    /// Returned to stock with a refund (restock).
    Refund,
    /// Counted by hand (a manager's correction).
    Correction,
    /// Set by a catalog import.
    Import,
}

impl StockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StockReason::Initial => "initial",
            StockReason::Sale => "sale",
            StockReason::Cancel => "cancel",
            StockReason::Expiry => "expiry",
            StockReason::Refund => "refund",
            StockReason::Correction => "correction",
            StockReason::Import => "import",
        }
    }
}

/// One change of stock, as the ledger records it.
pub struct StockMove<'a> {
    pub variant_id: i64,
    pub delta: i64,
    pub reason: StockReason,
    pub order_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub note: &'a str,
}

#[derive(FromQueryResult)]
struct StockAfter {
    stock: i64,
}

/// Applies `m` inside the caller's transaction: stock changes only if it stays at zero or above (one
/// conditional UPDATE, so concurrent sales can never oversell), and the change is written to the
/// ledger. `Ok(None)` when there is not enough stock (or no such variant): nothing was changed.
pub async fn move_stock(
    txn: &impl ConnectionTrait,
    m: StockMove<'_>,
) -> Result<Option<i64>, DbErr> {
    let backend = txn.get_database_backend();
    if backend == sea_orm::DatabaseBackend::Postgres {
        // The change and its ledger row in one round trip: the INSERT sees the UPDATE's RETURNING
        // rows, so nothing is written when the stock is short.
        let after = StockAfter::find_by_statement(Statement::from_sql_and_values(
            backend,
            "WITH moved AS (UPDATE shop_variants SET stock = stock + $2 WHERE id = $1 AND stock + $2 >= 0 \
                 RETURNING stock) \
             INSERT INTO shop_stock_moves (variant_id, delta, stock_after, reason, order_id, actor_id, note, created_at) \
             SELECT $1, $2, stock, $3, $4, $5, $6, $7 FROM moved RETURNING stock_after AS stock",
            [
                m.variant_id.into(),
                m.delta.into(),
                m.reason.as_str().into(),
                m.order_id.into(),
                m.actor_id.into(),
                ledger_note(m.note).into(),
                Utc::now().into(),
            ],
        ))
        .one(txn)
        .await?;
        return Ok(after.map(|a| a.stock));
    }
    let after = StockAfter::find_by_statement(Statement::from_sql_and_values(
        backend,
        "UPDATE shop_variants SET stock = stock + $2 WHERE id = $1 AND stock + $2 >= 0 RETURNING stock",
        [m.variant_id.into(), m.delta.into()],
    ))
    .one(txn)
    .await?;
    let Some(after) = after else {
        return Ok(None);
    };
    record_move(txn, &m, after.stock).await?;
    Ok(Some(after.stock))
}

fn ledger_note(note: &str) -> String {
    note.chars().take(200).collect()
}

/// Writes the ledger row of a change already applied (`stock_after` is the new level): for stock set on
/// a new variant or by an import.
pub async fn record_move(
    txn: &impl ConnectionTrait,
    m: &StockMove<'_>,
    stock_after: i64,
) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "INSERT INTO shop_stock_moves (variant_id, delta, stock_after, reason, order_id, actor_id, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            m.variant_id.into(),
            m.delta.into(),
            stock_after.into(),
            m.reason.as_str().into(),
            m.order_id.into(),
            m.actor_id.into(),
            ledger_note(m.note).into(),
            Utc::now().into(),
        ],
    ))
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- order numbers

/// Letters and digits that cannot be misread for one another (no I, L, O, U, 0, 1).
const NUMBER_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new order number: `TR-` and ten characters, random so numbers reveal nothing about sales.
pub fn new_order_number() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let body: String = (0..10)
        .map(|_| NUMBER_ALPHABET[rng.random_range(0..NUMBER_ALPHABET.len())] as char)
        .collect();
    format!("TR-{body}")
}

/// Now, as every shop row stamps it.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_move_only_along_the_machine() {
        use OrderStatus::*;
        assert!(Pending.can_become(Paid));
        assert!(Pending.can_become(Cancelled));
        assert!(Paid.can_become(Shipped));
        assert!(Shipped.can_become(Delivered));
        assert!(Delivered.can_become(Refunded));
        assert!(Refunded.can_become(Refunded));
        assert!(!Pending.can_become(Shipped));
        assert!(!Pending.can_become(Refunded));
        assert!(!Paid.can_become(Cancelled));
        assert!(!Cancelled.can_become(Paid));
        assert!(!Delivered.can_become(Shipped));
        assert_eq!(Pending.next(), vec![Paid, Cancelled]);
        assert!(Cancelled.next().is_empty());
    }

    #[test]
    fn order_numbers_use_the_unambiguous_alphabet() {
        let n = new_order_number();
        assert_eq!(n.len(), 13);
        assert!(n.starts_with("TR-"));
        assert!(n[3..].bytes().all(|b| NUMBER_ALPHABET.contains(&b)));
        assert_ne!(new_order_number(), n);
    }
}
