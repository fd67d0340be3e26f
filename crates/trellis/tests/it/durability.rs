//! The real `trellis serve`, killed with SIGKILL in the middle of a write load, then started again on the
//! same data: every write it acknowledged is there, and nothing is half-written.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TEST_PASSWORD, TestApp};

db_tests! {
    acknowledged_writes_survive_kill_9;
}

/// A server process, killed when dropped so a failing test leaves nothing running.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `trellis serve` on the test app's database and data directory (the app migrated them).
fn serve(app: &TestApp) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trellis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TRELLIS_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env("TRELLIS_DATABASE_URL", &app.database_url)
        .env("TRELLIS_DATA_DIR", &app.data_dir)
        .env("TRELLIS_BIND", "127.0.0.1:0")
        .env("TRELLIS_LOG_LEVEL", "info")
        .env("TRELLIS_THROTTLE", "off")
        .env("TRELLIS_BLOG_OPEN_AUTHORING", "true")
        .env("TRELLIS_PASSWORD_VALIDATORS", "length")
        .env("TRELLIS_JOB_WORKERS", "0")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trellis serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server exited before serving")
            .unwrap();
        if let Some(i) = line.find("http://127.0.0.1:") {
            let rest = &line[i..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            break rest[..end].to_string();
        }
    };
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, address }
}

#[derive(Default)]
struct Acknowledged {
    /// id and title
    todos: Vec<(i64, String)>,
    /// slug, title and tags (sorted)
    articles: Vec<(String, String, Vec<String>)>,
    /// Answers that were neither 2xx nor a dropped connection: there should be none.
    refused: Vec<String>,
}

/// Writers that keep creating to-dos and tagged articles until the server stops answering.
fn start_load(
    address: &str,
    jwt: &str,
    writers: usize,
    acked: &Arc<Mutex<Acknowledged>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    (0..writers)
        .map(|w| {
            let (client, acked) = (client.clone(), acked.clone());
            let (base, auth) = (address.to_string(), format!("Token {jwt}"));
            tokio::spawn(async move {
                for n in 0.. {
                    let article = (w + n) % 2 == 0;
                    let title = format!("w{w} n{n}");
                    let tags = vec![format!("w{w}"), "survivor".to_string()];
                    let req = if article {
                        client
                            .post(format!("{base}/api/articles"))
                            .json(&json!({"article": {
                            "title": title, "description": "d", "body": "b", "tagList": tags}}))
                    } else {
                        client
                            .post(format!("{base}/api/todos"))
                            .json(&json!({"title": title}))
                    };
                    // A dropped connection or a cut-off body is no acknowledgement.
                    let Ok(resp) = req.header("Authorization", &auth).send().await else {
                        return;
                    };
                    let status = resp.status();
                    let Ok(body) = resp.text().await else { return };
                    let mut acked = acked.lock().unwrap();
                    if !status.is_success() {
                        acked.refused.push(format!("{status} {body}"));
                        return;
                    }
                    let v: Value = serde_json::from_str(&body).unwrap();
                    if article {
                        let slug = v["article"]["slug"].as_str().unwrap().to_string();
                        let mut tags = tags;
                        tags.sort();
                        acked.articles.push((slug, title, tags));
                    } else {
                        acked.todos.push((v["id"].as_i64().unwrap(), title));
                    }
                }
            })
        })
        .collect()
}

async fn acknowledged_writes_survive_kill_9(app: TestApp) {
    let server = serve(&app);
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/api/users", server.address))
        .json(&json!({"user": {"username": "steady", "email": "steady@example.com", "password": TEST_PASSWORD}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let jwt = resp.json::<Value>().await.unwrap()["user"]["token"]
        .as_str()
        .unwrap()
        .to_string();

    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let writers = start_load(&server.address, &jwt, 16, &acked);
    // Kill once the load is well under way; how much completes before the kill does not matter.
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let a = acked.lock().unwrap();
        assert!(a.refused.is_empty(), "{:?}", a.refused);
        if a.todos.len() >= 20 && a.articles.len() >= 20 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load did not get going"
        );
    }
    drop(server);
    for w in writers {
        w.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.refused.is_empty(), "{:?}", acked.refused);

    let server = serve(&app);
    let get = async |path: String| {
        let resp = client
            .get(format!("{}{path}", server.address))
            .header("Authorization", format!("Token {jwt}"))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    for (id, title) in &acked.todos {
        let (status, todo) = get(format!("/api/todos/{id}")).await;
        assert_eq!(status, 200, "acknowledged to-do {id} ({title}) is there");
        assert_eq!(todo["title"], *title);
    }
    for (slug, title, tags) in &acked.articles {
        let (status, a) = get(format!("/api/articles/{slug}")).await;
        assert_eq!(status, 200, "acknowledged article {slug} is there");
        assert_eq!(a["article"]["title"], *title);
        assert_eq!(a["article"]["tagList"], json!(tags));
    }

    // Whatever else committed before the kill is whole: every article has both its tags, and the
    // to-dos' positions are distinct.
    let db = &app.state.db;
    let count = async |sql: &str| trellis::db::count(db, sql.into(), vec![]).await.unwrap();
    assert_eq!(
        count(
            "SELECT COUNT(*) AS n FROM blog_posts p \
             WHERE (SELECT COUNT(*) FROM blog_post_tags t WHERE t.post_id = p.id) <> 2"
        )
        .await,
        0,
        "no article is missing a tag"
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT position) AS n FROM todo_tasks").await,
        count("SELECT COUNT(*) AS n FROM todo_tasks").await
    );
    assert!(count("SELECT COUNT(*) AS n FROM todo_tasks").await >= acked.todos.len() as u64);
    assert!(count("SELECT COUNT(*) AS n FROM blog_posts").await >= acked.articles.len() as u64);
    drop(server);
}
