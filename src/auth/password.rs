use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

/// Hashes and verifies passwords with argon2id on tokio's blocking pool.
///
/// Parameters follow the OWASP Password Storage Cheat Sheet's first argon2id option
/// (m = 19 MiB, t = 2, p = 1). Each hash holds 19 MiB while it runs, so `permits` bounds how
/// many run at once: a login flood queues here instead of exhausting memory or starving the
/// blocking pool.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the account does not exist,
    /// so an unknown email costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn owasp() -> Self {
        let params =
            Params::new(19 * 1024, 2, 1, None).expect("the OWASP argon2 parameters are valid");
        Self::with_params(params)
    }

    fn with_params(params: Params) -> Self {
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy_hash = hash_blocking(&params, &uuid::Uuid::now_v7().to_string())
            .expect("hashing a random password cannot fail");
        Self {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy_hash: dummy_hash.into(),
        }
    }

    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let (params, password) = (self.params.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || hash_blocking(&params, &password))
            .await
            .map_err(AppError::internal)?
    }

    /// Checks `password` against `stored`; with no stored hash it verifies against the dummy
    /// hash and answers `false`, taking the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> AppResult<bool> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        let known = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(AppError::internal)?;
            // The stored PHC string carries its own parameters, so hashes made with older
            // parameters keep verifying after the defaults change.
            Ok::<_, AppError>(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await
        .map_err(AppError::internal)??;
        Ok(known && matches)
    }
}

fn hash_blocking(params: &Params, password: &str) -> AppResult<String> {
    use argon2::PasswordHasher as _;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::owasp();
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("correct horse battery", Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse battery", Some(&hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("correct horse battery", None).await.unwrap());
    }
}
