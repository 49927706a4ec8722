//! Numbered lines: written by the tests, read back from logq's output to
//! find what was lost or doubled.

/// A syslog line carrying a number that the checks can read back:
/// `Nov 24 22:20:01 testhost app[7]: line <tag> <number> <padding>`.
pub fn numbered_line(tag: &str, n: u64) -> String {
    format!("Nov 24 22:20:01 testhost app[7]: line {tag} {n:09} lorem ipsum dolor sit amet consectetur adipiscing elit")
}

/// What logq's output holds of one tag's numbered lines `0..expected`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Numbers not found, in order.
    pub missing: Vec<u64>,
    /// Numbers found more than once, in order.
    pub doubled: Vec<u64>,
    /// Lines of the tag whose number is not one of `0..expected`.
    pub unexpected: u64,
}

/// Reads the numbers of `tag` out of logq's output and finds what is
/// missing and what is doubled among `0..expected`.
pub fn count_numbers(output: &[u8], tag: &str, expected: u64) -> Counts {
    let mut seen = vec![0u8; expected as usize];
    let needle = format!(" line {tag} ");
    let mut counts = Counts::default();
    for line in output.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let Some(at) = line.find(&needle) else {
            continue;
        };
        let digits = &line[at + needle.len()..][..9.min(line.len() - at - needle.len())];
        match digits.parse::<u64>() {
            Ok(n) if n < expected => seen[n as usize] = seen[n as usize].saturating_add(1),
            _ => counts.unexpected += 1,
        }
    }
    for (n, &c) in seen.iter().enumerate() {
        if c == 0 {
            counts.missing.push(n as u64);
        } else if c > 1 {
            counts.doubled.push(n as u64);
        }
    }
    counts
}

/// Reads the numbers of `tag` out of logq's output and says what is missing
/// and what is doubled among `0..expected`.
pub fn check_numbers(output: &[u8], tag: &str, expected: u64) -> Result<(), String> {
    let c = count_numbers(output, tag, expected);
    if c.missing.is_empty() && c.doubled.is_empty() && c.unexpected == 0 {
        return Ok(());
    }
    Err(format!(
        "{tag}: {} missing (first {:?}), {} duplicated (first {:?}), {} unexpected",
        c.missing.len(),
        &c.missing[..c.missing.len().min(10)],
        c.doubled.len(),
        &c.doubled[..c.doubled.len().min(10)],
        c.unexpected,
    ))
}
