//! `cloud_clients::open`: the right client for a storage type, and the logins it offers.

use cloud_clients::{Error, LoginKind, OpenOptions};
use storage_helper::StorageHelper;
use system_config::SystemConfig;

#[tokio::test]
async fn open_picks_the_provider_by_storage_type() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
    let storages = StorageHelper::new(SystemConfig::open(&url).await?);
    let options = OpenOptions::default()
        .endpoint("u115", "http://127.0.0.1:9")
        .endpoint("alipan", "http://127.0.0.1:9");
    for (storage, name) in [
        ("u115", "115"),
        ("u115-work", "115"),
        ("alipan", "Aliyun Drive (alipan)"),
        ("alipan_2", "Aliyun Drive (alipan)"),
    ] {
        let drive = cloud_clients::open(&storages, storage, &options)?;
        assert_eq!(drive.storage_type(), storage);
        assert_eq!(drive.display_name(), name);
        assert_eq!(drive.logins(), [LoginKind::Qr]);
        assert!(drive.qr_login().is_some());
        assert!(drive.password_login().is_none());
        let err = drive
            .require_password_login()
            .err()
            .expect("no password login");
        assert!(
            matches!(
                &err,
                Error::LoginNotSupported {
                    login: LoginKind::Password,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("{storage} does not support password login; it supports: QR login")
        );
    }
    // OpenList: a password login or a permanent token, no QR code.
    let drive = cloud_clients::open(&storages, "alist", &options)?;
    assert_eq!(drive.display_name(), "OpenList (AList)");
    assert_eq!(drive.logins(), [LoginKind::Password, LoginKind::FixedToken]);
    assert!(drive.password_login().is_some() && drive.qr_login().is_none());
    let err = drive.require_qr_login().err().expect("no QR login");
    assert_eq!(
        err.to_string(),
        "alist does not support QR login; it supports: password login, a fixed token"
    );
    assert_eq!(cloud_clients::provider_of("alist-nas"), Some("alist"));
    let err = cloud_clients::open(&storages, "dropbox", &options).expect_err("unknown type");
    assert!(matches!(err, Error::UnknownStorageType { .. }), "{err:?}");
    assert_eq!(cloud_clients::provider_of("u115-demo"), Some("u115"));
    assert_eq!(cloud_clients::provider_of("local"), None);
    Ok(())
}
