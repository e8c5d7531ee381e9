//! The opaque `data` object every timed message carries:
//! `{"from":u32,"seq":u64,"t":u64,"pad":"…"}`.
//!
//! `from` is the sending client's index, `seq` its per-client sequence number, `t` the
//! intended send time in ns on the load generator's monotonic clock, and `pad` filler so the
//! serialised object is exactly the scenario's payload size (when that size is at least the
//! size of the object with an empty pad, [`Stamp::min_encoded_len`]).

use serde::Deserialize;

/// The timing fields of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Stamp {
    pub from: u32,
    pub seq: u64,
    pub t: u64,
}

impl Stamp {
    /// Length of `{"from":…,"seq":…,"t":…,"pad":""}` for these values.
    pub fn min_encoded_len(&self) -> usize {
        // {"from": , "seq": , "t": , "pad":""}
        const FIXED: usize = r#"{"from":,"seq":,"t":,"pad":""}"#.len();
        FIXED + digits(self.from as u64) + digits(self.seq) + digits(self.t)
    }

    /// Serialises the payload padded to `size` bytes (or the minimum, if `size` is smaller).
    pub fn encode(&self, size: usize) -> String {
        let pad = size.saturating_sub(self.min_encoded_len());
        let mut s = String::with_capacity(self.min_encoded_len() + pad);
        s.push_str(r#"{"from":"#);
        s.push_str(&self.from.to_string());
        s.push_str(r#","seq":"#);
        s.push_str(&self.seq.to_string());
        s.push_str(r#","t":"#);
        s.push_str(&self.t.to_string());
        s.push_str(r#","pad":""#);
        s.extend(std::iter::repeat_n('x', pad));
        s.push_str("\"}");
        s
    }

    /// Reads the timing fields of a payload; `pad` and unknown fields are skipped.
    pub fn decode(data: &[u8]) -> Result<Stamp, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

fn digits(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_to_exact_size_and_decodes() {
        let s = Stamp {
            from: 12,
            seq: 3456,
            t: 987_654_321_000,
        };
        for size in [0, 10, s.min_encoded_len(), 64, 256, 4096] {
            let e = s.encode(size);
            assert_eq!(e.len(), size.max(s.min_encoded_len()), "size {size}");
            assert_eq!(Stamp::decode(e.as_bytes()).unwrap(), s);
            let v: serde_json::Value = serde_json::from_str(&e).unwrap();
            assert_eq!(v["from"], 12);
        }
    }

    #[test]
    fn digits_counts() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(u64::MAX), 20);
    }
}
