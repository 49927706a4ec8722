//! The simulated agents: each sends its pre-encoded batches over a real
//! connection with the collector's window and times the ACKs; and the CPU
//! clocks the benchmark reads from /proc.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use logcore::wire::{self, Frame, VERSION};

fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// CPU seconds of this process's live threads, summed by thread name
/// (tantivy names its indexing and merging threads, the writer is
/// `writer`): the split of the collector's work that the process total
/// hides, and steadier than it, as merges run late or early from one
/// run to the next.
pub(crate) fn cpu_by_thread() -> std::collections::BTreeMap<String, f64> {
    let mut by = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        // Numbered threads of one kind are one group.
        let name = comm.trim().trim_end_matches(|c: char| c.is_ascii_digit());
        let stat = path.join("stat");
        if std::fs::metadata(&stat).is_ok() {
            *by.entry(name.to_owned()).or_insert(0.0) += cpu_seconds(stat.to_str().unwrap());
        }
    }
    by
}

pub(crate) fn cpu_seconds_self() -> f64 {
    cpu_seconds("/proc/self/stat")
}

fn thread_cpu_seconds() -> f64 {
    cpu_seconds("/proc/thread-self/stat")
}

pub(crate) fn frame_bytes(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(&mut out).unwrap();
    out
}

fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> Frame {
    loop {
        if let Some(n) = wire::check(buf, u32::MAX).unwrap() {
            let f = Frame::decode(&buf[..n]).unwrap();
            buf.drain(..n);
            return f;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "collector closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One simulated agent: sends its pre-encoded batches with the collector's
/// window, returns (its CPU seconds, ACK latencies).
pub(crate) fn agent(addr: SocketAddr, id: u64, batches: Vec<Vec<u8>>) -> (f64, Vec<Duration>) {
    let cpu0 = thread_cpu_seconds();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(&frame_bytes(&Frame::Hello {
        version: VERSION,
        agent_id: format!("agent-{id}"),
        host: format!("agenthost{id}"),
        utc_offset_secs: 0,
    }))
    .unwrap();
    let mut buf = Vec::new();
    let Frame::Welcome { window, .. } = read_frame(&mut s, &mut buf) else {
        panic!("no WELCOME")
    };
    let window = usize::from(window);
    let mut sent_at = std::collections::VecDeque::new();
    let mut latencies = Vec::with_capacity(batches.len());
    let total = batches.len() as u64;
    let mut acked = 0u64;
    let mut next = batches.into_iter().enumerate();
    while acked < total {
        while sent_at.len() < window {
            let Some((i, b)) = next.next() else { break };
            s.write_all(&b).unwrap();
            sent_at.push_back((i as u64 + 1, Instant::now()));
        }
        let Frame::Ack { batch_seq } = read_frame(&mut s, &mut buf) else {
            panic!("expected ACK")
        };
        while let Some(&(seq, at)) = sent_at.front() {
            if seq > batch_seq {
                break;
            }
            latencies.push(at.elapsed());
            sent_at.pop_front();
        }
        acked = batch_seq;
    }
    (thread_cpu_seconds() - cpu0, latencies)
}
