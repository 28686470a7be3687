//! What every provider's options share, written once.

/// The transport [`Setup`](super::Setup) of a provider's options struct (which has the
/// fields `storage`, `requests_per_second`, `rate_limit_retries`, `max_rate_limit_wait`,
/// `accessor`) with an HTTP client.
macro_rules! setup {
    ($options:expr, $http:expr) => {
        $crate::transport::Setup {
            storage: $options.storage.clone(),
            http: $http,
            requests_per_second: $options.requests_per_second,
            retry: $crate::transport::RetryPolicy {
                rate_limit_retries: $options.rate_limit_retries,
                max_rate_limit_wait: $options.max_rate_limit_wait,
            },
            accessor: $options.accessor.clone(),
        }
    };
}

/// Builder methods `name(value)` that set the field `name` (through `Into`).
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value.into();
                self
            }
        )*
    };
}

/// What every provider's options struct has: `at(base_url)` (with the function that
/// makes its endpoints from a base URL), `client_id`, and the setters of `accessor`,
/// `requests_per_second` and `page_size`.
macro_rules! shared_options {
    ($endpoints_at:path) => {
        /// The provider at `base_url` (a simulator, a proxy).
        pub fn at(base_url: &str) -> Self {
            Self {
                endpoints: $endpoints_at(base_url),
                ..Self::default()
            }
        }

        /// Sets the application's id at the provider (APP ID, client id).
        pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
            self.client_id = Some(client_id.into());
            self
        }

        $crate::transport::setters! {
            #[doc = "Sets the accessor options."] accessor: $crate::AccessorOptions,
            #[doc = "Sets the client-side request rate limit (per second; 0: none)."] requests_per_second: f64,
            #[doc = "Sets the listing page size (clamped to what the provider allows)."] page_size: u32,
        }
    };
}

/// A client's constructors `new(storages, options)` (the process-wide HTTP client) and
/// `with_http(storages, options, http)`, both through the client's own `build`.
macro_rules! constructors {
    ($options:ty) => {
        /// A client for the storage of `storages` named in `options` (by default the
        /// provider's own type), using the process-wide HTTP client.
        pub fn new(
            storages: &storage_helper::StorageHelper,
            options: $options,
        ) -> $crate::Result<Self> {
            Self::with_http(storages, options, $crate::HttpClient::shared()?)
        }

        /// Like [`new`](Self::new) with a given HTTP client (its own pool, timeouts and
        /// `User-Agent`).
        pub fn with_http(
            storages: &storage_helper::StorageHelper,
            options: $options,
            http: $crate::HttpClient,
        ) -> $crate::Result<Self> {
            Ok(Self::build(storages, options, http))
        }
    };
}

pub(crate) use {constructors, setters, setup, shared_options};
