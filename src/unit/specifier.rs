// SPDX-License-Identifier: LGPL-2.1-or-later
//! Unit specifiers (`%i`, `%n`, `%H`, …) as systemd's `unit_full_printf()` expands them for a unit
//! of the **system** manager (src/core/unit-printf.c, src/shared/specifier.c).
//!
//! Pure: every host fact comes from a [`HostFacts`] the caller fills, normally with
//! [`HostFacts::gather`], the one function here that reads files.
//!
//! Rules worth knowing (all from `specifier_printf()` in src/shared/specifier.c):
//! - `%%` is a literal `%`; a `%` at the very end of the text stays a literal `%`.
//! - `%` followed by an ASCII letter or digit that is not in the table fails the whole expansion
//!   with `-EBADSLT`; the caller then ignores the assignment ("Failed to resolve unit specifiers").
//! - `%` followed by anything else (punctuation, space, a non-ASCII byte) is kept literally.
//! - A specifier whose value is empty (e.g. `%i` in a non-template unit) expands to nothing.
//! - A lookup failure (no `/etc/machine-id`, no os-release, an instance that does not unescape)
//!   fails the whole expansion.

use std::fmt;
use std::fs;
use std::path::Path;

use super::name;

/// `LONG_LINE_MAX` in systemd: the cap `unit_full_printf()` puts on an expanded value.
pub const LONG_LINE_MAX: usize = 1024 * 1024;
/// `PATH_MAX - 1`: the cap `unit_path_printf()` puts on an expanded executable path.
pub const PATH_MAX_EXPANDED: usize = 4095;

/// Why an expansion failed; `errno()` and `Display` give the text systemd's `%m` would print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecifierError {
    /// `%x` with an alphanumeric `x` systemd does not know (`-EBADSLT`).
    Unknown(char),
    /// A specifier whose value cannot be determined (e.g. `%m` without `/etc/machine-id`).
    Unavailable { specifier: char, errno: i32 },
    /// The result exceeds the caller's maximum length (`-ENAMETOOLONG`).
    TooLong,
}

pub const EINVAL: i32 = 22;
pub const ENOENT: i32 = 2;
pub const EUNATCH: i32 = 49;
pub const EBADSLT: i32 = 57;
pub const ENAMETOOLONG: i32 = 36;

/// `strerror()` for the few errnos this module produces, as glibc words them.
pub fn strerror(errno: i32) -> &'static str {
    match errno {
        EINVAL => "Invalid argument",
        ENOENT => "No such file or directory",
        EUNATCH => "Protocol driver not attached",
        EBADSLT => "Invalid slot",
        ENAMETOOLONG => "File name too long",
        _ => "Unknown error",
    }
}

impl SpecifierError {
    pub fn errno(&self) -> i32 {
        match self {
            SpecifierError::Unknown(_) => EBADSLT,
            SpecifierError::Unavailable { errno, .. } => *errno,
            SpecifierError::TooLong => ENAMETOOLONG,
        }
    }
}

impl fmt::Display for SpecifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(strerror(self.errno()))
    }
}

impl std::error::Error for SpecifierError {}

/// Facts about the running host that specifiers need. `None` means "could not be read"; what that
/// does depends on the specifier, exactly as in systemd (see each field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// `%m`: 32 lowercase hex digits. Missing → `%m` fails (`-EUNATCH`).
    pub machine_id: Option<String>,
    /// `%b`: 32 lowercase hex digits (the kernel's UUID form is accepted too). Missing → fails.
    pub boot_id: Option<String>,
    /// `%H`: the kernel hostname. Missing, empty or `(none)` → `localhost` (systemd's fallback).
    pub hostname: Option<String>,
    /// `%q`: `PRETTY_HOSTNAME=` from `/etc/machine-info`; missing or empty → the short hostname.
    pub pretty_hostname: Option<String>,
    /// `%v`: `uname -r`.
    pub kernel_release: Option<String>,
    /// `%a`: the architecture in systemd's naming (`x86-64`, `arm64`, …), see [`architecture_name`].
    pub architecture: Option<String>,
    /// `%o %w %B %W %M %A`: the os-release assignments. `None` (no file) → those specifiers fail
    /// with `-EUNATCH`; a missing field expands to nothing.
    pub os_release: Option<Vec<(String, String)>>,
    /// `%s`: root's shell as PID 1 reports it: `get_shell()` hardcodes root's shell to the build's
    /// `default-user-shell` (`/bin/sh` upstream, `/bin/bash` in Debian's packages). `None` →
    /// `/bin/sh`.
    pub root_shell: Option<String>,
}

/// Maps a `uname -m` machine string to the name systemd's `architecture_to_string()` uses.
pub fn architecture_name(machine: &str) -> String {
    let m = machine.trim();
    let s = match m {
        "x86_64" | "amd64" => "x86-64",
        "i386" | "i486" | "i586" | "i686" | "x86" => "x86",
        "aarch64" => "arm64",
        "aarch64_be" => "arm64-be",
        "ppc64le" => "ppc64-le",
        "ppc64" => "ppc64",
        "ppcle" => "ppc-le",
        "ppc" => "ppc",
        "s390x" => "s390x",
        "s390" => "s390",
        "riscv64" => "riscv64",
        "riscv32" => "riscv32",
        "loongarch64" => "loongarch64",
        "ia64" => "ia64",
        "parisc64" => "parisc64",
        "parisc" => "parisc",
        "sparc64" => "sparc64",
        "sparc" => "sparc",
        "mips64" => "mips64",
        "mips64el" => "mips64-le",
        "mips" => "mips",
        "mipsel" => "mips-le",
        "alpha" => "alpha",
        "sh" => "sh",
        "sh64" => "sh64",
        "m68k" => "m68k",
        "tilegx" => "tilegx",
        "cris" => "cris",
        "nios2" => "nios2",
        "arc" => "arc",
        "arceb" => "arc-be",
        _ if m.starts_with("armv") && m.ends_with('b') => "arm-be",
        _ if m.starts_with("arm") => "arm",
        other => other,
    };
    s.to_string()
}

fn read_trimmed(root: &Path, path: &str) -> Option<String> {
    let p = root.join(path.trim_start_matches('/'));
    let s = fs::read(p).ok()?;
    let s = String::from_utf8_lossy(&s);
    let t = s.trim_end_matches(['\n', '\r', ' ', '\t']).to_string();
    Some(t)
}

/// Parses the `KEY=value` lines of an env-style file such as os-release or machine-info:
/// comments, blank lines, and single/double quotes with backslash escapes inside double quotes.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let v = v.trim();
        let mut val = String::new();
        let mut chars = v.chars().peekable();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, '\'') | (None, '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some('"'), '\\') | (None, '\\') => {
                    if let Some(n) = chars.next() {
                        val.push(n);
                    }
                }
                (_, c) => val.push(c),
            }
        }
        out.push((k.to_string(), val));
    }
    out
}

impl HostFacts {
    /// Reads the host facts from files below `root` (`/` for the running system). The only
    /// impure function of the unit model: std file reads, nothing else.
    pub fn gather(root: &Path) -> HostFacts {
        let os_release = read_trimmed(root, "/etc/os-release")
            .or_else(|| read_trimmed(root, "/usr/lib/os-release"))
            .map(|t| parse_env_file(&t));
        let pretty_hostname = read_trimmed(root, "/etc/machine-info").and_then(|t| {
            parse_env_file(&t)
                .into_iter()
                .rev()
                .find(|(k, _)| k == "PRETTY_HOSTNAME")
                .map(|(_, v)| v)
        });
        let architecture = read_trimmed(root, "/proc/sys/kernel/arch")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        HostFacts {
            machine_id: read_trimmed(root, "/etc/machine-id").and_then(|s| normalize_id128(&s)),
            boot_id: read_trimmed(root, "/proc/sys/kernel/random/boot_id")
                .and_then(|s| normalize_id128(&s)),
            hostname: read_trimmed(root, "/proc/sys/kernel/hostname"),
            pretty_hostname,
            kernel_release: read_trimmed(root, "/proc/sys/kernel/osrelease"),
            architecture: Some(architecture_name(&architecture)),
            root_shell: Some(default_root_shell(os_release.as_deref()).to_string()),
            os_release,
        }
    }
}

/// The `default-user-shell` systemd was built with, guessed from os-release: Debian and its
/// derivatives build with `/bin/bash` (checked with systemd 252 on Debian 12: `%s` of the system
/// manager is `/bin/bash`), upstream's default is `/bin/sh`.
pub fn default_root_shell(os_release: Option<&[(String, String)]>) -> &'static str {
    let debianish = os_release.is_some_and(|os| {
        os.iter().any(|(k, v)| {
            (k == "ID" || k == "ID_LIKE")
                && v.split_whitespace().any(|w| w == "debian" || w == "ubuntu")
        })
    });
    if debianish {
        "/bin/bash"
    } else {
        "/bin/sh"
    }
}

/// Accepts an ID in plain (32 hex digits) or UUID form and returns the plain lowercase form,
/// as `sd_id128_to_string()` prints it; `None` for anything else (systemd fails to read it).
pub fn normalize_id128(s: &str) -> Option<String> {
    let s = s.trim();
    let hex: String = if s.len() == 36 {
        let b = s.as_bytes();
        if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
            return None;
        }
        s.chars().filter(|&c| c != '-').collect()
    } else {
        s.to_string()
    };
    if hex.len() == 32 && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        Some(hex.to_ascii_lowercase())
    } else {
        None
    }
}

/// Everything `unit_full_printf()` needs about the unit and the host.
#[derive(Debug, Clone)]
pub struct SpecifierContext<'a> {
    /// The unit's id (`sshd@mgmt.service`).
    pub unit: &'a str,
    /// `%y`: the fragment's real path (symlinks resolved by the caller); `None` → `%y`/`%Y` fail
    /// with `-ENOENT`, as `specifier_real_path()` does for a unit without a fragment.
    pub fragment_path: Option<&'a str>,
    /// The cgroup path of the unit's slice for the deprecated `%r` (and `%c`); `None` → the
    /// default slice systemd assigns (`/system.slice`, or `/system.slice/system-PREFIX.slice`
    /// for an instance).
    pub slice_cgroup: Option<&'a str>,
    pub host: HostSource<'a>,
}

impl<'a> SpecifierContext<'a> {
    pub fn new(unit: &'a str, host: &'a HostFacts) -> Self {
        Self::with_host(unit, HostSource::Given(host))
    }

    /// Host facts read only if a specifier needs them (see [`LazyHostFacts`]).
    pub fn lazy(unit: &'a str, host: &'a LazyHostFacts) -> Self {
        Self::with_host(unit, HostSource::Lazy(host))
    }

    fn with_host(unit: &'a str, host: HostSource<'a>) -> Self {
        SpecifierContext {
            unit,
            fragment_path: None,
            slice_cgroup: None,
            host,
        }
    }
}

/// Where expansion gets the host facts from.
#[derive(Debug, Clone, Copy)]
pub enum HostSource<'a> {
    Given(&'a HostFacts),
    Lazy(&'a LazyHostFacts),
}

impl<'a> HostSource<'a> {
    pub fn get(self) -> &'a HostFacts {
        match self {
            HostSource::Given(h) => h,
            HostSource::Lazy(l) => l.get(),
        }
    }
}

/// Host facts gathered on first use. Most units use no host specifier (%H, %m, %b, %o, …), so
/// the launcher's start path should not read seven files for them on every start.
#[derive(Debug)]
pub struct LazyHostFacts {
    root: std::path::PathBuf,
    /// `OnceLock`: the generator plans units on several threads (`plan.rs`).
    facts: std::sync::OnceLock<HostFacts>,
}

impl LazyHostFacts {
    pub fn new(root: &Path) -> Self {
        LazyHostFacts {
            root: root.to_path_buf(),
            facts: std::sync::OnceLock::new(),
        }
    }

    pub fn get(&self) -> &HostFacts {
        self.facts.get_or_init(|| HostFacts::gather(&self.root))
    }
}

fn unavailable(specifier: char, errno: i32) -> SpecifierError {
    SpecifierError::Unavailable { specifier, errno }
}

fn unescape(spec: char, s: &str) -> Result<String, SpecifierError> {
    name::unescape(s).map_err(|_| unavailable(spec, EINVAL))
}

fn short_hostname(host: &HostFacts) -> String {
    let h = hostname(host);
    h.split('.').next().unwrap_or("").to_string()
}

fn hostname(host: &HostFacts) -> String {
    // gethostname_malloc(): GET_HOSTNAME_ALLOW_LOCALHOST | GET_HOSTNAME_FALLBACK_DEFAULT
    // (src/basic/hostname-util.c): an unset kernel hostname becomes the fallback "localhost".
    match host.hostname.as_deref() {
        None | Some("") | Some("(none)") => "localhost".to_string(),
        Some(h) => h.to_string(),
    }
}

fn os_field(spec: char, host: &HostFacts, key: &str) -> Result<String, SpecifierError> {
    // src/shared/specifier.c parse_os_release_specifier(): a missing file is -EUNATCH, a missing
    // field expands to nothing.
    let os = host.os_release.as_ref().ok_or(unavailable(spec, EUNATCH))?;
    Ok(os
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default())
}

fn last_component(unit: &str) -> Result<String, SpecifierError> {
    let p = name::prefix(unit).ok_or(unavailable('j', EINVAL))?;
    Ok(match p.rfind('-') {
        Some(d) => p[d + 1..].to_string(),
        None => p.to_string(),
    })
}

fn default_slice(unit: &str) -> String {
    // unit_set_default_slice() (src/core/unit.c): instances of a template go to
    // system-PREFIX.slice, everything else to system.slice.
    match (name::instance(unit), name::prefix(unit)) {
        (Some(i), Some(p)) if !i.is_empty() => {
            format!("/system.slice/system-{}.slice", name::escape(p))
        }
        _ => "/system.slice".to_string(),
    }
}

fn parent_dir(path: &str) -> String {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => path[..i].to_string(),
        None => ".".to_string(),
    }
}

/// The value of one specifier letter, `Ok(None)` when the letter is not in systemd's table.
fn lookup(c: char, ctx: &SpecifierContext<'_>) -> Result<Option<String>, SpecifierError> {
    let u = ctx.unit;
    // Only the letters that need them read the host facts.
    let h = || ctx.host.get();
    let v = match c {
        'n' => u.to_string(),
        'N' => name::without_suffix(u).unwrap_or(u).to_string(),
        'p' => name::prefix(u).unwrap_or("").to_string(),
        'P' => unescape(c, name::prefix(u).unwrap_or(""))?,
        'i' => name::instance(u).unwrap_or("").to_string(),
        // %I of a non-instance unescapes "" (strempty(u->instance)).
        'I' => unescape(c, name::instance(u).unwrap_or(""))?,
        'j' => last_component(u)?,
        'J' => unescape(c, &last_component(u)?)?,
        'f' => {
            // specifier_filename(): the instance if there is one, else the prefix, path-unescaped.
            let s = match name::instance(u) {
                Some(i) if !i.is_empty() => i,
                _ => name::prefix(u).unwrap_or(""),
            };
            name::unescape_path(s).map_err(|_| unavailable(c, EINVAL))?
        }
        'y' => ctx.fragment_path.ok_or(unavailable(c, ENOENT))?.to_string(),
        'Y' => parent_dir(ctx.fragment_path.ok_or(unavailable(c, ENOENT))?),
        // Deprecated (they log a warning in systemd) but still resolved.
        'c' => {
            let slice = ctx
                .slice_cgroup
                .map(str::to_string)
                .unwrap_or_else(|| default_slice(u));
            if name::unit_type(u) == Some("slice") {
                format!("/{}", u)
            } else {
                format!("{}/{}", slice, u)
            }
        }
        'r' => ctx
            .slice_cgroup
            .map(str::to_string)
            .unwrap_or_else(|| default_slice(u)),
        'R' => "/".to_string(),
        // The system manager's directories (manager->prefix[] for MANAGER_SYSTEM).
        'C' => "/var/cache".to_string(),
        'd' => format!("/run/credentials/{u}"),
        'D' => "/usr/share".to_string(),
        'E' => "/etc".to_string(),
        'L' => "/var/log".to_string(),
        'S' => "/var/lib".to_string(),
        't' => "/run".to_string(),
        // The service manager's own user: PID 1 runs as root (COMMON_CREDS_SPECIFIERS with
        // RUNTIME_SCOPE_SYSTEM uses uid/gid 0; get_home_dir()/get_shell() hardcode root's).
        'h' => "/root".to_string(),
        // %s: see HostFacts::root_shell.
        's' => h()
            .root_shell
            .clone()
            .unwrap_or_else(|| "/bin/sh".to_string()),
        'u' | 'g' => "root".to_string(),
        'U' | 'G' => "0".to_string(),
        // COMMON_SYSTEM_SPECIFIERS
        'a' => h().architecture.clone().unwrap_or_default(),
        'A' => os_field(c, h(), "IMAGE_VERSION")?,
        'b' => h().boot_id.clone().ok_or(unavailable(c, ENOENT))?,
        'B' => os_field(c, h(), "BUILD_ID")?,
        'H' => hostname(h()),
        'l' => short_hostname(h()),
        'q' => match h().pretty_hostname.as_deref() {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => short_hostname(h()),
        },
        'm' => h().machine_id.clone().ok_or(unavailable(c, EUNATCH))?,
        'M' => os_field(c, h(), "IMAGE_ID")?,
        'o' => os_field(c, h(), "ID")?,
        'v' => h().kernel_release.clone().unwrap_or_default(),
        'w' => os_field(c, h(), "VERSION_ID")?,
        'W' => os_field(c, h(), "VARIANT_ID")?,
        // COMMON_TMP_SPECIFIERS: PID 1 has no $TMPDIR.
        'T' => "/tmp".to_string(),
        'V' => "/var/tmp".to_string(),
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// `unit_full_printf()`: expands every specifier in `text`, capped at [`LONG_LINE_MAX`].
pub fn expand(text: &str, ctx: &SpecifierContext<'_>) -> Result<String, SpecifierError> {
    expand_max(text, ctx, LONG_LINE_MAX)
}

/// `specifier_printf()` with an explicit cap on the result's length in bytes.
pub fn expand_max(
    text: &str,
    ctx: &SpecifierContext<'_>,
    max_length: usize,
) -> Result<String, SpecifierError> {
    let mut out = String::with_capacity(text.len());
    let mut percent = false;
    for c in text.chars() {
        if percent {
            percent = false;
            if c == '%' {
                out.push('%');
            } else if let Some(v) = lookup(c, ctx)? {
                out.push_str(&v);
            } else if c.is_ascii_alphanumeric() {
                // POSSIBLE_SPECIFIERS: "Oops, an unknown specifier."
                return Err(SpecifierError::Unknown(c));
            } else {
                out.push('%');
                out.push(c);
            }
        } else if c == '%' {
            percent = true;
        } else {
            out.push(c);
        }
        if out.len() > max_length {
            return Err(SpecifierError::TooLong);
        }
    }
    if percent {
        // "If string ended with a stray %, also end with %"
        out.push('%');
        if out.len() > max_length {
            return Err(SpecifierError::TooLong);
        }
    }
    Ok(out)
}

/// The letters systemd v260 resolves in unit settings (`unit_full_printf()`), for documentation
/// and tests.
pub const KNOWN: &str = "iIjJnNpPfyYcrRCdDELSthsuUgGaAbBHlqmMovwWTV";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_are_read_only_when_a_specifier_needs_them() {
        let lazy = LazyHostFacts::new(Path::new("/nonexistent-root"));
        let ctx = SpecifierContext::lazy("a@b.service", &lazy);
        assert_eq!(expand("%n %i %t", &ctx).unwrap(), "a@b.service b /run");
        assert!(
            lazy.facts.get().is_none(),
            "no host specifier, nothing read"
        );
        let _ = expand("%H", &ctx);
        assert!(lazy.facts.get().is_some());
    }

    fn host() -> HostFacts {
        HostFacts {
            machine_id: Some("0123456789abcdef0123456789abcdef".into()),
            boot_id: Some("fedcba9876543210fedcba9876543210".into()),
            hostname: Some("web1.example.org".into()),
            pretty_hostname: None,
            kernel_release: Some("6.1.0-18-amd64".into()),
            architecture: Some("x86-64".into()),
            os_release: Some(vec![
                ("ID".into(), "debian".into()),
                ("VERSION_ID".into(), "12".into()),
            ]),
            root_shell: None,
        }
    }

    fn x(unit: &str, text: &str) -> Result<String, SpecifierError> {
        let h = host();
        let mut ctx = SpecifierContext::new(unit, &h);
        ctx.fragment_path = Some("/usr/lib/systemd/system/sshd@.service");
        expand(text, &ctx)
    }

    #[test]
    fn names() {
        let u = "sshd-keygen@vrf\\x2dmgmt.service";
        assert_eq!(x(u, "%n").unwrap(), u);
        assert_eq!(x(u, "%N").unwrap(), "sshd-keygen@vrf\\x2dmgmt");
        assert_eq!(x(u, "%p").unwrap(), "sshd-keygen");
        assert_eq!(x(u, "%P").unwrap(), "sshd/keygen");
        assert_eq!(x(u, "%i").unwrap(), "vrf\\x2dmgmt");
        assert_eq!(x(u, "%I").unwrap(), "vrf-mgmt");
        assert_eq!(x(u, "%j").unwrap(), "keygen");
        assert_eq!(x(u, "%J").unwrap(), "keygen");
        assert_eq!(x(u, "%f").unwrap(), "/vrf-mgmt");
        assert_eq!(x("foo@vrf-mgmt.service", "%I").unwrap(), "vrf/mgmt");
        assert_eq!(x("dev-sda.swap", "%f").unwrap(), "/dev/sda");
        assert_eq!(x("plain.service", "[%i][%I]").unwrap(), "[][]");
        assert_eq!(x(u, "%y").unwrap(), "/usr/lib/systemd/system/sshd@.service");
        assert_eq!(x(u, "%Y").unwrap(), "/usr/lib/systemd/system");
    }

    #[test]
    fn manager_user_is_root() {
        assert_eq!(
            x("a.service", "%u %U %g %G %h %s").unwrap(),
            "root 0 root 0 /root /bin/sh"
        );
    }

    #[test]
    fn directories() {
        assert_eq!(
            x("a.service", "%t %S %C %L %E %T %V %D %d").unwrap(),
            "/run /var/lib /var/cache /var/log /etc /tmp /var/tmp /usr/share /run/credentials/a.service"
        );
    }

    #[test]
    fn host_facts() {
        assert_eq!(
            x("a.service", "%H %l %q").unwrap(),
            "web1.example.org web1 web1"
        );
        assert_eq!(
            x("a.service", "%o-%w-%B-%W-%M-%A").unwrap(),
            "debian-12----"
        );
        assert_eq!(x("a.service", "%v %a").unwrap(), "6.1.0-18-amd64 x86-64");
        assert_eq!(
            x("a.service", "%m").unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn unknown_and_literal() {
        // src/shared/specifier.c: alphanumerics are the pool of possible specifiers: -EBADSLT.
        assert_eq!(x("a.service", "%k"), Err(SpecifierError::Unknown('k')));
        assert_eq!(x("a.service", "%Z"), Err(SpecifierError::Unknown('Z')));
        assert_eq!(x("a.service", "%1"), Err(SpecifierError::Unknown('1')));
        // Anything else after % stays literal.
        assert_eq!(x("a.service", "%-%.%/% %é").unwrap(), "%-%.%/% %é");
        // "If string ended with a stray %, also end with %"
        assert_eq!(x("a.service", "50%").unwrap(), "50%");
        assert_eq!(x("a.service", "%%i").unwrap(), "%i");
        assert_eq!(x("a.service", "%%%").unwrap(), "%%");
    }

    #[test]
    fn missing_facts() {
        let h = HostFacts::default();
        let ctx = SpecifierContext::new("a.service", &h);
        assert_eq!(expand("%m", &ctx).unwrap_err().errno(), EUNATCH);
        assert_eq!(expand("%o", &ctx).unwrap_err().errno(), EUNATCH);
        assert_eq!(expand("%y", &ctx).unwrap_err().errno(), ENOENT);
        assert_eq!(expand("%H", &ctx).unwrap(), "localhost");
        assert_eq!(expand("%v", &ctx).unwrap(), "");
    }

    #[test]
    fn bad_instance_escape_fails() {
        assert!(x("a@b\\x4.service", "%i").is_ok());
        assert_eq!(x("a@b\\x4.service", "%I").unwrap_err().errno(), EINVAL);
    }

    #[test]
    fn max_length() {
        let h = host();
        let ctx = SpecifierContext::new("a.service", &h);
        assert_eq!(expand_max("abcd", &ctx, 3), Err(SpecifierError::TooLong));
        assert_eq!(expand_max("abc", &ctx, 3).unwrap(), "abc");
    }

    #[test]
    fn deprecated_cgroup_specifiers() {
        assert_eq!(
            x("a.service", "%c %r %R").unwrap(),
            "/system.slice/a.service /system.slice /"
        );
        assert_eq!(
            x("getty@tty1.service", "%r").unwrap(),
            "/system.slice/system-getty.slice"
        );
    }

    #[test]
    fn ids_and_arch() {
        assert_eq!(
            normalize_id128("6B5C1E7E-2F1A-4E11-9C3B-0123456789AB").as_deref(),
            Some("6b5c1e7e2f1a4e119c3b0123456789ab")
        );
        assert_eq!(normalize_id128("nope"), None);
        assert_eq!(architecture_name("x86_64"), "x86-64");
        assert_eq!(architecture_name("aarch64"), "arm64");
        assert_eq!(architecture_name("armv7l"), "arm");
        assert_eq!(architecture_name("i686"), "x86");
    }

    #[test]
    fn env_file() {
        let v = parse_env_file(
            "# c\nID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nX='a b'\n",
        );
        assert_eq!(v[0], ("ID".into(), "debian".into()));
        assert_eq!(v[1].1, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(v[2].1, "a b");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "%",
            "%%",
            "%\u{0}",
            "\u{10FFFF}%",
            "%\u{10FFFF}",
            "%%%%%",
            "",
        ] {
            let _ = x("a.service", s);
            let _ = x("not a unit", s);
        }
    }
}
