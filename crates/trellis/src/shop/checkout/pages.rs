//! The cart and checkout pages: plain forms, so it all works without JavaScript. Anonymous visitors get
//! a cart kept in their session; checking out needs an account.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;

use super::cart::{self, Summary};
use super::payment::{self, Paid};
use super::{Address, vouchers};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::auth::{RequireUser, safe_next};
use crate::http::templates::Ctx;
use crate::shop::money;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/shop/cart", get(cart_page))
        .route("/shop/cart/add", post(add))
        .route("/shop/cart/update", post(update))
        .route("/shop/cart/remove", post(remove))
        .route("/shop/cart/clear", post(clear))
        .route("/shop/checkout", get(checkout_form).post(checkout))
}

fn lines_value(s: &Summary) -> Vec<Value> {
    let cur = s.currency.clone().unwrap_or_default();
    s.lines
        .iter()
        .map(|l| {
            context! {
                variant => l.variant_id,
                sku => l.sku,
                product => l.product_name,
                product_slug => l.product_slug,
                name => l.variant_name,
                unit_price => money::format(l.unit_price, &cur),
                quantity => l.quantity,
                line_total => money::format(l.line_total(), &cur),
                available => l.available(),
                active => l.active,
                stock => l.stock,
            }
        })
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CartQuery {
    voucher: String,
}

async fn cart_page(ctx: Ctx, Query(q): Query<CartQuery>) -> Result<Response> {
    let owner = cart::owner(&ctx.state, ctx.user.as_deref(), &ctx.session, false).await?;
    let s = cart::summary(&ctx.state.db, owner.as_ref()).await?;
    let cur = s.currency.clone().unwrap_or_else(|| "USD".into());
    let code = vouchers::normalize_code(&q.voucher);
    let code = if code.len() <= 32 {
        code
    } else {
        String::new()
    };
    let mut voucher_error = String::new();
    let mut discount = 0;
    if !code.is_empty() && !s.is_empty() {
        match vouchers::by_code(&ctx.state.db, &code).await? {
            None => voucher_error = "no such voucher".into(),
            Some(v) => {
                let user_id = ctx.user.as_ref().map(|u| u.id).unwrap_or(0);
                match vouchers::evaluate(&ctx.state.db, &v, user_id, &cur, s.items_total).await {
                    Ok(d) => discount = d,
                    Err(AppError::Validation(e)) => {
                        voucher_error = e.get("voucher").join("; ");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    ctx.render(
        "shop/cart.html",
        context! {
            lines => lines_value(&s),
            empty => s.is_empty(),
            count => s.count,
            items_total => money::format(s.items_total, &cur),
            discount => if discount > 0 { money::format(discount, &cur) } else { String::new() },
            after_discount => money::format(s.items_total - discount, &cur),
            voucher => code,
            voucher_error => voucher_error,
            signed_in => ctx.user.is_some(),
        },
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LineForm {
    variant: String,
    quantity: String,
    next: String,
}

fn number(raw: &str, field: &str) -> Result<i64> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| AppError::invalid(field, "must be a whole number"))
}

/// Runs a cart change and goes back where the form came from; a refusal is shown there as a message.
async fn after(ctx: &Ctx, done: Result<()>, next: &str) -> Result<Response> {
    after_keeping(ctx, done, next, None).await
}

/// As [`after`]; when the change is refused, `kept` (the form's own fields) goes back to `next` in its
/// query, so the form there shows what was chosen rather than its defaults.
async fn after_keeping(
    ctx: &Ctx,
    done: Result<()>,
    next: &str,
    kept: Option<&LineForm>,
) -> Result<Response> {
    let refused = done.is_err();
    match done {
        Ok(()) => {}
        Err(AppError::Validation(e)) | Err(AppError::Conflict(e)) => {
            let text: Vec<String> =
                e.0.iter()
                    .flat_map(|(f, ms)| {
                        ms.iter()
                            .map(move |m| format!("{}: {m}", f.replace('_', " ")))
                    })
                    .collect();
            ctx.flash("error", text.join("; ")).await;
        }
        Err(AppError::NotFound(_)) => ctx.flash("error", "That item is not in your cart.").await,
        Err(e) => return Err(e),
    }
    let mut next = if next.is_empty() {
        "/shop/cart".to_string()
    } else {
        safe_next(Some(next))
    };
    if let Some(form) = kept.filter(|_| refused && !next.contains('?')) {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("variant", &form.variant)
            .append_pair("quantity", &form.quantity)
            .finish();
        next = format!("{next}?{query}");
    }
    Ok(Redirect::to(&next).into_response())
}

async fn add(ctx: Ctx, axum::Form(form): axum::Form<LineForm>) -> Result<Response> {
    let done: Result<()> = async {
        let variant = number(&form.variant, "variant")?;
        let quantity = if form.quantity.trim().is_empty() {
            1
        } else {
            number(&form.quantity, "quantity")?
        };
        let owner = cart::owner(&ctx.state, ctx.user.as_deref(), &ctx.session, true)
            .await?
            .ok_or_else(|| AppError::not_found("cart"))?;
        cart::add(&ctx.state, &owner, variant, quantity).await?;
        ctx.flash("success", "Added to your cart.").await;
        Ok(())
    }
    .await;
    after_keeping(&ctx, done, &form.next, Some(&form)).await
}

async fn update(ctx: Ctx, axum::Form(form): axum::Form<LineForm>) -> Result<Response> {
    let done: Result<()> = async {
        let variant = cart::parse_variant(&form.variant)?;
        let quantity = number(&form.quantity, "quantity")?;
        let owner = cart::owner(&ctx.state, ctx.user.as_deref(), &ctx.session, false)
            .await?
            .ok_or_else(|| AppError::not_found("item"))?;
        cart::set_quantity(&ctx.state, &owner, variant, quantity).await
    }
    .await;
    after(&ctx, done, &form.next).await
}

async fn remove(ctx: Ctx, axum::Form(form): axum::Form<LineForm>) -> Result<Response> {
    let done: Result<()> = async {
        let variant = cart::parse_variant(&form.variant)?;
        let owner = cart::owner(&ctx.state, ctx.user.as_deref(), &ctx.session, false)
            .await?
            .ok_or_else(|| AppError::not_found("item"))?;
        cart::remove(&ctx.state, &owner, variant).await
    }
    .await;
    after(&ctx, done, &form.next).await
}

async fn clear(ctx: Ctx) -> Result<Response> {
    if let Some(owner) = cart::owner(&ctx.state, ctx.user.as_deref(), &ctx.session, false).await? {
        cart::clear(&ctx.state.db, &owner).await?;
    }
    Ok(Redirect::to("/shop/cart").into_response())
}

// ---------------------------------------------------------------- checkout

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct CheckoutForm {
    idempotency_key: String,
    shipping_method: String,
    name: String,
    line1: String,
    line2: String,
    city: String,
    postcode: String,
    country: String,
    voucher: String,
    email: String,
    card_number: String,
    exp_month: String,
    exp_year: String,
    cvc: String,
}

impl CheckoutForm {
    /// What is shown back in the form: everything typed but the card's number and code.
    fn value(&self) -> Value {
        context! {
            idempotency_key => self.idempotency_key,
            shipping_method => if self.shipping_method.is_empty() { "standard" } else { self.shipping_method.as_str() },
            name => self.name,
            line1 => self.line1,
            line2 => self.line2,
            city => self.city,
            postcode => self.postcode,
            country => self.country,
            voucher => self.voucher,
            email => self.email,
            card_number => self.card_number,
            exp_month => self.exp_month,
            exp_year => self.exp_year,
        }
    }
}

async fn render_checkout(
    ctx: &Ctx,
    user_id: i64,
    status: StatusCode,
    form: &CheckoutForm,
    errors: &FieldErrors,
) -> Result<Response> {
    let s = cart::summary(&ctx.state.db, Some(&cart::Owner::User(user_id))).await?;
    let cur = s.currency.clone().unwrap_or_else(|| "USD".into());
    let methods: Vec<Value> = super::shipping_methods(&ctx.state.db)
        .await?
        .iter()
        .map(|m| {
            context! {
                code => m.code,
                name => m.name,
                price => money::format(m.price, &m.currency),
                needs_address => m.needs_address,
            }
        })
        .collect();
    // Errors by the form's field names (`shipping_address.city` is the `city` field).
    let mut by_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut general: Vec<String> = Vec::new();
    for (k, ms) in &errors.0 {
        let key = k.strip_prefix("shipping_address.").unwrap_or(k);
        let known = [
            "shipping_method",
            "name",
            "line1",
            "line2",
            "city",
            "postcode",
            "country",
            "voucher",
            "email",
            "card_number",
            "exp_month",
            "exp_year",
            "cvc",
            "card",
        ];
        if known.contains(&key) {
            by_field
                .entry(key.to_string())
                .or_default()
                .extend(ms.iter().cloned());
        } else {
            general.extend(ms.iter().map(|m| format!("{k}: {m}")));
        }
    }
    ctx.render_status(
        status,
        "shop/checkout.html",
        context! {
            lines => lines_value(&s),
            empty => s.is_empty(),
            items_total => money::format(s.items_total, &cur),
            methods => methods,
            form => form.value(),
            errors => by_field,
            general => general,
        },
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CheckoutQuery {
    voucher: String,
}

async fn checkout_form(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Query(q): Query<CheckoutQuery>,
) -> Result<Response> {
    // A session cart from before sign-in joins first.
    cart::owner(&ctx.state, Some(&me), &ctx.session, false).await?;
    let form = CheckoutForm {
        idempotency_key: uuid::Uuid::new_v4().simple().to_string(),
        shipping_method: "standard".into(),
        voucher: vouchers::normalize_code(&q.voucher)
            .chars()
            .take(32)
            .collect(),
        email: me.email.clone(),
        ..Default::default()
    };
    render_checkout(&ctx, me.id, StatusCode::OK, &form, &FieldErrors::new()).await
}

async fn checkout(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    axum::Form(form): axum::Form<CheckoutForm>,
) -> Result<Response> {
    cart::owner(&ctx.state, Some(&me), &ctx.session, false).await?;
    let uid = me.id;
    let (ctx_ref, form_ref) = (&ctx, &form);
    let fail = |status: StatusCode, errors: FieldErrors| async move {
        render_checkout(ctx_ref, uid, status, form_ref, &errors).await
    };
    let month = form.exp_month.trim().parse::<i64>().unwrap_or(0);
    let year = form.exp_year.trim().parse::<i64>().unwrap_or(-1);
    let card = match payment::check_card(&form.card_number, month, year, &form.cvc) {
        Ok(c) => Some(c),
        Err(AppError::Validation(e)) => return fail(StatusCode::UNPROCESSABLE_ENTITY, e).await,
        Err(e) => return Err(e),
    };
    let key = match super::check_idempotency_key(form.idempotency_key.trim().as_bytes()) {
        Ok(k) => k,
        Err(_) => uuid::Uuid::new_v4().simple().to_string(),
    };
    let methods = super::shipping_methods(&ctx.state.db).await?;
    let needs_address = methods
        .iter()
        .find(|m| m.code == form.shipping_method.trim())
        .is_none_or(|m| m.needs_address);
    let req = super::Request {
        shipping_method: Some(form.shipping_method.clone()).filter(|m| !m.trim().is_empty()),
        shipping_address: needs_address.then(|| Address {
            name: form.name.clone(),
            line1: form.line1.clone(),
            line2: form.line2.clone(),
            city: form.city.clone(),
            postcode: form.postcode.clone(),
            country: form.country.clone(),
        }),
        voucher: Some(form.voucher.clone()).filter(|v| !v.trim().is_empty()),
        email: Some(form.email.clone()).filter(|e| !e.trim().is_empty()),
    };
    let placed = match super::place_order(&ctx.state, &me, &req, Some(&key)).await {
        Ok(p) => p,
        Err(AppError::Validation(e)) => return fail(StatusCode::UNPROCESSABLE_ENTITY, e).await,
        Err(AppError::Conflict(e)) => return fail(StatusCode::CONFLICT, e).await,
        Err(e) => return Err(e),
    };
    let number = placed.order.number.clone();
    let to = format!("/shop/orders/{number}");
    if placed.order.status() != crate::shop::models::OrderStatus::Pending {
        return Ok(Redirect::to(&to).into_response());
    }
    let card = card.expect("checked above");
    match payment::pay(&ctx.state, me.id, &number, &card).await {
        Ok(Paid::Succeeded(_)) => {
            ctx.flash("success", "Thank you: your order is paid.").await;
        }
        Ok(Paid::Pending(_)) => {
            ctx.flash(
                "info",
                "Your order is placed; the payment is being confirmed.",
            )
            .await;
        }
        Ok(Paid::Declined(reason)) => {
            return fail(
                StatusCode::PAYMENT_REQUIRED,
                FieldErrors::single("card", format!("declined: {reason}")),
            )
            .await;
        }
        Ok(Paid::Retry(reason)) => {
            return fail(StatusCode::CONFLICT, FieldErrors::single("card", reason)).await;
        }
        Err(AppError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(Redirect::to(&to).into_response())
}
