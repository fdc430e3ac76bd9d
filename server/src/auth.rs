//! Bearer tokens and roles. A token comes in an `Authorization: Bearer` header, or (for
//! browsers opening a WebSocket, which cannot set headers) a `token` query parameter.

use crate::error::ApiError;
use axum::http::HeaderMap;
use roadsight_core::{ApiUserConfig, Role};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// Equal-time comparison, so a token cannot be guessed from response times.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The caller behind the request's token, if it may do what needs `at_least`.
pub fn authorize(
    users: &[ApiUserConfig],
    headers: &HeaderMap,
    query_token: Option<&str>,
    at_least: Role,
) -> Result<Caller, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let token = match (header, query_token) {
        (Some(value), _) => value.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?,
        (None, Some(token)) => token,
        (None, None) => return Err(ApiError::unauthorized("a bearer token is required")),
    };
    let user = users
        .iter()
        .find(|user| same(&user.token, token))
        .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
    if user.role < at_least {
        return Err(ApiError::forbidden(format!(
            "role {} may not do this; it needs {}",
            user.role.name(),
            at_least.name()
        )));
    }
    Ok(Caller {
        name: user.name.clone(),
        role: user.role,
    })
}
