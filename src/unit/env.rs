// SPDX-License-Identifier: LGPL-2.1-or-later
//! `$VAR`/`${VAR}` expansion in a command's argv as systemd does it at exec time
//! (`replace_env_argv()` in src/basic/env-util.c, called from src/core/exec-invoke.c), unless
//! the command has the `:` prefix. Nothing is expanded at load time.

use std::collections::HashMap;

use super::words::{extract_first_word, lossy, ExtractFlags};

/// An environment to expand `$VAR` from.
pub trait EnvLookup {
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl EnvLookup for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// A list of assignments: the last one for a name wins, as in an environment block.
impl EnvLookup for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl EnvLookup for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// `env_name_is_valid()`: non-empty, `[A-Za-z0-9_]`, not starting with a digit.
pub fn env_name_is_valid(n: &str) -> bool {
    !n.is_empty()
        && !n.as_bytes()[0].is_ascii_digit()
        && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The result of [`expand_env_full`]: the new argv and the names systemd warns about
/// ("Referenced but unset environment variable evaluates to an empty string: …",
/// "Invalid environment variable name evaluates to an empty string: …").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvExpansion {
    pub argv: Vec<String>,
    pub unset: Vec<String>,
    pub invalid: Vec<String>,
}

/// `replace_env_full()` with no flags: `${NAME}` → value (empty when unset), `$$` → `$`, anything
/// else (`$NAME` inside a word, `${NAME:-x}`, an unterminated `${`) stays literal.
fn replace_env_word<E: EnvLookup + ?Sized>(
    word: &str,
    env: &E,
    keep_unset: bool,
    unset: &mut Vec<String>,
    invalid: &mut Vec<String>,
) -> String {
    let b = word.as_bytes();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    let mut lit = 0; // start of the pending literal text
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => {
                out.push_str(&word[lit..=i]);
                i += 2;
                lit = i;
            }
            Some(b'{') => {
                // Find the closing brace; a ':' first means unsupported syntax: keep literally.
                let mut j = i + 2;
                while j < b.len() && b[j] != b'}' && b[j] != b':' {
                    j += 1;
                }
                if j < b.len() && b[j] == b'}' {
                    out.push_str(&word[lit..i]);
                    let name = &word[i + 2..j];
                    if env_name_is_valid(name) {
                        match env.lookup(name) {
                            Some(v) => out.push_str(v),
                            None => {
                                if keep_unset {
                                    out.push_str(&word[i..=j]);
                                }
                                push_uniq(unset, name);
                            }
                        }
                    } else {
                        push_uniq(invalid, name);
                    }
                    i = j + 1;
                    lit = i;
                } else {
                    // Unsupported or unterminated: the scanner goes on after the "${".
                    i += 2;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&word[lit..]);
    out
}

fn push_uniq(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Splits an environment variable's value for a lone `$NAME` word: whitespace-separated,
/// quotes removed, backslash escapes the next character, unbalanced quotes tolerated
/// (`EXTRACT_RELAX|EXTRACT_UNQUOTE`).
pub fn split_env_value(v: &str) -> Vec<String> {
    let flags = ExtractFlags {
        relax: true,
        unquote: true,
        cunescape: false,
        unescape_relax: false,
    };
    let mut pos = Some(0);
    let mut out = Vec::new();
    while let Ok(Some(w)) = extract_first_word(v.as_bytes(), &mut pos, flags) {
        out.push(lossy(&w));
    }
    out
}

/// `replace_env_argv()`: what systemd does to argv right before `execve()` unless the command has
/// the `:` prefix. A word that is exactly `$NAME` becomes the variable's value split into words
/// (no word at all when unset or when NAME is not a valid name — even a lone `$`); `${NAME}`
/// anywhere becomes the value as one piece; `$$` becomes `$`.
pub fn expand_env_full<E: EnvLookup + ?Sized>(argv: &[String], env: &E) -> EnvExpansion {
    expand(argv, env, false)
}

/// [`expand_env_full`] for a partly known environment (`show` knows `Environment=`, not what
/// the manager or an `EnvironmentFile=` adds at run time): a reference to a variable `env` does
/// not hold stays as written (`$NAME`, `${NAME}`) instead of vanishing, and is listed in
/// `unset`.
pub fn expand_env_known<E: EnvLookup + ?Sized>(argv: &[String], env: &E) -> EnvExpansion {
    expand(argv, env, true)
}

fn expand<E: EnvLookup + ?Sized>(argv: &[String], env: &E, keep_unset: bool) -> EnvExpansion {
    let mut r = EnvExpansion::default();
    for word in argv {
        let b = word.as_bytes();
        if b.first() == Some(&b'$') && !matches!(b.get(1), Some(b'{') | Some(b'$')) {
            let name = &word[1..];
            if env_name_is_valid(name) {
                match env.lookup(name) {
                    Some(v) => r.argv.extend(split_env_value(v)),
                    None => {
                        if keep_unset {
                            r.argv.push(word.clone());
                        }
                        push_uniq(&mut r.unset, name);
                    }
                }
            } else {
                push_uniq(&mut r.invalid, name);
            }
            continue;
        }
        let w = replace_env_word(word, env, keep_unset, &mut r.unset, &mut r.invalid);
        r.argv.push(w);
    }
    r.unset.sort();
    r.invalid.sort();
    r
}

/// [`expand_env_full`] without the warnings.
pub fn expand_env<E: EnvLookup + ?Sized>(argv: &[String], env: &E) -> Vec<String> {
    expand_env_full(argv, env).argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env: Vec<(String, String)> = vec![
            ("A".into(), "one two  'three four'".into()),
            ("B".into(), "x y".into()),
            ("E".into(), "".into()),
        ];
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            expand_env(&v(&["/bin/x", "$A", "${B}", "p${B}q", "$$A", "a$B"]), &env),
            v(&[
                "/bin/x",
                "one",
                "two",
                "three four",
                "x y",
                "px yq",
                "$A",
                "a$B"
            ])
        );
        let r = expand_env_full(&v(&["$NOPE", "${NOPE}", "$", "$A-x", "${1X}", "$E"]), &env);
        assert_eq!(r.argv, v(&["", ""]));
        assert_eq!(r.unset, v(&["NOPE"]));
        assert_eq!(r.invalid, v(&["", "1X", "A-x"]));
        assert_eq!(
            expand_env(&v(&["${B:-z}", "${B", "$${B}"]), &env),
            v(&["${B:-z}", "${B", "${B}"])
        );
        // A partly known environment keeps what it cannot expand as written.
        let r = expand_env_known(&v(&["$NOPE", "a${NOPE}b", "$B", "${B}", "$$NOPE"]), &env);
        assert_eq!(r.argv, v(&["$NOPE", "a${NOPE}b", "x", "y", "x y", "$NOPE"]));
        assert_eq!(r.unset, v(&["NOPE"]));
    }
}
