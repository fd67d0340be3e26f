//! Carts: one per signed-in customer, or one per anonymous visitor keyed by a random token kept in the
//! session. A visitor's cart is merged into their own on the first cart access after they sign in.
//! Totals are always computed here from the variants' current prices.

use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, Statement};
use tower_sessions::Session;

use crate::accounts::models::User;
use crate::error::{AppError, Result};
use crate::shop::models::now;
use crate::state::AppState;

/// The session key holding an anonymous visitor's cart token.
pub const SESSION_KEY: &str = "shop_cart";
/// The largest quantity of one line.
pub const MAX_QUANTITY: i64 = 999;
/// The most distinct lines one cart holds.
pub const MAX_LINES: i64 = 100;

/// Whose cart a request works on.
#[derive(Clone, Debug)]
pub enum Owner {
    User(i64),
    Session(String),
}

/// One line as the customer sees it, priced now.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Line {
    pub variant_id: i64,
    pub product_id: i64,
    pub sku: String,
    pub variant_name: String,
    pub product_name: String,
    pub product_slug: String,
    pub currency: String,
    pub active: bool,
    pub unit_price: i64,
    pub stock: i64,
    pub quantity: i32,
}

impl Line {
    pub fn line_total(&self) -> i64 {
        self.unit_price.saturating_mul(self.quantity as i64)
    }
    /// Whether the line can be bought as it stands.
    pub fn available(&self) -> bool {
        self.active && self.stock >= self.quantity as i64
    }
}

/// A cart with its totals.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub cart_id: Option<i64>,
    pub lines: Vec<Line>,
    /// The currency of its lines; `None` while it is empty.
    pub currency: Option<String>,
    pub items_total: i64,
    /// Units over all lines.
    pub count: i64,
}

impl Summary {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

#[derive(FromQueryResult)]
struct Id {
    id: i64,
}

fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// The session's cart token, if it has one (reading never creates a session).
async fn session_token(session: &Session) -> Option<String> {
    session
        .get::<String>(SESSION_KEY)
        .await
        .ok()
        .flatten()
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whose cart this request works on: the signed-in user's (merging a session cart into it first), or
/// the session's. With `create`, an anonymous visitor without a cart token gets one.
pub async fn owner(
    state: &AppState,
    user: Option<&User>,
    session: &Session,
    create: bool,
) -> Result<Option<Owner>> {
    let token = session_token(session).await;
    match user {
        Some(u) => {
            if let Some(t) = token {
                merge(state, u.id, &t).await?;
                let _ = session.remove::<String>(SESSION_KEY).await;
            }
            Ok(Some(Owner::User(u.id)))
        }
        None => match token {
            Some(t) => Ok(Some(Owner::Session(t))),
            None if create => {
                let t = hex::encode(rand::random::<[u8; 16]>());
                session
                    .insert(SESSION_KEY, &t)
                    .await
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
                Ok(Some(Owner::Session(t)))
            }
            None => Ok(None),
        },
    }
}

/// The id of `owner`'s cart, made if missing (two racing requests get the same one), marked as
/// changed now: every caller is about to change it.
pub async fn ensure(db: &impl ConnectionTrait, owner: &Owner) -> Result<i64> {
    let (col, val): (&str, sea_orm::Value) = match owner {
        Owner::User(id) => ("user_id", (*id).into()),
        Owner::Session(t) => ("session_key", t.clone().into()),
    };
    // DO UPDATE (not DO NOTHING) so RETURNING answers for an existing cart too: one statement.
    Id::find_by_statement(stmt(
        db,
        &format!(
            "INSERT INTO shop_carts ({col}, created_at, updated_at) VALUES ($1, $2, $2) \
             ON CONFLICT ({col}) DO UPDATE SET updated_at = excluded.updated_at RETURNING id"
        ),
        vec![val, now().into()],
    ))
    .one(db)
    .await?
    .map(|r| r.id)
    .ok_or_else(|| AppError::not_found("cart"))
}

/// The id of `owner`'s cart, if it has one.
pub async fn find(db: &impl ConnectionTrait, owner: &Owner) -> Result<Option<i64>> {
    let (col, val): (&str, sea_orm::Value) = match owner {
        Owner::User(id) => ("user_id", (*id).into()),
        Owner::Session(t) => ("session_key", t.clone().into()),
    };
    Ok(Id::find_by_statement(stmt(
        db,
        &format!("SELECT id FROM shop_carts WHERE {col} = $1"),
        vec![val],
    ))
    .one(db)
    .await?
    .map(|r| r.id))
}

/// The id of `user_id`'s cart, its row locked until `txn` ends (on PostgreSQL; SQLite serializes write
/// transactions already). A checkout holds it, so the same user's checkouts take turns and an item added
/// meanwhile waits rather than being cleared with the cart.
pub async fn lock_user_cart(txn: &DatabaseTransaction, user_id: i64) -> Result<Option<i64>> {
    let lock = match txn.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => " FOR UPDATE",
        _ => "",
    };
    Ok(Id::find_by_statement(stmt(
        txn,
        &format!("SELECT id FROM shop_carts WHERE user_id = $1{lock}"),
        vec![user_id.into()],
    ))
    .one(txn)
    .await?
    .map(|r| r.id))
}

/// Moves the session cart `token` into `user_id`'s cart (quantities add, capped at [`MAX_QUANTITY`];
/// lines in another currency than the user's cart are dropped) and deletes it.
pub async fn merge(state: &AppState, user_id: i64, token: &str) -> Result<()> {
    let txn = state.db.begin().await?;
    // Two requests of one browser may both find the session cart; the second waits, then finds it gone.
    crate::db::lock(&txn, "shop-cart-merge", token).await?;
    let from = find(&txn, &Owner::Session(token.to_string())).await?;
    if let Some(from) = from {
        let into = ensure(&txn, &Owner::User(user_id)).await?;
        let mine = lines(&txn, into).await?;
        let mut currency = mine.first().map(|l| l.currency.clone());
        for l in lines(&txn, from).await? {
            if currency.as_ref().is_some_and(|c| *c != l.currency) {
                continue;
            }
            currency = Some(l.currency.clone());
            upsert(&txn, into, l.variant_id, l.quantity as i64).await?;
        }
        txn.execute_raw(stmt(
            &txn,
            "DELETE FROM shop_carts WHERE id = $1",
            vec![from.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The cart's lines with their variants as they are now, in the order they were added.
pub async fn lines(db: &impl ConnectionTrait, cart_id: i64) -> Result<Vec<Line>> {
    Ok(Line::find_by_statement(stmt(
        db,
        "SELECT i.variant_id, v.product_id, v.sku, v.name AS variant_name, p.name AS product_name, \
                p.slug AS product_slug, p.currency, p.active, v.price AS unit_price, v.stock, i.quantity \
         FROM shop_cart_items i JOIN shop_variants v ON v.id = i.variant_id \
         JOIN shop_products p ON p.id = v.product_id \
         WHERE i.cart_id = $1 ORDER BY i.id",
        vec![cart_id.into()],
    ))
    .all(db)
    .await?)
}

/// The cart of `owner` with its totals (an empty summary when it has none).
pub async fn summary(db: &impl ConnectionTrait, owner: Option<&Owner>) -> Result<Summary> {
    let Some(owner) = owner else {
        return Ok(Summary::default());
    };
    let Some(id) = find(db, owner).await? else {
        return Ok(Summary::default());
    };
    summarize(db, id).await
}

/// The summary of cart `cart_id`.
pub async fn summarize(db: &impl ConnectionTrait, cart_id: i64) -> Result<Summary> {
    let lines = lines(db, cart_id).await?;
    let items_total = lines
        .iter()
        .fold(0i64, |acc, l| acc.saturating_add(l.line_total()));
    let count = lines.iter().map(|l| l.quantity as i64).sum();
    Ok(Summary {
        cart_id: Some(cart_id),
        currency: lines.first().map(|l| l.currency.clone()),
        lines,
        items_total,
        count,
    })
}

/// Units in the signed-in user's cart, for the site's navigation (no merge, no writes).
pub async fn count_for_user(db: &impl ConnectionTrait, user_id: i64) -> Result<i64> {
    #[derive(FromQueryResult)]
    struct N {
        n: Option<i64>,
    }
    let n = N::find_by_statement(stmt(
        db,
        "SELECT CAST(SUM(i.quantity) AS BIGINT) AS n FROM shop_cart_items i \
         JOIN shop_carts c ON c.id = i.cart_id WHERE c.user_id = $1",
        vec![user_id.into()],
    ))
    .one(db)
    .await?;
    Ok(n.and_then(|r| r.n).unwrap_or(0))
}

/// A quantity as sent: a whole number from `min` to [`MAX_QUANTITY`].
pub fn check_quantity(q: i64, min: i64) -> Result<i64> {
    if (min..=MAX_QUANTITY).contains(&q) {
        Ok(q)
    } else {
        Err(AppError::invalid(
            "quantity",
            format!("must be a whole number from {min} to {MAX_QUANTITY}"),
        ))
    }
}

/// Adds `quantity` of a variant on cart `cart_id` (on top of a line already there), capped at
/// [`MAX_QUANTITY`]. The cart's `updated_at` is set by [`ensure`], which every caller runs first.
async fn upsert(
    db: &impl ConnectionTrait,
    cart_id: i64,
    variant_id: i64,
    quantity: i64,
) -> Result<()> {
    db.execute_raw(stmt(
        db,
        "INSERT INTO shop_cart_items (cart_id, variant_id, quantity, added_at) VALUES ($1, $2, $3, $5) \
         ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = \
           CASE WHEN shop_cart_items.quantity + excluded.quantity > $4 THEN $4 \
                ELSE shop_cart_items.quantity + excluded.quantity END",
        vec![
            cart_id.into(),
            variant_id.into(),
            (quantity.min(MAX_QUANTITY) as i32).into(),
            (MAX_QUANTITY as i32).into(),
            now().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Checks a variant may go in the cart: it exists, its product is on sale, and it is in the cart's
/// currency.
/// Answers the cart's lines.
async fn check_variant(
    db: &impl ConnectionTrait,
    cart_id: i64,
    variant_id: i64,
) -> Result<Vec<Line>> {
    let v = crate::shop::models::variant(db, variant_id)
        .await?
        .filter(|v| v.active)
        .ok_or_else(|| AppError::invalid("variant", "no such variant on sale"))?;
    let others = lines(db, cart_id).await?;
    if let Some(o) = others
        .iter()
        .find(|l| l.variant_id != variant_id && l.currency != v.currency)
    {
        return Err(AppError::invalid(
            "variant",
            format!(
                "is priced in {}, but the cart is in {}; check out or clear the cart first",
                v.currency, o.currency
            ),
        ));
    }
    Ok(others)
}

/// Adds `quantity` of a variant to `owner`'s cart (on top of a line already there). Returns the cart's
/// id and whether a new line was made.
pub async fn add(
    state: &AppState,
    owner: &Owner,
    variant_id: i64,
    quantity: i64,
) -> Result<(i64, bool)> {
    let quantity = check_quantity(quantity, 1)?;
    let txn = state.db.begin().await?;
    // `ensure` updates the cart row first, so a second add for the same cart waits here until this one
    // commits: `present` then already holds this one's line.
    let cart = ensure(&txn, owner).await?;
    let present = check_variant(&txn, cart, variant_id).await?;
    let new = !present.iter().any(|l| l.variant_id == variant_id);
    if new && present.len() as i64 >= MAX_LINES {
        return Err(AppError::invalid(
            "variant",
            format!("a cart holds at most {MAX_LINES} different items"),
        ));
    }
    upsert(&txn, cart, variant_id, quantity).await?;
    txn.commit().await?;
    Ok((cart, new))
}

/// Sets a line's quantity; 0 removes it. A variant not in the cart is a 404.
pub async fn set_quantity(
    state: &AppState,
    owner: &Owner,
    variant_id: i64,
    quantity: i64,
) -> Result<()> {
    let quantity = check_quantity(quantity, 0)?;
    if quantity == 0 {
        return remove(state, owner, variant_id).await;
    }
    let txn = state.db.begin().await?;
    let cart = find(&txn, owner)
        .await?
        .ok_or_else(|| AppError::not_found("item"))?;
    let res = txn
        .execute_raw(stmt(
            &txn,
            "UPDATE shop_cart_items SET quantity = $3 WHERE cart_id = $1 AND variant_id = $2",
            vec![cart.into(), variant_id.into(), (quantity as i32).into()],
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Err(AppError::not_found("item"));
    }
    txn.commit().await?;
    Ok(())
}

/// Removes a line; a variant not in the cart is a 404.
pub async fn remove(state: &AppState, owner: &Owner, variant_id: i64) -> Result<()> {
    let Some(cart) = find(&state.db, owner).await? else {
        return Err(AppError::not_found("item"));
    };
    let res = state
        .db
        .execute_raw(stmt(
            &state.db,
            "DELETE FROM shop_cart_items WHERE cart_id = $1 AND variant_id = $2",
            vec![cart.into(), variant_id.into()],
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Err(AppError::not_found("item"));
    }
    Ok(())
}

/// Empties `owner`'s cart.
pub async fn clear(db: &impl ConnectionTrait, owner: &Owner) -> Result<()> {
    if let Some(cart) = find(db, owner).await? {
        clear_id(db, cart).await?;
    }
    Ok(())
}

/// Empties cart `cart_id`.
pub async fn clear_id(db: &impl ConnectionTrait, cart_id: i64) -> Result<()> {
    db.execute_raw(stmt(
        db,
        "DELETE FROM shop_cart_items WHERE cart_id = $1",
        vec![cart_id.into()],
    ))
    .await?;
    Ok(())
}

/// A variant id from a path or form field; anything else is the 404 a missing line gets.
pub fn parse_variant(raw: &str) -> Result<i64> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AppError::not_found("item"))
}
