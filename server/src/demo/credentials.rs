//! `DIR/credentials.json`: what the demo issued, for the people who try it — the bound
//! addresses (`flight_sql_uri`, `console_url`), the bureau's token, each unit's analyst
//! token and authorization, and every demo person's console sign-in. Written with mode
//! 0600 and replaced atomically, so a reader never sees it half written.

use std::path::Path;

use serde_json::json;

use super::workflow::Walk;
use super::DemoDomain;
use crate::Error;

/// The addresses the demo serves on (none with `--no-serve`).
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    /// `grpc://host:port` of Arrow Flight SQL and the admin service.
    pub flight_sql_uri: Option<String>,
    /// `http://host:port/console/` of the web console.
    pub console_url: Option<String>,
}

/// Writes `DIR/credentials.json`.
pub fn write(data_dir: &Path, domain: &DemoDomain, walk: &Walk, served: &Addresses) -> Result<(), Error> {
    let mut units: Vec<_> = domain
        .units
        .iter()
        .map(|u| json!({ "unit": u.name, "authorization": u.authorization.0.to_string(), "analyst_token": u.token }))
        .collect();
    let walked = walk.sign_ins.iter().find(|s| s.unit.as_deref() == Some(walk.unit_name));
    if let Some(analyst) = walked {
        units.push(json!({ "unit": walk.unit_name, "authorization": walk.granted.0.to_string(), "analyst_token": analyst.token }));
    }
    let mut sign_ins = vec![json!({ "name": "bureau", "role": "bureau_admin", "unit": null, "token": domain.bureau_token })];
    sign_ins.extend(domain.units.iter().map(|u| json!({ "name": u.name, "role": "unit_analyst", "unit": u.name, "token": u.token })));
    sign_ins.extend(walk.sign_ins.iter().map(|s| json!({ "name": s.name, "role": s.role.as_str(), "unit": s.unit, "token": s.token })));
    let cred = json!({
        "flight_sql_uri": served.flight_sql_uri,
        "console_url": served.console_url,
        "bureau_token": domain.bureau_token,
        "units": units,
        "console_sign_ins": sign_ins,
    });
    let text = serde_json::to_string_pretty(&cred).map_err(|e| Error::Internal(format!("credentials: {e}")))?;
    let path = data_dir.join("credentials.json");
    let tmp = data_dir.join("credentials.json.tmp");
    write_secret(&tmp, &text).map_err(Error::io("writing credentials.json"))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("writing credentials.json"))?;
    println!("== credentials (file mode 0600): {}", path.display());
    Ok(())
}

fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(path)?;
    f.write_all(text.as_bytes())
}
