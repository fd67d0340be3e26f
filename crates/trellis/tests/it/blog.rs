use sea_orm::ConnectionTrait;
use trellis::blog::models;

use crate::helpers::{TestApp, location, png_bytes};

db_tests! {
    the_role_matrix_holds_for_drafts;
    the_role_matrix_holds_for_published_posts;
    comments_follow_their_rules;
    an_author_writes_publishes_and_readers_see_it;
    script_in_title_body_and_comments_is_neutralized;
    equal_titles_get_distinct_slugs_and_slugs_are_editable;
    pagination_edges_are_handled;
    list_pages_run_a_fixed_number_of_queries;
    a_non_image_cover_is_rejected_and_nothing_changes;
    a_cover_is_resized_and_served_with_cache_headers;
    tag_author_and_search_pages_filter_published_posts;
    the_atom_feed_lists_published_posts;
    form_errors_keep_the_input;
}

/// Creates a post through the editor as `who` and returns its slug.
async fn write(who: &TestApp, title: &str, body: &str, status: &str, tags: &str) -> String {
    let resp = who
        .post_multipart(
            "/blog/new/",
            "/blog/new/",
            &[
                ("title", title),
                ("body", body),
                ("status", status),
                ("tags", tags),
                ("action", "save"),
            ],
            None,
        )
        .await;
    assert_eq!(
        resp.status(),
        303,
        "creating {title}: {}",
        resp.text().await.unwrap()
    );
    let loc = location(&resp);
    loc.trim_start_matches("/blog/")
        .trim_end_matches('/')
        .to_string()
}

struct Cast {
    anon: TestApp,
    reader: TestApp,
    author: TestApp,
    other_author: TestApp,
    editor: TestApp,
    /// Staff and in the editors group: staff status alone grants no blog permission.
    staff: TestApp,
    /// Staff and in no group: a reader as far as the blog is concerned.
    bare_staff: TestApp,
}

async fn cast(app: &TestApp) -> Cast {
    let anon = app.fork();
    // An anonymous visitor still gets a session (for the CSRF token), so requests test permissions, not CSRF.
    anon.get("/accounts/login/").await;
    Cast {
        anon,
        reader: app.user("reader", &[], false).await,
        author: app.user("author", &["authors"], false).await,
        other_author: app.user("other", &["authors"], false).await,
        editor: app.user("editor", &["editors"], false).await,
        staff: app.user("staffer", &["editors"], true).await,
        bare_staff: app.user("clerk", &[], true).await,
    }
}

async fn can_edit(who: &TestApp, slug: &str) -> u16 {
    let page = format!("/blog/{slug}/edit/");
    let get = who.get(&page).await.status().as_u16();
    if get != 200 {
        // Posting must be refused the same way (with a token from a page the user can open).
        let post = who
            .post_multipart(
                "/blog/",
                &page,
                &[("title", "Hijacked"), ("body", "x"), ("action", "save")],
                None,
            )
            .await
            .status()
            .as_u16();
        let expected = if get == 303 { 303 } else { get };
        assert_eq!(
            post, expected,
            "POST edit of {slug} answered {post} while GET answered {get}"
        );
        return get;
    }
    get
}

async fn do_post(who: &TestApp, path: &str) -> u16 {
    who.post_form_from("/blog/", path, &[])
        .await
        .status()
        .as_u16()
}

async fn the_role_matrix_holds_for_drafts(app: TestApp) {
    let c = cast(&app).await;
    let fresh = |n: &str| format!("Draft {n}");
    // view draft: only its author and editors; everyone else gets 404 (not 403: drafts don't leak).
    let slug = write(&c.author, &fresh("view"), "secret plans", "draft", "").await;
    for (who, expect) in [
        (&c.anon, 404),
        (&c.reader, 404),
        (&c.author, 200),
        (&c.other_author, 404),
        (&c.editor, 200),
        (&c.staff, 200),
        (&c.bare_staff, 404),
    ] {
        assert_eq!(
            who.get(&format!("/blog/{slug}/")).await.status(),
            expect,
            "view draft"
        );
    }
    // create
    for (who, expect) in [
        (&c.anon, 303),
        (&c.reader, 403),
        (&c.author, 200),
        (&c.other_author, 200),
        (&c.editor, 200),
        (&c.staff, 200),
        (&c.bare_staff, 403),
    ] {
        assert_eq!(
            who.get("/blog/new/").await.status(),
            expect,
            "open the editor"
        );
    }
    let page = c.reader.get_text("/blog/new/").await;
    assert!(
        page.contains("Ask a site administrator to add you to the authors group"),
        "a reader is told how to become an author: {page}"
    );
    let index = c.reader.get_text("/blog/").await;
    assert!(!index.contains("My posts"), "no 'My posts' for a reader");
    assert!(c.author.get_text("/blog/").await.contains("My posts"));
    let resp = c
        .reader
        .post_multipart(
            "/blog/",
            "/blog/new/",
            &[("title", "Nope"), ("body", "x")],
            None,
        )
        .await;
    assert_eq!(
        resp.status(),
        403,
        "a reader cannot create by posting either"
    );
    let answer = resp.text().await.unwrap();
    assert!(
        answer.contains("Only authors write posts")
            && answer.contains("Ask a site administrator to add you to the authors group"),
        "a reader who posts the form is told how to become an author too: {answer}"
    );
    assert!(
        models::by_slug(&app.state.db, "nope")
            .await
            .unwrap()
            .is_none(),
        "nothing was created"
    );
    // edit
    for (who, expect) in [
        (&c.anon, 303),
        (&c.reader, 404),
        (&c.author, 200),
        (&c.other_author, 404),
        (&c.editor, 200),
        (&c.staff, 200),
        (&c.bare_staff, 404),
    ] {
        assert_eq!(can_edit(who, &slug).await, expect, "edit draft");
    }
    // publish
    for (who, expect) in [
        (&c.anon, 403),
        (&c.reader, 404),
        (&c.other_author, 404),
        (&c.bare_staff, 404),
    ] {
        assert_eq!(
            do_post(who, &format!("/blog/{slug}/publish/")).await,
            expect,
            "publish"
        );
    }
    for who in [&c.author, &c.editor, &c.staff] {
        let s = write(&c.author, "To publish", "body", "draft", "").await;
        assert_eq!(
            do_post(who, &format!("/blog/{s}/publish/")).await,
            303,
            "publish"
        );
        let p = models::by_slug(&app.state.db, &s).await.unwrap().unwrap();
        assert_eq!(p.row.status, "published");
        assert!(p.row.published_at.is_some());
    }
    // delete
    for (who, expect) in [
        (&c.anon, 403),
        (&c.reader, 404),
        (&c.other_author, 404),
        (&c.bare_staff, 404),
    ] {
        assert_eq!(
            do_post(who, &format!("/blog/{slug}/delete/")).await,
            expect,
            "delete"
        );
    }
    assert!(
        models::by_slug(&app.state.db, &slug)
            .await
            .unwrap()
            .is_some(),
        "still there"
    );
    for who in [&c.author, &c.editor, &c.staff] {
        let s = write(&c.author, "To delete", "body", "draft", "").await;
        assert_eq!(
            who.get(&format!("/blog/{s}/delete/")).await.status(),
            200,
            "confirmation page"
        );
        assert_eq!(
            do_post(who, &format!("/blog/{s}/delete/")).await,
            303,
            "delete"
        );
        assert!(models::by_slug(&app.state.db, &s).await.unwrap().is_none());
    }
}

async fn the_role_matrix_holds_for_published_posts(app: TestApp) {
    let c = cast(&app).await;
    let slug = write(&c.author, "Public", "hello", "published", "").await;
    for who in [
        &c.anon,
        &c.reader,
        &c.author,
        &c.other_author,
        &c.editor,
        &c.staff,
    ] {
        assert_eq!(
            who.get(&format!("/blog/{slug}/")).await.status(),
            200,
            "anyone reads published posts"
        );
    }
    // Visible but not theirs: 403 pages, not redirects.
    for who in [&c.reader, &c.other_author, &c.bare_staff] {
        let resp = who.get(&format!("/blog/{slug}/edit/")).await;
        assert_eq!(resp.status(), 403);
        assert!(resp.text().await.unwrap().contains("permission"));
        assert_eq!(do_post(who, &format!("/blog/{slug}/unpublish/")).await, 403);
        assert_eq!(do_post(who, &format!("/blog/{slug}/delete/")).await, 403);
    }
    for who in [&c.author, &c.editor, &c.staff] {
        assert_eq!(who.get(&format!("/blog/{slug}/edit/")).await.status(), 200);
        assert_eq!(
            do_post(who, &format!("/blog/{slug}/unpublish/")).await,
            303,
            "unpublish"
        );
        assert_eq!(
            c.reader.get(&format!("/blog/{slug}/")).await.status(),
            404,
            "back to draft hides it"
        );
        assert_eq!(
            do_post(&c.author, &format!("/blog/{slug}/publish/")).await,
            303
        );
    }
    // An editor edits someone else's post.
    let resp = c
        .editor
        .post_multipart(
            "/blog/",
            &format!("/blog/{slug}/edit/"),
            &[
                ("title", "Public (edited)"),
                ("slug", &slug),
                ("body", "edited by an editor"),
                ("status", "published"),
                ("action", "save"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 303);
    let p = models::by_slug(&app.state.db, &slug)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.row.title, "Public (edited)");
    assert_eq!(p.row.author_username, "author", "authorship is kept");
}

async fn comments_follow_their_rules(app: TestApp) {
    let c = cast(&app).await;
    let slug = write(&c.author, "Talk", "discuss", "published", "").await;
    let path = format!("/blog/{slug}/comments/");
    assert_eq!(
        c.anon
            .post_form_from("/blog/", &path, &[("body", "anon says")])
            .await
            .status(),
        403
    );
    for (who, text) in [
        (&c.reader, "reader says"),
        (&c.other_author, "other says"),
        (&c.author, "author says"),
    ] {
        assert_eq!(
            who.post_form_from("/blog/", &path, &[("body", text)])
                .await
                .status(),
            303
        );
    }
    let html = c.anon.get_text(&format!("/blog/{slug}/")).await;
    assert!(
        html.contains("reader says")
            && html.contains("other says")
            && html.contains("Comments (3)")
    );
    let ids: Vec<(i64, String)> = trellis::blog::models::comments_of(
        &app.state.db,
        models::by_slug(&app.state.db, &slug)
            .await
            .unwrap()
            .unwrap()
            .row
            .id,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|c| (c.id, c.author_username))
    .collect();
    let id_of = |name: &str| ids.iter().find(|(_, a)| a == name).unwrap().0;
    let del = |id: i64| format!("/blog/{slug}/comments/{id}/delete/");
    // Not one's own: 403 for readers and authors, even the post's author.
    assert_eq!(do_post(&c.reader, &del(id_of("other"))).await, 403);
    assert_eq!(do_post(&c.author, &del(id_of("reader"))).await, 403);
    assert_eq!(do_post(&c.anon, &del(id_of("reader"))).await, 403);
    assert_eq!(do_post(&c.bare_staff, &del(id_of("reader"))).await, 403);
    // One's own: allowed.
    assert_eq!(do_post(&c.reader, &del(id_of("reader"))).await, 303);
    // Editors (staff or not): anyone's.
    assert_eq!(do_post(&c.editor, &del(id_of("other"))).await, 303);
    assert_eq!(do_post(&c.staff, &del(id_of("author"))).await, 303);
    assert!(
        c.anon
            .get_text(&format!("/blog/{slug}/"))
            .await
            .contains("Comments (0)")
    );
    // Comments on a draft others cannot see: 404.
    let draft = write(&c.author, "Hidden", "x", "draft", "").await;
    let resp = c
        .reader
        .post_form_from(
            "/blog/",
            &format!("/blog/{draft}/comments/"),
            &[("body", "hi")],
        )
        .await;
    assert_eq!(resp.status(), 404);
    // Blank and over-long comments are refused beside the form, which keeps what was typed.
    let resp = c
        .reader
        .post_form_from("/blog/", &path, &[("body", "   ")])
        .await;
    assert_eq!(resp.status(), 422);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Comment can&#x27;t be blank"), "{page}");
    assert!(page.contains("aria-invalid=\"true\""));
    let long = format!("My long thoughts {}", "x".repeat(5000));
    let resp = c
        .reader
        .post_form_from("/blog/", &path, &[("body", &long)])
        .await;
    assert_eq!(resp.status(), 422);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Comment is too long (maximum is"), "{page}");
    assert!(page.contains(&long), "the text is still in the form");
    let stored = trellis::blog::models::comments_of(&app.state.db, post_id(&app, &slug).await)
        .await
        .unwrap();
    assert!(
        stored.iter().all(|c| !c.body.contains("My long thoughts")),
        "nothing stored"
    );
}

async fn post_id(app: &TestApp, slug: &str) -> i64 {
    models::by_slug(&app.state.db, slug)
        .await
        .unwrap()
        .unwrap()
        .row
        .id
}

async fn an_author_writes_publishes_and_readers_see_it(app: TestApp) {
    let author = app.user("writer", &["authors"], false).await;
    let slug = write(
        &author,
        "My First Post",
        "Hello **world**",
        "draft",
        "Rust, Web",
    )
    .await;
    assert_eq!(slug, "my-first-post");
    let reader = app.fork();
    assert!(
        !reader.get_text("/blog/").await.contains("My First Post"),
        "drafts stay off the home page"
    );
    assert!(
        author
            .get_text("/blog/mine/")
            .await
            .contains("My First Post"),
        "but are in My posts"
    );
    assert_eq!(
        do_post(&author, &format!("/blog/{slug}/publish/")).await,
        303
    );
    let home = reader.get_text("/blog/").await;
    assert!(home.contains("My First Post"));
    let page = reader.get_text(&format!("/blog/{slug}/")).await;
    assert!(page.contains("<strong>world</strong>"), "markdown rendered");
    assert!(
        page.contains("href=\"/blog/tag/rust/\"") && page.contains("href=\"/blog/tag/web/\""),
        "tags normalized"
    );
}

async fn script_in_title_body_and_comments_is_neutralized(app: TestApp) {
    let author = app.user("mallory", &["authors"], false).await;
    let slug = write(
        &author,
        "<script>alert('t')</script>Title",
        "Body <script>alert('b')</script> <img src=x onerror=\"alert('i')\"> [link](javascript:alert('l'))",
        "published",
        "",
    )
    .await;
    author
        .post_form_from(
            "/blog/",
            &format!("/blog/{slug}/comments/"),
            &[("body", "<script>alert('c')</script>")],
        )
        .await;
    for page in [
        "/blog/".to_string(),
        format!("/blog/{slug}/"),
        "/blog/feed.xml".to_string(),
    ] {
        let html = app.get_text(&page).await;
        assert!(!html.contains("<script>alert"), "{page}: {html}");
        assert!(!html.contains("onerror=\"alert"), "{page}");
        if !page.ends_with(".xml") {
            // (The feed's plain-text summary may quote it as escaped text; it is never a link there.)
            assert!(!html.contains("javascript:alert"), "{page}");
        }
    }
    let html = app.get_text(&format!("/blog/{slug}/")).await;
    assert!(
        html.contains("&lt;script&gt;alert"),
        "title and comment shown as text"
    );
}

async fn equal_titles_get_distinct_slugs_and_slugs_are_editable(app: TestApp) {
    let author = app.user("sluggo", &["authors"], false).await;
    let a = write(&author, "Same Title", "one", "published", "").await;
    let b = write(&author, "Same Title", "two", "published", "").await;
    let c = write(&author, "Same Title!", "three", "published", "").await;
    assert_eq!(
        (a.as_str(), b.as_str(), c.as_str()),
        ("same-title", "same-title-2", "same-title-3")
    );
    let reserved = write(&author, "New", "a post called New", "published", "").await;
    assert_ne!(reserved, "new", "a slug never shadows a page");
    // Changing the slug moves the post; taking another post's slug is refused.
    let resp = author
        .post_multipart(
            "/blog/",
            &format!("/blog/{b}/edit/"),
            &[
                ("title", "Same Title"),
                ("slug", "a-better-slug"),
                ("body", "two"),
                ("status", "published"),
                ("action", "save"),
            ],
            None,
        )
        .await;
    assert_eq!(location(&resp), "/blog/a-better-slug/");
    assert_eq!(app.get("/blog/a-better-slug/").await.status(), 200);
    assert_eq!(app.get(&format!("/blog/{b}/")).await.status(), 404);
    let resp = author
        .post_multipart(
            "/blog/",
            "/blog/a-better-slug/edit/",
            &[
                ("title", "Same Title"),
                ("slug", &a),
                ("body", "two"),
                ("status", "published"),
                ("action", "save"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Slug has already been taken")
    );
}

async fn pagination_edges_are_handled(app: TestApp) {
    let author = app.user("pager", &["authors"], false).await;
    assert_eq!(
        app.get("/blog/").await.status(),
        200,
        "an empty blog has one (empty) page"
    );
    assert_eq!(app.get("/blog/?page=2").await.status(), 404);
    for i in 0..12 {
        write(&author, &format!("Post {i:02}"), "body", "published", "").await;
    }
    let first = app.get_text("/blog/").await;
    assert!(
        first.contains("Post 11") && !first.contains("Post 01"),
        "newest first, 10 a page"
    );
    assert!(first.contains("Page 1 of 2") && first.contains("rel=\"next\""));
    let second = app.get_text("/blog/?page=2").await;
    assert!(
        second.contains("Post 01") && second.contains("Post 00") && !second.contains("Post 02")
    );
    assert!(!second.contains("rel=\"next\""));
    assert_eq!(app.get("/blog/?page=3").await.status(), 404);
    assert_eq!(app.get("/blog/?page=0").await.status(), 404);
    assert_eq!(app.get("/blog/?page=abc").await.status(), 404);
    assert_eq!(app.get("/blog/?page_size=51").await.status(), 400);
    let all = app.get_text("/blog/?page_size=50").await;
    assert!(all.contains("Post 00") && all.contains("Post 11"));
    assert!(
        app.get_text("/blog/?page_size=5&page=3")
            .await
            .contains("Page 3 of 3")
    );
}

async fn list_pages_run_a_fixed_number_of_queries(app: TestApp) {
    let author = app.user("counter", &["authors"], false).await;
    for i in 0..25 {
        write(
            &author,
            &format!("Counted {i}"),
            "search me",
            "published",
            "rust, web, counted",
        )
        .await;
    }
    for base in [
        "/blog/",
        "/blog/tag/rust/",
        "/blog/author/counter/",
        "/blog/search/?q=search",
    ] {
        let sep = if base.contains('?') { '&' } else { '?' };
        let anon = app.fork();
        // The tag cloud is shared through the cache until the next write: measure both uncached.
        app.state.cache.bump().await;
        let (small, s1) = anon.queries_for(&format!("{base}{sep}page_size=2")).await;
        app.state.cache.bump().await;
        let (large, s2) = anon.queries_for(&format!("{base}{sep}page_size=25")).await;
        assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200), "{base}");
        assert_eq!(
            small, large,
            "{base}: queries must not grow with the page size"
        );
        // Pinned: the page carrying its count + tags of the page + tag cloud (+ the author on author
        // pages). An anonymous reader gets no session, so there is no session query at all.
        let expected = if base.starts_with("/blog/author/") {
            4
        } else {
            3
        };
        assert_eq!(large, expected, "{base}");
    }
    // Signed in adds the user and their permissions, still independent of page size.
    author.get("/blog/").await; // shows (and so clears) the last flash message
    app.state.cache.bump().await;
    let (small, _) = author.queries_for("/blog/?page_size=2").await;
    app.state.cache.bump().await;
    let (large, _) = author.queries_for("/blog/?page_size=25").await;
    assert_eq!(small, large);
    // With the tag cloud cached, the next page costs one statement less.
    let (cached, _) = author.queries_for("/blog/?page_size=25").await;
    assert_eq!(cached, large - 1);
}

async fn a_non_image_cover_is_rejected_and_nothing_changes(app: TestApp) {
    let author = app.user("coverer", &["authors"], false).await;
    let resp = author
        .post_multipart(
            "/blog/new/",
            "/blog/new/",
            &[
                ("title", "With bad cover"),
                ("body", "x"),
                ("action", "save"),
            ],
            Some(("cover", b"<html>not an image</html>".to_vec(), "cover.png")),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Cover rejected: the file is not a PNG, JPEG, GIF or WebP image"));
    assert!(html.contains("value=\"With bad cover\""), "input kept");
    assert!(
        models::by_slug(&app.state.db, "with-bad-cover")
            .await
            .unwrap()
            .is_none(),
        "nothing created"
    );
    assert!(app.state.storage.list("covers").await.unwrap().is_empty());
    // Editing: the post stays exactly as it was.
    let slug = write(&author, "Unchanged", "original body", "published", "").await;
    let resp = author
        .post_multipart(
            "/blog/",
            &format!("/blog/{slug}/edit/"),
            &[
                ("title", "Changed?"),
                ("slug", &slug),
                ("body", "new body"),
                ("status", "published"),
                ("action", "save"),
            ],
            Some(("cover", vec![0u8; 100], "cover.jpg")),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let p = models::find_post(
        &app.state.db,
        models::by_slug(&app.state.db, &slug)
            .await
            .unwrap()
            .unwrap()
            .row
            .id,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (p.title.as_str(), p.body.as_str()),
        ("Unchanged", "original body")
    );
    assert!(p.cover.is_none());
    assert!(app.state.storage.list("covers").await.unwrap().is_empty());
}

async fn a_cover_is_resized_and_served_with_cache_headers(app: TestApp) {
    let author = app.user("illustrator", &["authors"], false).await;
    let resp = author
        .post_multipart(
            "/blog/new/",
            "/blog/new/",
            &[
                ("title", "Illustrated"),
                ("body", "see the picture"),
                ("status", "published"),
                ("action", "save"),
            ],
            Some(("cover", png_bytes(2400, 1200), "../../etc/passwd.png")),
        )
        .await;
    assert_eq!(resp.status(), 303);
    let post = models::by_slug(&app.state.db, "illustrated")
        .await
        .unwrap()
        .unwrap();
    let key = post.row.cover.clone().expect("cover stored");
    assert!(
        key.starts_with("covers/") && key.ends_with(".jpg") && !key.contains("passwd"),
        "{key}"
    );
    let resp = app.get(&format!("/media/{key}")).await;
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (1200, 600),
        "fitted within 1200×800"
    );
    let thumb = app
        .get(&format!("/media/{}", trellis::blog::cover_thumb_key(&key)))
        .await;
    let img = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (480, 270));
    assert!(
        app.get_text("/blog/")
            .await
            .contains(&trellis::blog::cover_thumb_key(&key))
    );
    // Replacing the cover removes the old files.
    let resp = author
        .post_multipart(
            "/blog/",
            "/blog/illustrated/edit/",
            &[
                ("title", "Illustrated"),
                ("slug", "illustrated"),
                ("body", "new picture"),
                ("status", "published"),
                ("action", "save"),
            ],
            Some(("cover", png_bytes(300, 300), "b.png")),
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.get(&format!("/media/{key}")).await.status(), 404);
    assert_eq!(
        app.state.storage.list("covers").await.unwrap().len(),
        2,
        "one cover and its thumbnail"
    );
}

async fn tag_author_and_search_pages_filter_published_posts(app: TestApp) {
    let ann = app.user("ann", &["authors"], false).await;
    let bob = app.user("bob", &["authors"], false).await;
    write(
        &ann,
        "Ann on Rust",
        "ownership and borrowing",
        "published",
        "rust",
    )
    .await;
    write(&ann, "Ann draft", "ownership secrets", "draft", "rust").await;
    write(
        &bob,
        "Bob on Django",
        "models and VIEWS",
        "published",
        "python",
    )
    .await;
    let rust = app.get_text("/blog/tag/rust/").await;
    assert!(
        rust.contains("Ann on Rust")
            && !rust.contains("Bob on Django")
            && !rust.contains("Ann draft")
    );
    let by_ann = app.get_text("/blog/author/ann/").await;
    assert!(
        by_ann.contains("Ann on Rust") && !by_ann.contains("Bob") && !by_ann.contains("Ann draft")
    );
    assert_eq!(app.get("/blog/author/nobody/").await.status(), 404);
    let found = app.get_text("/blog/search/?q=views").await;
    assert!(
        found.contains("Bob on Django") && !found.contains("Ann on Rust"),
        "case-insensitive body search"
    );
    let found = app.get_text("/blog/search/?q=OWNERSHIP").await;
    assert!(
        found.contains("Ann on Rust") && !found.contains("Ann draft"),
        "drafts never match"
    );
    let found = app.get_text("/blog/search/?q=100%25").await;
    assert!(!found.contains("Ann on Rust"), "wildcards are literal");
    assert!(
        found.contains("No posts match “100%”."),
        "a search without hits says so, naming the words"
    );
    assert!(!found.contains("No posts here yet"));
    assert!(ann.get_text("/blog/mine/").await.contains("Ann draft"));

    // Every list page offers an author the editor and their own posts, and offers a reader neither.
    let reader = app.user("rita", &[], false).await;
    for page in [
        "/blog/",
        "/blog/tag/rust/",
        "/blog/author/bob/",
        "/blog/search/?q=ownership",
        "/blog/search/",
    ] {
        let html = ann.get_text(page).await;
        assert!(
            html.contains("Write a post") && html.contains("My posts"),
            "an author on {page}"
        );
        let html = reader.get_text(page).await;
        assert!(
            !html.contains("Write a post") && !html.contains("My posts"),
            "a reader on {page}"
        );
    }
}

async fn the_atom_feed_lists_published_posts(app: TestApp) {
    let a = app.user("feeder", &["authors"], false).await;
    write(&a, "Fed & Watered", "content *here*", "published", "").await;
    write(&a, "Not yet", "draft", "draft", "").await;
    let resp = app.get("/blog/feed.xml").await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let xml = resp.text().await.unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
    assert!(xml.contains("<title>Fed &amp; Watered</title>"));
    assert!(
        xml.contains("&lt;em&gt;here&lt;/em&gt;"),
        "content is escaped HTML"
    );
    assert!(!xml.contains("Not yet"));
}

async fn form_errors_keep_the_input(app: TestApp) {
    let a = app.user("former", &["authors"], false).await;
    let long_title = "x".repeat(201);
    let resp = a
        .post_multipart(
            "/blog/new/",
            "/blog/new/",
            &[
                ("title", &long_title),
                ("body", ""),
                ("tags", "ok, <bad>"),
                ("description", "kept description"),
                ("action", "save"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Title is too long"));
    assert!(html.contains("Body can&#x27;t be blank") || html.contains("Body can't be blank"));
    assert!(html.contains("id=\"err_tags\""));
    assert!(html.contains("kept description"));
    // Preview renders without saving.
    let resp = a
        .post_multipart(
            "/blog/new/",
            "/blog/new/",
            &[
                ("title", "Preview me"),
                ("body", "*emphasis*"),
                ("action", "preview"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<em>emphasis</em>"));
    assert!(
        models::by_slug(&app.state.db, "preview-me")
            .await
            .unwrap()
            .is_none()
    );
    let _ = app.state.db.execute_unprepared("SELECT 1").await;
}
