//! The production-feature keys of a scenario (docs/scenarios.md): `jwt` (sweepable: which
//! tokens the clients present to servers started with `--jwt-secret`) and `rate_limit`
//! (the `--rate-limit N/s` of every server the run starts).

use crate::error::ScenarioError;
use crate::raw::RawFile;
use crate::sweep::Val;

/// What the clients present at the handshake (`jwt = "off" | "valid" | "bad"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JwtTokens {
    /// No JWT: servers run without `--jwt-secret`, clients send no token.
    #[default]
    Off,
    /// Servers run with `--jwt-secret`; each client presents a token the generator minted.
    Valid,
    /// Servers run with `--jwt-secret`; each client presents a token signed with another
    /// secret, so every connect must fail (counted in `connect_errors`).
    Bad,
}

impl JwtTokens {
    pub const ALL: [JwtTokens; 3] = [JwtTokens::Off, JwtTokens::Valid, JwtTokens::Bad];
    pub fn name(self) -> &'static str {
        match self {
            JwtTokens::Off => "off",
            JwtTokens::Valid => "valid",
            JwtTokens::Bad => "bad",
        }
    }
    pub fn from_name(name: &str) -> Option<JwtTokens> {
        JwtTokens::ALL.into_iter().find(|j| j.name() == name)
    }
}

/// The production features one scenario point runs with (all off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Production {
    /// `jwt`: the tokens clients present.
    pub jwt: JwtTokens,
    /// `rate_limit`: requests per second per connection the servers allow.
    pub rate_limit: Option<u32>,
    /// `namespaces`: how many namespaces every client follows (`crate::features`); `None`
    /// when the key is not set (a plain broadcast).
    pub namespaces: Option<u32>,
    /// `over_limit`: extra clients that each send at twice `rate_limit`.
    pub over_limit: u32,
    /// `cors = "preflight"`: long-polling clients send `Origin` and a preflight per POST.
    pub cors_preflight: bool,
}

/// `jwt` of one point: a known name, and only where every target has an HTTP handshake.
pub(crate) fn jwt(
    file: &str,
    v: Option<&Val<String>>,
    targets: &[String],
    workload: crate::model::WorkloadKind,
) -> Result<JwtTokens, ScenarioError> {
    let Some(v) = v else {
        return Ok(JwtTokens::Off);
    };
    let names = JwtTokens::ALL.map(JwtTokens::name).join(", ");
    let tokens = JwtTokens::from_name(&v.v).ok_or_else(|| {
        v.at.error(
            file,
            format!("unknown value '{}' (expected one of: {names})", v.v),
        )
    })?;
    if tokens != JwtTokens::Off && workload == crate::model::WorkloadKind::PollingVsPush {
        let msg = "polling-vs-push viewers do not present tokens: set jwt = \"off\"";
        return Err(v.at.error(file, msg));
    }
    if tokens != JwtTokens::Off && targets.iter().any(|t| is_tcp(t)) {
        let msg =
            "the tcp targets have no handshake to carry a token: drop them or set jwt = \"off\"";
        return Err(v.at.error(file, msg));
    }
    Ok(tokens)
}

fn is_tcp(target: &str) -> bool {
    target == "tcp" || target.starts_with("tcp=")
}

/// `rate_limit` (a whole number of requests per second, >= 1).
pub(crate) fn rate_limit(
    text: &str,
    file: &str,
    raw: &RawFile,
) -> Result<Option<u32>, ScenarioError> {
    let Some(r) = &raw.rate_limit else {
        return Ok(None);
    };
    let v = Val::file(text, "rate_limit", r);
    match u32::try_from(v.v) {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(v.at.error(
            file,
            format!(
                "must be a whole number of requests per second >= 1 (got {})",
                v.v
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Overrides, parse};

    fn load(extra: &str, targets: &str) -> Result<Vec<crate::Scenario>, ScenarioError> {
        let text = format!("workload = \"connect\"\ntargets = [{targets}]\nclients = 10\n{extra}");
        parse(&text, "t.toml", &Overrides::default())
    }

    #[test]
    fn jwt_sweeps_and_rate_limit_applies_to_every_point() {
        let points = load(
            "rate_limit = 50\n[sweep]\njwt = [\"off\", \"valid\", \"bad\"]\n",
            "\"ws-tungstenite\"",
        )
        .unwrap();
        let got: Vec<_> = points.iter().map(|s| s.production).collect();
        let want: Vec<_> = JwtTokens::ALL
            .into_iter()
            .map(|jwt| Production {
                jwt,
                rate_limit: Some(50),
                ..Production::default()
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(points[2].sweep_label(), "jwt=bad");
        let off = load("", "\"ws-tungstenite\"").unwrap();
        assert_eq!(off[0].production, Production::default());
    }

    #[test]
    fn bad_values_name_the_line_and_key() {
        let e = load("jwt = \"maybe\"\n", "\"ws-tungstenite\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.toml:4") && e.contains("jwt") && e.contains("valid"),
            "{e}"
        );
        let e = load("jwt = \"valid\"\n", "\"tcp\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tcp"), "{e}");
        let text = "workload = \"polling-vs-push\"\ntargets = [\"ws-tungstenite\", \"sio-socketioxide\"]\nclients = 5\njwt = \"valid\"\n[polling]\npoll_interval_ms = 100\nupdate_rate = 1\n";
        let e = parse(text, "t.toml", &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("polling-vs-push"), "{e}");
        let e = load("rate_limit = 0\n", "\"tcp\"").unwrap_err().to_string();
        assert!(e.contains("t.toml:4") && e.contains("rate_limit"), "{e}");
    }
}
