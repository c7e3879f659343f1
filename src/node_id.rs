//! The node id in every log line: `duro serve` sets it once it knows it, and the log format
//! (`init_tracing`) writes `node=<id>` after the level of each event from then on, so that
//! lines of several nodes on one PostgreSQL journal can be told apart.

use std::fmt;
use std::sync::OnceLock;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::registry::LookupSpan;

static NODE: OnceLock<String> = OnceLock::new();

/// Sets this process's node id (the first call wins).
pub fn set(node: &str) {
    let _ = NODE.set(node.to_owned());
}

/// The default format, with `node=<id> ` before each event's fields once the id is set.
pub struct WithNode(pub Format<Full>);

impl<S> FormatEvent<S, DefaultFields> for WithNode
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, DefaultFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if let Some(node) = NODE.get() {
            write!(writer, "node={node} ")?;
        }
        self.0.format_event(ctx, writer, event)
    }
}
