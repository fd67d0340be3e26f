//! Blog posts, tags and comments, and the blog's roles.

use sea_orm_migration::prelude::*;

use super::{run_script, seed_permissions};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261102_000001_blog"
    }
}

const UP: &str = r#"
CREATE TABLE blog_posts (
    id {PK},
    author_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title VARCHAR(200) NOT NULL,
    slug VARCHAR(220) NOT NULL UNIQUE,
    description VARCHAR(300) NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    body_html TEXT NOT NULL,
    cover VARCHAR(255),
    status VARCHAR(10) NOT NULL DEFAULT 'draft',
    published_at {TS},
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL
);
CREATE INDEX blog_posts_feed ON blog_posts (status, published_at, id);
CREATE INDEX blog_posts_author ON blog_posts (author_id, status, published_at);
CREATE INDEX blog_posts_created ON blog_posts (created_at, id);

CREATE TABLE blog_tags (
    id {PK},
    name VARCHAR(50) NOT NULL UNIQUE
);

CREATE TABLE blog_post_tags (
    post_id BIGINT NOT NULL REFERENCES blog_posts (id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES blog_tags (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, tag_id)
);
CREATE INDEX blog_post_tags_tag ON blog_post_tags (tag_id, post_id);

CREATE TABLE blog_comments (
    id {PK},
    post_id BIGINT NOT NULL REFERENCES blog_posts (id) ON DELETE CASCADE,
    author_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL
);
CREATE INDEX blog_comments_post ON blog_comments (post_id, created_at, id);
CREATE INDEX blog_comments_author ON blog_comments (author_id)
"#;

const DOWN: &str = r#"
DROP TABLE blog_comments;
DROP TABLE blog_post_tags;
DROP TABLE blog_tags;
DROP TABLE blog_posts
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await?;
        seed_permissions(
            manager,
            &[
                ("blog.add_post", "Can add post"),
                ("blog.change_post", "Can change own post"),
                ("blog.delete_post", "Can delete own post"),
                ("blog.view_post", "Can view post"),
                ("blog.publish_post", "Can publish own post"),
                (
                    "blog.moderate_post",
                    "Can edit, publish, unpublish and delete any post",
                ),
                ("blog.add_comment", "Can add comment"),
                ("blog.delete_comment", "Can delete any comment"),
            ],
            &[
                (
                    "authors",
                    &[
                        "blog.add_post",
                        "blog.change_post",
                        "blog.delete_post",
                        "blog.publish_post",
                    ],
                ),
                (
                    "editors",
                    &[
                        "blog.add_post",
                        "blog.change_post",
                        "blog.delete_post",
                        "blog.publish_post",
                        "blog.moderate_post",
                        "blog.delete_comment",
                    ],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}
