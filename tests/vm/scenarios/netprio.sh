#!/bin/bash
# netprio: the check after attaching that runs by default (issue 18 #3), against net_cls/net_prio.
# Before Linux 5.15 ("bpf, cgroups: Fix cgroup v2 fallback on v1/v2 mixed mode", backported to
# 5.10.226), giving a net_prio cgroup a priority makes the kernel stop matching sockets to their
# cgroup2 until the next boot, and every cgroup2 binding silently does nothing. bullseye's image
# kernel (5.10.0-32, 5.10.223) lacks the fix, bookworm's 6.1 has it. A unit bound through the
# generated attach step, and a fail-closed one, started after a v1 net_prio cgroup got a priority:
#   without the fix: the attach step logs "Verification failed …" naming net_cls/net_prio, the
#   fail-open unit runs unbound (as it would have, silently), the fail-closed one refuses (245),
#   and `status` reports the net-cls-prio finding;
#   with it: both bound, no error.
# On a kernel without the fix this must be the last scenario of its boot (nothing binds after it).
# suites: bullseye bookworm trixie
# layouts: unified hybrid
. "$VMTEST_LIB"
[ "$MODE" != native ] || skip "systemd >= 260: PID 1 binds, there is no attach step to check"
kv=$(uname -r | awk -F. '{ print $1 * 1000 + $2 }')
if [ "$kv" -lt 5015 ] && [ "${SCENARIOS##* }" != netprio ]; then
    skip "kernel $(uname -r) may lack the fix: must run last in its boot (have: $SCENARIOS)"
fi
install_generator
vrf_add vrf-np 76 127.0.0.1/8
unit_write np.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9976
EOF2
bind_dropin np.service vrf-np native
unit_write npc.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9977
BindNetworkInterface=vrf-np
X-BindNetworkInterface-FailClosed=yes
EOF2
reload
start np.service
wait_for sh -c 'ss -Htln | grep -q ":9976 "'
check "before net_prio: bound" [ "$(tcp_dev 9976)" = vrf-np ]

# A priority in a v1 net_prio cgroup (Docker's way on such hosts)
mnt=$(awk '$3 == "cgroup" && $4 ~ /net_prio/ { print $2; exit }' /proc/mounts)
if [ -z "$mnt" ]; then
    mnt=/run/vmtest-netprio
    mkdir -p $mnt && mount -t cgroup -o net_prio none $mnt || fail "cannot mount a v1 net_prio hierarchy"
fi
mkdir -p "$mnt/vmtest-np"
echo "lo 5" > "$mnt/vmtest-np/net_prio.ifpriomap" || fail "cannot write net_prio.ifpriomap"
sleep 0.5
off=$(dmesg | grep -c "disabling cgroup2 socket matching")
evidence "kernel $(uname -r) ($(sed 's/.*Debian //' /proc/version)): net_prio priority set in $mnt/vmtest-np; kernel says matching is off: $off"

systemctl restart np.service
start npc.service
wait_for sh -c 'ss -Htln | grep -q ":9976 "'
err=$(journal_of np.service | grep -F "bind-interface: Verification failed" | tail -1)
dev=$(tcp_dev 9976)
st=$(systemctl show -p ExecMainStatus --value npc.service)
[ "$st" != 0 ] || st=$(journal_of npc.service | sed -n 's/.*status=\([0-9]*\).*/\1/p' | tail -1)
evidence "np.service: listener ${dev:-unbound}; check: ${err:-no error}"
evidence "npc.service (fail-closed): $(systemctl is-active npc.service), status ${st:-0}; listener $(tcp_dev 9977)"
findings=$("$BINDIF" status --json 2>/dev/null | grep -o '"check": *"net-cls-prio"' | head -1)
evidence "status: ${findings:-no net-cls-prio finding}"
if [ "$off" -gt 0 ]; then
    check "no fix: the check logs an error naming net_cls/net_prio" bash -c 'grep -q "net_cls\|net_prio" <<<"$1"' _ "$err"
    check "no fix: the fail-open unit runs (unbound, as the kernel leaves it)" systemctl -q is-active np.service
    check "no fix: the fail-closed unit refuses to start (245)" [ "$st" = 245 ]
    check "no fix: status reports net-cls-prio" [ -n "$findings" ]
else
    check "fixed kernel: bound after net_prio" [ "$dev" = vrf-np ]
    check "fixed kernel: no verification error" [ -z "$err" ]
    check "fixed kernel: the fail-closed unit runs bound" [ "$(tcp_dev 9977)" = vrf-np ]
fi
verdict "net_prio on $(uname -r): matching $([ "$off" -gt 0 ] && echo off, caught || echo kept, bound)"
