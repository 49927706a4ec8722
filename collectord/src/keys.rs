//! Every key of `/etc/collectord/collectord.toml`, documented once. `cargo
//! xtask man` writes collectord.toml(5) and the shipped, commented-out
//! `packaging/collectord/collectord.toml` from this table; the tests in
//! `config.rs` fail when a key of [`Config`](crate::config::Config) is
//! missing here, or a default here differs from `Config::default()`.
//!
//! [`Reload`] says whether a reload (SIGHUP) applies a changed value at
//! once or only the next start does: the listening socket, the data
//! directory and the index writer are made once.

use logcore::docs::{Default, Key, Reload, Type};

/// The keys, in the order the man page and the shipped file list them.
pub const KEYS: &[Key] = &[
    Key {
        name: "listen",
        ty: Type::String,
        default: Default::Toml(r#""0.0.0.0:5170""#),
        doc: "The address and TCP port agents connect to, as address:port \
              ([::]:5170 for IPv6). Ignored when systemd passes the socket \
              (collectord.socket decides, port 5170 by default); the \
              --listen option overrides it.",
        reload: Reload::Restart,
    },
    Key {
        name: "data-dir",
        ty: Type::String,
        default: Default::Toml(r#""/var/lib/collectord""#),
        doc: "The directory of the index (index/) and of the archive \
              (archive/, one zstd file per day: the only copy of every line). \
              logq reads it from this file too. The --data-dir option \
              overrides it.",
        reload: Reload::Restart,
    },
    Key {
        name: "retention-days",
        ty: Type::Integer,
        default: Default::Toml("30"),
        doc: "Keep today and this many days before it; a day is deleted, \
              from the index and the archive, once all of it is older, \
              and the anomalies (anomalies.log, flagged.log) that ended \
              before it go with it. Checked at start and hourly. 0 keeps \
              lines forever.",
        reload: Reload::Live,
    },
    Key {
        name: "retention-bytes",
        ty: Type::Integer,
        default: Default::Toml("0"),
        doc: "The most bytes the archive and the index may take together; \
              oldest days are deleted first, never the newest. 0 means no \
              limit.",
        reload: Reload::Live,
    },
    Key {
        name: "max-connections",
        ty: Type::Integer,
        default: Default::Toml("1024"),
        doc: "The most agents served at once (connections that sent their \
              HELLO). When full, a new agent displaces the connection that \
              has delivered no lines for the longest, if that is 10 seconds \
              or more (an idle or hostile connection that never sent lines \
              goes first); otherwise it is told BUSY and closed, and \
              retries later. At least 1. LimitNOFILE= in collectord.service \
              must leave room for it, the pending connections and the \
              syslog connections.",
        reload: Reload::Live,
    },
    Key {
        name: "max-connections-per-source",
        ty: Type::Integer,
        default: Default::Toml("32"),
        doc: "The most connections from one IP address to the agents' \
              port, before and after HELLO. A newcomer past it displaces \
              that address's oldest connection still without HELLO, else \
              its connection idle the longest (no lines for 10 seconds or \
              more); otherwise it is told BUSY and closed. Raise it for \
              many agents behind one NAT address. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "max-pending-connections",
        ty: Type::Integer,
        default: Default::Toml("256"),
        doc: "The most connections waiting for their TLS handshake and \
              HELLO (each has hello-timeout-ms). When full, the oldest of \
              them is closed to make room for the newcomer, so connections \
              that never say HELLO cannot lock agents out. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "max-frame-bytes",
        ty: Type::Integer,
        default: Default::Toml("16777216"),
        doc: "The largest frame accepted from an agent, in bytes; a larger \
              one is refused before its body is read. Agents split their \
              batches to fit. Before HELLO the limit is 1024 bytes, which a \
              HELLO never exceeds. At least 65536.",
        reload: Reload::Live,
    },
    Key {
        name: "max-buffer-mb",
        ty: Type::Integer,
        default: Default::Toml("128"),
        doc: "The memory, in megabytes, for lines on their way to the \
              index, over all connections (agents and syslog): frames being \
              read and batches decoded and not yet committed. A connection \
              that cannot get any stops reading until some is free (TCP \
              slows its sender down; nothing is lost). Frames larger than \
              32 KiB are let in smallest first and may take three quarters \
              of it; one that receives nothing for a second while others \
              wait is cut. Bounds collectord's memory with writer-memory-mb. \
              At least twice max-frame-bytes.",
        reload: Reload::Live,
    },
    Key {
        name: "window",
        ty: Type::Integer,
        default: Default::Toml("8"),
        doc: "The most batches an agent may have sent and not had \
              acknowledged (told to the agent when it connects). At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "commit-interval-ms",
        ty: Type::Integer,
        default: Default::Toml("500"),
        doc: "The longest a received batch waits for its commit (fsync of the \
              archive, then the index commit) and so for its \
              acknowledgement, in milliseconds. Longer gathers more batches \
              per commit; lines are searchable from their commit on. 1 to \
              60000.",
        reload: Reload::Live,
    },
    Key {
        name: "hello-timeout-ms",
        ty: Type::Integer,
        default: Default::Toml("5000"),
        doc: "An agent must complete its TLS handshake (with tls-cert) and \
              send its HELLO within this many milliseconds of connecting; \
              else the connection is closed. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "frame-timeout-ms",
        ty: Type::Integer,
        default: Default::Toml("10000"),
        doc: "An agent must send each frame whole within this many \
              milliseconds of its first byte (of its admission, when \
              max-buffer-mb made it wait); else the connection is closed \
              with ERROR PROTOCOL. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "idle-timeout-ms",
        ty: Type::Integer,
        default: Default::Toml("300000"),
        doc: "A connection that sends no lines for this many milliseconds, \
              with none of its batches waiting for a commit, is closed; \
              frames without lines (an empty BATCH) do not count. The agent \
              connects again when it has lines. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "writer-memory-mb",
        ty: Type::Integer,
        default: Default::Toml("128"),
        doc: "The index writer's memory budget in megabytes, shared by its \
              threads: each thread gets between 16 and 4000.",
        reload: Reload::Restart,
    },
    Key {
        name: "writer-threads",
        ty: Type::Integer,
        default: Default::Toml("1"),
        doc: "Threads that build the index. 1 to 8; more help only when one \
              thread cannot keep up with the agents.",
        reload: Reload::Restart,
    },
    Key {
        name: "max-streams-per-agent",
        ty: Type::Integer,
        default: Default::Toml("20000"),
        doc: "Streams (files, file generations after truncation, journal \
              sequences) one agent may have a high-water mark for: the mark \
              drops lines an agent sends again. Marks of streams not seen for \
              30 days (or retention-days, if longer) are forgotten. A batch \
              that would go past the cap is refused whole (ERROR 8, logged \
              once per agent and hour); the agent keeps its lines and sends \
              them again later. At least 100.",
        reload: Reload::Live,
    },
    Key {
        name: "max-streams",
        ty: Type::Integer,
        default: Default::Toml("1000000"),
        doc: "Streams with a high-water mark, over all agents: about 60 bytes \
              of memory each. Past it, batches with new streams are refused \
              as above. At least max-streams-per-agent.",
        reload: Reload::Live,
    },
    Key {
        name: "min-free-mb",
        ty: Type::Integer,
        default: Default::Toml("256"),
        doc: "Free space, in MiB, that the data directory's file system keeps. \
              Below it (or when a write finds the disk full) collectord stops \
              taking lines: agents wait and keep their files, syslog senders \
              are pushed back (TCP) or dropped by the kernel (UDP); it says so \
              in the log and in systemctl status, and starts again by itself \
              once a quarter more than this is free. 0: only a full disk stops \
              it.",
        reload: Reload::Live,
    },
    Key {
        name: "detect",
        ty: Type::Boolean,
        default: Default::Toml("true"),
        doc: "Run the anomaly detectors on every line as it is stored: rate \
              rules (failed-login bursts, invalid-user scans, low-and-slow \
              guessing, distributed guessing, a login after failures, \
              connection floods), and once trained, new kinds of lines, kinds \
              new to a host, sessions and the per-line Isolation Forest. \
              Anomalies go to anomalies.log in the data directory and flag \
              their lines (logq --anomalies).",
        reload: Reload::Live,
    },
    Key {
        name: "train-days",
        ty: Type::Integer,
        default: Default::Toml("7"),
        doc: "Days of history a training reads, counted back from the newest \
              stored line, so that logs shipped late are history too (the \
              newest 20 million lines at most). At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "retrain-hours",
        ty: Type::Integer,
        default: Default::Toml("24"),
        doc: "Hours between trainings while running; the first runs at start \
              when there is no model.json and the index holds lines. 0: \
              only `collectord train` trains.",
        reload: Reload::Live,
    },
    Key {
        name: "session-regex",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "Lines whose messages share this regular expression's first \
              capture group (or whole match) are one session, scored as a \
              whole when it ends: e.g. 'blk_-?[0-9]+' for HDFS blocks. A \
              session is anomalous for what it has, never for what it lacks: \
              a kind of event that few training sessions had, kinds that \
              rarely occurred together, or a stop where training sessions \
              went on within less time than it has been idle. Empty: no \
              sessions. A change needs a training (collectord train) before \
              sessions are scored.",
        reload: Reload::Live,
    },
    Key {
        name: "session-idle-secs",
        ty: Type::Integer,
        default: Default::Toml("1800"),
        doc: "A session ends when no line has named it for this many \
              seconds. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "detect-max-keys",
        ty: Type::Integer,
        default: Default::Toml("100000"),
        doc: "Addresses, users and sessions each detector follows at once; \
              past it the idle ones are forgotten first. Bounds the \
              detectors' memory whatever the number of addresses. At least \
              1000.",
        reload: Reload::Live,
    },
    Key {
        name: "line-forest-alerts",
        ty: Type::Boolean,
        default: Default::Toml("false"),
        doc: "Also raise an anomaly for every kind of line the per-line \
              Isolation Forest over TF-IDF scores as rare. Off by default: \
              rare is not dangerous, and it is noisy.",
        reload: Reload::Live,
    },
    Key {
        name: "sequence-model",
        ty: Type::Boolean,
        default: Default::Toml("false"),
        doc: "With a session-regex, also train an LSTM that predicts each \
              next event of a session (DeepLog), and raise a session \
              anomaly at an event it did not expect. Off by default: on \
              the HDFS evaluation the session model alone scored better, \
              and training takes seconds to minutes more. The next \
              training (collectord train, or retrain-hours) learns it.",
        reload: Reload::Live,
    },
    Key {
        name: "syslog-udp",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "Receive syslog over UDP on this address:port (0.0.0.0:514): \
              one datagram is one message. Empty: off. When systemd passes \
              a socket named syslog-udp (collectord-syslog-udp.socket), that \
              one is used instead.",
        reload: Reload::Restart,
    },
    Key {
        name: "syslog-tcp",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "Receive syslog over TCP on this address:port (0.0.0.0:514), \
              octet-counted or newline-framed (RFC 6587, decided per \
              connection). Empty: off. When systemd passes a socket named \
              syslog-tcp (collectord-syslog-tcp.socket), that one is used \
              instead.",
        reload: Reload::Restart,
    },
    Key {
        name: "syslog-tls",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "Receive syslog over TLS (RFC 5425) on this address:port \
              (0.0.0.0:6514), octet-counted as RFC 5425 says (newline framing \
              is taken too). Needs tls-cert and tls-key, the certificate the \
              senders verify; with tls-client-ca, senders must present a \
              client certificate signed by it (and named in tls-allow-agents \
              when that is set). Empty: off. When systemd passes a socket \
              named syslog-tls (collectord-syslog-tls.socket), that one is \
              used instead.",
        reload: Reload::Restart,
    },
    Key {
        name: "syslog-max-message-bytes",
        ty: Type::Integer,
        default: Default::Toml("65536"),
        doc: "The longest syslog message kept whole, over UDP and TCP; a \
              longer one is cut to this length and flagged truncated, never \
              dropped. 480 to 16777216. A reload applies it to new TCP \
              connections and to UDP at once.",
        reload: Reload::Live,
    },
    Key {
        name: "syslog-max-connections",
        ty: Type::Integer,
        default: Default::Toml("1024"),
        doc: "The most syslog TCP connections served at once (each of \
              syslog-tcp and syslog-tls). When full, a newcomer displaces \
              the connection that has sent no message for the longest, if \
              that is 10 seconds or more; otherwise it is closed at once \
              and logged with its address. At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "syslog-max-connections-per-source",
        ty: Type::Integer,
        default: Default::Toml("32"),
        doc: "The most syslog TCP connections from one IP address; past \
              it a newcomer displaces that address's connection idle the \
              longest (10 seconds or more), else it is closed at once. At \
              least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "syslog-idle-timeout-ms",
        ty: Type::Integer,
        default: Default::Toml("300000"),
        doc: "A syslog TCP connection that sends no message for this many \
              milliseconds is closed (rsyslog and syslog-ng connect again \
              when they next send). At least 1.",
        reload: Reload::Live,
    },
    Key {
        name: "syslog-rate-limit",
        ty: Type::Integer,
        default: Default::Toml("0"),
        doc: "Syslog messages per second taken from one source address \
              (bursts of one second's worth). Over TCP the sender is slowed \
              down (nothing is lost); over UDP the excess is dropped, counted, \
              and logged once per source every 10 s. 0: no limit.",
        reload: Reload::Live,
    },
    Key {
        name: "tls-cert",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "A PEM file with the collector's certificate (then any \
              intermediates). With tls-key set too, the agents' port speaks \
              TLS (1.2 or 1.3) only, and agents need tls = true; one of the \
              two without the other is an error. `collectord tls issue \
              --server` makes one. Read again at each reload: new \
              connections get the new certificate; a file that cannot be \
              used keeps the running configuration. Empty: no TLS.",
        reload: Reload::Live,
    },
    Key {
        name: "tls-key",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "A PEM file with the private key of tls-cert (PKCS#8, PKCS#1 \
              or SEC1); readable by the collectord user only.",
        reload: Reload::Live,
    },
    Key {
        name: "tls-client-ca",
        ty: Type::String,
        default: Default::Toml(r#""""#),
        doc: "A PEM file of CA certificates. Set: every agent must present a \
              client certificate signed by one of them (mutual TLS), and an \
              agent's identity is its certificate's DNS name: a HELLO whose \
              agent_id is not that name is refused. This is what makes an \
              agent id an identity. Needs tls-cert. Empty: agents are not \
              asked for a certificate, and an agent id is a claim anyone \
              can make.",
        reload: Reload::Live,
    },
    Key {
        name: "tls-allow-agents",
        ty: Type::StringArray,
        default: Default::Toml("[]"),
        doc: "The names (a client certificate's DNS subjectAltName) that may \
              connect, e.g. [\"web1\", \"db1\"]; a certificate signed by \
              tls-client-ca for another name is refused. Needs \
              tls-client-ca. Empty: any certificate the CA signed.",
        reload: Reload::Live,
    },
];

/// A whole file, for the man page's EXAMPLES (the tests parse it).
pub const EXAMPLE: &str = r#"# Keep 90 days, but never more than 500 GB, and commit at most once a
# second so that busy agents share commits.
retention-days = 90
retention-bytes = 500_000_000_000
commit-interval-ms = 1000
"#;
