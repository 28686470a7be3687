//! Integration tests of the cloud clients.
