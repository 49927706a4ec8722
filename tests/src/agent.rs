//! A real agentd started for a test, with its own state directory.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::notify::Notifications;
use crate::{bin, Daemon};

/// A running agentd with its own state directory.
pub struct Agent {
    pub daemon: Daemon,
    pub dir: PathBuf,
    pub config: PathBuf,
    /// The agentd binary it runs.
    program: PathBuf,
}

impl Agent {
    /// Writes an agentd config shipping `inputs` to `collector`, plus `extra`
    /// lines, and starts agentd.
    pub fn start(dir: &Path, collector: SocketAddr, inputs: &[&Path], extra: &str) -> Agent {
        Self::start_with(dir, collector, inputs, extra, None)
    }

    /// Starts agentd as another user, for tests of permissions (root reads
    /// everything).
    pub fn start_as(dir: &Path, collector: SocketAddr, inputs: &[&Path], uid: u32) -> Agent {
        Self::start_with(dir, collector, inputs, "", Some(uid))
    }

    /// Like [`Agent::start`] with another agentd binary (a benchmark
    /// measuring an older build, say).
    pub fn start_program(
        program: &Path,
        dir: &Path,
        collector: SocketAddr,
        inputs: &[&Path],
        extra: &str,
    ) -> Agent {
        fs::create_dir_all(dir).expect("create agent dir");
        let config = dir.join("agentd.toml");
        write_agent_config(&config, dir, collector, inputs, extra);
        Self::spawn(program.to_owned(), dir, config, None)
    }

    fn start_with(
        dir: &Path,
        collector: SocketAddr,
        inputs: &[&Path],
        extra: &str,
        uid: Option<u32>,
    ) -> Agent {
        fs::create_dir_all(dir).expect("create agent dir");
        let config = dir.join("agentd.toml");
        write_agent_config(&config, dir, collector, inputs, extra);
        Self::spawn(bin("agentd"), dir, config, uid)
    }

    /// Rewrites the config file as [`Agent::start`] would have written it
    /// with these arguments (for a reload).
    pub fn write_config(&self, collector: SocketAddr, inputs: &[&Path], extra: &str) {
        write_agent_config(&self.config, &self.dir, collector, inputs, extra);
    }

    fn spawn(program: PathBuf, dir: &Path, config: PathBuf, uid: Option<u32>) -> Agent {
        use std::os::unix::process::CommandExt;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("agentd.log"))
            .expect("open agentd.log");
        let notes = Notifications::bind(&dir.join("notify.sock"));
        let mut cmd = Command::new(&program);
        cmd.arg("--config")
            .arg(&config)
            .env("AGENTD_LOG", "info")
            .env("NOTIFY_SOCKET", notes.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(uid) = uid {
            cmd.uid(uid).gid(uid);
        }
        let child = cmd.spawn().expect("spawn agentd");
        Agent {
            daemon: Daemon {
                child,
                log: dir.join("agentd.log"),
                notes,
            },
            dir: dir.to_owned(),
            config,
            program,
        }
    }

    /// Waits for agentd to tell systemd `READY=1`: its first scan is done.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.notes.wait_for(0, "READY=1", timeout).is_some()
    }

    pub fn restart(self) -> Agent {
        let (dir, config, program) = (self.dir.clone(), self.config.clone(), self.program.clone());
        drop(self);
        Self::spawn(program, &dir, config, None)
    }
}

fn write_agent_config(
    path: &Path,
    dir: &Path,
    collector: SocketAddr,
    inputs: &[&Path],
    extra: &str,
) {
    let inputs: Vec<String> = inputs
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    // The machine's own journal stays out of the tests unless a test asks.
    let journal = if extra.contains("journal") {
        ""
    } else {
        "journal = false\n"
    };
    fs::write(
        path,
        format!(
            "collector = \"{collector}\"\ninputs = [{}]\nstate-dir = \"{}\"\nhost = \"testhost\"\nagent-id = \"agent-{}\"\n{journal}{extra}\n",
            inputs.join(", "),
            dir.join("state").display(),
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
        ),
    )
    .expect("write agentd.toml");
}

impl std::ops::Deref for Agent {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.daemon
    }
}

impl std::ops::DerefMut for Agent {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.daemon
    }
}
