//! Numbered lines: written by the tests, read back from logq's output to
//! find what was lost or doubled.

/// A syslog line carrying a number that the checks can read back:
/// `Nov 24 22:20:01 testhost app[7]: line <tag> <number> <padding>`.
pub fn numbered_line(tag: &str, n: u64) -> String {
    format!("Nov 24 22:20:01 testhost app[7]: line {tag} {n:09} lorem ipsum dolor sit amet consectetur adipiscing elit")
}

/// Reads the numbers of `tag` out of logq's output and says what is missing
/// and what is doubled among `0..expected`.
pub fn check_numbers(output: &[u8], tag: &str, expected: u64) -> Result<(), String> {
    let mut seen = vec![0u8; expected as usize];
    let needle = format!(" line {tag} ");
    let mut extra = 0u64;
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
            _ => extra += 1,
        }
    }
    let missing: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == 0)
        .map(|(i, _)| i)
        .collect();
    let doubled: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 1)
        .map(|(i, _)| i)
        .collect();
    if missing.is_empty() && doubled.is_empty() && extra == 0 {
        return Ok(());
    }
    Err(format!(
        "{tag}: {} missing (first {:?}), {} duplicated (first {:?}), {extra} unexpected",
        missing.len(),
        &missing[..missing.len().min(10)],
        doubled.len(),
        &doubled[..doubled.len().min(10)],
    ))
}
