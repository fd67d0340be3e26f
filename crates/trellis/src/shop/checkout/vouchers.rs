//! Vouchers: a percentage or a fixed amount off the items, within a validity window, above a minimum
//! order, with an overall usage limit and one per customer.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use crate::error::{AppError, FieldErrors, Result};
use crate::shop::money;

#[derive(Clone, Debug, FromQueryResult)]
pub struct Voucher {
    pub id: i64,
    pub code: String,
    pub kind: String,
    pub value: i64,
    pub currency: Option<String>,
    pub min_order: i64,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub used: i32,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, code, kind, value, currency, min_order, starts_at, ends_at, usage_limit, \
     per_customer_limit, used, active, created_at";

/// A code as stored: trimmed and upper-cased.
pub fn normalize_code(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

/// A code a manager sets: 3 to 32 letters, digits, `-` or `_`.
pub fn check_code(raw: &str) -> std::result::Result<String, String> {
    let c = normalize_code(raw);
    if (3..=32).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(c)
    } else {
        Err("must be 3 to 32 letters, digits, `-` or `_`".into())
    }
}

fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

pub async fn by_code(db: &impl ConnectionTrait, code: &str) -> Result<Option<Voucher>> {
    let code = normalize_code(code);
    if code.is_empty() || code.len() > 32 {
        return Ok(None);
    }
    Ok(Voucher::find_by_statement(stmt(
        db,
        &format!("SELECT {COLUMNS} FROM shop_vouchers WHERE code = $1"),
        vec![code.into()],
    ))
    .one(db)
    .await?)
}

pub async fn by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<Voucher>> {
    Ok(Voucher::find_by_statement(stmt(
        db,
        &format!("SELECT {COLUMNS} FROM shop_vouchers WHERE id = $1"),
        vec![id.into()],
    ))
    .one(db)
    .await?)
}

/// Every voucher, newest first, one page of them, and how many there are.
pub async fn list(
    db: &impl ConnectionTrait,
    window: crate::db::Window,
) -> Result<(Vec<Voucher>, u64)> {
    #[derive(FromQueryResult)]
    struct N {
        n: i64,
    }
    let n = N::find_by_statement(stmt(db, "SELECT COUNT(*) AS n FROM shop_vouchers", vec![]))
        .one(db)
        .await?
        .map(|r| r.n)
        .unwrap_or(0);
    let rows = Voucher::find_by_statement(stmt(
        db,
        &format!("SELECT {COLUMNS} FROM shop_vouchers ORDER BY id DESC LIMIT $1 OFFSET $2"),
        vec![(window.limit as i64).into(), (window.offset as i64).into()],
    ))
    .all(db)
    .await?;
    Ok((rows, n.max(0) as u64))
}

/// Orders of `user_id` that took `voucher_id` and were not cancelled.
pub async fn uses_by(db: &impl ConnectionTrait, voucher_id: i64, user_id: i64) -> Result<i64> {
    #[derive(FromQueryResult)]
    struct N {
        n: i64,
    }
    Ok(N::find_by_statement(stmt(
        db,
        "SELECT COUNT(*) AS n FROM shop_orders WHERE voucher_id = $1 AND user_id = $2 \
         AND status <> 'cancelled'",
        vec![voucher_id.into(), user_id.into()],
    ))
    .one(db)
    .await?
    .map(|r| r.n)
    .unwrap_or(0))
}

fn refuse(msg: impl Into<String>) -> AppError {
    AppError::Validation(FieldErrors::single("voucher", msg))
}

/// The discount `v` gives `user_id` on `items_total` in `currency` now (never more than the items), or
/// the 422 naming `voucher` with the rule it breaks. The overall limit is checked here for a clear
/// message, and again by the conditional update that counts the use.
pub async fn evaluate(
    db: &impl ConnectionTrait,
    v: &Voucher,
    user_id: i64,
    currency: &str,
    items_total: i64,
) -> Result<i64> {
    let now = Utc::now();
    if !v.active {
        return Err(refuse("this voucher is no longer valid"));
    }
    if v.starts_at.is_some_and(|s| now < s) {
        return Err(refuse("this voucher is not valid yet"));
    }
    if v.ends_at.is_some_and(|e| now >= e) {
        return Err(refuse("this voucher has expired"));
    }
    if v.kind == "fixed" && v.currency.as_deref() != Some(currency) {
        return Err(refuse(format!(
            "this voucher is in {}, the cart in {currency}",
            v.currency.as_deref().unwrap_or("another currency")
        )));
    }
    if items_total < v.min_order {
        return Err(refuse(format!(
            "needs an order of at least {}",
            money::format(v.min_order, currency)
        )));
    }
    if v.usage_limit.is_some_and(|l| v.used >= l) {
        return Err(refuse("this voucher has been used up"));
    }
    if let Some(limit) = v.per_customer_limit
        && uses_by(db, v.id, user_id).await? >= limit as i64
    {
        return Err(refuse("you have already used this voucher"));
    }
    Ok(discount(v, items_total))
}

/// What `v` takes off `items_total`.
pub fn discount(v: &Voucher, items_total: i64) -> i64 {
    let d = if v.kind == "percent" {
        money::percent_of(items_total, v.value)
    } else {
        v.value
    };
    d.clamp(0, items_total)
}

/// Counts one use, unless the limit is reached (then 409 naming `voucher`).
pub async fn take(db: &impl ConnectionTrait, id: i64) -> Result<()> {
    let res = db
        .execute_raw(stmt(
            db,
            "UPDATE shop_vouchers SET used = used + 1 \
             WHERE id = $1 AND (usage_limit IS NULL OR used < usage_limit)",
            vec![id.into()],
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Err(AppError::Conflict(FieldErrors::single(
            "voucher",
            "this voucher has been used up",
        )));
    }
    Ok(())
}

/// A voucher's settings, checked.
#[derive(Clone, Debug)]
pub struct Fields {
    pub code: String,
    pub kind: String,
    pub value: i64,
    pub currency: Option<String>,
    pub min_order: i64,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    pub active: bool,
}

impl Fields {
    pub fn of(v: &Voucher) -> Fields {
        Fields {
            code: v.code.clone(),
            kind: v.kind.clone(),
            value: v.value,
            currency: v.currency.clone(),
            min_order: v.min_order,
            starts_at: v.starts_at,
            ends_at: v.ends_at,
            usage_limit: v.usage_limit,
            per_customer_limit: v.per_customer_limit,
            active: v.active,
        }
    }

    /// The rules across fields; errors named by field.
    pub fn check(&self, errors: &mut FieldErrors) {
        match self.kind.as_str() {
            "percent" => {
                if !(1..=100).contains(&self.value) {
                    errors.add("value", "a percentage must be from 1 to 100");
                }
            }
            "fixed" => {
                if !(1..=money::MAX_AMOUNT).contains(&self.value) {
                    errors.add(
                        "value",
                        format!("must be from 1 to {} (minor units)", money::MAX_AMOUNT),
                    );
                }
                if self.currency.is_none() {
                    errors.add("currency", "a fixed voucher needs a currency");
                }
            }
            _ => errors.add("kind", "must be `percent` or `fixed`"),
        }
        if let (Some(s), Some(e)) = (self.starts_at, self.ends_at)
            && e <= s
        {
            errors.add("ends_at", "must be after starts_at");
        }
        if let Some(u) = self.usage_limit
            && u < 0
        {
            errors.add("usage_limit", "must not be negative");
        }
    }
}

/// Creates a voucher; a code already taken is 409 naming `code`.
pub async fn create(db: &impl ConnectionTrait, f: &Fields) -> Result<Voucher> {
    if by_code(db, &f.code).await?.is_some() {
        return Err(AppError::Conflict(FieldErrors::single(
            "code",
            "is already taken",
        )));
    }
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    let row = Id::find_by_statement(stmt(
        db,
        "INSERT INTO shop_vouchers (code, kind, value, currency, min_order, starts_at, ends_at, \
            usage_limit, per_customer_limit, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        vec![
            f.code.clone().into(),
            f.kind.clone().into(),
            f.value.into(),
            f.currency.clone().into(),
            f.min_order.into(),
            f.starts_at.into(),
            f.ends_at.into(),
            f.usage_limit.into(),
            f.per_customer_limit.into(),
            f.active.into(),
            Utc::now().into(),
        ],
    ))
    .one(db)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict(FieldErrors::single("code", "is already taken"))
        }
        _ => e.into(),
    })?
    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("voucher insert returned nothing")))?;
    by_id(db, row.id)
        .await?
        .ok_or_else(|| AppError::not_found("voucher"))
}

/// Saves `f` over voucher `id`. A usage limit below the uses already counted is 409 naming
/// `usage_limit`.
pub async fn update(db: &impl ConnectionTrait, id: i64, f: &Fields) -> Result<Voucher> {
    if let Some(other) = by_code(db, &f.code).await?
        && other.id != id
    {
        return Err(AppError::Conflict(FieldErrors::single(
            "code",
            "is already taken",
        )));
    }
    let res = db
        .execute_raw(stmt(
            db,
            "UPDATE shop_vouchers SET code = $2, kind = $3, value = $4, currency = $5, min_order = $6, \
                starts_at = $7, ends_at = $8, usage_limit = $9, per_customer_limit = $10, active = $11 \
             WHERE id = $1 AND ($9 IS NULL OR used <= $9)",
            vec![
                id.into(),
                f.code.clone().into(),
                f.kind.clone().into(),
                f.value.into(),
                f.currency.clone().into(),
                f.min_order.into(),
                f.starts_at.into(),
                f.ends_at.into(),
                f.usage_limit.into(),
                f.per_customer_limit.into(),
                f.active.into(),
            ],
        ))
        .await
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                AppError::Conflict(FieldErrors::single("code", "is already taken"))
            }
            _ => e.into(),
        })?;
    if res.rows_affected() == 0 {
        return Err(match by_id(db, id).await? {
            None => AppError::not_found("voucher"),
            Some(v) => AppError::Conflict(FieldErrors::single(
                "usage_limit",
                format!("is below the {} uses already counted", v.used),
            )),
        });
    }
    by_id(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("voucher"))
}
