//! `floor = true` (or `run --floor`): after each row, run the floor client (`wsbench floor`)
//! against the same server, side by side. Only for closed-loop echo without a rate
//! (ping-pong) on `tcp` and raw WebSocket targets, the only thing the floor client speaks.
//! The file-level rules (workload, targets) are checked once per file here; the per-point
//! rule (closed loop, no rate) by [`point`].

use crate::error::{Origin, ScenarioError};
use crate::model::{LoopMode, WorkloadKind};
use crate::overrides::{Overrides, flag};
use crate::raw::RawFile;
use crate::sweep::Val;
use crate::target::{Protocol, TargetSpec};

/// Where `floor = true` came from, when it is on (`None`: off).
pub(crate) fn common(
    text: &str,
    file: &str,
    raw: &RawFile,
    ov: &Overrides,
    workload: WorkloadKind,
    targets: &[String],
) -> Result<Option<Origin>, ScenarioError> {
    let at = match (ov.floor, &raw.floor) {
        (true, _) => Origin::Flag(flag::FLOOR),
        (false, Some(s)) if *s.get_ref() => Val::file(text, "floor", s).at,
        _ => return Ok(None),
    };
    if workload != WorkloadKind::Echo {
        let msg = format!(
            "the floor client only runs closed-loop echo (ping-pong); this is {}",
            workload.name()
        );
        return Err(at.error(file, msg));
    }
    let other = targets.iter().find(|t| {
        TargetSpec::parse(t).is_ok_and(|s| !matches!(s.protocol(), Protocol::Tcp | Protocol::Ws))
    });
    if let Some(t) = other {
        let msg = format!(
            "the floor client speaks tcp and raw WebSocket only, but target '{t}' is Socket.IO \
             (drop it from this file's targets or drop floor)"
        );
        return Err(at.error(file, msg));
    }
    Ok(Some(at))
}

/// One point: floor needs ping-pong, closed loop with no rate.
pub(crate) fn point(
    file: &str,
    floor: &Option<Origin>,
    mode: LoopMode,
    rate: f64,
) -> Result<bool, ScenarioError> {
    let Some(at) = floor else {
        return Ok(false);
    };
    if mode != LoopMode::Closed || rate > 0.0 {
        let msg = format!(
            "the floor client only runs ping-pong: mode = \"closed\" with no rate (this point \
             is {} loop{})",
            mode.name(),
            if rate > 0.0 {
                format!(" at rate {rate}")
            } else {
                String::new()
            }
        );
        return Err(at.error(file, msg));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use crate::Overrides;

    fn load(text: &str, ov: &Overrides) -> Result<Vec<bool>, String> {
        crate::parse(text, "f.toml", ov)
            .map(|points| points.iter().map(|p| p.floor).collect())
            .map_err(|e| e.to_string())
    }

    const PING_PONG: &str = "workload = \"echo\"\nmode = \"closed\"\nclients = 5\n";

    #[test]
    fn ping_pong_on_raw_targets_takes_floor() {
        let text = format!("{PING_PONG}targets = [\"tcp\", \"ws-tungstenite\"]\nfloor = true\n");
        assert_eq!(load(&text, &Overrides::default()), Ok(vec![true]));
        let off = format!("{PING_PONG}targets = [\"tcp\"]\n");
        assert_eq!(load(&off, &Overrides::default()), Ok(vec![false]));
        let flag = Overrides {
            floor: true,
            ..Overrides::default()
        };
        assert_eq!(load(&off, &flag), Ok(vec![true]));
    }

    #[test]
    fn anything_else_names_file_line_and_key_or_the_flag() {
        let e = load(
            &format!("{PING_PONG}targets = [\"tcp\", \"sio-socketioxide\"]\nfloor = true\n"),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            e.starts_with("f.toml:5: key 'floor': the floor client speaks tcp and raw WebSocket")
                && e.contains("sio-socketioxide"),
            "{e}"
        );
        let e = load(
            "workload = \"echo\"\nclients = 5\nrate = 100\ntargets = [\"tcp\"]\nfloor = true\n",
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            e.starts_with("f.toml:5: key 'floor': the floor client only runs ping-pong")
                && e.contains("open loop"),
            "{e}"
        );
        let e = load(
            &format!("{PING_PONG}rate = 50\ntargets = [\"tcp\"]\nfloor = true\n"),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("closed loop at rate 50"), "{e}");
        let flag = Overrides {
            floor: true,
            ..Overrides::default()
        };
        let e = load(
            "workload = \"broadcast\"\nclients = 5\nrate = 10\ntargets = [\"tcp\"]\n",
            &flag,
        )
        .unwrap_err();
        assert!(
            e.starts_with("--floor: the floor client only runs closed-loop echo"),
            "{e}"
        );
    }
}
