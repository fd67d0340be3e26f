//! Uploads in an S3-compatible store (SeaweedFS in CI), given as `TEST_S3_URL`, e.g.
//! `http://KEY:SECRET@127.0.0.1:8333/bucket`. Each test writes under its own prefix of the bucket.

use trellis::Settings;
use trellis::accounts::models;
use trellis::storage::Storage;

use crate::helpers::{Backend, TestApp};
use crate::uploads::edit_profile;

/// Settings pointing a fresh app at its own prefix of the test bucket; `None` when not configured.
fn s3_settings(what: &str) -> Option<Vec<(String, String)>> {
    let raw = crate::helpers::service("TEST_S3_URL", what)?;
    let url = url::Url::parse(&raw).expect("TEST_S3_URL is a URL");
    let bucket = url.path().trim_matches('/').to_string();
    assert!(!bucket.is_empty(), "TEST_S3_URL names a bucket as its path");
    let endpoint = format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    Some(vec![
        (
            "storage_url".into(),
            format!("s3://{bucket}/test-{}", uuid::Uuid::new_v4().simple()),
        ),
        ("s3_endpoint".into(), endpoint),
        ("s3_access_key_id".into(), url.username().to_string()),
        (
            "s3_secret_access_key".into(),
            url.password().unwrap_or_default().to_string(),
        ),
    ])
}

fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The same bucket and prefix, opened independently of any app.
fn direct(owned: &[(String, String)]) -> Storage {
    Storage::from_settings(&Settings::from_pairs(&pairs(owned)).unwrap()).unwrap()
}

async fn avatar_of(app: &TestApp, username: &str) -> Option<String> {
    models::find_by_username(&app.state.db, username)
        .await
        .unwrap()
        .unwrap()
        .avatar
}

#[tokio::test]
async fn uploads_live_in_the_store_and_another_instance_serves_them() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        // A prefix of its own for each backend's run.
        let Some(s3) = s3_settings("the object storage test") else {
            return;
        };
        let owned = s3.clone();
        crate::helpers::run(backend, &pairs(&s3), |one| async move {
            let s3 = owned;
            one.signed_up("stored").await;
            let resp = edit_profile(
                &one,
                "Stored",
                "stored@example.com",
                crate::helpers::png_bytes(300, 200),
            )
            .await;
            assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
            let key = avatar_of(&one, "stored").await.expect("avatar saved");
            let thumb = trellis::accounts::thumb_key(&key);

            // In the bucket, not on this instance's disk.
            let store = direct(&s3);
            assert_eq!(store.list("avatars").await.unwrap(), {
                let mut both = vec![key.clone(), thumb.clone()];
                both.sort();
                both
            });
            assert!(
                !one.data_dir.join("media").join(&key).exists(),
                "no local copy"
            );

            // Another instance with its own data directory, on the same database and bucket.
            let two =
                TestApp::spawn(one.backend, Some(one.database_url.clone()), &pairs(&s3)).await;
            assert_ne!(two.data_dir, one.data_dir);
            let resp = two.get(&format!("/media/{key}")).await;
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], "image/png");
            assert!(
                resp.headers()["cache-control"]
                    .to_str()
                    .unwrap()
                    .contains("immutable")
            );
            let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
            assert_eq!((img.width(), img.height()), (256, 256));
            let resp = two.get(&format!("/media/{thumb}")).await;
            assert_eq!(resp.status(), 200);

            // Replacing the avatar removes the old files from the bucket.
            let resp = edit_profile(
                &one,
                "Stored",
                "stored@example.com",
                crate::helpers::png_bytes(64, 64),
            )
            .await;
            assert_eq!(resp.status(), 303);
            let new_key = avatar_of(&one, "stored").await.unwrap();
            assert_ne!(new_key, key);
            let left = store.list("avatars").await.unwrap();
            assert_eq!(left.len(), 2, "{left:?}");
            assert!(left.contains(&new_key), "{left:?}");
            assert_eq!(two.get(&format!("/media/{key}")).await.status(), 404);

            // Keys come from us: nothing outside the prefix can be named.
            for path in [
                "/media/..%2F..%2Fetc%2Fpasswd.png",
                "/media/avatars/..%2F..%2Fx.png",
                "/media/avatars/missing.png",
                "/media/avatars/x.txt",
            ] {
                assert_eq!(two.get(path).await.status(), 404, "{path}");
            }
        })
        .await;
    }
}

#[tokio::test]
async fn a_store_that_is_down_gives_503_and_nothing_half_saved() {
    let Some(mut s3) = s3_settings("the object storage outage test") else {
        return;
    };
    // A port nobody listens on: the store refuses every connection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    for (k, v) in s3.iter_mut() {
        if k == "s3_endpoint" {
            *v = format!("http://127.0.0.1:{port}");
        }
    }
    crate::helpers::run(Backend::Sqlite, &pairs(&s3), |app| async move {
        app.signed_up("outage").await;
        let resp = edit_profile(
            &app,
            "Stored",
            "stored@example.com",
            crate::helpers::png_bytes(100, 100),
        )
        .await;
        assert_eq!(resp.status(), 503);
        let body = resp.text().await.unwrap();
        assert!(body.contains("File storage is unavailable"), "{body}");
        assert_eq!(avatar_of(&app, "outage").await, None);
        let user = models::find_by_username(&app.state.db, "outage")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.display_name, "", "the profile was not half saved");
        assert_eq!(app.get("/media/avatars/any.png").await.status(), 503);
    })
    .await;
}

#[tokio::test]
async fn dozens_of_authors_upload_to_the_store_at_once() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(s3) = s3_settings("the concurrent object storage test") else {
            return;
        };
        let mut settings = pairs(&s3);
        settings.push(("throttle", "off"));
        crate::helpers::run(
            backend,
            &settings,
            crate::uploads::dozens_of_authors_upload_at_once,
        )
        .await;
    }
}
