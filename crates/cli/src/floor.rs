//! `wsbench floor <tcp|ws> ADDR`: run the floor client (`wsbench_loadgen::floor`) against a
//! running server and print what it measured.

use std::time::Duration;

use wsbench_loadgen::floor::{self, FloorConfig, FloorProto, FloorTarget};

use crate::args::FloorArgs;
use crate::exit;

pub fn main(a: FloorArgs) -> u8 {
    let proto = if a.proto == "ws" {
        FloorProto::Ws
    } else {
        FloorProto::Tcp
    };
    let seconds = |v: f64, flag: &str| {
        Duration::try_from_secs_f64(v)
            .ok()
            .filter(|d| flag == "--warmup-s" || !d.is_zero())
            .ok_or_else(|| format!("{flag} must be a number of seconds > 0 (got {v})"))
    };
    let (measure, warmup) = match (
        seconds(a.seconds, "--seconds"),
        seconds(a.warmup_s, "--warmup-s"),
    ) {
        (Ok(m), Ok(w)) => (m, w),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("wsbench floor: {e}");
            return exit::USAGE;
        }
    };
    if a.clients == 0 {
        eprintln!("wsbench floor: --clients must be at least 1");
        return exit::USAGE;
    }
    let target = match FloorTarget::parse(proto, &a.addr) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("wsbench floor: {e}");
            return exit::USAGE;
        }
    };
    let cfg = FloorConfig {
        target,
        clients: a.clients,
        warmup,
        measure,
        payload_bytes: a.payload_bytes,
    };
    match floor::run(&cfg, &mut || {}) {
        Ok(r) => {
            println!(
                "{} {} clients, payload {} B: {:.0} round trips/s, {:.2} µs CPU per round trip, \
                 round trip p50 {} µs p99 {} µs ({} round trips in {:.2} s, {:.3} s CPU)",
                a.proto,
                a.clients,
                a.payload_bytes,
                r.round_trips_per_s(),
                r.cpu_us_per_round_trip(),
                r.rtt_p50_us,
                r.rtt_p99_us,
                r.round_trips,
                r.measure_s,
                r.cpu_s
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("wsbench floor: {e}");
            exit::RUN_ERROR
        }
    }
}
