//! Lexical path checks for paths inside the image and paths inside the profile's directory.
//!
//! Invariant: a normalised image path starts with `/`, has no empty, `.` or `..` component and
//! no trailing `/` (except the root itself); a normalised relative path has no leading `/` and
//! no `.` or `..` component, so joining it to a directory never leaves that directory.

use std::fmt;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// The path is the empty string.
    Empty,
    /// An image path that does not start with `/`.
    NotAbsolute,
    /// A relative path that starts with `/`.
    Absolute,
    /// A `..` component, which could leave the intended directory.
    ParentComponent,
    /// A NUL byte or a control character.
    ControlCharacter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Empty => "the path is empty",
            PathError::NotAbsolute => "the path is not absolute",
            PathError::Absolute => "the path is absolute",
            PathError::ParentComponent => "the path contains a `..` component",
            PathError::ControlCharacter => "the path contains a control character",
        })
    }
}

fn components(path: &str) -> Result<Vec<&str>, PathError> {
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    let mut out = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(PathError::ParentComponent),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Normalises an absolute path inside the image: `//` and `.` collapse, a trailing `/` goes;
/// `..` is refused rather than resolved, because it is almost always a mistake or an attack.
///
/// # Errors
/// A [`PathError`] naming why the path was refused.
pub fn normalise_absolute(path: &str) -> Result<String, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let parts = components(path)?;
    Ok(format!("/{}", parts.join("/")))
}

/// Normalises a path relative to a directory (the profile's): it must stay inside it.
///
/// # Errors
/// A [`PathError`] naming why the path was refused.
pub fn normalise_relative(path: &str) -> Result<String, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    let parts = components(path)?;
    if parts.is_empty() {
        return Err(PathError::Empty);
    }
    Ok(parts.join("/"))
}

/// True when `path` is `dir` or lies below it. Both must be normalised absolute paths.
#[must_use]
pub fn is_within(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn abs(input: &str, expected: Result<&str, PathError>) {
        assert_eq!(
            normalise_absolute(input),
            expected.map(str::to_owned),
            "{input:?}"
        );
    }

    #[test]
    fn absolute_paths_normalise() {
        abs("/", Ok("/"));
        abs("/var/lib/docker", Ok("/var/lib/docker"));
        abs("/var//lib/./docker/", Ok("/var/lib/docker"));
        abs("//", Ok("/"));
        abs("var/lib", Err(PathError::NotAbsolute));
        abs("", Err(PathError::Empty));
        abs("/var/../etc", Err(PathError::ParentComponent));
        abs("/etc/\0x", Err(PathError::ControlCharacter));
        abs("/etc/a\nb", Err(PathError::ControlCharacter));
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(
            normalise_relative("files/a.conf"),
            Ok("files/a.conf".into())
        );
        assert_eq!(
            normalise_relative("./files//a.conf"),
            Ok("files/a.conf".into())
        );
        assert_eq!(normalise_relative("../x"), Err(PathError::ParentComponent));
        assert_eq!(
            normalise_relative("a/../../x"),
            Err(PathError::ParentComponent)
        );
        assert_eq!(normalise_relative("/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(normalise_relative("."), Err(PathError::Empty));
    }

    #[test]
    fn within_is_component_wise() {
        assert!(is_within("/var/lib/docker", "/var/lib"));
        assert!(is_within("/var/lib", "/var/lib"));
        assert!(!is_within("/var/library", "/var/lib"));
        assert!(is_within("/etc", "/"));
        assert!(!is_within("/var", "/var/lib"));
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent_and_safe(parts in proptest::collection::vec("[a-z.]{0,4}", 0..8), lead in any::<bool>()) {
            let joined = parts.join("/");
            let input = if lead { format!("/{joined}") } else { joined.clone() };
            if let Ok(n) = normalise_absolute(&input) {
                prop_assert!(n.starts_with('/'));
                prop_assert!(!n.split('/').skip(1).any(|c| c == ".." || c == "." || (c.is_empty() && n != "/")));
                prop_assert_eq!(normalise_absolute(&n), Ok(n.clone()));
            }
            if let Ok(n) = normalise_relative(&input) {
                prop_assert!(!n.starts_with('/'));
                prop_assert!(!n.split('/').any(|c| c == ".." || c == "." || c.is_empty()));
                prop_assert_eq!(normalise_relative(&n), Ok(n.clone()));
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,40}") {
            let _ = normalise_absolute(&s);
            let _ = normalise_relative(&s);
        }
    }
}
