//! `cloudctl login` picks the login a storage offers; a password login on a storage
//! without one is a clear usage error, raised before any password is read or anything saved.

use crate::{cloudctl, stderr, stdout};

#[test]
fn a_password_login_on_a_qr_only_storage_is_refused_before_reading_anything() -> anyhow::Result<()>
{
    let db = test_support::TestDb::sqlite()?;
    let url = db.url.as_str();
    for storage in ["u115", "alipan"] {
        // With --password-stdin (stdin is empty: nothing would be read anyway) and without
        // (no terminal: a prompt would fail differently).
        for extra in [&["--password-stdin"][..], &[]] {
            let mut args = vec![
                "login",
                storage,
                "--username",
                "bob",
                "--client-id",
                "app-1",
            ];
            args.extend_from_slice(extra);
            let out = cloudctl(url, None, &args);
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            let text = stderr(&out);
            assert!(
                text.contains(&format!(
                    "{storage} does not support password login; it supports: QR login"
                )),
                "{text}"
            );
            assert!(!text.contains("Password for"), "no prompt: {text}");
        }
        // Nothing was saved: the refused login left no `client_id` behind.
        let out = cloudctl(url, None, &["storage", "show", storage]);
        assert!(!stdout(&out).contains("app-1"), "{}", stdout(&out));
    }
    // The password never comes from the command line, and stdin needs a user name.
    let out = cloudctl(url, None, &["login", "u115", "--password", "secret"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cloudctl(url, None, &["login", "u115", "--password-stdin"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--username"), "{}", stderr(&out));
    Ok(())
}

#[test]
fn an_unknown_storage_type_is_a_usage_error() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let out = cloudctl(db.url.as_str(), None, &["login", "dropbox"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("supported: u115, alipan, alist"),
        "{}",
        stderr(&out)
    );
    Ok(())
}
