//! Account pages: register, login, logout, password change and reset, profile.

use axum::Router;
use axum::extract::{Multipart, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Value, context};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde::Deserialize;

use super::models::{self, User};
use super::{api_tokens, check_password, parse_email, password, tokens};
use crate::error::{AppError, FieldErrors, Result, on_unique};
use crate::http::ClientIp;
use crate::http::auth::{self, RequireUser, safe_next};
use crate::http::templates::Ctx;
use crate::state::AppState;
use crate::storage::Storage;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/accounts/register/", get(register_form).post(register))
        .route("/accounts/login/", get(login_form).post(login))
        .route("/accounts/logout/", get(logout_confirm).post(logout))
        .route(
            "/accounts/password/change/",
            get(password_change_form).post(password_change),
        )
        .route(
            "/accounts/password/reset/",
            get(password_reset_form).post(password_reset),
        )
        .route("/accounts/password/reset/done/", get(password_reset_done))
        .route(
            "/accounts/password/reset/{token}/",
            get(password_reset_confirm_form).post(password_reset_confirm),
        )
        .route("/accounts/profile/", get(profile))
        .route(
            "/accounts/profile/edit/",
            get(profile_edit_form).post(profile_edit),
        )
        .route("/accounts/users/{username}/", get(public_profile))
        .route("/accounts/tokens/", get(tokens_page).post(create_token))
        .route(
            "/accounts/tokens/{id}/revoke/",
            axum::routing::post(revoke_token),
        )
}

fn errors_value(e: &FieldErrors) -> Value {
    Value::from_serialize(&e.0)
}

// ---------------------------------------------------------------- register

#[derive(Deserialize, Default)]
#[serde(default)]
struct RegisterForm {
    username: String,
    email: String,
    password1: String,
    password2: String,
}

async fn register_form(ctx: Ctx) -> Result<Response> {
    if ctx.user.is_some() {
        return Ok(Redirect::to("/accounts/profile/").into_response());
    }
    ctx.render(
        "accounts/register.html",
        context! { form => context!{}, errors => context!{} },
    )
    .await
}

async fn register(
    ctx: Ctx,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<RegisterForm>,
) -> Result<Response> {
    let throttles = &ctx.state.throttles;
    throttles
        .check(&throttles.register, &[format!("ip:{ip}")])
        .await?;
    let (mut errors, _) = super::validate_new_user(
        &ctx.state.settings,
        &form.username,
        &form.email,
        &form.password1,
    );
    if form.password1 != form.password2 {
        errors.add("password2", "must be the same as the password above");
    }
    let created = if errors.is_empty() {
        super::register(&ctx.state, &form.username, &form.email, &form.password1).await?
    } else {
        Err(errors)
    };
    match created {
        Ok(user) => {
            auth::login(&ctx.state, &ctx.session, &user).await?;
            tracing::info!(user_id = user.id, "user registered");
            ctx.flash("success", format!("Welcome to Trellis, {}!", user.username))
                .await;
            Ok(Redirect::to("/").into_response())
        }
        Err(mut errors) => {
            // Web form names its password fields password1/password2.
            if let Some(msgs) = errors.0.remove("password") {
                errors.0.insert("password1".into(), msgs);
            }
            let form = context! { username => form.username, email => form.email };
            ctx.render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "accounts/register.html",
                context! { form => form, errors => errors_value(&errors) },
            )
            .await
        }
    }
}

// ---------------------------------------------------------------- login / logout

#[derive(Deserialize, Default)]
#[serde(default)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    login: String,
    password: String,
    next: Option<String>,
}

/// The `next` a login form carries on: only a local path, and none for the home page.
fn local_next(next: Option<&str>) -> Option<String> {
    Some(safe_next(next)).filter(|n| n != "/")
}

async fn login_form(ctx: Ctx, Query(q): Query<NextQuery>) -> Result<Response> {
    if ctx.user.is_some() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    ctx.render(
        "accounts/login.html",
        context! { login => "", next => local_next(q.next.as_deref()), error => () },
    )
    .await
}

async fn login(
    ctx: Ctx,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response> {
    let state = &ctx.state;
    let login = form.login.trim().to_lowercase();
    state
        .throttles
        .check(
            &state.throttles.login,
            &[format!("ip:{ip}"), format!("login:{login}")],
        )
        .await?;
    let user = if login.is_empty() {
        None
    } else {
        models::find_by_login(&state.db, &login).await?
    };
    let stored = user
        .as_ref()
        .filter(|u| u.is_active)
        .map(|u| u.password_hash.clone());
    let ok = password::verify_blocking(form.password.clone(), stored).await;
    match user {
        Some(user) if ok => {
            auth::login(state, &ctx.session, &user).await?;
            tracing::info!(user_id = user.id, "user logged in");
            Ok(Redirect::to(&safe_next(form.next.as_deref())).into_response())
        }
        _ => {
            ctx.render_status(
                StatusCode::UNAUTHORIZED,
                "accounts/login.html",
                context! {
                    login => form.login,
                    next => local_next(form.next.as_deref()),
                    error => "That username or email and password do not match an active account.",
                },
            )
            .await
        }
    }
}

async fn logout_confirm(ctx: Ctx) -> Result<Response> {
    ctx.render("accounts/logged_out.html", context! { confirm => true })
        .await
}

async fn logout(ctx: Ctx) -> Result<Response> {
    if let Some(u) = &ctx.user {
        tracing::info!(user_id = u.id, "user logged out");
    }
    auth::logout(&ctx.session).await?;
    let ctx = Ctx { user: None, ..ctx };
    ctx.render("accounts/logged_out.html", context! { confirm => false })
        .await
}

// ---------------------------------------------------------------- password change

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordChangeForm {
    old_password: String,
    new_password1: String,
    new_password2: String,
}

async fn password_change_form(ctx: Ctx, RequireUser(_): RequireUser) -> Result<Response> {
    ctx.render(
        "accounts/password_change.html",
        context! { errors => context!{} },
    )
    .await
}

async fn password_change(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    axum::Form(form): axum::Form<PasswordChangeForm>,
) -> Result<Response> {
    let mut errors = FieldErrors::new();
    if !password::verify_blocking(form.old_password.clone(), Some(user.password_hash.clone())).await
    {
        errors.add("old_password", "is not your current password");
    }
    if form.new_password1 != form.new_password2 {
        errors.add(
            "new_password2",
            "must be the same as the new password above",
        );
    }
    check_password(
        &ctx.state,
        "new_password1",
        &form.new_password1,
        &user.username,
        &user.email,
        &mut errors,
    );
    if !errors.is_empty() {
        return ctx
            .render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "accounts/password_change.html",
                context! { errors => errors_value(&errors) },
            )
            .await;
    }
    let hash = password::hash_blocking(form.new_password1).await?;
    models::set_password_hash(&ctx.state.db, user.id, hash.clone()).await?;
    // Other sessions of this user end; this one stays signed in.
    auth::refresh_password_hash(&ctx.state, &ctx.session, &hash).await?;
    ctx.flash("success", "Your password was changed.").await;
    Ok(Redirect::to("/accounts/profile/").into_response())
}

// ---------------------------------------------------------------- password reset

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    email: String,
}

async fn password_reset_form(ctx: Ctx) -> Result<Response> {
    ctx.render(
        "accounts/password_reset.html",
        context! { email => "", errors => context!{} },
    )
    .await
}

async fn password_reset(
    ctx: Ctx,
    ClientIp(ip): ClientIp,
    axum::Form(form): axum::Form<ResetForm>,
) -> Result<Response> {
    let state = &ctx.state;
    let email = match parse_email(&form.email) {
        Ok(e) => e,
        Err(msg) => {
            return ctx
                .render_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "accounts/password_reset.html",
                    context! { email => form.email, errors => errors_value(&FieldErrors::single("email", msg)) },
                )
                .await;
        }
    };
    state
        .throttles
        .check(
            &state.throttles.password_reset,
            &[
                format!("ip:{ip}"),
                format!("email:{}", email.to_lowercase()),
            ],
        )
        .await?;
    // The answer is the same whether or not the address belongs to anyone.
    if let Some(user) = models::find_by_email(&state.db, &email)
        .await?
        .filter(|u| u.is_active)
    {
        let token = tokens::make(state.secret_key.expose(), &user);
        let link = format!(
            "{}/accounts/password/reset/{token}/",
            state.settings.base_url()
        );
        let body = state.templates.render(
            "accounts/password_reset_email.txt",
            context! { username => user.username, link => link,
            valid_for => human_duration(state.settings.password_reset_timeout_secs) },
        )?;
        if let Err(e) = state
            .mailer
            .send(&user.email, "Reset your Trellis password", body)
            .await
        {
            // Logged, not shown: telling the visitor would reveal that the address exists.
            tracing::error!(user_id = user.id, error = %e, "sending password reset email failed");
        }
    }
    Ok(Redirect::to("/accounts/password/reset/done/").into_response())
}

async fn password_reset_done(ctx: Ctx) -> Result<Response> {
    ctx.render("accounts/password_reset_done.html", context! {})
        .await
}

/// The user a reset token is valid for, if it is.
async fn reset_user(state: &AppState, token: &str) -> Result<Option<User>> {
    let Some(id) = tokens::user_id(token) else {
        return Ok(None);
    };
    let Some(user) = models::find_by_id(&state.db, id).await? else {
        return Ok(None);
    };
    let ok = user.is_active
        && tokens::check(
            state.secret_key.expose(),
            &user,
            token,
            state.settings.password_reset_timeout_secs,
        );
    Ok(ok.then_some(user))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetConfirmForm {
    new_password1: String,
    new_password2: String,
}

async fn password_reset_confirm_form(ctx: Ctx, Path(token): Path<String>) -> Result<Response> {
    let valid = reset_user(&ctx.state, &token).await?.is_some();
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    ctx.render_status(
        status,
        "accounts/password_reset_confirm.html",
        context! { valid => valid, errors => context!{} },
    )
    .await
}

async fn password_reset_confirm(
    ctx: Ctx,
    Path(token): Path<String>,
    axum::Form(form): axum::Form<ResetConfirmForm>,
) -> Result<Response> {
    let Some(user) = reset_user(&ctx.state, &token).await? else {
        return ctx
            .render_status(
                StatusCode::BAD_REQUEST,
                "accounts/password_reset_confirm.html",
                context! { valid => false, errors => context!{} },
            )
            .await;
    };
    let mut errors = FieldErrors::new();
    if form.new_password1 != form.new_password2 {
        errors.add(
            "new_password2",
            "must be the same as the new password above",
        );
    }
    check_password(
        &ctx.state,
        "new_password1",
        &form.new_password1,
        &user.username,
        &user.email,
        &mut errors,
    );
    if !errors.is_empty() {
        return ctx
            .render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "accounts/password_reset_confirm.html",
                context! { valid => true, errors => errors_value(&errors) },
            )
            .await;
    }
    let hash = password::hash_blocking(form.new_password1).await?;
    // The new hash voids this token and every session opened with the old password. It is written
    // only over the hash the link was issued for, so of two racing uses of one link only one wins.
    // A reset is account recovery: personal API tokens, which a password change keeps, are revoked
    // too, in case whoever had the account made some.
    let txn = ctx.state.db.begin().await?;
    let replaced = models::replace_password_hash(&txn, user.id, &user.password_hash, hash).await?;
    if !replaced {
        drop(txn);
        return ctx
            .render_status(
                StatusCode::BAD_REQUEST,
                "accounts/password_reset_confirm.html",
                context! { valid => false, errors => context!{} },
            )
            .await;
    }
    api_tokens::revoke_all(&txn, user.id).await?;
    txn.commit().await?;
    tracing::info!(user_id = user.id, "password reset");
    ctx.flash(
        "success",
        "Your password has been set. You can sign in now.",
    )
    .await;
    Ok(Redirect::to("/accounts/login/").into_response())
}

/// "3 days", "2 hours", "15 minutes": how long a link stays valid, in words.
fn human_duration(secs: u64) -> String {
    let (n, unit) = if secs >= 86400 && secs.is_multiple_of(86400) {
        (secs / 86400, "day")
    } else if secs >= 3600 {
        (secs / 3600, "hour")
    } else {
        (secs.div_ceil(60).max(1), "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

// ---------------------------------------------------------------- profile

fn profile_value(u: &User) -> Value {
    context! {
        username => u.username,
        email => u.email,
        display_name => u.display_name,
        name => u.shown_name(),
        bio => u.bio,
        avatar => u.avatar.as_ref().map(|a| Storage::url(a)),
        avatar_thumb => u.avatar.as_ref().map(|a| Storage::url(&super::thumb_key(a))),
        date_joined => u.date_joined.to_rfc3339(),
        is_staff => u.is_staff,
    }
}

async fn profile(ctx: Ctx, RequireUser(user): RequireUser) -> Result<Response> {
    let groups = models::groups_of(&ctx.state.db, user.id).await?;
    ctx.render(
        "accounts/profile.html",
        context! { profile => profile_value(&user), own => true, groups => groups },
    )
    .await
}

async fn public_profile(ctx: Ctx, Path(username): Path<String>) -> Result<Response> {
    let user = models::find_by_username(&ctx.state.db, &username)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| AppError::not_found("profile"))?;
    let own = ctx.user.as_ref().is_some_and(|u| u.id == user.id);
    let mut shown = profile_value(&user);
    if !own {
        // Email addresses are private.
        shown = context! { email => (), ..shown };
    }
    ctx.render(
        "accounts/profile.html",
        context! { profile => shown, own => own, groups => Vec::<String>::new() },
    )
    .await
}

async fn profile_edit_form(ctx: Ctx, RequireUser(user): RequireUser) -> Result<Response> {
    ctx.render(
        "accounts/profile_edit.html",
        context! { form => profile_value(&user), errors => context!{} },
    )
    .await
}

const DISPLAY_NAME_MAX: usize = 150;
const BIO_MAX: usize = 2000;

async fn profile_edit(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    multipart: Multipart,
) -> Result<Response> {
    let mut form = crate::http::forms::MultipartForm::read(multipart, &["avatar"]).await?;
    let display_name = form.take_text("display_name");
    let email = form.take_text("email");
    let bio = form.take_text("bio");
    let remove_avatar = form.has("remove_avatar");
    let upload: Option<Vec<u8>> = form.take_file("avatar").map(|f| f.bytes.to_vec());

    let mut errors = FieldErrors::new();
    let display_name = display_name.trim().to_string();
    if display_name.chars().count() > DISPLAY_NAME_MAX {
        errors.add(
            "display_name",
            format!("is too long (maximum is {DISPLAY_NAME_MAX} characters)"),
        );
    }
    if bio.chars().count() > BIO_MAX {
        errors.add(
            "bio",
            format!("is too long (maximum is {BIO_MAX} characters)"),
        );
    }
    let email = match parse_email(&email) {
        Ok(e) => Some(e),
        Err(m) => {
            errors.add("email", m);
            None
        }
    };
    if let Some(e) = &email
        && !e.eq_ignore_ascii_case(&user.email)
        && models::find_by_email(&ctx.state.db, e)
            .await?
            .is_some_and(|other| other.id != user.id)
    {
        errors.add("email", crate::error::TAKEN);
    }
    // Decode and re-encode off the async runtime; a bad image stores nothing.
    let processed = match upload {
        Some(bytes) => match super::process_avatar(&ctx.state, bytes).await? {
            Ok(pair) => Some(pair),
            Err(msg) => {
                errors.add("avatar", msg);
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        let form = context! { display_name => display_name, email => email.unwrap_or_default(), bio => bio,
        avatar_thumb => user.avatar.as_ref().map(|a| Storage::url(&super::thumb_key(a))) };
        return ctx
            .render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "accounts/profile_edit.html",
                context! { form => form, errors => errors_value(&errors) },
            )
            .await;
    }

    let storage = &ctx.state.storage;
    let new_key = match processed {
        Some(pair) => Some(super::store_avatar(storage, pair).await?),
        None => None,
    };
    let old_key = user.avatar.clone();
    let avatar = match (&new_key, remove_avatar) {
        (Some(k), _) => Some(k.clone()),
        (None, true) => None,
        (None, false) => old_key.clone(),
    };
    let saved = async {
        let txn = ctx.state.db.begin().await?;
        let current = models::user::Entity::find_by_id(user.id)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?;
        let mut active = current.into_active_model();
        active.display_name = Set(display_name);
        active.email = Set(email.expect("checked above"));
        active.bio = Set(bio);
        active.avatar = Set(avatar.clone());
        active
            .update(&txn)
            .await
            .map_err(|e| on_unique(e, &[models::EMAIL_UNIQUE]))?;
        txn.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    if let Err(e) = saved {
        if let Some(k) = &new_key {
            let _ = storage.delete(k).await;
            let _ = storage.delete(&super::thumb_key(k)).await;
        }
        return Err(e);
    }
    if let Some(old) = old_key.filter(|o| Some(o) != avatar.as_ref()) {
        let _ = storage.delete(&old).await;
        let _ = storage.delete(&super::thumb_key(&old)).await;
    }
    ctx.flash("success", "Your profile was saved.").await;
    Ok(Redirect::to("/accounts/profile/").into_response())
}

// ---------------------------------------------------------------- personal API tokens

async fn render_tokens(
    ctx: &Ctx,
    user: &User,
    status: StatusCode,
    extra: Value,
) -> Result<Response> {
    // Every token: the quota keeps the list short.
    let (tokens, _) = api_tokens::list(&ctx.state.db, user.id, crate::db::Window::ALL).await?;
    let tokens: Vec<Value> = tokens
        .iter()
        .map(|t| {
            context! {
                id => t.id, name => t.name, prefix => t.prefix,
                created_at => t.created_at.to_rfc3339(),
                last_used_at => t.last_used_at.map(|d| d.to_rfc3339()),
            }
        })
        .collect();
    ctx.render_status(
        status,
        "accounts/tokens.html",
        context! { tokens => tokens, ..extra },
    )
    .await
}

async fn tokens_page(ctx: Ctx, RequireUser(user): RequireUser) -> Result<Response> {
    render_tokens(&ctx, &user, StatusCode::OK, context! {}).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    name: String,
}

/// Creates a token and shows it on this answer only (no redirect: it is never shown again).
async fn create_token(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    axum::Form(form): axum::Form<TokenForm>,
) -> Result<Response> {
    match api_tokens::new_token(&ctx.state, user.id, &form.name).await {
        Ok((token, plain)) => {
            render_tokens(
                &ctx,
                &user,
                StatusCode::CREATED,
                context! { new_token => plain, new_name => token.name },
            )
            .await
        }
        Err(AppError::Validation(errors)) => {
            render_tokens(
                &ctx,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                context! { errors => errors_value(&errors), name => form.name },
            )
            .await
        }
        Err(e) => Err(e),
    }
}

async fn revoke_token(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = crate::db::parse_id(&id, "token")?;
    if !api_tokens::revoke(&ctx.state.db, user.id, id).await? {
        return Err(AppError::not_found("token"));
    }
    ctx.flash("success", "The token was revoked.").await;
    Ok(Redirect::to("/accounts/tokens/").into_response())
}
