//! Image uploads built to be expensive: a strip of 8000×1 pixels (about 100 bytes of PNG) that resizing
//! used to blow up to gigabytes, and an image whose header alone is over the pixel limit.

use reqwest::multipart::{Form, Part};
use trellis::accounts::models;

use crate::helpers::TestApp;

db_tests! {
    an_8000_by_1_avatar_is_stored_at_avatar_size;
    an_8000_by_1_cover_is_stored_at_cover_size;
    an_avatar_over_the_pixel_limit_is_refused_and_nothing_is_stored;
    a_cover_over_the_pixel_limit_is_refused_and_nothing_is_stored;
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

async fn edit_profile(
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
    author
        .post_multipart(
            "/blog/new/",
            "/blog/new/",
            &[
                ("title", title),
                ("body", "text"),
                ("status", "published"),
                ("action", "save"),
            ],
            Some(("cover", cover, "cover.png")),
        )
        .await
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
    assert!(app.state.storage.list("avatars").is_empty());
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
    assert!(app.state.storage.list("covers").is_empty());
}
