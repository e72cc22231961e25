// SPDX-License-Identifier: LGPL-2.1-or-later
//! Unit loading against fixture trees (`tests/fixtures/load/CASE/root/{etc,run,usr,lib,opt}` with
//! an `expected` file beside `root/`, the generator fixtures' layout), cross-checked against the installed systemd where it can answer,
//! and run over every unit file installed on this machine.
//!
//! `expected` holds one block per unit: `== NAME` (add ` nocross` when systemd cannot answer for
//! a `--root` tree, e.g. symlinks resolved on the host), then the lines `render()` prints.
//! `BLESS=1 cargo test --test unit_load` rewrites them from the current implementation; review the
//! diff: the cross-check test compares fragments and drop-ins with systemd independently.
//!
//! Surprising rules pinned by the fixtures (systemd source files cited in `src/unit/*.rs`):
//! - template: an instance falls back to the template's fragment; the id stays the instance
//!   (src/shared/unit-file.c `unit_file_find_fragment`, src/core/load-fragment.c).
//! - dash: `a-b-.service` searches `a-.service.d/` but not `a-b--.service.d/`; `-x-y.service`
//!   never `-.service.d/`; `foo-bar@x.service` also searches the plain `foo-.service.d/`
//!   (src/shared/dropin.c `unit_file_find_dirs`).
//! - override: drop-ins are sorted by file name across all directories; for one file name the
//!   first directory wins, and all name directories (in every search dir) come before the
//!   type-wide `service.d/`, so `/usr/lib/…/foo-bar.service.d/20.conf` beats
//!   `/etc/…/service.d/20.conf` (src/shared/dropin.c, src/basic/conf-files.c).
//! - masked-dropin: a `/dev/null` symlink or an empty file hides the same-named lower drop-in and
//!   is itself listed (and applied as empty).
//! - masked: an empty regular fragment is masked like a `/dev/null` symlink
//!   (src/core/load-fragment.c `null_or_empty`).
//! - alias: loading an alias gives the target's id, and the drop-ins of every alias name apply; a
//!   self-alias is ignored; a type-changing alias is rejected; alias loops give ELOOP.
//! - template-alias (systemd's test/units/TEST-15-DROPIN.sh, `testcase_template_dropins`, with
//!   `.d/` drop-ins in place of its `.requires/` links): `bar-alias@.service → bar@.service`,
//!   `bar-alias@1 → bar@1`, `bar-alias@2 → yup@.service`, `bar-alias@3 → yup@3.service` (no
//!   `yup@3.service` file). `bar-alias@0`/`@1` are `bar@0`/`@1` with every `bar*` drop-in;
//!   `bar-alias@2`/`@3` are `yup@2`/`@3` with the `yup*` and `bar-alias*` drop-ins (the
//!   template alias included) and none of `bar*`; `bar@2`/`@3` are left with their own, without
//!   `bar-alias@.service.d/` (the instance symlink wins over the template alias:
//!   src/shared/unit-file.c `add_names`). Loading `yup@3` gives the same unit as `bar-alias@3`.
//! - instance-alias (TEST-15 `testcase_template_alias`): `test15-b@inst.service →
//!   test15-a@inst.service` makes `test15-b@inst` a name of `test15-a@inst` and back; the other
//!   instances stay apart (`test15-b@other` has no fragment).
//! - alias-installed (the same rule as installed by hand or `systemctl enable`): a link in
//!   `/etc/systemd/system` to `/usr/lib/…/yup@3.service` (which does not exist) or to
//!   `/usr/lib/…/yup@.service`; the alias's dash prefixes (`bar-.service.d/`,
//!   `bar-@3.service.d/`) apply too; an alias whose instance differs from its target's
//!   (`bar-alias@5 → yup@6`) is rejected, a `/dev/null` one masks, one leaving the search path
//!   is a linked unit file named after the link.
//! - alias-dropins (TEST-15 `testcase_alias_dropins`, test 2): the drop-ins of `test15-a` and
//!   of its alias `test15-a1` apply to the unit whichever name loads it.
//! - linked-alias (TEST-15 `testcase_linked_units`, with relative links so that `--root` can
//!   answer): an alias of a linked unit file is a name of it; a link to `/test15-c@.scope` is
//!   the unit `test15-c.service`, and the target's own name is ignored entirely.
//! - syntax: invalid UTF-8 or a bad section header makes a fragment unloadable, but in a drop-in
//!   only stops that drop-in (src/core/load-dropin.c ignores the error).
//! - debian-merged-usr: with `systemd.pc` naming `/lib/systemd/system` (Debian 12's split-usr
//!   build of systemd 252) `/lib/systemd/system` is searched before `/usr/lib/systemd/system` even
//!   though `/lib` is a symlink: fragments are named `/lib/…`, drop-in directories are
//!   canonicalized to `/usr/lib/…`, and an alias through `/lib/…` is still an alias.
//! - split-usr: a real `/lib` directory (not a symlink) is searched after `/usr/lib` (v255+
//!   `LOOKUP_PATHS_SPLIT_USR`, src/libsystemd/sd-path/path-lookup.c).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bindif::unit::catalog::Catalog;
use bindif::unit::load::{self, UnitLoadError};
use bindif::unit::paths::SearchPath;
use bindif::unit::syntax;

fn fixtures() -> PathBuf {
    common::fixtures("load")
}

fn catalog(root: &Path) -> Catalog {
    Catalog::new(SearchPath::system_with_env(root, None))
}

fn render(cat: &Catalog, name: &str) -> String {
    let mut s = String::new();
    match load::load_with(cat, name) {
        Err(e) => {
            for l in e.to_string().lines() {
                writeln!(s, "error {l}").unwrap();
            }
        }
        Ok(u) => {
            writeln!(s, "name {}", u.name).unwrap();
            if let Some(f) = &u.fragment {
                writeln!(s, "fragment {}", f.display()).unwrap();
            }
            for d in u.dropins.iter() {
                writeln!(s, "dropin {}", d.display()).unwrap();
            }
            for a in &u.assignments {
                writeln!(
                    s,
                    "set {}:{} [{}] {}={}",
                    a.source.file.display(),
                    a.source.line,
                    a.section,
                    a.key,
                    a.value
                )
                .unwrap();
            }
            for d in &u.diagnostics {
                match &d.source {
                    Some(src) => {
                        writeln!(s, "warn {}:{}: {}", src.file.display(), src.line, d.message)
                    }
                    None => writeln!(s, "warn {}", d.message),
                }
                .unwrap();
            }
        }
    }
    s
}

/// (unit, cross-check?) blocks of an expected file, with their bodies.
fn blocks(text: &str) -> Vec<(String, bool, String)> {
    let mut out: Vec<(String, bool, String)> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("== ") {
            let mut w = h.split_whitespace();
            let name = w.next().unwrap_or("").to_string();
            let cross = w.next() != Some("nocross");
            out.push((name, cross, String::new()));
        } else if let Some(last) = out.last_mut() {
            last.2.push_str(line);
            last.2.push('\n');
        }
    }
    out
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("expected").exists())
        .collect();
    v.sort();
    v
}

#[test]
fn fixture_trees() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let exp_path = case.join("expected");
        let text = std::fs::read_to_string(&exp_path).unwrap();
        let cat = catalog(&case.join("root"));
        let mut blessed = String::new();
        for (name, cross, body) in blocks(&text) {
            let got = render(&cat, &name);
            writeln!(blessed, "== {name}{}", if cross { "" } else { " nocross" }).unwrap();
            blessed.push_str(&got);
            if got != body {
                failures.push(format!(
                    "{}: {name}\n--- expected\n{body}--- got\n{got}",
                    case.display()
                ));
            }
        }
        if bless {
            std::fs::write(&exp_path, blessed).unwrap();
        }
    }
    assert!(bless || failures.is_empty(), "{}", failures.join("\n"));
}

/// A catalog parses each fragment and drop-in once and its units share the result: loading
/// every fixture unit with one catalog, in either order and twice, gives what a fresh catalog
/// gives for that unit alone.
#[test]
fn a_shared_catalog_loads_what_a_fresh_one_loads() {
    for case in cases() {
        let root = case.join("root");
        let text = std::fs::read_to_string(case.join("expected")).unwrap();
        let names: Vec<String> = blocks(&text).into_iter().map(|b| b.0).collect();
        let shared = catalog(&root);
        let orders = [names.clone(), names.iter().rev().cloned().collect(), names];
        for name in orders.iter().flatten() {
            let fresh = load::load_with(&catalog(&root), name);
            let got = load::load_with(&shared, name);
            match (&fresh, &got) {
                (Ok(f), Ok(g)) => assert_eq!(f, g, "{}: {name}", case.display()),
                (Err(f), Err(g)) => {
                    assert_eq!(f.to_string(), g.to_string(), "{}: {name}", case.display())
                }
                _ => panic!("{}: {name}: {fresh:?} / {got:?}", case.display()),
            }
        }
    }
}

/// What `systemd-analyze verify --root` reports for a unit: the loaded id, fragment and
/// drop-ins (root prefix removed), or the error line.
#[derive(Debug, PartialEq, Eq)]
enum Observed {
    Loaded {
        id: String,
        fragment: Option<PathBuf>,
        dropins: Vec<PathBuf>,
    },
    Error(String),
}

/// Runs `systemd-analyze verify` for `name` under `root` (`None`: the host) and extracts what
/// it loaded from the debug dump.
fn systemd_view(root: Option<&Path>, name: &str) -> Observed {
    let mut cmd = Command::new("systemd-analyze");
    cmd.env("SYSTEMD_LOG_LEVEL", "debug")
        .env_remove("SYSTEMD_UNIT_PATH")
        .arg("verify")
        .arg("--man=no");
    if let Some(r) = root {
        cmd.arg(format!("--root={}", r.display()));
    }
    let out = cmd.arg("--").arg(name).output().expect("systemd-analyze");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let strip = |p: &str| -> PathBuf {
        let p = Path::new(p);
        match root {
            Some(r) => Path::new("/").join(p.strip_prefix(r).unwrap_or(p)),
            None => p.to_path_buf(),
        }
    };
    let mut id = None;
    let mut fragment = None;
    let mut dropins = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(u) = t.strip_prefix("-> Unit ") {
            if id.is_none() {
                id = Some(u.trim_end_matches(':').to_string());
            } else {
                break;
            }
        } else if id.is_some() {
            if let Some(p) = t.strip_prefix("Fragment Path: ") {
                fragment = Some(strip(p));
            } else if let Some(p) = t.strip_prefix("DropIn Path: ") {
                dropins.push(strip(p));
            }
        }
    }
    if let Some(id) = id {
        return Observed::Loaded {
            id,
            fragment,
            dropins,
        };
    }
    for line in text.lines() {
        if line.starts_with("Unit ")
            && (line.ends_with(" is masked.")
                || line.ends_with(" not found.")
                || line.contains("failed to load properly"))
        {
            return Observed::Error(line.to_string());
        }
    }
    Observed::Error(format!("no answer from systemd-analyze: {text}"))
}

fn our_view(cat: &Catalog, name: &str) -> Observed {
    match load::load_with(cat, name) {
        Ok(u) => Observed::Loaded {
            id: u.name,
            fragment: u.fragment,
            dropins: u.dropins.to_vec(),
        },
        Err(e) => Observed::Error(e.to_string().lines().last().unwrap_or("").to_string()),
    }
}

fn tempdir(tag: &str) -> PathBuf {
    common::tempdir(&format!("unit-load-{tag}"))
}

#[test]
fn fixtures_match_systemd() {
    if !common::have_systemd_analyze() {
        eprintln!("systemd-analyze not installed: skipping the cross-check");
        return;
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases() {
        let text = std::fs::read_to_string(case.join("expected")).unwrap();
        let tmp = tempdir(case.file_name().unwrap().to_str().unwrap());
        common::copy_tree(&case.join("root"), &tmp);
        let cat = catalog(&tmp);
        for (name, cross, _) in blocks(&text) {
            if !cross {
                continue;
            }
            let theirs = systemd_view(Some(&tmp), &name);
            let ours = our_view(&cat, &name);
            checked += 1;
            if theirs != ours {
                failures.push(format!(
                    "{}: {name}\n systemd: {theirs:?}\n ours:    {ours:?}",
                    case.display()
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(checked >= 20, "only {checked} units cross-checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn search_path_matches_systemd_analyze() {
    if !common::have_systemd_analyze() {
        return;
    }
    let out = Command::new("systemd-analyze")
        .env_remove("SYSTEMD_UNIT_PATH")
        .arg("unit-paths")
        .output()
        .unwrap();
    let theirs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    let ours = SearchPath::system_with_env(Path::new("/"), None);
    assert_eq!(ours.dirs(), &theirs[..]);

    let out = Command::new("systemd-analyze")
        .env("SYSTEMD_UNIT_PATH", "/srv/a:/srv/b:")
        .arg("unit-paths")
        .output()
        .unwrap();
    let theirs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    let ours = SearchPath::system_with_env(Path::new("/"), Some("/srv/a:/srv/b:"));
    assert_eq!(ours.dirs(), &theirs[..]);

    let out = Command::new("systemd-analyze")
        .env("SYSTEMD_UNIT_PATH", "/srv/a:/srv/b")
        .arg("unit-paths")
        .output()
        .unwrap();
    let theirs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    let ours = SearchPath::system_with_env(Path::new("/"), Some("/srv/a:/srv/b"));
    assert_eq!(ours.dirs(), &theirs[..]);
}

/// Unit names installed on this machine; templates get an instance.
fn host_units() -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for d in [
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
        "/etc/systemd/system",
        "/run/systemd/system",
    ] {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(n) = e.file_name().into_string() else {
                continue;
            };
            match bindif::unit::name::kind(&n) {
                Some(bindif::unit::name::Kind::Template) => {
                    if let Ok(i) = bindif::unit::name::instantiate(&n, "bindif-test") {
                        names.insert(i);
                    }
                }
                Some(_) => {
                    names.insert(n);
                }
                None => {}
            }
        }
    }
    names.into_iter().collect()
}

#[test]
fn every_installed_unit_loads_without_panic() {
    let t = Instant::now();
    let cat = Catalog::system(Path::new("/"));
    let built = t.elapsed();
    let units = host_units();
    let mut loaded = 0;
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    for n in &units {
        match load::load_with(&cat, n) {
            Ok(_) => loaded += 1,
            Err(e) => {
                errors.insert(n.clone(), e.to_string());
            }
        }
    }
    eprintln!(
        "{} installed units: {loaded} loaded, {} errors; catalog {built:?}, all units {:?}",
        units.len(),
        errors.len(),
        t.elapsed()
    );
    for (n, e) in &errors {
        eprintln!("  {n}: {e}");
    }
    // Every error must be one systemd would also give (masked units on this host, or templates
    // whose instance is rejected): none may be an I/O or parse failure.
    for (n, e) in &errors {
        assert!(
            e.contains("is masked") || e.contains("not found"),
            "{n}: unexpected {e}"
        );
    }
}

#[test]
fn installed_units_match_systemd() {
    if !common::have_systemd_analyze() {
        return;
    }
    let cat = Catalog::system(Path::new("/"));
    let units = host_units();
    // Every unit with drop-ins or an alias, plus every 8th other one.
    let mut sample: Vec<String> = Vec::new();
    for (i, n) in units.iter().enumerate() {
        let interesting = match load::load_with(&cat, n) {
            Ok(u) => !u.dropins.is_empty() || u.name != *n,
            Err(_) => true,
        };
        if interesting || i % 8 == 0 {
            sample.push(n.clone());
        }
    }
    let mut failures = Vec::new();
    for n in &sample {
        let theirs = systemd_view(None, n);
        let ours = our_view(&cat, n);
        if theirs != ours {
            failures.push(format!("{n}\n systemd: {theirs:?}\n ours:    {ours:?}"));
        }
    }
    eprintln!("{} installed units compared with systemd", sample.len());
    assert!(sample.len() >= 20, "sample too small: {}", sample.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- bad input: a systemd-style message, never a panic ----

#[test]
fn garbage_never_panics() {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for len in [0usize, 1, 2, 3, 7, 64, 1000, 70_000] {
        for _ in 0..20 {
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Bias toward the bytes the parser cares about.
                let b = match x % 16 {
                    0 => b'\n',
                    1 => b'\\',
                    2 => b'[',
                    3 => b']',
                    4 => b'=',
                    5 => b'#',
                    6 => b'\r',
                    7 => 0,
                    _ => (x >> 8) as u8,
                };
                v.push(b);
            }
            let _ = syntax::parse(&v, Path::new("/garbage.service"));
            let _ = syntax::parse_with_sections(
                &v,
                Path::new("/garbage.service"),
                syntax::sections_for("service"),
            );
        }
    }
}

#[test]
fn long_lines_and_continuations() {
    let mut v = b"[Service]\nExecStart=/bin/true\nDescription=".to_vec();
    v.resize(v.len() + syntax::LONG_LINE_MAX, b'a');
    let p = syntax::parse(&v, Path::new("/x.service"));
    assert_eq!(p.fatal.unwrap().kind, syntax::FatalKind::LineTooLong);
    // Continuations adding up to more than LONG_LINE_MAX.
    let mut v = b"[Service]\nA=".to_vec();
    for _ in 0..20 {
        v.extend(std::iter::repeat(b'b').take(100_000));
        v.extend(b"\\\n");
    }
    let p = syntax::parse(&v, Path::new("/x.service"));
    assert_eq!(p.fatal.unwrap().kind, syntax::FatalKind::LineTooLong);
}

fn mkunit(root: &Path, rel: &str, text: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn bad_trees() {
    let root = tempdir("bad");
    let etc = "etc/systemd/system";
    // A dangling linked unit file: systemd's "Failed to open …: No such file or directory".
    std::fs::create_dir_all(root.join(etc)).unwrap();
    std::os::unix::fs::symlink(
        "/nonexistent/x.service",
        root.join(etc).join("dangling.service"),
    )
    .unwrap();
    // A fragment that is a FIFO-free unreadable thing: a symlink loop outside the search path.
    std::os::unix::fs::symlink("/opt/l2.service", root.join(etc).join("l1.service")).unwrap();
    std::fs::create_dir_all(root.join("opt")).unwrap();
    std::os::unix::fs::symlink("/opt/l3.service", root.join("opt/l2.service")).unwrap();
    std::os::unix::fs::symlink("/opt/l2.service", root.join("opt/l3.service")).unwrap();
    // Binary garbage and a too-long line in fragments.
    mkunit(
        &root,
        &format!("{etc}/garbage.service"),
        b"\x00\xff\xfe[\x01\x02]=\n\\\n",
    );
    let mut long = b"[Service]\nDescription=".to_vec();
    long.resize(long.len() + syntax::LONG_LINE_MAX + 10, b'x');
    mkunit(&root, &format!("{etc}/long.service"), &long);
    // A deep drop-in tree: many dashes, a drop-in directory for every prefix, nested
    // directories inside one and a drop-in directory that is a symlink loop.
    let deep = (0..60)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("-");
    mkunit(
        &root,
        &format!("{etc}/{deep}.service"),
        b"[Service]\nExecStart=/bin/true\n",
    );
    for i in 1..60 {
        let prefix = (0..i)
            .map(|i| format!("d{i}"))
            .collect::<Vec<_>>()
            .join("-");
        mkunit(
            &root,
            &format!("{etc}/{prefix}-.service.d/{i:03}.conf"),
            b"[Service]\nEnvironment=X=1\n",
        );
    }
    let mut nested = root.join(etc).join(format!("{deep}.service.d"));
    for i in 0..50 {
        nested = nested.join(format!("n{i}.conf"));
    }
    std::fs::create_dir_all(&nested).unwrap();
    std::os::unix::fs::symlink("loop.service.d", root.join(etc).join("loop.service.d")).unwrap();
    mkunit(
        &root,
        &format!("{etc}/loop.service"),
        b"[Service]\nExecStart=/bin/true\n",
    );

    let cat = catalog(&root);
    let e = load::load_with(&cat, "dangling.service").unwrap_err();
    assert_eq!(
        e.to_string(),
        "dangling.service: Failed to open /etc/systemd/system/dangling.service: No such file or directory"
    );
    // The error is typed: the io::Error is the source, its kind kept (not flattened to text).
    let io = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("an io::Error source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    let e = load::load_with(&cat, "l1.service").unwrap_err();
    assert!(matches!(e, UnitLoadError::Io { .. }), "{e}");
    assert!(
        e.to_string().contains("Too many levels of symbolic links"),
        "{e}"
    );
    let e = load::load_with(&cat, "garbage.service").unwrap_err();
    assert!(matches!(e, UnitLoadError::NotLoadable { .. }), "{e}");
    let e = load::load_with(&cat, "long.service").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("reload service manager: No buffer space available"),
        "{e}"
    );
    let u = load::load_with(&cat, &format!("{deep}.service")).unwrap();
    assert_eq!(u.dropins.len(), 60, "{:?}", u.dropins); // 59 prefixes + the nested n0.conf dir
    let u = load::load_with(&cat, "loop.service").unwrap();
    assert!(u.dropins.is_empty());
    for bad in [
        "",
        "foo",
        "foo.bar",
        "@x.service",
        "foo@.service",
        "a/b.service",
    ] {
        let e = load::load_with(&cat, bad).unwrap_err();
        assert_eq!(e.to_string(), format!("Unit name {bad} is not valid."));
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn resolving_a_templated_unit_is_cheap() {
    let root = fixtures().join("template/root");
    let sp = SearchPath::system_with_env(&root, None);
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        let cat = Catalog::new(sp.clone());
        load::load_with(&cat, "sshd@mgmt.service").unwrap();
    }
    let cold = t.elapsed() / n;
    let cat = Catalog::new(sp);
    let t = Instant::now();
    for _ in 0..n {
        load::load_with(&cat, "sshd@mgmt.service").unwrap();
    }
    let warm = t.elapsed() / n;
    eprintln!("sshd@mgmt.service: {cold:?} with a fresh catalog, {warm:?} with a shared one");
}

#[test]
fn bad_alias_symlinks_are_warned_about() {
    // Messages as systemd 252 prints them for this tree (systemd-analyze verify --root).
    let cat = catalog(&fixtures().join("alias/root"));
    let msgs: Vec<&str> = cat.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        msgs.contains(
            &"wrongtype.socket: symlink target \"real.service\" has incompatible suffix, rejecting."
        ),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(
            &"plain2tmpl.service: symlink target name type \"tmpl@.service\" does not match source, rejecting."
        ),
        "{msgs:?}"
    );
    assert_eq!(msgs.len(), 2, "{msgs:?}");
}
