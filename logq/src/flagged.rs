//! The side table of lines flagged after they were stored
//! (`DATA_DIR/flagged.log`, see `logcore::detect::flagged`): read once per
//! search, the episodes that overlap the search's times.

use std::path::Path;
use std::sync::Arc;

use logcore::detect::flagged::{Flagged, FILE};

/// The episodes of `data_dir`'s side table within `[since_ms, until_ms)`.
/// A missing table is none (a collector without detectors, or one older
/// than the table); one that cannot be read, or damaged lines in it, are a
/// warning: the lines flagged at ingest are still found.
pub fn load(data_dir: &Path, since_ms: Option<i64>, until_ms: Option<i64>) -> Arc<Flagged> {
    let path = data_dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Arc::default(),
        Err(e) => {
            eprintln!(
                "logq: warning: cannot read {}: {e}; the first lines of some anomalies \
                 are not marked",
                path.display()
            );
            return Arc::default();
        }
    };
    let (flagged, skipped) = Flagged::parse(&text, since_ms, until_ms);
    if skipped.unreadable > 0 {
        eprintln!(
            "logq: warning: {}: {} line{} could not be read; the first lines of \
             those anomalies are not marked",
            path.display(),
            skipped.unreadable,
            if skipped.unreadable == 1 { "" } else { "s" }
        );
    }
    Arc::new(flagged)
}
