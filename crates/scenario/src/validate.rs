//! The rules of one sweep point: every sweepable setting checked against the workload and
//! the others, then the validated [`Scenario`]. Each error names where the offending value
//! came from (file line and key, sweep element, or flag).
//!
//! One validator per concern, called in a fixed order (the first mistake is the one
//! reported): `traffic` (loop mode, arrival, clients, publishers, rate), `payload` (the
//! payload size against the message limit) and `settings` (the broadcast op, then each
//! workload's own settings and none of the others'). Targets, phases and polling variants
//! are the same for every point of a file: `common` checks them once.

mod payload;
mod settings;
mod traffic;

use crate::common::Common;
use crate::error::{Origin, ScenarioError};
use crate::model::{Scenario, WorkloadKind};
use crate::sweep::{Point, Val};

pub use payload::DEFAULT_PAYLOAD_BYTES;

/// Validates one point and builds its [`Scenario`].
pub(crate) fn build_point(
    file: &str,
    c: &Common,
    p: &Point,
    sweep: Vec<(String, String)>,
) -> Result<Scenario, ScenarioError> {
    let cx = Ctx::new(file, c, p, &sweep);
    let mode = traffic::mode(&cx)?;
    let arrival = traffic::arrival(&cx)?;
    let op = settings::broadcast_op(&cx)?;
    let clients = traffic::clients(&cx)?;
    let publishers = traffic::publishers(&cx, clients)?;
    let rate = traffic::rate(&cx, mode)?;
    let floor = crate::floor::point(file, &c.floor, mode, rate)?;
    let payload_bytes = payload::payload_bytes(&cx)?;
    let workload = settings::workload(&cx, clients, mode, op)?;
    let nodes = crate::nodes::nodes(file, c, p)?;
    crate::faults::point(file, c.fault.as_ref(), mode, nodes, (clients, publishers))?;
    let slow = crate::slow::point(file, c, p, clients, publishers, nodes)?;
    let network = crate::network::point(file, c, p, nodes, floor)?;
    let production = crate::production::Production {
        jwt: crate::production::jwt(file, p.jwt.as_ref(), &c.targets, c.workload)?,
        rate_limit: c.rate_limit,
        namespaces: crate::features::namespaces(
            file,
            p.namespaces.as_ref(),
            &workload,
            &c.targets,
            (nodes, slow.is_some()),
        )?,
        over_limit: crate::features::over_limit(
            file,
            p.over_limit.as_ref(),
            c.workload,
            c.rate_limit,
        )?,
        cors_preflight: crate::features::cors(file, p.cors.as_ref(), c.workload, &c.targets)?,
    };
    Ok(Scenario {
        name: c.name.clone(),
        description: c.description.clone(),
        workload,
        targets: c.targets.clone(),
        clients,
        publishers,
        rate,
        arrival,
        payload_bytes,
        encoding: c.encoding,
        phases: c.phases,
        max_message_bytes: c.max_message_bytes.v,
        server_cpus: c.server_cpus,
        floor,
        nodes,
        production,
        fault: c.fault.as_ref().map(|(f, _)| f.clone()),
        slow,
        network,
        sweep,
    })
}

/// What every validator of one point reads, and the wording their errors share.
pub(crate) struct Ctx<'a> {
    /// The file name errors show.
    file: &'a str,
    common: &'a Common,
    point: &'a Point,
    /// ` at sweep point k=v;…`, appended to cross-key mistakes, which depend on the point
    /// (empty without a sweep).
    at_point: String,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        file: &'a str,
        common: &'a Common,
        point: &'a Point,
        sweep: &[(String, String)],
    ) -> Ctx<'a> {
        let label = sweep
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let at_point = if label.is_empty() {
            String::new()
        } else {
            format!(" at sweep point {label}")
        };
        Ctx {
            file,
            common,
            point,
            at_point,
        }
    }

    fn kind(&self) -> WorkloadKind {
        self.common.workload
    }

    /// The error `msg` about the value from `at`.
    fn err(&self, at: &Origin, msg: String) -> ScenarioError {
        at.error(self.file, msg)
    }

    /// Where a required `key` that is missing is reported: the `workload` line.
    fn missing(&self, key: &str) -> Origin {
        Origin::Default {
            line: self.common.workload_line,
            key: key.to_string(),
        }
    }

    /// Rejects a value given for a setting of the `what` workload in another workload.
    fn only_for(&self, at: Option<&Origin>, what: &str) -> Result<(), ScenarioError> {
        match at {
            Some(at) => Err(self.err(
                at,
                format!(
                    "only for the {what} workload (this is {})",
                    self.kind().name()
                ),
            )),
            None => Ok(()),
        }
    }

    /// An enum setting by name (default when absent); an unknown name lists the valid ones.
    fn named<T: Copy + Default>(
        &self,
        v: Option<&Val<String>>,
        what: &str,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Result<T, ScenarioError> {
        let Some(v) = v else { return Ok(T::default()) };
        all.iter()
            .copied()
            .find(|t| name(*t) == v.v)
            .ok_or_else(|| {
                let names = all.iter().map(|t| name(*t)).collect::<Vec<_>>().join(", ");
                let msg = format!("unknown {what} '{}' (expected one of: {names})", v.v);
                self.err(&v.at, msg)
            })
    }

    /// A count that must fit the model's `u32`.
    fn u32_of(&self, v: &Val<i64>) -> Result<u32, ScenarioError> {
        u32::try_from(v.v)
            .map_err(|_| self.err(&v.at, format!("too large (got {}, max {})", v.v, u32::MAX)))
    }
}

/// A hand-made [`Common`] and point values, for the validators' unit tests.
#[cfg(test)]
pub(crate) mod fixture {
    use std::time::Duration;

    use crate::common::{Common, DEFAULT_MAX_MESSAGE_BYTES};
    use crate::error::{Origin, ScenarioError};
    use crate::model::{Encoding, Phases, PvpVariant, WorkloadKind};
    use crate::sweep::Val;

    pub const FILE: &str = "t.toml";

    /// A file of `kind` whose `workload` is on line 1, no `[polling]`, drain 1 s.
    pub fn common(kind: WorkloadKind) -> Common {
        Common {
            name: "t".into(),
            description: String::new(),
            workload: kind,
            workload_line: 1,
            targets: vec!["ws-tungstenite".into(), "sio-socketioxide".into()],
            encoding: Encoding::Json,
            max_message_bytes: Val {
                v: DEFAULT_MAX_MESSAGE_BYTES,
                at: Origin::Default {
                    line: 1,
                    key: "max_message_bytes".into(),
                },
            },
            phases: Phases {
                warmup: Duration::ZERO,
                measure: Duration::from_secs(1),
                drain: Duration::from_secs(1),
            },
            variants: PvpVariant::ALL.to_vec(),
            workspaces: 1,
            polling_line: None,
            server_cpus: None,
            floor: None,
            rate_limit: None,
            fault: None,
            slow: Default::default(),
            network: Default::default(),
        }
    }

    /// `v` as written on `line` under `key`.
    pub fn at<T>(line: usize, key: &str, v: T) -> Option<Val<T>> {
        Some(Val {
            v,
            at: Origin::File {
                line,
                key: key.into(),
            },
        })
    }

    /// The message a user sees.
    pub fn message<T: std::fmt::Debug>(r: Result<T, ScenarioError>) -> String {
        r.expect_err("should be rejected").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{FILE, at, common, message};
    use super::*;
    use crate::model::{BroadcastOp, LoopMode, Workload};

    #[test]
    fn a_point_becomes_a_scenario_with_its_workload_settings() {
        let c = common(WorkloadKind::Broadcast);
        let p = Point {
            clients: at(2, "clients", 3),
            rate: at(3, "rate", 10.0),
            op: at(4, "op", "to_others".into()),
            ..Point::default()
        };
        let s = build_point(FILE, &c, &p, vec![]).unwrap();
        assert_eq!(
            s.workload,
            Workload::Broadcast {
                op: BroadcastOp::ToOthers
            }
        );
        assert_eq!((s.clients, s.publishers, s.rate), (3, 1, 10.0));
        assert_eq!(s.workload.mode(), LoopMode::Open);
    }

    #[test]
    fn the_first_concern_in_order_is_the_one_reported() {
        // op on echo (settings, checked before clients) beats the missing clients
        let c = common(WorkloadKind::Echo);
        let p = Point {
            op: at(2, "op", "to_all".into()),
            ..Point::default()
        };
        assert_eq!(
            message(build_point(FILE, &c, &p, vec![])),
            "t.toml:2: key 'op': only for the broadcast workload (this is echo)"
        );
    }

    #[test]
    fn cross_key_mistakes_name_the_sweep_point() {
        let c = common(WorkloadKind::Echo);
        let p = Point {
            clients: at(2, "clients", 2),
            publishers: at(3, "sweep.publishers", 5),
            rate: at(4, "rate", 1.0),
            ..Point::default()
        };
        let sweep = vec![("publishers".to_string(), "5".to_string())];
        assert_eq!(
            message(build_point(FILE, &c, &p, sweep)),
            "t.toml:3: key 'sweep.publishers': must be <= clients (got 5 > 2) at sweep point \
             publishers=5"
        );
    }
}
