//! Image uploads built to be expensive: a strip of 8000×1 pixels (about 100 bytes of PNG) that resizing
//! used to blow up to gigabytes, and an image whose header alone is over the pixel limit.

use reqwest::multipart::{Form, Part};
use trellis::accounts::models;

use crate::helpers::{RawClient, TestApp};

db_tests! {
    an_8000_by_1_avatar_is_stored_at_avatar_size;
    an_8000_by_1_cover_is_stored_at_cover_size;
    an_avatar_over_the_pixel_limit_is_refused_and_nothing_is_stored;
    a_cover_over_the_pixel_limit_is_refused_and_nothing_is_stored;
    a_cover_chosen_before_a_preview_or_a_refusal_is_kept_until_the_save;
    dozens_of_authors_upload_at_once ["throttle" = "off"];
    an_upload_past_the_body_limit_without_a_length_is_413 ["max_body_bytes" = "65536", "password_validators" = "length"];
}

/// A flat 8000×1 PNG: a few hundred bytes.
fn strip_png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        8000,
        1,
        image::Rgb([200, 60, 30]),
    ))
    .write_to(&mut out, image::ImageFormat::Png)
    .unwrap();
    out.into_inner()
}

/// A flat 8000×8000 greyscale PNG: 64 megapixels in about 60 KB.
fn huge_png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(image::GrayImage::new(8000, 8000))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// Submits the profile form with `avatar` as the uploaded image (also used by the object storage tests).
pub(crate) async fn edit_profile(
    app: &TestApp,
    name: &str,
    email: &str,
    avatar: Vec<u8>,
) -> reqwest::Response {
    let token = app.csrf_token("/accounts/profile/edit/").await;
    let form = Form::new()
        .text("csrf_token", token)
        .text("display_name", name.to_string())
        .text("email", email.to_string())
        .text("bio", "")
        .part("avatar", Part::bytes(avatar).file_name("me.png"));
    app.client
        .post(app.url("/accounts/profile/edit/"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn media_size(app: &TestApp, key: &str) -> (u32, u32) {
    let resp = app.get(&format!("/media/{key}")).await;
    assert_eq!(resp.status(), 200, "{key}");
    let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
    (img.width(), img.height())
}

async fn new_post_with_cover(author: &TestApp, title: &str, cover: Vec<u8>) -> reqwest::Response {
    let fields = vec![
        ("title", title.to_string()),
        ("body", "text".to_string()),
        ("status", "published".to_string()),
        ("action", "save".to_string()),
    ];
    new_post(author, fields, Some(cover)).await
}

async fn an_8000_by_1_avatar_is_stored_at_avatar_size(app: TestApp) {
    app.signed_up("strip").await;
    let bomb = strip_png();
    assert!(bomb.len() < 400, "{} bytes", bomb.len());
    let resp = edit_profile(&app, "Strip", "strip@example.com", bomb).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let user = models::find_by_username(&app.state.db, "strip")
        .await
        .unwrap()
        .unwrap();
    let key = user.avatar.expect("avatar stored");
    assert_eq!(media_size(&app, &key).await, (256, 256));
    assert_eq!(
        media_size(&app, &trellis::accounts::thumb_key(&key)).await,
        (64, 64)
    );
}

async fn an_8000_by_1_cover_is_stored_at_cover_size(app: TestApp) {
    let author = app.user("stripper", &["authors"], false).await;
    let resp = new_post_with_cover(&author, "Thin cover", strip_png()).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let post = trellis::blog::models::by_slug(&app.state.db, "thin-cover")
        .await
        .unwrap()
        .unwrap();
    let key = post.row.cover.expect("cover stored");
    assert_eq!(
        media_size(&app, &key).await,
        (1200, 1),
        "fitted within 1200×800"
    );
    assert_eq!(
        media_size(&app, &trellis::blog::cover_thumb_key(&key)).await,
        (480, 270)
    );
}

async fn an_avatar_over_the_pixel_limit_is_refused_and_nothing_is_stored(app: TestApp) {
    app.signed_up("huge").await;
    let resp = edit_profile(&app, "Changed", "huge@example.com", huge_png()).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Avatar rejected: the image is larger than 24 megapixels"),
        "{html}"
    );
    let user = models::find_by_username(&app.state.db, "huge")
        .await
        .unwrap()
        .unwrap();
    assert!(user.avatar.is_none());
    assert_eq!(user.display_name, "", "nothing half-saved");
    assert!(app.state.storage.list("avatars").await.unwrap().is_empty());
}

async fn a_cover_over_the_pixel_limit_is_refused_and_nothing_is_stored(app: TestApp) {
    let author = app.user("bigcover", &["authors"], false).await;
    let resp = new_post_with_cover(&author, "Huge cover", huge_png()).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Cover rejected: the image is larger than 24 megapixels"),
        "{html}"
    );
    assert!(html.contains("value=\"Huge cover\""), "input kept");
    assert!(
        trellis::blog::models::by_slug(&app.state.db, "huge-cover")
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.state.storage.list("covers").await.unwrap().is_empty());
}

/// Submits the new-post form with `fields` and, if given, a cover file.
async fn new_post(
    author: &TestApp,
    fields: Vec<(&'static str, String)>,
    cover: Option<Vec<u8>>,
) -> reqwest::Response {
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    author
        .post_multipart(
            "/blog/new/",
            "/blog/new/",
            &fields,
            cover.map(|f| ("cover", f, "cover.png")),
        )
        .await
}

/// The `held_cover` value in a rendered editor form.
fn held_cover(html: &str) -> String {
    let at = html
        .find("name=\"held_cover\" value=\"")
        .unwrap_or_else(|| panic!("no held cover in the form: {html}"));
    let rest = &html[at + "name=\"held_cover\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn a_cover_chosen_before_a_preview_or_a_refusal_is_kept_until_the_save(app: TestApp) {
    let author = app.user("previewer", &["authors"], false).await;
    let cover = crate::helpers::png_bytes(64, 48);
    let send = |fields, file| new_post(&author, fields, file);
    let base = |action: &str| {
        vec![
            ("title", "Held cover".to_string()),
            ("body", "text".to_string()),
            ("status", "published".to_string()),
            ("action", action.to_string()),
        ]
    };

    // Preview with a file: the form comes back holding it, its thumbnail shown.
    let resp = send(base("preview"), Some(cover.clone())).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let held = held_cover(&html);
    assert!(html.contains("alt=\"Chosen cover\""), "{html}");
    let pending = app.state.storage.list("pending").await.unwrap();
    assert_eq!(pending.len(), 2, "the cover and its thumbnail: {pending:?}");

    // Someone else cannot claim it: their post is saved without a cover and the held one stays.
    let other = app.user("claimer", &["authors"], false).await;
    let token = other.csrf_token("/blog/new/").await;
    let form = Form::new()
        .text("csrf_token", token)
        .text("title", "Not mine")
        .text("body", "text")
        .text("status", "published")
        .text("action", "save")
        .text("held_cover", held.clone());
    let resp = other
        .client
        .post(other.url("/blog/new/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let theirs = trellis::blog::models::by_slug(&app.state.db, "not-mine")
        .await
        .unwrap()
        .unwrap();
    assert!(theirs.row.cover.is_none());

    // A refusal (no title) keeps holding it; the save without choosing the file again uses it.
    let mut refused = base("save");
    refused[0].1.clear();
    refused.push(("held_cover", held.clone()));
    let resp = send(refused, None).await;
    assert_eq!(resp.status(), 422);
    assert_eq!(held_cover(&resp.text().await.unwrap()), held);
    let mut save = base("save");
    save.push(("held_cover", held.clone()));
    let resp = send(save, None).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let post = trellis::blog::models::by_slug(&app.state.db, "held-cover")
        .await
        .unwrap()
        .unwrap();
    let key = post
        .row
        .cover
        .expect("the held cover was saved with the post");
    assert_eq!(media_size(&app, &key).await, (64, 48));
    assert!(
        app.state.storage.list("pending").await.unwrap().is_empty(),
        "nothing is held once saved"
    );

    // A held cover that is gone (swept) is named, not silently dropped.
    let mut stale = base("save");
    stale[0].1 = "Stale cover".into();
    stale.push(("held_cover", held));
    let resp = send(stale, None).await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("no longer kept; choose the file again")
    );

    // An abandoned preview's cover is swept once old enough, not before.
    let resp = send(base("preview"), Some(cover)).await;
    assert_eq!(resp.status(), 200);
    let storage = &app.state.storage;
    let prefix = trellis::storage::PENDING_PREFIX;
    let day = trellis::storage::PENDING_MAX_AGE;
    assert_eq!(storage.delete_older_than(prefix, day).await.unwrap(), 0);
    let zero = std::time::Duration::ZERO;
    assert_eq!(storage.delete_older_than(prefix, zero).await.unwrap(), 2);
    assert!(storage.list(prefix).await.unwrap().is_empty());
}

/// 24 authors at once each upload an avatar, preview a post with a cover (held) and save it, where
/// uploads live (local files here, the S3 store in `object_storage.rs`). Every write lands, every key is
/// distinct, and nothing stays held.
pub(crate) async fn dozens_of_authors_upload_at_once(app: TestApp) {
    const AUTHORS: usize = 24;
    let mut authors = Vec::new();
    for i in 0..AUTHORS {
        authors.push(app.user(&format!("busy{i}"), &["authors"], false).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, author) in authors.into_iter().enumerate() {
        tasks.spawn(async move {
            let png = crate::helpers::png_bytes(40 + i as u32, 30);
            let resp = edit_profile(
                &author,
                &format!("Busy {i}"),
                &format!("busy{i}@example.com"),
                png.clone(),
            )
            .await;
            assert_eq!(resp.status(), 303, "avatar {i}");
            let title = format!("Busy post {i}");
            let fields = |action: &'static str| {
                vec![
                    ("title", title.clone()),
                    ("body", "text".to_string()),
                    ("status", "published".to_string()),
                    ("action", action.to_string()),
                ]
            };
            let send = |fields, file| new_post(&author, fields, file);
            let resp = send(fields("preview"), Some(png)).await;
            assert_eq!(resp.status(), 200, "preview {i}");
            let held = held_cover(&resp.text().await.unwrap());
            let mut save = fields("save");
            save.push(("held_cover", held));
            let resp = send(save, None).await;
            assert_eq!(resp.status(), 303, "save {i}");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let storage = &app.state.storage;
    let mut covers = Vec::new();
    for i in 0..AUTHORS {
        let post = trellis::blog::models::by_slug(&app.state.db, &format!("busy-post-{i}"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("post {i} saved"));
        let key = post
            .row
            .cover
            .unwrap_or_else(|| panic!("post {i} has its cover"));
        assert_eq!(
            media_size(&app, &key).await,
            (40 + i as u32, 30),
            "post {i}'s own cover"
        );
        covers.push(key);
        let user = models::find_by_username(&app.state.db, &format!("busy{i}"))
            .await
            .unwrap()
            .unwrap();
        assert!(user.avatar.is_some(), "avatar {i} saved");
    }
    covers.sort();
    covers.dedup();
    assert_eq!(covers.len(), AUTHORS, "distinct cover keys");
    assert_eq!(storage.list("covers").await.unwrap().len(), 2 * AUTHORS);
    assert_eq!(storage.list("avatars").await.unwrap().len(), 2 * AUTHORS);
    assert!(storage.list("pending").await.unwrap().is_empty());
}

/// A body sent in chunks has no length to refuse up front: the limit is met while the form is read,
/// and the answer is the same 413 as for a body whose length says it is too large.
async fn an_upload_past_the_body_limit_without_a_length_is_413(app: TestApp) {
    let token = app.api_user("chunky").await;
    let boundary = "XBOUNDARYX";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\
         Content-Type: text/csv\r\n\r\ntext\n"
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(b'a', 100_000));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let mut raw = RawClient::connect(&app.address).await;
    raw.send(
        format!(
            "POST /api/sentiment/datasets HTTP/1.1\r\nHost: localhost\r\nAuthorization: Token {token}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    for chunk in body.chunks(8192) {
        raw.send(format!("{:x}\r\n", chunk.len()).as_bytes()).await;
        raw.send(chunk).await;
        raw.send(b"\r\n").await;
    }
    raw.send(b"0\r\n\r\n").await;
    let (status, answer) = raw.response().await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("\"body\""), "{answer}");
    let (_, list) = app
        .api(
            reqwest::Method::GET,
            "/api/sentiment/datasets",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(list["count"], 0, "nothing stored");
}
