#!/bin/bash
# identify: `bindif-launch identify [PID]` and `bindif-launch pids IFACE`, the replacements for
# `ip vrf identify`/`ip vrf pids` (issue 18 #2), against every kind of binding a host can have: a
# unit bound by BindNetworkInterface= (the package's program on systemd < 260, systemd's own on
# 262), a process started with `ip vrf exec` (iproute2's vrf/NAME cgroup), a command started with
# the explicit form (`bindif-launch --interface`), and an unbound process. Recorded (SAME on every
# suite): what identify prints for each, the set of processes pids lists, and, where iproute2 has
# an answer, whether ours equals its.
# layouts: unified hybrid legacy
. "$VMTEST_LIB"
[ -x "$BINDIF" ] || fail "no bindif-launch binary in the guest ($BINDIF)"
install_generator
vrf_add vrf-id 75 127.0.0.1/8
unit_write id.service <<EOF2
[Service]
ExecStart=/bin/sleep infinity
EOF2
bind_dropin id.service vrf-id native
reload
start id.service
unit_pid=$(main_pid id.service)
ip vrf exec vrf-id sleep 600 & vrfexec_pid=$!
"$BINDIF" --interface vrf-id -- sleep 601 & launcher_pid=$!
sleep 600 & plain_pid=$!
cleanup "kill $vrfexec_pid $launcher_pid $plain_pid; pkill -x -f 'sleep 601'"
sleep 1
# the command itself (the launcher may stay as its parent, as nsenter --fork does)
adhoc_pid=$(pgrep -x -f "sleep 601" | head -1)

ours() { "$BINDIF" identify "$1" 2>/dev/null; echo "rc=$?"; }
theirs() { ip vrf identify "$1" 2>/dev/null; echo "rc=$?"; }
for what in unit vrfexec adhoc plain; do
    eval pid=\$${what}_pid
    o=$(ours "$pid" | tr '\n' ' '); t=$(theirs "$pid" | tr '\n' ' ')
    evidence "$what (pid $pid): bindif-launch identify: $o; ip vrf identify: $t; verbose: $("$BINDIF" identify -v "$pid" 2>&1 | tr '\n' ' ')"
    record "identify $what" "$o"
done
check "identify: the unit is on vrf-id" [ "$(ours "$unit_pid" | head -1)" = vrf-id ]
check "identify: ip vrf exec is on vrf-id, as iproute2 says" [ "$(ours "$vrfexec_pid")" = "$(theirs "$vrfexec_pid")" ]
check "identify: the explicit form is on vrf-id" [ "$(ours "$adhoc_pid" | head -1)" = vrf-id ]
check "identify: an unbound process prints nothing, as iproute2" [ "$(ours "$plain_pid")" = "$(theirs "$plain_pid")" ]

pids=$("$BINDIF" pids vrf-id 2>&1); rc=$?
evidence "bindif-launch pids vrf-id (rc $rc): $(tr '\n' ';' <<<"$pids")"
evidence "ip vrf pids vrf-id: $(ip vrf pids vrf-id 2>&1 | tr '\n' ';')"
has() { awk '{print $1}' <<<"$pids" | grep -qx "$1"; }
listed=""
for what in unit vrfexec adhoc plain; do
    eval pid=\$${what}_pid
    has "$pid" && listed="$listed $what"
done
record "pids vrf-id lists" "${listed# }"
check "pids lists the unit, ip vrf exec and the explicit form, not the unbound process" [ "${listed# }" = "unit vrfexec adhoc" ]
# iproute2's own view is a subset: only its vrf/NAME cgroup
check "ip vrf pids' processes are all in ours" bash -c 'for p in $(ip vrf pids vrf-id | awk "{print \$1}"); do grep -qw "^ *$p" <<<"$1" || exit 1; done' _ "$pids"
record state "$(systemctl is-active id.service)"
verdict "identify and pids: a unit, ip vrf exec, the explicit form and an unbound process"
