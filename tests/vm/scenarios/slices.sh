#!/bin/bash
# slices: BindNetworkInterface= in [Slice] (issue 14 #2), as systemd 262 does it. slc.slice
# (vrf-so) contains slc-in.slice (vrf-si), which contains slc-svc.service with a key of its own
# (vrf-sv), slc-only.service without one, and a transient `systemd-run --slice=slc-in.slice`
# unit (started first, so it is what starts the slices). Every socket below the outer slice must
# carry vrf-so (the outermost bound slice wins) and each bound slice and the service carry one
# program on their own cgroup; stopping the outer slice and starting the service again binds the
# same way, still one program each; a slice whose interface is missing logs v262's warning
# naming the slice and its unit starts unbound. On systemd < 260 through bindif-launch-generator
# (drop-ins wanting the generated bindif-launch-slice@.service), natively on >= 260: the recorded
# bound devices, program counts and states are compared (SAME). On legacy hosts systemd puts no
# slice into cgroup2: the generator must warn per slice, the service is bound by its own key only.
# layouts: unified hybrid legacy
. "$VMTEST_LIB"
[ -x "$BINDIF" ] || fail "no bindif-launch binary in the guest ($BINDIF)"
legacy() { [ "${LAYOUT:-}" = legacy ]; }
if ! native; then
    # As the package installs it (the deb scenario covers the package itself); kept if present.
    gen_dir=/lib/systemd/system-generators
    [ -d "$gen_dir" ] || gen_dir=/usr/lib/systemd/system-generators
    gen=$gen_dir/bindif-launch-generator
    if [ ! -e "$gen" ]; then
        install -m 0755 "$BINDIF_GENERATOR" "$gen"
        cleanup "rm -f $gen; systemctl daemon-reload"
    fi
fi
vrf_add vrf-so 71 127.0.0.1/8
vrf_add vrf-si 72 127.0.0.1/8
vrf_add vrf-sv 73 127.0.0.1/8
o=/run/slc-out
rm -rf $o; mkdir -p $o; cleanup "rm -rf $o"
P="/usr/bin/python3 $HELPERS/sockprobe.py --out"
# Written before the units so that their cleanups (last in, first out) run first.
unit_write slc.slice <<EOF2
[Slice]
BindNetworkInterface=vrf-so
EOF2
unit_write slc-in.slice <<EOF2
[Slice]
BindNetworkInterface=vrf-si
EOF2
unit_write slm.slice <<EOF2
[Slice]
BindNetworkInterface=nosuch-sl
EOF2
unit_write slc-svc.service <<EOF2
[Service]
Slice=slc-in.slice
BindNetworkInterface=vrf-sv
ExecStart=$P $o/svc --sleep
EOF2
unit_write slc-only.service <<EOF2
[Service]
Slice=slc-in.slice
ExecStart=$P $o/only --sleep
EOF2
unit_write slm-svc.service <<EOF2
[Service]
Slice=slm.slice
ExecStart=$P $o/missing --sleep
EOF2
cleanup "systemctl stop slc-run.service"
reload
gen_out=/run/systemd/generator
if native; then
    check "systemd $SYSTEMD_VERSION: the generator writes nothing for slices" \
        [ ! -e $gen_out/slc.slice.d/zzzz-bindif-launch.conf ]
elif legacy; then
    w=$(journalctl -b --no-pager -o cat | grep -F "slc-in.slice: cannot bind a slice" | tail -1)
    evidence "legacy: generator: ${w:-no warning}"
    check "legacy: the generator warns that it cannot bind slc-in.slice" [ -n "$w" ]
    check "legacy: no helper template" [ ! -e "$gen_out/bindif-launch-slice@.service" ]
else
    evidence "generated: $(grep -vh '^#' $gen_out/slc-in.slice.d/zzzz-bindif-launch.conf 2>/dev/null | tr '\n' ';')"
    check "the generator wrote the helper template" [ -e "$gen_out/bindif-launch-slice@.service" ]
    check "slc-in.slice wants its helper" \
        grep -qx 'Wants=bindif-launch-slice@slc-in.slice.service' $gen_out/slc-in.slice.d/zzzz-bindif-launch.conf
fi

dev() { sed -n 's/^tcp4=//p' "$o/$1" 2>/dev/null; }
# progs: the sock_create programs on each unit's own cgroup ("-": the unit has no cgroup now)
progs() {
    local u out=
    # bullseye's image has no bpftool (the archive has none for 5.10): say so, never guess
    command -v bpftool >/dev/null || { echo n/a; return; }
    for u in slc.slice slc-in.slice slc-svc.service slc-only.service slc-run.service; do
        if [ -n "$(systemctl show -p ControlGroup --value $u)" ]; then
            out="$out$u=$(prog_count $u) "
        else
            out="$out$u=- "
        fi
    done
    echo "${out% }"
}

# The transient unit starts the slices.
systemd-run --quiet --unit=slc-run --slice=slc-in.slice $P $o/run --sleep ||
    evidence "systemd-run --slice=slc-in.slice failed"
start slc-svc.service slc-only.service
for f in run svc only; do wait_for test -s $o/$f; done
evidence "tcp4 bound device: transient=$(dev run) svc=$(dev svc) only=$(dev only)"
for f in run svc only; do record "tcp4 of $f" "$(dev $f)"; done
if legacy; then
    check "legacy: the service is bound by its own key" [ "$(dev svc)" = vrf-sv ]
    check "legacy: the transient unit is unbound" [ "$(dev run)" = - ]
else
    for f in run svc only; do
        check "$f: the outermost bound slice wins (vrf-so)" [ "$(dev $f)" = vrf-so ]
    done
    p=$(progs)
    evidence "programs: $p"
    record programs "$p"
    [ "$p" = n/a ] || check "one program per bound cgroup, none elsewhere" \
        [ "$p" = "slc.slice=1 slc-in.slice=1 slc-svc.service=1 slc-only.service=0 slc-run.service=0" ]
    if ! native; then
        check "the helper of slc.slice is active" systemctl -q is-active bindif-launch-slice@slc.slice.service
    fi
fi

# The outer slice stopped (everything below stops, PartOf= stops the helpers, systemd removes
# the cgroups) and the service started again: bound as before, one program each.
timeout 60 systemctl stop slc.slice
rm -f $o/svc
record "after stopping slc.slice" "$(systemctl is-active slc.slice slc-in.slice slc-svc.service | tr '\n' ' ')"
start slc-svc.service
wait_for test -s $o/svc
evidence "after the slice restarted: svc=$(dev svc)"
record "tcp4 of svc after the slice restarted" "$(dev svc)"
if ! legacy; then
    check "after the slice restarted: vrf-so" [ "$(dev svc)" = vrf-so ]
    p2=$(progs)
    evidence "programs after the slice restarted: $p2"
    record "programs after the slice restarted" "$p2"
    [ "$p2" = n/a ] || check "after the slice restarted: one program per bound cgroup" \
        [ "$p2" = "slc.slice=1 slc-in.slice=1 slc-svc.service=1 slc-only.service=- slc-run.service=-" ]
fi

# A slice whose interface does not exist: v262's warning, naming the slice; the unit runs unbound.
start slm-svc.service
wait_for test -s $o/missing
sleep 1
m=$(journalctl -b --no-pager -o cat | grep -F "network interface 'nosuch-sl'" | head -1)
evidence "missing interface: ${m:-no warning}; tcp4=$(dev missing) state=$(systemctl is-active slm-svc.service)"
record "tcp4 below the slice with a missing interface" "$(dev missing)"
record "state below the slice with a missing interface" "$(systemctl is-active slm-svc.service)"
if ! legacy; then
    record "warning for the slice with a missing interface" "$m"
    check "v262's warning, naming the slice" [ "$m" = "slm.slice: bind-interface: Couldn't find index of network interface 'nosuch-sl', ignoring: No such device" ]
fi
check "the unit below the slice with a missing interface is active" systemctl -q is-active slm-svc.service
check "and unbound" [ "$(dev missing)" = - ]
verdict "transient=$(dev run) svc=$(dev svc) only=$(dev only); missing: $(dev missing)"
