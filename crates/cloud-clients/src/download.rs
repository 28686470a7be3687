//! Turning a provider's file name into a safe local one.

/// The name [`safe_file_name`] gives a file whose name reduces to nothing.
pub const FALLBACK_FILE_NAME: &str = "download";

/// The longest name [`safe_file_name`] returns, in bytes (the limit of Linux, macOS and
/// Windows file systems for one path component).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Extensions up to this many bytes (after the last `.`) survive the shortening of a long
/// name.
const MAX_KEPT_EXTENSION_BYTES: usize = 16;

/// Whether `c` may not appear in a local file name made from a provider's name.
fn forbidden(c: char) -> bool {
    matches!(c, '/' | '\\')
        // C0 controls (NUL, tab, newline, escape, …), DEL and the C1 controls.
        || c.is_control()
        // Line and paragraph separators, and the bidirectional overrides and isolates that
        // make a name display differently from what it is.
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn prefix_within(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reduces a file name supplied by a provider (or anyone else not trusted) to one safe
/// local path component, for `folder.join(safe_file_name(&item.name))`.
///
/// The exact rule, applied in this order:
///
/// 1. Every forbidden character becomes one `_`: the path separators `/` and `\`, every
///    control character (NUL, tab, newline, carriage return, escape and the rest of
///    U+0000–U+001F, DEL U+007F, and U+0080–U+009F), the line and paragraph separators
///    U+2028 and U+2029, and the bidirectional formatting characters U+202A–U+202E and
///    U+2066–U+2069.
/// 2. Trailing dots and spaces are removed (Windows drops them silently, and this is what
///    turns `.` and `..` into nothing).
/// 3. A name longer than [`MAX_FILE_NAME_BYTES`] bytes is cut at a character boundary;
///    when the name has an extension of at most 16 bytes, the stem is cut and the
///    extension kept (`very…long.mkv` stays a `.mkv`). Trailing dots and spaces left by
///    the cut are removed.
/// 4. A name that is now empty becomes [`FALLBACK_FILE_NAME`] (`download`).
///
/// Everything else — letters of any script, spaces inside the name, leading dots — is
/// kept. The result is never empty, `.` or `..`, has no separator, and is at most 255
/// bytes.
///
/// ```
/// use cloud_clients::safe_file_name;
/// assert_eq!(safe_file_name("Dune (2021).mkv"), "Dune (2021).mkv");
/// assert_eq!(safe_file_name("../../.bashrc"), ".._.._.bashrc");
/// assert_eq!(safe_file_name("/etc/passwd"), "_etc_passwd");
/// assert_eq!(safe_file_name("a\nb.mkv"), "a_b.mkv");
/// assert_eq!(safe_file_name(".."), "download");
/// ```
pub fn safe_file_name(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| if forbidden(c) { '_' } else { c })
        .collect();
    let trim = |s: &str| s.trim_end_matches(['.', ' ']).to_owned();
    let mut safe = trim(&replaced);
    if safe.len() > MAX_FILE_NAME_BYTES {
        let kept_extension = safe
            .rfind('.')
            .filter(|&dot| dot > 0 && safe.len() - dot <= MAX_KEPT_EXTENSION_BYTES + 1);
        safe = match kept_extension {
            Some(dot) => {
                let (stem, extension) = safe.split_at(dot);
                let stem = trim(prefix_within(stem, MAX_FILE_NAME_BYTES - extension.len()));
                if stem.is_empty() {
                    String::new()
                } else {
                    format!("{stem}{extension}")
                }
            }
            None => trim(prefix_within(&safe, MAX_FILE_NAME_BYTES)),
        };
    }
    if safe.is_empty() {
        FALLBACK_FILE_NAME.to_owned()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::{FALLBACK_FILE_NAME, MAX_FILE_NAME_BYTES, safe_file_name};

    /// What every result must be, whatever went in.
    fn assert_safe(input: &str) -> String {
        let out = safe_file_name(input);
        assert!(!out.is_empty(), "{input:?}");
        assert!(out != "." && out != "..", "{input:?} → {out:?}");
        assert!(
            out.len() <= MAX_FILE_NAME_BYTES,
            "{input:?} → {} bytes",
            out.len()
        );
        assert!(
            !out.contains(['/', '\\', '\0']) && !out.chars().any(char::is_control),
            "{input:?} → {out:?}"
        );
        assert!(!out.ends_with(['.', ' ']), "{input:?} → {out:?}");
        let path = std::path::Path::new(&out);
        assert_eq!(path.components().count(), 1, "{input:?} → {out:?}");
        assert!(
            matches!(
                path.components().next(),
                Some(std::path::Component::Normal(_))
            ),
            "{input:?} → {out:?}"
        );
        out
    }

    #[test]
    fn separators_and_dot_names_cannot_leave_the_folder() {
        assert_eq!(assert_safe("../x"), ".._x");
        assert_eq!(assert_safe("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(assert_safe("/etc/passwd"), "_etc_passwd");
        assert_eq!(assert_safe("/"), "_");
        assert_eq!(assert_safe("..\\..\\boot.ini"), ".._.._boot.ini");
        assert_eq!(assert_safe("C:\\Windows"), "C:_Windows");
        assert_eq!(assert_safe(".."), FALLBACK_FILE_NAME);
        assert_eq!(assert_safe("."), FALLBACK_FILE_NAME);
        assert_eq!(assert_safe("..."), FALLBACK_FILE_NAME);
        assert_eq!(assert_safe(". . ."), FALLBACK_FILE_NAME);
        assert_eq!(assert_safe(".hidden"), ".hidden");
        assert_eq!(assert_safe("film.mkv. . "), "film.mkv");
    }

    #[test]
    fn control_characters_become_underscores() {
        assert_eq!(assert_safe("a\nb"), "a_b");
        assert_eq!(assert_safe("a\r\nb"), "a__b");
        assert_eq!(assert_safe("tab\there"), "tab_here");
        assert_eq!(assert_safe("nul\0byte"), "nul_byte");
        assert_eq!(assert_safe("del\u{7f}"), "del_");
        assert_eq!(assert_safe("\u{1b}[31mred"), "_[31mred");
        assert_eq!(assert_safe("c1\u{85}next"), "c1_next");
        assert_eq!(assert_safe("evil\u{202e}vkm.exe"), "evil_vkm.exe");
        assert_eq!(assert_safe("line\u{2028}sep"), "line_sep");
        assert_eq!(assert_safe("\n"), "_");
    }

    #[test]
    fn empty_names_get_the_fallback() {
        assert_eq!(assert_safe(""), FALLBACK_FILE_NAME);
        assert_eq!(assert_safe("   "), FALLBACK_FILE_NAME);
    }

    #[test]
    fn ordinary_and_unicode_names_are_kept() {
        for name in [
            "Dune (2021).mkv",
            "沙丘 第一部.mkv",
            "Amélie — Le Fabuleux Destin.mp4",
            "🎬 trailer.mov",
            " leading space.txt",
            "-rf",
            "a:b*c?.txt",
        ] {
            assert_eq!(assert_safe(name), name);
        }
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary_keeping_the_extension() {
        let long = "a".repeat(300);
        assert_eq!(assert_safe(&long), "a".repeat(255));

        let film = format!("{}.mkv", "b".repeat(400));
        let out = assert_safe(&film);
        assert_eq!(out.len(), 255);
        assert!(out.ends_with(".mkv") && out.starts_with("bbb"), "{out}");

        // 3-byte characters: 85 of them fill exactly 255 bytes, never half a character.
        let chinese = "沙".repeat(200);
        let out = assert_safe(&chinese);
        assert_eq!(out, "沙".repeat(85));
        let out = assert_safe(&format!("{chinese}.mkv"));
        assert_eq!(out, format!("{}.mkv", "沙".repeat(83)));
        // 4-byte characters: 63 fit (252 bytes).
        let emoji = "🎬".repeat(100);
        assert_eq!(assert_safe(&emoji), "🎬".repeat(63));

        // A long "extension" is not kept whole: the name is simply cut.
        let odd = format!("x.{}", "y".repeat(300));
        assert_eq!(assert_safe(&odd), format!("x.{}", "y".repeat(253)));
        // A cut that ends in dots or spaces is trimmed again.
        let spaced = format!("{}{}{}", "z".repeat(250), "  .  ", "w".repeat(20));
        assert_eq!(assert_safe(&spaced), "z".repeat(250));
        // Forbidden characters are replaced before measuring.
        assert_eq!(assert_safe(&"/".repeat(300)), "_".repeat(255));
    }
}
