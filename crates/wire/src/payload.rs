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
        let mut s = String::new();
        self.encode_into(size, &mut s);
        s
    }

    /// Replaces `buf`'s contents with the payload padded to `size` bytes (or the minimum).
    /// Allocates nothing once `buf` has grown to the payload size: the load generator keeps
    /// one buffer per connection. This is the exact layout [`crate::fast::stamp`] reads.
    pub fn encode_into(&self, size: usize, buf: &mut String) {
        let pad = size.saturating_sub(self.min_encoded_len());
        buf.clear();
        buf.reserve(self.min_encoded_len() + pad);
        buf.push_str(r#"{"from":"#);
        push_u64(buf, u64::from(self.from));
        buf.push_str(r#","seq":"#);
        push_u64(buf, self.seq);
        buf.push_str(r#","t":"#);
        push_u64(buf, self.t);
        buf.push_str(r#","pad":""#);
        let mut left = pad;
        while left > 0 {
            let n = left.min(PAD_CHUNK.len());
            buf.push_str(&PAD_CHUNK[..n]);
            left -= n;
        }
        buf.push_str("\"}");
    }

    /// Reads the timing fields of a payload; `pad` and unknown fields are skipped. The exact
    /// layout [`Stamp::encode_into`] writes is read by [`crate::fast::stamp`]; anything else
    /// goes through the full JSON parser ([`Stamp::decode_full`]).
    pub fn decode(data: &[u8]) -> Result<Stamp, serde_json::Error> {
        match crate::fast::stamp(data) {
            Some(s) => Ok(s),
            None => Stamp::decode_full(data),
        }
    }

    /// Reads the timing fields with the full JSON parser (any valid spelling).
    pub fn decode_full(data: &[u8]) -> Result<Stamp, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

/// The pad filler, copied a chunk at a time (pushing one `char` at a time costs ~1 ns a byte).
pub(crate) const PAD_CHUNK: &str = match std::str::from_utf8(&[b'x'; 256]) {
    Ok(s) => s,
    Err(_) => panic!("ASCII"),
};

/// Appends the decimal digits of `v` without allocating.
pub fn push_u64(buf: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // ASCII digits are valid UTF-8
    buf.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
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
            assert_eq!(
                crate::fast::stamp(e.as_bytes()),
                Some(s),
                "fast path reads it"
            );
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

    #[test]
    fn push_u64_writes_decimal() {
        for v in [0, 7, 10, 99, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut s = String::from("x");
            push_u64(&mut s, v);
            assert_eq!(s, format!("x{v}"));
        }
    }
}
