use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, location};

pub(crate) fn seed() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/roadmap/seed.md"
    ))
    .expect("the seed roadmap is kept at data/roadmap/seed.md")
}

db_tests! {
    the_seed_imports_through_the_page_with_its_counts;
    statuses_change_with_one_click_and_progress_follows;
    the_api_imports_reports_and_updates_progress;
    export_fills_the_tracker_and_reimports_with_the_same_statuses;
    planning_schedules_days_and_exports_a_calendar;
    a_shared_link_is_read_only_and_revocable;
    roadmaps_are_private_to_their_owner;
    a_bad_file_is_refused_with_a_line_number_and_nothing_is_stored;
}

async fn upload(who: &TestApp, bytes: Vec<u8>) -> reqwest::Response {
    who.post_multipart(
        "/tracker/",
        "/tracker/",
        &[],
        Some(("file", bytes, "roadmap.md")),
    )
    .await
}

fn id_from(loc: &str) -> i64 {
    loc.trim_start_matches("/tracker/")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

async fn the_seed_imports_through_the_page_with_its_counts(app: TestApp) {
    let me = app.user("learner", &[], false).await;
    let resp = upload(&me, seed()).await;
    assert_eq!(resp.status(), 303);
    let page = me.get_text(&location(&resp)).await;
    assert!(page.contains("Imported 3 phases, 10 week sections, 42 items, 22 tracker rows and 4 project ideas (1 warning)"), "{page}");
    assert!(page.contains("weeks 8–10 have no section"));
    assert!(page.contains("Mac Roman"), "mojibake repair is reported");
    assert!(page.contains("Here’s a") || page.contains("Basics of Django"));
    assert!(!page.contains("‚úÖ"), "no mojibake on the page");
    for href in ["/blog/", "/todos", "/sentiment/", "/shop/"] {
        assert!(
            page.contains(&format!("href=\"{href}\"")),
            "project idea links to {href}"
        );
    }
    assert!(page.contains("<svg"), "progress chart");
}

async fn statuses_change_with_one_click_and_progress_follows(app: TestApp) {
    let me = app.user("clicker", &[], false).await;
    let id = id_from(&location(&upload(&me, seed()).await));
    let page = format!("/tracker/{id}/");
    assert!(
        me.get_text(&page)
            .await
            .contains("data-testid=\"overall-percent\">0%")
    );
    // Three of 42 items done, one learning.
    for key in ["p1-w1-d1", "p1-w1-d2", "p1-w1-d3-4"] {
        let resp = me
            .post_form_from(
                &page,
                &format!("/tracker/{id}/items/{key}/"),
                &[("status", "done")],
            )
            .await;
        assert_eq!(resp.status(), 303);
        assert_eq!(location(&resp), format!("/tracker/{id}/#{key}"));
    }
    me.post_form_from(
        &page,
        &format!("/tracker/{id}/items/p1-w1-d5-6/"),
        &[("status", "learning")],
    )
    .await;
    let html = me.get_text(&page).await;
    assert!(
        html.contains("data-testid=\"overall-percent\">7%"),
        "3/42 = 7%"
    );
    assert!(html.contains("🔥 1-day streak"));
    let bad = me
        .post_form_from(
            &page,
            &format!("/tracker/{id}/items/p1-w1-d1/"),
            &[("status", "finished")],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let unknown = me
        .post_form_from(
            &page,
            &format!("/tracker/{id}/items/nope/"),
            &[("status", "done")],
        )
        .await;
    assert_eq!(unknown.status(), 404);
}

async fn the_api_imports_reports_and_updates_progress(app: TestApp) {
    let token = app.api_user("apilearner").await;
    let md = String::from_utf8(seed()).unwrap();
    let (s, body) = app
        .api(
            Method::POST,
            "/api/roadmaps",
            Some(&token),
            Some(json!({"markdown": md})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(body["phases"].as_array().unwrap().len(), 3);
    assert_eq!(body["tracker"].as_array().unwrap().len(), 22);
    assert_eq!(body["progress"]["total"], 42);
    assert_eq!(body["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(body["project_ideas"][1]["app"], "todo");
    let (s, body) = app
        .api(
            Method::PATCH,
            &format!("/api/roadmaps/{id}/items/p1-w1-d1"),
            Some(&token),
            Some(json!({"status": "done", "note": "easy"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["note"].as_str()),
        (Some("done"), Some("easy"))
    );
    assert_eq!(body["roadmap_progress"]["done"], 1);
    let (s, _) = app
        .api(
            Method::PATCH,
            &format!("/api/roadmaps/{id}/items/p1-w1-d1"),
            Some(&token),
            Some(json!({"status": "maybe"})),
        )
        .await;
    assert_eq!(s, 422);
    let (_, list) = app
        .api(Method::GET, "/api/roadmaps", Some(&token), None)
        .await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["progress"]["done"], 1);
    let (s, body) = app
        .api(
            Method::POST,
            "/api/roadmaps",
            Some(&token),
            Some(json!({"markdown": ""})),
        )
        .await;
    assert_eq!(
        (s, body),
        (422, json!({"errors": {"markdown": ["can't be blank"]}}))
    );
    assert_eq!(
        app.api(
            Method::DELETE,
            &format!("/api/roadmaps/{id}"),
            Some(&token),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.api(
            Method::GET,
            &format!("/api/roadmaps/{id}"),
            Some(&token),
            None
        )
        .await
        .0,
        404
    );
}

async fn export_fills_the_tracker_and_reimports_with_the_same_statuses(app: TestApp) {
    let token = app.api_user("exporter").await;
    let (_, body) = app
        .api(
            Method::POST,
            "/api/roadmaps",
            Some(&token),
            Some(json!({"markdown": String::from_utf8(seed()).unwrap()})),
        )
        .await;
    let id = body["id"].as_i64().unwrap();
    let rows: Vec<String> = body["tracker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    let marks = [("done", "✅"), ("learning", "🚧"), ("pending", "❌")];
    for (row, (status, _)) in rows.iter().zip(marks) {
        app.api(
            Method::PATCH,
            &format!("/api/roadmaps/{id}/items/{row}"),
            Some(&token),
            Some(json!({"status": status})),
        )
        .await;
    }
    let resp = app
        .client
        .get(app.url(&format!("/api/roadmaps/{id}/export")))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    let md = resp.text().await.unwrap();
    for (_, emoji) in marks {
        assert!(md.contains(emoji), "export has {emoji}");
    }
    assert!(!md.contains("‚úÖ"), "exported clean UTF-8");
    let (s, again) = app
        .api(
            Method::POST,
            "/api/roadmaps",
            Some(&token),
            Some(json!({"markdown": md})),
        )
        .await;
    assert_eq!(s, 201);
    let first: Vec<(String, String)> = body["tracker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().into(),
                r["task"].as_str().unwrap().into(),
            )
        })
        .collect();
    let second: Vec<(String, String)> = again["tracker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().into(),
                r["task"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(first, second, "same structure and keys");
    let statuses: Vec<&str> = again["tracker"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["done", "learning", "pending"]);
    assert_eq!(again["progress"]["total"], 42);
}

async fn planning_schedules_days_and_exports_a_calendar(app: TestApp) {
    let me = app.user("planner", &[], false).await;
    let id = id_from(&location(&upload(&me, seed()).await));
    // Without a plan, "today" asks for one, and says why.
    assert_eq!(
        location(&me.get(&format!("/tracker/{id}/today/")).await),
        format!("/tracker/{id}/plan/")
    );
    assert!(
        me.get_text(&format!("/tracker/{id}/plan/"))
            .await
            .contains("pick a start date first"),
        "the redirect explains itself"
    );
    let start = (chrono::Utc::now().date_naive() - chrono::Duration::days(3)).to_string();
    let resp = me
        .post_form_from(
            &format!("/tracker/{id}/plan/"),
            &format!("/tracker/{id}/plan/"),
            &[("start_date", &start), ("days_per_week", "7")],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let today = me.get_text(&format!("/tracker/{id}/today/")).await;
    // Started three days ago at 7 days a week: Day 1 and Day 2 are overdue, Day 3-4 is due today.
    let overdue_at = today.find("<h2>Overdue</h2>").unwrap();
    let next_at = today.find("<h2>Next</h2>").unwrap();
    let due = &today[..overdue_at];
    let overdue = &today[overdue_at..next_at];
    assert!(due.contains("Understand"), "Day 3-4 is due: {due}");
    assert!(overdue.contains("Install Django"), "Day 1 is overdue");
    me.post_form_from(
        &format!("/tracker/{id}/today/"),
        &format!("/tracker/{id}/items/p1-w1-d1/"),
        &[("status", "done")],
    )
    .await;
    assert!(
        !me.get_text(&format!("/tracker/{id}/today/"))
            .await
            .contains("Install Django"),
        "done items leave the lists"
    );
    let resp = me.get(&format!("/tracker/{id}/calendar.ics")).await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = resp.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.trim_end().ends_with("END:VCALENDAR"));
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 42);
    assert!(ics.contains(&format!("DTSTART;VALUE=DATE:{}", start.replace('-', ""))));
    let bad = me
        .post_form_from(
            &format!("/tracker/{id}/plan/"),
            &format!("/tracker/{id}/plan/"),
            &[("start_date", "soon"), ("days_per_week", "9")],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains("value=\"soon\"") && html.contains("value=\"9\""),
        "what was typed comes back: {html}"
    );
    assert!(html.contains("id=\"err_days_per_week\""));
    // Valid date and days, but every day a rest day: the same form, not an error page.
    let bad = me
        .post_form_from(
            &format!("/tracker/{id}/plan/"),
            &format!("/tracker/{id}/plan/"),
            &[
                ("start_date", "2026-03-02"),
                ("days_per_week", "5"),
                ("rest", "Monday"),
                ("rest", "Tuesday"),
                ("rest", "Wednesday"),
                ("rest", "Thursday"),
                ("rest", "Friday"),
                ("rest", "Saturday"),
                ("rest", "Sunday"),
            ],
        )
        .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains("value=\"2026-03-02\"") && html.contains("value=\"5\""),
        "{html}"
    );
    assert!(html.contains("leave at least one day to study"), "{html}");
}

async fn a_shared_link_is_read_only_and_revocable(app: TestApp) {
    let me = app.user("sharer", &[], false).await;
    let id = id_from(&location(&upload(&me, seed()).await));
    me.post_form_from(
        &format!("/tracker/{id}/"),
        &format!("/tracker/{id}/items/p1-w1-d1/"),
        &[("status", "done")],
    )
    .await;
    me.post_form_from(
        &format!("/tracker/{id}/"),
        &format!("/tracker/{id}/share/"),
        &[],
    )
    .await;
    let html = me.get_text(&format!("/tracker/{id}/")).await;
    let start = html.find("/tracker/share/").unwrap();
    let link = &html[start..start + html[start..].find('<').unwrap()];
    assert!(
        link.len() > "/tracker/share/".len() + 40,
        "unguessable: {link}"
    );
    let visitor = app.fork();
    let page = visitor.get_text(link).await;
    assert!(
        page.contains("data-testid=\"status-p1-w1-d1\">✅ Done"),
        "progress visible"
    );
    assert!(!page.contains("status-form"), "no buttons: read-only");
    me.post_form_from(
        &format!("/tracker/{id}/"),
        &format!("/tracker/{id}/share/revoke/"),
        &[],
    )
    .await;
    assert_eq!(visitor.get(link).await.status(), 404);
}

async fn roadmaps_are_private_to_their_owner(app: TestApp) {
    let me = app.user("owner", &[], false).await;
    let id = id_from(&location(&upload(&me, seed()).await));
    let other = app.user("snoop", &[], false).await;
    for path in [
        format!("/tracker/{id}/"),
        format!("/tracker/{id}/export.md"),
        format!("/tracker/{id}/today/"),
    ] {
        assert_eq!(other.get(&path).await.status(), 404, "{path}");
    }
    let resp = other
        .post_form_from(
            "/tracker/",
            &format!("/tracker/{id}/items/p1-w1-d1/"),
            &[("status", "done")],
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        app.fork().get(&format!("/tracker/{id}/")).await.status(),
        303,
        "anonymous: to the login page"
    );
}

async fn a_bad_file_is_refused_with_a_line_number_and_nothing_is_stored(app: TestApp) {
    let me = app.user("careful", &[], false).await;
    let broken =
        b"## Phase 1: Basics (Weeks 1-4)\n\n### Week 1: Start\n\n- **Day 5-3**: backwards\n"
            .to_vec();
    let resp = upload(&me, broken.clone()).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("line 5"), "{html}");
    let binary = vec![0u8, 159, 146, 150, 0, 1];
    assert_eq!(upload(&me, binary).await.status(), 422);
    // Pasted rather than uploaded: the text and title come back, the error beside the paste box.
    let resp = me
        .post_multipart(
            "/tracker/",
            "/tracker/",
            &[
                ("markdown", std::str::from_utf8(&broken).unwrap()),
                ("title", "Mine & yours"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"err_markdown\""), "{html}");
    assert!(!html.contains("id=\"err_file\""), "{html}");
    assert!(
        html.contains("**Day 5-3**: backwards"),
        "the paste is kept: {html}"
    );
    assert!(html.contains("value=\"Mine &amp; yours\""), "{html}");
    assert!(me.get_text("/tracker/").await.contains("No roadmaps yet."));
}

#[test]
fn the_cli_imports_shows_and_exports() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trellis"));
        c.env("TRELLIS_DATA_DIR", &data)
            .env("TRELLIS_LOG_LEVEL", "warn")
            .args(args);
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let seed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/roadmap/seed.md");
    let out = run(&["roadmap", "import", seed_path], &[]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("phases: 3, week sections: 10, items: 42 (33 day lines, 9 bullets), tracker rows: 22, project ideas: 4, warnings: 1"), "{text}");
    assert!(text.contains("warning: line 54"));
    assert!(text.contains("not stored"));
    assert!(run(&["migrate"], &[]).status.success());
    let out = run(
        &["createsuperuser", "--no-input"],
        &[
            ("TRELLIS_SUPERUSER_USERNAME", "cli"),
            ("TRELLIS_SUPERUSER_EMAIL", "cli@example.com"),
            ("TRELLIS_SUPERUSER_PASSWORD", "slate-river-compass-19"),
        ],
    );
    assert!(out.status.success());
    let out = run(&["roadmap", "import", seed_path, "--user", "cli"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("stored as roadmap 1 for cli"));
    let out = run(&["roadmap", "show", "--user", "cli"], &[]);
    let tree = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        tree.contains("├─ Phase 1: Basics of Django [--------------------] 0%"),
        "{tree}"
    );
    let out = run(&["roadmap", "export", "--user", "cli"], &[]);
    let md = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(md.contains("| Week") && md.contains("Install Django"));
    let out = run(&["roadmap", "import", "/nonexistent.md"], &[]);
    assert!(!out.status.success());
    let _: Value = json!(null);
}

db_tests! {
    the_roadmap_list_runs_a_fixed_number_of_queries;
}

async fn the_roadmap_list_runs_a_fixed_number_of_queries(app: TestApp) {
    let token = app.api_user("lister").await;
    let md = String::from_utf8(seed()).unwrap();
    let count_for = |n: usize| {
        let app = &app;
        let token = token.clone();
        let md = md.clone();
        async move {
            for _ in 0..n {
                app.api(
                    Method::POST,
                    "/api/roadmaps",
                    Some(&token),
                    Some(json!({"markdown": md})),
                )
                .await;
            }
            let before = app.state.queries.get();
            let (s, body) = app
                .api(Method::GET, "/api/roadmaps", Some(&token), None)
                .await;
            assert_eq!(s, 200, "{body}");
            app.state.queries.get() - before
        }
    };
    let one = count_for(1).await;
    let four = count_for(3).await;
    assert_eq!(one, four, "no query per roadmap");
    assert_eq!(four, 4, "the caller + count + page + progress of the page");
}
