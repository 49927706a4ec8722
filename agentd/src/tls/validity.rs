//! The validity dates of a certificate (DER), so that agentd can say why
//! the collector refused its certificate: rustls sends one alert,
//! `certificate_expired`, for a certificate that has expired and for one
//! that is not valid yet, and only the dates tell which.
//!
//! A DER walk to TBSCertificate's `validity` (RFC 5280 4.1): version
//! (optional, `[0]`), serialNumber, signature, issuer, then validity, a
//! SEQUENCE of two times, UTCTime (YYMMDDHHMMSSZ, years 1950-2049) or
//! GeneralizedTime (YYYYMMDDHHMMSSZ). Anything else gives `None`.

/// notBefore and notAfter, in seconds since the epoch.
pub fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert, _) = tlv(der).filter(|(t, ..)| *t == SEQUENCE)?;
    let (_, tbs, _) = tlv(cert).filter(|(t, ..)| *t == SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    for _ in ["serialNumber", "signature", "issuer"] {
        rest = tlv(rest)?.2;
    }
    let (_, validity, _) = tlv(rest).filter(|(t, ..)| *t == SEQUENCE)?;
    let (t1, not_before, rest) = tlv(validity)?;
    let (t2, not_after, _) = tlv(rest)?;
    Some((time(t1, not_before)?, time(t2, not_after)?))
}

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One element: tag, value, what follows.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, mut b) = b.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n]
            .iter()
            .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
        b = &b[n..];
        len
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

fn time(tag: u8, v: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        UTC_TIME if text.len() == 12 => {
            let yy: i32 = text[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 14 => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let n = |i: usize| rest.get(i..i + 2)?.parse::<u32>().ok();
    let date = chrono::NaiveDate::from_ymd_opt(year, n(0)?, n(2)?)?;
    let at = date.and_hms_opt(n(4)?, n(6)?, n(8)?)?;
    Some(at.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::new(vec!["agent-a".to_owned()]).unwrap();
        p.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    fn at(y: i32, m: u32, d: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
    }

    #[test]
    fn dates_of_utc_and_generalized_times_are_read() {
        // Without them agentd cannot tell "expired" from "not valid yet",
        // and would send an operator to renew a certificate that is new.
        assert_eq!(
            validity(&cert((2020, 1, 1), (2021, 1, 1))),
            Some((at(2020, 1, 1), at(2021, 1, 1)))
        );
        // Past 2049 a certificate carries GeneralizedTime.
        assert_eq!(
            validity(&cert((2090, 6, 30), (2091, 1, 1))),
            Some((at(2090, 6, 30), at(2091, 1, 1)))
        );
    }

    #[test]
    fn anything_else_is_none_and_never_a_panic() {
        let good = cert((2020, 1, 1), (2021, 1, 1));
        for cut in 0..good.len() {
            let _ = validity(&good[..cut]);
        }
        assert_eq!(validity(b""), None);
        assert_eq!(validity(b"not a certificate"), None);
        assert_eq!(validity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
