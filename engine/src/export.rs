//! Which events an export holds, read page by page in position order: the whole global log,
//! one run (its `run-{id}` stream and its workflow's `workflow-{id}` stream), or one workflow
//! (its stream and every run stream whose `RunStarted` names it). Used by `duro journal
//! export` and `GET /api/v1/journal/export`.
//!
//! Every selection stops at the position committed when it was opened, so an export of a
//! running server is a consistent prefix of its log. Memory: one page, plus for a workflow
//! the names of its run streams.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use journal::archive::ArchiveScope;
use journal::{EventStore, Position, RecordedEvent, Seq, StoreError, StreamName};

use crate::events::RunEvent;

/// Events read per page.
pub const EXPORT_PAGE_EVENTS: usize = 1024;

/// Why an export cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("Run not found: {0}")]
    RunNotFound(String),
    #[error("Workflow not found: {0}")]
    WorkflowNotFound(String),
    #[error("run {run_id}: its first event is not a readable RunStarted: {reason}")]
    Corrupt { run_id: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The events of one export, page by page.
pub struct ExportPages {
    store: Arc<dyn EventStore>,
    /// The committed position when the export began: nothing after it is exported.
    upto: Position,
    page: usize,
    selection: Selection,
}

enum Selection {
    All {
        next: Position,
    },
    Run {
        streams: [StreamCursor; 2],
    },
    Workflow {
        next: Position,
        workflow_id: String,
        workflow: StreamName,
        runs: HashSet<StreamName>,
    },
}

/// A stream read forward a page at a time.
struct StreamCursor {
    stream: StreamName,
    next: Seq,
    buffered: VecDeque<RecordedEvent>,
    done: bool,
}

impl StreamCursor {
    fn new(stream: StreamName) -> StreamCursor {
        StreamCursor {
            stream,
            next: Seq::FIRST,
            buffered: VecDeque::new(),
            done: false,
        }
    }

    /// The position of the next event, reading a page if needed.
    async fn peek(
        &mut self,
        store: &dyn EventStore,
        upto: Position,
        page: usize,
    ) -> Result<Option<Position>, StoreError> {
        if self.buffered.is_empty() && !self.done {
            let events = store.read_stream(&self.stream, self.next, page).await?;
            if events.is_empty() {
                self.done = true;
            }
            for event in events {
                self.next = event.seq.next();
                if event.position > upto {
                    self.done = true;
                    break;
                }
                self.buffered.push_back(event);
            }
        }
        Ok(self.buffered.front().map(|e| e.position))
    }
}

impl ExportPages {
    /// Opens the selection of `scope`. A run or workflow that does not exist is an error
    /// here, before anything is written.
    pub async fn open(
        store: Arc<dyn EventStore>,
        scope: &ArchiveScope,
    ) -> Result<ExportPages, ExportError> {
        let upto = *store.subscribe().borrow();
        let selection = match scope {
            ArchiveScope::All => Selection::All {
                next: Position::START,
            },
            ArchiveScope::Run(run_id) => {
                let run = StreamName::new(format!("run-{run_id}"))
                    .map_err(|_| ExportError::RunNotFound(run_id.clone()))?;
                let first = store.read_stream(&run, Seq::FIRST, 1).await?;
                let Some(first) = first.first().filter(|e| e.position <= upto) else {
                    return Err(ExportError::RunNotFound(run_id.clone()));
                };
                let workflow_id = match RunEvent::decode(first.event_type, &first.data) {
                    Ok(RunEvent::RunStarted { workflow_id, .. }) => workflow_id,
                    Ok(other) => {
                        return Err(ExportError::Corrupt {
                            run_id: run_id.clone(),
                            reason: format!("it is a {}", other.name()),
                        })
                    }
                    Err(error) => {
                        return Err(ExportError::Corrupt {
                            run_id: run_id.clone(),
                            reason: error.to_string(),
                        })
                    }
                };
                let workflow = workflow_stream(&workflow_id).map_err(|_| ExportError::Corrupt {
                    run_id: run_id.clone(),
                    reason: format!("workflow id {workflow_id:?}"),
                })?;
                Selection::Run {
                    streams: [StreamCursor::new(run), StreamCursor::new(workflow)],
                }
            }
            ArchiveScope::Workflow(workflow_id) => {
                let workflow = workflow_stream(workflow_id)
                    .map_err(|_| ExportError::WorkflowNotFound(workflow_id.clone()))?;
                if store.stream_version(&workflow).await? == 0 {
                    return Err(ExportError::WorkflowNotFound(workflow_id.clone()));
                }
                Selection::Workflow {
                    next: Position::START,
                    workflow_id: workflow_id.clone(),
                    workflow,
                    runs: HashSet::new(),
                }
            }
        };
        Ok(ExportPages {
            store,
            upto,
            page: EXPORT_PAGE_EVENTS,
            selection,
        })
    }

    /// The last position the export can hold.
    pub fn upto(&self) -> Position {
        self.upto
    }

    /// The next page of events, in position order; `None` at the end. A page may be empty
    /// while a workflow export skips other streams' events.
    pub async fn next_page(&mut self) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let store = self.store.as_ref();
        let (upto, page) = (self.upto, self.page);
        match &mut self.selection {
            Selection::All { next } => {
                let events = read_global(store, next, upto, page).await?;
                Ok((!events.is_empty()).then_some(events))
            }
            Selection::Workflow {
                next,
                workflow_id,
                workflow,
                runs,
            } => {
                let events = read_global(store, next, upto, page).await?;
                if events.is_empty() {
                    return Ok(None);
                }
                let mut selected = Vec::new();
                for event in events {
                    let name = event.stream.as_str();
                    let keep = if event.stream == *workflow || runs.contains(&event.stream) {
                        true
                    } else if event.seq == Seq::FIRST && name.starts_with("run-") {
                        let ours = matches!(
                            RunEvent::decode(event.event_type, &event.data),
                            Ok(RunEvent::RunStarted { workflow_id: ref of, .. }) if of == workflow_id
                        );
                        if ours {
                            runs.insert(event.stream.clone());
                        }
                        ours
                    } else {
                        false
                    };
                    if keep {
                        selected.push(event);
                    }
                }
                Ok(Some(selected))
            }
            Selection::Run { streams } => {
                let mut selected = Vec::new();
                while selected.len() < page {
                    let [run, workflow] = streams;
                    let a = run.peek(store, upto, page).await?;
                    let b = workflow.peek(store, upto, page).await?;
                    let from = match (a, b) {
                        (None, None) => break,
                        (Some(_), None) => run,
                        (None, Some(_)) => workflow,
                        (Some(a), Some(b)) => {
                            if a < b {
                                run
                            } else {
                                workflow
                            }
                        }
                    };
                    selected.extend(from.buffered.pop_front());
                }
                Ok((!selected.is_empty()).then_some(selected))
            }
        }
    }
}

fn workflow_stream(workflow_id: &str) -> Result<StreamName, journal::StreamNameError> {
    StreamName::new(format!("workflow-{workflow_id}"))
}

/// The next page of the global log up to `upto`, moving `next` past it.
async fn read_global(
    store: &dyn EventStore,
    next: &mut Position,
    upto: Position,
    page: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if *next > upto {
        return Ok(Vec::new());
    }
    let mut events = store.read_all(*next, page).await?;
    events.retain(|e| e.position <= upto);
    if let Some(last) = events.last() {
        *next = last.position.next();
    } else {
        *next = upto.next();
    }
    Ok(events)
}
