//! Users, groups and permissions, and the queries on them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveValue::Set, ConnectionTrait, FromQueryResult, Statement};

use crate::error::{Unique, unique_field};

pub mod user {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub username: String,
        pub email: String,
        pub password_hash: String,
        pub display_name: String,
        pub bio: String,
        pub avatar: Option<String>,
        pub is_active: bool,
        pub is_staff: bool,
        pub is_superuser: bool,
        pub date_joined: DateTime<Utc>,
        pub last_login: Option<DateTime<Utc>>,
        /// A profile picture elsewhere, as the RealWorld API sets it (`image`).
        pub image_url: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The name shown on pages: the display name, else the username.
        pub fn shown_name(&self) -> &str {
            if self.display_name.trim().is_empty() {
                &self.username
            } else {
                &self.display_name
            }
        }
    }
}

pub mod group {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_groups")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user_group {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_user_groups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use user::Model as User;

/// Finds a user by username, case-insensitively.
pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<User>, DbErr> {
    user::Entity::find()
        .filter(Func::lower(Expr::col(user::Column::Username)).eq(username.to_lowercase()))
        .one(db)
        .await
}

/// Finds a user by email, case-insensitively.
pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<User>, DbErr> {
    user::Entity::find()
        .filter(Func::lower(Expr::col(user::Column::Email)).eq(email.trim().to_lowercase()))
        .one(db)
        .await
}

/// Finds a user by username or, when the text holds an `@`, by email.
pub async fn find_by_login(db: &impl ConnectionTrait, login: &str) -> Result<Option<User>, DbErr> {
    let login = login.trim();
    if login.contains('@') {
        find_by_email(db, login).await
    } else {
        find_by_username(db, login).await
    }
}

pub async fn find_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<User>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: String,
    pub is_staff: bool,
    pub is_superuser: bool,
}

/// Usernames are unique whatever their case.
pub const USERNAME_UNIQUE: Unique = Unique {
    name: "users_username_ci",
    columns: "",
    field: "username",
};

/// Email addresses are unique whatever their case.
pub const EMAIL_UNIQUE: Unique = Unique {
    name: "users_email_ci",
    columns: "",
    field: "email",
};

/// Inserts a user. A clash on username or email comes back as the field's name.
pub async fn create_user(
    db: &impl ConnectionTrait,
    new: NewUser<'_>,
) -> Result<Result<User, &'static str>, DbErr> {
    // Checked first for a clear answer; the unique indexes still decide under a race.
    if find_by_username(db, new.username).await?.is_some() {
        return Ok(Err("username"));
    }
    if find_by_email(db, new.email).await?.is_some() {
        return Ok(Err("email"));
    }
    let active = user::ActiveModel {
        username: Set(new.username.to_string()),
        email: Set(new.email.trim().to_string()),
        password_hash: Set(new.password_hash),
        display_name: Set(String::new()),
        bio: Set(String::new()),
        avatar: Set(None),
        is_active: Set(true),
        is_staff: Set(new.is_staff),
        is_superuser: Set(new.is_superuser),
        date_joined: Set(Utc::now()),
        last_login: Set(None),
        image_url: Set(None),
        ..Default::default()
    };
    match active.insert(db).await {
        Ok(u) => Ok(Ok(u)),
        Err(e) => match unique_field(&e, &[USERNAME_UNIQUE, EMAIL_UNIQUE]) {
            Some(field) => Ok(Err(field)),
            None => Err(e),
        },
    }
}

pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    user_id: i64,
    hash: String,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets a new password hash only if the current one is still `old`; `false` when it was not.
pub async fn replace_password_hash(
    db: &impl ConnectionTrait,
    user_id: i64,
    old: &str,
    hash: String,
) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::PasswordHash.eq(old))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn touch_last_login(db: &impl ConnectionTrait, user_id: i64) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::LastLogin, Expr::value(Utc::now()))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Names of the groups a user belongs to, sorted.
pub async fn groups_of(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Name {
        name: String,
    }
    let rows = Name::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT g.name FROM auth_groups g JOIN auth_user_groups ug ON ug.group_id = g.id \
         WHERE ug.user_id = $1 ORDER BY g.name",
        [user_id.into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

pub async fn find_group(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<group::Model>, DbErr> {
    group::Entity::find()
        .filter(group::Column::Name.eq(name))
        .one(db)
        .await
}

/// Adds a user to a group; already a member is fine. Returns whether anything changed.
pub async fn add_to_group(
    db: &impl ConnectionTrait,
    user_id: i64,
    group_id: i64,
) -> Result<bool, DbErr> {
    let exists = user_group::Entity::find_by_id((user_id, group_id))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    user_group::ActiveModel {
        user_id: Set(user_id),
        group_id: Set(group_id),
    }
    .insert(db)
    .await?;
    Ok(true)
}

/// Removes a user from a group. Returns whether they were a member.
pub async fn remove_from_group(
    db: &impl ConnectionTrait,
    user_id: i64,
    group_id: i64,
) -> Result<bool, DbErr> {
    let res = user_group::Entity::delete_by_id((user_id, group_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Every group with its members' usernames, sorted.
pub async fn groups_with_members(
    db: &impl ConnectionTrait,
) -> Result<Vec<(String, Vec<String>)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        name: String,
        username: Option<String>,
    }
    let rows = Row::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT g.name, u.username FROM auth_groups g \
         LEFT JOIN auth_user_groups ug ON ug.group_id = g.id LEFT JOIN users u ON u.id = ug.user_id \
         ORDER BY g.name, u.username",
    ))
    .all(db)
    .await?;
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in rows {
        if out.last().map(|(n, _)| n != &r.name).unwrap_or(true) {
            out.push((r.name.clone(), Vec::new()));
        }
        if let Some(u) = r.username {
            out.last_mut().expect("pushed above").1.push(u);
        }
    }
    Ok(out)
}

/// Whether `follower` follows `followee`.
pub async fn is_following(
    db: &impl ConnectionTrait,
    follower: i64,
    followee: i64,
) -> Result<bool, DbErr> {
    #[derive(FromQueryResult)]
    struct One {
        #[allow(dead_code)]
        one: i32,
    }
    Ok(One::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT 1 AS one FROM follows WHERE follower_id = $1 AND followee_id = $2",
        [follower.into(), followee.into()],
    ))
    .one(db)
    .await?
    .is_some())
}

/// Starts following; following twice is fine.
pub async fn follow(db: &impl ConnectionTrait, follower: i64, followee: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        }
        _ => {
            "INSERT OR IGNORE INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)"
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [follower.into(), followee.into(), Utc::now().into()],
    ))
    .await?;
    Ok(())
}

pub async fn unfollow(
    db: &impl ConnectionTrait,
    follower: i64,
    followee: i64,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2",
        [follower.into(), followee.into()],
    ))
    .await?;
    Ok(())
}

/// Creates the permissions that do not exist yet (codename, description), as Django does after
/// migrating; existing ones are left as they are. Answers how many were created.
pub async fn ensure_permissions(
    db: &crate::db::Db,
    permissions: &[(String, String)],
) -> Result<u64, DbErr> {
    #[derive(FromQueryResult)]
    struct Code {
        codename: String,
    }
    let backend = db.get_database_backend();
    let existing: BTreeSet<String> = Code::find_by_statement(Statement::from_string(
        backend,
        "SELECT codename FROM auth_permissions",
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|c| c.codename)
    .collect();
    let insert = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "INSERT INTO auth_permissions (codename, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        }
        _ => "INSERT OR IGNORE INTO auth_permissions (codename, name) VALUES ($1, $2)",
    };
    let mut created = 0;
    for (code, name) in permissions.iter().filter(|(c, _)| !existing.contains(c)) {
        created += db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                insert,
                [code.clone().into(), name.clone().into()],
            ))
            .await?
            .rows_affected();
    }
    Ok(created)
}
