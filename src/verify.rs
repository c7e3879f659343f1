//! `duro journal verify`: print what the journal holds, or every problem with its position.

use std::path::Path;
use std::process::ExitCode;

use engine::events::RunEvent;
use engine::executor::Corruption;
use journal::embedded::verify_with;
use journal::RecordedEvent;

pub fn run(data_dir: &Path) -> ExitCode {
    let bar = crate::progress::events("verifying", None);
    let progress = |events, _| {
        if events % 1024 == 0 {
            bar.set_position(events);
        }
    };
    let verified = verify_with(data_dir, progress, undecodable_run_event);
    bar.finish_and_clear();
    let report = match verified {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: cannot verify {}: {error}", data_dir.display());
            return ExitCode::from(2);
        }
    };
    for problem in &report.problems {
        println!("problem at {}: {}", problem.place, problem.message);
    }
    if let Some(torn) = &report.torn_tail {
        println!("torn tail (never acknowledged; cut when the store next opens): {torn}");
    }
    // Derived state: never a problem of the journal (the server rebuilds it), but said.
    println!("index: {}", report.index);
    let journal_end = journal::Position(report.last_position.map_or(0, |p| p.0));
    println!(
        "read models: {}",
        readmodels::check(&readmodels::dir_in(data_dir), journal_end)
    );
    println!(
        "{} segments, {} streams, {} events, {} bytes, last position {}",
        report.segments,
        report.streams,
        report.events,
        report.bytes,
        report.last_position.map_or(0, |p| p.0)
    );
    if report.is_ok() {
        println!("ok");
        ExitCode::SUCCESS
    } else {
        println!("{} problems found", report.problems.len());
        ExitCode::from(1)
    }
}

/// Every event of a run's stream is a run event the engine must decode: one it cannot is the
/// event that quarantines its run (status `corrupt`), named here so it can be restored.
pub(crate) fn undecodable_run_event(event: &RecordedEvent) -> Option<String> {
    let run_id = event.stream.as_str().strip_prefix("run-")?;
    let error = RunEvent::decode(event.event_type, &event.data).err()?;
    let corruption = Corruption {
        seq: event.seq.0,
        reason: error.to_string(),
    };
    Some(format!(
        "run {run_id} is quarantined (corrupt): {corruption}"
    ))
}
