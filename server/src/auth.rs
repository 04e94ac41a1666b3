//! Bearer-token authentication shared by every gRPC service of the server (Flight SQL and
//! admin): the `authorization: Bearer <token>` header, resolved by governance to a verified
//! [`Principal`]. Each service then decides which roles it serves.

use shuyu_governance::{Principal, Store};
use tonic::metadata::MetadataMap;

use crate::offload::store_call;
use crate::Error;

/// The token of an `authorization: Bearer <token>` header.
pub fn bearer_token(md: &MetadataMap) -> Result<String, Error> {
    let missing = || {
        Error::Unauthenticated(
            "send the header `authorization: Bearer <token>` with the token the bureau issued (or use the Flight handshake)".into(),
        )
    };
    let value = md.get("authorization").ok_or_else(missing)?;
    let text = value.to_str().map_err(|_| Error::Unauthenticated("the authorization header is not readable text".into()))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim().to_string()),
        _ => Err(missing()),
    }
}

/// Verifies the call's bearer token with governance (on the blocking pool): the person, of
/// any role. Unknown, expired and revoked tokens fail as unauthenticated; a valid token of
/// a suspended or revoked unit as refused.
pub async fn principal(store: &Store, md: &MetadataMap) -> Result<Principal, Error> {
    let token = bearer_token(md)?;
    store_call(store, move |s| s.authenticate(&token)).await
}

/// Call metadata from header pairs (unit tests of the services).
#[cfg(test)]
pub(crate) fn test_metadata(pairs: &[(&'static str, &str)]) -> MetadataMap {
    let mut m = MetadataMap::new();
    for (k, v) in pairs {
        m.insert(*k, tonic::metadata::MetadataValue::try_from(*v).expect("ascii"));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::test_metadata as md;
    use super::*;

    #[test]
    fn bearer_tokens_are_read_and_other_schemes_refused() {
        assert_eq!(bearer_token(&md(&[("authorization", "Bearer abc")])).expect("token"), "abc");
        assert_eq!(bearer_token(&md(&[("authorization", "bearer  abc ")])).expect("token"), "abc");
        assert!(matches!(bearer_token(&md(&[("authorization", "Basic abc")])), Err(Error::Unauthenticated(_))));
        assert!(matches!(bearer_token(&md(&[("authorization", "Bearer ")])), Err(Error::Unauthenticated(_))));
        assert!(matches!(bearer_token(&md(&[])), Err(Error::Unauthenticated(_))));
    }
}
