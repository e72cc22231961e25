#!/bin/bash
# reload: the binding over a running unit's life, at daemon-reload. systemd 262 re-realizes every
# running unit with the key at each reload (measured in sid guests); on older systemd the package's
# generator does the same from its reload run. A unit whose daemon creates new sockets all the time
# (probed.py), one plain BindNetworkInterface= drop-in, then, without restarting it:
#   a late interface, bound at the next reload; a re-created interface (new ifindex: ENODEV until
#   the reload), followed at the reload; a changed value; a reset (262 keeps the binding until the
#   unit restarts); a reload while the interface is missing (unbound, warning) and the reload that
#   finds it again. Then a running instance of a template whose value names the instance
#   (`BindNetworkInterface=%i`, in the template's drop-in, no file of the instance's own): started
#   while its interface is missing, bound at the reload that finds it, following it re-created.
# Each step records the device of the daemon's newest sockets and the unit's MainPID continuity, so
# the SAME lines compare the package on old systemd with 262 observation by observation.
# layouts: unified hybrid legacy
. "$VMTEST_LIB"
[ -x "$BINDIF" ] || fail "no bindif-launch binary in the guest ($BINDIF)"
install_generator
out=/run/reload-probe
cleanup "rm -f $out"
unit_write rl.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $HELPERS/probed.py $out
EOF2
bind_dropin rl.service vrf-rl native
reload
start rl.service
pid0=$(main_pid rl.service)

# what the daemon's newest sockets get: waits for two fresh rounds of probed.py
sockets_now() {
    local s0 s i
    s0=$(awk '{print $1}' $out 2>/dev/null); s0=${s0:-0}
    for i in $(seq 100); do
        s=$(awk '{print $1}' $out 2>/dev/null)
        [ -n "$s" ] && [ "$s" -ge $((s0 + 2)) ] && break
        sleep 0.1
    done
    awk '{print $2, $3}' $out 2>/dev/null
}
# the unit the steps look at, and the interface its warnings name
unit=rl.service iface=vrf-rl
programs() {   # sock_create programs on $unit's cgroup ("n/a" where bpftool cannot tell)
    if [ "${LAYOUT:-}" = legacy ] || ! command -v bpftool >/dev/null; then echo n/a; else prog_count "$unit"; fi
}
warnings() { journalctl -b --no-pager -o cat | grep -cF "$unit: bind-interface: Couldn't find index of network interface '$iface', ignoring: No such device"; }
step() {   # step NAME EXPECTED-tcp4-DEV EXPECTED-PROGRAMS
    local s p
    s=$(sockets_now); p=$(programs)
    evidence "$1: $s, programs $p, MainPID $(main_pid "$unit")"
    record "$1" "$s programs=$p"
    check "$1: new sockets on ${2}" [ "${s%% *}" = "tcp4=$2" ]
    [ "$p" = n/a ] || check "$1: $3 program(s)" [ "$p" = "$3" ]
}

w0=$(warnings)
step "started, interface missing" - 0
check "started while missing: one warning" [ "$(warnings)" -ge 1 ]

vrf_add vrf-rl 71 127.0.0.1/8
step "interface created, no reload" - 0
reload
step "interface created, reload" vrf-rl 1

old=$(cat /sys/class/net/vrf-rl/ifindex)
ip link del vrf-rl; ip link add vrf-rl type vrf table 71; ip link set vrf-rl up
new=$(cat /sys/class/net/vrf-rl/ifindex)
evidence "vrf-rl re-created: ifindex $old -> $new"
step "interface re-created, no reload" "error(ENODEV)" 1
reload
step "interface re-created, reload" vrf-rl 1

vrf_add vrf-rl2 72
bind_dropin rl.service vrf-rl2 native
reload
step "value changed, reload" vrf-rl2 1

printf '[Service]\nBindNetworkInterface=\n' | dropin_write rl.service zz-reset.conf
reload
evidence "after the reset: BindNetworkInterface=$(systemctl show -p BindNetworkInterface --value rl.service 2>/dev/null), drop-ins $(systemctl show -p DropInPaths --value rl.service)"
# 262 keeps the binding after a reset until the unit restarts (measured): so does the package
step "value reset, reload" vrf-rl2 1
rm -f /etc/systemd/system/rl.service.d/zz-reset.conf

bind_dropin rl.service vrf-rl native
ip link del vrf-rl
w1=$(warnings)
reload
step "interface missing, reload" - 0
w2=$(warnings)
evidence "warnings in the journal: $w0 at start, $w1 before the reload while missing, $w2 after"
check "reload while missing: the warning, with the unit's name" [ "$w2" -gt "$w1" ]
record "reload while missing: warning logged" "$([ "$w2" -gt "$w1" ] && echo yes || echo no)"
ip link add vrf-rl type vrf table 71; ip link set vrf-rl up
reload
step "interface back, reload" vrf-rl 1

pid1=$(main_pid rl.service)
record "unit never restarted" "$([ "$pid0" = "$pid1" ] && echo yes || echo "no ($pid0 -> $pid1)")"
check "the unit ran throughout (MainPID $pid0)" [ "$pid0" = "$pid1" ]
record state "$(systemctl is-active rl.service)"

# A running instance with no file of its own: the package's reload evaluates it from its
# template's files (the generator's enumeration lists no such instance), with %i its own.
unit_write rlt@.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $HELPERS/probed.py /run/reload-probe-%i
EOF2
bind_dropin rlt@.service %i native
unit=rlt@vrf-rlt.service iface=vrf-rlt out=/run/reload-probe-vrf-rlt
cleanup "rm -f $out"
reload
start "$unit"
ipid0=$(main_pid "$unit")
step "instance: started, interface missing" - 0
vrf_add vrf-rlt 73
reload
step "instance: interface created, reload" vrf-rlt 1
ip link del vrf-rlt; ip link add vrf-rlt type vrf table 73; ip link set vrf-rlt up
step "instance: interface re-created, no reload" "error(ENODEV)" 1
reload
step "instance: interface re-created, reload" vrf-rlt 1
ipid1=$(main_pid "$unit")
record "instance never restarted" "$([ "$ipid0" = "$ipid1" ] && echo yes || echo "no ($ipid0 -> $ipid1)")"
check "the instance ran throughout (MainPID $ipid0)" [ "$ipid0" = "$ipid1" ]
verdict "late, re-created, changed, reset, missing: followed at each reload; an instance by its template's %i too"
