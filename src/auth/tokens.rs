use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{SessionId, UserId};

/// The claims of an access token. `sid` ties it to a login session so revoking the session
/// (logout, password change, deactivation) ends the access token too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone)]
pub struct IssuedAccessToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// Signs and checks access tokens: HS256 only, with issuer, audience and expiry required.
///
/// The algorithm is pinned on both sides: a token whose header says `none`, `RS256` or
/// anything else is rejected before its signature is even looked at.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    access_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
        }
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn issue_access(
        &self,
        user: &UserId,
        session: &SessionId,
        now: DateTime<Utc>,
    ) -> IssuedAccessToken {
        let expires_at = now + self.access_ttl;
        let claims = AccessClaims {
            sub: user.to_string(),
            sid: session.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of serialisable claims cannot fail");
        IssuedAccessToken { token, expires_at }
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// An opaque refresh token: 256 random bits, base64url. Only its SHA-256 is stored.
pub struct RefreshToken {
    pub token: String,
    pub hash: String,
}

impl RefreshToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        let hash = Self::hash(&token);
        Self { token, hash }
    }

    /// The stored form of a presented token.
    pub fn hash(token: &str) -> String {
        Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], "agora", "agora-api", Duration::minutes(15))
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_session() {
        let keys = keys();
        let (user, session) = (UserId::generate(), SessionId::generate());
        let issued = keys.issue_access(&user, &session, Utc::now());
        let claims = keys.verify_access(&issued.token).unwrap();
        assert_eq!(claims.sub, user.as_str());
        assert_eq!(claims.sid, session.as_str());
    }

    #[test]
    fn expired_tokens_are_reported_as_expired() {
        let keys = keys();
        let issued = keys.issue_access(
            &UserId::generate(),
            &SessionId::generate(),
            Utc::now() - Duration::hours(1),
        );
        assert_eq!(
            keys.verify_access(&issued.token).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn alg_none_and_foreign_keys_and_audiences_are_rejected() {
        let keys = keys();
        let issued = keys.issue_access(&UserId::generate(), &SessionId::generate(), Utc::now());
        let payload = issued.token.split('.').nth(1).unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            keys.verify_access(&format!("{none_header}.{payload}."))
                .unwrap_err(),
            TokenError::Invalid
        );

        let other = TokenKeys::new(&[8u8; 32], "agora", "agora-api", Duration::minutes(15));
        assert_eq!(
            keys.verify_access(
                &other
                    .issue_access(&UserId::generate(), &SessionId::generate(), Utc::now())
                    .token
            )
            .unwrap_err(),
            TokenError::Invalid
        );

        let wrong_aud = TokenKeys::new(&[7u8; 32], "agora", "elsewhere", Duration::minutes(15));
        assert_eq!(
            keys.verify_access(
                &wrong_aud
                    .issue_access(&UserId::generate(), &SessionId::generate(), Utc::now())
                    .token
            )
            .unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn refresh_tokens_are_256_bit_and_hashed() {
        let t = RefreshToken::generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(&t.token).unwrap().len(), 32);
        assert_eq!(t.hash.len(), 64);
        assert_eq!(RefreshToken::hash(&t.token), t.hash);
        assert_ne!(t.hash, t.token);
    }
}
