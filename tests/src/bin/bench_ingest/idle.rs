//! Idle agents: what each connected agent that has said HELLO and sends
//! nothing more costs collectord in memory (a fleet keeps thousands of
//! agents connected between their batches).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use logcore::wire::{self, Frame, VERSION};
use logq_tests::{connect_from, rss_kib, Collector};

/// Connections from one source address: under collectord's default
/// `max-connections-per-source` (32), so that the run needs no change of it.
const PER_SOURCE: usize = 25;

pub struct Idle {
    pub agents: usize,
    /// collectord's resident memory before the agents came, KiB.
    pub before_kib: u64,
    /// And with all of them connected and welcomed.
    pub after_kib: u64,
}

/// Starts a collectord in `dir` whose `max-connections` admits `agents`
/// (the default is 1024), connects that many agents from 127.0.0.x
/// addresses, each saying HELLO and reading its WELCOME, and measures
/// collectord's resident memory before and after.
pub fn run(dir: &Path, agents: usize) -> Result<Idle> {
    let mut collector = Collector::start(
        dir,
        &format!(
            "max-connections = {}\nmax-pending-connections = 1024",
            agents + 64
        ),
    );
    let pid = collector.child.id();
    let before_kib = rss_kib(pid).context("collectord's memory")?.1;
    let mut held = Vec::with_capacity(agents);
    for i in 0..agents {
        let source = i / PER_SOURCE;
        let ip = Ipv4Addr::new(127, 1 + (source / 250) as u8, (source % 250) as u8, 1);
        let mut s = connect_from(ip, collector.addr)
            .with_context(|| format!("idle agent {i} cannot connect from {ip}"))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut hello = Vec::new();
        Frame::Hello {
            version: VERSION,
            agent_id: format!("idle-{i}"),
            host: format!("idlehost{i}"),
            utc_offset_secs: 0,
        }
        .encode(&mut hello)?;
        s.write_all(&hello)?;
        match read_frame(&mut s)? {
            Frame::Welcome { .. } => {}
            other => bail!("idle agent {i}: {other:?} instead of WELCOME"),
        }
        held.push(s);
    }
    let after_kib = rss_kib(pid).context("collectord's memory")?.1;
    drop(held);
    collector.terminate(Duration::from_secs(30));
    Ok(Idle {
        agents,
        before_kib,
        after_kib,
    })
}

fn read_frame(s: &mut TcpStream) -> Result<Frame> {
    let mut buf = Vec::new();
    loop {
        if let Some(n) = wire::check(&buf, wire::DEFAULT_MAX_FRAME)? {
            return Ok(Frame::decode(&buf[..n])?);
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk)?;
        if n == 0 {
            bail!("collectord closed the connection before WELCOME");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
