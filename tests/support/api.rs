//! A small client of a running `duro serve` for the black-box tests: calls with a key, the
//! success envelope unwrapped, and the few flows several tests share.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The REST API of one server, called with one key.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    pub base: String,
    key: String,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            base: base.to_owned(),
            key: key.to_owned(),
        }
    }

    /// One call: the status and the body as JSON (`Null` when it is not JSON), or the
    /// transport error (the server is down, or died mid-answer).
    pub async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// A call that must reach the server.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The text of `GET path` (for `/metrics`).
    pub async fn text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.base))
            .header("x-api-key", &self.key)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .text()
            .await
            .expect("body")
    }

    /// Creates the workflow and activates it; returns its id.
    pub async fn active_workflow(&self, definition: Value) -> String {
        let (status, body) = self
            .call(reqwest::Method::POST, "/api/v1/workflows", Some(definition))
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["data"]["id"].as_str().expect("workflow id").to_owned();
        let (status, body) = self
            .call(
                reqwest::Method::PATCH,
                &format!("/api/v1/workflows/{id}/status"),
                Some(json!({"status": "active"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        id
    }

    /// Starts a run; its id once the server acknowledged it (`RunStarted` is durable then).
    pub async fn start_run(&self, workflow: &str, input: Value) -> Option<String> {
        let answer = self
            .try_call(
                reqwest::Method::POST,
                &format!("/api/v1/workflows/{workflow}/run"),
                Some(json!({ "input": input })),
            )
            .await;
        match answer {
            Ok((200 | 202, body)) => body["data"]["runId"].as_str().map(str::to_owned),
            _ => None,
        }
    }

    /// The run's detail (`data` of `GET /api/v1/runs/{id}`), or the status when it is not 200.
    pub async fn run(&self, run_id: &str) -> Result<Value, u16> {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/runs/{run_id}"),
                None,
            )
            .await;
        if status == 200 {
            Ok(body["data"].clone())
        } else {
            Err(status)
        }
    }

    /// Polls the run every 20 ms until it has ended; its detail.
    pub async fn ended(&self, run_id: &str, within: Duration) -> Value {
        self.until_status(run_id, &["completed", "failed", "cancelled"], within)
            .await
    }

    /// Polls the run every 20 ms until its status is one of `statuses`; its detail.
    pub async fn until_status(&self, run_id: &str, statuses: &[&str], within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let run = self
                .run(run_id)
                .await
                .unwrap_or_else(|s| panic!("run {run_id}: {s}"));
            if statuses.contains(&run["status"].as_str().unwrap_or("")) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} never reached {statuses:?}: {run}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every run the listing (the read models) shows, newest first, as (id, status).
    pub async fn listed_runs(&self) -> Vec<(String, String)> {
        let mut runs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/api/v1/runs?limit=100&cursor={cursor}"),
                None => "/api/v1/runs?limit=100".to_owned(),
            };
            let (status, body) = self.call(reqwest::Method::GET, &path, None).await;
            assert_eq!(status, 200, "{body}");
            for item in body["data"].as_array().expect("items") {
                runs.push((
                    item["id"].as_str().expect("id").to_owned(),
                    item["status"].as_str().expect("status").to_owned(),
                ));
            }
            match body["pagination"]["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return runs,
            }
        }
    }
}
