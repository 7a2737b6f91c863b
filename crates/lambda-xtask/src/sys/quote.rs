//! File names as the xtask shows them: on one line, naming the real file.
//!
//! A Linux file name is any bytes but `/` and NUL: a newline in it would forge a separate line
//! on the terminal, a byte that is not UTF-8 would be shown as U+FFFD (so two files would look
//! alike, and a printed command would name neither), and a space, `~` or `$` in a pasted
//! `rm -rf` would name other files. [`escaped`] is for text, [`shell`] for commands.

use std::ffi::OsStr;
use std::fmt::Write;
use std::path::Path;

/// The name on one line, injectively: printable UTF-8 as it is, a backslash doubled, a control
/// character or a byte that is not UTF-8 as `\n`, `\t`, `\xNN`. Two different names never
/// read the same, so it also serves as a manifest key.
pub fn escaped(name: &OsStr) -> String {
    let mut out = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{byte:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// [`escaped`] for a path.
pub fn escaped_path(path: &Path) -> String {
    escaped(path.as_os_str())
}

/// The path as one bash word naming exactly that file: bare when it holds only characters
/// the shell never interprets, single-quoted when it is printable UTF-8, else `$'...'` with
/// every other byte escaped (bash, zsh and ksh read `$'\xff'` as the byte).
pub fn shell(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(b);
    if !bytes.is_empty() && bytes.iter().all(plain) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => format!("'{}'", text.replace('\'', r"'\''")),
        _ => {
            let mut out = String::from("$'");
            for chunk in bytes.utf8_chunks() {
                for c in chunk.valid().chars() {
                    match c {
                        '\\' | '\'' => {
                            out.push('\\');
                            out.push(c);
                        }
                        c if c.is_control() => {
                            let mut buf = [0; 4];
                            for byte in c.encode_utf8(&mut buf).bytes() {
                                let _ = write!(out, "\\x{byte:02x}");
                            }
                        }
                        c => out.push(c),
                    }
                }
                for byte in chunk.invalid() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            out.push('\'');
            out
        }
    }
}

/// Quoted input in an error message, cut to [`QUOTE_LIMIT`] characters: a 10 MB line must
/// not become a 10 MB error line.
pub fn cut(text: &str) -> String {
    if text.chars().count() <= QUOTE_LIMIT {
        return text.to_string();
    }
    let kept: String = text.chars().take(QUOTE_LIMIT).collect();
    format!("{kept}... ({} characters in all)", text.chars().count())
}

/// How much of an input an error quotes.
pub const QUOTE_LIMIT: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::process::Command;

    /// What bash makes of the printed word: the bytes of the one argument it passes on.
    fn bash_reads(word: &str) -> Vec<u8> {
        let output = Command::new("bash").arg("-c").arg(format!("printf '%s' {word}")).output().unwrap();
        assert!(output.status.success());
        output.stdout
    }

    #[test]
    fn a_pasted_path_names_the_real_file_in_bash() {
        for name in [
            &b"backend/src/x ~ y-1.0.dist-info"[..],
            b"a'b",
            b"$(rm -rf ~)",
            b"line\nbreak",
            b"bad\xff-2.0.dist-info",
            b"tab\there\\",
            b"-rf",
            b"plain/path.py",
        ] {
            let path = Path::new(OsStr::from_bytes(name));
            assert_eq!(bash_reads(&shell(path)), name, "{}", shell(path));
            assert!(!shell(path).contains('\n'));
        }
    }

    #[test]
    fn escaped_names_are_one_line_and_tell_bytes_apart() {
        let a = escaped(OsStr::from_bytes(b"c\xfe.py"));
        let b = escaped(OsStr::from_bytes(b"c\xff.py"));
        assert_eq!((a.as_str(), b.as_str()), (r"c\xfe.py", r"c\xff.py"));
        assert_ne!(escaped(OsStr::from_bytes(br"c\xfe.py")), a, "a literal backslash reads differently");
        assert_eq!(escaped(OsStr::new("x\ny")), r"x\ny");
    }

    #[test]
    fn long_input_is_cut() {
        let line = "a".repeat(10_000_000);
        let shown = cut(&line);
        assert!(shown.len() < 300, "{}", shown.len());
        assert!(shown.ends_with("(10000000 characters in all)"));
        assert_eq!(cut("short"), "short");
    }
}
