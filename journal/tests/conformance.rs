//! Every backend passes the same suite.

use std::sync::Arc;

use journal::{conformance, EmbeddedConfig, EmbeddedStore, MemoryStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    conformance::check_all(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EmbeddedConfig::new(dir.path());
    config.segment_bytes = 1024 * 1024;
    let store = EmbeddedStore::open(config).expect("open");
    conformance::check_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn embedded_store_conforms_on_a_single_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EmbeddedConfig::new(dir.path());
    config.segment_bytes = 1024 * 1024;
    let store = EmbeddedStore::open(config).expect("open");
    conformance::check_all(Arc::new(store)).await;
}
