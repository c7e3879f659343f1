//! `duro keys`: create, list and revoke API keys in a data directory, as users run it.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{stderr, stdout};

fn duro(args: &[&str], data_dir: &Path) -> Output {
    support::duro_output(args, Some(data_dir), &["DURO_DATA_DIR"])
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path, into: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            all_bytes(&path, into);
        } else {
            into.extend(std::fs::read(&path).expect("read file"));
        }
    }
}

#[test]
fn keys_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");

    let created = duro(
        &[
            "keys",
            "create",
            "--name",
            "ci deploys",
            "--scopes",
            "workflows:read,runs:write",
            "--json",
        ],
        dir.path(),
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let object: serde_json::Value =
        serde_json::from_str(stdout(&created).trim()).expect("one JSON object");
    let id = object["id"].as_str().expect("id").to_owned();
    let secret = object["key"].as_str().expect("key").to_owned();
    assert!(id.starts_with("key_") && id.len() == 36, "{id}");
    assert!(
        secret.starts_with("duro_") && secret.len() == 69,
        "{secret}"
    );
    assert_eq!(object["name"], "ci deploys");
    assert_eq!(
        object["scopes"],
        serde_json::json!(["workflows:read", "runs:write"])
    );

    // The text form prints the id, the name, the scopes and the secret on a line of its own.
    let text = duro(
        &["keys", "create", "--name", "admin", "--scopes", "admin"],
        dir.path(),
    );
    assert!(text.status.success(), "{}", stderr(&text));
    let out = stdout(&text);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("key_") && lines[0].contains("\"admin\""),
        "{out}"
    );
    assert!(lines[1].starts_with("duro_"), "{out}");

    // Listing through DURO_DATA_DIR; never a secret.
    let listed = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["keys", "list"])
        .env("DURO_DATA_DIR", dir.path())
        .output()
        .expect("run duro");
    assert!(listed.status.success(), "{}", stderr(&listed));
    let out = stdout(&listed);
    assert!(out.contains(&id), "{out}");
    assert!(out.contains("ci deploys"), "{out}");
    assert!(out.contains("workflows:read,runs:write"), "{out}");
    assert!(!out.contains(&secret), "{out}");
    assert_eq!(out.matches("active").count(), 2, "{out}");

    let revoked = duro(&["keys", "revoke", "--id", &id], dir.path());
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains(&format!("revoked {id}")));

    let listed = duro(&["keys", "list", "--json"], dir.path());
    assert!(listed.status.success(), "{}", stderr(&listed));
    let keys: Vec<serde_json::Value> =
        serde_json::from_str(stdout(&listed).trim()).expect("a JSON array");
    assert_eq!(keys.len(), 2);
    let first = keys
        .iter()
        .find(|k| k["id"] == id.as_str())
        .expect("the revoked key is listed");
    assert!(first["revokedAt"].is_string(), "{first}");
    assert!(first["createdAt"].is_string(), "{first}");
    assert!(first.get("key").is_none(), "{first}");

    // Neither secret is anywhere in the data directory, journal or index.
    let mut bytes = Vec::new();
    all_bytes(dir.path(), &mut bytes);
    for secret in [secret.as_str(), lines[1]] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is stored in the data directory"
        );
    }
}

#[test]
fn a_bad_scope_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = duro(
        &[
            "keys",
            "create",
            "--name",
            "ci",
            "--scopes",
            "runs:read,runs:delete",
        ],
        dir.path(),
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("runs:delete"), "{err}");
    assert!(
        err.contains("workflows:execute"),
        "lists the valid scopes: {err}"
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn an_empty_name_and_an_unknown_id_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = duro(
        &["keys", "create", "--name", " ", "--scopes", "admin"],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("name"), "{}", stderr(&output));

    let output = duro(
        &[
            "keys",
            "revoke",
            "--id",
            "key_00000000000000000000000000000000",
        ],
        dir.path(),
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("not found"), "{}", stderr(&output));

    let empty = tempfile::tempdir().expect("tempdir");
    let output = duro(&["keys", "list"], empty.path());
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("no journal"),
        "{}",
        stderr(&output)
    );
}
