# Sourced by every scenario: helpers for evidence and verdicts.
# A scenario passes by exiting 0, skips with `skip`, fails with `fail` (or any other exit status).
# Lines given to `evidence` go to the result file the host prints; everything else to the log.
set -u
: "${VMTEST_EVIDENCE:=/dev/null}"
BINDIF=/usr/lib/bindif-launch
# the generator build (a file of its own in the packages; run-scenarios puts it here)
BINDIF_GENERATOR=/usr/local/lib/bindif-launch-generator
HELPERS=/usr/local/lib/vmtest   # copies of guest/*.py (readable by DynamicUser= units)
SYSTEMD_VERSION=$(systemctl --version | awk 'NR==1 { print $2 + 0 }')
FAILED=0
_cleanups=()

evidence() { echo "$*" | tee -a "$VMTEST_EVIDENCE"; }
# record KEY VALUE: an observation that must be identical on every suite (the differential check:
# the host compares the "= KEY: VALUE" lines of a scenario between suites booted with the same layout)
record()   { evidence "= $1: $2"; }
fail()     { echo "RESULT: $*"; echo "FAIL: $*" >> "$VMTEST_EVIDENCE"; exit 1; }
skip()     { echo "RESULT: $*"; exit 77; }
pass()     { echo "RESULT: $*"; exit 0; }
# check DESCRIPTION CMD...: records a failed expectation but goes on (verdict at `verdict`)
check() {
    local d=$1; shift
    if "$@"; then evidence "ok: $d"; else evidence "NOT OK: $d"; FAILED=$((FAILED + 1)); fi
}
verdict() {   # verdict SUMMARY
    if [ "$FAILED" -eq 0 ]; then pass "$*"; else fail "$FAILED check(s) failed; $*"; fi
}
cleanup() { _cleanups+=("$*"); }
_run_cleanups() { local i; for ((i=${#_cleanups[@]}-1; i>=0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1; done; }
trap _run_cleanups EXIT

native() { [ "$SYSTEMD_VERSION" -ge 260 ]; }
# binding mode for the "same unit, two implementations" scenarios:
#   native on systemd >= 260 (plain BindNetworkInterface=), launcher otherwise; VMTEST_MODE overrides.
MODE=${VMTEST_MODE:-$(native && echo native || echo launcher)}

# launcher_works: the binary exists and runs; otherwise the launcher scenarios fail honestly.
need_launcher() {
    [ "$MODE" = native ] && return 0
    [ -x "$BINDIF" ] || fail "no bindif-launch binary in the guest ($BINDIF)"
    local v
    if ! v=$("$BINDIF" --help 2>&1 </dev/null); then
        "$BINDIF" --version >/dev/null 2>&1 </dev/null ||
            fail "bindif-launch does not run here: $(echo "$v" | head -2 | tr '\n' ' ')"
    fi
}

vrf_add() {   # vrf_add NAME TABLE [ADDR...]
    local name=$1 table=$2 a; shift 2
    modprobe vrf 2>/dev/null
    ip link add "$name" type vrf table "$table" || fail "cannot create VRF $name"
    ip link set "$name" up
    for a; do ip addr add "$a" dev "$name" || fail "cannot add $a to $name"; done
    cleanup "ip link del $name"
}

unit_write() {   # unit_write NAME [DIR]  (content on stdin), registers cleanup; DIR default /etc/systemd/system
    local d=${2:-/etc/systemd/system} f
    f=$d/$1
    mkdir -p "$d"
    cat > "$f"
    # a template's instances by pattern: stopping 'foo@.service' stops nothing, and an instance
    # left running keeps its (legacy: mirror) cgroup into the later scenarios of the boot
    local stop=$1; case $1 in *@.*) stop=${1/@./@*.} ;; esac
    cleanup "systemctl stop '$stop'; rm -rf '$f' '/etc/systemd/system/$1.d'; systemctl daemon-reload"
}
dropin_write() { # dropin_write UNIT NAME.conf (content on stdin), in /etc/systemd/system/UNIT.d
    mkdir -p "/etc/systemd/system/$1.d"
    cat > "/etc/systemd/system/$1.d/$2"
}
# bind_dropin UNIT IFACE: the drop-in a user writes to bind UNIT, in the scenario's MODE:
#   native   - BindNetworkInterface= only (systemd >= 260)
#   launcher - ExecStart= reset + ExecStart=/usr/lib/bindif-launch %n, plus BindNetworkInterface=
#   attach   - ExecStartPre=+/usr/lib/bindif-launch --attach %n, plus BindNetworkInterface=
bind_dropin() {
    local unit=$1 iface=$2 mode=${3:-$MODE}
    case $mode in
        native) printf '[Service]\nBindNetworkInterface=%s\n' "$iface" ;;
        launcher) printf '[Service]\nExecStart=\nExecStart=%s %%n\nBindNetworkInterface=%s\n' "$BINDIF" "$iface" ;;
        attach) printf '[Service]\nExecStartPre=+%s --attach %%n\nBindNetworkInterface=%s\n' "$BINDIF" "$iface" ;;
    esac | dropin_write "$unit" bind.conf
}
# On legacy hosts (no cgroup2 that systemd uses) the attach form cannot reach the unit's later
# processes; bindif-launch must say so and start the unit unbound (architecture.md).
attach_unreachable() { [ "${LAYOUT:-}" = legacy ] && [ "$MODE" != native ]; }
check_attach_refusal() {   # check_attach_refusal UNIT
    local m; m=$(journal_of "$1" | grep -F "cannot reach the unit's later processes" | head -1)
    evidence "legacy layout, attach form: ${m:-no message}"
    check "legacy: bindif-launch says --attach cannot reach $1's processes" [ -n "$m" ]
}
reload() { systemctl daemon-reload; }
# install_generator: bindif-launch-generator where this systemd looks for generators (Debian's
# /lib/systemd/system-generators: the same directory as /usr/lib/... on merged-/usr systems;
# bullseye is not merged), removed again at the end; the package form without the package.
install_generator() {
    local d=/lib/systemd/system-generators
    [ -d "$d" ] || d=/usr/lib/systemd/system-generators
    install -m 0755 "$BINDIF_GENERATOR" "$d/bindif-launch-generator"
    cleanup "rm -f $d/bindif-launch-generator; systemctl daemon-reload"
}
# legacy_form: on legacy cgroup hosts through the launcher, the form that binds there is the
# generator's (the attach step prepares, wrapped commands enter; unprivileged ones through
# bindif-launch-enter.socket), not a hand-written attach step, which is refused there.
legacy_form() { [ "${LAYOUT:-}" = legacy ] && [ "$MODE" != native ]; }
start() {   # start UNIT...: records the failure as evidence, returns systemctl's status
    if ! timeout 60 systemctl start "$@"; then
        evidence "systemctl start $* failed: $(systemctl show -p Result -p ExecMainStatus "$@" | tr '\n' ' ')"
        journal_of "$1" | tail -n 5 | sed 's/^/    journal: /' | tee -a "$VMTEST_EVIDENCE"
        return 1
    fi
}
main_pid() { systemctl show -p MainPID --value "$1"; }
# pid_of_port PORT [t|u]: pid owning the listener, from ss -p
pid_of_port() { ss -H${2:-t}lnp "( sport = :$1 )" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1; }

# wait_for CMD...: up to ~30 s (TCG is slow)
wait_for() { local i; for i in $(seq 60); do "$@" && return 0; sleep 0.5; done; return 1; }

# listeners matching a port: prints ss lines (local address column shows %IFACE when bound)
ss_port() { ss -Htlnp "( sport = :$1 )" 2>/dev/null; }
ss_uport() { ss -Hulnp "( sport = :$1 )" 2>/dev/null; }
# the bound device of the TCP listener on PORT ("" when unbound), from ss's local address
tcp_dev() { ss -Htln "( sport = :$1 )" | awk '{ print $4 }' | sed -n 's/.*%\([^:]*\):.*/\1/p' | head -1; }

cgroup_path_of() {   # cgroup v2 path of a unit (unified: /sys/fs/cgroup, hybrid: .../unified)
    local cg; cg=$(systemctl show -p ControlGroup --value "$1")
    if [ -d /sys/fs/cgroup/unified ]; then echo "/sys/fs/cgroup/unified$cg"; else echo "/sys/fs/cgroup$cg"; fi
}
# number of sock_create programs attached to a unit's cgroup
prog_count() {
    local p; p=$(cgroup_path_of "$1")
    bpftool cgroup show "$p" 2>/dev/null | grep -c sock_create
}
bpf_evidence() { local p; p=$(cgroup_path_of "$1"); evidence "bpftool cgroup show $p: $(bpftool cgroup show "$p" 2>&1 | tr -s ' ' | tr '\n' ';')"; }

journal_of() { journalctl -b --no-pager -o cat -u "$1" 2>/dev/null; }
