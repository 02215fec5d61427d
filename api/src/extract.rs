//! Request extractors whose every rejection is an [`ApiError`], so a bad request always gets a
//! problem+json answer that names what was wrong (axum's own extractors answer in plain text).
//!
//! - [`JsonBody`]: `Content-Type` must be `application/json` (or `application/<x>+json`);
//!   the body must be one JSON value that fits the type. Syntax errors become
//!   `malformed-json` (with line and column), unknown members `unknown-field`, absent ones
//!   `missing-field`, wrong types or values `invalid-field`; each names the member by a path
//!   such as `body.members[1]`.
//! - [`GroupNameParam`], [`AddressParam`]: the `{name}` and `{address}` path segments, parsed
//!   and checked (`bad-path-parameter` otherwise).

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::types::GroupName;

/// The largest request body accepted, in bytes. Our bodies are member lists: 1 MiB holds tens
/// of thousands of addresses.
pub const BODY_LIMIT: usize = 1 << 20;

/// A JSON request body of type `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_json_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_) if e.status().as_u16() == 413 => {
                ApiError::BodyTooLarge {
                    limit: BODY_LIMIT as u64,
                }
            }
            other => ApiError::MalformedJson {
                line: 0,
                column: 0,
                reason: format!("could not read the body: {}", other.body_text()),
            },
        })?;
        parse_json_body(&bytes).map(JsonBody)
    }
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType { content_type: None });
    };
    let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            content_type: Some(text),
        })
    }
}

/// Parses a request body as one JSON value of type `T`, classifying any failure.
///
/// The syntax is checked over the whole body first, so a body that is not JSON is always
/// `malformed-json`, even when it would also fail the type before the syntax error.
pub fn parse_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
    serde_path_to_error::deserialize(value).map_err(classify)
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::MalformedJson {
        line: e.line() as u64,
        column: e.column() as u64,
        reason: message(e),
    }
}

/// serde_json's message without the " at line L column C" suffix (we report those apart).
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

fn body_path(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." {
        "body".to_owned()
    } else {
        format!("body.{p}")
    }
}

/// The names between backticks in a serde message.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

fn classify(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = err.inner();
    let msg = message(inner);
    let path = body_path(err.path());
    if msg.starts_with("unknown field `") {
        // serde: "unknown field `x`, expected `a` or `b`" / "expected one of `a`, `b`, `c`".
        let mut names = backticked(&msg).into_iter();
        let field = names.next().unwrap_or_default();
        // The path ends at the unknown member itself; report the object that holds it.
        let holder = path
            .strip_suffix(&field)
            .map(|p| p.trim_end_matches('.'))
            .filter(|p| !p.is_empty())
            .unwrap_or(&path)
            .to_owned();
        return ApiError::UnknownField {
            field,
            path: holder,
            expected: names.collect(),
        };
    }
    if msg.starts_with("missing field `") {
        return ApiError::MissingField {
            field: backticked(&msg).into_iter().next().unwrap_or_default(),
            path,
        };
    }
    ApiError::InvalidField { path, reason: msg }
}

/// The raw text of the route's single path parameter.
async fn raw_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    parameter: &str,
) -> Result<String, ApiError> {
    Path::<String>::from_request_parts(parts, state)
        .await
        .map(|Path(value)| value)
        .map_err(|e| ApiError::BadPathParameter {
            parameter: parameter.to_owned(),
            value: parts.uri.path().to_owned(),
            reason: e.body_text(),
        })
}

/// The `{name}` path parameter: a valid [`GroupName`].
#[derive(Debug, Clone)]
pub struct GroupNameParam(pub GroupName);

impl<S: Send + Sync> FromRequestParts<S> for GroupNameParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = raw_param(parts, state, "name").await?;
        raw.parse()
            .map(GroupNameParam)
            .map_err(|e: crate::types::ParseIdError| ApiError::BadPathParameter {
                parameter: "name".to_owned(),
                value: raw.clone(),
                reason: e.reason.to_owned(),
            })
    }
}

/// The `{address}` path parameter: an IPv4 or IPv6 address.
#[derive(Debug, Clone, Copy)]
pub struct AddressParam(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for AddressParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = raw_param(parts, state, "address").await?;
        raw.parse()
            .map(AddressParam)
            .map_err(|_| ApiError::BadPathParameter {
                parameter: "address".to_owned(),
                value: raw.clone(),
                reason: "not an IPv4 or IPv6 address".to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{GroupSpec, SubsetRequest};

    #[test]
    fn syntax_errors_carry_position() {
        // The data error (1 is not an address) comes first, but the syntax error wins.
        let err = parse_json_body::<SubsetRequest>(b"{\"members\": [1,\n 2,").unwrap_err();
        assert!(
            matches!(err, ApiError::MalformedJson { line: 2, .. }),
            "{err:?}"
        );
        let err = parse_json_body::<SubsetRequest>(b"").unwrap_err();
        assert!(matches!(err, ApiError::MalformedJson { .. }), "{err:?}");
        let trailing = br#"{"members": [], "lease_ms": 1} x"#;
        let err = parse_json_body::<SubsetRequest>(trailing).unwrap_err();
        assert!(matches!(err, ApiError::MalformedJson { .. }), "{err:?}");
    }

    #[test]
    fn unknown_field_is_named_with_alternatives() {
        let err =
            parse_json_body::<SubsetRequest>(br#"{"members": [], "lease_ms": 1, "leese": 2}"#)
                .unwrap_err();
        assert_eq!(
            err,
            ApiError::UnknownField {
                field: "leese".into(),
                path: "body".into(),
                expected: vec!["members".into(), "lease_ms".into()],
            }
        );
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        let err = parse_json_body::<SubsetRequest>(br#"{"members": []}"#).unwrap_err();
        assert_eq!(
            err,
            ApiError::MissingField {
                field: "lease_ms".into(),
                path: "body".into()
            }
        );
        let err = parse_json_body::<GroupSpec>(
            br#"{"address": "239.1.1.1", "members": ["10.0.0.1", "10.0.0.300"]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ApiError::InvalidField { path, .. } if path == "body.members[1]"),
            "{err:?}"
        );
        let err =
            parse_json_body::<SubsetRequest>(br#"{"members": [], "lease_ms": -1}"#).unwrap_err();
        assert!(
            matches!(&err, ApiError::InvalidField { path, .. } if path == "body.lease_ms"),
            "{err:?}"
        );
        let err = parse_json_body::<SubsetRequest>(b"[]").unwrap_err();
        assert!(
            matches!(&err, ApiError::InvalidField { path, .. } if path == "body"),
            "{err:?}"
        );
    }

    #[test]
    fn content_type_must_be_json() {
        let mut h = HeaderMap::new();
        assert!(check_json_content_type(&h).is_err());
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(check_json_content_type(&h).is_err());
        h.insert(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert!(check_json_content_type(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            "application/merge-patch+json".parse().unwrap(),
        );
        assert!(check_json_content_type(&h).is_ok());
    }
}
