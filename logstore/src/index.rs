//! Opening `data-dir/index/`: creating it with the logq schema and settings,
//! checking an existing one was written with the same schema, and reading
//! the last commit payload.
//!
//! The schema version lives in every commit payload ([`Payload::schema`]);
//! an index of [`OLDEST_SCHEMA`] or later is written in its own version (its
//! tokenizer registered as that version made terms); one with another
//! version, or whose tantivy schema differs from [`LogSchema`], is refused
//! rather than written into.

use std::ops::Bound;
use std::path::Path;

use crate::schema::{index_settings, LogSchema, OLDEST_SCHEMA, SCHEMA_VERSION};
use anyhow::{bail, Context};
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy};
use tantivy::query::RangeQuery;
use tantivy::{Index, IndexWriter, Term};
use tracing::info;

use crate::dedup::{Payload, PAYLOAD_VERSION, PAYLOAD_VERSION_READ};
use crate::directory::IndexDirectory;

pub struct Opened {
    pub index: Index,
    pub writer: IndexWriter,
    /// The last commit's payload; `None` for an index never committed.
    pub payload: Option<Payload>,
    /// The schema of the index's documents, in the version they were
    /// written with ([`SCHEMA_VERSION`] for a new index).
    pub schema: LogSchema,
}

/// tantivy's readers take `.tantivy-meta.lock` (exclusively, for the moment
/// they open segments, so that a merge cannot delete them meanwhile), and
/// open it for writing to do so. logq runs as operators who may only read
/// the data directory (group `adm` under the Debian package), so the lock
/// file is made in advance and made writable by the group: the umask would
/// leave it 0640 and every logq would fail with "permission denied".
fn share_meta_lock(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(".tantivy-meta.lock");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)))
        .with_context(|| format!("cannot make {} writable by its group", path.display()))
}

/// Opens or creates the index in `dir` and its single writer.
pub fn open(dir: &Path, memory_mb: u32, threads: u32) -> anyhow::Result<Opened> {
    // The fields are the same in every version read (see `OLDEST_SCHEMA`).
    let current = LogSchema::new();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    share_meta_lock(dir)?;
    let directory = IndexDirectory::open(dir)
        .with_context(|| format!("cannot open the index in {}", dir.display()))?;
    let index = if Index::exists(&directory)? {
        let index = Index::open(directory)
            .with_context(|| format!("cannot open the index in {}", dir.display()))?;
        if index.schema() != current.schema {
            bail!(
                "the index in {} has another schema than this collectord writes; move it away to start a new one",
                dir.display()
            );
        }
        index
    } else {
        Index::builder()
            .schema(current.schema.clone())
            .settings(index_settings())
            .open_or_create(directory)
            .with_context(|| format!("cannot create the index in {}", dir.display()))?
    };

    let metas = index.load_metas()?;
    let payload = match metas.payload.as_deref() {
        None => None,
        Some(json) => {
            let payload: Payload = serde_json::from_str(json).with_context(|| {
                format!(
                    "the last commit of the index in {} has an unreadable payload",
                    dir.display()
                )
            })?;
            if !(OLDEST_SCHEMA..=SCHEMA_VERSION).contains(&payload.schema)
                || !(PAYLOAD_VERSION_READ..=PAYLOAD_VERSION).contains(&payload.version)
            {
                bail!(
                    "the index in {} has schema version {} and payload version {}; this collectord writes schema versions {} to {} and payload version {}",
                    dir.display(),
                    payload.schema,
                    payload.version,
                    OLDEST_SCHEMA,
                    SCHEMA_VERSION,
                    PAYLOAD_VERSION
                );
            }
            Some(payload)
        }
    };

    let schema = match &payload {
        Some(p) => LogSchema::of_version(p.schema),
        None => LogSchema::new(),
    };
    schema.register_tokenizers(&index);

    let options = IndexWriterOptions::builder()
        .memory_budget_per_thread((memory_mb / threads) as usize * 1024 * 1024)
        .num_worker_threads(threads as usize)
        .num_merge_threads(1)
        .build();
    let writer: IndexWriter = index.writer_with_options(options).with_context(|| {
        format!(
            "cannot open the index in {} for writing (is another collectord using it?)",
            dir.display()
        )
    })?;
    let mut policy = LogMergePolicy::default();
    // Segments emptied by retention deletes go soon, not at 100 %.
    policy.set_del_docs_ratio_before_merge(0.5);
    writer.set_merge_policy(Box::new(policy));
    // A stop cuts running merges short and leaves their files (up to a few
    // bytes per line stored); remove them now rather than at the first commit.
    let gc = writer
        .garbage_collect_files()
        .wait()
        .with_context(|| format!("cannot clean up the index in {}", dir.display()))?;
    if !gc.deleted_files.is_empty() {
        info!(
            files = gc.deleted_files.len(),
            "Removed index files no commit uses (merges cut short by the last stop)."
        );
    }
    Ok(Opened {
        index,
        writer,
        payload,
        schema,
    })
}

/// Queues the deletion of every document received before `before_ms`
/// (effective at the next commit).
pub fn delete_received_before(
    writer: &IndexWriter,
    schema: &LogSchema,
    before_ms: i64,
) -> anyhow::Result<()> {
    let query = RangeQuery::new(
        Bound::Unbounded,
        Bound::Excluded(Term::from_field_i64(schema.receive_time, before_ms)),
    );
    writer.delete_query(Box::new(query))?;
    Ok(())
}

/// Bytes of the files in `dir` (not recursive: tantivy keeps one level).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}
