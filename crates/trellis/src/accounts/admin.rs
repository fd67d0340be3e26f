//! The accounts app's models as the admin, the `models` commands and fixtures see them.

use serde_json::Value;

use super::models::User;
use crate::error::FieldErrors;
use crate::registry::{
    Action, ActionFuture, Admin, CleanCtx, CleanFuture, Field, ImageFuture, Kind, Model, Values,
};
use crate::state::AppState;

pub fn models() -> Vec<Model> {
    vec![
        Model {
            app: "accounts",
            name: "user",
            verbose_name: "user",
            verbose_name_plural: "users",
            table: "users",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new(
                    "username",
                    "Username",
                    Kind::Text {
                        max: super::USERNAME_MAX,
                    },
                )
                .help("Letters, digits and . _ + - only."),
                Field::new("email", "Email address", Kind::Text { max: 254 }),
                Field::new("password_hash", "Password", Kind::Password).help(
                    "Checked by the password rules and stored as a hash. Leave empty to keep it.",
                ),
                Field::new("display_name", "Display name", Kind::Text { max: 150 }).blank(),
                Field::new("bio", "Bio", Kind::LongText { max: 2000 }).blank(),
                Field::new(
                    "avatar",
                    "Avatar",
                    Kind::Image {
                        store: store_avatar,
                        thumb: super::thumb_key,
                    },
                )
                .optional(),
                Field::new("image_url", "Picture URL", Kind::Text { max: 500 })
                    .optional()
                    .help("Shown instead of the avatar when set."),
                Field::new("is_active", "Active", Kind::Bool)
                    .help("Inactive users cannot sign in; prefer this to deleting accounts."),
                Field::new("is_staff", "Staff", Kind::Bool)
                    .help("May sign in to the admin site (with the permissions below)."),
                Field::new("is_superuser", "Superuser", Kind::Bool)
                    .help("Holds every permission without being given it."),
                Field::new("date_joined", "Date joined", Kind::DateTime).read_only(),
                Field::new("last_login", "Last login", Kind::DateTime)
                    .optional()
                    .read_only(),
                Field::new(
                    "groups",
                    "Groups",
                    Kind::ManyToMany {
                        to: "accounts.group",
                        through: "auth_user_groups",
                        own: "user_id",
                        other: "group_id",
                    },
                )
                .blank(),
                Field::new(
                    "user_permissions",
                    "User permissions",
                    Kind::ManyToMany {
                        to: "accounts.permission",
                        through: "auth_user_permissions",
                        own: "user_id",
                        other: "permission_id",
                    },
                )
                .blank(),
            ],
            display: "username",
            ordering: &["username"],
            admin: Some(Admin {
                list_display: &["username", "email", "display_name", "is_staff", "is_active"],
                search: &["username", "email", "display_name"],
                filters: &["is_staff", "is_superuser", "is_active", "date_joined"],
                readonly: &["last_login"],
                actions: vec![
                    Action {
                        name: "deactivate",
                        label: "Deactivate selected users",
                        permission: None,
                        run: deactivate,
                    },
                    Action {
                        name: "activate",
                        label: "Activate selected users",
                        permission: None,
                        run: activate,
                    },
                ],
                ..Admin::default()
            }),
            clean: Some(clean_user),
        },
        Model {
            app: "accounts",
            name: "group",
            verbose_name: "group",
            verbose_name_plural: "groups",
            table: "auth_groups",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new("name", "Name", Kind::Text { max: 150 }),
                Field::new(
                    "permissions",
                    "Permissions",
                    Kind::ManyToMany {
                        to: "accounts.permission",
                        through: "auth_group_permissions",
                        own: "group_id",
                        other: "permission_id",
                    },
                )
                .blank(),
            ],
            display: "name",
            ordering: &["name"],
            admin: Some(Admin {
                search: &["name"],
                ..Admin::default()
            }),
            clean: Some(clean_group),
        },
        Model {
            app: "accounts",
            name: "permission",
            verbose_name: "permission",
            verbose_name_plural: "permissions",
            table: "auth_permissions",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new("codename", "Code name", Kind::Text { max: 100 }),
                Field::new("name", "Name", Kind::Text { max: 255 }),
            ],
            display: "codename",
            ordering: &["codename"],
            // Made by the apps that define them; the admin lists them for reference.
            admin: Some(Admin {
                list_display: &["codename", "name"],
                search: &["codename", "name"],
                no_add: true,
                no_change: true,
                ..Admin::default()
            }),
            clean: None,
        },
        Model {
            app: "accounts",
            name: "apitoken",
            verbose_name: "API token",
            verbose_name_plural: "API tokens",
            table: "api_tokens",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new(
                    "user_id",
                    "User",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new("name", "Name", Kind::Text { max: 100 }),
                Field::new("token_hash", "Token hash", Kind::Secret).read_only(),
                Field::new("prefix", "Prefix", Kind::Text { max: 16 }).read_only(),
                Field::new("created_at", "Created", Kind::DateTime).read_only(),
                Field::new("last_used_at", "Last used", Kind::DateTime)
                    .optional()
                    .read_only(),
            ],
            display: "name",
            ordering: &["-created_at"],
            // Tokens are made by their owners and shown once; the admin can only revoke them.
            admin: Some(Admin {
                list_display: &["name", "user_id", "prefix", "created_at", "last_used_at"],
                search: &["name", "prefix"],
                filters: &["user_id", "created_at"],
                no_add: true,
                no_change: true,
                ..Admin::default()
            }),
            clean: None,
        },
        Model {
            app: "accounts",
            name: "follow",
            verbose_name: "follow",
            verbose_name_plural: "follows",
            table: "follows",
            pk: &["follower_id", "followee_id"],
            fields: vec![
                Field::new(
                    "follower_id",
                    "Follower",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new(
                    "followee_id",
                    "Followee",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new("created_at", "Since", Kind::DateTime).read_only(),
            ],
            display: "follower_id",
            ordering: &["-created_at"],
            admin: None,
            clean: None,
        },
    ]
}

fn text<'v>(values: &'v Values, name: &str) -> Option<&'v str> {
    values.get(name).and_then(Value::as_str)
}

/// The account rules every path applies: username and email shapes, the password rules with a hash,
/// the join date on creation.
fn clean_user<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        if let Some(raw) = text(values, "username") {
            match super::parse_username(raw) {
                Ok(name) => {
                    values.insert("username".into(), Value::String(name));
                }
                Err(e) => errors.add("username", e),
            }
        }
        if let Some(raw) = text(values, "email") {
            match super::parse_email(raw) {
                Ok(email) => {
                    values.insert("email".into(), Value::String(email));
                }
                Err(e) => errors.add("email", e),
            }
        }
        let current = |name: &str| {
            text(values, name)
                .or_else(|| ctx.existing.and_then(|e| text(e, name)))
                .unwrap_or("")
                .to_string()
        };
        match values.get("password_hash").and_then(Value::as_str) {
            Some(p) if !p.is_empty() => {
                let p = p.to_string();
                super::check_password(
                    ctx.state,
                    "password_hash",
                    &p,
                    &current("username"),
                    &current("email"),
                    &mut errors,
                );
                if errors.get("password_hash").is_empty() {
                    match super::password::hash_blocking(p).await {
                        Ok(hash) => {
                            values.insert("password_hash".into(), Value::String(hash));
                        }
                        Err(e) => errors.add("password_hash", e.to_string()),
                    }
                }
            }
            _ if ctx.existing.is_none() => errors.add("password_hash", "can't be blank"),
            _ => {
                values.remove("password_hash");
            }
        }
        if ctx.existing.is_none() {
            values
                .entry("date_joined".into())
                .or_insert_with(|| Value::String(crate::http::api::timestamp(&chrono::Utc::now())));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    })
}

fn clean_group<'a>(_: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        if let Some(name) = text(values, "name") {
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(FieldErrors::single("name", "can't be blank"));
            }
            values.insert("name".into(), Value::String(name));
        }
        Ok(())
    })
}

async fn set_active(
    state: &AppState,
    ids: &[i64],
    active: bool,
) -> Result<u64, crate::error::AppError> {
    use sea_orm::ConnectionTrait;
    if ids.is_empty() {
        return Ok(0);
    }
    let placeholders: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
    let mut values: Vec<sea_orm::Value> = vec![active.into()];
    values.extend(ids.iter().map(|id| sea_orm::Value::from(*id)));
    let res = state
        .db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            state.db.get_database_backend(),
            format!(
                "UPDATE users SET is_active = $1 WHERE id IN ({})",
                placeholders.join(", ")
            ),
            values,
        ))
        .await?;
    Ok(res.rows_affected())
}

fn deactivate<'a>(state: &'a AppState, _by: &'a User, ids: &'a [i64]) -> ActionFuture<'a> {
    Box::pin(set_active(state, ids, false))
}

fn activate<'a>(state: &'a AppState, _by: &'a User, ids: &'a [i64]) -> ActionFuture<'a> {
    Box::pin(set_active(state, ids, true))
}

fn store_avatar<'a>(state: &'a AppState, bytes: Vec<u8>) -> ImageFuture<'a> {
    Box::pin(async move {
        let pair = super::process_avatar(state, bytes)
            .await
            .map_err(|e| e.to_string())??;
        super::store_avatar(&state.storage, pair)
            .await
            .map_err(|e| e.to_string())
    })
}
