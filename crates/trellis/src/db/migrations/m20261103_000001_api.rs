//! Personal API tokens, follows and favorites (the RealWorld API's social features), and a profile image URL.

use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261103_000001_api"
    }
}

const UP: &str = r#"
CREATE TABLE api_tokens (
    id {PK},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL,
    token_hash VARCHAR(64) NOT NULL UNIQUE,
    prefix VARCHAR(16) NOT NULL,
    created_at {TS} NOT NULL,
    last_used_at {TS}
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

CREATE TABLE follows (
    follower_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at {TS} NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, follower_id);

CREATE TABLE blog_favorites (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id BIGINT NOT NULL REFERENCES blog_posts (id) ON DELETE CASCADE,
    created_at {TS} NOT NULL,
    PRIMARY KEY (user_id, post_id)
);
CREATE INDEX blog_favorites_post ON blog_favorites (post_id, user_id);

ALTER TABLE users ADD COLUMN image_url VARCHAR(500)
"#;

const DOWN: &str = r#"
DROP TABLE blog_favorites;
DROP TABLE follows;
DROP TABLE api_tokens;
ALTER TABLE users DROP COLUMN image_url
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}
