// SPDX-License-Identifier: LGPL-2.1-or-later
//! The layering of src/ (issue 12), checked from the source text: no root, no kernel, nothing
//! built but this file.
//!
//! - `unsafe` appears only under src/sys/ and in src/main.rs (the binary's C entry point). The
//!   compiler holds the library to the same with `#![deny(unsafe_code)]`; this test also covers
//!   the binary's root and any module that would add its own `allow`.
//! - The layers import downwards only: the unit model, cli and sys never reach into the
//!   commands; pure modules never reach into sys; the top-level modules form no import cycle.
//! - The unit model's own modules form no import cycle.
//!
//! Imports are read from `use` trees and from `crate::`/`super::`/`self::` paths in code, after
//! comments and string and character literals are blanked out. The scanner's own tests at the
//! end show that each check fails on a source that breaks its rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Reading the tree

/// One source file of the library (or the binary's root), by module path.
struct SourceFile {
    /// Relative to src/, e.g. `unit/load.rs`.
    rel: String,
    /// Module path in the crate: `["unit", "load"]`; empty for lib.rs and main.rs.
    module: Vec<String>,
    /// The text with comments and literals blanked.
    code: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn module_path(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

fn source_tree() -> Vec<SourceFile> {
    let src = src_dir();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    assert!(
        paths.len() > 10,
        "found only {paths:?} under {}",
        src.display()
    );
    paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(p).unwrap_or_else(|e| panic!("read {rel}: {e}"));
            SourceFile {
                module: module_path(&rel),
                code: code_only(&text),
                rel,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Blanking comments and literals

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `src` with comments, string literals (plain, byte, raw) and character literals replaced by
/// spaces. Newlines are kept, so line numbers stay right; lifetimes are kept.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out: Vec<char> = c.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && is_ident_char(c[i - 1]);
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
                blank(&mut out, i, end);
                i = end;
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                // Block comments nest.
                let (mut j, mut depth) = (i + 2, 1);
                while j < c.len() && depth > 0 {
                    if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                        depth += 1;
                        j += 2;
                    } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            // A raw string: r"…", r#"…"#, br#"…"# (the `b` is left as an identifier).
            'r' if !prev_ident || (c[i - 1] == 'b' && (i < 2 || !is_ident_char(c[i - 2]))) => {
                let hashes = c[i + 1..].iter().take_while(|&&x| x == '#').count();
                if c.get(i + 1 + hashes) != Some(&'"') {
                    i += 1;
                    continue;
                }
                let mut j = i + 2 + hashes;
                while j < c.len() {
                    if c[j] == '"'
                        && c[j + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&x| x == '#')
                            .count()
                            == hashes
                    {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                blank(&mut out, i, j);
                i = j;
            }
            '"' => {
                let mut j = i + 1;
                while j < c.len() && c[j] != '"' {
                    j += if c[j] == '\\' { 2 } else { 1 };
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            }
            '\'' => {
                // '\n', '\'', '\u{1F600}' or 'x' are literals; 'a in `&'a str` is a lifetime.
                let end = if c.get(i + 1) == Some(&'\\') {
                    (i + 3..c.len()).find(|&j| c[j] == '\'')
                } else if c.get(i + 2) == Some(&'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match end {
                    Some(e) => {
                        blank(&mut out, i, e + 1);
                        i = e + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// Check (a): where `unsafe` may appear

/// The lines (1-based) of `code` (already blanked) holding the keyword `unsafe`.
fn unsafe_lines(code: &str) -> Vec<usize> {
    code.lines()
        .enumerate()
        .filter(|(_, l)| {
            l.match_indices("unsafe").any(|(at, w)| {
                let before = l[..at].chars().next_back();
                let after = l[at + w.len()..].chars().next();
                !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char)
            })
        })
        .map(|(n, _)| n + 1)
        .collect()
}

fn unsafe_allowed(rel: &str) -> bool {
    rel.starts_with("sys/") || rel == "main.rs"
}

#[test]
fn unsafe_only_in_sys_and_main() {
    let mut found_in_sys = false;
    let mut misplaced = Vec::new();
    for f in source_tree() {
        let lines = unsafe_lines(&f.code);
        if unsafe_allowed(&f.rel) {
            found_in_sys |= f.rel.starts_with("sys/") && !lines.is_empty();
        } else {
            misplaced.extend(lines.iter().map(|n| format!("src/{}:{n}", f.rel)));
        }
    }
    // The scan must see the unsafe code that does exist, or it proves nothing.
    assert!(
        found_in_sys,
        "no `unsafe` found under src/sys/: the scan is broken"
    );
    assert!(
        misplaced.is_empty(),
        "`unsafe` outside src/sys/ and src/main.rs:\n  {}",
        misplaced.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Imports

#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    /// Absolute module path in the crate, e.g. `["sys", "bpf", "detach"]`.
    path: Vec<String>,
    line: usize,
    /// Inside a `#[cfg(test)]` module.
    in_test: bool,
    /// A `pub use` (a re-export rather than a dependency of the module's own code).
    reexport: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Tok {
    text: String,
    line: usize,
}

fn tokenize(code: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let c: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < c.len() {
            let start = i;
            if is_ident_char(c[i]) {
                while i < c.len() && is_ident_char(c[i]) {
                    i += 1;
                }
            } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
                i += 2;
            } else if c[i].is_whitespace() {
                i += 1;
                continue;
            } else {
                i += 1;
            }
            toks.push(Tok {
                text: c[start..i].iter().collect(),
                line: n + 1,
            });
        }
    }
    toks
}

/// Parses the path (tree) at `t[i..]` into full paths below `prefix`. `use a::{b, c::{self, d}}`
/// gives `a::b`, `a::c::self`, `a::c::d`; `as` renames and generic arguments end a path.
fn parse_tree(t: &[Tok], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut segs = prefix;
    loop {
        let Some(tok) = t.get(i) else {
            return (vec![segs], i);
        };
        match tok.text.as_str() {
            "{" => {
                i += 1;
                let mut all = Vec::new();
                while i < t.len() && t[i].text != "}" {
                    let (paths, next) = parse_tree(t, i, segs.clone());
                    all.extend(paths);
                    i = next;
                    // Skip `as name` up to this level's `,` or `}`.
                    while i < t.len() && t[i].text != "," && t[i].text != "}" {
                        i += 1;
                    }
                    if i < t.len() && t[i].text == "," {
                        i += 1;
                    }
                }
                return (all, i + 1);
            }
            "*" => return (vec![segs], i + 1),
            s if s.chars().next().is_some_and(is_ident_char) => {
                segs.push(s.to_owned());
                i += 1;
                if t.get(i).is_some_and(|x| x.text == "::") {
                    i += 1;
                } else {
                    return (vec![segs], i);
                }
            }
            _ => return (vec![segs], i),
        }
    }
}

/// Makes `path` absolute: `crate::`, `super::` and `self::` are resolved against `current`, and
/// a `use` of a child module by its bare name (`use load::Catalog` in unit/mod.rs) against the
/// `children` of `current`. `None`: not a path into this crate (std, libc, a local item).
fn resolve(
    path: &[String],
    current: &[String],
    children: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let first = path.first()?;
    let (mut abs, rest) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" | "super" => (current.to_vec(), path),
        child if children.contains(child) => (current.to_vec(), path),
        _ => return None,
    };
    for seg in rest {
        match seg.as_str() {
            "self" => {}
            "super" => {
                abs.pop()?;
            }
            s => abs.push(s.to_owned()),
        }
    }
    Some(abs)
}

/// The modules of the crate by path, from the file tree (inline modules such as `mod tests`
/// are not targets of imports between files, so they are not needed here).
fn modules(files: &[SourceFile]) -> BTreeSet<Vec<String>> {
    files
        .iter()
        .filter(|f| f.rel != "main.rs")
        .map(|f| f.module.clone())
        .collect()
}

fn children_of(all: &BTreeSet<Vec<String>>, m: &[String]) -> BTreeSet<String> {
    all.iter()
        .filter(|p| p.len() == m.len() + 1 && p.starts_with(m))
        .map(|p| p[m.len()].clone())
        .collect()
}

/// Every import of one file, resolved to absolute paths in the crate.
fn imports_of(code: &str, module: &[String], all: &BTreeSet<Vec<String>>) -> Vec<Import> {
    let t = tokenize(code);
    let mut out = Vec::new();
    // Inline modules: (name, brace depth outside it, is a #[cfg(test)] module).
    let mut inline: Vec<(String, usize, bool)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        let text = t[i].text.as_str();
        match text {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
            }
            "mod" if t.get(i + 2).is_some_and(|x| x.text == "{") => {
                let cfg_test = i >= 7
                    && t[..i]
                        .iter()
                        .rev()
                        .skip_while(|x| {
                            x.text == "pub" || x.text == "(" || x.text == ")" || x.text == "crate"
                        })
                        .take(7)
                        .map(|x| x.text.as_str())
                        .eq(["]", ")", "test", "(", "cfg", "[", "#"]);
                let in_test = cfg_test || inline.last().is_some_and(|m| m.2);
                inline.push((t[i + 1].text.clone(), depth, in_test));
                depth += 1;
                i += 3;
                continue;
            }
            _ => {}
        }
        let after_use = i > 0 && t[i - 1].text == "use";
        let starts_path = matches!(text, "crate" | "super" | "self")
            && t.get(i + 1).is_some_and(|x| x.text == "::")
            && !(i > 0 && t[i - 1].text == "::");
        if starts_path || (after_use && text.chars().next().is_some_and(is_ident_char)) {
            let mut current = module.to_vec();
            current.extend(inline.iter().map(|m| m.0.clone()));
            let children = children_of(all, &current);
            let reexport = after_use && i >= 2 && (t[i - 2].text == "pub" || t[i - 2].text == ")");
            let in_test = inline.last().is_some_and(|m| m.2);
            let line = t[i].line;
            let (paths, next) = parse_tree(&t, i, Vec::new());
            for p in paths {
                if let Some(path) = resolve(&p, &current, &children) {
                    out.push(Import {
                        path,
                        line,
                        in_test,
                        reexport,
                    });
                }
            }
            i = next.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// The module a path lands in: the longest module of the crate it starts with.
fn target_module(path: &[String], all: &BTreeSet<Vec<String>>) -> Vec<String> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| all.contains(p))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Graphs

/// An edge of an import graph with one place that makes it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn add_edge(g: &mut Graph, from: &str, to: &str, at: String) {
    if from != to {
        g.entry(from.to_owned())
            .or_default()
            .entry(to.to_owned())
            .or_insert(at);
        g.entry(to.to_owned()).or_default();
    }
}

/// The strongly connected components with more than one node (Tarjan's algorithm), each
/// sorted, as cycles to report.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.g[v].keys() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// Describes each cycle with the edges inside it and where each edge is made.
fn describe(g: &Graph, cycles: &[Vec<String>]) -> String {
    let mut s = String::new();
    for comp in cycles {
        s.push_str(&format!("  cycle among {}:\n", comp.join(", ")));
        for from in comp {
            for (to, at) in &g[from] {
                if comp.contains(to) {
                    s.push_str(&format!("    {from} -> {to} ({at})\n"));
                }
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Check (b): the layers import downwards only

/// Which top-level modules a group may not import, and why.
const FORBIDDEN: &[(&str, &[&str], &str)] = &[
    (
        "unit",
        &["cmd", "sys", "cli"],
        "the unit model is pure and below the commands",
    ),
    (
        "sys",
        &["cmd", "cli"],
        "the syscall boundary is below the commands",
    ),
    ("cli", &["cmd"], "cli only parses; cmd routes"),
    ("program", &["sys"], "pure modules make no syscalls"),
    ("cgroup_path", &["sys"], "pure modules make no syscalls"),
    ("host", &["sys"], "pure modules make no syscalls"),
];

/// The one module of a forbidden layer that one module may import, and what that module may
/// import itself: `unit::catalog` opens unit files below a search directory's descriptor with
/// `sys::fs` (`openat(2)`; raw syscalls live under src/sys/). `sys::fs` is a leaf there: it
/// imports nothing of the crate but the items listed (the C string and the one `openat` of `sys`) ([`allowed_modules_are_leaves`] checks
/// it), and only its own items count as the exception (not a module it re-exports), so the
/// import adds no path from the unit model to BPF, netlink or cgroups.
const ALLOWED: &[Exception] = &[Exception {
    importer: &["unit", "catalog"],
    module: &["sys", "fs"],
    leaf_may_use: &[&["sys", "cstring"], &["sys", "open_fd"]],
}];

struct Exception {
    importer: &'static [&'static str],
    module: &'static [&'static str],
    leaf_may_use: &'static [&'static [&'static str]],
}

fn same(path: &[String], want: &[&str]) -> bool {
    path.len() == want.len() && path.iter().zip(want).all(|(a, b)| a == b)
}

/// Whether `importer` may import `path`: the excepted module itself or one of its own items.
fn allowed(importer: &[String], path: &[String]) -> bool {
    ALLOWED.iter().any(|e| {
        same(importer, e.importer)
            && path.len() <= e.module.len() + 1
            && same(&path[..e.module.len().min(path.len())], e.module)
    })
}

/// Violations of [`FORBIDDEN`] and the top-level import graph, over every file of `files`
/// (test modules included: a pure module's tests must not need syscalls either).
fn layer_violations(files: &[SourceFile]) -> (Vec<String>, Graph) {
    let all = modules(files);
    let mut bad = Vec::new();
    let mut g = Graph::new();
    for f in files.iter().filter(|f| !f.module.is_empty()) {
        let group = &f.module[0];
        for imp in imports_of(&f.code, &f.module, &all) {
            let Some(target) = target_module(&imp.path, &all).first().cloned() else {
                continue; // the crate root (lib.rs) itself, or a macro exported there
            };
            if allowed(&f.module, &imp.path) {
                continue;
            }
            let at = format!("src/{}:{}", f.rel, imp.line);
            add_edge(&mut g, group, &target, at.clone());
            for (from, forbidden, why) in FORBIDDEN {
                if group.as_str() == *from && forbidden.contains(&target.as_str()) {
                    bad.push(format!(
                        "{at}: {from} imports crate::{} ({why})",
                        imp.path.join("::")
                    ));
                }
            }
        }
    }
    (bad, g)
}

#[test]
fn layers_import_downwards_only() {
    let files = source_tree();
    let (bad, g) = layer_violations(&files);
    // The graph must hold the edges that do exist, or an empty result proves nothing.
    assert!(
        g.get("cmd")
            .is_some_and(|e| e.contains_key("sys") && e.contains_key("unit")),
        "the scan found no cmd -> sys / cmd -> unit imports: it is broken\n{g:#?}"
    );
    assert!(
        bad.is_empty(),
        "imports against the layering:\n  {}",
        bad.join("\n  ")
    );
    let c = cycles(&g);
    assert!(
        c.is_empty(),
        "import cycles between top-level modules:\n{}",
        describe(&g, &c)
    );
}

/// The modules [`ALLOWED`] lets another layer import import nothing of the crate but what
/// their exception lists, and their own items (test modules included); a re-export of anything
/// else is an import too.
fn leaf_violations(files: &[SourceFile]) -> Vec<String> {
    let all = modules(files);
    let mut bad = Vec::new();
    for e in ALLOWED {
        for f in files.iter().filter(|f| same(&f.module, e.module)) {
            for imp in imports_of(&f.code, &f.module, &all) {
                let own = same(&imp.path[..e.module.len().min(imp.path.len())], e.module);
                if !own && !e.leaf_may_use.iter().any(|ok| same(&imp.path, ok)) {
                    bad.push(format!(
                        "src/{}:{}: {} imports crate::{} (other layers may import it only while it is a leaf of {})",
                        f.rel,
                        imp.line,
                        e.module.join("::"),
                        imp.path.join("::"),
                        e.module[0]
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn allowed_modules_are_leaves() {
    let files = source_tree();
    for e in ALLOWED {
        assert!(
            files.iter().any(|f| same(&f.module, e.module)),
            "no file for {}",
            e.module.join("::")
        );
    }
    let bad = leaf_violations(&files);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Check (c): the unit model's modules form no cycle

/// The import graph among src/unit/*.rs (`mod` is unit/mod.rs). Test modules are left out:
/// a test may build its fixtures with the loader without the model depending on it. An import
/// through a re-export of unit/mod.rs counts as an import of the module that defines the item.
fn unit_graph(files: &[SourceFile]) -> Graph {
    let all = modules(files);
    let unit_files: Vec<&SourceFile> = files
        .iter()
        .filter(|f| f.module.first().is_some_and(|m| m == "unit"))
        .collect();
    let node = |m: &[String]| m.get(1).cloned().unwrap_or_else(|| "mod".to_owned());
    // Names unit/mod.rs re-exports, by the module that defines them.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    for f in unit_files.iter().filter(|f| f.module.len() == 1) {
        for imp in imports_of(&f.code, &f.module, &all) {
            let target = target_module(&imp.path, &all);
            if imp.reexport && target.len() >= 2 && target[0] == "unit" {
                if let Some(name) = imp.path.last() {
                    reexports.insert(name.clone(), node(&target));
                }
            }
        }
    }
    let mut g = Graph::new();
    for f in &unit_files {
        let from = node(&f.module);
        g.entry(from.clone()).or_default();
        for imp in imports_of(&f.code, &f.module, &all) {
            if imp.in_test || imp.reexport || imp.path.first().map(String::as_str) != Some("unit") {
                continue;
            }
            let target = target_module(&imp.path, &all);
            let to = if target.len() >= 2 {
                node(&target)
            } else {
                match imp.path.get(1).and_then(|name| reexports.get(name)) {
                    Some(m) => m.clone(),
                    None => "mod".to_owned(),
                }
            };
            add_edge(&mut g, &from, &to, format!("src/{}:{}", f.rel, imp.line));
        }
    }
    g
}

#[test]
fn unit_modules_form_no_cycle() {
    let g = unit_graph(&source_tree());
    assert!(
        g.get("eval").is_some_and(|e| e.contains_key("exec")),
        "the scan found no unit::eval -> unit::exec import: it is broken\n{g:#?}"
    );
    let c = cycles(&g);
    assert!(
        c.is_empty(),
        "import cycles among src/unit/ modules:\n{}",
        describe(&g, &c)
    );
    // Even without a way back: the drop-in code is an input of the loader, not a user of it.
    assert!(
        !g.get("dropins").is_some_and(|e| e.contains_key("load")),
        "unit/dropins.rs imports unit/load.rs ({}): drop-ins must not depend on the loader",
        g["dropins"]["load"]
    );
}

// ---------------------------------------------------------------------------------------------
// The scanner's own tests: each check fails on a source that breaks its rule.

fn file(rel: &str, text: &str) -> SourceFile {
    SourceFile {
        rel: rel.to_owned(),
        module: module_path(rel),
        code: code_only(text),
    }
}

#[test]
fn blanking_keeps_code_and_drops_comments_and_literals() {
    let src = "let a = \"unsafe\"; // unsafe\n/* unsafe /* nested */ unsafe */ let b = 'u';\n\
               let c = r#\"unsafe \"x\" \"#; let d: &'static str = b\"unsafe\\\"\"; unsafe {}\n";
    let code = code_only(src);
    assert_eq!(code.lines().count(), 3, "{code}");
    assert_eq!(unsafe_lines(&code), vec![3], "{code}");
    assert!(code.contains("let d: &'static str"), "{code}");
    assert!(code.contains("let b =") && !code.contains("'u'"), "{code}");
    assert_eq!(
        unsafe_lines("fn unsafe_name() {} // not_unsafe"),
        Vec::<usize>::new()
    );
    assert_eq!(unsafe_lines("pub unsafe fn f() {}"), vec![1]);
}

#[test]
fn use_trees_and_paths_resolve() {
    let files = [
        file("lib.rs", ""),
        file("unit/mod.rs", "pub mod load;\npub use load::Catalog;\n"),
        file("unit/load.rs", ""),
        file("unit/dropins.rs", ""),
        file("sys/mod.rs", ""),
        file("sys/bpf.rs", ""),
    ];
    let all = modules(&files);
    let code = code_only(
        "use super::{load::{self, Catalog as C}, name};\n\
         use crate::sys::{bpf::detach, self};\n\
         fn f() { crate::sys::bpf::load(); let x = self.y; pub(crate) fn g() {} }\n\
         #[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::unit::load::x;\n}\n",
    );
    let module = vec!["unit".to_owned(), "dropins".to_owned()];
    let got: Vec<(String, usize, bool)> = imports_of(&code, &module, &all)
        .into_iter()
        .map(|i| (i.path.join("::"), i.line, i.in_test))
        .collect();
    let want = [
        ("unit::load", 1, false),
        ("unit::load::Catalog", 1, false),
        ("unit::name", 1, false),
        ("sys::bpf::detach", 2, false),
        ("sys", 2, false),
        ("sys::bpf::load", 3, false),
        ("unit::dropins", 6, true),
        ("unit::load::x", 7, true),
    ];
    let want: Vec<(String, usize, bool)> = want
        .iter()
        .map(|(p, l, t)| (p.to_string(), *l, *t))
        .collect();
    assert_eq!(got, want);
    let reexp = imports_of(&files[1].code, &files[1].module, &all);
    assert_eq!(reexp.len(), 1);
    assert!(reexp[0].reexport);
    assert_eq!(reexp[0].path.join("::"), "unit::load::Catalog");
}

#[test]
fn layer_check_catches_a_forbidden_import_and_a_cycle() {
    let files = [
        file("lib.rs", ""),
        file("unit/mod.rs", ""),
        file(
            "unit/eval.rs",
            "use crate::sys::bpf;\nuse crate::sys::fs;\n",
        ),
        file(
            "unit/catalog.rs",
            "use crate::sys::fs;\nuse crate::sys::fs::open_dir;\nuse crate::sys::fs::bpf::query;\n",
        ),
        file("sys/mod.rs", "fn f() { crate::cmd::run(); }\n"),
        file("sys/bpf.rs", ""),
        file(
            "sys/fs.rs",
            "use super::cstring;\nuse crate::unit::name;\npub use super::bpf;\n",
        ),
        file("cmd/mod.rs", "use crate::{sys, unit::eval};\n"),
        file(
            "cli.rs",
            "// use crate::cmd;\nconst S: &str = \"crate::cmd::x\";\n",
        ),
    ];
    let (bad, g) = layer_violations(&files);
    assert_eq!(
        bad,
        [
            "src/unit/eval.rs:1: unit imports crate::sys::bpf (the unit model is pure and below the commands)",
            "src/unit/eval.rs:2: unit imports crate::sys::fs (the unit model is pure and below the commands)",
            "src/unit/catalog.rs:3: unit imports crate::sys::fs::bpf::query (the unit model is pure and below the commands)",
            "src/sys/mod.rs:1: sys imports crate::cmd::run (the syscall boundary is below the commands)",
        ]
    );
    assert_eq!(
        cycles(&g),
        vec![vec!["cmd".to_owned(), "sys".to_owned(), "unit".to_owned()]]
    );
    // unit::catalog may import sys::fs and its items (no violation above), not through it a
    // module it re-exports, and only while sys::fs imports nothing but sys::cstring.
    assert_eq!(
        leaf_violations(&files),
        [
            "src/sys/fs.rs:2: sys::fs imports crate::unit::name (other layers may import it only while it is a leaf of sys)",
            "src/sys/fs.rs:3: sys::fs imports crate::sys::bpf (other layers may import it only while it is a leaf of sys)",
        ]
    );
}

#[test]
fn unit_check_sees_a_cycle_through_a_reexport_and_ignores_tests() {
    let files = [
        file("lib.rs", ""),
        file("unit/mod.rs", "pub mod load;\npub use load::Catalog;\n"),
        file("unit/load.rs", "use super::dropins;\n"),
        file("unit/dropins.rs", "use crate::unit::Catalog;\n"),
        file(
            "unit/exec.rs",
            "#[cfg(test)]\nmod tests { use crate::unit::load; }\n",
        ),
    ];
    let g = unit_graph(&files);
    assert_eq!(g["dropins"]["load"], "src/unit/dropins.rs:1");
    assert!(g["exec"].is_empty(), "{g:#?}");
    assert_eq!(
        cycles(&g),
        vec![vec!["dropins".to_owned(), "load".to_owned()]]
    );
}
