//! Payment: a [`PaymentGateway`] charges a card for an order (the seam a real card gateway plugs into),
//! and signed webhooks confirm the charges a gateway settles later. [`SimulatedGateway`] answers as a
//! gateway's test mode does, by card number.
//!
//! Webhooks carry `Trellis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; a
//! bad or stale signature changes nothing, and an event id seen before is acknowledged and ignored.

use std::sync::Arc;

use chrono::{Datelike, Utc};
use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::error::{AppError, FieldErrors, Result};
use crate::jobs::{JobCtx, JobError};
use crate::shop::models::{self, Order, OrderStatus, Transition};
use crate::state::AppState;

/// The job that delivers the simulated gateway's asynchronous confirmation.
pub const DELIVER_WEBHOOK: &str = "shop.deliver_webhook";
/// The webhook's signature header.
pub const SIGNATURE_HEADER: &str = "trellis-signature";
/// How old a webhook's timestamp may be.
pub const TOLERANCE_SECS: i64 = 300;
/// How long the simulated gateway takes to confirm an asynchronous payment.
pub const SIMULATED_CONFIRM_SECS: u64 = 2;

/// A card as the customer typed it, checked (the number never leaves the charge call).
#[derive(Clone)]
pub struct Card {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: i32,
    pub cvc: String,
}

impl Card {
    pub fn last4(&self) -> String {
        self.number[self.number.len().saturating_sub(4)..].to_string()
    }
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Card(…{})", self.last4())
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Checks the card fields, naming each bad one: `card_number` (12–19 digits passing the Luhn check;
/// spaces and dashes are ignored), `exp_month` (1–12), `exp_year` (this month or later), `cvc` (3–4
/// digits).
pub fn check_card(number: &str, exp_month: i64, exp_year: i64, cvc: &str) -> Result<Card> {
    let mut errors = FieldErrors::new();
    let digits: String = number
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .take(40)
        .collect();
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        errors.add("card_number", "must be 12 to 19 digits");
    } else if !luhn(&digits) {
        errors.add("card_number", "is not a valid card number");
    }
    if !(1..=12).contains(&exp_month) {
        errors.add("exp_month", "must be from 1 to 12");
    }
    let year = if (0..100).contains(&exp_year) {
        2000 + exp_year
    } else {
        exp_year
    };
    let today = Utc::now().date_naive();
    if !(2000..=2100).contains(&year) {
        errors.add("exp_year", "must be a year such as 2030");
    } else if (1..=12).contains(&exp_month)
        && (year as i32, exp_month as u32) < (today.year(), today.month())
    {
        errors.add("exp_year", "the card has expired");
    }
    let cvc = cvc.trim();
    if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        errors.add("cvc", "must be 3 or 4 digits");
    }
    errors.into_result()?;
    Ok(Card {
        number: digits,
        exp_month: exp_month as u32,
        exp_year: year as i32,
        cvc: cvc.to_string(),
    })
}

/// What a gateway answered a charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The money is taken.
    Succeeded { reference: String },
    /// The card was refused; trying again will not help.
    Declined { reason: String },
    /// Something failed on the way; the customer may try again.
    Retry { reason: String },
    /// Accepted, to be confirmed later by webhook.
    Pending { reference: String },
}

/// A card gateway.
#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Its name, as payments record it (at most 32 characters).
    fn name(&self) -> &'static str;
    /// Charges `order`'s grand total to `card`.
    async fn charge(&self, state: &AppState, order: &Order, card: &Card) -> Outcome;
}

/// A gateway in test mode: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined; 4000 0000
/// 0000 0119 has a processing error (try again); 4000 0025 0000 3155 needs asynchronous confirmation,
/// which arrives as a signed webhook a couple of seconds later. Any other number is declined.
pub struct SimulatedGateway;

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_RETRY: &str = "4000000000000119";
pub const CARD_ASYNC: &str = "4000002500003155";

fn new_reference() -> String {
    format!("sim_{}", uuid::Uuid::new_v4().simple())
}

#[async_trait::async_trait]
impl PaymentGateway for SimulatedGateway {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn charge(&self, state: &AppState, _order: &Order, card: &Card) -> Outcome {
        match card.number.as_str() {
            CARD_OK => Outcome::Succeeded {
                reference: new_reference(),
            },
            CARD_RETRY => Outcome::Retry {
                reason: "processing error, try again".into(),
            },
            CARD_ASYNC => {
                let reference = new_reference();
                let queued = crate::jobs::enqueue_after(
                    &state.db,
                    DELIVER_WEBHOOK,
                    None,
                    &json!({"reference": reference, "type": "payment.succeeded"}),
                    5,
                    std::time::Duration::from_secs(SIMULATED_CONFIRM_SECS),
                )
                .await;
                match queued {
                    Ok(_) => {
                        crate::jobs::wake(state);
                        Outcome::Pending { reference }
                    }
                    Err(_) => Outcome::Retry {
                        reason: "processing error, try again".into(),
                    },
                }
            }
            CARD_DECLINED => Outcome::Declined {
                reason: "the card was declined".into(),
            },
            _ => Outcome::Declined {
                reason: "the card is not accepted".into(),
            },
        }
    }
}

/// The gateway this instance charges through: one placed in the state's extensions, else the simulated
/// one.
pub fn gateway(state: &AppState) -> Arc<dyn PaymentGateway> {
    state
        .extensions
        .get::<Arc<dyn PaymentGateway>>()
        .cloned()
        .unwrap_or_else(|| Arc::new(SimulatedGateway))
}

/// What paying answered.
pub enum Paid {
    /// The order is paid.
    Succeeded(Order),
    /// The payment awaits the gateway's confirmation; the order stays pending.
    Pending(Order),
    /// Refused (402).
    Declined(String),
    /// A failure the customer may retry (409).
    Retry(String),
}

fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

async fn insert_payment(
    db: &impl ConnectionTrait,
    order: &Order,
    gateway: &str,
    reference: &str,
    status: &str,
    card: &Card,
    message: &str,
) -> Result<()> {
    let now = Utc::now();
    db.execute_raw(stmt(
        db,
        "INSERT INTO shop_payments (order_id, gateway, reference, status, amount, card_last4, message, \
            created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        vec![
            order.id.into(),
            gateway.chars().take(32).collect::<String>().into(),
            reference.chars().take(64).collect::<String>().into(),
            status.into(),
            order.grand_total.into(),
            card.last4().into(),
            message.chars().take(200).collect::<String>().into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Marks `order` (read in `txn` after [`models::lock_order`]) paid with its grand total, or, when it is
/// no longer pending, records that the money came in and a refund is due.
async fn settle(txn: &impl ConnectionTrait, order: &Order, reference: &str) -> Result<bool> {
    if order.status() == OrderStatus::Pending {
        models::transition(
            txn,
            order,
            Transition {
                to: OrderStatus::Paid,
                actor_id: None,
                note: &format!("payment {reference} succeeded"),
                amount: Some(order.grand_total),
            },
        )
        .await?;
        txn.execute_raw(stmt(
            txn,
            "UPDATE shop_orders SET paid_amount = grand_total, expires_at = NULL WHERE id = $1",
            vec![order.id.into()],
        ))
        .await?;
        Ok(true)
    } else {
        models::record_event(
            txn,
            order.id,
            order.status(),
            None,
            &format!(
                "payment {reference} succeeded while the order was {}; a refund is due",
                order.status().as_str()
            ),
            Some(order.grand_total),
        )
        .await?;
        Ok(false)
    }
}

/// Charges `card` for `user_id`'s pending order `number`. Someone else's order is 404; one no longer
/// pending is 409 naming `status`.
pub async fn pay(state: &AppState, user_id: i64, number: &str, card: &Card) -> Result<Paid> {
    let order = models::order_by_number(&state.db, number)
        .await?
        .filter(|o| o.user_id == Some(user_id))
        .ok_or_else(|| AppError::not_found("order"))?;
    if order.status() != OrderStatus::Pending {
        return Err(models::invalid_transition(
            order.status(),
            OrderStatus::Paid,
        ));
    }
    let gw = gateway(state);
    let outcome = gw.charge(state, &order, card).await;
    let txn = state.db.begin().await?;
    models::lock_order(&txn, order.id).await?;
    let order = models::order_by_id(&txn, order.id)
        .await?
        .ok_or_else(|| AppError::not_found("order"))?;
    let answer = match outcome {
        Outcome::Succeeded { reference } => {
            insert_payment(&txn, &order, gw.name(), &reference, "succeeded", card, "").await?;
            if !settle(&txn, &order, &reference).await? {
                txn.commit().await?;
                return Err(models::invalid_transition(
                    order.status(),
                    OrderStatus::Paid,
                ));
            }
            Paid::Succeeded(order)
        }
        Outcome::Pending { reference } => {
            insert_payment(
                &txn,
                &order,
                gw.name(),
                &reference,
                "pending",
                card,
                "awaiting confirmation",
            )
            .await?;
            models::record_event(
                &txn,
                order.id,
                OrderStatus::Pending,
                Some(user_id),
                "payment awaiting the gateway's confirmation",
                Some(order.grand_total),
            )
            .await?;
            Paid::Pending(order)
        }
        Outcome::Declined { reason } => {
            let reference = new_reference();
            insert_payment(
                &txn,
                &order,
                gw.name(),
                &reference,
                "declined",
                card,
                &reason,
            )
            .await?;
            models::record_event(
                &txn,
                order.id,
                OrderStatus::Pending,
                Some(user_id),
                &format!("payment declined: {reason}"),
                None,
            )
            .await?;
            Paid::Declined(reason)
        }
        Outcome::Retry { reason } => {
            let reference = new_reference();
            insert_payment(&txn, &order, gw.name(), &reference, "failed", card, &reason).await?;
            models::record_event(
                &txn,
                order.id,
                OrderStatus::Pending,
                Some(user_id),
                &format!("payment failed: {reason}"),
                None,
            )
            .await?;
            Paid::Retry(reason)
        }
    };
    txn.commit().await?;
    if let Paid::Succeeded(order) = &answer {
        let fresh = models::order_by_id(&state.db, order.id)
            .await?
            .unwrap_or_else(|| order.clone());
        confirm_by_email(state, &fresh).await;
        return Ok(Paid::Succeeded(fresh));
    }
    if let Paid::Pending(order) = &answer {
        return Ok(Paid::Pending(order.clone()));
    }
    Ok(answer)
}

/// Emails the customer that `order` is paid; a failure is logged, never the customer's problem.
pub async fn confirm_by_email(state: &AppState, order: &Order) {
    if order.email.is_empty() {
        return;
    }
    let body = format!(
        "Thank you for your order {number}.\n\nWe have received your payment of {total}. \
         You can follow your order at {base}/shop/orders/{number}\n",
        number = order.number,
        total = crate::shop::money::format(order.grand_total, &order.currency),
        base = state.settings.base_url(),
    );
    if let Err(e) = state
        .mailer
        .send(
            &order.email,
            &format!("Order {} confirmed", order.number),
            body,
        )
        .await
    {
        tracing::warn!(order = %order.number, "order confirmation email failed: {e:#}");
    }
}

// ---------------------------------------------------------------- webhooks

type HmacSha256 = Hmac<Sha256>;

/// The key webhooks are signed with: the configured one, else one derived from the secret key.
pub fn webhook_secret(state: &AppState) -> Vec<u8> {
    if let Some(s) = &state.settings.shop_webhook_secret {
        return s.expose().as_bytes().to_vec();
    }
    let mut mac = HmacSha256::new_from_slice(state.secret_key.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(b"trellis.shop.webhook-secret");
    hex::encode(mac.finalize().into_bytes()).into_bytes()
}

/// The signature header for `body` sent at `t`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn bad(msg: &str) -> AppError {
    AppError::bad_request("signature", msg)
}

/// How many `v1=` signatures of one header are tried (a secret being rotated needs two).
const MAX_SIGNATURES: usize = 4;

/// The largest webhook body accepted: an event is a few hundred bytes.
pub const WEBHOOK_MAX_BYTES: usize = 64 * 1024;

/// Checks `header` signs `body` with `secret` within [`TOLERANCE_SECS`] of `now` (unix seconds).
pub fn verify(secret: &[u8], header: Option<&str>, body: &[u8], now: i64) -> Result<()> {
    let header = header.ok_or_else(|| bad("the Trellis-Signature header is missing"))?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| bad("the signature has no timestamp"))?;
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(bad("the signature's timestamp is too old"));
    }
    // The body is hashed once, whatever the number of signatures offered; each is then compared in
    // constant time against a copy of that state.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let ok = sigs.iter().take(MAX_SIGNATURES).any(|s| {
        let Ok(raw) = hex::decode(s) else {
            return false;
        };
        mac.clone().verify_slice(&raw).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(bad("the signature does not match"))
    }
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    reference: String,
}

#[derive(FromQueryResult)]
struct PaymentRow {
    id: i64,
    order_id: i64,
    status: String,
}

/// Handles one webhook delivery: verifies the signature, then applies the event once. This is what the
/// HTTP route and the simulated gateway's delivery job both call.
pub async fn handle_webhook(state: &AppState, signature: Option<&str>, body: &[u8]) -> Result<()> {
    verify(
        &webhook_secret(state),
        signature,
        body,
        Utc::now().timestamp(),
    )?;
    let event: Event = serde_json::from_slice(body)
        .map_err(|_| AppError::bad_request("body", "is not a payment event"))?;
    if event.id.is_empty() || event.id.len() > 64 || event.reference.len() > 64 {
        return Err(AppError::bad_request("id", "must be 1 to 64 characters"));
    }
    let succeeded = match event.kind.as_str() {
        "payment.succeeded" => true,
        "payment.failed" => false,
        _ => return Err(AppError::bad_request("type", "is not a payment event")),
    };
    let txn = state.db.begin().await?;
    let fresh = txn
        .execute_raw(stmt(
            &txn,
            "INSERT INTO shop_webhook_events (event_id, kind, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT (event_id) DO NOTHING",
            vec![
                event.id.clone().into(),
                event.kind.clone().into(),
                Utc::now().into(),
            ],
        ))
        .await?
        .rows_affected()
        > 0;
    if !fresh {
        return Ok(());
    }
    let payment = PaymentRow::find_by_statement(stmt(
        &txn,
        "SELECT id, order_id, status FROM shop_payments WHERE reference = $1",
        vec![event.reference.clone().into()],
    ))
    .one(&txn)
    .await?;
    let mut paid = None;
    if let Some(p) = payment.filter(|p| p.status == "pending") {
        models::lock_order(&txn, p.order_id).await?;
        let order = models::order_by_id(&txn, p.order_id).await?;
        txn.execute_raw(stmt(
            &txn,
            "UPDATE shop_payments SET status = $2, message = $3, updated_at = $4 WHERE id = $1",
            vec![
                p.id.into(),
                if succeeded { "succeeded" } else { "failed" }.into(),
                if succeeded {
                    "confirmed"
                } else {
                    "failed at the gateway"
                }
                .into(),
                Utc::now().into(),
            ],
        ))
        .await?;
        if let Some(order) = order {
            if succeeded {
                if settle(&txn, &order, &event.reference).await? {
                    paid = Some(order.id);
                }
            } else {
                models::record_event(
                    &txn,
                    order.id,
                    order.status(),
                    None,
                    &format!("payment {} failed at the gateway", event.reference),
                    None,
                )
                .await?;
            }
        }
    }
    txn.commit().await?;
    if let Some(id) = paid
        && let Some(order) = models::order_by_id(&state.db, id).await?
    {
        confirm_by_email(state, &order).await;
    }
    Ok(())
}

/// The job behind the simulated gateway's asynchronous confirmations: builds the signed event the
/// gateway would send and hands it to the webhook's own handler.
pub async fn deliver_webhook(ctx: JobCtx) -> std::result::Result<Value, JobError> {
    let payload = ctx.payload();
    let reference = payload["reference"]
        .as_str()
        .ok_or_else(|| JobError::Failed("no reference".into()))?;
    let kind = payload["type"].as_str().unwrap_or("payment.succeeded");
    let body = json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "type": kind,
        "reference": reference,
    })
    .to_string();
    let header = sign(
        &webhook_secret(&ctx.state),
        Utc::now().timestamp(),
        body.as_bytes(),
    );
    handle_webhook(&ctx.state, Some(&header), body.as_bytes())
        .await
        .map_err(|e| match e {
            AppError::BadRequest(_, m) => JobError::Failed(m),
            other => JobError::Internal(anyhow::anyhow!("{other}")),
        })?;
    Ok(json!({"delivered": reference}))
}
