//! Authentication: who is calling, for which tenant, in which role.
//!
//! Every request presents `Authorization: Bearer <token>`. An [`Authenticator`] maps the token
//! to a [`Principal`] — a tenant (or the operator) and a [`Role`]. The tenant comes from the
//! credential, never from the request: a path naming another tenant is 403. A missing or
//! unknown token is 401 with `WWW-Authenticate: Bearer`.
//!
//! [`TokenTable`] is the built-in authenticator (tokens from configuration, `MF_TOKENS`),
//! compared in constant time. Plug in another (JWT, an API-key service) by implementing
//! [`Authenticator`]. A state built without an authenticator runs **open**: every caller is the
//! operator. That mode exists for local development and the loopback tests; the example binary
//! only uses it when no tokens are configured, and says so on start.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use marketingforce::core::storage::Fingerprint;
use marketingforce::core::tenant::TenantId;

use super::problem::Problem;
use super::state::AppState;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every tenant; may create tenants.
    Operator,
    /// Its tenant: reads and writes.
    Writer,
    /// Its tenant: reads only (`GET`).
    Reader,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "operator" => Ok(Role::Operator),
            "writer" => Ok(Role::Writer),
            "reader" => Ok(Role::Reader),
            other => Err(format!(
                "unknown role {other:?}; use operator, writer or reader"
            )),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant the credential belongs to; `None` for the operator.
    pub tenant: Option<TenantId>,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// The operator (also every caller in open mode).
    pub const OPERATOR: Principal = Principal {
        tenant: None,
        role: Role::Operator,
    };
}

/// Maps a bearer token to a principal.
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// The principal of `token`, or `None` when the token is not valid.
    fn authenticate(&self, token: &str) -> Option<Principal>;
}

/// Tokens from configuration. Tokens are kept as SHA-256 digests and a presented token's
/// digest is compared with every entry in constant time (no early exit, no length leak), so
/// response timing does not reveal how much of a guess was right.
pub struct TokenTable {
    entries: Vec<([u8; 64], Principal)>,
}

impl fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenTable")
            .field("tokens", &self.entries.len())
            .finish()
    }
}

fn digest(token: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    out.copy_from_slice(Fingerprint::of_bytes(token.as_bytes()).as_str().as_bytes());
    out
}

/// Constant-time equality of two digests.
fn ct_eq(a: &[u8; 64], b: &[u8; 64]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl TokenTable {
    /// A table of `(token, principal)` pairs.
    pub fn new(tokens: impl IntoIterator<Item = (String, Principal)>) -> TokenTable {
        TokenTable {
            entries: tokens
                .into_iter()
                .map(|(token, principal)| (digest(&token), principal))
                .collect(),
        }
    }

    /// Parse `MF_TOKENS`: comma-separated `token=tenant:role` entries, where `tenant` is a
    /// tenant id or `*` (with role `operator`), e.g.
    /// `s3cr3t-op=*:operator,abc123=01939c1e-…:writer`.
    ///
    /// # Errors
    /// A message naming the bad entry (never the token).
    pub fn parse(spec: &str) -> Result<TokenTable, String> {
        let mut tokens = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let bad = |why: &str| format!("MF_TOKENS entry {}: {why}", i + 1);
            let (token, rest) = entry
                .split_once('=')
                .ok_or_else(|| bad("expected token=tenant:role"))?;
            let (tenant, role) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("expected token=tenant:role"))?;
            if token.len() < 16 {
                return Err(bad("tokens must have at least 16 characters"));
            }
            let role: Role = role.parse().map_err(|e: String| bad(&e))?;
            let tenant = match (tenant, role) {
                ("*", Role::Operator) => None,
                ("*", _) | (_, Role::Operator) => {
                    return Err(bad("`*` goes with the operator role and only with it"))
                }
                (id, _) => Some(id.parse::<TenantId>().map_err(|_| bad("bad tenant id"))?),
            };
            tokens.push((token.to_string(), Principal { tenant, role }));
        }
        if tokens.is_empty() {
            return Err("MF_TOKENS holds no token".into());
        }
        Ok(TokenTable::new(tokens))
    }
}

impl Authenticator for TokenTable {
    fn authenticate(&self, token: &str) -> Option<Principal> {
        let presented = digest(token);
        let mut found = None;
        for (stored, principal) in &self.entries {
            if ct_eq(stored, &presented) && found.is_none() {
                found = Some(principal.clone());
            }
        }
        found
    }
}

/// 401 with `WWW-Authenticate: Bearer`.
fn unauthenticated(detail: &str) -> Response {
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        detail,
    )
    .into_response();
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"marketingforce\""),
    );
    response
}

fn forbidden(detail: &str) -> Response {
    Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail).into_response()
}

/// The middleware: authenticate, check the path's tenant and the role, and hand the
/// [`Principal`] to the handlers as a request extension.
pub async fn require(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match state.authenticator() {
        None => Principal::OPERATOR,
        Some(auth) => {
            let token = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    let (scheme, token) = v.trim().split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                });
            let Some(token) = token else {
                return unauthenticated("send Authorization: Bearer <token>");
            };
            match auth.authenticate(token) {
                Some(p) => p,
                None => return unauthenticated("the token is not valid"),
            }
        }
    };
    if let Some(own) = principal.tenant {
        let mut segments = req.uri().path().trim_start_matches('/').split('/');
        let path_tenant = match (segments.next(), segments.next()) {
            (Some("tenants"), Some(t)) if !t.is_empty() => Some(t),
            _ => None,
        };
        match path_tenant {
            Some(t) if t.parse::<TenantId>().ok() == Some(own) => {}
            Some(_) => return forbidden("the credential belongs to another tenant"),
            // `/tenants` itself and anything outside a tenant is for the operator.
            None => return forbidden("only the operator may do this"),
        }
    }
    if principal.role == Role::Reader && req.method() != Method::GET {
        return forbidden("the credential may only read");
    }
    req.extensions_mut().insert(Arc::new(principal));
    next.run(req).await
}
