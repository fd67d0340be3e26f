//! Uploaded datasets, background analysis and training jobs, users' own models and their reports.

use std::time::Duration;

use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::TestApp;

db_tests! {
    a_csv_upload_becomes_a_private_dataset;
    a_bad_file_is_refused_whole_with_line_numbers;
    upload_limits_are_named ["sentiment_max_dataset_bytes" = "400", "sentiment_max_dataset_rows" = "5"];
    an_analysis_runs_in_the_background_and_its_results_download;
    a_trained_model_has_a_report_and_only_its_owner_can_use_it;
    jobs_check_what_they_are_given;
    a_queued_job_is_cancelled_at_once ["job_workers" = "0"];
    a_job_whose_worker_died_resumes_after_its_last_checkpoint ["job_workers" = "0"];
    a_job_out_of_attempts_is_failed_not_lost ["job_workers" = "0"];
    a_job_streams_its_changes_as_server_sent_events ["job_workers" = "0", "request_timeout_secs" = "3"];
    the_pages_upload_analyze_and_train_without_javascript;
    the_openapi_document_lists_every_sentiment_operation;
    the_lists_run_a_fixed_number_of_statements ["job_workers" = "0"];
}

const POSITIVE: [&str; 6] = [
    "wonderful",
    "brilliant",
    "moving",
    "delightful",
    "superb",
    "charming",
];
const NEGATIVE: [&str; 6] = ["dull", "awful", "boring", "dreadful", "tedious", "clumsy"];
const THINGS: [&str; 6] = ["film", "story", "cast", "script", "ending", "soundtrack"];

/// A labelled CSV: every sentiment word with every noun, alternating classes.
pub(crate) fn labeled_csv() -> String {
    let mut out = String::from("text,label\n");
    for (i, thing) in THINGS.iter().enumerate() {
        for j in 0..POSITIVE.len() {
            out.push_str(&format!(
                "\"A {} {thing}, truly {}.\",positive\n",
                POSITIVE[j],
                POSITIVE[(i + j + 1) % 6]
            ));
            out.push_str(&format!(
                "\"A {} {thing}, truly {}.\",negative\n",
                NEGATIVE[j],
                NEGATIVE[(i + j + 1) % 6]
            ));
        }
    }
    out
}

impl TestApp {
    pub(crate) async fn upload(&self, token: &str, name: &str, csv: Vec<u8>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("name", name.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv).file_name("reviews.csv"),
            );
        let resp = self
            .client
            .post(self.url("/api/sentiment/datasets"))
            .header("Authorization", format!("Token {token}"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) async fn start_job(&self, token: &str, body: Value) -> i64 {
        let (s, job) = self
            .api(Method::POST, "/api/sentiment/jobs", Some(token), Some(body))
            .await;
        assert_eq!(s, 202, "{job}");
        job["id"].as_i64().unwrap()
    }

    /// Polls a job until it has finished.
    pub(crate) async fn wait_job(&self, token: Option<&str>, id: i64) -> Value {
        for _ in 0..600 {
            let (s, job) = self
                .api(
                    Method::GET,
                    &format!("/api/sentiment/jobs/{id}"),
                    token,
                    None,
                )
                .await;
            assert_eq!(s, 200, "{job}");
            if matches!(
                job["status"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            ) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("job {id} did not finish within a minute");
    }

    async fn sql(&self, sql: &str) {
        self.state.db.execute_unprepared(sql).await.unwrap();
    }
}

async fn a_csv_upload_becomes_a_private_dataset(app: TestApp) {
    let alice = app.api_user("alice").await;
    let bob = app.api_user("bob").await;
    let csv = "\u{feff}id,text,label\n1,\"Loved it, really\",positive\n2,Awful,0\n3,No opinion,\n";
    let (s, ds) = app.upload(&alice, "", csv.as_bytes().to_vec()).await;
    assert_eq!(s, 201, "{ds}");
    assert_eq!(ds["name"], "reviews", "named after the file by default");
    assert_eq!(
        (&ds["rows"], &ds["labeled"], &ds["positive"]),
        (&json!(3), &json!(2), &json!(1))
    );
    let id = ds["id"].as_i64().unwrap();

    let (s, detail) = app
        .api(
            Method::GET,
            &format!("/api/sentiment/datasets/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(detail["preview"][0]["text"], "Loved it, really");
    assert_eq!(detail["preview"][0]["line"], 2);
    assert_eq!(detail["preview"][1]["label"], "negative");
    assert_eq!(detail["preview"][2]["label"], Value::Null);

    // Private: another user sees nothing and can delete nothing; a visitor must sign in.
    let path = format!("/api/sentiment/datasets/{id}");
    assert_eq!(app.api(Method::GET, &path, Some(&bob), None).await.0, 404);
    assert_eq!(
        app.api(Method::DELETE, &path, Some(&bob), None).await.0,
        404
    );
    let (_, list) = app
        .api(Method::GET, "/api/sentiment/datasets", Some(&bob), None)
        .await;
    assert_eq!(list["count"], 0);
    assert_eq!(
        app.api(Method::GET, "/api/sentiment/datasets", None, None)
            .await
            .0,
        401
    );

    let (_, list) = app
        .api(Method::GET, "/api/sentiment/datasets", Some(&alice), None)
        .await;
    assert_eq!(list["count"], 1);
    assert_eq!(
        app.api(Method::DELETE, &path, Some(&alice), None).await.0,
        204
    );
    assert_eq!(app.api(Method::GET, &path, Some(&alice), None).await.0, 404);
}

async fn a_bad_file_is_refused_whole_with_line_numbers(app: TestApp) {
    let alice = app.api_user("alice").await;
    let (s, body) = app
        .upload(
            &alice,
            "x",
            b"text,label\ngood,1\n,1\nfine,maybe\n".to_vec(),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    let errors: Vec<&str> = body["errors"]["file"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        [
            "line 3: text is empty",
            "line 4: label `maybe` is not positive or negative (or 1/0)"
        ]
    );
    let (s, body) = app.upload(&alice, "x", b"text\ncaf\xe9\n".to_vec()).await;
    assert_eq!(s, 422);
    assert!(
        body["errors"]["file"][0]
            .as_str()
            .unwrap()
            .starts_with("is not UTF-8 (line 2"),
        "{body}"
    );
    let (s, body) = app.upload(&alice, "x", b"review\nok\n".to_vec()).await;
    assert_eq!(s, 422);
    assert!(
        body["errors"]["file"][0]
            .as_str()
            .unwrap()
            .contains("no `text` column")
    );
    // Nothing of any of them was kept.
    let (_, list) = app
        .api(Method::GET, "/api/sentiment/datasets", Some(&alice), None)
        .await;
    assert_eq!(list["count"], 0);
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/datasets",
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert!(
        s == 400 || s == 415,
        "a JSON body is not an upload: {s} {body}"
    );
}

async fn upload_limits_are_named(app: TestApp) {
    let alice = app.api_user("alice").await;
    let (s, body) = app.upload(&alice, "x", vec![b'a'; 500]).await;
    assert_eq!(s, 413, "{body}");
    assert!(
        body["errors"].to_string().contains("0 KiB") || body.to_string().contains("KiB"),
        "{body}"
    );
    let (s, body) = app
        .upload(&alice, "x", b"text\na\nb\nc\nd\ne\nf\n".to_vec())
        .await;
    assert_eq!(s, 422);
    assert!(
        body["errors"]["file"][0]
            .as_str()
            .unwrap()
            .contains("more than 5 rows"),
        "{body}"
    );
}

async fn an_analysis_runs_in_the_background_and_its_results_download(app: TestApp) {
    let alice = app.api_user("alice").await;
    let bob = app.api_user("bob").await;
    let (_, ds) = app
        .upload(&alice, "mixed", labeled_csv().into_bytes())
        .await;
    let rows = ds["rows"].as_i64().unwrap();
    assert_eq!(rows, 72);
    let (s, job) = app
        .api(
            Method::POST,
            "/api/sentiment/jobs",
            Some(&alice),
            Some(json!({"kind": "analyze", "dataset": ds["id"]})),
        )
        .await;
    assert_eq!(s, 202, "{job}");
    assert_eq!(job["params"]["model"], "default");
    let id = job["id"].as_i64().unwrap();
    assert!(
        job["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/sentiment/jobs/{id}"))
    );

    let job = app.wait_job(Some(&alice), id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["progress"], 100);
    assert_eq!(job["result"]["rows"], rows);
    let pos = job["result"]["positive"].as_i64().unwrap();
    assert_eq!(pos + job["result"]["negative"].as_i64().unwrap(), rows);
    assert_eq!(job["result"]["labeled"], rows);
    let accuracy = job["result"]["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.8,
        "obvious sentences, the default model agrees: {accuracy}"
    );

    // Another user cannot see the job or its results.
    let path = format!("/api/sentiment/jobs/{id}");
    assert_eq!(app.api(Method::GET, &path, Some(&bob), None).await.0, 404);
    assert_eq!(
        app.api(Method::GET, &format!("{path}/results"), Some(&bob), None)
            .await
            .0,
        404
    );
    let (_, list) = app
        .api(Method::GET, "/api/sentiment/jobs", Some(&alice), None)
        .await;
    assert_eq!(list["count"], 1);

    let (s, results) = app
        .api(Method::GET, &format!("{path}/results"), Some(&alice), None)
        .await;
    assert_eq!(s, 200);
    let list = results["results"].as_array().unwrap();
    assert_eq!(list.len() as i64, rows);
    assert_eq!(list[0]["line"], 2);
    assert_eq!(list[0]["expected"], "positive");
    assert!(
        list.windows(2)
            .all(|w| w[0]["line"].as_i64() < w[1]["line"].as_i64())
    );
    let agree = list.iter().filter(|r| r["label"] == r["expected"]).count();
    assert!((agree as f64 / rows as f64 - accuracy).abs() < 1e-9);

    let resp = app
        .client
        .get(app.url(&format!("{path}/results?format=csv")))
        .header("Authorization", format!("Token {alice}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = resp.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "line,text,label,score,positive,negative,expected"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("2,\"A wonderful film, truly brilliant.\",")
    );
    assert_eq!(csv.lines().count() as i64, rows + 1);

    // A text that looks like a spreadsheet formula is exported so that it stays text.
    let (_, ds) = app
        .upload(
            &alice,
            "formula",
            b"text\n\"=HYPERLINK(\"\"http://x\"\")\"\n".to_vec(),
        )
        .await;
    let id = app
        .start_job(&alice, json!({"kind": "analyze", "dataset": ds["id"]}))
        .await;
    app.wait_job(Some(&alice), id).await;
    let csv = app
        .client
        .get(app.url(&format!("/api/sentiment/jobs/{id}/results?format=csv")))
        .header("Authorization", format!("Token {alice}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.lines().nth(1).unwrap().starts_with("2,\"'=HYPERLINK("),
        "{csv}"
    );
    assert_eq!(
        app.api(
            Method::GET,
            &format!("{path}/results?format=xml"),
            Some(&alice),
            None
        )
        .await
        .0,
        400
    );
    // A finished job cannot be cancelled.
    let (s, body) = app
        .api(Method::POST, &format!("{path}/cancel"), Some(&alice), None)
        .await;
    assert_eq!(s, 409, "{body}");
}

async fn a_trained_model_has_a_report_and_only_its_owner_can_use_it(app: TestApp) {
    let alice = app.api_user("alice").await;
    let bob = app.api_user("bob").await;
    let (_, ds) = app.upload(&alice, "mine", labeled_csv().into_bytes()).await;
    let id = app
        .start_job(
            &alice,
            json!({"kind": "train", "dataset": ds["id"], "name": "reviews-v1"}),
        )
        .await;
    let job = app.wait_job(Some(&alice), id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["model"], "reviews-v1");
    assert_eq!(
        job["result"]["test_examples"], 16,
        "20% of each class held out"
    );

    let (s, model) = app
        .api(
            Method::GET,
            "/api/sentiment/models/reviews-v1",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, 200, "{model}");
    let ev = &model["report"]["evaluation"];
    assert_eq!(ev["examples"], 16);
    let m = &ev["confusion"]["matrix"];
    let cells: i64 = (0..2)
        .flat_map(|a| (0..2).map(move |p| (a, p)))
        .map(|(a, p)| m[a][p].as_i64().unwrap())
        .sum();
    assert_eq!(cells, 16);
    for key in ["precision", "recall", "f1"] {
        assert!(ev["positive"][key].is_number() && ev["negative"][key].is_number());
    }
    assert_eq!(ev["calibration"].as_array().unwrap().len(), 10);
    assert!(ev["roc"].as_array().unwrap().len() >= 2);
    assert_eq!(model["report"]["split"]["train"], 48);
    assert_eq!(model["report"]["split"]["validation"], 8);

    // The owner sees it among the models and can analyze with it; nobody else can.
    let (_, models) = app
        .api(Method::GET, "/api/sentiment/models", Some(&alice), None)
        .await;
    let names: Vec<&str> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "lexicon", "reviews-v1"]);
    let (_, models) = app
        .api(Method::GET, "/api/sentiment/models", Some(&bob), None)
        .await;
    assert_eq!(models["models"].as_array().unwrap().len(), 2);
    let ask = json!({"text": "A superb and delightful story.", "model": "reviews-v1"});
    let (s, out) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            Some(&alice),
            Some(ask.clone()),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["model"], "reviews-v1");
    assert_eq!(out["label"], "positive");
    let (s, _) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            Some(&bob),
            Some(ask.clone()),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(ask.clone()),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        app.api(
            Method::GET,
            "/api/sentiment/models/reviews-v1",
            Some(&bob),
            None
        )
        .await
        .0,
        404
    );

    // Names are unique per user and cannot shadow a built-in model.
    for (name, msg) in [
        ("reviews-v1", "is already taken"),
        ("default", "is already taken"),
        ("bad name", "may contain only"),
    ] {
        let (s, body) = app
            .api(
                Method::POST,
                "/api/sentiment/jobs",
                Some(&alice),
                Some(json!({"kind": "train", "dataset": ds["id"], "name": name})),
            )
            .await;
        assert_eq!(s, 422, "{body}");
        assert!(
            body["errors"]["name"][0].as_str().unwrap().contains(msg),
            "{body}"
        );
    }

    // Built-in models cannot be deleted; deleting one's own makes it unusable at once.
    assert_eq!(
        app.api(
            Method::DELETE,
            "/api/sentiment/models/default",
            Some(&alice),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.api(
            Method::DELETE,
            "/api/sentiment/models/reviews-v1",
            Some(&alice),
            None
        )
        .await
        .0,
        204
    );
    let (s, _) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            Some(&alice),
            Some(ask),
        )
        .await;
    assert_eq!(s, 404);
}

async fn jobs_check_what_they_are_given(app: TestApp) {
    let alice = app.api_user("alice").await;
    let bob = app.api_user("bob").await;
    let (_, few) = app
        .upload(
            &alice,
            "few",
            b"text,label\ngreat,1\nbad,0\nunsure,\n".to_vec(),
        )
        .await;
    let (_, bobs) = app.upload(&bob, "bobs", b"text\nhello\n".to_vec()).await;
    let cases = [
        (
            json!({"kind": "guess", "dataset": few["id"]}),
            "kind",
            "is not analyze or train",
        ),
        (
            json!({"kind": "analyze", "dataset": bobs["id"]}),
            "dataset",
            "does not exist",
        ),
        (
            json!({"kind": "analyze", "dataset": few["id"], "model": "nope"}),
            "model",
            "`nope` does not exist",
        ),
        (
            json!({"kind": "train", "dataset": few["id"], "name": "m"}),
            "dataset",
            "(has 1 positive, 1 negative)",
        ),
        (
            json!({"kind": "train", "dataset": few["id"], "name": ""}),
            "name",
            "can't be blank",
        ),
    ];
    for (body, field, msg) in cases {
        let (s, out) = app
            .api(
                Method::POST,
                "/api/sentiment/jobs",
                Some(&alice),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body} → {out}");
        let got = out["errors"][field][0].as_str().unwrap_or_default();
        assert!(got.contains(msg), "{body}: {out}");
    }
    let (s, out) = app
        .api(
            Method::POST,
            "/api/sentiment/jobs",
            Some(&alice),
            Some(json!({"kind": "analyze"})),
        )
        .await;
    assert!(s == 400 || s == 422, "{out}");
    let (_, list) = app
        .api(Method::GET, "/api/sentiment/jobs", Some(&alice), None)
        .await;
    assert_eq!(list["count"], 0, "nothing was queued");
}

async fn a_queued_job_is_cancelled_at_once(app: TestApp) {
    let alice = app.api_user("alice").await;
    let (_, ds) = app.upload(&alice, "d", b"text\nhello\n".to_vec()).await;
    let id = app
        .start_job(&alice, json!({"kind": "analyze", "dataset": ds["id"]}))
        .await;
    let path = format!("/api/sentiment/jobs/{id}");
    let (_, job) = app.api(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(job["status"], "queued", "no worker runs in this instance");
    let (s, job) = app
        .api(Method::POST, &format!("{path}/cancel"), Some(&alice), None)
        .await;
    assert_eq!(s, 202, "{job}");
    assert_eq!(job["status"], "cancelled");
    assert!(job["finished_at"].is_string());
    let (s, body) = app
        .api(Method::POST, &format!("{path}/cancel"), Some(&alice), None)
        .await;
    assert_eq!(s, 409);
    assert_eq!(body["errors"]["status"][0], "the job has already cancelled");
    let (s, _) = app
        .api(Method::GET, &format!("{path}/results"), Some(&alice), None)
        .await;
    assert_eq!(s, 409, "no results for a cancelled job");

    // A running job is asked to stop; it does at its next checkpoint (or when its lease is swept).
    let id = app
        .start_job(&alice, json!({"kind": "analyze", "dataset": ds["id"]}))
        .await;
    let far = chrono::Utc::now().timestamp_millis() + 3_600_000;
    app.sql(&format!(
        "UPDATE jobs SET status = 'running', worker = 'elsewhere/0', attempts = 1, lease_expires_ms = {far} WHERE id = {id}"
    ))
    .await;
    let path = format!("/api/sentiment/jobs/{id}");
    let (s, job) = app
        .api(Method::POST, &format!("{path}/cancel"), Some(&alice), None)
        .await;
    assert_eq!(s, 202);
    assert_eq!(job["status"], "running");
    assert_eq!(job["cancel_requested"], true);
    app.sql(&format!(
        "UPDATE jobs SET lease_expires_ms = 1 WHERE id = {id}"
    ))
    .await;
    let worker = app.sibling(&[("job_workers", "1")]).await;
    let job = worker.wait_job(Some(&alice), id).await;
    assert_eq!(job["status"], "cancelled");
}

async fn a_job_whose_worker_died_resumes_after_its_last_checkpoint(app: TestApp) {
    let alice = app.api_user("alice").await;
    let mut csv = String::from("text\n");
    for i in 0..300 {
        csv.push_str(&format!("review number {i} was a wonderful surprise\n"));
    }
    let (_, ds) = app.upload(&alice, "big", csv.into_bytes()).await;
    let id = app
        .start_job(&alice, json!({"kind": "analyze", "dataset": ds["id"]}))
        .await;
    // A worker claimed it, stored results for lines 2..=101 with its progress, then died.
    app.sql(&format!(
        "UPDATE jobs SET status = 'running', worker = 'dead/0', attempts = 1, progress = 33, lease_expires_ms = 1 WHERE id = {id}"
    ))
    .await;
    for line in 2..=101 {
        app.sql(&format!(
            "INSERT INTO sentiment_results (job_id, line, label, positive) VALUES ({id}, {line}, 0, 0.0)"
        ))
        .await;
    }
    // A new instance sweeps the expired lease and resumes the job.
    let worker = app.sibling(&[("job_workers", "1")]).await;
    let job = worker.wait_job(Some(&alice), id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["result"]["rows"], 300);
    let (_, results) = worker
        .api(
            Method::GET,
            &format!("/api/sentiment/jobs/{id}/results"),
            Some(&alice),
            None,
        )
        .await;
    let list = results["results"].as_array().unwrap();
    assert_eq!(list.len(), 300, "each line once");
    assert!(
        list[..100].iter().all(|r| r["scores"]["positive"] == 0.0),
        "lines before the checkpoint were kept, not run again"
    );
    assert!(
        list[100..].iter().all(|r| r["label"] == "positive"),
        "the rest were analyzed"
    );
}

/// The `data` of each `job` event in an event stream's text so far.
fn job_events(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l == "event: job"))
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(|d| serde_json::from_str(d).unwrap())
        })
        .collect()
}

/// Reads an event stream until it ends or `want` job events have come, within `bound`.
async fn read_events(resp: &mut reqwest::Response, want: usize, bound: Duration) -> (String, bool) {
    let mut text = String::new();
    let ended = tokio::time::timeout(bound, async {
        while let Some(chunk) = resp.chunk().await.unwrap() {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
            if job_events(&text).len() >= want {
                return false;
            }
        }
        true
    })
    .await;
    (text, ended.unwrap_or(false))
}

async fn a_job_streams_its_changes_as_server_sent_events(app: TestApp) {
    let alice = app.api_user("alice").await;
    let bob = app.api_user("bob").await;
    let (_, ds) = app
        .upload(&alice, "mixed", labeled_csv().into_bytes())
        .await;
    let id = app
        .start_job(&alice, json!({"kind": "analyze", "dataset": ds["id"]}))
        .await;
    let path = format!("/api/sentiment/jobs/{id}/events");
    assert_eq!(app.api(Method::GET, &path, Some(&bob), None).await.0, 404);
    let open = || {
        app.client
            .get(app.url(&path))
            .header("Authorization", format!("Token {alice}"))
            .send()
    };
    let mut resp = open().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // The job as it is, at once.
    let (text, _) = read_events(&mut resp, 1, Duration::from_secs(2)).await;
    let first = job_events(&text);
    assert_eq!(first.len(), 1, "{text}");
    assert_eq!(
        (&first[0]["status"], &first[0]["progress"]),
        (&json!("queued"), &json!(0))
    );
    assert_eq!(first[0]["id"], id);
    // A change is sent; the same state read again is not.
    app.sql(&format!(
        "UPDATE jobs SET status = 'running', progress = 40 WHERE id = {id}"
    ))
    .await;
    let (more, _) = read_events(&mut resp, 1, Duration::from_secs(2)).await;
    let seen = job_events(&more);
    assert_eq!(seen.len(), 1, "{more}");
    assert_eq!(
        (&seen[0]["status"], &seen[0]["progress"]),
        (&json!("running"), &json!(40))
    );
    // Without a change, the stream ends by itself after the request timeout (3 s here) with no
    // further event; the client reconnects.
    let (quiet, ended) = read_events(&mut resp, 1, Duration::from_secs(6)).await;
    assert!(ended, "the stream ended by itself");
    assert!(job_events(&quiet).is_empty(), "{quiet}");
    // Reopened, it starts from the job's state; its final state ends the stream at once.
    let mut resp = open().await.unwrap();
    let (text, _) = read_events(&mut resp, 1, Duration::from_secs(2)).await;
    assert_eq!(job_events(&text)[0]["progress"], 40);
    app.sql(&format!(
        "UPDATE jobs SET status = 'succeeded', progress = 100 WHERE id = {id}"
    ))
    .await;
    let (last, ended) = read_events(&mut resp, 2, Duration::from_secs(2)).await;
    assert!(ended, "the final state ends the stream");
    let seen = job_events(&last);
    assert_eq!(seen.len(), 1, "{last}");
    assert_eq!(seen[0]["status"], "succeeded");
}

async fn a_job_out_of_attempts_is_failed_not_lost(app: TestApp) {
    let alice = app.api_user("alice").await;
    let (_, ds) = app.upload(&alice, "d", b"text\nhello\n".to_vec()).await;
    let id = app
        .start_job(&alice, json!({"kind": "analyze", "dataset": ds["id"]}))
        .await;
    app.sql(&format!(
        "UPDATE jobs SET status = 'running', worker = 'dead/0', attempts = max_attempts, lease_expires_ms = 1 WHERE id = {id}"
    ))
    .await;
    let worker = app.sibling(&[("job_workers", "1")]).await;
    let job = worker.wait_job(Some(&alice), id).await;
    assert_eq!(job["status"], "failed");
    assert!(
        job["error"].as_str().unwrap().contains("interrupted"),
        "{job}"
    );
}

async fn the_pages_upload_analyze_and_train_without_javascript(app: TestApp) {
    let carol = app.user("carol", &[], false).await;
    let resp = carol
        .post_multipart(
            "/sentiment/datasets/",
            "/sentiment/datasets/",
            &[("name", "")],
            Some(("file", b"text,label\nfine,1\n,0\n".to_vec(), "bad.csv")),
        )
        .await;
    let status = resp.status();
    let html = resp.text().await.unwrap();
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("line 3: text is empty"), "{html}");

    let resp = carol
        .post_multipart(
            "/sentiment/datasets/",
            "/sentiment/datasets/",
            &[("name", "Reviews")],
            Some(("file", labeled_csv().into_bytes(), "reviews.csv")),
        )
        .await;
    assert_eq!(resp.status(), 303);
    let page = crate::helpers::location(&resp);
    let html = carol.get_text(&page).await;
    assert!(
        html.contains("A wonderful film, truly brilliant."),
        "preview shown"
    );

    let job_page = start_from_page(&carol, &page, "analyze/", ("model", "lexicon")).await;
    let html = carol.get_text(&job_page).await;
    assert!(html.contains("Download CSV"), "{html}");
    assert!(
        !html.contains("queued."),
        "a finished job's page carries no stale 'queued' message: {html}"
    );
    let resp = carol.get(&format!("{job_page}results.csv")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().starts_with("line,text,label"));

    let job_page = start_from_page(&carol, &page, "train/", ("name", "carols")).await;
    let html = carol.get_text(&job_page).await;
    assert!(html.contains("/sentiment/models/carols/"), "{html}");
    let html = carol.get_text("/sentiment/models/carols/").await;
    assert!(
        html.contains(&format!(
            "curl -X POST {}/api/sentiment/analyze",
            carol.state.settings.base_url()
        )),
        "the example names the host: {html}"
    );
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "confusion, calibration, ROC"
    );
    assert!(html.contains("data-testid=\"cm-positive-positive\""));
    let html = carol.get_text("/sentiment/models/").await;
    assert!(html.contains("carols"));
    assert!(
        html.contains("Trained on your dataset <code>Reviews</code>."),
        "descriptions render their code spans: {html}"
    );
    let html = carol.get_text("/sentiment/").await;
    assert!(
        html.contains("<option value=\"carols\""),
        "selectable in the try-it box"
    );

    // Someone else gets 404s, and visitors are sent to log in.
    let dave = app.user("dave", &[], false).await;
    assert_eq!(dave.get(&page).await.status(), 404);
    assert_eq!(dave.get(&job_page).await.status(), 404);
    assert_eq!(dave.get("/sentiment/models/carols/").await.status(), 404);
    let visitor = app.fork();
    let resp = visitor.get("/sentiment/datasets/").await;
    assert_eq!(resp.status(), 303);
    assert!(crate::helpers::location(&resp).starts_with("/accounts/login/"));

    // Taken names are reported beside the field.
    let resp = carol
        .post_form_from(&page, &format!("{page}train/"), &[("name", "carols")])
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Name is already taken.")
    );
}

/// Submits a dataset page's form, follows the redirect to the job's page, waits for the job to succeed
/// and returns the job page's path.
async fn start_from_page(who: &TestApp, page: &str, action: &str, field: (&str, &str)) -> String {
    let resp = who
        .post_form_from(page, &format!("{page}{action}"), &[field])
        .await;
    assert_eq!(resp.status(), 303);
    let job_page = crate::helpers::location(&resp);
    let id: i64 = job_page
        .trim_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(who.wait_job(None, id).await["status"], "succeeded");
    job_page
}

async fn the_openapi_document_lists_every_sentiment_operation(app: TestApp) {
    let (s, doc) = app.api(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    for (path, methods) in [
        ("/api/sentiment/datasets", &["get", "post"][..]),
        ("/api/sentiment/datasets/{id}", &["get", "delete"]),
        ("/api/sentiment/jobs", &["get", "post"]),
        ("/api/sentiment/jobs/{id}", &["get"]),
        ("/api/sentiment/jobs/{id}/cancel", &["post"]),
        ("/api/sentiment/jobs/{id}/results", &["get"]),
        ("/api/sentiment/models/{name}", &["get", "delete"]),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path][m].is_object(),
                "{m} {path} is documented"
            );
        }
    }
}

/// Datasets, jobs and models: the same statements for one item as for several.
async fn the_lists_run_a_fixed_number_of_statements(app: TestApp) {
    let alice = app.api_user("alice").await;
    let statements = |path: &'static str| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let before = app.state.queries.get();
            let (s, body) = app.api(Method::GET, path, Some(&alice), None).await;
            assert_eq!(s, 200, "{path}: {body}");
            app.state.queries.get() - before
        }
    };
    let mut seen = Vec::new();
    for round in 0..2 {
        let n = if round == 0 { 1 } else { 3 };
        for i in 0..n {
            let (s, ds) = app
                .upload(
                    &alice,
                    &format!("set-{round}-{i}"),
                    labeled_csv().into_bytes(),
                )
                .await;
            assert_eq!(s, 201, "{ds}");
            app.start_job(&alice, json!({"kind": "analyze", "dataset": ds["id"]}))
                .await;
        }
        seen.push([
            statements("/api/sentiment/datasets").await,
            statements("/api/sentiment/jobs").await,
            statements("/api/sentiment/models").await,
        ]);
    }
    assert_eq!(seen[0], seen[1], "datasets, jobs, models: 1 item and 4");
    // The caller, then the count and the page (sea-orm builds these two); the models: the caller's own.
    assert_eq!(seen[1], [3, 3, 2]);
}
