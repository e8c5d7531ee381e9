//! Payload and encoding of one point: `payload_bytes` (only where the workload publishes)
//! must leave room for the envelope within the server's `max_message_bytes`. The encoding
//! itself is per file (`common`).

use crate::common::ENVELOPE_HEADROOM_BYTES;
use crate::error::ScenarioError;
use crate::sweep::Val;

use super::Ctx;

/// Default `payload_bytes`: a small message, just above the stamp's own size.
pub const DEFAULT_PAYLOAD_BYTES: usize = 64;

/// `payload_bytes`: >= 0, and with the envelope headroom within `max_message_bytes`.
pub(super) fn payload_bytes(cx: &Ctx) -> Result<usize, ScenarioError> {
    let w = cx.kind();
    let payload = match (&cx.point.payload_bytes, w.publishes()) {
        (Some(v), false) => {
            return Err(cx.err(&v.at, format!("not used by the {} workload", w.name())));
        }
        (None, _) => Val {
            v: DEFAULT_PAYLOAD_BYTES as i64,
            at: cx.missing("payload_bytes"),
        },
        (Some(v), true) => v.clone(),
    };
    if payload.v < 0 {
        return Err(cx.err(&payload.at, format!("must be >= 0 (got {})", payload.v)));
    }
    let max = &cx.common.max_message_bytes;
    if payload.v as u64 + ENVELOPE_HEADROOM_BYTES as u64 > max.v as u64 {
        let msg = format!(
            "payload_bytes + {ENVELOPE_HEADROOM_BYTES} bytes of envelope headroom must be <= \
             max_message_bytes (got {} + {ENVELOPE_HEADROOM_BYTES} > {}){}",
            payload.v, max.v, cx.at_point
        );
        // Blame what the user wrote: the payload, unless only the limit was written.
        let blame = if payload.at.is_given() {
            &payload.at
        } else {
            &max.at
        };
        return Err(cx.err(blame, msg));
    }
    Ok(payload.v as usize)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{FILE, at, common, message};
    use super::*;
    use crate::error::Origin;
    use crate::model::WorkloadKind;
    use crate::sweep::Point;

    #[test]
    fn payload_defaults_and_fits_the_message_limit() {
        let mut c = common(WorkloadKind::Echo);
        let none = Point::default();
        let cx = Ctx::new(FILE, &c, &none, &[]);
        assert_eq!(payload_bytes(&cx).unwrap(), DEFAULT_PAYLOAD_BYTES);

        let big = Point {
            payload_bytes: at(3, "payload_bytes", 1000),
            ..Point::default()
        };
        c.max_message_bytes = Val {
            v: 1024,
            at: Origin::File {
                line: 5,
                key: "max_message_bytes".into(),
            },
        };
        let cx = Ctx::new(FILE, &c, &big, &[]);
        assert_eq!(
            message(payload_bytes(&cx)),
            "t.toml:3: key 'payload_bytes': payload_bytes + 256 bytes of envelope headroom must \
             be <= max_message_bytes (got 1000 + 256 > 1024)"
        );
        // only the limit was written: it takes the blame for the default payload
        c.max_message_bytes.v = 300;
        let cx = Ctx::new(FILE, &c, &none, &[]);
        assert!(message(payload_bytes(&cx)).starts_with("t.toml:5: key 'max_message_bytes': "));
    }

    #[test]
    fn payload_is_not_for_workloads_that_do_not_publish() {
        let c = common(WorkloadKind::Connect);
        let p = Point {
            payload_bytes: at(3, "payload_bytes", 10),
            ..Point::default()
        };
        assert_eq!(
            message(payload_bytes(&Ctx::new(FILE, &c, &p, &[]))),
            "t.toml:3: key 'payload_bytes': not used by the connect workload"
        );
        let negative = Point {
            payload_bytes: at(3, "payload_bytes", -1),
            ..Point::default()
        };
        let c = common(WorkloadKind::Echo);
        assert_eq!(
            message(payload_bytes(&Ctx::new(FILE, &c, &negative, &[]))),
            "t.toml:3: key 'payload_bytes': must be >= 0 (got -1)"
        );
    }
}
