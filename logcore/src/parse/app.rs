//! What an application's own log file puts between its stamp and its
//! message (issue 16): a level, process and thread ids, a thread name in
//! brackets, a logger or component. The layouts of log4j and logback
//! (`LEVEL [thread] logger: message`), Python's logging and oslo.log
//! (`PID LEVEL dotted.logger message`), Android's logcat (`PID TID L Tag:
//! message`), ZooKeeper's (`- LEVEL [thread] - message`), Apache's
//! (`[level] message`), `program - message` and pipe-separated fields
//! (`|component|pid|message`). A layout is taken only when its level or
//! shape is unmistakable; anything else leaves the text whole, so a
//! message is never cut where no header was.
//!
//! What is found goes where a syslog header's fields go: the logger or
//! component is the program (`-t`), a level the severity (`-p`), and the
//! message is what the template miner sees, so that thread names and
//! loggers do not split or merge the kinds of message.

/// The fields of an application header, and the message after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AppHeader<'a> {
    pub program: Option<&'a str>,
    pub pid: Option<u32>,
    pub severity: Option<u8>,
    pub message: &'a str,
}

impl<'a> AppHeader<'a> {
    fn none(message: &'a str) -> AppHeader<'a> {
        AppHeader {
            program: None,
            pid: None,
            severity: None,
            message,
        }
    }
}

/// The syslog severity of a level word (any case, without allocating: it
/// runs for each line after a non-syslog stamp, at ingest and when logq
/// prints it); `None` for other words.
fn level(word: &str) -> Option<u8> {
    const LEVELS: [(&str, u8); 21] = [
        ("EMERG", 0),
        ("EMERGENCY", 0),
        ("ALERT", 1),
        ("FATAL", 2),
        ("CRIT", 2),
        ("CRITICAL", 2),
        ("SEVERE", 2),
        ("ERROR", 3),
        ("ERR", 3),
        ("WARN", 4),
        ("WARNING", 4),
        ("NOTICE", 5),
        ("INFO", 6),
        ("INFORMATION", 6),
        ("CONFIG", 6),
        ("DEBUG", 7),
        ("TRACE", 7),
        ("FINE", 7),
        ("FINER", 7),
        ("FINEST", 7),
        ("VERBOSE", 7),
    ];
    LEVELS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|&(_, severity)| severity)
}

/// logcat's one-letter priorities.
fn logcat_level(word: &str) -> Option<u8> {
    Some(match word {
        "F" | "A" => 2,
        "E" => 3,
        "W" => 4,
        "I" => 6,
        "D" | "V" => 7,
        _ => return None,
    })
}

/// The first word of `s` (which starts with no space) and the text after
/// it, trimmed.
fn word(s: &str) -> (&str, &str) {
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._$-/".contains(&b))
        && s.as_bytes()[0].is_ascii_alphabetic()
}

/// A logger of a Java or Python layout: a dotted (or `$`) name.
fn is_logger(s: &str) -> bool {
    is_name(s) && (s.contains('.') || s.contains('$')) && !s.ends_with('.')
}

/// A bracketed field at the start of `s` (brackets nest: `[QuorumPeer[
/// myid=1]/0:0:0:0:2181]`); returns the text after it, trimmed.
fn bracketed(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let mut depth = 0usize;
    for (i, &c) in b.iter().enumerate().take(256) {
        match c {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(s[i + 1..].trim_start());
                }
            }
            _ => {}
        }
    }
    None
}

/// Reads an application header at the start of `rest` (the text after a
/// non-syslog stamp, trimmed); see the module documentation.
pub(super) fn app_header(rest: &str) -> AppHeader<'_> {
    // `|component|pid|message`
    if let Some(fields) = rest.strip_prefix('|') {
        let mut parts = fields.splitn(3, '|');
        if let (Some(component), Some(pid), Some(message)) =
            (parts.next(), parts.next(), parts.next())
        {
            if is_name(component) && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                return AppHeader {
                    program: Some(component),
                    pid: pid.parse().ok(),
                    severity: None,
                    message,
                };
            }
        }
        return AppHeader::none(rest);
    }
    // Separators a layout puts after its stamp: `, ` (Windows CBS) and
    // `- ` (ZooKeeper).
    let mut s = rest;
    for sep in [",", "-"] {
        if let Some(after) = s.strip_prefix(sep) {
            if after.starts_with([' ', '\t']) {
                s = after.trim_start();
            }
        }
    }
    // Up to two ids (pid, tid) before the level.
    let mut pid = None;
    let mut ids = 0;
    let mut t = s;
    loop {
        let (w, after) = word(t);
        if ids < 2 && !w.is_empty() && w.len() <= 10 && w.bytes().all(|b| b.is_ascii_digit()) {
            pid = pid.or_else(|| w.parse().ok());
            ids += 1;
            t = after;
            continue;
        }
        break;
    }
    let (w, after) = word(t);
    // `[level]` (Apache) with nothing else of a layout.
    if ids == 0 {
        if let Some(inner) = w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            if let Some(severity) = level(inner) {
                return AppHeader {
                    program: None,
                    pid: None,
                    severity: Some(severity),
                    message: after,
                };
            }
        }
    }
    // logcat: `PID TID L Tag: message`.
    if ids == 2 {
        if let Some(severity) = logcat_level(w) {
            let (tag, message) = word(after);
            if let Some(tag) = tag.strip_suffix(':').filter(|t| is_name(t)) {
                return AppHeader {
                    program: Some(tag),
                    pid,
                    severity: Some(severity),
                    message,
                };
            }
        }
    }
    let Some(severity) = level(w) else {
        // `program - message`, `program *64 - message` (a 64-bit
        // Windows program, as Proxifier writes it)
        if ids == 0 {
            let (name, mut after) = word(s);
            let (marker, past) = word(after);
            if marker.len() > 1
                && marker.starts_with('*')
                && marker[1..].bytes().all(|b| b.is_ascii_digit())
            {
                after = past;
            }
            if let Some(message) = after.strip_prefix("- ") {
                if is_name(name) {
                    return AppHeader {
                        program: Some(name),
                        pid: None,
                        severity: None,
                        message: message.trim_start(),
                    };
                }
            }
        }
        return AppHeader::none(rest);
    };
    let mut s = after;
    if let Some(after) = bracketed(s) {
        s = after;
    }
    if let Some(after) = s.strip_prefix("- ") {
        s = after.trim_start();
    }
    let (w, after) = word(s);
    let program = match w.strip_suffix(':') {
        Some(logger) if is_logger(logger) => Some(logger),
        // oslo.log and Python's logging write the logger without a colon.
        None if is_logger(w) && w.matches('.').count() >= 2 => Some(w),
        _ => None,
    };
    AppHeader {
        program,
        pid,
        severity: Some(severity),
        message: if program.is_some() { after } else { s },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(
        program: Option<&'static str>,
        pid: Option<u32>,
        severity: Option<u8>,
        message: &'static str,
    ) -> AppHeader<'static> {
        AppHeader {
            program,
            pid,
            severity,
            message,
        }
    }

    /// The layouts of the loghub systems, after their stamps: the miner
    /// must see the message alone (a thread name or logger in it split or
    /// merged the kinds of message), and `-p`/`-t` must find the level and
    /// the logger.
    #[test]
    fn common_layouts_give_level_logger_and_message() {
        for (rest, want) in [
            (
                "INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster",
                h(Some("org.apache.hadoop.mapreduce.v2.app.MRAppMaster"), None, Some(6), "Created MRAppMaster"),
            ),
            (
                "WARN [IPC Server handler 3 on 62270] org.apache.hadoop.ipc.Server: x y",
                h(Some("org.apache.hadoop.ipc.Server"), None, Some(4), "x y"),
            ),
            (
                "148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
                h(Some("dfs.DataNode$PacketResponder"), Some(148), Some(6), "PacketResponder 1 terminating"),
            ),
            (
                "INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers",
                h(Some("executor.CoarseGrainedExecutorBackend"), None, Some(6), "Registered signal handlers"),
            ),
            (
                "- INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200",
                h(None, None, Some(6), "Notification time out: 3200"),
            ),
            (
                "1702  2395 D WindowManager: printFreezingDisplayLogs",
                h(Some("WindowManager"), Some(1702), Some(7), "printFreezingDisplayLogs"),
            ),
            (
                "25746 INFO nova.osapi_compute.wsgi.server [req-38101a0b] 10.11.10.1 \"GET\"",
                h(Some("nova.osapi_compute.wsgi.server"), Some(25746), Some(6), "[req-38101a0b] 10.11.10.1 \"GET\""),
            ),
            (
                "[error] mod_jk child workerEnv in error state 6",
                h(None, None, Some(3), "mod_jk child workerEnv in error state 6"),
            ),
            (
                "|Step_LSC|30002312|onStandStepChanged 3579",
                h(Some("Step_LSC"), Some(30002312), None, "onStandStepChanged 3579"),
            ),
            (
                "chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy",
                h(Some("chrome.exe"), None, None, "proxy.cse.cuhk.edu.hk:5070 open through proxy"),
            ),
            (
                "chrome.exe *64 - www.example.org:80 close, 0 bytes sent",
                h(Some("chrome.exe"), None, None, "www.example.org:80 close, 0 bytes sent"),
            ),
            (
                ", Info                  CBS    Loaded Servicing Stack",
                h(None, None, Some(6), "CBS    Loaded Servicing Stack"),
            ),
        ] {
            assert_eq!(app_header(rest), want, "{rest}");
        }
    }

    /// Text with no layout stays whole: a message is never cut where no
    /// header was.
    #[test]
    fn text_without_a_layout_stays_whole() {
        for rest in [
            "node-1 action start",
            "Error: disk full",
            "12 34 56 not a level",
            "info about nothing",
            "INFO",
            "[notice",
            "|a b|12|x",
            "|comp|x1|msg",
            "- just a dash",
            "",
        ] {
            let got = app_header(rest);
            if rest == "INFO" {
                assert_eq!(got, h(None, None, Some(6), ""));
            } else if rest == "info about nothing" {
                // A level word first is a level, whatever its case.
                assert_eq!(got.message, "about nothing");
            } else {
                assert_eq!(got, AppHeader::none(rest), "{rest}");
            }
        }
    }
}
