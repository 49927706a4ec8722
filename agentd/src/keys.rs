//! Every key of `/etc/agentd/agentd.toml`, documented once. `cargo xtask
//! man` writes agentd.toml(5) and the shipped, commented-out
//! `packaging/agentd/agentd.toml` from this table; the tests in `config.rs`
//! fail when a key of [`Config`](crate::config) is missing here, or a
//! default here differs from `Config::default()`.
//!
//! agentd applies every key on reload (SIGHUP): it restarts its pipeline in
//! the process and loses nothing, so every key is [`Reload::Live`].

use logcore::docs::{Default, Key, Reload, Type};

/// The keys, in the order the man page and the shipped file list them.
pub const KEYS: &[Key] = &[
    Key {
        name: "collector",
        ty: Type::String,
        default: Default::Toml(r#""127.0.0.1:5170""#),
        doc: "Where collectord listens, as host:port. The host is a name or an \
              address; an IPv6 address goes in brackets ([2001:db8::1]:5170). A \
              name is resolved at each connection. While the collector cannot be \
              reached, agentd retries with exponential backoff and keeps reading \
              into its spool (see spool-max-bytes).",
        reload: Reload::Live,
    },
    Key {
        name: "inputs",
        ty: Type::StringArray,
        default: Default::Toml(r#"["/var/log/syslog", "/var/log/auth.log"]"#),
        doc: "The files to tail: absolute paths, or glob patterns (*, ?, [abc]) \
              such as /var/log/nginx/*.log. At least one. A path that does not \
              exist yet is watched and read from its beginning when it appears; \
              rotated files (renamed, or truncated in place by copytruncate) are \
              followed to their end. agentd must be able to read them: the \
              packaged service runs with the groups adm and systemd-journal.",
        reload: Reload::Live,
    },
    Key {
        name: "state-dir",
        ty: Type::String,
        default: Default::Toml(r#""/var/lib/agentd""#),
        doc: "Where agentd keeps checkpoints.json, its place in every file, \
              and spool/, the lines read and not yet acknowledged by the \
              collector. The place moves only when the collector has \
              acknowledged the lines; after a restart agentd sends what the \
              spool holds, then reads on from where the spool ends.",
        reload: Reload::Live,
    },
    Key {
        name: "spool-max-bytes",
        ty: Type::Integer,
        default: Default::Toml("1073741824"),
        doc: "The most bytes of read, unacknowledged lines kept on disk in \
              state-dir/spool. agentd reads files as they are written, \
              whatever the network does: lines wait in the spool until the \
              collector acknowledges them, so a file that logrotate \
              truncates (copytruncate) or removes meanwhile loses nothing. \
              When the spool is full, agentd warns, says so in its status, \
              and stops reading until acknowledgements make room; the files \
              are the buffer meanwhile. At least 1048576.",
        reload: Reload::Live,
    },
    Key {
        name: "host",
        ty: Type::String,
        default: Default::Computed {
            what: "this machine's host name",
            example: r#""web1""#,
        },
        doc: "The host name sent to the collector, used for lines that name \
              no host of their own (a syslog header's host wins). 1 to 255 \
              bytes of printable ASCII without spaces.",
        reload: Reload::Live,
    },
    Key {
        name: "agent-id",
        ty: Type::String,
        default: Default::Computed {
            what: "the value of host",
            example: r#""web1""#,
        },
        doc: "The identity the collector deduplicates resent lines on. Keep it \
              stable and unique per machine: two agents with one agent-id \
              would discard each other's lines as repeats. 1 to 255 bytes of \
              printable ASCII without spaces (the collector refuses others). \
              Without TLS client certificates it is a claim, not a proof: \
              anyone who can reach the collector's port can send under any \
              agent-id.",
        reload: Reload::Live,
    },
    Key {
        name: "batch-lines",
        ty: Type::Integer,
        default: Default::Toml("4096"),
        doc: "The most lines in one batch. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "batch-bytes",
        ty: Type::Integer,
        default: Default::Toml("1048576"),
        doc: "The most bytes of lines in one batch. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "linger-ms",
        ty: Type::Integer,
        default: Default::Toml("100"),
        doc: "How long, in milliseconds, a batch that is not full waits for \
              more lines before it is sent. 0 sends at once.",
        reload: Reload::Live,
    },
    Key {
        name: "start-at",
        ty: Type::String,
        default: Default::Toml(r#""beginning""#),
        doc: "Where to start in a file that has no checkpoint and exists when \
              agentd starts: \"beginning\" ships what the file already holds, \
              \"end\" only what is written from then on. A file that appears \
              later is always read from its beginning.",
        reload: Reload::Live,
    },
    Key {
        name: "max-line-bytes",
        ty: Type::Integer,
        default: Default::Toml("65536"),
        doc: "Longer lines ship their first max-line-bytes bytes, flagged \
              truncated; the rest of the line is skipped. 1 to 8388608.",
        reload: Reload::Live,
    },
    Key {
        name: "partial-flush-ms",
        ty: Type::Integer,
        default: Default::Toml("5000"),
        doc: "A last line without its newline ships, flagged partial, after \
              waiting this many milliseconds for the newline; what the writer \
              adds later ships as the next line.",
        reload: Reload::Live,
    },
    Key {
        name: "window",
        ty: Type::Integer,
        default: Default::Toml("8"),
        doc: "The most batches sent and not yet acknowledged; the collector \
              may allow fewer. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "rotate-wait-ms",
        ty: Type::Integer,
        default: Default::Toml("5000"),
        doc: "How long, in milliseconds, a renamed or deleted file is kept \
              open after it last grew, for writers that still hold it.",
        reload: Reload::Live,
    },
    Key {
        name: "ack-timeout-ms",
        ty: Type::Integer,
        default: Default::Toml("30000"),
        doc: "With batches in flight and no acknowledgement for this many \
              milliseconds, agentd drops the connection, reconnects and sends \
              them again. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "shutdown-timeout-ms",
        ty: Type::Integer,
        default: Default::Toml("5000"),
        doc: "On SIGTERM, how long, in milliseconds, agentd waits for the \
              acknowledgement of what is in flight before it exits. Lines not \
              acknowledged by then are sent again after the next start.",
        reload: Reload::Live,
    },
    Key {
        name: "tls",
        ty: Type::Boolean,
        default: Default::Toml("false"),
        doc: "Speak TLS (1.2 or 1.3) to the collector, whose tls-cert must \
              then be set. Needs tls-ca. A failed handshake is logged in words \
              (expired certificate, wrong name, unknown CA, refused client \
              certificate, a collector without TLS) and retried with the same \
              backoff as any failed connection.",
        reload: Reload::Live,
    },
    Key {
        name: "tls-ca",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "A PEM file of the CA certificate(s) that sign the collector's \
              certificate (ca.crt of `collectord tls init`). Required with \
              tls = true. The TLS files are read at each connection, so a \
              renewed certificate is used from the next one.",
        reload: Reload::Live,
    },
    Key {
        name: "tls-cert",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "A PEM file with this agent's client certificate, for a collector \
              with tls-client-ca (`collectord tls issue --agent --name \
              AGENT-ID`). Its DNS name must be agent-id: the collector refuses \
              an agent that calls itself otherwise. Set with tls-key, or \
              neither.",
        reload: Reload::Live,
    },
    Key {
        name: "tls-key",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "A PEM file with the private key of tls-cert; readable by the \
              agentd user only.",
        reload: Reload::Live,
    },
    Key {
        name: "tls-server-name",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "The name the collector's certificate must carry. Empty: the host \
              part of collector. Set it when collector is an address or an \
              alias the certificate does not name.",
        reload: Reload::Live,
    },
    Key {
        name: "journal",
        ty: Type::String,
        default: Default::Toml(r#""auto""#),
        doc: "Whether to read the systemd journal too: \"auto\" reads it when \
              the machine has one (/run/log/journal or /var/log/journal exists, \
              or journal-directory is set) and journalctl is installed; true \
              reads it (and agentd does not start without journalctl); false \
              does not. agentd runs journalctl --output=json --follow --merge (every \
              boot, and on a machine that receives journals with \
              systemd-journal-remote, those too) and ships \
              each entry as one RFC 5424 line (host, identifier, pid, priority, \
              facility and message of the entry, its unit as structured data \
              [journal@32473 unit=\"...\"]; 32473 is RFC 5612's documentation \
              number, logq has no enterprise number registered). Its place is \
              the cursor of the last acknowledged entry, kept in \
              checkpoints.json; without one, start-at says where to begin. An \
              event that rsyslog also writes to a file agentd tails is stored \
              once by the collector when both copies reach it within 10 seconds \
              of each other's event time (the first is kept). The packaged \
              service runs with the group systemd-journal, which may read the \
              whole journal.",
        reload: Reload::Live,
    },
    Key {
        name: "journal-directory",
        ty: Type::String,
        default: Default::Computed {
            what: "unset: the system journal",
            example: r#""/var/log/journal/remote""#,
        },
        doc: "Read the journal files in this directory (journalctl \
              --directory) instead of the system journal: a container's or \
              systemd-journal-remote's journal. An absolute path. Setting it \
              turns \"auto\" on. Lines from it carry the path journal:DIR, \
              from the system journal the path journal.",
        reload: Reload::Live,
    },
];

/// A whole file, for the man page's EXAMPLES (the tests parse it).
pub const EXAMPLE: &str = r#"# Ship nginx and the system log to the central collector.
collector = "logs.example.com:5170"
inputs = ["/var/log/syslog", "/var/log/auth.log", "/var/log/nginx/*.log"]
start-at = "end"
"#;
