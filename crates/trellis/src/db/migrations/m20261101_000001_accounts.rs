//! Users, groups, permissions and sessions (Django's `auth` and `sessions` apps).

use sea_orm_migration::prelude::*;

use super::{run_script, seed_permissions};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261101_000001_accounts"
    }
}

const UP: &str = r#"
CREATE TABLE users (
    id {PK},
    username VARCHAR(150) NOT NULL,
    email VARCHAR(254) NOT NULL,
    password_hash TEXT NOT NULL,
    display_name VARCHAR(150) NOT NULL DEFAULT '',
    bio TEXT NOT NULL DEFAULT '',
    avatar VARCHAR(255),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    date_joined {TS} NOT NULL,
    last_login {TS}
);
CREATE UNIQUE INDEX users_username_ci ON users (LOWER(username));
CREATE UNIQUE INDEX users_email_ci ON users (LOWER(email));
CREATE INDEX users_date_joined ON users (date_joined);

CREATE TABLE auth_groups (
    id {PK},
    name VARCHAR(150) NOT NULL UNIQUE
);

CREATE TABLE auth_permissions (
    id {PK},
    codename VARCHAR(100) NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL
);

CREATE TABLE auth_user_groups (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES auth_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX auth_user_groups_group ON auth_user_groups (group_id);

CREATE TABLE auth_group_permissions (
    group_id BIGINT NOT NULL REFERENCES auth_groups (id) ON DELETE CASCADE,
    permission_id BIGINT NOT NULL REFERENCES auth_permissions (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, permission_id)
);
CREATE INDEX auth_group_permissions_permission ON auth_group_permissions (permission_id);

CREATE TABLE auth_user_permissions (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission_id BIGINT NOT NULL REFERENCES auth_permissions (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, permission_id)
);
CREATE INDEX auth_user_permissions_permission ON auth_user_permissions (permission_id);

CREATE TABLE sessions (
    id VARCHAR(64) PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at {TS} NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at)
"#;

const DOWN: &str = r#"
DROP TABLE sessions;
DROP TABLE auth_user_permissions;
DROP TABLE auth_group_permissions;
DROP TABLE auth_user_groups;
DROP TABLE auth_permissions;
DROP TABLE auth_groups;
DROP TABLE users
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await?;
        seed_permissions(
            manager,
            &[
                ("accounts.add_user", "Can add user"),
                ("accounts.change_user", "Can change user"),
                ("accounts.delete_user", "Can delete user"),
                ("accounts.view_user", "Can view user"),
                ("accounts.add_group", "Can add group"),
                ("accounts.change_group", "Can change group"),
                ("accounts.delete_group", "Can delete group"),
                ("accounts.view_group", "Can view group"),
            ],
            // The blog's roles; the blog's own migration grants them its permissions.
            &[("authors", &[]), ("editors", &[])],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}
