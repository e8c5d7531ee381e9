//! `wsbench capacity` through the real CLI against the built-in `tcp` server (a child on
//! 127.0.0.1:0): an SLO no load can meet gives capacity 0 limited by `slo`; a generous SLO
//! with a low --max gives `max` at the max (under a CPU budget where the machine allows
//! one); Ctrl-C keeps what is known, marked partial, and exits 130; a bad SLO, a rateless
//! scenario and a swept one exit 2 with what to do. Steps are short (2 s measure) and slow
//! (0.5 to 2 msgs/s from one client: a send may leave up to 50 ms late before the step
//! counts as load-generator bound), so no step is bound on a busy shared machine.

mod budget_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use budget_support::{budget_unavailable, text};
use wsbench_report::Meta;
use wsbench_report::capacity::{self, LimitedBy};

const BIN: &str = env!("CARGO_BIN_EXE_wsbench");

const SLOW_ECHO: &str = "workload = \"echo\"\nclients = 1\nrate = 0.5\ntargets = [\"tcp\"]\n\
                         [phases]\nwarmup_s = 0.2\nmeasure_s = 2\ndrain_s = 0.3\n";

fn scenario(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("cap.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn capacity(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("capacity")
        .arg(scenario)
        .args(["--no-progress", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn an_slo_no_load_can_meet_gives_capacity_zero_limited_by_slo() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), SLOW_ECHO);
    let out = dir.path().join("out");
    let res = capacity(&file, &out, &["--slo", "p99<=1us"]);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));

    let text_csv = std::fs::read_to_string(out.join("capacity.csv")).unwrap();
    assert!(
        text_csv.starts_with("target,capacity,unit,slo,limited_by,"),
        "{text_csv}"
    );
    let caps = capacity::read(&out.join("capacity.csv")).unwrap();
    assert_eq!(caps.len(), 1, "{text_csv}");
    let c = &caps[0];
    assert_eq!(c.target, "tcp");
    assert_eq!(c.capacity, 0.0);
    assert_eq!(c.limited_by, Some(LimitedBy::Slo), "{c:?}");
    assert_eq!((c.unit.as_str(), c.slo.as_str()), ("msgs/s", "p99<=1us"));
    assert_eq!((c.steps, c.failed_at, c.partial), (1, Some(0.5), false));
    assert!(c.note.contains("first step failed"), "{c:?}");
    // the step is an ordinary row, and the terminal says capacity 0 and why
    let rows = wsbench_report::csv::read(&out.join("summary.csv")).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].sweep.as_str(), rows[0].lost), ("rate=0.5", 0));
    let t = text(&res);
    assert!(
        t.contains("capacity tcp rate=0.5: p99 ") && t.contains("fail (slo: p99 "),
        "{t}"
    );
    assert!(
        t.contains("capacity 0: the first step (0.5 msgs/s) already failed"),
        "{t}"
    );
}

/// Whether budgets can be applied here; prints why not (panics under
/// `WSBENCH_REQUIRE_SERVICES`).
fn budgets_work(test: &str) -> bool {
    match budget_unavailable(test) {
        None => true,
        Some(e) => {
            println!("skipped the budget: {test}: {e}");
            false
        }
    }
}

#[test]
fn a_generous_slo_with_a_low_max_gives_the_max() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), SLOW_ECHO);
    let out = dir.path().join("out");
    let budget = budgets_work("a_generous_slo_with_a_low_max_gives_the_max");
    let mut args = vec!["--slo", "p50<=2s,p99<=5s", "--max", "2"];
    if budget {
        args.extend(["--server-cpus", "0.5"]);
    }
    let res = capacity(&file, &out, &args);
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));

    let caps = capacity::read(&out.join("capacity.csv")).unwrap();
    assert_eq!(caps.len(), 1, "{}", text(&res));
    let c = &caps[0];
    assert_eq!(
        (c.capacity, c.limited_by),
        (2.0, Some(LimitedBy::Max)),
        "{c:?}\n{}",
        text(&res)
    );
    assert_eq!((c.steps, c.failed_at), (3, None));
    assert!(c.p99_at_capacity_us.is_some_and(|p| p > 0), "{c:?}");
    // every step is a row of summary.csv with its .hgrm, doubling from the file's rate
    let rows = wsbench_report::csv::read(&out.join("summary.csv")).unwrap();
    let sweeps: Vec<&str> = rows.iter().map(|r| r.sweep.as_str()).collect();
    assert_eq!(sweeps, ["rate=0.5", "rate=1", "rate=2"]);
    for r in &rows {
        assert_eq!(r.rate, r.sweep[5..].parse::<f64>().unwrap());
        assert!(
            out.join(wsbench_report::hgrm_file_name(r)).exists(),
            "{r:?}"
        );
    }
    // meta.json records the SLO and every step; the plot is drawn
    let meta = Meta::read(&out.join("meta.json")).unwrap();
    let search = meta.capacity.expect("meta.json records the search");
    assert_eq!(
        (search.slo.as_str(), search.by.as_str()),
        ("p50<=2s,p99<=5s", "rate")
    );
    assert_eq!(
        (search.start, search.max, search.precision),
        (0.5, 2.0, 0.1)
    );
    let loads: Vec<(f64, bool)> = search.steps.iter().map(|s| (s.load, s.pass)).collect();
    assert_eq!(loads, [(0.5, true), (1.0, true), (2.0, true)]);
    let svg = std::fs::read_to_string(out.join("plots/capacity-tcp.svg")).unwrap();
    assert!(svg.contains("capacity 2 msgs/s"), "the capacity is marked");
    assert!(
        svg.contains("SLO p50&lt;=2s,p99&lt;=5s"),
        "the SLO is drawn"
    );
    if budget {
        assert_eq!(c.server_cpus, Some(0.5));
        assert_eq!(meta.server_cpu_budget.map(|b| b.server_cpus), Some(0.5));
        assert!(rows.iter().all(|r| r.server_throttled_ms.is_some()));
    }
    // `wsbench report` redraws the plot from the files alone
    std::fs::remove_dir_all(out.join("plots")).unwrap();
    let r = Command::new(BIN).arg("report").arg(&out).output().unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert!(out.join("plots/capacity-tcp.svg").exists());
    let spectra = std::fs::read_dir(out.join("plots"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("spectrum-")
        })
        .count();
    assert_eq!(spectra, 0, "no per-step spectra in a capacity run");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Capacity") && md.contains("plots/capacity-tcp.svg"),
        "{md}"
    );
}

#[test]
fn sigint_keeps_what_is_known_marked_partial_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), SLOW_ECHO);
    let out = dir.path().join("out");
    let mut child = Command::new(BIN)
        .arg("capacity")
        .arg(&file)
        .args([
            "--no-progress",
            "--slo",
            "p99<=5s",
            "--max",
            "100000",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("capacity tcp rate=0.5:") {
                let _ = tx.send(line);
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(60));
    let Ok(first) = first else {
        child.kill().ok();
        panic!("no step line within 60 s");
    };
    assert!(first.ends_with("-> pass"), "{first}");
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut status = None;
    for _ in 0..400 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        // no event to wait on for another process's exit short of a SIGCHLD handler
        std::thread::park_timeout(Duration::from_millis(50));
    }
    let Some(status) = status else {
        child.kill().ok();
        panic!("wsbench capacity did not stop within 20 s of SIGINT");
    };
    assert_eq!(status.code(), Some(130));
    let caps = capacity::read(&out.join("capacity.csv")).unwrap();
    assert_eq!(caps.len(), 1);
    let c = &caps[0];
    assert!(c.partial && c.limited_by.is_none(), "{c:?}");
    assert!(c.capacity >= 0.5, "the first step passed: {c:?}");
    assert!(c.note.contains("interrupted"), "{c:?}");
    let meta = Meta::read(&out.join("meta.json")).unwrap();
    assert!(meta.interrupted);
    assert!(
        !wsbench_report::csv::read(&out.join("summary.csv"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn usage_errors_exit_2_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), SLOW_ECHO);
    let out = dir.path().join("never");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--slo", "p98<=5ms"],
            "--slo: SLO \"p98<=5ms\": \"p98<=5ms\": unknown statistic \"p98\"",
        ),
        (&["--slo", "p99<50ms"], "\"p99<50ms\": no `<=`"),
        (&["--slo", "p99<=50"], "no unit after the number"),
        (&["--slo", "p99<=5ms", "--precision", "0"], "--precision"),
    ];
    for (args, want) in cases {
        let res = capacity(&file, &out, args);
        assert_eq!(res.status.code(), Some(2), "{args:?}: {}", text(&res));
        assert!(text(&res).contains(want), "{args:?}: {}", text(&res));
    }
    // a budget on a server someone else runs is refused, as `run` refuses it
    let res = capacity(
        &file,
        &out,
        &[
            "--slo",
            "p99<=5ms",
            "--targets",
            "tcp=127.0.0.1:9",
            "--server-cpus",
            "0.5",
        ],
    );
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(
        text(&res).contains("--server-cpus: needs a server the run starts"),
        "{}",
        text(&res)
    );
    // a closed-loop (ping-pong) scenario has no rate to step
    let closed = dir.path().join("closed.toml");
    std::fs::write(
        &closed,
        "workload = \"echo\"\nmode = \"closed\"\nclients = 2\ntargets = [\"tcp\"]\n",
    )
    .unwrap();
    let res = capacity(&closed, &out, &["--slo", "p99<=5ms"]);
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    let t = text(&res);
    assert!(
        t.contains("closed loop") && t.contains("--by clients"),
        "{t}"
    );
    // a sweep is refused: the search does the stepping
    let swept = dir.path().join("swept.toml");
    std::fs::write(
        &swept,
        "workload = \"echo\"\nclients = 2\ntargets = [\"tcp\"]\n[sweep]\nrate = [10, 20]\n",
    )
    .unwrap();
    let res = capacity(&swept, &out, &["--slo", "p99<=5ms"]);
    assert_eq!(res.status.code(), Some(2), "{}", text(&res));
    assert!(text(&res).contains("needs one point"), "{}", text(&res));
    assert!(!out.exists(), "nothing ran");
}

#[test]
fn the_capacity_scenarios_are_one_searchable_point_each() {
    use wsbench_loadgen::capacity::{By, check_searchable};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    for name in ["capacity-echo", "capacity-broadcast", "capacity-rooms"] {
        let path = dir.join(format!("{name}.toml"));
        let points = wsbench_scenario::load(&path, &Default::default()).unwrap();
        assert_eq!(points.len(), 1, "{name}: one point, no sweep");
        check_searchable(&points[0], By::Rate).unwrap_or_else(|e| panic!("{e}"));
        let targets: Vec<&str> = points[0].targets.iter().map(String::as_str).collect();
        assert_eq!(
            targets,
            [
                "tcp",
                "ws-tungstenite",
                "ws-fastwebsockets",
                "sio-socketioxide",
                "node-ws",
                "node-socketio"
            ],
            "{name}: the headline's targets"
        );
    }
}

#[test]
fn by_clients_steps_the_connections_at_the_files_rate() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "workload = \"broadcast\"\nclients = 2\npublishers = 1\nrate = 0.5\n\
         targets = [\"tcp\"]\n[phases]\nwarmup_s = 0.2\nmeasure_s = 2\ndrain_s = 0.3\n",
    );
    let out = dir.path().join("out");
    let res = capacity(
        &file,
        &out,
        &["--slo", "p99<=5s", "--by", "clients", "--max", "8"],
    );
    assert_eq!(res.status.code(), Some(0), "{}", text(&res));
    let caps = capacity::read(&out.join("capacity.csv")).unwrap();
    let c = &caps[0];
    assert_eq!(
        (c.capacity, c.unit.as_str(), c.limited_by),
        (8.0, "clients", Some(LimitedBy::Max)),
        "{c:?}\n{}",
        text(&res)
    );
    let rows = wsbench_report::csv::read(&out.join("summary.csv")).unwrap();
    let got: Vec<(&str, u64, u64, f64)> = rows
        .iter()
        .map(|r| (r.sweep.as_str(), r.clients, r.publishers, r.rate))
        .collect();
    assert_eq!(
        got,
        [
            ("clients=2", 2, 1, 0.5),
            ("clients=4", 4, 1, 0.5),
            ("clients=8", 8, 1, 0.5)
        ]
    );
    // every client receives every broadcast: the load really grew with the clients
    assert!(
        rows.iter()
            .all(|r| r.lost == 0 && r.expected == r.sent * r.clients)
    );
}
