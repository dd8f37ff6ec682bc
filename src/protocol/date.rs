//! The `Date` header, formatted once a second and handed to the core as an input.
//!
//! Rule: nothing here reads the clock. The driver reads it once per turn of its loop
//! and calls [`DateCache::now`]; the core only ever sees the resulting [`Now`].

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
pub const HTTP_DATE_LEN: usize = 29;

/// The time as the core sees it: a monotonic instant for deadlines, and the
/// wall-clock second already formatted for the `Date` header.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic time, used for every timeout.
    pub instant: Instant,
    /// The `Date` header value for this second.
    pub date: [u8; HTTP_DATE_LEN],
}

impl Now {
    /// The `Date` header value as text.
    pub fn date_str(&self) -> &str {
        // Formatted by httpdate, which only writes ASCII.
        std::str::from_utf8(&self.date).unwrap_or("")
    }
}

/// Formats the wall clock at most once per second: a busy server answers thousands
/// of requests in the same second, and all of them share one formatted string.
#[derive(Debug, Default)]
pub struct DateCache {
    second: u64,
    date: [u8; HTTP_DATE_LEN],
}

impl DateCache {
    /// An empty cache; the first call to [`DateCache::now`] formats.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns the two clock readings the driver made into a [`Now`].
    pub fn now(&mut self, instant: Instant, wall: SystemTime) -> Now {
        let second = wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if second != self.second || self.date[0] == 0 {
            let text = httpdate::fmt_http_date(wall);
            self.date.copy_from_slice(&text.as_bytes()[..HTTP_DATE_LEN]);
            self.second = second;
        }
        Now {
            instant,
            date: self.date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_imf_fixdate_and_refreshes_each_second() {
        let mut cache = DateCache::new();
        let t0 = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let now = cache.now(Instant::now(), t0);
        assert_eq!(now.date_str(), "Sun, 06 Nov 1994 08:49:37 GMT");
        let same_second = cache.now(Instant::now(), t0 + Duration::from_millis(900));
        assert_eq!(same_second.date_str(), "Sun, 06 Nov 1994 08:49:37 GMT");
        let next = cache.now(Instant::now(), t0 + Duration::from_secs(1));
        assert_eq!(next.date_str(), "Sun, 06 Nov 1994 08:49:38 GMT");
    }
}
