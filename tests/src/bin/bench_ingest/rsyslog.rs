//! The peer: rsyslog imfile → omfwd (TCP) → imtcp → omfile over the same
//! corpus, no index, tuned as rsyslog's high-performance example.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use logq_tests::wait_until;

use crate::{measure, Side};

pub struct Rsyslog {
    pub lines_per_s: f64,
    pub sender: Side,
    pub receiver: Side,
    pub out_bytes: u64,
}

/// rsyslog imfile → omfwd (TCP) → imtcp → omfile over the same corpus.
pub fn run(dir: &Path, corpus: &Path, n: u64) -> Option<Rsyslog> {
    let Ok(rsyslogd) = which("rsyslogd") else {
        println!("rsyslog: rsyslogd not installed (apt-get install rsyslog); comparison skipped");
        return None;
    };
    let run = || -> Result<Rsyslog> {
        fs::create_dir_all(dir.join("rx"))?;
        fs::create_dir_all(dir.join("tx"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let out = dir.join("out.log");
        fs::write(
            dir.join("rx.conf"),
            format!(
                "global(workDirectory=\"{rx}\")\nmodule(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
                 action(type=\"omfile\" file=\"{out}\" template=\"RSYSLOG_FileFormat\" asyncWriting=\"on\" ioBufferSize=\"1m\")\n",
                rx = dir.join("rx").display(),
                out = out.display()
            ),
        )?;
        fs::write(
            dir.join("tx.conf"),
            format!(
                "global(workDirectory=\"{tx}\")\nmodule(load=\"imfile\")\ninput(type=\"imfile\" file=\"{corpus}\" tag=\"bench\")\n\
                 action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{port}\" protocol=\"tcp\" queue.type=\"linkedList\" queue.size=\"100000\")\n",
                tx = dir.join("tx").display(),
                corpus = corpus.display()
            ),
        )?;
        let start = |name: &str| {
            Command::new(&rsyslogd)
                .args(["-n", "-f"])
                .arg(dir.join(format!("{name}.conf")))
                .arg("-i")
                .arg(dir.join(format!("{name}.pid")))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(dir.join(format!("{name}.log"))).expect("rsyslog log file"))
                .spawn()
        };
        let mut rx = start("rx")?;
        wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let t0 = Instant::now();
        let mut tx = start("tx")?;
        let mut seen = 0u64;
        let mut offset = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        let done = wait_until(Duration::from_secs(3600), || {
            if let Ok(mut f) = File::open(&out) {
                if f.seek(SeekFrom::Start(offset)).is_ok() {
                    while let Ok(k) = f.read(&mut buf) {
                        if k == 0 {
                            break;
                        }
                        seen += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
                        offset += k as u64;
                    }
                }
            }
            seen >= n
        });
        let elapsed = t0.elapsed().as_secs_f64();
        let (sender, receiver) = (measure(tx.id()), measure(rx.id()));
        let _ = tx.kill();
        let _ = rx.kill();
        let _ = tx.wait();
        let _ = rx.wait();
        if !done {
            bail!("rsyslog delivered {seen} of {n} lines");
        }
        Ok(Rsyslog {
            lines_per_s: n as f64 / elapsed,
            sender,
            receiver,
            out_bytes: fs::metadata(&out)?.len(),
        })
    };
    match run() {
        Ok(r) => Some(r),
        Err(e) => {
            println!("rsyslog: comparison failed: {e:#}");
            None
        }
    }
}

fn which(name: &str) -> Result<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{name} not found")
}
