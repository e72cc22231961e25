#!/bin/bash
# generator: the migration path. The SAME unit files — a template with plain
# BindNetworkInterface=%i and no bindif-launch line anywhere — bind the sockets created in
# ExecStartPre=, ExecStart= and ExecStopPost= to the instance's VRF: on systemd < 260 through
# bindif-launch-generator (installed where systemd looks for generators), on >= 260 natively, where
# the generator must write nothing. `status` finds the binding, `migrate` has nothing to change.
# layouts: unified hybrid legacy
. "$VMTEST_LIB"
[ -x "$BINDIF" ] || fail "no bindif-launch binary in the guest ($BINDIF)"
# Where the distribution's systemd looks: /lib/systemd/system-generators on Debian (the same
# directory as /usr/lib/… on merged-/usr systems; bullseye is not merged).
gen_dir=/lib/systemd/system-generators
[ -d "$gen_dir" ] || gen_dir=/usr/lib/systemd/system-generators
gen=$gen_dir/bindif-launch-generator
install -m 0755 "$BINDIF_GENERATOR" "$gen"
cleanup "rm -f $gen; systemctl daemon-reload"
vrf_add vrf-gen 96 127.0.0.1/8
o=/run/gen-out
rm -rf $o; mkdir -p $o; cleanup "rm -rf $o"
P="/usr/bin/python3 $HELPERS/sockprobe.py --out"
unit_write gen@.service <<EOF2
[Service]
BindNetworkInterface=%i
ExecStartPre=$P $o/pre
ExecStart=$P $o/start --sleep
ExecStopPost=$P $o/stoppost
EOF2
reload
generated=/run/systemd/generator/gen@.service.d/zzzz-bindif-launch.conf
if native; then
    check "systemd $SYSTEMD_VERSION: the generator writes nothing" [ ! -e "$generated" ]
else
    check "systemd $SYSTEMD_VERSION: the generator wrote $generated" [ -e "$generated" ]
    evidence "generated: $(grep -v '^#' "$generated" 2>/dev/null | tr '\n' ';')"
fi
if ! native; then
    # The generator's share of a daemon-reload (which runs every generator): evidence, no limit.
    b=/run/gen-bench; rm -rf $b; mkdir -p $b/n $b/e $b/l; cleanup "rm -rf $b"
    ms() { echo $(( ($2 - $1) / 1000000 )); }
    t0=$(date +%s%N); "$gen" $b/n $b/e $b/l; t1=$(date +%s%N)
    systemctl daemon-reload; t2=$(date +%s%N)
    units=$(systemctl list-unit-files --no-legend --type=service,socket 2>/dev/null | wc -l)
    evidence "timing: generator alone $(ms $t0 $t1) ms over $units unit files; daemon-reload with all generators $(ms $t1 $t2) ms (TCG)"
fi
start gen@vrf-gen.service
wait_for test -s $o/start
st=$("$BINDIF" status gen@vrf-gen.service 2>&1); rc=$?
evidence "status (exit $rc): $(echo "$st" | sed -n 2p | tr -s ' ')"
check "status exits 0 for the bound unit" [ "$rc" = 0 ]
if native; then
    check "status reports v260's native program" grep -q "native" <<<"$st"
else
    check "status reports our program bound to vrf-gen, ok" grep -Eq "vrf-gen +vrf-gen +ok" <<<"$st"
fi
systemctl stop gen@vrf-gen.service
wait_for test -s $o/stoppost
dev() { sed -n 's/^tcp4=//p' "$o/$1" 2>/dev/null; }
evidence "tcp4 bound device per hook: pre=$(dev pre) start=$(dev start) stoppost=$(dev stoppost)"
for h in pre:ExecStartPre start:ExecStart stoppost:ExecStopPost; do
    record "${h#*:}" "$(dev ${h%:*})"
    check "${h#*:} socket bound to vrf-gen" [ "$(dev ${h%:*})" = vrf-gen ]
done
m=$("$BINDIF" migrate 2>&1)
evidence "migrate: $(echo "$m" | head -1)"
check "migrate: nothing to change for the generator form" grep -q "^Nothing needs changing" <<<"$m"
verdict "pre=$(dev pre) start=$(dev start) stoppost=$(dev stoppost)"
