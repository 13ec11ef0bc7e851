use async_graphql::Context;

use super::Loaders;
use crate::error::AppError;
use crate::service::{ClientOrigin, Services, Viewer};

/// The viewer of this request; `None` for anonymous requests.
pub(crate) struct RequestViewer(pub Option<Viewer>);

/// Identifies one HTTP request or WebSocket operation in logs and in masked errors.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Typed access to what the schema and each request carry, so resolvers never reach for
/// `data_unchecked` with a type parameter.
pub trait ContextExt {
    fn services(&self) -> &Services;
    fn loaders(&self) -> &Loaders;
    fn viewer(&self) -> Option<&Viewer>;
    /// The viewer, or `UNAUTHENTICATED`.
    fn require_viewer(&self) -> Result<&Viewer, AppError>;
    /// Where the request came from; unknown when the transport did not say.
    fn origin(&self) -> ClientOrigin;
}

impl ContextExt for Context<'_> {
    fn services(&self) -> &Services {
        self.data_opt::<Services>()
            .expect("build_schema always installs Services as schema data")
    }

    fn loaders(&self) -> &Loaders {
        self.data_opt::<Loaders>()
            .expect("graphql::prepare_request always installs Loaders")
    }

    fn viewer(&self) -> Option<&Viewer> {
        self.data_opt::<RequestViewer>().and_then(|v| v.0.as_ref())
    }

    fn require_viewer(&self) -> Result<&Viewer, AppError> {
        self.viewer()
            .ok_or(AppError::Unauthenticated("you must be logged in"))
    }

    fn origin(&self) -> ClientOrigin {
        self.data_opt::<ClientOrigin>().copied().unwrap_or_default()
    }
}
