//! Downloads: the provider's file name never decides where a file lands, and a local write
//! failure is named as such.

use std::path::{Path, PathBuf};

use cloud_sim::{Fault, Malformed};
use serde_json::json;

use crate::{ACCOUNT, cloudctl, logged_in, ok, sim, stderr};

/// Every file under `root`, recursively.
fn files_under(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_file_names_cannot_leave_the_destination_folder() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let url = db.url.as_str();
    let sim = sim().await;
    logged_in(url, &sim).await?;
    let root = tempfile::tempdir()?;
    // Deep enough that `../..` still lands inside the temporary folder without the fix.
    let dest = root.path().join("a/b/dest");
    std::fs::create_dir_all(&dest)?;
    let dest_arg = dest.display().to_string();

    // A name the simulator stores as it is: backslashes, a tab, a right-to-left override.
    // (Its download links send the name in a header, so no newline here; the provider
    // answers below carry one.)
    let stored = "..\\..\\evil\t\u{202e}name.mkv";
    sim.add_file(ACCOUNT, &format!("/Movies/{stored}"), b"stored".to_vec())?;
    ok(cloudctl(
        url,
        Some(&sim),
        &["download", &format!("u115:/Movies/{stored}"), &dest_arg],
    ));

    // Names the provider answers for an ordinary file: separators, `..`, an absolute path.
    let entry = sim.add_file(ACCOUNT, "/Movies/Dune.mkv", b"dune".to_vec())?;
    let absolute = root.path().join("outside/abs.mkv");
    std::fs::create_dir_all(root.path().join("outside"))?;
    let absolute = absolute.display().to_string();
    let answered = [
        ("../../escape.mkv", ".._.._escape.mkv".to_owned()),
        (absolute.as_str(), absolute.replace('/', "_")),
        ("..", "download".to_owned()),
        ("a\nb\r\u{1b}[2J.mkv", "a_b__[2J.mkv".to_owned()),
        ("", "download".to_owned()),
    ];
    for (name, _) in &answered {
        let info = json!({
            "state": true, "code": 0, "message": "",
            "data": {
                "file_name": name, "file_category": "1", "file_id": entry.id,
                "pick_code": entry.pick_code, "sha1": entry.sha1, "size_byte": 4,
                "utime": "0", "paths": [],
            },
        });
        // The next file lookup answers with this name.
        sim.inject_fault(
            "/open/folder/get_info",
            Fault::Malformed(Malformed::Custom(info.to_string())),
            1,
        );
        let out = cloudctl(
            url,
            Some(&sim),
            &["download", "u115:/Movies/Dune.mkv", &dest_arg, "--force"],
        );
        assert!(
            out.status.success(),
            "name {name:?}: exit {:?}: {}",
            out.status.code(),
            stderr(&out)
        );
        assert_eq!(
            sim.pending_faults(),
            0,
            "the lookup used the injected answer"
        );
        // The last two reduce to the same fallback name: the second overwrites the first.
    }

    let mut expected: Vec<PathBuf> = vec![dest.join(".._.._evil__name.mkv")];
    expected.extend(answered.iter().map(|(_, safe)| dest.join(safe)));
    expected.sort();
    expected.dedup();
    assert_eq!(
        files_under(root.path())?,
        expected,
        "every download is directly inside the destination folder, under a safe name"
    );
    assert_eq!(std::fs::read(dest.join(".._.._evil__name.mkv"))?, b"stored");
    assert_eq!(std::fs::read(dest.join(".._.._escape.mkv"))?, b"dune");
    assert!(!Path::new(&absolute).exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_write_failure_is_a_local_error_not_a_provider_one() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let url = db.url.as_str();
    let sim = sim().await;
    logged_in(url, &sim).await?;
    sim.add_file(ACCOUNT, "/Movies/Dune.mkv", b"x".repeat(3000))?;
    let root = tempfile::tempdir()?;
    let a_file = root.path().join("a-file");
    std::fs::write(&a_file, b"not a folder")?;

    for dest in [
        // The destination's folder does not exist.
        root.path().join("missing/folder/Dune.mkv"),
        // The destination's "folder" is a file (ENOTDIR, also for root).
        a_file.join("Dune.mkv"),
    ] {
        let out = cloudctl(
            url,
            Some(&sim),
            &[
                "download",
                "u115:/Movies/Dune.mkv",
                &dest.display().to_string(),
            ],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(6), "{dest:?}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: writing ") && last.contains(&dest.display().to_string()),
            "{dest:?}: {err}"
        );
        assert!(
            !err.contains("provider") && !err.contains("temporary"),
            "{dest:?}: {err}"
        );
    }
    // Nothing was left behind, and the stored login is fine.
    assert_eq!(files_under(root.path())?, vec![a_file]);
    ok(cloudctl(url, Some(&sim), &["token", "print", "u115"]));
    Ok(())
}
