//! Personal API tokens (DRF's TokenAuthentication, made revocable and multiple): shown once at creation,
//! stored as a SHA-256 hash.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};

use crate::error::{AppError, Result};
use crate::http::api::{TOKEN_PREFIX, token_hash};
use crate::state::AppState;

pub const NAME_MAX: usize = 100;

#[derive(Clone, Debug, FromQueryResult)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new random token: `trl_` and 43 URL-safe characters (256 bits).
fn generate() -> String {
    use base64::Engine;
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    )
}

/// Creates a token; the plain text is returned once and never stored.
pub async fn create(
    db: &impl ConnectionTrait,
    user_id: i64,
    name: &str,
) -> Result<(ApiToken, String), DbErr> {
    let token = generate();
    let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let now = Utc::now();
    let backend = db.get_database_backend();
    let row = ApiToken::find_by_statement(Statement::from_sql_and_values(
        backend,
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, user_id, name, prefix, created_at, last_used_at",
        [user_id.into(), name.into(), token_hash(&token).into(), prefix.into(), now.into()],
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotInserted)?;
    Ok((row, token))
}

/// One page of a user's tokens, newest first, and how many they have.
pub async fn list(
    db: &impl ConnectionTrait,
    user_id: i64,
    window: crate::db::Window,
) -> Result<(Vec<ApiToken>, u64), DbErr> {
    crate::db::paged(
        db,
        "SELECT COUNT(*) AS n FROM api_tokens WHERE user_id = $1".into(),
        "SELECT id, user_id, name, prefix, created_at, last_used_at FROM api_tokens WHERE user_id = $1 \
         ORDER BY created_at DESC, id DESC"
            .into(),
        vec![user_id.into()],
        window,
    )
    .await
}

/// Validates a token name and creates the token within the user's quota; the one path for the API and
/// the tokens page. Answers the token and its plain text, shown once.
pub async fn new_token(state: &AppState, user_id: i64, name: &str) -> Result<(ApiToken, String)> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "can't be blank"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(AppError::invalid(
            "name",
            format!("is too long (maximum is {} characters)", NAME_MAX),
        ));
    }
    // The count and the insert in one transaction, taking turns per user: concurrent requests cannot
    // all see room for one more.
    let txn = state.db.begin().await?;
    let quota = state.settings.quota_api_tokens;
    if let Err(full) = crate::db::check_quota(
        &txn,
        "api_tokens",
        user_id,
        "SELECT COUNT(*) AS n FROM api_tokens WHERE user_id = $1",
        quota,
    )
    .await?
    {
        return Err(AppError::invalid(
            "name",
            format!("you already have {} tokens; revoke one first", full.limit),
        ));
    }
    let created = create(&txn, user_id, name).await?;
    txn.commit().await?;
    Ok(created)
}

/// The active user a personal token belongs to, if it is one. Stamps the token's last use.
pub async fn user_for(
    db: &crate::db::Db,
    token: &str,
) -> Result<Option<super::models::User>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        token_id: i64,
        user_id: i64,
        last_used_at: Option<DateTime<Utc>>,
    }
    let row = Row::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT id AS token_id, user_id, last_used_at FROM api_tokens WHERE token_hash = $1",
        [token_hash(token).into()],
    ))
    .one(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user = super::models::find_by_id(db, row.user_id).await?;
    // "Last used" to the minute is enough; not writing on every request keeps reads cheap.
    let now = Utc::now();
    if row
        .last_used_at
        .is_none_or(|t| now - t > chrono::Duration::minutes(1))
    {
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2",
            [now.into(), row.token_id.into()],
        ))
        .await?;
    }
    Ok(user.filter(|u| u.is_active))
}

/// Revokes every token of the user; how many there were.
pub async fn revoke_all(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, DbErr> {
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM api_tokens WHERE user_id = $1",
            [user_id.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

/// Revokes one of the user's tokens. `false` when there is no such token of theirs.
pub async fn revoke(db: &impl ConnectionTrait, user_id: i64, id: i64) -> Result<bool, DbErr> {
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2",
            [id.into(), user_id.into()],
        ))
        .await?;
    Ok(res.rows_affected() > 0)
}
