//! [`TokenAccessor::with_token`]: a provider call with the current token, renewed once
//! when the provider rejects it.

use super::TokenAccessor;
use crate::error::{Error, Result};
use crate::secret::AccessToken;

/// What one provider call made with an access token came to.
#[derive(Debug)]
pub enum Call<T> {
    /// The call is done (successfully or with an error the caller handles).
    Done(T),
    /// The provider said the access token is invalid or expired.
    TokenRejected,
}

impl TokenAccessor {
    /// Makes a provider call with the current token. When the provider answers "access
    /// token invalid", exactly that token is invalidated, a new one is obtained through the
    /// same single-flight path (refreshing once for all callers), and the call is made once
    /// more — if it is `idempotent`. A non-idempotent call is not repeated; it fails with
    /// [`Error::Transient`] after the refresh, and may be retried by the caller.
    pub async fn with_token<T, F, Fut>(&self, idempotent: bool, mut call: F) -> Result<T>
    where
        F: FnMut(AccessToken) -> Fut + Send,
        Fut: std::future::Future<Output = Result<Call<T>>> + Send,
    {
        let token = self.access_token().await?;
        if let Call::Done(value) = call(token.clone()).await? {
            return Ok(value);
        }
        tracing::debug!(storage = %self.storage(), "access token rejected by the provider");
        self.invalidate(&token).await;
        let token = self.access_token().await?;
        if !idempotent {
            return Err(Error::Transient {
                storage: self.storage().to_owned(),
                reason: "the access token was rejected and has been renewed; the request was \
                         not repeated because it is not idempotent"
                    .into(),
            });
        }
        match call(token.clone()).await? {
            Call::Done(value) => Ok(value),
            Call::TokenRejected => {
                self.invalidate(&token).await;
                Err(Error::Transient {
                    storage: self.storage().to_owned(),
                    reason: "the provider rejected a freshly obtained access token".into(),
                })
            }
        }
    }
}
