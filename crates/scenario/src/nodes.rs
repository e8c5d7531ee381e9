//! `nodes` (or `--nodes`, which replaces it; sweepable): how many server processes the run
//! starts per target, joined into one cluster over Redis (`wsbench serve --adapter`). 1, the
//! default, is one server and no cluster. Above 1 only for the message and connect workloads
//! (polling-vs-push and the floor client talk to one server), and only with targets the run
//! starts: a server someone else runs cannot be made a cluster from here. Starting the
//! nodes and spreading the clients over them is the load generator's business.

use crate::common::Common;
use crate::error::ScenarioError;
use crate::model::WorkloadKind;
use crate::sweep::Point;
use crate::target::TargetSpec;

/// The most server processes one target may have.
pub const MAX_NODES: u32 = 64;

/// The validated node count of point `p` (1 when neither the flag nor the file sets it).
pub(crate) fn nodes(file: &str, c: &Common, p: &Point) -> Result<u32, ScenarioError> {
    let Some(given) = &p.nodes else {
        return Ok(1);
    };
    let n = match u32::try_from(given.v) {
        Ok(n) if (1..=MAX_NODES).contains(&n) => n,
        _ => {
            let msg = format!(
                "must be a whole number of server processes from 1 to {MAX_NODES} (got {})",
                given.v
            );
            return Err(given.at.error(file, msg));
        }
    };
    if n == 1 {
        return Ok(1);
    }
    if c.workload == WorkloadKind::PollingVsPush {
        let msg = "above 1 only for the message and connect workloads (polling-vs-push \
                   talks to one server)";
        return Err(given.at.error(file, msg));
    }
    if c.floor.is_some() {
        let msg = "above 1 cannot go with the floor client (it measures one server)";
        return Err(given.at.error(file, msg));
    }
    let external = c
        .targets
        .iter()
        .find(|t| TargetSpec::parse(t).is_ok_and(|s| !s.spawns_server()));
    if let Some(t) = external {
        let msg = format!(
            "above 1 needs servers the run starts, but target '{t}' is run by someone else"
        );
        return Err(given.at.error(file, msg));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use crate::Overrides;

    const HEAD: &str = "name = \"c\"\nworkload = \"broadcast\"\nclients = 6\nrate = 10\n";

    fn load(text: &str, ov: &Overrides) -> Result<Vec<crate::Scenario>, String> {
        crate::parse(text, "c.toml", ov).map_err(|e| e.to_string())
    }

    #[test]
    fn nodes_default_to_one_and_sweep() {
        let one = load(
            &format!("{HEAD}targets = [\"tcp\"]\n"),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(one[0].nodes, 1);
        let swept = load(
            &format!("{HEAD}targets = [\"tcp\", \"node-ws\"]\n[sweep]\nnodes = [1, 3]\n"),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(swept.iter().map(|s| s.nodes).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(swept[1].sweep_label(), "nodes=3");
        // the flag replaces the sweep
        let flag = load(
            &format!("{HEAD}targets = [\"tcp\"]\n[sweep]\nnodes = [1, 3]\n"),
            &Overrides {
                nodes: Some(2),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(flag.iter().map(|s| s.nodes).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn bad_node_counts_name_the_key_or_flag() {
        for bad in ["0", "65", "-1"] {
            let e = load(
                &format!("{HEAD}targets = [\"tcp\"]\nnodes = {bad}\n"),
                &Overrides::default(),
            )
            .unwrap_err();
            assert!(
                e.starts_with("c.toml:6: key 'nodes': must be a whole number"),
                "{e}"
            );
        }
        let e = load(
            &format!("{HEAD}targets = [\"tcp=127.0.0.1:9\"]\n"),
            &Overrides {
                nodes: Some(3),
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(
            e.contains("--nodes") && e.contains("run by someone else"),
            "{e}"
        );
        // one node of an external target is just the target
        let ok = load(
            &format!("{HEAD}targets = [\"tcp=127.0.0.1:9\"]\nnodes = 1\n"),
            &Overrides::default(),
        );
        assert!(ok.is_ok(), "{ok:?}");
    }
}
