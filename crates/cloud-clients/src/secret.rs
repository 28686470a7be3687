//! Secret newtypes: tokens that never show themselves in `Debug`, `Display` or logs.

use std::fmt;
use std::sync::Arc;

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// `Debug` prints the type name and `[redacted]`, `Display` prints `[redacted]`; the
        /// value is reached only through [`secret`](Self::secret). Cloning is cheap.
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a token.
            pub fn new(value: impl Into<Arc<str>>) -> Self {
                Self(value.into())
            }

            /// The token itself. Do not log it.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Whether the token is the empty string.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
            }
        }
    };
}

secret!(
    /// A provider access token, sent as `Authorization: Bearer …`.
    AccessToken
);
secret!(
    /// A provider refresh token (single-use and rotating on 115 and alipan).
    RefreshToken
);
secret!(
    /// A client secret or other credential handed in by the application.
    ClientSecret
);
secret!(
    /// A user's password for a password login; never stored, logged or shown.
    Password
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let access = AccessToken::new("AT-123-secret");
        let refresh = RefreshToken::new("RT-456-secret");
        let client = ClientSecret::new("CS-789-secret");
        assert_eq!(format!("{access:?}"), "AccessToken([redacted])");
        assert_eq!(format!("{refresh:?}"), "RefreshToken([redacted])");
        assert_eq!(format!("{client:?}"), "ClientSecret([redacted])");
        assert_eq!(
            format!("{:?}", Password::new("hunter2")),
            "Password([redacted])"
        );
        assert_eq!(
            format!("{access} {refresh} {client}"),
            "[redacted] [redacted] [redacted]"
        );
        assert_eq!(
            format!("{:#?}", Some(&access)),
            "Some(\n    AccessToken([redacted]),\n)"
        );
        assert_eq!(access.secret(), "AT-123-secret");
        assert!(!access.is_empty());
    }
}
