//! The daemon's logging: `tracing` to stderr, filtered by `PNFS_LOG` in the
//! `target=level,...` form (`PNFS_LOG=debug`, `PNFS_LOG=info,pnfs_controld::daemon=trace`);
//! `info` when unset. The twin's binary reads the same variable the same way
//! (`pnfs_twin::logging`): the daemon's library does not link the twin for it.
//!
//! The filter is `tracing_subscriber::filter::Targets`, not `EnvFilter`: the same syntax
//! for targets and levels without span/field matching, and without the regex engine
//! `EnvFilter` pulls into every build.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Installs the global subscriber. A `PNFS_LOG` that does not parse is reported on
/// stderr (with the reason) and `info` is used instead, so a typo never silences a daemon.
pub fn init(prog: &str) {
    let filter = match std::env::var("PNFS_LOG") {
        Ok(spec) => spec.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("{prog}: ignoring PNFS_LOG={spec:?} ({e}); logging at info");
            Targets::new().with_default(LevelFilter::INFO)
        }),
        Err(_) => Targets::new().with_default(LevelFilter::INFO),
    };
    // Colours only for a person at a terminal: not in journald or a log file, and never
    // with NO_COLOR set (no-color.org).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi),
        )
        .with(filter)
        .init();
}
