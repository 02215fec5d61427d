//! What a request says besides its body: trace id, idempotency key, credentials.
//!
//! Every [`Service`](crate::Service) method receives a [`RequestMeta`]. The router fills it
//! from headers:
//! - `X-Trace-Id`: 1 to 16 hex digits, not zero. A malformed value is refused (400,
//!   `bad-header`): it is our own header, so a typo should not go unnoticed.
//! - `traceparent` (W3C Trace Context, §3.2): the trace id is the **low 64 bits of the 128-bit
//!   trace-id**, i.e. its last 16 hex digits. A malformed `traceparent` is ignored, as Trace
//!   Context §3.2.2.3 asks of a receiver (the request is then simply not traced by it); so is
//!   one whose low 64 bits are zero.
//! - If both are present, `X-Trace-Id` wins. If neither is, `trace_id` is `None` and the
//!   service picks one.
//! - `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): 1 to 255 visible ASCII
//!   characters, bare or as a quoted structured-field string. Malformed: 400.
//! - `Authorization: Bearer <token>`; any other form is 400.

use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::auth::{Principal, Right};
use crate::error::ApiError;
use crate::types::TraceId;

/// Header carrying our own 64-bit trace id.
pub const X_TRACE_ID: &str = "x-trace-id";
/// W3C Trace Context header.
pub const TRACEPARENT: &str = "traceparent";
/// Idempotency key header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The per-request facts a [`Service`](crate::Service) method may use besides its arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestMeta {
    /// The trace id the client chose, if any (see the module docs for the header mapping).
    pub trace_id: Option<TraceId>,
    /// The client's idempotency key, if any: a retry with the same key must get the first
    /// result and allocate nothing new.
    pub idempotency_key: Option<String>,
    /// The bearer token, if any.
    pub bearer: Option<BearerToken>,
    /// Who the token belongs to, when the router authenticated it (`None` without tokens
    /// configured, or on an open route without a token).
    pub principal: Option<Arc<Principal>>,
}

impl RequestMeta {
    /// Meta with nothing set (for calls that do not come over HTTP).
    pub fn new() -> Self {
        Self::default()
    }

    /// With this trace id.
    pub fn with_trace_id(mut self, trace_id: TraceId) -> Self {
        self.trace_id = Some(trace_id);
        self
    }

    /// With this idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// With this bearer token.
    pub fn with_bearer(mut self, token: BearerToken) -> Self {
        self.bearer = Some(token);
        self
    }

    /// `Ok` when the request may use `group` with `right`: always without authentication,
    /// else when the principal has both (the 403 names what is missing). For resources that
    /// are not addressed by group name (a subset by address, a claim by id), the service
    /// calls this with the resource's group.
    pub fn authorize(&self, right: Option<Right>, group: &str) -> Result<(), ApiError> {
        match &self.principal {
            None => Ok(()),
            Some(p) => p.check(right, Some(group)),
        }
    }

    /// Reads the meta from request headers (the rules are in the module docs).
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let trace_id = match single(headers, X_TRACE_ID)? {
            Some(value) => Some(value.parse::<TraceId>().map_err(|e| ApiError::BadHeader {
                header: X_TRACE_ID.to_owned(),
                reason: format!("{e}; expected 1 to 16 hex digits, not zero"),
            })?),
            // Trace Context: an unusable traceparent is dropped, never an error.
            None => single(headers, TRACEPARENT)
                .ok()
                .flatten()
                .and_then(trace_id_from_traceparent),
        };
        let idempotency_key = single(headers, IDEMPOTENCY_KEY)?
            .map(parse_idempotency_key)
            .transpose()?;
        let bearer = single(headers, "authorization")?
            .map(parse_bearer)
            .transpose()?;
        Ok(RequestMeta {
            trace_id,
            idempotency_key,
            bearer,
            principal: None,
        })
    }
}

/// A bearer token. Its `Debug` does not print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// A token from its text.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret text.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

/// The value of a header that may appear at most once, as text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadHeader {
            header: name.to_owned(),
            reason: "given more than once".to_owned(),
        });
    }
    first
        .to_str()
        .map(|s| Some(s.trim()))
        .map_err(|_| ApiError::BadHeader {
            header: name.to_owned(),
            reason: "not visible ASCII".to_owned(),
        })
}

/// The 64-bit trace id carried by a W3C `traceparent` value: the low 64 bits of its trace-id.
/// `None` when the value is not a valid traceparent (Trace Context §3.2.2) or those bits are 0.
pub fn trace_id_from_traceparent(value: &str) -> Option<TraceId> {
    let mut fields = value.split('-');
    let version = fields.next()?;
    let trace_id = fields.next()?;
    let parent_id = fields.next()?;
    let flags = fields.next()?;
    let lower_hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !lower_hex(version, 2) || version == "ff" {
        return None;
    }
    // Version 00 has exactly four fields; later versions may append more (§3.2.4).
    if version == "00" && fields.next().is_some() {
        return None;
    }
    if !lower_hex(trace_id, 32) || !lower_hex(parent_id, 16) || !lower_hex(flags, 2) {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
        return None;
    }
    let low = u64::from_str_radix(&trace_id[16..], 16).ok()?;
    TraceId::new(low)
}

fn parse_idempotency_key(value: &str) -> Result<String, ApiError> {
    let bad = |reason: &str| ApiError::BadHeader {
        header: IDEMPOTENCY_KEY.to_owned(),
        reason: reason.to_owned(),
    };
    // A structured-field string (RFC 8941 §3.3.3) is quoted; a bare token is accepted too.
    let key = match value.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| bad("unterminated quoted string"))?,
        None => value,
    };
    if key.is_empty() || key.len() > 255 {
        return Err(bad("expected 1 to 255 characters"));
    }
    if !key
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        return Err(bad("only visible ASCII without '\"' and '\\' is allowed"));
    }
    Ok(key.to_owned())
}

pub(crate) fn parse_bearer(value: &str) -> Result<BearerToken, ApiError> {
    let bad = || ApiError::BadHeader {
        header: "authorization".to_owned(),
        reason: "expected \"Bearer <token>\"".to_owned(),
    };
    let (scheme, token) = value.split_once(' ').ok_or_else(bad)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(bad());
    }
    Ok(BearerToken::new(token))
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut meta = RequestMeta::from_headers(&parts.headers)?;
        meta.principal = parts.extensions.get::<Arc<Principal>>().cloned();
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn traceparent_low_64_bits() {
        // The example of Trace Context §3.2.2.
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id_from_traceparent(tp).map(TraceId::get),
            Some(0xa3ce_929d_0e0e_4736)
        );
        // Later versions may carry more fields.
        let tp2 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future";
        assert!(trace_id_from_traceparent(tp2).is_some());
    }

    #[test]
    fn bad_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da60000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert_eq!(trace_id_from_traceparent(bad), None, "{bad}");
            let meta = RequestMeta::from_headers(&headers(&[(TRACEPARENT, bad)])).unwrap();
            assert_eq!(meta.trace_id, None);
        }
    }

    #[test]
    fn x_trace_id_wins_and_must_be_valid() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let meta =
            RequestMeta::from_headers(&headers(&[(TRACEPARENT, tp), (X_TRACE_ID, "abc")])).unwrap();
        assert_eq!(meta.trace_id.map(TraceId::get), Some(0xabc));
        for bad in ["0", "xyz", "12345678901234567"] {
            let err = RequestMeta::from_headers(&headers(&[(X_TRACE_ID, bad)])).unwrap_err();
            assert!(
                matches!(&err, ApiError::BadHeader { header, .. } if header == X_TRACE_ID),
                "{err:?}"
            );
        }
        let twice = headers(&[(X_TRACE_ID, "1"), (X_TRACE_ID, "2")]);
        assert!(RequestMeta::from_headers(&twice).is_err());
    }

    #[test]
    fn idempotency_keys() {
        let meta = RequestMeta::from_headers(&headers(&[(IDEMPOTENCY_KEY, "\"k-1\"")])).unwrap();
        assert_eq!(meta.idempotency_key.as_deref(), Some("k-1"));
        let meta = RequestMeta::from_headers(&headers(&[(IDEMPOTENCY_KEY, "k-2")])).unwrap();
        assert_eq!(meta.idempotency_key.as_deref(), Some("k-2"));
        for bad in ["\"", "\"\"", "\"k", &"k".repeat(256)] {
            assert!(
                RequestMeta::from_headers(&headers(&[(IDEMPOTENCY_KEY, bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn bearer_tokens() {
        let meta =
            RequestMeta::from_headers(&headers(&[("authorization", "Bearer s3cret")])).unwrap();
        assert_eq!(
            meta.bearer.as_ref().map(BearerToken::secret),
            Some("s3cret")
        );
        assert!(!format!("{meta:?}").contains("s3cret"));
        assert!(RequestMeta::from_headers(&headers(&[("authorization", "Basic eA==")])).is_err());
    }
}
