//! Progress bars on stderr (indicatif) for the long offline commands: export, import,
//! verify, projection rebuild. Drawn only when stderr is a terminal (indicatif hides them
//! otherwise), so pipes, logs and tests see nothing.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting events, with their rate; `total` when it is known.
pub fn events(label: &str, total: Option<u64>) -> ProgressBar {
    let template = if total.is_some() {
        "{prefix:>10} [{bar:30}] {human_pos}/{human_len} events ({per_sec}) {msg} {elapsed}"
    } else {
        "{prefix:>10} {spinner} {human_pos} events ({per_sec}) {msg} {elapsed}"
    };
    make(label, total, template)
}

/// A bar counting bytes, with their rate; `total` when it is known.
pub fn bytes(label: &str, total: Option<u64>) -> ProgressBar {
    let template = if total.is_some() {
        "{prefix:>10} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}) {msg} {elapsed}"
    } else {
        "{prefix:>10} {spinner} {binary_bytes} ({binary_bytes_per_sec}) {msg} {elapsed}"
    };
    make(label, total, template)
}

fn make(label: &str, total: Option<u64>, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(10));
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_owned());
    if total.is_none() {
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar
}
