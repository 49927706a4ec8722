//! Encoding and decoding of [`Frame`]s, and the memory a decoded frame takes.

use super::{check_name, check_record, kind, Frame, WireError, WireRecord, WireStream, MAGIC};

impl Frame {
    /// Appends the encoded frame, header included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Frame::Hello {
                version,
                agent_id,
                host,
                utc_offset_secs,
            } => {
                out.push(kind::HELLO);
                out.extend_from_slice(&MAGIC);
                out.extend_from_slice(&version.to_be_bytes());
                put_str(out, agent_id, "agent_id")?;
                put_str(out, host, "host")?;
                out.extend_from_slice(&utc_offset_secs.to_be_bytes());
            }
            Frame::Welcome {
                version,
                max_frame,
                window,
            } => {
                out.push(kind::WELCOME);
                out.extend_from_slice(&version.to_be_bytes());
                out.extend_from_slice(&max_frame.to_be_bytes());
                out.extend_from_slice(&window.to_be_bytes());
            }
            Frame::Batch {
                batch_seq,
                read_time_ms,
                streams,
            } => {
                out.push(kind::BATCH);
                out.extend_from_slice(&batch_seq.to_be_bytes());
                out.extend_from_slice(&read_time_ms.to_be_bytes());
                out.extend_from_slice(&(streams.len() as u32).to_be_bytes());
                for s in streams {
                    out.extend_from_slice(&s.stream_id.to_be_bytes());
                    put_str(out, &s.path, "path")?;
                    out.extend_from_slice(&(s.records.len() as u32).to_be_bytes());
                    for r in &s.records {
                        out.extend_from_slice(&r.offset.to_be_bytes());
                        out.extend_from_slice(&(r.end.saturating_sub(r.offset)).to_be_bytes());
                        out.push(r.flags);
                        out.extend_from_slice(&(r.line.len() as u32).to_be_bytes());
                        out.extend_from_slice(&r.line);
                    }
                }
            }
            Frame::Ack { batch_seq } => {
                out.push(kind::ACK);
                out.extend_from_slice(&batch_seq.to_be_bytes());
            }
            Frame::Error { code, message } => {
                out.push(kind::ERROR);
                out.extend_from_slice(&code.to_be_bytes());
                let mut message = message.as_str();
                while message.len() > usize::from(u16::MAX) {
                    message = &message[..message.floor_char_boundary_compat(usize::from(u16::MAX))];
                }
                put_str(out, message, "message")?;
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// Decodes one whole frame, header included, as delimited by [`check`](super::check).
    pub fn decode(frame: &[u8]) -> Result<Frame, WireError> {
        let mut r = Reader {
            buf: frame.get(4..).ok_or(WireError::Short("header"))?,
        };
        let t = r.u8("type")?;
        let frame = match t {
            kind::HELLO => {
                if r.take(4, "magic")? != MAGIC {
                    return Err(WireError::BadMagic);
                }
                let version = r.u16("version")?;
                let agent_id = r.string("agent_id")?;
                check_name(&agent_id).map_err(|why| WireError::BadName {
                    field: "agent_id",
                    why,
                })?;
                let host = r.string("host")?;
                check_name(&host).map_err(|why| WireError::BadName { field: "host", why })?;
                Frame::Hello {
                    version,
                    agent_id,
                    host,
                    utc_offset_secs: r.u32("utc_offset_secs")? as i32,
                }
            }
            kind::WELCOME => Frame::Welcome {
                version: r.u16("version")?,
                max_frame: r.u32("max_frame")?,
                window: r.u16("window")?,
            },
            kind::BATCH => {
                let batch_seq = r.u64("batch_seq")?;
                let read_time_ms = r.u64("read_time_ms")? as i64;
                let n_streams = r.u32("stream count")?;
                // Each stream takes at least 14 bytes: no allocation beyond what
                // the frame can hold, whatever the count claims.
                let mut streams = Vec::with_capacity((n_streams as usize).min(r.buf.len() / 14));
                for _ in 0..n_streams {
                    let stream_id = r.u64("stream_id")?;
                    let path = r.string("path")?;
                    let n = r.u32("record count")?;
                    let mut records = Vec::with_capacity((n as usize).min(r.buf.len() / 21));
                    for _ in 0..n {
                        let offset = r.u64("offset")?;
                        let span = r.u64("span")?;
                        let flags = r.u8("flags")?;
                        let len = r.u32("line length")? as usize;
                        check_record(&path, offset, span, flags, len).map_err(|why| {
                            WireError::BadRecord {
                                stream_id,
                                offset,
                                why,
                            }
                        })?;
                        let end = offset + span;
                        let line = r.take(len, "line")?.to_vec();
                        records.push(WireRecord {
                            offset,
                            end,
                            flags,
                            line,
                        });
                    }
                    streams.push(WireStream {
                        stream_id,
                        path,
                        records,
                    });
                }
                Frame::Batch {
                    batch_seq,
                    read_time_ms,
                    streams,
                }
            }
            kind::ACK => Frame::Ack {
                batch_seq: r.u64("batch_seq")?,
            },
            kind::ERROR => Frame::Error {
                code: r.u16("code")?,
                message: r.string("message")?,
            },
            other => return Err(WireError::UnknownType(other)),
        };
        if !r.buf.is_empty() {
            return Err(WireError::Trailing(r.buf.len()));
        }
        Ok(frame)
    }
}

/// About how many bytes of memory `Frame::decode` takes for `frame` (a
/// whole frame as [`check`](super::check) delimits it): the frame's own length for
/// anything but a BATCH; for a BATCH, each stream and record's struct, its
/// bytes and an allocation's bookkeeping. A receiver budgets this before it
/// decodes: a BATCH of empty lines decodes to about three times its size,
/// one of empty streams to less than seven times.
/// Walks the lengths only (no allocation); a malformed frame gives what
/// was walked before the fault, and `decode` then says what is wrong.
pub fn decoded_size(frame: &[u8]) -> usize {
    /// What an allocator keeps beside each allocation, about.
    const ALLOC: usize = 16;
    let mut r = Reader {
        buf: frame.get(4..).unwrap_or_default(),
    };
    if r.u8("type") != Ok(kind::BATCH) || r.take(16, "").is_err() {
        return frame.len();
    }
    let Ok(n_streams) = r.u32("") else {
        return frame.len();
    };
    let mut size = 0;
    for _ in 0..n_streams {
        let Ok(path) = r.take(8, "").and_then(|_| r.u16("")) else {
            break;
        };
        let Ok(n) = r.take(usize::from(path), "").and_then(|_| r.u32("")) else {
            break;
        };
        size += std::mem::size_of::<WireStream>() + usize::from(path) + 2 * ALLOC;
        for _ in 0..n {
            let Ok(len) = r.take(17, "").and_then(|_| r.u32("")) else {
                return size;
            };
            if r.take(len as usize, "").is_err() {
                return size;
            }
            size += std::mem::size_of::<WireRecord>() + len as usize + ALLOC;
        }
    }
    size
}

/// `str::floor_char_boundary` is not stable on our MSRV.
trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut index: usize) -> usize {
        if index >= self.len() {
            return self.len();
        }
        while !self.is_char_boundary(index) {
            index -= 1;
        }
        index
    }
}

fn put_str(out: &mut Vec<u8>, s: &str, what: &'static str) -> Result<(), WireError> {
    let len = u16::try_from(s.len()).map_err(|_| WireError::StringTooLong(what))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Short(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(
            self.take(2, what)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self, what: &'static str) -> Result<String, WireError> {
        let len = usize::from(self.u16(what)?);
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| WireError::BadUtf8(what))
    }
}
