//! Who holds which permission: Django's rule, written once and used by every app.
//!
//! - An inactive user holds no permission.
//! - A superuser holds every permission, named or not.
//! - `is_staff` only opens the admin site; it grants no permission by itself.
//! - Anyone else holds the permissions given to them directly plus those of their groups.
//!
//! Permissions are named `<app>.<action>_<model>` (`blog.change_post`). Object-level rules (an author
//! may edit their own post) sit in each app on top of these answers.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use super::models::User;
use crate::error::AppError;

/// The user's own and their groups' permissions, in one statement.
const HELD_SQL: &str = "SELECT p.codename FROM auth_permissions p \
     JOIN auth_group_permissions gp ON gp.permission_id = p.id \
     JOIN auth_user_groups ug ON ug.group_id = gp.group_id WHERE ug.user_id = $1 \
     UNION SELECT p.codename FROM auth_permissions p \
     JOIN auth_user_permissions up ON up.permission_id = p.id WHERE up.user_id = $1";

#[derive(FromQueryResult)]
struct Codename {
    codename: String,
}

/// Every permission the user holds, loaded at once for pages that check many: nothing for an inactive
/// user, every declared permission for a superuser (see [`holds`] for ones not declared).
pub async fn perms_of(
    db: &impl ConnectionTrait,
    user: &User,
) -> Result<BTreeSet<String>, AppError> {
    if !user.is_active {
        return Ok(BTreeSet::new());
    }
    let sql = if user.is_superuser {
        "SELECT codename FROM auth_permissions WHERE $1 = $1"
    } else {
        HELD_SQL
    };
    let rows = Codename::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [user.id.into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.codename).collect())
}

/// Whether the user holds `perm`.
pub async fn has_perm(
    db: &impl ConnectionTrait,
    user: &User,
    perm: &str,
) -> Result<bool, AppError> {
    if !user.is_active || user.is_superuser {
        return Ok(holds(user, &BTreeSet::new(), perm));
    }
    let found = Codename::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT codename FROM ({HELD_SQL}) held WHERE codename = $2"),
        [user.id.into(), perm.into()],
    ))
    .one(db)
    .await?;
    Ok(found.is_some())
}

/// The rule applied to permissions already loaded with [`perms_of`].
pub fn holds(user: &User, perms: &BTreeSet<String>, perm: &str) -> bool {
    user.is_active && (user.is_superuser || perms.contains(perm))
}
