//! Derived state never stops the server: a real `duro serve` is stopped, its index or its
//! read models are corrupted, truncated or deleted, and the next start rebuilds that piece
//! from the journal with a warning naming it and the reason, counts the rebuild in
//! `/metrics`, and serves every workflow and run as before. `duro journal verify` calls the
//! damaged piece unsound before the restart and sound after it.

mod support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::api::Api;
use support::{duro_output, expect_code, stdout, Serve};

const KEY: &str = "derived-rebuild-test-key-0123456789";

/// Which piece of derived state is damaged, how, and the rebuild reason expected.
struct Damage {
    store: &'static str,
    how: How,
    reason: &'static str,
}

#[derive(Clone, Copy)]
enum How {
    Corrupt,
    Truncate,
    Delete,
}

fn file_of(data_dir: &Path, store: &str) -> PathBuf {
    match store {
        "index" => data_dir.join("index").join("index.redb"),
        _ => data_dir.join("readmodels").join("readmodels.sqlite3"),
    }
}

fn damage(data_dir: &Path, store: &str, how: How) {
    let file = file_of(data_dir, store);
    match how {
        How::Delete => std::fs::remove_dir_all(file.parent().expect("dir")).expect("delete"),
        How::Truncate => {
            let handle = OpenOptions::new().write(true).open(&file).expect("open");
            let len = handle.metadata().expect("metadata").len();
            handle.set_len(len / 2).expect("truncate");
        }
        How::Corrupt => {
            // The first 16 bytes of every 4 KiB page after the first (a page's header, in
            // both formats) overwritten: what a misdirected write or a bad sector leaves.
            let handle = OpenOptions::new().write(true).open(&file).expect("open");
            let len = handle.metadata().expect("metadata").len();
            let mut offset = 4096;
            while offset < len {
                handle.write_all_at(&[0xa5; 16], offset).expect("write");
                offset += 4096;
            }
        }
    }
}

/// `duro journal verify`'s line about `store` ("index: ..." or "read models: ...").
fn verify_line(data_dir: &Path, store: &str) -> String {
    let output = duro_output(&["journal", "verify"], Some(data_dir), &["DURO_DATA_DIR"]);
    expect_code(&output, 0);
    let prefix = if store == "index" {
        "index: "
    } else {
        "read models: "
    };
    stdout(&output)
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} line in:\n{}", stdout(&output)))
        .to_owned()
}

/// What a client sees: every run in the listing, and each run's status and output.
async fn seen(api: &Api, runs: &[String]) -> (Vec<(String, String)>, Vec<(Value, Value)>) {
    let mut details = Vec::new();
    for id in runs {
        let run = api.run(id).await.expect("run");
        details.push((run["status"].clone(), run["output"].clone()));
    }
    (api.listed_runs().await, details)
}

fn check(case: Damage) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let first_log = dir.path().join("first.log");
        let mut server = Serve::new()
            .data_dir(&data_dir)
            .bootstrap_key(KEY)
            .env_remove("DURO_CONFIG")
            .stderr_file(&first_log)
            .start();
        let api = Api::new(&server.url, KEY);
        let workflow = api
            .active_workflow(
                json!({"name": "Greeter", "steps": [{"id": "greet", "type": "transform",
                "config": {"mapping": {"greeting": "Hello {{input.name}}"}}}]}),
            )
            .await;
        let mut runs = Vec::new();
        for i in 0..8 {
            let id = api
                .start_run(&workflow, json!({"name": format!("n{i}")}))
                .await
                .expect("run");
            let run = api.ended(&id, Duration::from_secs(30)).await;
            assert_eq!(run["output"], json!({"greeting": format!("Hello n{i}")}));
            runs.push(id);
        }
        let before = seen(&api, &runs).await;
        assert_eq!(before.0.len(), 8);
        assert_eq!(server.stop(), Some(0));
        assert!(verify_line(&data_dir, case.store).contains(": sound"));

        damage(&data_dir, case.store, case.how);
        let verdict = verify_line(&data_dir, case.store);
        let expected = if case.reason == "missing" {
            ": missing"
        } else {
            ": unsound"
        };
        assert!(verdict.contains(expected), "{verdict}");

        let log = dir.path().join("second.log");
        let mut server = Serve::new()
            .data_dir(&data_dir)
            .env("DURO_NODE_ID", "rebuilt")
            .bootstrap_key(KEY)
            .env_remove("DURO_CONFIG")
            .stderr_file(&log)
            .start();
        let api = Api::new(&server.url, KEY);
        assert_eq!(seen(&api, &runs).await, before, "nothing lost");
        let next = api
            .start_run(&workflow, json!({"name": "again"}))
            .await
            .expect("run");
        let run = api.ended(&next, Duration::from_secs(30)).await;
        assert_eq!(run["output"], json!({"greeting": "Hello again"}));

        let metrics = api.text("/metrics").await;
        let counted = format!(
            "duro_derived_rebuilds_total{{node=\"rebuilt\",store=\"{}\",reason=\"{}\"}} 1",
            case.store, case.reason
        );
        assert!(metrics.contains(&counted), "{counted} not in:\n{metrics}");
        let other = if case.store == "index" {
            "readmodels"
        } else {
            "index"
        };
        assert!(
            metrics.contains(&format!(
                "duro_derived_rebuilds_total{{node=\"rebuilt\",store=\"{other}\",reason=\"{}\"}} 0",
                case.reason
            )),
            "the other store is not rebuilt:\n{metrics}"
        );
        assert_eq!(server.stop(), Some(0));

        let log = std::fs::read_to_string(&log).expect("log");
        let warning = format!("{} rebuilt ({})", case.store, case.reason);
        assert!(
            log.lines()
                .any(|line| line.contains("WARN") && line.contains(&warning)),
            "no warning with {warning:?} in:\n{log}"
        );
        let first = std::fs::read_to_string(&first_log).expect("log");
        assert!(
            !first.contains("rebuilt ("),
            "a new data directory is not a rebuild:\n{first}"
        );
        assert!(verify_line(&data_dir, case.store).contains(": sound"));
    });
}

#[test]
fn a_corrupted_index_is_rebuilt() {
    check(Damage {
        store: "index",
        how: How::Corrupt,
        reason: "unreadable",
    });
}

#[test]
fn a_truncated_index_is_rebuilt() {
    check(Damage {
        store: "index",
        how: How::Truncate,
        reason: "unreadable",
    });
}

#[test]
fn a_deleted_index_is_rebuilt() {
    check(Damage {
        store: "index",
        how: How::Delete,
        reason: "missing",
    });
}

#[test]
fn corrupted_read_models_are_rebuilt() {
    check(Damage {
        store: "readmodels",
        how: How::Corrupt,
        reason: "unreadable",
    });
}

#[test]
fn truncated_read_models_are_rebuilt() {
    check(Damage {
        store: "readmodels",
        how: How::Truncate,
        reason: "unreadable",
    });
}

#[test]
fn deleted_read_models_are_rebuilt() {
    check(Damage {
        store: "readmodels",
        how: How::Delete,
        reason: "missing",
    });
}
