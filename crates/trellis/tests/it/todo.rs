//! The to-do app: its API on the shared REST layer (filters, ordering, pagination, auth, isolation) and
//! its page with plain forms.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TEST_PASSWORD, TestApp, location};

db_tests! {
    a_task_is_created_with_defaults_a_location_and_the_next_position;
    tasks_are_replaced_patched_and_deleted;
    completing_a_task_stamps_completed_at_and_uncompleting_clears_it;
    invalid_fields_are_422_naming_the_field;
    bad_query_parameters_are_400_naming_the_parameter;
    every_filter_narrows_the_list;
    every_ordering_sorts_the_list_and_a_minus_reverses_it;
    filters_and_orderings_combine;
    each_user_sees_only_their_own_tasks;
    jwts_personal_tokens_and_sessions_all_authenticate;
    pagination_has_clean_edges;
    the_list_runs_a_fixed_number_of_queries;
    clear_completed_deletes_only_the_callers_completed_tasks;
    the_openapi_document_describes_every_todo_operation;
    the_page_sends_visitors_to_log_in;
    the_page_adds_completes_edits_and_deletes_with_plain_forms;
    the_page_filters_and_sorts;
}

/// A signed-in browser for a new user, and a JWT for the same user.
async fn owner(app: &TestApp, name: &str) -> (TestApp, String) {
    let web = app.user(name, &[], false).await;
    let user = trellis::accounts::models::find_by_username(&app.state.db, name)
        .await
        .unwrap()
        .unwrap();
    let jwt = trellis::http::api::issue_jwt(&app.state, &user).unwrap();
    (web, jwt)
}

impl TestApp {
    /// Creates a task through the API and returns it.
    async fn todo(&self, token: &str, body: Value) -> Value {
        let (s, task) = self
            .api(Method::POST, "/api/todos", Some(token), Some(body))
            .await;
        assert_eq!(s, 201, "{task}");
        task
    }

    /// The titles a list answers, in order.
    async fn todo_titles(&self, token: &str, query: &str) -> Vec<String> {
        let (s, body) = self
            .api(
                Method::GET,
                &format!("/api/todos?{query}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, 200, "{query}: {body}");
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_string())
            .collect()
    }
}

fn day(offset: i64) -> String {
    (Utc::now().date_naive() + Duration::days(offset))
        .format("%Y-%m-%d")
        .to_string()
}

fn has_millis(ts: &Value) -> bool {
    // 2026-11-23T22:10:24.123Z
    ts.as_str()
        .is_some_and(|t| t.len() == 24 && t.as_bytes()[19] == b'.' && t.ends_with('Z'))
}

async fn a_task_is_created_with_defaults_a_location_and_the_next_position(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    let resp = app
        .client
        .post(app.url("/api/todos"))
        .header("Authorization", format!("Token {t}"))
        .json(&json!({"title": "  Buy milk  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let loc = location(&resp);
    let task: Value = resp.json().await.unwrap();
    let id = task["id"].as_i64().unwrap();
    assert_eq!(loc, format!("/api/todos/{id}"));
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(task["description"], "");
    assert_eq!(task["priority"], "medium");
    assert_eq!(task["completed"], false);
    assert!(task["completed_at"].is_null() && task["due_date"].is_null());
    assert_eq!(task["position"], 1);
    assert!(has_millis(&task["created_at"]) && has_millis(&task["updated_at"]));
    assert_eq!(task["url"], app.url(&loc));
    let keys: Vec<&str> = task
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 11, "{keys:?}");

    let (s, fetched) = app.api(Method::GET, &loc, Some(&t), None).await;
    assert_eq!((s, &fetched), (200, &task));

    let full = app
        .todo(
            &t,
            json!({"title": "Pay rent", "description": "to Mr Smith", "priority": "high",
                   "due_date": "2030-01-31", "completed": false}),
        )
        .await;
    assert_eq!(
        (
            &full["priority"],
            &full["due_date"],
            &full["description"],
            &full["position"]
        ),
        (
            &json!("high"),
            &json!("2030-01-31"),
            &json!("to Mr Smith"),
            &json!(2)
        )
    );
    assert_eq!(
        app.todo(&t, json!({"title": "Placed", "position": 10}))
            .await["position"],
        10
    );
    assert_eq!(
        app.todo(&t, json!({"title": "After"})).await["position"],
        11,
        "max + 1"
    );
    // Positions count per owner.
    let (_, other) = owner(&app, "bob").await;
    assert_eq!(
        app.todo(&other, json!({"title": "Bob's"})).await["position"],
        1
    );
}

async fn tasks_are_replaced_patched_and_deleted(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    let task = app
        .todo(
            &t,
            json!({"title": "Write report", "description": "Q3", "priority": "high", "due_date": "2030-05-01"}),
        )
        .await;
    let path = format!("/api/todos/{}", task["id"]);

    let (s, patched) = app
        .api(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"priority": "low"})),
        )
        .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["priority"], "low");
    for kept in [
        "title",
        "description",
        "due_date",
        "position",
        "created_at",
        "completed",
    ] {
        assert_eq!(patched[kept], task[kept], "{kept} is kept by PATCH");
    }
    assert!(patched["updated_at"].as_str() >= task["updated_at"].as_str());

    let (_, patched) = app
        .api(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"due_date": null, "description": null})),
        )
        .await;
    assert!(patched["due_date"].is_null());
    assert_eq!(patched["description"], "");

    // Read-only and unknown fields are ignored, as DRF does, so a fetched task can be sent back.
    let (s, same) = app
        .api(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"id": 999, "url": "x", "created_at": "never", "colour": "red"})),
        )
        .await;
    assert_eq!(
        (s, &same["id"], &same["title"]),
        (200, &task["id"], &task["title"])
    );

    app.api(
        Method::PATCH,
        &path,
        Some(&t),
        Some(
            json!({"priority": "high", "due_date": "2030-01-01", "completed": true, "position": 7}),
        ),
    )
    .await;
    let (s, replaced) = app
        .api(
            Method::PUT,
            &path,
            Some(&t),
            Some(json!({"title": "Rewritten"})),
        )
        .await;
    assert_eq!(s, 200, "{replaced}");
    assert_eq!(replaced["title"], "Rewritten");
    assert_eq!(
        (
            &replaced["description"],
            &replaced["priority"],
            &replaced["completed"]
        ),
        (&json!(""), &json!("medium"), &json!(false)),
        "PUT returns what it leaves out to the defaults"
    );
    assert!(replaced["due_date"].is_null() && replaced["completed_at"].is_null());
    assert_eq!(replaced["position"], 7, "the position is kept");

    let (s, body) = app
        .api(
            Method::PUT,
            &path,
            Some(&t),
            Some(json!({"priority": "low"})),
        )
        .await;
    assert_eq!(
        (s, body),
        (422, json!({"errors": {"title": ["can't be blank"]}}))
    );

    assert_eq!(app.api(Method::DELETE, &path, Some(&t), None).await.0, 204);
    let (s, body) = app.api(Method::GET, &path, Some(&t), None).await;
    assert_eq!((s, body), (404, json!({"errors": {"todo": ["not found"]}})));
    assert_eq!(app.api(Method::DELETE, &path, Some(&t), None).await.0, 404);
    assert_eq!(
        app.api(Method::PATCH, &path, Some(&t), Some(json!({})))
            .await
            .0,
        404
    );
}

async fn completing_a_task_stamps_completed_at_and_uncompleting_clears_it(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    let task = app.todo(&t, json!({"title": "Stretch"})).await;
    let path = format!("/api/todos/{}", task["id"]);
    let (_, done) = app
        .api(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"completed": true})),
        )
        .await;
    assert_eq!(done["completed"], true);
    assert!(has_millis(&done["completed_at"]), "{done}");
    let (_, again) = app
        .api(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"completed": true, "title": "Stretch more"})),
        )
        .await;
    assert_eq!(
        again["completed_at"], done["completed_at"],
        "completing twice keeps the first stamp"
    );
    let (_, undone) = app
        .api(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"completed": false})),
        )
        .await;
    assert_eq!(undone["completed"], false);
    assert!(undone["completed_at"].is_null());
    let born_done = app
        .todo(&t, json!({"title": "Done already", "completed": true}))
        .await;
    assert!(has_millis(&born_done["completed_at"]));
}

async fn invalid_fields_are_422_naming_the_field(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    let cases = [
        (json!({"title": ""}), json!({"title": ["can't be blank"]})),
        (
            json!({"title": "   "}),
            json!({"title": ["can't be blank"]}),
        ),
        (json!({"title": null}), json!({"title": ["can't be blank"]})),
        (
            json!({"description": "no title"}),
            json!({"title": ["can't be blank"]}),
        ),
        (json!({"title": 5}), json!({"title": ["must be a string"]})),
        (
            json!({"title": "x".repeat(201)}),
            json!({"title": ["is too long (maximum is 200 characters)"]}),
        ),
        (
            json!({"title": "ok", "priority": "urgent"}),
            json!({"priority": ["`urgent` is not one of low, medium, high"]}),
        ),
        (
            json!({"title": "ok", "priority": null}),
            json!({"priority": ["`null` is not one of low, medium, high"]}),
        ),
        (
            json!({"title": "ok", "completed": "yes"}),
            json!({"completed": ["must be true or false"]}),
        ),
        (
            json!({"title": "ok", "due_date": "31/12/2030"}),
            json!({"due_date": ["must be a date (YYYY-MM-DD)"]}),
        ),
        (
            json!({"title": "ok", "due_date": "2030-02-30"}),
            json!({"due_date": ["must be a date (YYYY-MM-DD)"]}),
        ),
        (
            json!({"title": "ok", "position": "first"}),
            json!({"position": ["must be a whole number from -1000000000 to 1000000000"]}),
        ),
        (
            json!({"title": "", "priority": "urgent"}),
            json!({"title": ["can't be blank"], "priority": ["`urgent` is not one of low, medium, high"]}),
        ),
    ];
    for (body, errors) in cases {
        let (s, answer) = app
            .api(Method::POST, "/api/todos", Some(&t), Some(body.clone()))
            .await;
        assert_eq!((s, answer), (422, json!({"errors": errors})), "{body}");
    }
    // 200 characters (not bytes) are fine.
    app.todo(&t, json!({"title": "é".repeat(200)})).await;
    let task = app.todo(&t, json!({"title": "Patch me"})).await;
    let path = format!("/api/todos/{}", task["id"]);
    let (s, answer) = app
        .api(
            Method::PATCH,
            &path,
            Some(&t),
            Some(json!({"title": "", "priority": "HIGH"})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(answer["errors"]["title"], json!(["can't be blank"]));
    assert_eq!(
        answer["errors"]["priority"],
        json!(["`HIGH` is not one of low, medium, high"])
    );
    let (_, unchanged) = app.api(Method::GET, &path, Some(&t), None).await;
    assert_eq!(unchanged, task, "a refused change changes nothing");

    let resp = app
        .client
        .post(app.url("/api/todos"))
        .header("Authorization", format!("Token {t}"))
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = app
        .client
        .post(app.url("/api/todos"))
        .header("Authorization", format!("Token {t}"))
        .form(&[("title", "form encoded")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(
        app.todo_titles(&t, "").await.len(),
        2,
        "only the two valid tasks were saved"
    );
}

async fn bad_query_parameters_are_400_naming_the_parameter(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    let cases = [
        (
            "priority=urgent",
            "priority",
            "`urgent` is not one of low, medium, high",
        ),
        (
            "priority=high,urgent",
            "priority",
            "`urgent` is not one of low, medium, high",
        ),
        (
            "completed=maybe",
            "completed",
            "`maybe` is not one of true, false",
        ),
        ("overdue=yes", "overdue", "`yes` is not one of true, false"),
        (
            "due_before=tomorrow",
            "due_before",
            "`tomorrow` is not a date (YYYY-MM-DD)",
        ),
        (
            "due_after=2030-02-30",
            "due_after",
            "`2030-02-30` is not a date (YYYY-MM-DD)",
        ),
        (
            "ordering=colour",
            "ordering",
            "`colour` is not one of priority, due_date, created_at, title, position (a leading - reverses)",
        ),
        (
            "ordering=title,-owner_id",
            "ordering",
            "`-owner_id` is not one of priority, due_date, created_at, title, position (a leading - reverses)",
        ),
        (
            "ordering=title,-title",
            "ordering",
            "`title` is given more than once",
        ),
        (
            "page=0",
            "page",
            "must be a whole number from 1 to 1000000000",
        ),
        (
            "page=two",
            "page",
            "must be a whole number from 1 to 1000000000",
        ),
        (
            "page_size=0",
            "page_size",
            "must be a whole number from 1 to 100",
        ),
        (
            "page_size=101",
            "page_size",
            "must be a whole number from 1 to 100",
        ),
    ];
    for (query, param, message) in cases {
        let (s, body) = app
            .api(Method::GET, &format!("/api/todos?{query}"), Some(&t), None)
            .await;
        assert_eq!(
            (s, body),
            (400, json!({"errors": {param: [message]}})),
            "{query}"
        );
    }
    let long = "x".repeat(201);
    let (s, body) = app
        .api(
            Method::GET,
            &format!("/api/todos?search={long}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        (s, &body["errors"]["search"][0]),
        (400, &json!("is too long (maximum is 200 characters)"))
    );
    // Blank values mean "no filter"; parameters we do not know are ignored, as DRF does.
    let (s, _) = app
        .api(
            Method::GET,
            "/api/todos?priority=&completed=&ordering=&format=json",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s, 200);
}

/// Five tasks covering every filter's edge, created in this order (so this is also position order).
async fn filter_fixture(app: &TestApp, t: &str) {
    for body in [
        json!({"title": "Write report", "priority": "high", "due_date": day(-2), "description": "Quarterly numbers"}),
        json!({"title": "Buy milk", "priority": "low", "due_date": day(3)}),
        json!({"title": "Call mum", "completed": true}),
        json!({"title": "Pay rent", "priority": "high", "due_date": day(-1), "completed": true}),
        json!({"title": "Plan trip", "due_date": day(10), "description": "Book the TRAIN, 50% off"}),
    ] {
        app.todo(t, body).await;
    }
}

async fn every_filter_narrows_the_list(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    filter_fixture(&app, &t).await;
    let all = [
        "Write report",
        "Buy milk",
        "Call mum",
        "Pay rent",
        "Plan trip",
    ];
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("".into(), all.to_vec()),
        ("priority=high".into(), vec!["Write report", "Pay rent"]),
        ("priority=medium".into(), vec!["Call mum", "Plan trip"]),
        (
            "priority=low,high".into(),
            vec!["Write report", "Buy milk", "Pay rent"],
        ),
        ("priority=low,%20low".into(), vec!["Buy milk"]),
        ("completed=true".into(), vec!["Call mum", "Pay rent"]),
        (
            "completed=false".into(),
            vec!["Write report", "Buy milk", "Plan trip"],
        ),
        (
            format!("due_before={}", day(-1)),
            vec!["Write report", "Pay rent"],
        ),
        (format!("due_before={}", day(-2)), vec!["Write report"]),
        (
            format!("due_after={}", day(3)),
            vec!["Buy milk", "Plan trip"],
        ),
        (format!("due_after={}", day(4)), vec!["Plan trip"]),
        ("overdue=true".into(), vec!["Write report"]),
        (
            "overdue=false".into(),
            vec!["Buy milk", "Call mum", "Pay rent", "Plan trip"],
        ),
        ("search=train".into(), vec!["Plan trip"]),
        ("search=MILK".into(), vec!["Buy milk"]),
        ("search=QUARTERLY".into(), vec!["Write report"]),
        ("search=50%25".into(), vec!["Plan trip"]),
        ("search=%25".into(), vec!["Plan trip"]),
        ("search=_".into(), vec![]),
        ("search=nothing%20like%20it".into(), vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(app.todo_titles(&t, &query).await, expected, "{query}");
    }
}

async fn every_ordering_sorts_the_list_and_a_minus_reverses_it(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    for body in [
        json!({"title": "banana", "priority": "low", "due_date": day(2)}),
        json!({"title": "Apple", "priority": "high"}),
        json!({"title": "cherry", "due_date": day(1)}),
        json!({"title": "date", "priority": "high", "due_date": day(5)}),
    ] {
        app.todo(&t, body).await;
    }
    let cases = [
        ("", ["banana", "Apple", "cherry", "date"]),
        ("position", ["banana", "Apple", "cherry", "date"]),
        ("-position", ["date", "cherry", "Apple", "banana"]),
        // High first; equal priorities keep creation order.
        ("priority", ["Apple", "date", "cherry", "banana"]),
        ("-priority", ["banana", "cherry", "Apple", "date"]),
        // Without a due date comes last both ways.
        ("due_date", ["cherry", "banana", "date", "Apple"]),
        ("-due_date", ["date", "banana", "cherry", "Apple"]),
        ("created_at", ["banana", "Apple", "cherry", "date"]),
        ("-created_at", ["date", "cherry", "Apple", "banana"]),
        // Case-insensitive.
        ("title", ["Apple", "banana", "cherry", "date"]),
        ("-title", ["date", "cherry", "banana", "Apple"]),
    ];
    for (ordering, expected) in cases {
        assert_eq!(
            app.todo_titles(&t, &format!("ordering={ordering}")).await,
            expected,
            "ordering={ordering}"
        );
    }
}

async fn filters_and_orderings_combine(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    filter_fixture(&app, &t).await;
    app.todo(
        &t,
        json!({"title": "Another report", "priority": "high", "due_date": day(1)}),
    )
    .await;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "ordering=-priority,title".into(),
            vec![
                "Buy milk",
                "Call mum",
                "Plan trip",
                "Another report",
                "Pay rent",
                "Write report",
            ],
        ),
        (
            "ordering=priority,-due_date".into(),
            vec![
                "Another report",
                "Pay rent",
                "Write report",
                "Plan trip",
                "Call mum",
                "Buy milk",
            ],
        ),
        (
            "priority=high&completed=false&ordering=due_date".into(),
            vec!["Write report", "Another report"],
        ),
        (
            "priority=high,medium&completed=false&ordering=-due_date".into(),
            vec!["Plan trip", "Another report", "Write report"],
        ),
        ("search=report&overdue=true".into(), vec!["Write report"]),
        ("search=report&overdue=false".into(), vec!["Another report"]),
        (
            format!("due_after={}&due_before={}&ordering=title", day(-1), day(3)),
            vec!["Another report", "Buy milk", "Pay rent"],
        ),
        ("priority=low&completed=true".into(), vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(app.todo_titles(&t, &query).await, expected, "{query}");
    }
    // Paging walks a filtered, ordered list, and the links keep the filters.
    let (_, page) = app
        .api(
            Method::GET,
            "/api/todos?priority=high&ordering=title&page_size=2",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(page["count"], 3);
    assert_eq!(
        page["next"],
        "/api/todos?ordering=title&page=2&page_size=2&priority=high"
    );
    let (_, page2) = app
        .api(Method::GET, page["next"].as_str().unwrap(), Some(&t), None)
        .await;
    assert_eq!(page2["results"][0]["title"], "Write report");
    assert!(page2["next"].is_null());
}

async fn each_user_sees_only_their_own_tasks(app: TestApp) {
    let (_, ann) = owner(&app, "ann").await;
    let (bob_web, bob) = owner(&app, "bob").await;
    let task = app
        .todo(&ann, json!({"title": "Ann's secret", "completed": true}))
        .await;
    let id = task["id"].as_i64().unwrap();
    let path = format!("/api/todos/{id}");
    let (_, list) = app.api(Method::GET, "/api/todos", Some(&bob), None).await;
    assert_eq!((&list["count"], &list["results"]), (&json!(0), &json!([])));
    let not_found = json!({"errors": {"todo": ["not found"]}});
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"title": "Mine now"}))),
        (Method::PATCH, Some(json!({"title": "Mine now"}))),
        (Method::DELETE, None),
    ] {
        let (s, answer) = app.api(method.clone(), &path, Some(&bob), body).await;
        assert_eq!(
            (s, &answer),
            (404, &not_found),
            "{method} is 404, never 403"
        );
    }
    // An id that is no number is just as unknown.
    assert_eq!(
        app.api(Method::GET, "/api/todos/abc", Some(&bob), None)
            .await,
        (404, not_found)
    );
    let (_, cleared) = app
        .api(Method::POST, "/api/todos/clear-completed", Some(&bob), None)
        .await;
    assert_eq!(cleared, json!({"deleted": 0}));
    let (_, still) = app.api(Method::GET, &path, Some(&ann), None).await;
    assert_eq!(still, task, "untouched");
    // The page's forms are scoped the same way.
    assert_eq!(
        bob_web.get(&format!("/todos/{id}/edit/")).await.status(),
        404
    );
    for action in ["toggle", "delete", "edit"] {
        let resp = bob_web
            .post_form_from(
                "/todos",
                &format!("/todos/{id}/{action}/"),
                &[("title", "Mine now"), ("completed", "false")],
            )
            .await;
        assert_eq!(resp.status(), 404, "{action}");
    }
    assert!(
        !bob_web
            .get_text("/todos")
            .await
            .contains("Ann&#x27;s secret")
    );
    let (_, still) = app.api(Method::GET, &path, Some(&ann), None).await;
    assert_eq!(still, task, "untouched by the page either");
}

async fn jwts_personal_tokens_and_sessions_all_authenticate(app: TestApp) {
    let resp = app.client.get(app.url("/api/todos")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Token");
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"errors": {"token": ["is missing"]}})
    );
    let (s, body) = app
        .api(Method::GET, "/api/todos", Some("nonsense"), None)
        .await;
    assert_eq!(
        (s, body),
        (401, json!({"errors": {"token": ["is invalid"]}}))
    );

    let web = app.user("ann", &[], false).await;
    // A JWT from the login endpoint.
    let (s, login) = app
        .api(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"user": {"email": "ann@example.com", "password": TEST_PASSWORD}})),
        )
        .await;
    assert_eq!(s, 200, "{login}");
    let jwt = login["user"]["token"].as_str().unwrap().to_string();
    app.todo(&jwt, json!({"title": "Via JWT"})).await;
    // A personal token.
    let (s, created) = app
        .api(
            Method::POST,
            "/api/tokens",
            Some(&jwt),
            Some(json!({"name": "postman"})),
        )
        .await;
    assert_eq!(s, 201);
    let personal = created["token"].as_str().unwrap().to_string();
    app.todo(&personal, json!({"title": "Via personal token"}))
        .await;
    // Bearer is accepted as well as Token.
    let resp = app
        .client
        .get(app.url("/api/todos"))
        .bearer_auth(&personal)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["count"], 2);

    // The session cookie: reads as is, writes only with the CSRF header.
    let resp = web.client.get(web.url("/api/todos")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["count"], 2);
    let new = json!({"title": "Via session"});
    let resp = web
        .client
        .post(web.url("/api/todos"))
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "a cookie alone may not write");
    let csrf = web.csrf_token("/").await;
    let resp = web
        .client
        .post(web.url("/api/todos"))
        .header("x-csrf-token", csrf)
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        app.todo_titles(&personal, "").await,
        ["Via JWT", "Via personal token", "Via session"],
        "one owner whatever the credential"
    );
    // A credential is judged alone: a bad one is refused even with a valid session.
    let resp = web
        .client
        .get(web.url("/api/todos"))
        .header("Authorization", "Token nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

async fn pagination_has_clean_edges(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    let (s, empty) = app.api(Method::GET, "/api/todos", Some(&t), None).await;
    assert_eq!(
        (s, empty),
        (
            200,
            json!({"count": 0, "next": null, "previous": null, "results": []})
        )
    );
    assert_eq!(
        app.api(Method::GET, "/api/todos?page=2", Some(&t), None)
            .await
            .0,
        404
    );
    for i in 1..=5 {
        app.todo(&t, json!({"title": format!("Task {i}")})).await;
    }
    let (_, p1) = app
        .api(Method::GET, "/api/todos?page_size=2", Some(&t), None)
        .await;
    assert_eq!(p1["count"], 5);
    assert_eq!(p1["results"].as_array().unwrap().len(), 2);
    assert_eq!(p1["next"], "/api/todos?page=2&page_size=2");
    assert!(p1["previous"].is_null());
    let (_, p3) = app
        .api(Method::GET, "/api/todos?page_size=2&page=3", Some(&t), None)
        .await;
    assert_eq!(p3["results"].as_array().unwrap().len(), 1);
    assert_eq!(p3["results"][0]["title"], "Task 5");
    assert!(p3["next"].is_null());
    assert_eq!(p3["previous"], "/api/todos?page=2&page_size=2");
    let (s, body) = app
        .api(Method::GET, "/api/todos?page_size=2&page=4", Some(&t), None)
        .await;
    assert_eq!((s, body), (404, json!({"errors": {"page": ["not found"]}})));
    let (_, exact) = app
        .api(Method::GET, "/api/todos?page_size=5", Some(&t), None)
        .await;
    assert!(exact["next"].is_null() && exact["previous"].is_null());
    let (_, one) = app
        .api(Method::GET, "/api/todos?page_size=1&page=5", Some(&t), None)
        .await;
    assert_eq!(one["results"][0]["title"], "Task 5");
    assert_eq!(one["previous"], "/api/todos?page=4&page_size=1");
}

async fn the_list_runs_a_fixed_number_of_queries(app: TestApp) {
    let (_, t) = owner(&app, "ann").await;
    for i in 0..25 {
        let priority = ["low", "medium", "high"][i % 3];
        app.todo(
            &t,
            json!({"title": format!("Task {i}"), "priority": priority, "due_date": day(i as i64 - 10)}),
        )
        .await;
    }
    let (_, default) = app.api(Method::GET, "/api/todos", Some(&t), None).await;
    assert_eq!(
        default["results"].as_array().unwrap().len(),
        20,
        "20 a page by default"
    );
    let (_, max) = app
        .api(Method::GET, "/api/todos?page_size=100", Some(&t), None)
        .await;
    assert_eq!(max["results"].as_array().unwrap().len(), 25);
    let mut counts = Vec::new();
    for query in [
        "page_size=1",
        "page_size=100",
        "page_size=5&page=3",
        "priority=high,low&completed=false&overdue=true&search=task&ordering=-priority,due_date,title",
    ] {
        let before = app.state.queries.get();
        let (s, _) = app
            .api(Method::GET, &format!("/api/todos?{query}"), Some(&t), None)
            .await;
        assert_eq!(s, 200);
        counts.push(app.state.queries.get() - before);
    }
    assert_eq!(
        counts,
        [2, 2, 2, 2],
        "the caller, then the page carrying its count, whatever the page size"
    );
}

async fn clear_completed_deletes_only_the_callers_completed_tasks(app: TestApp) {
    let (_, ann) = owner(&app, "ann").await;
    let (_, bob) = owner(&app, "bob").await;
    app.todo(&ann, json!({"title": "Open"})).await;
    app.todo(&ann, json!({"title": "Done 1", "completed": true}))
        .await;
    app.todo(&ann, json!({"title": "Done 2", "completed": true}))
        .await;
    app.todo(&bob, json!({"title": "Bob done", "completed": true}))
        .await;
    let (s, body) = app
        .api(Method::POST, "/api/todos/clear-completed", Some(&ann), None)
        .await;
    assert_eq!((s, body), (200, json!({"deleted": 2})));
    assert_eq!(app.todo_titles(&ann, "").await, ["Open"]);
    assert_eq!(app.todo_titles(&bob, "").await, ["Bob done"]);
    let (_, again) = app
        .api(Method::POST, "/api/todos/clear-completed", Some(&ann), None)
        .await;
    assert_eq!(again, json!({"deleted": 0}));
    assert_eq!(
        app.api(Method::POST, "/api/todos/clear-completed", None, None)
            .await
            .0,
        401
    );
}

async fn the_openapi_document_describes_every_todo_operation(app: TestApp) {
    let (s, doc) = app.api(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    for (path, methods) in [
        ("/api/todos", &["get", "post"][..]),
        ("/api/todos/{id}", &["get", "put", "patch", "delete"][..]),
        ("/api/todos/clear-completed", &["post"][..]),
    ] {
        let item = &doc["paths"][path];
        for m in methods {
            assert_eq!(item[m]["tags"], json!(["todos"]), "{m} {path}");
            assert!(item[m]["security"].is_array(), "{m} {path} needs a token");
        }
    }
    let params: Vec<&str> = doc["paths"]["/api/todos"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "priority",
        "completed",
        "due_before",
        "due_after",
        "overdue",
        "search",
        "ordering",
        "page",
        "page_size",
    ] {
        assert!(params.contains(&p), "{p} is documented");
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["TodoBody"]["properties"]["due_date"].is_object());
    assert!(schemas["TodoWrite"]["properties"]["priority"].is_object());
    assert!(
        doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "todos")
    );
}

async fn the_page_sends_visitors_to_log_in(app: TestApp) {
    let resp = app.get("/todos").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/accounts/login/?next=%2Ftodos");
    let resp = app.get("/todos/").await;
    assert_eq!(location(&resp), "/todos");
}

/// The id of the task with this title, through the API with the browser's session.
async fn id_of(web: &TestApp, title: &str) -> i64 {
    let list: Value = web
        .client
        .get(web.url("/api/todos?page_size=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == title)
        .unwrap_or_else(|| panic!("no task {title}: {list}"))["id"]
        .as_i64()
        .unwrap()
}

async fn the_page_adds_completes_edits_and_deletes_with_plain_forms(app: TestApp) {
    let (web, t) = owner(&app, "pat").await;
    let html = web.get_text("/todos").await;
    assert!(html.contains("Nothing to do"));

    let resp = web
        .post_form_from(
            "/todos",
            "/todos",
            &[
                ("title", "Water plants"),
                ("priority", "high"),
                ("due_date", ""),
                ("next", "/todos?status=active"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(&resp),
        "/todos?status=active",
        "back to the view it came from"
    );
    let html = web.get_text("/todos").await;
    assert!(html.contains("Water plants") && html.contains("todo-priority-high"));
    let id = id_of(&web, "Water plants").await;

    // Blank or too long: the page again, with the message beside the field.
    let resp = web
        .post_form_from("/todos", "/todos", &[("title", "  "), ("next", "/todos")])
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Title can&#x27;t be blank.")
    );
    let long = "y".repeat(201);
    let resp = web
        .post_form_from(
            "/todos",
            "/todos",
            &[("title", &long), ("due_date", "soon")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Title is too long (maximum is 200 characters).")
            && html.contains("Due date must be a date")
    );

    // Complete, then uncomplete.
    let resp = web
        .post_form_from(
            "/todos",
            &format!("/todos/{id}/toggle/"),
            &[("completed", "true"), ("next", "/todos")],
        )
        .await;
    assert_eq!(
        (resp.status().as_u16(), location(&resp)),
        (303, "/todos".to_string())
    );
    let (_, task) = app
        .api(Method::GET, &format!("/api/todos/{id}"), Some(&t), None)
        .await;
    assert_eq!(task["completed"], true);
    assert!(web.get_text("/todos").await.contains("todo-item todo-done"));
    web.post_form_from(
        "/todos",
        &format!("/todos/{id}/toggle/"),
        &[("completed", "false")],
    )
    .await;
    let (_, task) = app
        .api(Method::GET, &format!("/api/todos/{id}"), Some(&t), None)
        .await;
    assert_eq!(task["completed"], false);

    // Edit.
    let form = web
        .get_text(&format!(
            "/todos/{id}/edit/?next=%2Ftodos%3Fpriority%3Dhigh"
        ))
        .await;
    assert!(
        form.contains("value=\"Water plants\"") && form.contains("value=\"/todos?priority=high\"")
    );
    let resp = web
        .post_form_from(
            "/todos",
            &format!("/todos/{id}/edit/"),
            &[
                ("title", "Water the plants"),
                ("description", "Ferns first"),
                ("priority", "low"),
                ("due_date", "2030-01-02"),
                ("completed", "on"),
                ("next", "/todos?priority=high"),
            ],
        )
        .await;
    assert_eq!(
        (resp.status().as_u16(), location(&resp)),
        (303, "/todos?priority=high".to_string())
    );
    let (_, task) = app
        .api(Method::GET, &format!("/api/todos/{id}"), Some(&t), None)
        .await;
    assert_eq!(
        (
            &task["title"],
            &task["description"],
            &task["priority"],
            &task["due_date"],
            &task["completed"]
        ),
        (
            &json!("Water the plants"),
            &json!("Ferns first"),
            &json!("low"),
            &json!("2030-01-02"),
            &json!(true)
        )
    );
    let resp = web
        .post_form_from(
            "/todos",
            &format!("/todos/{id}/edit/"),
            &[("title", ""), ("priority", "urgent")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Title can&#x27;t be blank.")
            && html.contains("is not one of low, medium, high")
    );
    // A `next` off the list, or one that could not be a header, is never followed.
    for next in ["https://evil.example/todos", "/todos?x=\u{7f}\u{1}"] {
        let resp = web
            .post_form_from(
                "/todos",
                &format!("/todos/{id}/toggle/"),
                &[("completed", "true"), ("next", next)],
            )
            .await;
        assert_eq!(
            (resp.status().as_u16(), location(&resp)),
            (303, "/todos".into()),
            "{next:?}"
        );
    }

    // Clear completed, then delete.
    web.post_form_from("/todos", "/todos", &[("title", "Stay")])
        .await;
    let resp = web
        .post_form_from("/todos", "/todos/clear-completed/", &[("next", "/todos")])
        .await;
    assert_eq!(resp.status(), 303);
    let html = web.get_text("/todos").await;
    assert!(html.contains("Cleared 1 completed task.") && !html.contains("Water the plants"));
    let stay = id_of(&web, "Stay").await;
    let resp = web
        .post_form_from("/todos", &format!("/todos/{stay}/delete/"), &[])
        .await;
    assert_eq!(resp.status(), 303);
    let html = web.get_text("/todos").await;
    assert!(html.contains("“Stay” was deleted.") && html.contains("Nothing to do"));
}

async fn the_page_filters_and_sorts(app: TestApp) {
    let (web, t) = owner(&app, "pat").await;
    app.todo(&t, json!({"title": "Low and open", "priority": "low"}))
        .await;
    app.todo(
        &t,
        json!({"title": "High and done", "priority": "high", "completed": true}),
    )
    .await;
    app.todo(&t, json!({"title": "Medium and late", "due_date": day(-3)}))
        .await;
    let order = |html: &str, titles: &[&str]| -> bool {
        let at: Vec<Option<usize>> = titles.iter().map(|t| html.find(t)).collect();
        at.iter().all(Option::is_some) && at.windows(2).all(|w| w[0] < w[1])
    };
    let html = web.get_text("/todos").await;
    assert!(order(
        &html,
        &["Low and open", "High and done", "Medium and late"]
    ));
    assert!(
        html.contains("<span data-todo-left>2</span> left · <span data-todo-done>1</span> done")
    );
    assert!(html.contains("todo-overdue"), "late tasks are marked");

    let html = web.get_text("/todos?priority=high").await;
    assert!(html.contains("High and done") && !html.contains("Low and open"));
    let html = web.get_text("/todos?status=active&sort=-priority").await;
    assert!(order(&html, &["Low and open", "Medium and late"]) && !html.contains("High and done"));
    let html = web.get_text("/todos?status=completed").await;
    assert!(html.contains("High and done") && !html.contains("Medium and late"));
    let html = web.get_text("/todos?sort=priority").await;
    assert!(order(
        &html,
        &["High and done", "Medium and late", "Low and open"]
    ));
    assert!(html.contains("<option value=\"priority\" selected>"));
    // The forms send the user back to the same view.
    assert!(html.contains("name=\"next\" value=\"/todos?sort=priority\""));
    let html = web.get_text("/todos?priority=low&status=completed").await;
    assert!(html.contains("No tasks match these filters."));

    assert_eq!(web.get("/todos?status=someday").await.status(), 400);
    assert_eq!(web.get("/todos?sort=colour").await.status(), 400);
    assert_eq!(web.get("/todos?priority=urgent").await.status(), 400);
    assert_eq!(web.get("/todos?page=9").await.status(), 404);
}
