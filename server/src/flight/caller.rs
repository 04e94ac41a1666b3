//! Who is calling, from the call's headers: the bearer token (`authorization: Bearer …`),
//! the authorization it acts under (`x-shuyu-authorization`), the environment
//! (`x-shuyu-environment`) and an optional per-query budget (`x-shuyu-budget`).

use shuyu_governance::{AuthorizationId, AuthorizationStatus, Environment, Principal, Role};
use tonic::metadata::MetadataMap;

use crate::offload::store_call;
use shuyu_runtime::{Call, Runtime};
use crate::Error;

/// Header naming the authorization (scenario) a call acts under: `7` or `authorization 7`.
pub const AUTHORIZATION_HEADER: &str = "x-shuyu-authorization";
/// Header choosing the environment: `prod` (default) or `dev`.
pub const ENVIRONMENT_HEADER: &str = "x-shuyu-environment";
/// Header setting what one query may spend (epsilon or rho), below the authorization's cap.
pub const BUDGET_HEADER: &str = "x-shuyu-budget";

/// An authenticated analyst acting under one of its unit's authorizations.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The verified person.
    pub principal: Principal,
    /// The authorization the call acts under.
    pub authorization: AuthorizationId,
    /// The environment asked for (prod unless `x-shuyu-environment: dev`).
    pub environment: Environment,
}

impl Caller {
    /// The runtime's call of this caller, spending `amount` (default when `None`).
    pub fn call(&self, amount: Option<f64>) -> Call {
        Call { principal: self.principal.clone(), authorization: self.authorization, environment: self.environment, amount }
    }
}

pub use crate::auth::bearer_token;

/// Verifies the bearer token; only operating units' analysts may use Flight SQL.
pub async fn authenticate(runtime: &Runtime, md: &MetadataMap) -> Result<Principal, Error> {
    let p = crate::auth::principal(runtime.store(), md).await?;
    if p.role != Role::UnitAnalyst {
        return Err(Error::Denied(
            "Flight SQL serves the analysts of operating units; the bureau and supervisors use the admin tools".into(),
        ));
    }
    Ok(p)
}

/// Authenticates the call and picks its authorization and environment.
pub async fn resolve(runtime: &Runtime, md: &MetadataMap) -> Result<Caller, Error> {
    let principal = authenticate(runtime, md).await?;
    let environment = environment(md)?;
    let authorization = match header(md, AUTHORIZATION_HEADER)? {
        Some(text) => parse_authorization(&text)?,
        None => only_active_authorization(runtime, &principal).await?,
    };
    Ok(Caller { principal, authorization, environment })
}

/// The per-query budget asked for in `x-shuyu-budget`, if any.
pub fn budget_override(md: &MetadataMap) -> Result<Option<f64>, Error> {
    match header(md, BUDGET_HEADER)? {
        None => Ok(None),
        Some(text) => match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(Some(v)),
            _ => Err(Error::Usage(format!("{BUDGET_HEADER} must be a positive number (epsilon or rho of one query)"))),
        },
    }
}

/// The environment the call asks for: prod (default) or dev.
fn environment(md: &MetadataMap) -> Result<Environment, Error> {
    match header(md, ENVIRONMENT_HEADER)?.as_deref().map(str::trim) {
        None | Some("prod") => Ok(Environment::Prod),
        Some("dev") => Ok(Environment::Dev),
        Some(_) => Err(Error::Usage(format!("{ENVIRONMENT_HEADER} must be `prod` or `dev`"))),
    }
}

fn header(md: &MetadataMap, name: &str) -> Result<Option<String>, Error> {
    md.get(name)
        .map(|v| v.to_str().map(str::to_string).map_err(|_| Error::Usage(format!("the header {name} is not readable text"))))
        .transpose()
}

/// Parses `7` or `authorization 7`.
pub fn parse_authorization(text: &str) -> Result<AuthorizationId, Error> {
    let t = text.trim();
    let digits = t.strip_prefix("authorization").map(str::trim).unwrap_or(t);
    digits.parse::<i64>().map(AuthorizationId).map_err(|_| {
        Error::Usage(format!("{AUTHORIZATION_HEADER} must be an authorization id such as `7` (see credentials.json or ask the bureau)"))
    })
}

/// The caller's only active authorization; several must be chosen between by header.
async fn only_active_authorization(runtime: &Runtime, p: &Principal) -> Result<AuthorizationId, Error> {
    let caller = p.clone();
    let all = store_call(runtime.store(), move |s| s.authorizations(&caller, None)).await?;
    let active: Vec<AuthorizationId> = all.iter().filter(|a| a.status == AuthorizationStatus::Active).map(|a| a.id).collect();
    match active.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Denied("your unit holds no active authorization; ask the bureau for one".into())),
        many => Err(Error::Usage(format!(
            "your unit holds {} active authorizations ({}); name one in the header {AUTHORIZATION_HEADER}",
            many.len(),
            many.iter().map(|a| a.0.to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_metadata as md;

    #[test]
    fn authorization_ids_parse_in_both_spellings() {
        assert_eq!(parse_authorization("7").expect("id"), AuthorizationId(7));
        assert_eq!(parse_authorization("authorization 12").expect("id"), AuthorizationId(12));
        assert!(matches!(parse_authorization("seven"), Err(Error::Usage(_))));
    }

    #[test]
    fn environments_parse_and_budget_must_be_positive() {
        assert_eq!(environment(&md(&[])).expect("default"), Environment::Prod);
        assert_eq!(environment(&md(&[("x-shuyu-environment", "prod")])).expect("prod"), Environment::Prod);
        assert_eq!(environment(&md(&[("x-shuyu-environment", "dev")])).expect("dev"), Environment::Dev);
        assert!(matches!(environment(&md(&[("x-shuyu-environment", "staging")])), Err(Error::Usage(_))));
        assert_eq!(budget_override(&md(&[("x-shuyu-budget", "0.25")])).expect("budget"), Some(0.25));
        assert!(budget_override(&md(&[("x-shuyu-budget", "-1")])).is_err());
    }
}
