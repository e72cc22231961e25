#!/bin/bash
# follow: bindings that follow their interface (beyond v262, opt-in). systemd 262 resolves the name
# at start and at daemon-reload only: a VRF deleted and re-created under a running unit leaves its
# new sockets failing with ENODEV (a stale ifindex) until a reload or restart. With
# X-BindNetworkInterface-Follow=yes the package's generator marks the interface as followed and its
# udev rule runs bindif-launch --follow as the interface appears (re-binding the unit's cgroup) and
# --follow-gone as it goes. Two daemons that create new sockets all the time (probed.py): fl.service
# follows, st.service does not. Recorded (the SAME lines, also on sid 262 natively): what st's new
# sockets get, stale as on 262. Checked on old systemd: fl is bound again after every re-creation,
# the latency from `ip link add` to fl's first bound socket (median and worst of the runs), one
# program on fl's cgroup, a late interface (created after the start) bound, an interface renamed
# to the name followed, and one "is gone" warning per disappearance. On systemd >= 260 the
# package generates nothing: Follow= is not offered there (bindif-launch(8)), so fl stays stale.
# layouts: unified hybrid legacy
. "$VMTEST_LIB"
[ -x "$BINDIF" ] || fail "no bindif-launch binary in the guest ($BINDIF)"
install_generator
runs=${FOLLOW_RUNS:-20}
for u in fl st; do
    cleanup "rm -f /run/follow-$u /run/follow-$u.tmp"
    unit_write $u.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $HELPERS/probed.py /run/follow-$u 0.02
EOF2
    bind_dropin $u.service vrf-fl native
done
printf '[Service]\nX-BindNetworkInterface-Follow=yes\n' | dropin_write fl.service follow.conf
follows() { ! native; }

seq_of() { awk '{print $1}' "/run/follow-$1" 2>/dev/null || echo 0; }
# dev_now UNIT: the device of UNIT's newest TCP/IPv4 socket, after two fresh rounds
dev_now() {
    local s0 s i
    s0=$(seq_of "$1"); s0=${s0:-0}
    for i in $(seq 200); do
        s=$(seq_of "$1")
        [ -n "$s" ] && [ "$s" -ge $((s0 + 2)) ] && break
        sleep 0.02
    done
    awk '{print $2}' "/run/follow-$1" 2>/dev/null
}
# bound_within UNIT T0 SECONDS: prints the milliseconds from T0 (ns) until a socket UNIT creates
# after T0 carries vrf-fl (a probe round that began after T0: two sequence numbers later)
bound_within() {
    local s0 limit now line
    s0=$(seq_of "$1"); s0=${s0:-0}
    limit=$(( $2 + $3 * 1000000000 ))
    while now=$(date +%s%N); [ "$now" -lt "$limit" ]; do
        line=$(cat "/run/follow-$1" 2>/dev/null)
        if [ "${line%% *}" -ge $((s0 + 2)) ] 2>/dev/null && [ "$(echo "$line" | awk '{print $2}')" = tcp4=vrf-fl ]; then
            echo $(( (now - $2) / 1000000 )); return 0
        fi
        sleep 0.01
    done
    return 1
}
gone_warnings() { journalctl -b --no-pager -o cat | grep -cF "fl.service: bind-interface: Network interface 'vrf-fl' is gone"; }
programs() {   # sock_create programs on fl's cgroup ("n/a" where bpftool cannot tell)
    if [ "${LAYOUT:-}" = legacy ] || ! command -v bpftool >/dev/null; then echo n/a; else prog_count fl.service; fi
}
recreate() {   # delete vrf-fl and create it again; prints the nanosecond time of the add
    ip link del vrf-fl
    local t0; t0=$(date +%s%N)
    ip link add vrf-fl type vrf table 74 && ip link set vrf-fl up
    echo "$t0"
}

# 1. A late interface: both start unbound (fail-open, as 262), fl is bound once it appears.
modprobe vrf 2>/dev/null
reload
start fl.service st.service
record "started, interface missing: st" "$(dev_now st)"
check "started while missing: fl unbound" [ "$(dev_now fl)" = tcp4=- ]
t0=$(date +%s%N)
vrf_add vrf-fl 74
if follows; then
    ms=$(bound_within fl "$t0" 10) || ms=never
    evidence "late interface: fl bound after ${ms} ms"
    check "late interface: fl bound" [ "$ms" != never ]
fi
record "interface created after start: st" "$(dev_now st)"

# 2. Bound at start; then re-created $runs times.
systemctl restart fl.service st.service
record "restarted: st" "$(dev_now st)"
check "restarted: fl bound" [ "$(dev_now fl)" = tcp4=vrf-fl ]
g0=$(gone_warnings)
lat=()
for i in $(seq "$runs"); do
    t0=$(recreate)
    if follows; then
        ms=$(bound_within fl "$t0" 10) || ms=never
        lat+=("$ms")
    fi
done
if follows; then
    evidence "re-created $runs times, ms until fl's new sockets were bound again: ${lat[*]}"
    never=$(printf '%s\n' "${lat[@]}" | grep -c never)
    check "every re-creation followed" [ "$never" -eq 0 ]
    if [ "$never" -eq 0 ]; then
        sorted=$(printf '%s\n' "${lat[@]}" | sort -n)
        median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p"); worst=$(echo "$sorted" | tail -1)
        evidence "follow latency over $runs re-creations (TCG guest, probe period 20 ms): median ${median} ms, worst ${worst} ms"
    fi
    p=$(programs)
    [ "$p" = n/a ] || check "one program on fl's cgroup after $runs re-creations (have $p)" [ "$p" = 1 ]
    g1=$(gone_warnings)
    evidence "'is gone' warnings: $((g1 - g0)) for $runs disappearances"
    check "one 'is gone' warning per disappearance" [ $((g1 - g0)) -eq "$runs" ]
else
    check "systemd >= 260: fl stays stale, as 262 (no Follow=)" [ "$(dev_now fl)" = "tcp4=error(ENODEV)" ]
fi
record "re-created ${runs} times: st" "$(dev_now st)"

# 3. Renamed to the name: a VRF made under another name, then renamed (it must be down).
ip link del vrf-fl
ip link add vrf-tmp type vrf table 74
t0=$(date +%s%N)
ip link set vrf-tmp name vrf-fl && ip link set vrf-fl up
if follows; then
    ms=$(bound_within fl "$t0" 10) || ms=never
    evidence "renamed to vrf-fl: fl bound after ${ms} ms"
    check "renamed to the name: fl bound" [ "$ms" != never ]
fi
record "renamed to the name: st" "$(dev_now st)"
ip link del vrf-tmp 2>/dev/null

# 4. Gone for good: fl keeps its stale binding (ENODEV, never unbound), st as 262.
ip link del vrf-fl
record "deleted: st" "$(dev_now st)"
check "deleted: fl's new sockets fail rather than go out unbound" [ "$(dev_now fl)" = "tcp4=error(ENODEV)" ]
journal_of fl.service | grep -F "bind-interface: " | tail -n 3 | sed 's/^/    journalctl -u fl.service: /' | tee -a "$VMTEST_EVIDENCE"
record state "$(systemctl is-active st.service)"
verdict "a followed VRF re-created, created late, renamed and deleted"
