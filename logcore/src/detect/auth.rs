//! What a line says about logins and connections, for the rate detectors:
//! a failed login (with the source address and user when the line names
//! them), a successful one, or a connection.
//!
//! sshd's messages are read exactly (OpenSSH 9's wording, which Debian 12
//! logs); other programs by their words: a line with an address and words
//! of a failed login (`authentication failure`, `login incorrect`, `auth
//! failed`, `invalid user`, ...) is a failure, one with an address and
//! `connection from` (ftpd's `connect from`) is a connection. One attempt makes one failure: sshd's `Failed password for
//! invalid user X` follows its own `Invalid user X`, and pam_unix's
//! `authentication failure` from sshd repeats sshd's `Failed password`, so
//! those two are not counted again.

use std::net::IpAddr;

/// What one line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEvent<'a> {
    /// A failed login attempt. `invalid_user`: the user does not exist.
    Failure {
        ip: Option<IpAddr>,
        user: Option<&'a str>,
        invalid_user: bool,
    },
    /// A successful login.
    Success { ip: Option<IpAddr>, user: &'a str },
    /// A connection opened (or dropped before authenticating).
    Connection { ip: IpAddr },
}

impl AuthEvent<'_> {
    /// The source address the line names.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            AuthEvent::Failure { ip, .. } | AuthEvent::Success { ip, .. } => *ip,
            AuthEvent::Connection { ip } => Some(*ip),
        }
    }
}

/// Classifies a message of `program`; `None` for lines that say nothing
/// about logins or connections.
pub fn classify<'a>(program: &str, message: &'a str) -> Option<AuthEvent<'a>> {
    if program == "sshd" || program.starts_with("sshd-") {
        return sshd(message);
    }
    generic(message)
}

fn sshd(m: &str) -> Option<AuthEvent<'_>> {
    // "Failed password for [invalid user ]USER from IP port N ssh2"
    if let Some(rest) = m.strip_prefix("Failed ") {
        let (_, rest) = rest.split_once(" for ")?;
        if rest.starts_with("invalid user ") {
            // Counted at its "Invalid user" line.
            return None;
        }
        let (user, ip) = user_from(rest);
        return Some(AuthEvent::Failure {
            ip,
            user,
            invalid_user: false,
        });
    }
    // "Invalid user USER from IP port N"; OpenSSH before 7.5: "Illegal user".
    if let Some(rest) = m
        .strip_prefix("Invalid user ")
        .or_else(|| m.strip_prefix("Illegal user "))
    {
        let (user, ip) = user_from(rest);
        return Some(AuthEvent::Failure {
            ip,
            user,
            invalid_user: true,
        });
    }
    // "Accepted publickey for USER from IP port N ssh2: ..."
    if let Some(rest) = m.strip_prefix("Accepted ") {
        let (_, rest) = rest.split_once(" for ")?;
        let (user, ip) = user_from(rest);
        return Some(AuthEvent::Success { ip, user: user? });
    }
    // "Connection from IP port N on IP port 22" (LogLevel VERBOSE),
    // "Did not receive identification string from IP port N",
    // "Connection closed by IP port N [preauth]" (not "... by
    // authenticating user", which follows a counted failure).
    for prefix in [
        "Connection from ",
        "Did not receive identification string from ",
        "Connection closed by ",
        "Connection reset by ",
        "banner exchange: Connection from ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            if let Some(ip) = first_word_ip(rest) {
                return Some(AuthEvent::Connection { ip });
            }
        }
    }
    // pam_unix(sshd:auth) lines come as program "sshd" too: they repeat
    // sshd's own "Failed" line, so they are not counted.
    None
}

/// `USER from IP port N ...` → the user and the address.
fn user_from(rest: &str) -> (Option<&str>, Option<IpAddr>) {
    match rest.rsplit_once(" from ") {
        Some((user, tail)) => ((!user.is_empty()).then_some(user), first_word_ip(tail)),
        None => (None, None),
    }
}

fn first_word_ip(s: &str) -> Option<IpAddr> {
    s.split([' ', ',']).next().and_then(parse_ip)
}

/// An address, also with a port after `:` or in brackets (`[::1]:22`).
pub fn parse_ip(word: &str) -> Option<IpAddr> {
    let w =
        word.trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | ',' | ';' | '\'' | '"'));
    if let Ok(ip) = w.parse() {
        return Some(ip);
    }
    // IPv4 with a port.
    if let Some((host, port)) = w.rsplit_once(':') {
        if port.bytes().all(|b| b.is_ascii_digit()) && host.contains('.') {
            return host.parse().ok();
        }
    }
    let w = w.strip_prefix("::ffff:").unwrap_or(w);
    w.parse().ok()
}

/// The first address in `m`: after `rhost=`, else the first word that is one.
fn any_ip(m: &str) -> Option<IpAddr> {
    if let Some((_, rest)) = m.split_once("rhost=") {
        if let Some(ip) = first_word_ip(rest) {
            return Some(ip);
        }
    }
    m.split(|c: char| c.is_whitespace() || c == '=')
        .filter(|w| w.bytes().any(|b| b.is_ascii_digit()) && (w.contains('.') || w.contains(':')))
        .find_map(parse_ip)
}

/// Words of a failed login, not any "fail" or "invalid" (HDFS's "added to
/// invalidSet of 10.251.39.209:50010" is no login); then words of a
/// connection. Matched ignoring ASCII case, all in one pass.
const FAILURE_WORDS: &[&str] = &[
    "authentication failure",
    "authentication failed",
    "auth failed",
    "auth failure",
    "login failed",
    "failed login",
    "login incorrect",
    "failed password",
    "invalid password",
    "bad password",
    "invalid user",
    "unknown user",
    "user unknown",
    "access denied",
    "failed to authenticate",
];
const CONNECTION_WORDS: &[&str] = &["connect from", "connection from", "connected from"];
const UNKNOWN_USER_WORDS: &[&str] = &["unknown user", "invalid user", "user unknown"];

fn words() -> &'static aho_corasick::AhoCorasick {
    static WORDS: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(FAILURE_WORDS.iter().chain(CONNECTION_WORDS))
            .expect("fixed patterns build")
    })
}

fn generic(m: &str) -> Option<AuthEvent<'_>> {
    let mut failure = false;
    let mut connection = false;
    let mut unknown_user = false;
    for found in words().find_overlapping_iter(m) {
        let i = found.pattern().as_usize();
        if i < FAILURE_WORDS.len() {
            failure = true;
            unknown_user |= UNKNOWN_USER_WORDS.contains(&FAILURE_WORDS[i]);
        } else {
            connection = true;
        }
    }
    if failure {
        let ip = any_ip(m)?;
        // pam's "user=root", not "ruser=".
        let user = m
            .split_whitespace()
            .find_map(|w| w.strip_prefix("user="))
            .filter(|u| !u.is_empty());
        return Some(AuthEvent::Failure {
            ip: Some(ip),
            user,
            invalid_user: unknown_user,
        });
    }
    if connection {
        return any_ip(m).map(|ip| AuthEvent::Connection { ip });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn sshd_failures_count_once_per_attempt() {
        assert_eq!(
            classify(
                "sshd",
                "Failed password for root from 203.0.113.9 port 52114 ssh2"
            ),
            Some(AuthEvent::Failure {
                ip: ip("203.0.113.9"),
                user: Some("root"),
                invalid_user: false
            })
        );
        assert_eq!(
            classify("sshd", "Invalid user oracle from 198.51.100.7 port 40000"),
            Some(AuthEvent::Failure {
                ip: ip("198.51.100.7"),
                user: Some("oracle"),
                invalid_user: true
            })
        );
        // The same attempt's second and third lines are not a second failure.
        assert_eq!(
            classify(
                "sshd",
                "Failed password for invalid user oracle from 198.51.100.7 port 40000 ssh2"
            ),
            None
        );
        assert_eq!(
            classify(
                "sshd",
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7  user=root"
            ),
            None
        );
    }

    #[test]
    fn sshd_successes_and_connections() {
        assert_eq!(
            classify(
                "sshd",
                "Accepted publickey for alice from 10.1.2.3 port 50022 ssh2: ED25519 SHA256:abc"
            ),
            Some(AuthEvent::Success {
                ip: ip("10.1.2.3"),
                user: "alice"
            })
        );
        assert_eq!(
            classify(
                "sshd",
                "Did not receive identification string from 192.0.2.1 port 1234"
            ),
            Some(AuthEvent::Connection {
                ip: "192.0.2.1".parse().unwrap()
            })
        );
        assert_eq!(
            classify(
                "sshd",
                "Connection from 2001:db8::1 port 1234 on 10.0.0.1 port 22 rdomain \"\""
            ),
            Some(AuthEvent::Connection {
                ip: "2001:db8::1".parse().unwrap()
            })
        );
        assert_eq!(
            classify(
                "sshd",
                "Connection closed by authenticating user root 192.0.2.1 port 22 [preauth]"
            ),
            None
        );
        assert_eq!(
            classify(
                "sshd",
                "Received disconnect from 10.1.2.3 port 50022:11: disconnected by user"
            ),
            None
        );
    }

    #[test]
    fn other_programs_by_their_words() {
        // ftpd's connection floods in loghub's Linux sample.
        assert_eq!(
            classify(
                "ftpd",
                "connection from 24.54.76.216 (24-54-76-216.bflony.adelphia.net) at Fri Jul 22 09:42:38 2005"
            ),
            Some(AuthEvent::Connection {
                ip: "24.54.76.216".parse().unwrap()
            })
        );
        assert_eq!(
            classify(
                "sshd(pam_unix)",
                "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root"
            ),
            Some(AuthEvent::Failure {
                ip: ip("218.188.2.4"),
                user: Some("root"),
                invalid_user: false
            })
        );
        assert_eq!(
            classify(
                "dovecot",
                "imap-login: Disconnected (auth failed, 1 attempts): rip=192.0.2.5, lip=10.0.0.1"
            ),
            Some(AuthEvent::Failure {
                ip: ip("192.0.2.5"),
                user: None,
                invalid_user: false
            })
        );
        // No address: not a login failure (a unit failing to start).
        assert_eq!(
            classify("systemd", "Failed to start apache2.service."),
            None
        );
        // An address and "invalid", but no login.
        assert_eq!(
            classify(
                "",
                "35 INFO dfs.FSNamesystem: BLOCK* NameSystem.delete: blk_85 is added to invalidSet of 10.251.39.209:50010"
            ),
            None
        );
        assert_eq!(
            classify(
                "CRON",
                "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
            ),
            None
        );
    }
}
