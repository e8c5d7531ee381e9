//! `server_cpus` (or `--server-cpus`, which replaces it): the CPU budget of the servers a
//! run starts, in CPUs. Checked once per file: a number > 0, at most the CPUs this machine
//! has, and only with targets the run starts (a server someone else runs cannot be given a
//! quota from here). Enforcing it (a CFS quota on the server's cgroup) is the load
//! generator's business.

use crate::error::{Origin, ScenarioError};
use crate::overrides::{Overrides, flag};
use crate::raw::RawFile;
use crate::sweep::Val;
use crate::target::TargetSpec;

/// The validated budget, or `None` when neither the flag nor the file sets one.
pub(crate) fn server_cpus(
    text: &str,
    file: &str,
    raw: &RawFile,
    ov: &Overrides,
    targets: &[String],
) -> Result<Option<f64>, ScenarioError> {
    let given = match (ov.server_cpus, &raw.server_cpus) {
        (Some(v), _) => Val {
            v,
            at: Origin::Flag(flag::SERVER_CPUS),
        },
        (None, Some(s)) => Val::file(text, "server_cpus", s),
        (None, None) => return Ok(None),
    };
    let cpus = machine_cpus();
    if !(given.v.is_finite() && given.v > 0.0 && given.v <= cpus as f64) {
        let msg = format!(
            "must be a number of CPUs > 0 and <= {cpus} (this machine's CPUs) (got {})",
            given.v
        );
        return Err(given.at.error(file, msg));
    }
    let external = targets
        .iter()
        .find(|t| TargetSpec::parse(t).is_ok_and(|s| !s.spawns_server()));
    if let Some(t) = external {
        let msg = format!(
            "needs a server the run starts, but target '{t}' is run by someone else \
             (give it its CPU budget where it runs, or drop the budget)"
        );
        return Err(given.at.error(file, msg));
    }
    Ok(Some(given.v))
}

/// The CPUs this process may use (the whole machine unless something restricts it).
fn machine_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use crate::Overrides;

    const TARGETS: &str = "targets = [\"tcp\"]\n";

    fn load(text: &str, ov: &Overrides) -> Result<Option<f64>, String> {
        crate::parse(text, "b.toml", ov)
            .map(|points| points[0].server_cpus)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_key_is_read_and_the_flag_replaces_it() {
        let text = format!("workload = \"echo\"\nclients = 2\nrate = 10\n{TARGETS}");
        assert_eq!(load(&text, &Overrides::default()), Ok(None));
        let with_key = format!("{text}server_cpus = 0.5\n");
        assert_eq!(load(&with_key, &Overrides::default()), Ok(Some(0.5)));
        let flag = Overrides {
            server_cpus: Some(0.25),
            ..Overrides::default()
        };
        assert_eq!(load(&with_key, &flag), Ok(Some(0.25)));
        // an integer is a number of CPUs too
        assert_eq!(
            load(&format!("{text}server_cpus = 1\n"), &Overrides::default()),
            Ok(Some(1.0))
        );
    }

    #[test]
    fn a_bad_budget_names_file_line_and_key_or_the_flag() {
        let text = format!("workload = \"echo\"\nclients = 2\nrate = 10\n{TARGETS}");
        for bad in ["0", "-1", "100000"] {
            let e = load(
                &format!("{text}server_cpus = {bad}\n"),
                &Overrides::default(),
            )
            .unwrap_err();
            assert!(
                e.starts_with("b.toml:5: key 'server_cpus': must be a number of CPUs > 0"),
                "{e}"
            );
        }
        let e = load(
            &format!("{text}server_cpus = \"half\"\n"),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.starts_with("b.toml:5: key 'server_cpus'"), "{e}");
        let flag = Overrides {
            server_cpus: Some(0.0),
            ..Overrides::default()
        };
        let e = load(&text, &flag).unwrap_err();
        assert!(e.starts_with("--server-cpus: must be"), "{e}");
    }

    #[test]
    fn a_budget_needs_a_server_the_run_starts() {
        let text = "workload = \"echo\"\nclients = 2\nrate = 10\n\
                    targets = [\"tcp\", \"tcp=127.0.0.1:9\"]\nserver_cpus = 0.5\n";
        let e = load(text, &Overrides::default()).unwrap_err();
        assert!(
            e.starts_with("b.toml:5: key 'server_cpus': needs a server the run starts")
                && e.contains("tcp=127.0.0.1:9"),
            "{e}"
        );
        let flag = Overrides {
            targets: Some(vec!["ws=ws://127.0.0.1:9/ws".into()]),
            server_cpus: Some(0.5),
            ..Overrides::default()
        };
        let e = load("workload = \"echo\"\nclients = 2\nrate = 10\n", &flag).unwrap_err();
        assert!(
            e.starts_with("--server-cpus: needs a server the run starts"),
            "{e}"
        );
    }
}
