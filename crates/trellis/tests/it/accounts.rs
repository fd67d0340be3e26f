use reqwest::multipart::{Form, Part};
use trellis::accounts::{models, perms};

use crate::helpers::{TestApp, location, png_bytes};

db_tests! {
    register_creates_the_user_and_signs_them_in;
    register_rejects_a_taken_username_case_insensitively;
    register_rejects_a_taken_email;
    register_names_each_failed_password_rule;
    register_keeps_the_input_and_shows_errors_beside_fields;
    length_only_validators_accept_what_realworld_suites_send ["password_validators" = "length"];
    login_works_with_username_or_email;
    login_with_wrong_password_returns_401_and_no_session;
    session_id_changes_at_login;
    logout_is_post_only_and_destroys_the_session;
    unsafe_request_without_csrf_token_is_403;
    csrf_token_in_header_is_accepted;
    password_change_needs_the_current_password_and_ends_other_sessions;
    password_reset_token_works_once;
    password_reset_answers_the_same_for_unknown_addresses;
    password_reset_token_expires ["password_reset_timeout_secs" = "1"];
    profile_edit_stores_a_reencoded_avatar_and_thumbnail;
    text_file_renamed_png_is_rejected_as_avatar_and_nothing_is_stored;
    login_is_throttled_per_account ["throttle_login" = "3/min", "trust_proxy" = "true"];
    login_is_throttled_per_client_address ["throttle_login" = "3/min"];
    password_reset_is_throttled ["throttle_password_reset" = "2/hour"];
    pages_that_need_a_user_redirect_to_login;
    permissions_follow_the_one_rule;
    deactivated_users_lose_their_sessions;
}

const PW: &str = "violet-harbor-quantum-41";

async fn register_creates_the_user_and_signs_them_in(app: TestApp) {
    let resp = app.register("alice", "alice@example.com", PW).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    assert!(
        app.get_text("/")
            .await
            .contains("Welcome to Trellis, alice!"),
        "flash shown on the next page"
    );
    assert!(
        !app.get_text("/").await.contains("Welcome to Trellis"),
        "and only once"
    );
    assert_eq!(app.signed_in_as().await.as_deref(), Some("alice"));
    let user = models::find_by_username(&app.state.db, "ALICE")
        .await
        .unwrap()
        .expect("stored");
    assert!(
        user.password_hash.starts_with("$argon2id$"),
        "hash is argon2id"
    );
    assert!(!user.is_staff && !user.is_superuser && user.is_active);
}

async fn register_rejects_a_taken_username_case_insensitively(app: TestApp) {
    app.signed_up("alice").await;
    app.logout().await;
    let resp = app.register("Alice", "other@example.com", PW).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Username has already been taken"), "{html}");
}

async fn register_rejects_a_taken_email(app: TestApp) {
    app.signed_up("alice").await;
    app.logout().await;
    let resp = app.register("bob", "ALICE@example.com", PW).await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Email has already been taken")
    );
}

async fn register_names_each_failed_password_rule(app: TestApp) {
    let cases = [
        ("Xk9!qz", "is too short"),
        ("charlie-brown1", "is too similar to the username"),
        ("password123", "is too common"),
        ("80417329561", "is entirely numeric"),
    ];
    for (password, message) in cases {
        let resp = app
            .register("charlie-brown1", "cb@example.com", password)
            .await;
        assert_eq!(resp.status(), 422, "{password}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains(&format!("Password {message}")),
            "{password}: expected `{message}` in {html}"
        );
    }
    assert!(
        models::find_by_username(&app.state.db, "charlie-brown1")
            .await
            .unwrap()
            .is_none()
    );
}

async fn register_keeps_the_input_and_shows_errors_beside_fields(app: TestApp) {
    let resp = app
        .post_form(
            "/accounts/register/",
            &[
                ("username", "dora"),
                ("email", "not-an-email"),
                ("password1", PW),
                ("password2", "different"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("value=\"dora\""), "username kept");
    assert!(html.contains("value=\"not-an-email\""), "email kept");
    assert!(
        html.contains("id=\"err_email\""),
        "email error beside its field"
    );
    assert!(
        html.contains("id=\"err_password2\""),
        "mismatch beside the second password"
    );
    assert!(
        html.contains("Password again must be the same as the password above."),
        "the error reads as a sentence after its label"
    );
    assert!(!html.contains(PW), "passwords are never echoed back");
}

async fn length_only_validators_accept_what_realworld_suites_send(app: TestApp) {
    assert_eq!(
        app.register("rw", "rw@example.com", "password123")
            .await
            .status(),
        303
    );
    app.logout().await;
    assert_eq!(
        app.register("rw2", "rw2@example.com", "short")
            .await
            .status(),
        422
    );
}

async fn login_works_with_username_or_email(app: TestApp) {
    app.signed_up("erin").await;
    app.logout().await;
    assert_eq!(app.signed_in_as().await, None);
    let resp = app.login("ERIN", PW).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.signed_in_as().await.as_deref(), Some("erin"));
    app.logout().await;
    let resp = app.login("erin@EXAMPLE.com", PW).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.signed_in_as().await.as_deref(), Some("erin"));
    let user = models::find_by_username(&app.state.db, "erin")
        .await
        .unwrap()
        .unwrap();
    assert!(user.last_login.is_some());
}

async fn login_with_wrong_password_returns_401_and_no_session(app: TestApp) {
    app.signed_up("frank").await;
    app.logout().await;
    let resp = app.login("frank", "wrong-password-entirely").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("do not match"));
    assert_eq!(app.signed_in_as().await, None);
    let resp = app.login("nobody-at-all", PW).await;
    assert_eq!(resp.status(), 401);
}

async fn session_id_changes_at_login(app: TestApp) {
    app.signed_up("gina").await;
    app.logout().await;
    let token = app.csrf_token("/accounts/login/").await;
    let before = app
        .session_cookie()
        .expect("anonymous session holds the CSRF token");
    let resp = app
        .client
        .post(app.url("/accounts/login/"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login", "gina"),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let after = app.session_cookie().expect("session after login");
    assert_ne!(before, after, "session id must rotate at login");
    let set_cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
}

async fn logout_is_post_only_and_destroys_the_session(app: TestApp) {
    app.signed_up("hank").await;
    let old = app.session_cookie().unwrap();
    // GET only asks for confirmation.
    assert_eq!(app.get("/accounts/logout/").await.status(), 200);
    assert_eq!(app.signed_in_as().await.as_deref(), Some("hank"));
    let resp = app.logout().await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.signed_in_as().await, None);
    assert_ne!(
        app.session_cookie(),
        Some(old.clone()),
        "a new anonymous session never reuses the old id"
    );
    // Replaying the old cookie does not authenticate: the session was deleted server-side.
    let (client, _) = app.new_client();
    let html = client
        .get(app.url("/"))
        .header("cookie", format!("trellis_session={old}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("data-testid=\"nav-user\""));
}

async fn unsafe_request_without_csrf_token_is_403(app: TestApp) {
    app.signed_up("ivy").await;
    let resp = app.post_form_raw("/accounts/logout/", &[]).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("CSRF"));
    assert_eq!(
        app.signed_in_as().await.as_deref(),
        Some("ivy"),
        "the forged logout did nothing"
    );
    let resp = app
        .post_form_raw("/accounts/logout/", &[("csrf_token", "forged")])
        .await;
    assert_eq!(resp.status(), 403);
    // Without any session at all (a cross-site login attempt) the form is refused too.
    let (client, _) = app.new_client();
    let resp = client
        .post(app.url("/accounts/login/"))
        .form(&[("login", "ivy"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

async fn csrf_token_in_header_is_accepted(app: TestApp) {
    app.signed_up("jack").await;
    let token = app.csrf_token("/").await;
    let resp = app
        .client
        .post(app.url("/accounts/logout/"))
        .header("X-CSRF-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.signed_in_as().await, None);
}

async fn password_change_needs_the_current_password_and_ends_other_sessions(app: TestApp) {
    app.signed_up("kate").await;
    // A second device, signed in too.
    let other = app.sibling(&[]).await;
    assert_eq!(other.login("kate", PW).await.status(), 303);
    assert_eq!(other.signed_in_as().await.as_deref(), Some("kate"));

    let resp = app
        .post_form(
            "/accounts/password/change/",
            &[
                ("old_password", "not-it"),
                ("new_password1", "amber-lantern-meadow-7"),
                ("new_password2", "amber-lantern-meadow-7"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("is not your current password")
    );

    let resp = app
        .post_form(
            "/accounts/password/change/",
            &[
                ("old_password", PW),
                ("new_password1", "amber-lantern-meadow-7"),
                ("new_password2", "amber-lantern-meadow-7"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        app.signed_in_as().await.as_deref(),
        Some("kate"),
        "this session stays"
    );
    assert_eq!(other.signed_in_as().await, None, "the other session ended");
    app.logout().await;
    assert_eq!(app.login("kate", PW).await.status(), 401);
    assert_eq!(
        app.login("kate", "amber-lantern-meadow-7").await.status(),
        303
    );
}

pub fn reset_link(email: &str) -> String {
    let start = email
        .find("/accounts/password/reset/")
        .expect("link in email");
    let rest = &email[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    rest[..end].to_string()
}

async fn password_reset_token_works_once(app: TestApp) {
    app.signed_up("liam").await;
    app.logout().await;
    let resp = app
        .post_form(
            "/accounts/password/reset/",
            &[("email", "liam@example.com")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/accounts/password/reset/done/");
    let emails = app.sent_emails();
    assert_eq!(emails.len(), 1);
    let link = reset_link(&emails[0]);
    assert_eq!(app.get(&link).await.status(), 200);
    let new = "copper-willow-orbit-88";
    let resp = app
        .post_form(&link, &[("new_password1", new), ("new_password2", new)])
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    assert_eq!(app.login("liam", new).await.status(), 303);
    app.logout().await;
    // Second use of the same link fails.
    let resp = app.get(&link).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("no longer valid"));
    let token = app.csrf_token("/accounts/login/").await;
    let resp = app
        .client
        .post(app.url(&link))
        .form(&[
            ("csrf_token", token.as_str()),
            ("new_password1", "x-other-pass-99z"),
            ("new_password2", "x-other-pass-99z"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(app.login("liam", new).await.status(), 303);
}

async fn password_reset_answers_the_same_for_unknown_addresses(app: TestApp) {
    app.signed_up("mia").await;
    app.logout().await;
    let known = app
        .post_form("/accounts/password/reset/", &[("email", "mia@example.com")])
        .await;
    let unknown = app
        .post_form(
            "/accounts/password/reset/",
            &[("email", "ghost@example.com")],
        )
        .await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(location(&known), location(&unknown));
    assert_eq!(
        app.sent_emails().len(),
        1,
        "only the real address gets mail"
    );
}

async fn password_reset_token_expires(app: TestApp) {
    app.signed_up("noah").await;
    app.logout().await;
    app.post_form(
        "/accounts/password/reset/",
        &[("email", "noah@example.com")],
    )
    .await;
    let link = reset_link(&app.sent_emails()[0]);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(app.get(&link).await.status(), 400);
}

async fn profile_edit_stores_a_reencoded_avatar_and_thumbnail(app: TestApp) {
    app.signed_up("olga").await;
    let token = app.csrf_token("/accounts/profile/edit/").await;
    let form = Form::new()
        .text("csrf_token", token)
        .text("display_name", "Olga K.")
        .text("email", "olga@example.com")
        .text("bio", "Rust & <b>bold</b> plans")
        .part(
            "avatar",
            Part::bytes(png_bytes(400, 300))
                .file_name("me.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let resp = app
        .client
        .post(app.url("/accounts/profile/edit/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let user = models::find_by_username(&app.state.db, "olga")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.display_name, "Olga K.");
    let key = user.avatar.expect("avatar stored");
    assert!(
        key.starts_with("avatars/") && !key.contains("me.png"),
        "name is generated: {key}"
    );
    let html = app.get_text("/accounts/profile/").await;
    assert!(
        html.contains("Rust &amp; &lt;b&gt;bold&lt;"),
        "bio is escaped: {html}"
    );
    assert!(!html.contains("<b>bold"));
    let resp = app.get(&format!("/media/{key}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
    let thumb = app
        .get(&format!("/media/{}", trellis::accounts::thumb_key(&key)))
        .await;
    let img = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));
}

async fn text_file_renamed_png_is_rejected_as_avatar_and_nothing_is_stored(app: TestApp) {
    app.signed_up("pete").await;
    let token = app.csrf_token("/accounts/profile/edit/").await;
    let form = Form::new()
        .text("csrf_token", token)
        .text("display_name", "Changed Name")
        .text("email", "pete@example.com")
        .text("bio", "")
        .part(
            "avatar",
            Part::bytes(b"just some text, not a picture".to_vec())
                .file_name("cat.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let resp = app
        .client
        .post(app.url("/accounts/profile/edit/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Avatar rejected: the file is not a PNG, JPEG, GIF or WebP image"),
        "{html}"
    );
    let user = models::find_by_username(&app.state.db, "pete")
        .await
        .unwrap()
        .unwrap();
    assert!(user.avatar.is_none());
    assert_eq!(user.display_name, "", "nothing half-saved");
    assert!(
        app.state.storage.list("avatars").await.unwrap().is_empty(),
        "no file stored"
    );
}

async fn login_is_throttled_per_account(app: TestApp) {
    app.signed_up("quinn").await;
    app.logout().await;
    let attempt = |ip: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let token = app.csrf_token("/accounts/login/").await;
            app.client
                .post(app.url("/accounts/login/"))
                .header("X-Forwarded-For", ip)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("login", "quinn"),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Each guess comes from a different address, so only the per-account limit can refuse.
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert_eq!(attempt(ip, "bad-guess-000").await.status(), 401);
    }
    let resp = attempt("10.0.0.4", PW).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(app.signed_in_as().await, None);
}

async fn login_is_throttled_per_client_address(app: TestApp) {
    for name in ["u1", "u2", "u3"] {
        assert_eq!(app.login(name, "whatever-pass").await.status(), 401);
    }
    assert_eq!(app.login("u4", "whatever-pass").await.status(), 429);
}

async fn password_reset_is_throttled(app: TestApp) {
    for _ in 0..2 {
        assert_eq!(
            app.post_form("/accounts/password/reset/", &[("email", "x@example.com")])
                .await
                .status(),
            303
        );
    }
    let resp = app
        .post_form("/accounts/password/reset/", &[("email", "x@example.com")])
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
}

async fn pages_that_need_a_user_redirect_to_login(app: TestApp) {
    for path in [
        "/accounts/profile/",
        "/accounts/profile/edit/",
        "/accounts/password/change/",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(
            location(&resp),
            format!(
                "/accounts/login/?next={}",
                trellis::http::auth::urlencode(path)
            )
        );
    }
    app.signed_up("rosa").await;
    app.logout().await;
    let token = app
        .csrf_token("/accounts/login/?next=/accounts/profile/")
        .await;
    let resp = app
        .client
        .post(app.url("/accounts/login/"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login", "rosa"),
            ("password", PW),
            ("next", "/accounts/profile/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/accounts/profile/");
    // An outside `next` is ignored.
    app.logout().await;
    let resp = app
        .client
        .post(app.url("/accounts/login/"))
        .form(&[
            (
                "csrf_token",
                app.csrf_token("/accounts/login/").await.as_str(),
            ),
            ("login", "rosa"),
            ("password", PW),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&resp), "/");
}

async fn permissions_follow_the_one_rule(app: TestApp) {
    use sea_orm::ConnectionTrait;
    let db = &app.state.db;
    app.signed_up("sam").await;
    let sam = models::find_by_username(db, "sam").await.unwrap().unwrap();
    assert!(
        !perms::has_perm(db, &sam, "accounts.view_user")
            .await
            .unwrap()
    );
    let editors = models::find_group(db, "editors")
        .await
        .unwrap()
        .expect("default group from migration");
    assert!(models::find_group(db, "authors").await.unwrap().is_some());
    db.execute_unprepared(&format!(
        "INSERT INTO auth_group_permissions (group_id, permission_id) \
         SELECT {}, id FROM auth_permissions WHERE codename = 'accounts.view_user'",
        editors.id
    ))
    .await
    .unwrap();
    models::add_to_group(db, sam.id, editors.id).await.unwrap();
    assert!(
        perms::has_perm(db, &sam, "accounts.view_user")
            .await
            .unwrap()
    );
    assert!(
        !perms::has_perm(db, &sam, "accounts.delete_user")
            .await
            .unwrap()
    );
    assert_eq!(
        models::groups_of(db, sam.id).await.unwrap(),
        vec!["editors".to_string()]
    );
    models::remove_from_group(db, sam.id, editors.id)
        .await
        .unwrap();
    assert!(
        !perms::has_perm(db, &sam, "accounts.view_user")
            .await
            .unwrap()
    );

    let root = trellis::accounts::create_user(
        db,
        &app.state.settings,
        "root",
        "root@example.com",
        PW,
        true,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(root.is_superuser && root.is_staff);
    assert!(
        perms::has_perm(db, &root, "accounts.delete_group")
            .await
            .unwrap()
    );
    assert!(perms::has_perm(db, &root, "anything.at_all").await.unwrap());
    let all = perms::perms_of(db, &root).await.unwrap();
    assert!(all.contains("accounts.add_user") && all.len() >= 8);

    // Staff status opens the admin site only: a staff member outside any group holds nothing.
    db.execute_unprepared(&format!(
        "UPDATE users SET is_staff = TRUE WHERE id = {}",
        sam.id
    ))
    .await
    .unwrap();
    let sam = models::find_by_username(db, "sam").await.unwrap().unwrap();
    assert!(sam.is_staff);
    assert!(
        !perms::has_perm(db, &sam, "accounts.view_user")
            .await
            .unwrap()
    );
    assert!(perms::perms_of(db, &sam).await.unwrap().is_empty());
    // Their own permissions count as much as their groups'.
    db.execute_unprepared(&format!(
        "INSERT INTO auth_user_permissions (user_id, permission_id) \
         SELECT {}, id FROM auth_permissions WHERE codename = 'accounts.view_user'",
        sam.id
    ))
    .await
    .unwrap();
    assert!(
        perms::has_perm(db, &sam, "accounts.view_user")
            .await
            .unwrap()
    );
    assert_eq!(
        perms::perms_of(db, &sam)
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["accounts.view_user".to_string()]
    );
    // An inactive user holds nothing, superuser or not.
    db.execute_unprepared(&format!(
        "UPDATE users SET is_active = FALSE WHERE id IN ({}, {})",
        sam.id, root.id
    ))
    .await
    .unwrap();
    for name in ["sam", "root"] {
        let u = models::find_by_username(db, name).await.unwrap().unwrap();
        assert!(
            !perms::has_perm(db, &u, "accounts.view_user").await.unwrap(),
            "{name}"
        );
        assert!(perms::perms_of(db, &u).await.unwrap().is_empty(), "{name}");
    }
}

async fn deactivated_users_lose_their_sessions(app: TestApp) {
    use sea_orm::ConnectionTrait;
    app.signed_up("tess").await;
    assert_eq!(app.signed_in_as().await.as_deref(), Some("tess"));
    app.state
        .db
        .execute_unprepared("UPDATE users SET is_active = FALSE WHERE username = 'tess'")
        .await
        .unwrap();
    assert_eq!(app.signed_in_as().await, None);
    assert_eq!(app.login("tess", PW).await.status(), 401);
}
