//! Reading a segment's documents back as records: the fast columns, and
//! the line from the archive.

use std::cell::OnceCell;

use tantivy::columnar::{Column, DynamicColumn, HasAssociatedColumnType, StrColumn};
use tantivy::fastfield::FastFieldReaders;
use tantivy::DocId;

use super::{line_text, names, parse_stream_key, Want};
use crate::archive::{day_of, ArchiveReader, Day, Location};
use logcore::parse;
use logcore::record::{self, Record};

/// Reads records back from one segment (see [`LogSchema::record_reader`]).
///
/// Columns are opened when first read: opening one reads its whole block
/// index (about 20,000 entries for 10 million documents), which costs more
/// than a query with a few hits spends on everything else.
pub struct RecordReader {
    pub(super) ff: FastFieldReaders,
    pub(super) event_time: Lazy<i64>,
    pub(super) receive_time: Lazy<i64>,
    pub(super) host: LazyStr,
    pub(super) agent: LazyStr,
    pub(super) path: LazyStr,
    pub(super) severity: Lazy<u64>,
    pub(super) facility: Lazy<u64>,
    pub(super) stream: LazyStr,
    pub(super) offset: Lazy<u64>,
    pub(super) flags: Lazy<u64>,
    pub(super) anomaly: LazyStr,
    pub(super) archive_line: Lazy<u64>,
    pub(super) archive_breaks: Lazy<u64>,
    /// Host names and stream ids by term ordinal: looking one up in the
    /// column's dictionary costs more than the rest of a record.
    pub(super) hosts: Names<String>,
    pub(super) streams: Names<u64>,
}

/// Lookups of single ordinals a [`Names`] makes before it reads the whole
/// dictionary: a few hits should not read a thousand host names, many hits
/// should not look each up (measured: host names were 18 % of printing
/// 30,000 lines spread over 1,000 hosts and 50 segments).
const SINGLE_LOOKUPS: u32 = 32;

/// A string column's values by term ordinal, looked up one at a time at
/// first, then all read at once (see [`SINGLE_LOOKUPS`]).
#[derive(Default)]
pub struct Names<T> {
    some: std::cell::RefCell<std::collections::HashMap<u64, T>>,
    all: OnceCell<Vec<T>>,
}

impl<T: Clone> Names<T> {
    /// The value of term `ord` of `column`, as `convert` makes it.
    fn get(&self, column: &StrColumn, ord: u64, convert: impl Fn(&str) -> T) -> tantivy::Result<T> {
        if let Some(all) = self.all.get() {
            if let Some(v) = all.get(ord as usize) {
                return Ok(v.clone());
            }
        }
        let mut some = self.some.borrow_mut();
        if let Some(v) = some.get(&ord) {
            return Ok(v.clone());
        }
        if some.len() as u32 >= SINGLE_LOOKUPS && self.all.get().is_none() {
            let mut all = Vec::with_capacity(column.num_terms());
            let mut terms = column.dictionary().stream()?;
            while terms.advance() {
                all.push(convert(&String::from_utf8_lossy(terms.key())));
            }
            let _ = self.all.set(all);
            some.clear();
            if let Some(v) = self.all.get().and_then(|a| a.get(ord as usize)) {
                return Ok(v.clone());
            }
        }
        let mut text = String::new();
        column.ord_to_str(ord, &mut text)?;
        let v = convert(&text);
        some.insert(ord, v.clone());
        Ok(v)
    }
}

pub(super) type Lazy<T> = OnceCell<Option<Column<T>>>;
pub(super) type LazyStr = OnceCell<Option<StrColumn>>;

/// The column `name` of `ff`, opened into `cell` on first use.
fn column<'a, T>(
    ff: &FastFieldReaders,
    cell: &'a Lazy<T>,
    name: &str,
) -> tantivy::Result<Option<&'a Column<T>>>
where
    T: HasAssociatedColumnType,
    DynamicColumn: Into<Option<Column<T>>>,
{
    if cell.get().is_none() {
        let _ = cell.set(ff.column_opt(name)?);
    }
    Ok(cell.get().and_then(Option::as_ref))
}

fn str_column<'a>(
    ff: &FastFieldReaders,
    cell: &'a LazyStr,
    name: &str,
) -> tantivy::Result<Option<&'a StrColumn>> {
    if cell.get().is_none() {
        let _ = cell.set(ff.str(name)?);
    }
    Ok(cell.get().and_then(Option::as_ref))
}

fn string(column: Option<&StrColumn>, doc: DocId) -> tantivy::Result<Option<String>> {
    let Some(column) = column else {
        return Ok(None);
    };
    let Some(ord) = column.term_ords(doc).next() else {
        return Ok(None);
    };
    let mut out = String::new();
    column.ord_to_str(ord, &mut out)?;
    Ok(Some(out))
}

impl RecordReader {
    /// The archive day and place of document `doc`'s line.
    pub fn location(&self, doc: DocId) -> tantivy::Result<(Day, Location)> {
        let (receive_time_ms, at) = self.placed(doc)?;
        Ok((day_of(receive_time_ms), at))
    }

    /// Document `doc`'s receive time (which names its archive day) and
    /// place in that day's archive.
    fn placed(&self, doc: DocId) -> tantivy::Result<(i64, Location)> {
        let ff = &self.ff;
        let num = |cell: &Lazy<u64>, name: &str| -> tantivy::Result<Option<u64>> {
            Ok(column(ff, cell, name)?.and_then(|c| c.first(doc)))
        };
        let receive_time_ms = column(ff, &self.receive_time, names::RECEIVE_TIME)?
            .and_then(|c| c.first(doc))
            .unwrap_or_default();
        let at = Location {
            line: num(&self.archive_line, names::ARCHIVE_LINE)?.unwrap_or_default(),
            breaks: num(&self.archive_breaks, names::ARCHIVE_BREAKS)?.unwrap_or_default(),
        };
        Ok((receive_time_ms, at))
    }

    /// The record of document `doc` of this segment, its line read with
    /// `archive`. Fails when its archive file cannot be read (for one, when
    /// retention deleted the day after this reader's searcher was opened).
    pub fn record(&self, doc: DocId, archive: &mut ArchiveReader) -> tantivy::Result<Record> {
        self.record_with(doc, archive, Want::All)
    }

    /// The record of document `doc`, with only what `want` says filled in
    /// (the rest empty or `None`): printing raw lines needs neither the
    /// strings of the fast columns nor a parse of the line.
    pub fn record_with(
        &self,
        doc: DocId,
        archive: &mut ArchiveReader,
        want: Want,
    ) -> tantivy::Result<Record> {
        let ff = &self.ff;
        let num = |cell: &Lazy<u64>, name: &str| -> tantivy::Result<Option<u64>> {
            Ok(column(ff, cell, name)?.and_then(|c| c.first(doc)))
        };
        let (receive_time_ms, at) = self.placed(doc)?;
        let raw = archive.line(day_of(receive_time_ms), at)?;
        let (program, pid, message, unit) = if want == Want::Line {
            (None, None, String::new(), None)
        } else {
            let text = line_text(&raw);
            // The zone only moves timestamps, never the program, pid or
            // message.
            let parsed = parse::parse_line(&text, receive_time_ms, 0);
            (
                parsed.program.map(str::to_owned),
                parsed.pid,
                parsed.message.to_owned(),
                parsed.unit,
            )
        };
        let origin = want == Want::All;
        let text_of = |cell: &LazyStr, name: &str, wanted: bool| -> tantivy::Result<String> {
            Ok(if wanted {
                string(str_column(ff, cell, name)?, doc)?.unwrap_or_default()
            } else {
                String::new()
            })
        };
        let flags = num(&self.flags, names::FLAGS)?
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or_default();
        // Only anomalies have the column's value: others need not open it.
        let anomaly = if want != Want::Line && flags & record::flags::ANOMALY != 0 {
            string(str_column(ff, &self.anomaly, names::ANOMALY)?, doc)?
                .filter(|reason| !reason.is_empty())
        } else {
            None
        };
        Ok(Record {
            receive_time_ms,
            event_time_ms: column(ff, &self.event_time, names::EVENT_TIME)?
                .and_then(|c| c.first(doc))
                .unwrap_or(receive_time_ms),
            host: if want == Want::Line {
                String::new()
            } else {
                self.host(doc)?
            },
            program,
            pid,
            facility: num(&self.facility, names::FACILITY)?.and_then(|v| u8::try_from(v).ok()),
            severity: num(&self.severity, names::SEVERITY)?.and_then(|v| u8::try_from(v).ok()),
            message,
            unit,
            raw,
            agent: text_of(&self.agent, names::AGENT, origin)?,
            path: text_of(&self.path, names::PATH, origin)?,
            stream: self.stream(doc)?,
            offset: num(&self.offset, names::OFFSET)?.unwrap_or_default(),
            flags,
            anomaly,
        })
    }
}

impl RecordReader {
    fn host(&self, doc: DocId) -> tantivy::Result<String> {
        let Some(column) = str_column(&self.ff, &self.host, names::HOST)? else {
            return Ok(String::new());
        };
        let Some(ord) = column.term_ords(doc).next() else {
            return Ok(String::new());
        };
        self.hosts.get(column, ord, str::to_owned)
    }

    fn stream(&self, doc: DocId) -> tantivy::Result<u64> {
        let Some(column) = str_column(&self.ff, &self.stream, names::STREAM)? else {
            return Ok(0);
        };
        let Some(ord) = column.term_ords(doc).next() else {
            return Ok(0);
        };
        self.streams
            .get(column, ord, |key| parse_stream_key(key).unwrap_or_default())
    }
}
