//! The provider catalog (`duro_core::providers`), loaded: the built-in providers plus the
//! files of `DURO_PROVIDERS_DIR`. Reading the directory is the only I/O of the catalog.

use std::path::{Path, PathBuf};

pub use duro_core::providers::*;

/// The built-in providers plus every `*.json` file in `dir` (sorted by name); a file
/// whose `id` is a built-in provider's replaces it.
pub fn load(dir: Option<&Path>) -> Result<Catalog, CatalogError> {
    let mut catalog = Catalog::builtin()?;
    let Some(dir) = dir else {
        return Ok(catalog);
    };
    let unreadable = |problem: String| CatalogError {
        file: dir.display().to_string(),
        problems: vec![problem],
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(format!("cannot read the directory: {e}")))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    for path in files {
        let name = path.display().to_string();
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > PROVIDER_FILE_BYTES_MAX {
            return Err(CatalogError {
                file: name,
                problems: vec![format!("{size} bytes, more than {PROVIDER_FILE_BYTES_MAX}")],
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| CatalogError {
            file: name.clone(),
            problems: vec![format!("cannot read: {e}")],
        })?;
        if let Some(replaced) = catalog.add(name.clone(), &text)? {
            tracing::info!(%replaced, by = %name, "a provider file replaces an earlier one");
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provider_files_from_a_directory_add_and_replace_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let custom = json!({
            "id": "acme", "name": "Acme", "baseUrl": "https://acme.example",
            "connectionKinds": ["bearer"],
            "actions": [{"id": "ping", "params": {"type": "object"},
                         "requests": [{"method": "GET", "path": "/ping"}]}]
        });
        std::fs::write(dir.path().join("acme.json"), custom.to_string()).expect("write");
        let catalog = load(Some(dir.path())).expect("loads");
        assert!(catalog.action("acme.ping").is_ok());
        assert!(catalog.action("stripe.createInvoice").is_ok());

        let bad = json!({
            "id": "bad id", "name": "Bad", "baseUrl": "ftp://x", "connectionKinds": [],
            "actions": [{"id": "a", "params": {"type": 5},
                         "requests": [{"method": "GET", "path": "/{{ unclosed"}]}]
        });
        std::fs::write(dir.path().join("bad.json"), bad.to_string()).expect("write");
        let Err(error) = load(Some(dir.path())) else {
            panic!("a bad provider file is refused");
        };
        let text = error.to_string();
        assert!(text.contains("bad.json"), "{text}");
        assert!(text.contains("id \"bad id\""), "{text}");
        assert!(text.contains("baseUrl"), "{text}");
        assert!(text.contains("actions[0].params"), "{text}");
        assert!(text.contains("actions[0].requests[0].path"), "{text}");
    }
}
