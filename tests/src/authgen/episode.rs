//! The labelled episodes: what kinds there are ([`Kind`]), the reference
//! floor each is held to ([`Floor`]), and one episode of the test days
//! ([`Episode`]).

use super::clock::{DAY, HOUR, MIN};

/// What an episode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Burst,
    InvalidUserScan,
    LowAndSlow,
    Distributed,
    SuccessAfterFailures,
    ConnectionFlood,
    /// Hard negative: a user mistypes twice, then logs in.
    MistypeTwice,
    /// Hard negative: a reboot's shutdown and boot lines.
    Reboot,
    /// Hard negative: the nightly backup's ssh sessions.
    Backup,
}

/// The reference floor of a kind: `threshold` counted lines within
/// `window` (microseconds) from at least `distinct` addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    pub counts: Counted,
    pub threshold: usize,
    pub window: i64,
    pub distinct: usize,
}

/// Which lines a floor counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Failures,
    Connections,
    /// The success line itself (`success-after-failures`).
    Success,
}

impl Kind {
    pub const ATTACKS: [Kind; 6] = [
        Kind::Burst,
        Kind::InvalidUserScan,
        Kind::LowAndSlow,
        Kind::Distributed,
        Kind::SuccessAfterFailures,
        Kind::ConnectionFlood,
    ];
    pub const HARD_NEGATIVES: [Kind; 3] = [Kind::MistypeTwice, Kind::Reboot, Kind::Backup];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Burst => "burst",
            Kind::InvalidUserScan => "invalid-user-scan",
            Kind::LowAndSlow => "low-and-slow",
            Kind::Distributed => "distributed",
            Kind::SuccessAfterFailures => "success-after-failures",
            Kind::ConnectionFlood => "connection-flood",
            Kind::MistypeTwice => "mistype-twice",
            Kind::Reboot => "reboot",
            Kind::Backup => "backup",
        }
    }

    pub fn is_attack(self) -> bool {
        Kind::ATTACKS.contains(&self)
    }

    /// The alert kinds that detect an episode of this kind: an alert
    /// detects only what its kind says (a `new-template` alert on an
    /// attack's lines, or a flood alert on a burst, does not).
    pub fn detected_by(self) -> &'static [&'static str] {
        match self {
            Kind::Burst | Kind::InvalidUserScan => {
                &["failed-login-burst", "invalid-user-scan", "low-and-slow"]
            }
            Kind::LowAndSlow => &["low-and-slow"],
            Kind::Distributed => &["distributed-guessing"],
            Kind::SuccessAfterFailures => &["success-after-failures"],
            Kind::ConnectionFlood => &["connection-flood"],
            Kind::MistypeTwice | Kind::Reboot | Kind::Backup => &[],
        }
    }
}

/// The alert kinds that name an attack on logins (the rate detectors').
pub const ATTACK_ALERTS: [&str; 6] = [
    "failed-login-burst",
    "invalid-user-scan",
    "low-and-slow",
    "distributed-guessing",
    "success-after-failures",
    "connection-flood",
];

impl Kind {
    /// When the reference detector first knows: burst and
    /// invalid-user-scan, the 5th failure from the address within 10
    /// minutes (fail2ban's default); low-and-slow, the 10th within 24 h;
    /// distributed, the 10th failure against the user from at least 5
    /// addresses within 1 h; success-after-failures, the success;
    /// connection-flood, the 50th connection within 1 minute. Hard
    /// negatives: never.
    pub fn floor(self) -> Option<Floor> {
        let f = |counts, threshold, window, distinct| {
            Some(Floor {
                counts,
                threshold,
                window,
                distinct,
            })
        };
        match self {
            Kind::Burst | Kind::InvalidUserScan => f(Counted::Failures, 5, 10 * MIN, 1),
            Kind::LowAndSlow => f(Counted::Failures, 10, DAY, 1),
            Kind::Distributed => f(Counted::Failures, 10, HOUR, 5),
            Kind::SuccessAfterFailures => f(Counted::Success, 1, 0, 1),
            Kind::ConnectionFlood => f(Counted::Connections, 50, MIN, 1),
            Kind::MistypeTwice | Kind::Reboot | Kind::Backup => None,
        }
    }
}

/// One labelled episode of the test days.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub kind: Kind,
    pub host: String,
    /// `ip=203.0.113.9`, `user=root` (distributed, mistype-twice),
    /// `host=web1` (reboot).
    pub key: String,
    /// The addresses whose lines these are (none for a reboot).
    pub ips: Vec<String>,
    /// 1-based line numbers in the test file, ascending.
    pub lines: Vec<usize>,
    /// Microseconds since the epoch of its first and last line.
    pub first_us: i64,
    pub last_us: i64,
    /// When the reference detector first knows ([`Kind::floor`]).
    pub cross_us: Option<i64>,
    /// The line at `cross_us`.
    pub cross_line: Option<usize>,
}
