use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

db_tests! {
    a_single_text_gets_a_label_and_scores;
    a_batch_answers_in_input_order;
    limits_and_unknown_models_are_refused_by_name;
    the_try_it_page_works_without_javascript;
}

async fn a_single_text_gets_a_label_and_scores(app: TestApp) {
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"text": "A wonderful, moving and beautifully acted film."})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["model"], "default");
    assert_eq!(body["label"], "positive");
    let (p, n) = (
        body["scores"]["positive"].as_f64().unwrap(),
        body["scores"]["negative"].as_f64().unwrap(),
    );
    assert!((p + n - 1.0).abs() < 1e-3 && p > 0.5);
    assert!(
        (body["score"].as_f64().unwrap() - p).abs() < 1e-6,
        "score is the label's probability"
    );
    let (_, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"text": "Dull, predictable and far too long.", "model": "lexicon"})),
        )
        .await;
    assert_eq!(
        (body["model"].as_str(), body["label"].as_str()),
        (Some("lexicon"), Some("negative"))
    );
    let (_, models) = app
        .api(Method::GET, "/api/sentiment/models", None, None)
        .await;
    let names: Vec<&str> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["default", "lexicon"]);
}

async fn a_batch_answers_in_input_order(app: TestApp) {
    let texts: Vec<String> = (0..64)
        .map(|i| {
            if i % 2 == 0 {
                format!("brilliant and delightful {i}")
            } else {
                format!("awful, boring mess {i}")
            }
        })
        .collect();
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"texts": texts})),
        )
        .await;
    assert_eq!(s, 200);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 64);
    for (i, r) in results.iter().enumerate() {
        let want = if i % 2 == 0 { "positive" } else { "negative" };
        assert_eq!(r["label"], want, "result {i} in input order");
    }
}

async fn limits_and_unknown_models_are_refused_by_name(app: TestApp) {
    let too_many: Vec<&str> = vec!["fine"; 257];
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"texts": too_many})),
        )
        .await;
    assert_eq!(s, 413);
    assert!(
        body["errors"]["body"][0].as_str().unwrap().contains("256"),
        "{body}"
    );
    let long = "a".repeat(5001);
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"text": long})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(body["errors"]["text"][0].as_str().unwrap().contains("5000"));
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"text": "  "})),
        )
        .await;
    assert_eq!(
        (s, body),
        (422, json!({"errors": {"text": ["can't be blank"]}}))
    );
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"texts": ["ok", ""]})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(body["errors"]["texts[1]"].is_array(), "{body}");
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"text": "hi", "model": "gpt"})),
        )
        .await;
    assert_eq!(
        (s, body),
        (404, json!({"errors": {"model": ["not found"]}}))
    );
}

async fn the_try_it_page_works_without_javascript(app: TestApp) {
    let resp = app
        .post_form(
            "/sentiment/",
            &[("text", "What a great, fun day"), ("model", "default")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("data-testid=\"sentiment-result\"")
            && html.contains("<strong>Positive</strong>"),
        "{html}"
    );
    assert_eq!(
        app.post_form("/sentiment/", &[("text", ""), ("model", "default")])
            .await
            .status(),
        422
    );
}

#[test]
fn the_cli_analyzes_lines_from_stdin() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .env("TRELLIS_DATA_DIR", dir.path())
        .args(["sentiment", "analyze"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"I loved it\nI hated every minute\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["label"].as_str(), lines[1]["label"].as_str()),
        (Some("positive"), Some("negative"))
    );
}

/// Runs only where the corpora were fetched (CI does: `trellis sentiment fetch-data`).
#[test]
fn the_shipped_model_beats_vader_by_ten_points_on_the_movie_test_split() {
    let Some(dir) = crate::helpers::service("TEST_SENTIMENT_DATA", "the evaluation") else {
        return;
    };
    use trellis_sentiment::{DataPaths, LexiconModel, eval};
    let split = DataPaths::open(&dir).unwrap().movie_split().unwrap();
    let linear = eval::evaluate(&trellis_sentiment::default_model(), &split.test);
    let vader = eval::evaluate(&LexiconModel::new(), &split.test);
    eprintln!(
        "movie test accuracy: default {:.4}, VADER {:.4}",
        linear.accuracy, vader.accuracy
    );
    assert!(
        linear.accuracy >= vader.accuracy + 0.10,
        "{} vs {}",
        linear.accuracy,
        vader.accuracy
    );
}

/// The transformer needs its encoder installed (`TEST_SENTIMENT_MODEL`, which CI sets).
#[tokio::test]
async fn the_transformer_answers_concurrent_requests_when_installed() {
    let Some(dir) = crate::helpers::service("TEST_SENTIMENT_MODEL", "the transformer test") else {
        return;
    };
    let app = TestApp::spawn(
        crate::helpers::Backend::Sqlite,
        None,
        &[("sentiment_encoder_dir", dir.as_str())],
    )
    .await;
    let (_, models) = app
        .api(Method::GET, "/api/sentiment/models", None, None)
        .await;
    assert!(
        models["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "transformer" && m["kind"] == "transformer"),
        "{models}"
    );
    let (s, body) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"text": "A wonderful, heartfelt film.", "model": "ensemble"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (&body["model"], &body["label"]),
        (&json!("ensemble"), &json!("positive"))
    );
    // Several requests at once share forward passes; each still gets its own answers, in order.
    let requests = (0..8).map(|i| {
        let app = &app;
        async move {
            let texts = if i % 2 == 0 {
                vec!["A wonderful, heartfelt film.", "Dreadful and boring."]
            } else {
                vec!["Dreadful and boring.", "A wonderful, heartfelt film."]
            };
            let (s, body) = app
                .api(
                    Method::POST,
                    "/api/sentiment/analyze",
                    None,
                    Some(json!({"texts": texts, "model": "transformer"})),
                )
                .await;
            (i, s, body)
        }
    });
    for (i, s, body) in futures_util::future::join_all(requests).await {
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["model"], "transformer");
        let labels: Vec<&str> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap())
            .collect();
        let expected = if i % 2 == 0 {
            ["positive", "negative"]
        } else {
            ["negative", "positive"]
        };
        assert_eq!(labels, expected, "request {i}");
    }
}

#[tokio::test]
async fn the_transformer_is_not_found_where_it_is_not_installed() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite, None, &[]).await;
    let (s, _) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"text": "fine", "model": "transformer"})),
        )
        .await;
    assert_eq!(s, 404);
}
