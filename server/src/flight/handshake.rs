//! The Flight handshake, for clients that authenticate with a user name and password:
//! `authorization: Basic base64(any-name:TOKEN)` is answered with `authorization: Bearer
//! TOKEN` (and the token as payload), which the client then sends on every call. A Bearer
//! header is accepted too. The token is checked against the store either way.

use std::pin::Pin;

use arrow_flight::HandshakeResponse;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::Stream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Response, Status};

use crate::flight::caller::bearer_token;
use crate::offload::store_call;
use shuyu_runtime::Runtime;
use crate::Error;

/// The handshake's response stream.
pub type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

/// Verifies the credential in `md` and answers with the bearer token.
pub async fn handshake(runtime: &Runtime, md: &MetadataMap) -> Result<Response<HandshakeStream>, Error> {
    let token = match basic_password(md)? {
        Some(password) => password,
        None => bearer_token(md)?,
    };
    let checked = token.clone();
    store_call(runtime.store(), move |s| s.authenticate(&checked)).await?;
    let header = MetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|_| Error::Unauthenticated("the token contains characters a header cannot carry".into()))?;
    let payload = HandshakeResponse { protocol_version: 0, payload: token.into_bytes().into() };
    let mut response: Response<HandshakeStream> = Response::new(Box::pin(futures::stream::iter([Ok(payload)])));
    response.metadata_mut().insert("authorization", header);
    Ok(response)
}

/// The password of an `authorization: Basic …` header, if that is the scheme used.
fn basic_password(md: &MetadataMap) -> Result<Option<String>, Error> {
    let Some(value) = md.get("authorization") else { return Ok(None) };
    let text = value.to_str().map_err(|_| Error::Unauthenticated("the authorization header is not readable text".into()))?;
    let Some((scheme, encoded)) = text.split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || Error::Unauthenticated("the Basic credential must be base64 of `name:token`".into());
    let bytes = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (_, password) = text.split_once(':').ok_or_else(bad)?;
    if password.is_empty() {
        return Err(bad());
    }
    Ok(Some(password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_yield_the_password_as_token() {
        let mut md = MetadataMap::new();
        let value = format!("Basic {}", STANDARD.encode("anyone:tok-123"));
        md.insert("authorization", MetadataValue::try_from(value).expect("ascii"));
        assert_eq!(basic_password(&md).expect("decodes"), Some("tok-123".to_string()));
        md.insert("authorization", MetadataValue::from_static("Basic !!!"));
        assert!(matches!(basic_password(&md), Err(Error::Unauthenticated(_))));
        md.insert("authorization", MetadataValue::from_static("Bearer x"));
        assert_eq!(basic_password(&md).expect("not basic"), None);
    }
}
