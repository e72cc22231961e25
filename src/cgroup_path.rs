// SPDX-License-Identifier: LGPL-2.1-or-later
//! cgroup layout and path logic (pure: the text of `/proc/self/cgroup` and mountinfo and the
//! `statfs` results are read by `sys` and passed in).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use crate::log::escape_bytes;

/// `CGROUP2_SUPER_MAGIC` from `linux/magic.h`.
pub const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
/// `TMPFS_MAGIC`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `CGROUP_SUPER_MAGIC` (cgroup v1).
pub const CGROUP_SUPER_MAGIC: u64 = 0x0027_e0eb;

/// Where the tool mounts its own cgroup2 on legacy hosts.
pub const PRIVATE_CGROUP2_MOUNT: &str = "/run/bindif-launch/cgroup2";

/// How the host's cgroups are laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `/sys/fs/cgroup` is the cgroup2 hierarchy.
    Unified { mount: PathBuf },
    /// `/sys/fs/cgroup` is a tmpfs of v1 hierarchies, cgroup2 lives at `/sys/fs/cgroup/unified`.
    Hybrid { mount: PathBuf },
    /// No cgroup2 that systemd uses: we must mount our own and mirror the unit's path there.
    Legacy,
}

impl Layout {
    /// The cgroup2 mount systemd uses, if any.
    pub fn cgroup2_mount(&self) -> Option<&Path> {
        match self {
            Layout::Unified { mount } | Layout::Hybrid { mount } => Some(mount),
            Layout::Legacy => None,
        }
    }
}

/// The parsed `/proc/self/cgroup`. Paths are bytes as the kernel wrote them: a cgroup's name
/// may hold any byte but `/` and NUL (invalid UTF-8, a `\r`), and must reach `mkdir`/`open`
/// unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcCgroup {
    /// Path in the cgroup2 hierarchy (the `0::` line).
    pub unified: Option<OsString>,
    /// Path in the v1 `name=systemd` hierarchy (legacy and hybrid layouts).
    pub systemd: Option<OsString>,
}

/// A problem with cgroup text or a cgroup path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupError(pub String);

impl fmt::Display for CgroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CgroupError {}

impl From<CgroupError> for io::Error {
    fn from(e: CgroupError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e.0)
    }
}

/// Parses `/proc/PID/cgroup` (`ID:CONTROLLERS:PATH` per line; the path may contain `:`).
/// Lines end at `\n` only: the kernel escapes nothing else, so a `\r` belongs to the path.
pub fn parse_proc_cgroup(text: &[u8]) -> Result<ProcCgroup, CgroupError> {
    let mut out = ProcCgroup::default();
    for line in text
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
    {
        let mut parts = line.splitn(3, |&b| b == b':');
        let (Some(id), Some(ctrl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CgroupError(format!(
                "malformed cgroup line '{}'",
                escape_bytes(line)
            )));
        };
        let id: u32 = std::str::from_utf8(id)
            .ok()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| {
                CgroupError(format!(
                    "malformed hierarchy id in '{}'",
                    escape_bytes(line)
                ))
            })?;
        // Only the two paths are kept: the other lines (a dozen on hybrid hosts) are checked,
        // not copied, so a start allocates nothing for them.
        let mut controllers = ctrl.split(|&b| b == b',').filter(|c| !c.is_empty());
        let path = || Some(OsString::from_vec(path.to_vec()));
        if id == 0 && controllers.clone().next().is_none() {
            out.unified = path();
        }
        if controllers.any(|c| c == b"name=systemd") {
            out.systemd = path();
        }
    }
    Ok(out)
}

/// Decides the layout from the filesystem types of `ROOT/sys/fs/cgroup` and
/// `ROOT/sys/fs/cgroup/unified` (`None`: missing or not statfs-able).
pub fn decide_layout(root: &Path, sys_fs_cgroup: Option<u64>, unified: Option<u64>) -> Layout {
    let base = root.join("sys/fs/cgroup");
    if sys_fs_cgroup == Some(CGROUP2_SUPER_MAGIC) {
        return Layout::Unified { mount: base };
    }
    if sys_fs_cgroup == Some(TMPFS_MAGIC) && unified == Some(CGROUP2_SUPER_MAGIC) {
        return Layout::Hybrid {
            mount: base.join("unified"),
        };
    }
    Layout::Legacy
}

/// Detects the layout under `root`, asking `statfs_magic` for filesystem types (injectable so
/// tests can describe any host).
pub fn detect_with(root: &Path, statfs_magic: impl Fn(&Path) -> Option<u64>) -> Layout {
    let base = root.join("sys/fs/cgroup");
    let top = statfs_magic(&base);
    // Only look for `unified` where it can exist: below a tmpfs of v1 hierarchies.
    let unified = if top == Some(TMPFS_MAGIC) {
        statfs_magic(&base.join("unified"))
    } else {
        None
    };
    decide_layout(root, top, unified)
}

/// The path systemd placed us at: the cgroup2 path on unified/hybrid hosts, the `name=systemd`
/// path on legacy ones.
pub fn own_cgroup_path(pc: &ProcCgroup, layout: &Layout) -> Result<OsString, CgroupError> {
    let path = match layout {
        Layout::Unified { .. } | Layout::Hybrid { .. } => pc.unified.as_ref(),
        Layout::Legacy => pc.systemd.as_ref(),
    };
    let path = path.ok_or_else(|| {
        CgroupError(match layout {
            Layout::Legacy => "no name=systemd line in /proc/self/cgroup".into(),
            _ => "no cgroup2 (0::) line in /proc/self/cgroup".into(),
        })
    })?;
    normalize(path)
}

/// Normalises an absolute cgroup path: collapses repeated `/`, rejects `.`, `..`, NUL bytes, a
/// relative path and the ` (deleted)` marker the kernel appends to a removed cgroup's path on
/// the default hierarchy. Returns `/a/b` or `/`; other bytes (any name the kernel allows) are
/// kept as they are.
pub fn normalize(path: impl AsRef<OsStr>) -> Result<OsString, CgroupError> {
    let path = path.as_ref().as_bytes();
    if !path.starts_with(b"/") {
        return Err(CgroupError(format!(
            "cgroup path '{}' is not absolute",
            escape_bytes(path)
        )));
    }
    if path.contains(&0) || path.ends_with(b" (deleted)") {
        return Err(CgroupError(format!(
            "invalid cgroup path '{}'",
            escape_bytes(path)
        )));
    }
    let mut out = Vec::with_capacity(path.len());
    for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if comp == b"." || comp == b".." {
            // ".." appears when the cgroup lies outside our cgroup namespace; we cannot reach it.
            return Err(CgroupError(format!(
                "cgroup path '{}' leaves the cgroup namespace or contains '{}'",
                escape_bytes(path),
                escape_bytes(comp)
            )));
        }
        out.push(b'/');
        out.extend_from_slice(comp);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(OsString::from_vec(out))
}

/// True for the root of the hierarchy (`/`), where we must never attach.
pub fn is_root(path: impl AsRef<OsStr>) -> bool {
    normalize(path).map(|p| p == "/").unwrap_or(false)
}

/// `mount` + cgroup `path`, rejecting anything that could escape `mount`.
pub fn join(mount: &Path, path: impl AsRef<OsStr>) -> Result<PathBuf, CgroupError> {
    let norm = normalize(path)?;
    let rel = Path::new(OsStr::from_bytes(&norm.as_bytes()[1..]));
    let joined = if rel.as_os_str().is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    };
    // Belt and braces: the normalised path has only normal components.
    debug_assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
    Ok(joined)
}

/// Checks a single child-cgroup name (one path component, not a control file's namespace).
pub fn valid_child_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0')
        && !name.starts_with("cgroup.")
}

/// Like [`join`], but refuses the root: for callers about to attach or to move processes.
pub fn join_non_root(mount: &Path, path: impl AsRef<OsStr>) -> Result<PathBuf, CgroupError> {
    if is_root(&path) {
        return Err(CgroupError(
            "refusing to use the root cgroup: a binding there would bind every socket of the host"
                .into(),
        ));
    }
    join(mount, path)
}

/// Where a cgroup path read from `/proc/self/cgroup` lies below a cgroup2 mount whose root,
/// as `/proc/self/mountinfo` shows it, is `mount_root`. Both are relative to this process's
/// cgroup namespace: a mount made outside the namespace shows a root like `/..`, and joining
/// our namespace-relative path to it would name a different cgroup (one outside our own), so
/// that is refused. A mount of a subtree (root `/a`) holds only paths below `/a`.
pub fn path_below_mount_root(
    own: impl AsRef<OsStr>,
    mount_root: &str,
) -> Result<OsString, CgroupError> {
    let own = normalize(own)?;
    let root = normalize(mount_root).map_err(|_| {
        CgroupError(format!(
            "the cgroup2 mount's root {} lies outside this process's cgroup namespace",
            escape_bytes(mount_root.as_bytes())
        ))
    })?;
    if root == "/" {
        return Ok(own);
    }
    match own.as_bytes().strip_prefix(root.as_bytes()) {
        Some(b"") => Ok("/".into()),
        Some(rest) if rest.starts_with(b"/") => Ok(OsStr::from_bytes(rest).to_owned()),
        _ => Err(CgroupError(format!(
            "cgroup {} is not below the cgroup2 mount's root {}",
            escape_bytes(own.as_bytes()),
            escape_bytes(root.as_bytes())
        ))),
    }
}

/// The root (field 4) of the last mount at `mount_point` in `/proc/self/mountinfo` text, the
/// one visible there; octal escapes (`\040` for a space) decoded.
pub fn mount_root(mountinfo: &str, mount_point: &Path) -> Option<String> {
    let want = mount_point.to_str()?;
    mountinfo
        .lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            let root = f.nth(3)?;
            let point = f.next()?;
            (unescape_mountinfo(point) == want).then(|| unescape_mountinfo(root))
        })
        .next_back()
}

/// The cgroup2 hierarchy's flags (`nsdelegate`, `memory_recursiveprot`, …) as the first
/// cgroup2 mount in `mountinfo` text shows them in its superblock options; `None` when the
/// text has no cgroup2 mount. Every new cgroup2 superblock configuration made from the initial
/// cgroup namespace (a `mount`, an `fsopen`) sets the one hierarchy's flags to exactly its
/// own, so a mount of ours must repeat these or it clears them for the whole host.
pub fn cgroup2_flags(mountinfo: &str) -> Option<Vec<String>> {
    mountinfo.lines().find_map(|line| {
        let (_, after) = line.split_once(" - ")?;
        let mut f = after.split(' ');
        (f.next()? == "cgroup2").then_some(())?;
        let options = f.nth(1)?;
        Some(
            options
                .split(',')
                .filter(|o| !o.is_empty() && *o != "rw" && *o != "ro")
                .map(str::to_string)
                .collect(),
        )
    })
}

fn unescape_mountinfo(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Who created a cgroup directory, recorded on it (an extended attribute) when this tool
/// creates one, so clean-up removes only directories it can prove it made, and only once
/// their maker has exited: never a directory of other software, never a sibling run's fresh
/// one between its `mkdir` and its move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Inode of the maker's PID namespace: a PID means nothing in another one.
    pub pidns: u64,
    pub pid: u32,
    /// The maker's start time (`/proc/PID/stat` field 22), so a reused PID is told apart.
    pub start: u64,
}

const OWNER_TAG: &str = "bindif-launch/1";

impl Owner {
    pub fn encode(&self) -> String {
        format!("{OWNER_TAG} {} {} {}", self.pidns, self.pid, self.start)
    }

    /// The inverse of [`Owner::encode`]; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Owner> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut f = text.split(' ');
        if f.next()? != OWNER_TAG {
            return None;
        }
        let owner = Owner {
            pidns: f.next()?.parse().ok()?,
            pid: f.next()?.parse().ok()?,
            start: f.next()?.parse().ok()?,
        };
        f.next().is_none().then_some(owner)
    }
}

/// What is known about the process an [`Owner`] names, in this PID namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// No process has that PID (`kill(pid, 0)`: ESRCH).
    NoProcess,
    /// A process has that PID; its start time if `/proc` shows it.
    Running(Option<u64>),
}

/// Whether the maker recorded in `owner` has certainly exited, seen from PID namespace
/// `our_pidns`. Anything uncertain (another PID namespace, a start time `/proc` hides) counts
/// as alive: a directory is left behind rather than taken from a running process.
pub fn owner_exited(owner: &Owner, our_pidns: u64, liveness: Liveness) -> bool {
    if owner.pidns != our_pidns {
        return false;
    }
    match liveness {
        Liveness::NoProcess => true,
        Liveness::Running(Some(start)) => start != owner.start,
        Liveness::Running(None) => false,
    }
}

/// The start time (field 22, clock ticks since boot) from `/proc/PID/stat` text. The command
/// name (field 2) may contain spaces and `)`, so fields are counted after the last `)`.
pub fn stat_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; field 22 is 19 further.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The ad hoc child cgroup's name: `bindif-launch-PID`, or `bindif-launch-PID-N` when a
/// directory of that name exists already (left by an earlier process with the same PID, or
/// made by a run in another PID namespace).
pub fn adhoc_child_name(pid: u32, attempt: u32) -> String {
    if attempt == 0 {
        format!("{ADHOC_PREFIX}{pid}")
    } else {
        format!("{ADHOC_PREFIX}{pid}-{attempt}")
    }
}

/// Prefix of the ad hoc child cgroups.
pub const ADHOC_PREFIX: &str = "bindif-launch-";

/// Whether `name` is one [`adhoc_child_name`] makes: `bindif-launch-PID` or
/// `bindif-launch-PID-N`. The prefix alone also matches the package's own units' cgroups
/// (`bindif-launch-enter.service`, `bindif-launch-follow@eth0.service`), which are systemd's.
pub fn is_adhoc_child_name(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(ADHOC_PREFIX.as_bytes()) else {
        return false;
    };
    let number = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match rest.iter().position(|&b| b == b'-') {
        None => number(rest),
        Some(i) => number(&rest[..i]) && number(&rest[i + 1..]),
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cgroup")
            .join(name)
    }

    /// The fixture's `proc/self/cgroup`, parsed (`sys::cgroup::read_proc_self_cgroup` reads it
    /// there below a root the same way).
    fn proc_self_cgroup(root: &Path) -> ProcCgroup {
        parse_proc_cgroup(&std::fs::read(root.join("proc/self/cgroup")).unwrap()).unwrap()
    }

    /// statfs answers for the three layouts, keyed by path suffix.
    fn fake_statfs(kind: &'static str) -> impl Fn(&Path) -> Option<u64> {
        move |p: &Path| {
            let unified = p.ends_with("sys/fs/cgroup/unified");
            let top = p.ends_with("sys/fs/cgroup");
            match (kind, top, unified) {
                ("unified", true, _) => Some(CGROUP2_SUPER_MAGIC),
                ("hybrid", true, _) => Some(TMPFS_MAGIC),
                ("hybrid", _, true) => Some(CGROUP2_SUPER_MAGIC),
                ("legacy", true, _) => Some(TMPFS_MAGIC),
                _ => None,
            }
        }
    }

    #[test]
    fn unified_fixture() {
        let root = fixture("unified");
        let layout = detect_with(&root, fake_statfs("unified"));
        assert_eq!(
            layout,
            Layout::Unified {
                mount: root.join("sys/fs/cgroup")
            }
        );
        let pc = proc_self_cgroup(&root);
        assert_eq!(
            own_cgroup_path(&pc, &layout).unwrap(),
            "/system.slice/sshd@mgmt.service"
        );
        assert_eq!(pc.systemd, None);
    }

    #[test]
    fn hybrid_fixture() {
        let root = fixture("hybrid");
        let layout = detect_with(&root, fake_statfs("hybrid"));
        assert_eq!(
            layout,
            Layout::Hybrid {
                mount: root.join("sys/fs/cgroup/unified")
            }
        );
        let pc = proc_self_cgroup(&root);
        assert_eq!(
            own_cgroup_path(&pc, &layout).unwrap(),
            "/system.slice/demo.service"
        );
        assert_eq!(
            pc.systemd.as_deref(),
            Some(OsStr::new("/system.slice/demo.service"))
        );
    }

    #[test]
    fn legacy_fixture() {
        let root = fixture("legacy");
        let layout = detect_with(&root, fake_statfs("legacy"));
        assert_eq!(layout, Layout::Legacy);
        assert_eq!(layout.cgroup2_mount(), None);
        let pc = proc_self_cgroup(&root);
        assert_eq!(pc.unified, None);
        assert_eq!(
            own_cgroup_path(&pc, &layout).unwrap(),
            "/system.slice/legacy.service"
        );
    }

    #[test]
    fn this_machine_shape() {
        // /proc/self/cgroup of the development host: everything at the root.
        let pc = parse_proc_cgroup(b"9:name=systemd:/\n4:memory:/process_api/e43\n0::/\n").unwrap();
        let layout = decide_layout(Path::new("/"), Some(TMPFS_MAGIC), Some(CGROUP2_SUPER_MAGIC));
        assert_eq!(
            layout,
            Layout::Hybrid {
                mount: "/sys/fs/cgroup/unified".into()
            }
        );
        assert!(is_root(own_cgroup_path(&pc, &layout).unwrap()));
    }

    #[test]
    fn decide_layout_table() {
        let r = Path::new("/");
        assert!(matches!(
            decide_layout(r, Some(CGROUP2_SUPER_MAGIC), None),
            Layout::Unified { .. }
        ));
        assert!(matches!(
            decide_layout(r, Some(TMPFS_MAGIC), Some(CGROUP2_SUPER_MAGIC)),
            Layout::Hybrid { .. }
        ));
        assert_eq!(decide_layout(r, Some(TMPFS_MAGIC), None), Layout::Legacy);
        assert_eq!(
            decide_layout(r, Some(TMPFS_MAGIC), Some(CGROUP_SUPER_MAGIC)),
            Layout::Legacy
        );
        assert_eq!(decide_layout(r, None, None), Layout::Legacy);
    }

    #[test]
    fn path_containing_colons() {
        let pc = parse_proc_cgroup(b"0::/system.slice/a:b.service\n").unwrap();
        assert_eq!(
            pc.unified.as_deref(),
            Some(OsStr::new("/system.slice/a:b.service"))
        );
    }

    /// A cgroup name may hold any byte but `/` and NUL: one that is not UTF-8, or a `\r` that
    /// a text-line split would strip, must come back exactly as the kernel wrote it.
    #[test]
    fn paths_are_bytes_as_written() {
        let pc = parse_proc_cgroup(b"1:name=systemd:/s/cr\r\n0::/user.slice/x\xff/cr\r\n").unwrap();
        let unified = pc.unified.as_ref().unwrap();
        assert_eq!(unified.as_bytes(), b"/user.slice/x\xff/cr\r");
        assert_eq!(pc.systemd.as_ref().unwrap().as_bytes(), b"/s/cr\r");
        let layout = Layout::Hybrid {
            mount: "/sys/fs/cgroup/unified".into(),
        };
        let own = own_cgroup_path(&pc, &layout).unwrap();
        assert_eq!(own.as_bytes(), b"/user.slice/x\xff/cr\r");
        assert_eq!(
            join(Path::new("/m"), &own).unwrap().as_os_str().as_bytes(),
            b"/m/user.slice/x\xff/cr\r"
        );
        // Only the kernel's marker of a removed cgroup is refused, not a name ending in `\r`.
        let dead = parse_proc_cgroup(b"0::/a/cr\r (deleted)\n").unwrap();
        let e = own_cgroup_path(&dead, &layout).unwrap_err();
        assert_eq!(e.0, "invalid cgroup path '/a/cr\\x0d (deleted)'");
    }

    #[test]
    fn errors_escape_the_path() {
        let e = normalize(OsStr::from_bytes(b"/a/../\x1b[31m\xff")).unwrap_err();
        assert_eq!(
            e.0,
            "cgroup path '/a/../\\x1b[31m\\xff' leaves the cgroup namespace or contains '..'"
        );
        let e = parse_proc_cgroup(b"\x1b\xff\n").unwrap_err();
        assert_eq!(e.0, "malformed cgroup line '\\x1b\\xff'");
    }

    #[test]
    fn the_unified_and_name_systemd_lines_are_picked_by_their_controllers() {
        let pc =
            parse_proc_cgroup(b"12:cpu,name=systemd:/s\n3:name=systemdx:/no\n0::/u\n").unwrap();
        assert_eq!(pc.systemd.as_deref(), Some(OsStr::new("/s")));
        assert_eq!(pc.unified.as_deref(), Some(OsStr::new("/u")));
        // A hierarchy with an id of its own is not the unified one, controllers or not.
        let pc = parse_proc_cgroup(b"5::/x\n0:pids:/y\n").unwrap();
        assert_eq!((pc.unified, pc.systemd), (None, None));
    }

    #[test]
    fn malformed_lines() {
        assert!(parse_proc_cgroup(b"garbage\n").is_err());
        assert!(parse_proc_cgroup(b"x::/\n").is_err());
        assert_eq!(parse_proc_cgroup(b"").unwrap(), ProcCgroup::default());
    }

    #[test]
    fn normalize_and_join() {
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("//a///b/").unwrap(), "/a/b");
        assert!(normalize("a/b").is_err());
        assert!(normalize("/a/../b").is_err());
        assert!(normalize("/../..").is_err());
        assert!(normalize("/a/./b").is_err());
        assert!(normalize("/a (deleted)").is_err());
        let m = Path::new("/sys/fs/cgroup/unified");
        assert_eq!(join(m, "/").unwrap(), m);
        assert_eq!(
            join(m, "/x.slice/y.service").unwrap(),
            m.join("x.slice/y.service")
        );
        assert!(join(m, "/x/../../etc").is_err());
    }

    #[test]
    fn root_is_refused() {
        let m = Path::new("/sys/fs/cgroup");
        for p in ["/", "//", "///"] {
            assert!(is_root(p));
            assert!(join_non_root(m, p).is_err());
        }
        assert!(!is_root("/a"));
        assert!(join_non_root(m, "/a").is_ok());
    }

    #[test]
    fn child_names() {
        assert!(valid_child_name("bindif-123"));
        for bad in ["", ".", "..", "a/b", "cgroup.procs", "a\0"] {
            assert!(!valid_child_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn paths_below_mount_roots() {
        assert_eq!(path_below_mount_root("/a/b", "/").unwrap(), "/a/b");
        assert_eq!(path_below_mount_root("/a/b", "/a").unwrap(), "/b");
        assert_eq!(path_below_mount_root("/a", "/a").unwrap(), "/");
        // A mount made outside our cgroup namespace: its root shows as `/..`.
        let e = path_below_mount_root("/", "/..").unwrap_err();
        assert!(
            e.0.contains("outside this process's cgroup namespace"),
            "{e}"
        );
        assert!(path_below_mount_root("/x", "/../..").is_err());
        assert!(path_below_mount_root("/ab", "/a").is_err());
        assert!(path_below_mount_root("/../x", "/").is_err());
    }

    #[test]
    fn mount_roots_from_mountinfo() {
        let mi = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                  50 41 0:38 /../.. /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                  60 31 0:40 /a\\040b /run/x\\040y rw - cgroup2 cgroup2 rw\n";
        let unified = Path::new("/sys/fs/cgroup/unified");
        assert_eq!(mount_root(mi, unified).as_deref(), Some("/../.."));
        assert_eq!(
            mount_root(mi, Path::new("/run/x y")).as_deref(),
            Some("/a b")
        );
        assert_eq!(mount_root(mi, Path::new("/sys")), None);
    }

    #[test]
    fn cgroup2_flags_from_the_superblock_options() {
        let mi = "30 24 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755\n\
                  41 30 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n\
                  42 30 0:39 / /sys/fs/cgroup/x rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_flags(mi),
            Some(vec![
                "nsdelegate".to_string(),
                "memory_recursiveprot".to_string()
            ])
        );
        let plain = "41 30 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_flags(plain), Some(vec![]));
        // optional fields before the separator do not shift the fields after it
        let tagged = "41 30 0:38 / /c rw shared:9 master:1 - cgroup2 none rw,favordynmods\n";
        assert_eq!(
            cgroup2_flags(tagged),
            Some(vec!["favordynmods".to_string()])
        );
        assert_eq!(
            cgroup2_flags("30 24 0:26 / /sys rw - sysfs sysfs rw\n"),
            None
        );
    }

    #[test]
    fn owners_round_trip_and_reject_junk() {
        let o = Owner {
            pidns: 4026531836,
            pid: 42,
            start: 123456,
        };
        assert_eq!(o.encode(), "bindif-launch/1 4026531836 42 123456");
        assert_eq!(Owner::decode(o.encode().as_bytes()), Some(o));
        for junk in [
            &b""[..],
            b"bindif-launch/1 1 2",
            b"bindif-launch/1 1 2 3 4",
            b"other/1 1 2 3",
            b"bindif-launch/1 x 2 3",
            b"\xff",
        ] {
            assert_eq!(Owner::decode(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn only_certainly_exited_owners_count_as_gone() {
        let o = Owner {
            pidns: 7,
            pid: 42,
            start: 100,
        };
        assert!(owner_exited(&o, 7, Liveness::NoProcess));
        assert!(
            owner_exited(&o, 7, Liveness::Running(Some(101))),
            "PID reused"
        );
        assert!(!owner_exited(&o, 7, Liveness::Running(Some(100))));
        assert!(!owner_exited(&o, 7, Liveness::Running(None)));
        assert!(
            !owner_exited(&o, 8, Liveness::NoProcess),
            "another PID namespace"
        );
    }

    #[test]
    fn start_time_from_stat() {
        let stat = "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(stat_start_time(stat), Some(98765));
        assert_eq!(stat_start_time("42 (x) S 1"), None);
        assert_eq!(stat_start_time("garbage"), None);
    }

    #[test]
    fn adhoc_names() {
        assert_eq!(adhoc_child_name(42, 0), "bindif-launch-42");
        assert_eq!(adhoc_child_name(42, 3), "bindif-launch-42-3");
        assert!(valid_child_name(&adhoc_child_name(u32::MAX, u32::MAX)));
        for (pid, attempt) in [(1, 0), (42, 3), (u32::MAX, u32::MAX)] {
            assert!(is_adhoc_child_name(
                adhoc_child_name(pid, attempt).as_bytes()
            ));
        }
        for other in [
            "bindif-launch-enter.service",
            "bindif-launch-follow@eth0.service",
            "bindif-launch-42.scope",
            "bindif-launch-",
            "bindif-launch-42-",
            "bindif-launch--3",
            "bindif-launch-4-2-1",
            "bindif-launch-x42",
            "other-42",
        ] {
            assert!(!is_adhoc_child_name(other.as_bytes()), "{other}");
        }
    }
}
