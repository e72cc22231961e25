// SPDX-License-Identifier: LGPL-2.1-or-later
//! Raw `bpf(2)`: load the bind program, attach it to a cgroup, find and remove our older copies.
//!
//! Programs are attached with `BPF_PROG_ATTACH` + `BPF_F_ALLOW_MULTI`, not as a bpf_link: the
//! cgroup then keeps the program alive after this process `execve()`s or exits, and it goes away
//! with the cgroup — the lifetime PID 1 gives v260's native binding.

use std::ffi::CStr;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{BindError, Category, Error, LoadError};
use crate::cgroup_path::CGROUP2_SUPER_MAGIC;
use crate::program::{self, Insn, Origin};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_MAP_GET_FD_BY_ID: libc::c_long = 14;
/// `BPF_MAP_TYPE_ARRAY`, the type of a libbpf object's `.rodata`.
const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// `BPF_PROG_TYPE_CGROUP_SOCK`.
pub const BPF_PROG_TYPE_CGROUP_SOCK: u32 = 9;
/// `BPF_CGROUP_INET_SOCK_CREATE`.
pub const BPF_CGROUP_INET_SOCK_CREATE: u32 = 2;
/// `BPF_F_ALLOW_OVERRIDE`.
pub const BPF_F_ALLOW_OVERRIDE: u32 = 1;
/// `BPF_F_ALLOW_MULTI`.
pub const BPF_F_ALLOW_MULTI: u32 = 2;

/// `bpf_attr` for `BPF_PROG_LOAD`, up to `expected_attach_type` (Linux 4.17).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `bpf_attr` for `BPF_PROG_ATTACH`/`BPF_PROG_DETACH` (without `replace_bpf_fd`, 5.6).
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// `bpf_attr` for `BPF_PROG_QUERY`, the 4.15 layout.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// `bpf_attr` for `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf_attr` for `BPF_OBJ_PIN`/`BPF_OBJ_GET` (without `path_fd`, 6.5).
#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// `bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `struct bpf_prog_info` up to `gpl_compatible`; the kernel fills only what we ask for.
#[repr(C)]
#[derive(Default)]
struct RawProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
    ifindex: u32,
    flags: u32,
}

/// The raw `bpf(2)` system call with `attr` as its `union bpf_attr`.
///
/// # Safety
///
/// `T` must be a `#[repr(C)]` struct laid out as the prefix of `union bpf_attr` that `cmd`
/// reads, and every pointer stored in `attr` (instruction, licence, log, id or info buffers)
/// must point to memory that is valid for the length stored next to it, writable where the
/// kernel writes, and live until the call returns. The kernel reads and writes nothing else.
unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed struct of exactly the size we pass, so the
    // kernel stays within it; the pointers inside it are valid per this function's contract.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            mem::size_of::<T>() as libc::c_uint,
        )
    };
    super::cvt(ret)
}

/// Takes ownership of the descriptor a successful call returned.
///
/// # Safety
///
/// `ret` must be a file descriptor that was just returned to us and that nothing else owns.
unsafe fn owned_fd(ret: libc::c_long) -> OwnedFd {
    // SAFETY: per this function's contract, `ret` is a fresh descriptor owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(ret as i32) }
}

/// A loaded program: its descriptor, and its id when a `BPF_OBJ_GET_INFO_BY_FD` has read it
/// already. The attach needs the id (to find the program in the hook's list); a program found
/// pinned was checked with that very call, and carrying its id spares the attach a second one
/// on every start that shares the pinned copy. A program just loaded has none yet: the attach
/// asks for it.
#[derive(Debug)]
pub struct Prog {
    fd: OwnedFd,
    id: Option<u32>,
}

impl Prog {
    /// A program whose id is not known yet.
    pub fn new(fd: OwnedFd) -> Prog {
        Prog { fd, id: None }
    }

    /// A program with the id the kernel reported for `fd`.
    pub(super) fn with_id(fd: OwnedFd, id: u32) -> Prog {
        Prog { fd, id: Some(id) }
    }

    /// The id, when known without asking the kernel.
    pub fn known_id(&self) -> Option<u32> {
        self.id
    }

    /// The id: known, or asked for (one `BPF_OBJ_GET_INFO_BY_FD`, no instructions).
    pub fn id(&self) -> io::Result<u32> {
        match self.id {
            Some(id) => Ok(id),
            None => prog_id_fd(self.fd.as_fd()),
        }
    }
}

impl AsFd for Prog {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Raises RLIMIT_MEMLOCK for the load on kernels that charge BPF memory to it (< 5.11) and
/// restores the previous value when dropped, so the service we exec later gets no higher limit
/// than it had.
struct MemlockGuard {
    old: Option<libc::rlimit>,
}

impl MemlockGuard {
    /// Enough for a 4-instruction program and its bookkeeping with lots of headroom.
    const NEEDED: libc::rlim_t = 8 << 20;

    fn raise() -> MemlockGuard {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the rlimit we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old) } < 0 {
            return MemlockGuard { old: None };
        }
        if old.rlim_cur == libc::RLIM_INFINITY || old.rlim_cur >= Self::NEEDED {
            return MemlockGuard { old: None };
        }
        let infinite = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // Lowering the hard limit back later needs no privilege, so raising it is reversible;
        // if not permitted, go as high as the hard limit allows. Failures are ignored: on
        // kernels ≥ 5.11 the limit does not matter at all.
        // SAFETY: setrlimit only reads the rlimit structs we pass.
        let raised = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &infinite) } == 0 || {
            let soft = libc::rlimit {
                rlim_cur: old.rlim_max,
                rlim_max: old.rlim_max,
            };
            // SAFETY: as above.
            unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &soft) == 0 }
        };
        MemlockGuard {
            old: raised.then_some(old),
        }
    }
}

impl Drop for MemlockGuard {
    fn drop(&mut self) {
        if let Some(old) = self.old {
            // SAFETY: setrlimit only reads `old`. Failure leaves the raised limit, which is
            // harmless for us and cannot be helped.
            unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &old) };
        }
    }
}

fn prog_name_bytes(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = name.len().min(15);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// Loads `insns` as a `cgroup/sock_create` program named `name`. With `log` a verifier log is
/// requested and returned with the error.
fn load_raw(insns: &[Insn], name: &str, mut log: Option<&mut [u8]>) -> io::Result<OwnedFd> {
    match load_raw_with(insns, name, log.as_deref_mut(), BPF_CGROUP_INET_SOCK_CREATE) {
        // Linux 4.15/4.16 predate `expected_attach_type` and refuse a non-zero unknown tail;
        // there CGROUP_SOCK programs are sock_create programs anyway.
        Err(e) if e.raw_os_error() == Some(libc::E2BIG) => load_raw_with(insns, name, log, 0),
        other => other,
    }
}

fn load_raw_with(
    insns: &[Insn],
    name: &str,
    log: Option<&mut [u8]>,
    expected_attach_type: u32,
) -> io::Result<OwnedFd> {
    let code = program::encode_program(insns);
    let license = CStr::from_bytes_with_nul(b"LGPL-2.1-or-later\0").expect("NUL-terminated");
    debug_assert_eq!(license.to_str().ok(), Some(program::LICENSE));
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_SOCK,
        insn_cnt: insns.len() as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: prog_name_bytes(name),
        expected_attach_type,
        ..Default::default()
    };
    if let Some(buf) = log {
        attr.log_level = 1;
        attr.log_size = buf.len() as u32;
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    // The kernel can fail a load transiently with EAGAIN; libbpf tries up to five times.
    let mut attempts = 5;
    loop {
        // SAFETY: `attr` is the BPF_PROG_LOAD prefix of `bpf_attr`; `insns` points to `code`
        // (insn_cnt instructions), `license` to a NUL-terminated static string and `log_buf`, if
        // set, to `log_size` writable bytes, all of which outlive the call.
        match unsafe { sys_bpf(BPF_PROG_LOAD, &mut attr) } {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && attempts > 1 => attempts -= 1,
            // SAFETY: BPF_PROG_LOAD returns a new program descriptor that we now own.
            r => return r.map(|fd| unsafe { owned_fd(fd) }),
        }
    }
}

/// Loads a `cgroup/sock_create` program with arbitrary instructions and name. Used for our
/// program and by tests to load a "foreign" program.
pub fn load_program(insns: &[Insn], name: &str) -> Result<OwnedFd, LoadError> {
    let _memlock = MemlockGuard::raise();
    let first = match load_raw(insns, name, None) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    let err = |e: io::Error| Error::new(Category::Bpf, "load BPF program", name, e);
    match first.raw_os_error() {
        Some(libc::EPERM) => Err(err(first).with_hint(
            "loading needs CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN before Linux 5.8; \
             on Linux before 5.11 RLIMIT_MEMLOCK may also be too low",
        )),
        Some(libc::ENOSYS) => {
            Err(err(first).with_hint("the kernel was built without CONFIG_BPF_SYSCALL"))
        }
        Some(libc::EINVAL) | Some(libc::EACCES) => {
            // Retry once with a log buffer: a verifier rejection explains itself there; an empty
            // log with EINVAL means the kernel does not know the program type at all.
            let mut log = vec![0u8; 64 * 1024];
            let second = match load_raw(insns, name, Some(&mut log)) {
                Ok(fd) => return Ok(fd),
                Err(e) => e,
            };
            let text = CStr::from_bytes_until_nul(&log)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut e = err(second);
            if text.trim().is_empty() {
                if e.errno() == Some(libc::EINVAL) {
                    e = e.with_hint(
                        "cgroup socket programs unsupported; the kernel may lack CONFIG_CGROUP_BPF \
                         or be older than Linux 4.10",
                    );
                }
            } else {
                e = e.with_hint("rejected by the verifier");
                e.verifier_log = Some(text);
            }
            Err(e)
        }
        _ => Err(err(first)),
    }
}

/// Loads our program binding sockets to `ifindex`, named for the explicit ad hoc form.
pub fn load_bind_program(ifindex: u32) -> Result<OwnedFd, LoadError> {
    load_bind_program_as(ifindex, Origin::Explicit)
}

/// Loads our program binding sockets to `ifindex`, named for `origin`.
pub fn load_bind_program_as(ifindex: u32, origin: Origin) -> Result<OwnedFd, LoadError> {
    load_program(&program::bind_iface_program(ifindex), origin.prog_name())
}

/// Pins `prog` at `path` in a bpffs (`BPF_OBJ_PIN`): the program then lives until the file is
/// removed, whatever else holds it. Fails with EEXIST when the name is taken.
pub fn pin(prog: BorrowedFd, path: &std::path::Path) -> io::Result<()> {
    let c = super::cstring(path)?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: prog.as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: `attr` is the BPF_OBJ_PIN prefix of `bpf_attr`; `pathname` points to the
    // NUL-terminated `c`, which outlives the call.
    unsafe { sys_bpf(BPF_OBJ_PIN, &mut attr) }.map(drop)
}

/// Opens the object pinned at `path` (`BPF_OBJ_GET`). Whether it is a program, and which, is
/// for the caller to check.
pub fn pinned(path: &std::path::Path) -> io::Result<OwnedFd> {
    let c = super::cstring(path)?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `attr` is the BPF_OBJ_GET prefix of `bpf_attr`; `pathname` points to the
    // NUL-terminated `c`, which outlives the call.
    let fd = unsafe { sys_bpf(BPF_OBJ_GET, &mut attr) }?;
    // SAFETY: BPF_OBJ_GET returns a new descriptor that we now own.
    Ok(unsafe { owned_fd(fd) })
}

/// Attaches `prog` to the cgroup directory `cgroup` for `BPF_CGROUP_INET_SOCK_CREATE` with
/// `BPF_F_ALLOW_MULTI`, so programs of other tools (and a parent slice's) keep running too.
pub fn attach(cgroup: BorrowedFd, prog: BorrowedFd) -> io::Result<()> {
    attach_with_flags(cgroup, prog, BPF_F_ALLOW_MULTI)
}

/// Attaches `prog` with the given attach flags; tests use it to play a tool that attaches
/// without `BPF_F_ALLOW_MULTI` (`ip vrf exec`).
pub fn attach_with_flags(cgroup: BorrowedFd, prog: BorrowedFd, flags: u32) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_INET_SOCK_CREATE,
        attach_flags: flags,
    };
    // SAFETY: `attr` is the BPF_PROG_ATTACH prefix of `bpf_attr` and holds no pointers.
    unsafe { sys_bpf(BPF_PROG_ATTACH, &mut attr) }.map(drop)
}

/// Detaches exactly the program `prog` from `cgroup`.
pub fn detach(cgroup: BorrowedFd, prog: BorrowedFd) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_INET_SOCK_CREATE,
        attach_flags: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_DETACH prefix of `bpf_attr` and holds no pointers.
    unsafe { sys_bpf(BPF_PROG_DETACH, &mut attr) }.map(drop)
}

/// What `BPF_PROG_QUERY` reports for a cgroup's `sock_create` hook.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Ids of the programs attached directly to this cgroup (not inherited ones), in run order.
    pub prog_ids: Vec<u32>,
    /// The hook's attach flags (`BPF_F_ALLOW_MULTI`, `BPF_F_ALLOW_OVERRIDE` or 0).
    pub attach_flags: u32,
}

/// `BPF_PROG_QUERY` flag: list the programs that run for the cgroup (its own, then the ones it
/// inherits from its ancestors) rather than those attached to it.
const BPF_F_QUERY_EFFECTIVE: u32 = 1;

/// Lists the `sock_create` programs attached directly to `cgroup`.
pub fn query_full(cgroup: BorrowedFd) -> io::Result<Query> {
    query_with(cgroup, 0)
}

/// Ids of every `sock_create` program that runs for a socket created in `cgroup`: its own and
/// the ones its ancestors' hooks pass down, as the kernel runs them (`BPF_F_QUERY_EFFECTIVE`,
/// as `BPF_PROG_QUERY` itself, Linux 4.15). Unlike a walk of the ancestors, this also sees programs above
/// the cgroup2 mount's root, which a cgroup namespace or a container's mount hides.
pub fn effective_ids(cgroup: BorrowedFd) -> io::Result<Vec<u32>> {
    query_with(cgroup, BPF_F_QUERY_EFFECTIVE).map(|q| q.prog_ids)
}

fn query_with(cgroup: BorrowedFd, query_flags: u32) -> io::Result<Query> {
    // The count can change between calls (a concurrent start); grow and retry on ENOSPC.
    let mut cap = 64usize;
    loop {
        let mut ids = vec![0u32; cap];
        let mut attr = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_INET_SOCK_CREATE,
            query_flags,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: cap as u32,
            ..Default::default()
        };
        // SAFETY: `attr` is the BPF_PROG_QUERY prefix of `bpf_attr`; `prog_ids` points to `ids`,
        // `prog_cnt` (= its length) writable u32s that outlive the call.
        match unsafe { sys_bpf(BPF_PROG_QUERY, &mut attr) } {
            Ok(_) => {
                ids.truncate((attr.prog_cnt as usize).min(cap));
                return Ok(Query {
                    prog_ids: ids,
                    attach_flags: attr.attach_flags,
                });
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && cap < 1 << 16 => {
                cap = (attr.prog_cnt as usize).max(cap * 2);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Ids of the `sock_create` programs attached directly to `cgroup`.
pub fn query(cgroup: BorrowedFd) -> io::Result<Vec<u32>> {
    query_full(cgroup).map(|q| q.prog_ids)
}

/// Opens a program by id (needs CAP_SYS_ADMIN).
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    // SAFETY: `attr` is the BPF_PROG_GET_FD_BY_ID prefix of `bpf_attr` and holds no pointers.
    let fd = unsafe { sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?;
    // SAFETY: BPF_PROG_GET_FD_BY_ID returns a new program descriptor that we now own.
    Ok(unsafe { owned_fd(fd) })
}

/// `struct bpf_map_info` up to `map_flags`: all we read of a map.
#[repr(C)]
#[derive(Default)]
struct RawMapInfo {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

/// `bpf_attr` for `BPF_MAP_LOOKUP_ELEM`.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// The `u32` at `offset` in element 0 of the array map `map_id` (needs CAP_SYS_ADMIN): where
/// a libbpf program keeps a `const volatile` set before loading, as systemd's native
/// `BindNetworkInterface=` program keeps its ifindex in `.rodata`. Maps are frozen, not
/// hidden, so reading one changes nothing.
pub fn map_value_u32(map_id: u32, offset: u32) -> io::Result<u32> {
    let mut attr = GetFdByIdAttr {
        id: map_id,
        ..Default::default()
    };
    // SAFETY: `attr` is the BPF_MAP_GET_FD_BY_ID prefix of `bpf_attr` and holds no pointers.
    let fd = unsafe { sys_bpf(BPF_MAP_GET_FD_BY_ID, &mut attr) }?;
    // SAFETY: BPF_MAP_GET_FD_BY_ID returns a new map descriptor that we now own.
    let map = unsafe { owned_fd(fd) };
    let mut info = RawMapInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: map.as_raw_fd() as u32,
        info_len: mem::size_of::<RawMapInfo>() as u32,
        info: &mut info as *mut RawMapInfo as u64,
    };
    // SAFETY: `attr` is the BPF_OBJ_GET_INFO_BY_FD prefix of `bpf_attr`; `info` points to the
    // exclusively borrowed `RawMapInfo` of `info_len` bytes, which holds no pointers.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    let end = offset as usize + 4;
    if info.map_type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 || end > info.value_size as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let key = 0u32;
    let mut value = vec![0u8; info.value_size as usize];
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: &key as *const u32 as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `attr` is the BPF_MAP_LOOKUP_ELEM prefix of `bpf_attr`; `key` points to the
    // 4-byte key the map's `key_size` asks for, `value` to `value_size` writable bytes; both
    // outlive the call.
    unsafe { sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) }?;
    let mut b = [0u8; 4];
    b.copy_from_slice(&value[offset as usize..end]);
    Ok(u32::from_ne_bytes(b))
}

/// What we know about a loaded program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgInfo {
    pub id: u32,
    pub prog_type: u32,
    pub name: String,
    /// The kernel's translated instructions (empty if the kernel withheld them).
    pub xlated: Vec<u8>,
    /// The ifindex, when the program is ours (one of our names and our shape).
    pub ours_ifindex: Option<u32>,
    /// Which of our names it carries, when it is ours.
    pub origin: Option<Origin>,
    /// True when the name is that of systemd v260's native `BindNetworkInterface=` program.
    pub is_v260_native: bool,
}

impl ProgInfo {
    pub fn is_ours(&self) -> bool {
        self.ours_ifindex.is_some()
    }
}

fn raw_info(fd: BorrowedFd, info: &mut RawProgInfo) -> io::Result<()> {
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: mem::size_of::<RawProgInfo>() as u32,
        info: info as *mut RawProgInfo as u64,
    };
    // SAFETY: `attr` is the BPF_OBJ_GET_INFO_BY_FD prefix of `bpf_attr`; `info` points to the
    // exclusively borrowed `RawProgInfo` of `info_len` bytes, whose own buffer pointers the
    // callers set to buffers of the lengths stored next to them (or leave null with length 0).
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }.map(drop)
}

/// The id of the program behind `fd` (one `BPF_OBJ_GET_INFO_BY_FD`, no instructions).
pub fn prog_id_fd(fd: BorrowedFd) -> io::Result<u32> {
    let mut info = RawProgInfo::default();
    raw_info(fd, &mut info)?;
    Ok(info.id)
}

/// Bytes of translated instructions asked for with the first `BPF_OBJ_GET_INFO_BY_FD`: 32
/// instructions, several times what our programs and v260's translate to.
const FIRST_XLATED_BUFFER: usize = 32 * 8;

/// Name, type and translated instructions of the program behind `fd`.
pub fn prog_info_fd(fd: BorrowedFd) -> io::Result<ProgInfo> {
    // One call for the common case: a buffer that holds the translated instructions of our
    // programs and v260's (a few instructions) comes with the first call, which reports the
    // full length; only a longer (foreign) program needs a second call. `status` and every
    // daemon-reload ask this for each bound cgroup.
    let mut xlated = vec![0u8; FIRST_XLATED_BUFFER];
    let mut first = RawProgInfo {
        xlated_prog_len: xlated.len() as u32,
        xlated_prog_insns: xlated.as_mut_ptr() as u64,
        ..Default::default()
    };
    raw_info(fd, &mut first)?;
    let full = first.xlated_prog_len as usize;
    if full <= xlated.len() {
        xlated.truncate(full);
    } else {
        xlated = vec![0u8; full];
        // Second call with only the buffer we want filled; every other length stays 0.
        let mut second = RawProgInfo {
            xlated_prog_len: xlated.len() as u32,
            xlated_prog_insns: xlated.as_mut_ptr() as u64,
            ..Default::default()
        };
        raw_info(fd, &mut second)?;
        xlated.truncate(second.xlated_prog_len.min(first.xlated_prog_len) as usize);
    }
    let name = CStr::from_bytes_until_nul(&first.name)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(&first.name).into_owned());
    let named_ours =
        Origin::of_name(&name).filter(|_| first.prog_type == BPF_PROG_TYPE_CGROUP_SOCK);
    let ours_ifindex = named_ours.and_then(|_| program::ifindex_of_program(&xlated));
    Ok(ProgInfo {
        id: first.id,
        origin: ours_ifindex.and(named_ours),
        prog_type: first.prog_type,
        is_v260_native: name == program::V260_PROG_NAME,
        name,
        xlated,
        ours_ifindex,
    })
}

/// [`prog_info_fd`] by program id.
pub fn prog_info(id: u32) -> io::Result<ProgInfo> {
    let fd = prog_fd_by_id(id)?;
    prog_info_fd(fd.as_fd())
}

/// Detaches our programs from `cgroup`, never foreign ones. With `keep_id` (the program this
/// run attached), only the copies attached before it are removed.
///
/// "Before" is attach order, as `BPF_PROG_QUERY` lists the hook's programs, not id order: ids
/// follow load order, and of two racing starts the one that loaded first may attach last, so
/// comparing ids left both attached (issue 13 #11). By attach order the copy attached last
/// removes every other, and a copy attached after ours is left to the start that attached it:
/// two racing starts never remove each other's program and leave none. When `keep_id` is no
/// longer attached, a later start has replaced it and nothing is removed.
/// Programs that vanish while we look (a concurrent detach) are skipped.
pub fn detach_ours(cgroup: BorrowedFd, keep_id: Option<u32>) -> io::Result<usize> {
    let mut ids = query(cgroup)?;
    if let Some(keep) = keep_id {
        match ids.iter().position(|&id| id == keep) {
            Some(ours) => ids.truncate(ours),
            None => return Ok(0),
        }
    }
    detach_ours_among(cgroup, ids)
}

/// Detaches the programs `ids` from `cgroup` if they are still attached there and still ours
/// (an id is never reused while the program lives, but one may have been detached and freed
/// since the caller looked). Returns how many were detached.
pub fn detach_ids(cgroup: BorrowedFd, ids: &[u32]) -> io::Result<usize> {
    let attached = query(cgroup)?;
    detach_ours_among(
        cgroup,
        ids.iter().copied().filter(|id| attached.contains(id)),
    )
}

/// Detaches each of `ids` that is ours from `cgroup`; programs that vanish meanwhile (a
/// concurrent detach) are skipped. Returns how many were detached.
fn detach_ours_among(cgroup: BorrowedFd, ids: impl IntoIterator<Item = u32>) -> io::Result<usize> {
    let mut removed = 0;
    for id in ids {
        let fd = match prog_fd_by_id(id) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        if !prog_info_fd(fd.as_fd())?.is_ours() {
            continue;
        }
        match detach(cgroup, fd.as_fd()) {
            Ok(()) => removed += 1,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Result of [`attach_replacing`]: the binding is in place.
#[derive(Debug)]
pub struct BindOutcome {
    /// Id of the program now attached.
    pub prog_id: u32,
    /// How many older copies of our program were removed.
    pub detached: usize,
    /// Removing older copies failed (typically EPERM: `BPF_PROG_GET_FD_BY_ID` needs
    /// CAP_SYS_ADMIN, which a launcher inside a restricted unit may lack). The new program is
    /// attached and binds all the same (older copies bind to the same or a stale ifindex and run
    /// before it, so ours has the last word); the caller should log this with ", ignoring".
    pub cleanup_error: Option<Error>,
    /// This call attached the program. `false`: the very program was on the hook already (the
    /// shared copy of `sys::pinned`, left by an earlier start whose cgroup outlived its stop,
    /// or by a racing start), and the binding is in place.
    pub attached_now: bool,
    /// The program runs last among the hook's programs, so its interface is the one new
    /// sockets get (within this cgroup). Always true when `attached_now`; when not, a program
    /// attached after the shared copy would override it, and the caller attaches a copy of its
    /// own instead (nothing was removed then).
    pub last: bool,
}

/// Checks that `cgroup` is a cgroup2 directory and not the root of the hierarchy: a program there
/// would bind every socket of the machine.
pub fn check_attachable(cgroup: BorrowedFd) -> Result<(), Error> {
    let magic = super::fstatfs_magic(cgroup)
        .map_err(|e| Error::new(Category::Cgroup, "stat cgroup", "", e))?;
    if magic != CGROUP2_SUPER_MAGIC {
        return Err(Error::new(
            Category::Cgroup,
            "use cgroup",
            "",
            io::Error::from_raw_os_error(libc::EMEDIUMTYPE),
        )
        .with_hint("not a cgroup2 directory"));
    }
    // Every cgroup2 directory except the root has `cgroup.events` (CFTYPE_NOT_ON_ROOT, since
    // Linux 4.5): its absence identifies the root even inside a cgroup namespace's view.
    // SAFETY: faccessat only reads the NUL-terminated path; the fd is valid.
    let r = unsafe {
        libc::faccessat(
            cgroup.as_raw_fd(),
            b"cgroup.events\0".as_ptr() as *const libc::c_char,
            libc::F_OK,
            0,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Err(Error::new(
                Category::Cgroup,
                "attach BPF program to",
                "",
                io::Error::from_raw_os_error(libc::EPERM),
            )
            .with_hint(
                "refusing to bind the root cgroup, which would bind every socket on the host",
            ));
        }
        return Err(Error::new(Category::Cgroup, "inspect cgroup", "", e));
    }
    Ok(())
}

/// Attaches the loaded program `prog` to `cgroup_dir`, then removes older copies of ours.
/// Attach-before-detach: there is never a moment without a binding, and after any number of
/// restarts exactly one of our programs is attached. The launcher's one caller
/// (`cmd::launch::kernel::Linux::attach`) runs [`check_attachable`] first.
pub fn attach_replacing(cgroup_dir: BorrowedFd, prog: &Prog) -> Result<BindOutcome, BindError> {
    attach_and_clean(cgroup_dir, prog, true)
}

/// [`attach_replacing`] on a cgroup this process has just made with `mkdir(2)` below a cgroup2
/// directory (and so neither the root nor anything but cgroup2): no earlier start can have
/// left a copy of ours there, so none is looked for. A copy attached in between by a racing
/// start of the same shared program is still found and kept (`EINVAL`, as there).
pub fn attach_to_created(cgroup_dir: BorrowedFd, prog: &Prog) -> Result<BindOutcome, BindError> {
    attach_and_clean(cgroup_dir, prog, false)
}

/// [`attach_replacing`], with the removal of older copies after a new attachment only when
/// `clean`.
fn attach_and_clean(
    cgroup_dir: BorrowedFd,
    prog: &Prog,
    clean: bool,
) -> Result<BindOutcome, BindError> {
    // The id first, every path below needs it: known when the program was found pinned (its
    // check read it), else one call.
    let prog_fd = prog.as_fd();
    let prog_id = prog.id().map_err(|e| {
        Error::new(
            Category::Bpf,
            "get information of BPF program",
            program::PROG_NAME,
            e,
        )
    })?;
    let mut made_room = 0;
    let in_place = loop {
        match attach(cgroup_dir, prog_fd) {
            Ok(()) => break None,
            // The cgroup holds BPF_CGROUP_MAX_PROGS (64) programs already. Copies of ours that
            // earlier starts left (their clean-up lacked a capability, say) would keep every
            // later start failing this way for ever: make room by detaching the oldest copy of
            // ours, then try again. The newer copies bind until ours is attached, so the cgroup
            // is never without a binding unless the copy removed was its only one.
            Err(e) if e.raw_os_error() == Some(libc::E2BIG) && made_room < MAX_PROGS => {
                match detach_oldest_ours(cgroup_dir) {
                    Ok(true) => made_room += 1,
                    Ok(false) => return Err(attach_error(e, made_room)),
                    Err(cleanup) => {
                        return Err(attach_error(e, made_room).with_hint(format!(
                            "the cgroup holds the kernel's limit of 64 programs, and removing a stale copy of ours failed: {}",
                            super::strerror(&cleanup)
                        )))
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let err = attach_error(e, made_room);
                return Err(match non_multi_program(cgroup_dir) {
                    Some(place) => err.with_hint(format!(
                        "a program attached without BPF_F_ALLOW_MULTI (ip vrf exec?) is on {place}"
                    )),
                    None => err,
                });
            }
            // The kernel refuses a program that is on the hook already. With one shared copy
            // per interface (`sys::pinned`) that is the binding a start wants, still in place
            // (the cgroup outlived a stop, or a racing start attached the same copy first).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                match query(cgroup_dir).ok().filter(|ids| ids.contains(&prog_id)) {
                    Some(ids) => break Some(ids),
                    None => return Err(attach_error(e, made_room)),
                }
            }
            Err(e) => return Err(attach_error(e, made_room)),
        }
    };
    let attached_now = in_place.is_none();
    // Found in place, the hook's list is read already: the older copies are those before ours.
    let cleanup = match in_place {
        None if !clean => Ok(0),
        None => detach_ours(cgroup_dir, Some(prog_id)),
        Some(ids) if ids.last() == Some(&prog_id) => {
            let ours = ids.iter().position(|&id| id == prog_id).unwrap_or(0);
            detach_ours_among(cgroup_dir, ids[..ours].iter().copied())
        }
        Some(_) => {
            // In place but not last: whatever was attached after it runs after it and has
            // the last word. Leave everything as it is for the caller's own copy.
            return Ok(BindOutcome {
                prog_id,
                detached: made_room,
                cleanup_error: None,
                attached_now,
                last: false,
            });
        }
    };
    let (detached, cleanup_error) = match cleanup {
        Ok(n) => (n, None),
        Err(e) => (
            0,
            Some(Error::new(
                Category::Bpf,
                "detach older BPF programs from",
                "",
                e,
            )),
        ),
    };
    Ok(BindOutcome {
        prog_id,
        detached: detached + made_room,
        cleanup_error,
        attached_now,
        last: true,
    })
}

/// `BPF_CGROUP_MAX_PROGS`: how many programs one cgroup hook holds.
const MAX_PROGS: usize = 64;

/// The error of a failed `BPF_PROG_ATTACH`, with a hint naming the likely cause.
fn attach_error(e: io::Error, made_room: usize) -> Error {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) => {
            Some("attaching needs privileges this process lacks (CAP_NET_ADMIN or CAP_SYS_ADMIN, on newer kernels CAP_BPF)".to_string())
        }
        Some(libc::EINVAL) => Some(
            "BPF_F_ALLOW_MULTI needs Linux 4.15, or another tool attached without it".to_string(),
        ),
        Some(libc::EBADF) => Some("not a cgroup2 directory".to_string()),
        Some(libc::E2BIG) if made_room == 0 => Some(
            "the cgroup holds the kernel's limit of 64 programs, none of them ours".to_string(),
        ),
        Some(libc::E2BIG) => Some(format!(
            "the cgroup holds the kernel's limit of 64 programs; {made_room} stale copies of ours were removed, none is left"
        )),
        _ => None,
    };
    let err = Error::new(Category::Bpf, "attach BPF program to", "", e);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// A binding program (ours, or systemd v260's native one) on an ancestor of a cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AncestorBinding {
    /// 1 for the parent, 2 for the grandparent, and so on.
    pub depth: usize,
    /// The ifindex it binds to, when its instructions show it.
    pub ifindex: Option<u32>,
    /// systemd's own `BindNetworkInterface=` program rather than ours.
    pub native: bool,
}

/// The binding programs on the ancestors of `cgroup` whose programs run for it (hooks attached
/// with `BPF_F_ALLOW_MULTI`, which ours and systemd's are): they run after the cgroup's own
/// programs, so theirs is the last word on a socket's interface. One `BPF_PROG_QUERY` per
/// ancestor; program details only for hooks that hold programs.
pub fn ancestor_bindings(cgroup: BorrowedFd) -> io::Result<Vec<AncestorBinding>> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut dir = parent_cgroup(cgroup, None);
    while let Some((d, id)) = dir {
        depth += 1;
        let q = query_full(d.as_fd())?;
        if q.attach_flags & BPF_F_ALLOW_MULTI != 0 {
            for id in q.prog_ids {
                let info = match prog_info(id) {
                    Ok(info) => info,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                    Err(e) => return Err(e),
                };
                if let Some(ifindex) = binding_of(&info) {
                    out.push(AncestorBinding {
                        depth,
                        ifindex,
                        native: info.is_v260_native,
                    });
                }
            }
        }
        dir = parent_cgroup(d.as_fd(), Some(id));
    }
    Ok(out)
}

/// `Some(ifindex)` when `info` is a binding program, ours or systemd v260's native one, with
/// the ifindex it binds to when its instructions show it; `None` for any other program.
fn binding_of(info: &ProgInfo) -> Option<Option<u32>> {
    (info.is_ours() || info.is_v260_native).then(|| {
        info.ours_ifindex
            .or_else(|| program::ifindex_of_program(&info.xlated))
    })
}

/// Whether every `sock_create` program that runs for `cgroup` ([`effective_ids`]) is a binding
/// to `ifindex`, ours (either pin) or systemd's: then none of its ancestors binds sockets
/// elsewhere, and [`ancestor_bindings`] (a query per level up to the root, plus the programs
/// it finds) has nothing to tell a start binding to `ifindex`. One query, and one open and
/// read per program listed. `false` also when it cannot tell (a program that went away
/// meanwhile, no permission, a kernel without the query): the walk then decides.
pub fn only_bindings_to(cgroup: BorrowedFd, ifindex: u32) -> bool {
    let Ok(ids) = effective_ids(cgroup) else {
        return false;
    };
    ids.into_iter()
        .all(|id| prog_info(id).is_ok_and(|info| binding_of(&info) == Some(Some(ifindex))))
}

/// Why an attach with `BPF_F_ALLOW_MULTI` was refused with EPERM when it was not for want of a
/// capability: the kernel refuses it when this cgroup's hook already holds a program attached
/// with other flags, or when the nearest ancestor holding a program attached it without
/// `BPF_F_ALLOW_MULTI` or `BPF_F_ALLOW_OVERRIDE` (what `ip vrf exec` does). Returns where, or
/// `None` when neither is the case (or the hooks cannot be read: then it is the capability).
fn non_multi_program(cgroup: BorrowedFd) -> Option<&'static str> {
    let here = query_full(cgroup).ok()?;
    if !here.prog_ids.is_empty() && here.attach_flags != BPF_F_ALLOW_MULTI {
        return Some("this cgroup");
    }
    let (mut dir, mut id) = parent_cgroup(cgroup, None)?;
    loop {
        let q = query_full(dir.as_fd()).ok()?;
        if q.attach_flags & BPF_F_ALLOW_MULTI != 0 {
            return None;
        }
        if !q.prog_ids.is_empty() {
            return (q.attach_flags & BPF_F_ALLOW_OVERRIDE == 0).then_some("an ancestor cgroup");
        }
        (dir, id) = parent_cgroup(dir.as_fd(), Some(id))?;
    }
}

/// The parent directory of the cgroup2 directory `dir`, if it is a cgroup2 directory too (the
/// root's parent is not) and not `dir` itself: the `..` of a mount's root that has no parent
/// mount (a detached `fsmount`, or cgroup2 mounted on `/`) is that root again, and the
/// ancestor walks would never end. Returned with its device and inode; `dir_id` is `dir`'s,
/// when the walk knows it already (it was the previous step's parent): one `fstat` less per
/// level, on every start.
fn parent_cgroup(dir: BorrowedFd, dir_id: Option<(u64, u64)>) -> Option<(OwnedFd, (u64, u64))> {
    // SAFETY: openat reads the NUL-terminated literal; `dir` is a valid descriptor.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            b"..\0".as_ptr() as *const libc::c_char,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    let parent = unsafe { owned_fd(fd as libc::c_long) };
    let parent_id = super::dev_ino(parent.as_fd()).ok()?;
    let same = match dir_id {
        Some(id) => id == parent_id,
        None => super::dev_ino(dir).ok()? == parent_id,
    };
    (!same && is_cgroup2(parent.as_fd())).then_some((parent, parent_id))
}

fn is_cgroup2(dir: BorrowedFd) -> bool {
    super::fstatfs_magic(dir).is_ok_and(|m| m == CGROUP2_SUPER_MAGIC)
}

/// Detaches the copy of our program that was attached first to `cgroup`; `Ok(false)` when there
/// is none. A copy that vanishes meanwhile (a concurrent start removed it) counts as removed.
fn detach_oldest_ours(cgroup: BorrowedFd) -> io::Result<bool> {
    // BPF_PROG_QUERY lists a hook's programs in attach order.
    for id in query(cgroup)? {
        let fd = match prog_fd_by_id(id) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(true),
            Err(e) => return Err(e),
        };
        if !prog_info_fd(fd.as_fd())?.is_ours() {
            continue;
        }
        return match detach(cgroup, fd.as_fd()) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(true),
            Err(e) => Err(e),
        };
    }
    Ok(false)
}

/// Programs attached directly to `cgroup` with their details (for `status`).
pub fn attached_programs(cgroup: BorrowedFd) -> io::Result<Vec<ProgInfo>> {
    let mut out = Vec::new();
    for id in query(cgroup)? {
        match prog_info(id) {
            Ok(info) => out.push(info),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Creates an AF_INET (else AF_INET6) UDP socket and returns the ifindex it is bound to, if any:
/// lets a caller check, in its own cgroup, that the binding took effect.
pub fn probe_bound_ifindex() -> io::Result<Option<u32>> {
    let sock = probe_socket()?;
    bound_ifindex(sock.as_fd())
}

/// The socket [`probe_bound_ifindex`] makes (UDP, AF_INET else AF_INET6, close-on-exec), for a
/// caller that keeps it: its interface is [`bound_ifindex`].
pub fn probe_socket() -> io::Result<OwnedFd> {
    let mut last = io::Error::from_raw_os_error(libc::EAFNOSUPPORT);
    for family in [libc::AF_INET, libc::AF_INET6] {
        // SAFETY: plain socket(2) call; the result is checked before being owned.
        let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd >= 0 {
            // SAFETY: socket(2) just returned this descriptor; nothing else owns it.
            return Ok(unsafe { owned_fd(fd as libc::c_long) });
        }
        last = io::Error::last_os_error();
    }
    Err(last)
}

/// The ifindex a socket is bound to (`SO_BINDTOIFINDEX`, Linux 5.1; before that the device name
/// from `SO_BINDTODEVICE` is mapped back with `if_nametoindex`).
pub fn bound_ifindex(sock: BorrowedFd) -> io::Result<Option<u32>> {
    let mut v: libc::c_int = 0;
    match super::getsockopt(sock, libc::SOL_SOCKET, libc::SO_BINDTOIFINDEX, &mut v) {
        Ok(_) => return Ok((v > 0).then_some(v as u32)),
        Err(e) if e.raw_os_error() != Some(libc::ENOPROTOOPT) => return Err(e),
        Err(_) => {}
    }
    match bound_device_name(sock)? {
        None => Ok(None),
        Some(name) => {
            let c = super::cstring(&name)?;
            // SAFETY: if_nametoindex reads the NUL-terminated name only.
            let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
            Ok((idx > 0).then_some(idx))
        }
    }
}

/// The device name a socket is bound to (`SO_BINDTODEVICE`), `None` when unbound.
pub fn bound_device_name(sock: BorrowedFd) -> io::Result<Option<String>> {
    let mut buf = [0u8; 32];
    let len = super::getsockopt(sock, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, &mut buf)?;
    let name = CStr::from_bytes_until_nul(&buf[..len])
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(&buf[..len]).into_owned());
    Ok((!name.is_empty()).then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `offset_of!` without needing Rust 1.77 (our MSRV is 1.70).
    macro_rules! off {
        ($t:ty, $f:ident) => {{
            let v = <$t>::default();
            (&v.$f as *const _ as usize) - (&v as *const $t as usize)
        }};
    }

    #[test]
    fn attr_layouts_match_the_uapi() {
        assert_eq!(mem::size_of::<ProgLoadAttr>(), 72);
        assert_eq!(off!(ProgLoadAttr, prog_name), 48);
        assert_eq!(off!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(mem::size_of::<AttachAttr>(), 16);
        assert_eq!(off!(ObjAttr, bpf_fd), 8);
        assert_eq!(mem::size_of::<ObjAttr>(), 16);
        assert_eq!(off!(QueryAttr, prog_ids), 16);
        assert_eq!(off!(QueryAttr, prog_cnt), 24);
        assert_eq!(off!(RawProgInfo, xlated_prog_insns), 32);
        assert_eq!(off!(RawProgInfo, name), 64);
        assert_eq!(mem::size_of::<RawProgInfo>(), 88);
        assert_eq!(off!(RawMapInfo, value_size), 12);
        assert_eq!(off!(MapElemAttr, key), 8);
        assert_eq!(off!(MapElemAttr, value), 16);
    }

    #[test]
    fn prog_name_is_truncated_and_terminated() {
        let b = prog_name_bytes("a_very_long_program_name");
        assert_eq!(&b[..15], b"a_very_long_pro");
        assert_eq!(b[15], 0);
    }
}
