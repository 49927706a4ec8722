//! The running daemon: opens the store, starts the writer thread, then
//! the tokio runtime with the server, signals and systemd notifications.
//!
//! SIGHUP reloads the config file (see [`crate::reload`]).
//!
//! Shutdown (SIGTERM, SIGINT, or the writer failing): STOPPING=1, stop
//! accepting, connections ACK what commits within a few seconds and close,
//! the writer sees its queue close, commits a last time and returns.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info};

use crate::config::{Config, Source};
use crate::net::connection::{Limits, Shared};
use crate::net::tls::ServerTls;
use crate::net::{listen, server, syslog};
use crate::notify::{self, Stats};
use crate::reload::Reloader;
use crate::writer::{self, now_ms, WriterOptions};
use logstore::retention::Policy;
use logstore::StoreOptions;

/// How often STATUS= is updated.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Runs until a signal or a fatal writer error. `config` is what `source`
/// gave at start; SIGHUP reads `source` again.
pub fn run(
    config: Config,
    source: Source,
    tls: Option<Arc<ServerTls>>,
    listeners: listen::Listeners,
) -> anyhow::Result<()> {
    let (listener, origin) = listeners.agents;
    let local_addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let store_options = StoreOptions {
        data_dir: config.data_dir.clone(),
        writer_memory_mb: config.writer_memory_mb,
        writer_threads: config.writer_threads,
        retention: Policy {
            days: config.retention_days,
            bytes: config.retention_bytes,
        },
        mark_limits: WriterOptions::from_config(&config).mark_limits,
    };
    // A full disk is no reason to exit (a restart loop would follow): the
    // writer waits for space and opens the store then. Any other failure
    // to open it is.
    let store = match writer::open_store(&store_options, &WriterOptions::from_config(&config)) {
        Ok(store) => Ok(store),
        Err(e) if crate::space::out_of_space(&e) => Err(e),
        Err(e) => return Err(e),
    };

    let stats = Arc::new(Stats::default());
    let (queue_tx, queue_rx) = mpsc::channel(writer::QUEUE);
    let (writer_stopped_tx, writer_stopped_rx) = oneshot::channel::<()>();
    let (writer_options, writer_options_rx) = watch::channel(WriterOptions::from_config(&config));
    let writer_stats = stats.clone();
    let writer = std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let result = writer::run(
                store,
                store_options,
                queue_rx,
                writer_options_rx,
                writer_stats,
            );
            if let Err(e) = &result {
                error!(error = %format!("{e:#}"), "The writer failed; shutting down.");
            }
            let _ = writer_stopped_tx.send(());
            result
        })
        .context("cannot start the writer thread")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("collectord-net")
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let (limits, limits_rx) = watch::channel(Limits::from_config(&config));
    let budget = crate::net::budget::Budget::new(config.buffer_bytes());
    server::raise_fd_limit(fd_needed(&config));
    let (syslog_limits, syslog_limits_rx) = watch::channel(syslog::Limits::from_config(&config));
    let tls_on = tls.is_some();
    let (tls, tls_rx) = watch::channel(tls);
    let mut reloader = Reloader::new(source, config, limits, writer_options, syslog_limits, tls);
    let (stop_syslog, stop_syslog_rx) = watch::channel(false);
    let served = runtime.block_on(async {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sighup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while sighup.recv().await.is_some() {
                reloader.reload();
            }
        });
        tokio::spawn(status_loop(stats.clone()));

        info!(addr = %local_addr, from = ?origin, tls = tls_on, "Listening.");
        announce(local_addr);
        let syslog_shared = Arc::new(syslog::Shared::new(queue_tx.clone(), syslog_limits_rx, stats.clone(), budget.clone()));
        let mut syslog_tasks = tokio::task::JoinSet::new();
        if let Some((socket, origin)) = listeners.syslog_udp {
            let buffer = syslog::udp::raise_receive_buffer(&socket);
            socket.set_nonblocking(true)?;
            let socket = tokio::net::UdpSocket::from_std(socket)?;
            let addr = socket.local_addr()?;
            info!(addr = %addr, from = ?origin, receive_buffer = ?buffer, "Receiving syslog over UDP (the receive buffer is what the kernel granted: it caps the request at net.core.rmem_max).");
            announce_syslog(listen::Kind::SyslogUdp, addr);
            syslog_tasks.spawn(syslog::udp::run(socket, syslog_shared.clone(), stop_syslog_rx.clone()));
        }
        if let Some((listener, origin)) = listeners.syslog_tcp {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let addr = listener.local_addr()?;
            info!(addr = %addr, from = ?origin, "Receiving syslog over TCP.");
            announce_syslog(listen::Kind::SyslogTcp, addr);
            syslog_tasks.spawn(syslog::tcp::run(listener, listen::Kind::SyslogTcp, syslog_shared.clone(), stop_syslog_rx.clone(), None));
        }
        if let Some((listener, origin)) = listeners.syslog_tls {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let addr = listener.local_addr()?;
            info!(addr = %addr, from = ?origin, "Receiving syslog over TLS (RFC 5425).");
            announce_syslog(listen::Kind::SyslogTls, addr);
            syslog_tasks.spawn(syslog::tcp::run(listener, listen::Kind::SyslogTls, syslog_shared.clone(), stop_syslog_rx.clone(), Some(tls_rx.clone())));
        }
        drop(syslog_shared);
        notify::ready();

        let shutdown = async {
            tokio::select! {
                _ = sigterm.recv() => info!("Received SIGTERM; shutting down."),
                _ = sigint.recv() => info!("Received SIGINT; shutting down."),
                _ = writer_stopped_rx => {}
            }
            notify::stopping();
            let _ = stop_syslog.send(true);
        };
        let shared = Shared::new(limits_rx, queue_tx, stats, tls_rx, budget);
        server::run(listener, shared, shutdown).await;
        // The syslog listeners send what they gathered and wait for its
        // commit; they hold the last writer queue senders.
        while syslog_tasks.join_next().await.is_some() {}
        Ok::<(), std::io::Error>(())
    });
    // Tasks still running (a peer that does not read) are dropped here,
    // and with them the last writer queue senders.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served.context("cannot serve")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
}

/// Open files the connection limits may need: every pool full on every
/// port, plus room for the index, the archive and the listeners.
fn fd_needed(config: &Config) -> u64 {
    u64::from(config.max_connections)
        + u64::from(config.max_pending_connections)
        + 2 * u64::from(config.syslog_max_connections)
        + 1024
}

/// For tests and humans binding port 0: the one line collectord writes to
/// stdout.
fn announce(addr: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

/// For tests binding port 0: where a syslog listener is, on stdout after
/// the agents' line.
fn announce_syslog(kind: listen::Kind, addr: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{} on {addr}", kind.name());
    let _ = out.flush();
}

async fn status_loop(stats: Arc<Stats>) {
    let mut tick = tokio::time::interval(STATUS_EVERY);
    let mut last_lines = 0;
    let mut last_at = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let lines = stats.lines.load(Ordering::Relaxed);
        let secs = last_at.elapsed().as_secs_f64().max(0.001);
        let rate = ((lines - last_lines) as f64 / secs) as u64;
        (last_lines, last_at) = (lines, tokio::time::Instant::now());
        notify::status(&notify::status_text(&stats, rate, now_ms()));
    }
}
