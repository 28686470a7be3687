//! One conformance suite for every provider, written against `CloudStorage` alone. Each
//! provider's test module supplies a `Harness` (its simulator's controls) and runs every
//! function here that fits its logins: `u115` and `alipan` the QR ones, `alist` the
//! password one; the file operations and paging run for all three.

use std::time::Duration;

use cloud_clients::{CloudStorage, Error, FileItem, LoginStatus, TokenState, UploadOptions};
use futures::TryStreamExt;
use serde_json::{Map, Value};

/// A provider's simulator controls, as the suite needs them.
#[async_trait::async_trait]
pub trait Harness: Send + Sync {
    /// The client under test.
    fn storage(&self) -> &dyn CloudStorage;
    /// Server-side: create a folder (and its parents).
    fn seed_folder(&self, path: &str);
    /// Server-side: create a file with content.
    fn seed_file(&self, path: &str, bytes: Vec<u8>);
    /// Server-side: create `count` empty files in `folder`.
    fn seed_files(&self, folder: &str, count: usize);
    /// Server-side truth: whether `path` exists.
    fn exists(&self, path: &str) -> bool;
    /// Server-side QR controls on the newest QR session.
    fn scan_latest_qr(&self);
    fn confirm_latest_qr(&self);
    fn expire_latest_qr(&self);
    fn cancel_latest_qr(&self);
    /// Server-side: the access token stops working (the client's clock does not move).
    fn expire_access_token_on_server(&self);
    /// Refresh requests the simulator has seen for the account (OpenList: logins).
    fn refresh_calls(&self) -> u64;
    /// Whether the provider reports space usage (OpenList does not).
    fn reports_usage(&self) -> bool {
        true
    }
    /// Whether the client can upload (one that cannot must say "unsupported"). Every
    /// provider here can; a new one that cannot yet says so in its harness.
    fn uploads(&self) -> bool {
        true
    }
    /// The stored config of the storage, read from the database.
    async fn stored_config(&self) -> anyhow::Result<Map<String, Value>>;
}

/// QR login: waiting → scanned → confirmed, with tokens saved before the poll returns.
pub async fn qr_login(h: &impl Harness) -> anyhow::Result<()> {
    let s = h.storage();
    assert_eq!(s.login_state(), TokenState::LoggedOut);
    let login = s.start_qr_login().await?;
    assert!(!login.qr_payload.is_empty());
    assert!(
        !format!("{login:?}").contains("verifier"),
        "the session is not shown"
    );

    // Nothing happens: the long-poll ends on our side.
    assert_eq!(
        s.poll_qr_login(&login, Duration::from_millis(300)).await?,
        LoginStatus::Waiting
    );
    // The poll is held until the phone scans.
    let poll = s.poll_qr_login(&login, Duration::from_secs(10));
    let scan = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        h.scan_latest_qr();
    };
    let (status, ()) = tokio::join!(poll, scan);
    assert_eq!(status?, LoginStatus::Scanned);
    h.confirm_latest_qr();
    let mut status = s.poll_qr_login(&login, Duration::from_secs(10)).await?;
    if status == LoginStatus::Scanned {
        status = s.poll_qr_login(&login, Duration::from_secs(10)).await?;
    }
    assert_eq!(status, LoginStatus::Confirmed);
    // Saved before the call returned.
    let stored = h.stored_config().await?;
    assert!(
        stored["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{stored:?}"
    );
    assert!(stored.get("refresh_time").is_some_and(Value::is_number));
    assert!(matches!(s.login_state(), TokenState::Valid { .. }));
    assert_eq!(
        s.accessor().access_token().await?.secret(),
        stored["access_token"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// Password login: logged out → logged in, the session saved before the call returns.
pub async fn password_login(
    h: &impl Harness,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    let s = h.storage();
    assert_eq!(s.login_state(), TokenState::LoggedOut);
    assert!(s.logins().contains(&cloud_clients::LoginKind::Password));
    let flow = s.require_password_login()?;
    let wrong = flow
        .login_with_password(username, &cloud_clients::Password::new("not-the-password"))
        .await
        .expect_err("a wrong password is refused");
    assert!(wrong.needs_login(), "{wrong:?}");
    assert!(!format!("{wrong:?} {wrong}").contains("not-the-password"));
    flow.login_with_password(username, &cloud_clients::Password::new(password))
        .await?;
    let stored = h.stored_config().await?;
    let session = stored["access_token"].as_str().unwrap_or_default();
    assert!(!session.is_empty(), "{stored:?}");
    assert!(stored.get("refresh_time").is_some_and(Value::is_number));
    assert!(matches!(s.login_state(), TokenState::Valid { .. }));
    assert_eq!(s.accessor().access_token().await?.secret(), session);
    Ok(())
}

/// An expired and a cancelled QR code end the polling with those statuses.
pub async fn qr_expired_and_cancelled(h: &impl Harness) -> anyhow::Result<()> {
    let s = h.storage();
    let login = s.start_qr_login().await?;
    h.expire_latest_qr();
    assert_eq!(
        s.poll_qr_login(&login, Duration::from_secs(5)).await?,
        LoginStatus::Expired
    );
    let login = s.start_qr_login().await?;
    h.cancel_latest_qr();
    let status = s.poll_qr_login(&login, Duration::from_secs(5)).await?;
    assert!(
        status.is_final() && status != LoginStatus::Confirmed,
        "{status:?}"
    );
    assert_eq!(s.login_state(), TokenState::LoggedOut);
    Ok(())
}

async fn list_names(s: &dyn CloudStorage, folder: &FileItem) -> anyhow::Result<Vec<String>> {
    let items: Vec<FileItem> = s.list(folder).try_collect().await?;
    let mut names: Vec<String> = items.into_iter().map(|i| i.name).collect();
    names.sort();
    Ok(names)
}

/// Every file operation, checked against the simulator's own view.
pub async fn file_operations(h: &impl Harness) -> anyhow::Result<()> {
    let s = h.storage();
    if h.reports_usage() {
        assert!(s.usage().await?.total > 0);
    } else {
        assert!(s.usage().await.is_err(), "no usage is not a made-up number");
    }
    assert_eq!(
        s.stat("/no/such/path").await?,
        None,
        "a missing path is None, not an error"
    );

    let movies = s.make_path("/media/movies").await?;
    assert!(movies.is_folder() && movies.path == "/media/movies" && movies.name == "movies");
    assert!(h.exists("/media/movies"));
    // An existing folder is returned, not an error.
    let media = s.stat("/media").await?.expect("made");
    let again = s.make_folder(&media, "movies").await?;
    assert_eq!(again.file_id, movies.file_id);
    assert_eq!(s.make_path("/media/movies").await?.file_id, movies.file_id);

    h.seed_file("/media/movies/Dune.mkv", b"0123456789".repeat(1000));
    let dune = s.stat("/media/movies/Dune.mkv").await?.expect("seeded");
    assert_eq!(
        (dune.size, dune.extension.as_deref(), dune.is_folder()),
        (Some(10_000), Some("mkv"), false)
    );
    assert_eq!(dune.parent_id.as_deref(), Some(movies.file_id.as_str()));
    assert_eq!(list_names(s, &movies).await?, ["Dune.mkv"]);
    let root_names = list_names(s, &s.root()).await?;
    assert!(root_names.contains(&"media".to_owned()), "{root_names:?}");

    // Download: link (credentials hidden from Debug) and file with progress.
    let link = s.download_url(&dune).await?;
    assert!(!format!("{link:?}").contains(&link.url));
    let dir = tempfile::tempdir()?;
    let dest = dir.path().join("Dune.mkv");
    let mut seen = Vec::new();
    let written = s
        .download(&dune, &dest, &mut |done, total| seen.push((done, total)))
        .await?;
    assert_eq!(written, 10_000);
    assert_eq!(std::fs::read(&dest)?, b"0123456789".repeat(1000));
    assert_eq!(seen.last(), Some(&(10_000, Some(10_000))));

    // Rename, copy, move, delete.
    s.rename(&dune, "Dune (2021).mkv").await?;
    assert!(h.exists("/media/movies/Dune (2021).mkv") && !h.exists("/media/movies/Dune.mkv"));
    let dune = s
        .stat("/media/movies/Dune (2021).mkv")
        .await?
        .expect("renamed");
    let archive = s.make_path("/archive").await?;
    s.copy_to(&dune, &archive).await?;
    assert!(h.exists("/archive/Dune (2021).mkv") && h.exists("/media/movies/Dune (2021).mkv"));
    let tv = s.make_path("/media/tv").await?;
    s.move_to(&dune, &tv).await?;
    assert!(h.exists("/media/tv/Dune (2021).mkv") && !h.exists("/media/movies/Dune (2021).mkv"));
    let copy = s.stat("/archive/Dune (2021).mkv").await?.expect("copied");
    s.delete(&copy).await?;
    assert!(!h.exists("/archive/Dune (2021).mkv"));
    assert_eq!(s.stat("/archive/Dune (2021).mkv").await?, None);
    Ok(())
}

/// A folder of `count` entries lists completely across pages.
pub async fn big_folder_lists_completely(h: &impl Harness, count: usize) -> anyhow::Result<()> {
    let s = h.storage();
    h.seed_folder("/big");
    h.seed_files("/big", count);
    let folder = s.stat("/big").await?.expect("seeded");
    let items: Vec<FileItem> = s.list(&folder).try_collect().await?;
    assert_eq!(items.len(), count);
    let mut names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "no duplicates across pages");
    assert!(items.iter().all(|i| i.path == format!("/big/{}", i.name)));
    Ok(())
}

/// The access token dies between two pages of a listing: the listing completes with one
/// refresh.
pub async fn listing_survives_token_expiry_between_pages(
    h: &impl Harness,
    count: usize,
) -> anyhow::Result<()> {
    let s = h.storage();
    h.seed_folder("/paged");
    h.seed_files("/paged", count);
    let folder = s.stat("/paged").await?.expect("seeded");
    let before = h.refresh_calls();
    let mut stream = s.list(&folder);
    let mut seen = 0;
    while let Some(item) = stream.try_next().await? {
        seen += 1;
        assert!(!item.name.is_empty());
        if seen == 1 {
            // The first page is in; the token dies before the next one.
            h.expire_access_token_on_server();
        }
    }
    assert_eq!(seen, count);
    assert_eq!(h.refresh_calls() - before, 1);
    Ok(())
}

/// Upload and download round trip where the client uploads; elsewhere a typed
/// "unsupported" and nothing created.
pub async fn transfers(h: &impl Harness) -> anyhow::Result<()> {
    let s = h.storage();
    let dir = tempfile::tempdir()?;
    let local = dir.path().join("up.mkv");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&local, &bytes)?;
    let folder = s.make_path("/uploads").await?;
    let options = UploadOptions::default().session_dir(dir.path().join("sessions"));
    let mut phases = Vec::new();
    let uploaded = s
        .upload(&local, &folder, "up.mkv", &options, &mut |phase, _, _| {
            phases.push(phase);
        })
        .await;
    if !h.uploads() {
        let err = uploaded.expect_err("no upload yet");
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(!h.exists("/uploads/up.mkv"));
        return Ok(());
    }
    let item = uploaded?;
    assert_eq!(
        (item.path.as_str(), item.size, item.is_folder()),
        ("/uploads/up.mkv", Some(300_000), false)
    );
    assert!(h.exists("/uploads/up.mkv"));
    assert_eq!(phases.last(), Some(&cloud_clients::TransferPhase::Done));
    // Back again, byte for byte.
    let back = dir.path().join("back.mkv");
    let listed = s.stat("/uploads/up.mkv").await?.expect("uploaded");
    assert_eq!(s.download(&listed, &back, &mut |_, _| {}).await?, 300_000);
    assert_eq!(std::fs::read(&back)?, bytes);
    // The name is taken now: refused by default, with a typed error.
    let err = s
        .upload(&local, &folder, "up.mkv", &options, &mut |_, _, _| {})
        .await
        .expect_err("taken");
    assert!(err.is_already_exists(), "{err}");
    Ok(())
}
