#!/bin/bash
# restarts: 50 restarts (20 on legacy) of a bound unit leave exactly one sock_create program on its cgroup
# (bpftool cgroup show /sys/fs/cgroup/system.slice/rs.service); then the VRF is deleted and
# re-created (new ifindex) and a restart binds to the new one, still with one program. On legacy
# hosts through the generator's form, with the program counted on bindif-launch's private cgroup2
# mirror of the unit's cgroup (issue 15: restarts behave there as on unified).
# layouts: unified hybrid legacy
. "$VMTEST_LIB"
need_launcher
vrf_add vrf-rs 40 127.0.0.1/8
unit_write rs.service <<EOF2
[Unit]
StartLimitIntervalSec=0
[Service]
ExecStart=/usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9993
EOF2
if legacy_form; then install_generator; bind_dropin rs.service vrf-rs native
else bind_dropin rs.service vrf-rs; fi
reload
# the sock_create programs on the unit's cgroup (legacy: on the private mirror of it)
progs() {
    if legacy_form; then
        bpftool cgroup show "/run/bindif-launch/cgroup2$(systemctl show -p ControlGroup --value rs.service)" 2>/dev/null |
            grep -c sock_create
    else
        prog_count rs.service
    fi
}
# the ids of the sock_create programs on the unit's cgroup (legacy: on the mirror)
prog_ids() {
    local p
    if legacy_form; then p="/run/bindif-launch/cgroup2$(systemctl show -p ControlGroup --value rs.service)"
    else p=$(cgroup_path_of rs.service); fi
    bpftool cgroup show "$p" 2>/dev/null | awk '/sock_create/ { print $1 }' | tr '\n' ' ' | sed 's/ $//'
}
# Before v260 every start attaches the one copy pinned for the interface name (src/sys/pinned.rs)
# rather than load its own; on 262 PID 1 loads its program itself and nothing is pinned.
# Sets $pinned to the pinned program's id.
check_shared() {   # check_shared INTERFACE WHEN
    native && return 0
    if ! command -v bpftool >/dev/null; then
        evidence "$2: pinned copy not compared (no bpftool in this image); pins: $(ls /sys/fs/bpf/bindif-launch 2>&1 | tr '\n' ' ')"
        return 0
    fi
    local pin=/sys/fs/bpf/bindif-launch/bindif_unit-$1 attached
    pinned=$(bpftool prog show pinned "$pin" 2>/dev/null | sed -n 's/^\([0-9]*\): .*/\1/p')
    attached=$(prog_ids)
    evidence "$2: /sys/fs/bpf is $(stat -fc %T /sys/fs/bpf); $pin: program ${pinned:-none}; on the cgroup: ${attached:-none}"
    check "$2: the program on the cgroup is the copy pinned for $1" \
        [ "${pinned:-none}" = "$attached" ]
}
start rs.service
# 50 restarts; 20 on legacy, where each wrapped start costs twice as much in a TCG guest (a
# pile-up shows after the second)
runs=50; legacy_form && runs=20
n=0
for i in $(seq $runs); do timeout 60 systemctl restart rs.service && n=$((n+1)); done
wait_for sh -c 'ss -Htln | grep -q ":9993 "' || true
bpf_evidence rs.service
c=$(progs)
evidence "$n of $runs restarts succeeded; programs on the cgroup: $c; listener $(ss_port 9993 | awk '{print $4}')"
record "programs after the restarts" "$c"
record "listener after the restarts" "$(ss_port 9993 | awk '{print $4}')"
check "$runs restarts succeeded" [ "$n" -eq "$runs" ]
check "exactly one program after $runs restarts" [ "$c" -eq 1 ]
check "still bound after $runs restarts" [ "$(tcp_dev 9993)" = vrf-rs ]
old=$(cat /sys/class/net/vrf-rs/ifindex)
pinned=
check_shared vrf-rs "after the restarts"
before=$pinned
ip link del vrf-rs; ip link add vrf-rs type vrf table 40; ip link set vrf-rs up; ip addr add 127.0.0.1/8 dev vrf-rs
new=$(cat /sys/class/net/vrf-rs/ifindex)
timeout 60 systemctl restart rs.service
wait_for sh -c 'ss -Htln | grep -q ":9993 "' || true
c2=$(progs)
evidence "VRF re-created: ifindex $old -> $new; after restart: $(ss_port 9993 | awk '{print $4}'), programs: $c2"
record "after re-creation" "$(ss_port 9993 | awk '{print $4}') programs=$c2"
check "bound to the re-created VRF" [ "$(tcp_dev 9993)" = vrf-rs ]
check "exactly one program after the re-creation" [ "$c2" -eq 1 ]
check_shared vrf-rs "after the re-creation"
# The pin named after the interface held the program for the old ifindex: the start after the
# re-creation looked the name up and pinned the program for the new one in its place.
native || [ -z "$before" ] || check "the pin for vrf-rs was replaced after the re-creation" [ "$pinned" != "$before" ]
verdict "$n restarts, $c program(s); re-created VRF bound, $c2 program(s)"
