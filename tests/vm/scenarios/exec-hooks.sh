#!/bin/bash
# exec-hooks: sockets created in ExecStartPre=, ExecStart=, ExecStartPost= and ExecStopPost= carry
# the binding where the form promises it. v260 binds every process of the unit's cgroup, so all four.
# With bindif-launch's attach drop-in (`ExecStartPre=+… --attach %n`), drop-in ExecStartPre= lines
# run after the unit's own, so the unit's own ExecStartPre= is not bound (the generator exists to
# close that gap); ExecStart=, ExecStartPost= and ExecStopPost= are. On legacy cgroups, where a
# hand-written attach step is refused, through the generator's form, which binds every hook.
. "$VMTEST_LIB"
need_launcher
vrf_add vrf-eh 95 127.0.0.1/8
o=/run/eh-out
rm -rf $o; mkdir -p $o; cleanup "rm -rf $o"
P="/usr/bin/python3 $HELPERS/sockprobe.py --out"
unit_write eh.service <<EOF2
[Service]
ExecStartPre=$P $o/pre
ExecStart=$P $o/start --sleep
ExecStartPost=$P $o/post
ExecStopPost=$P $o/stoppost
EOF2
if [ "$MODE" = native ]; then bind_dropin eh.service vrf-eh native
elif legacy_form; then install_generator; bind_dropin eh.service vrf-eh native
else bind_dropin eh.service vrf-eh attach; fi
reload
start eh.service
wait_for test -s $o/start
systemctl stop eh.service
wait_for test -s $o/stoppost
dev() { sed -n 's/^tcp4=//p' "$o/$1" 2>/dev/null; }
evidence "tcp4 bound device per hook: pre=$(dev pre) start=$(dev start) post=$(dev post) stoppost=$(dev stoppost) (mode $MODE)"
for h in start:ExecStart post:ExecStartPost stoppost:ExecStopPost; do
    record "${h#*:}" "$(dev ${h%:*})"
    check "${h#*:} socket bound to vrf-eh" [ "$(dev ${h%:*})" = vrf-eh ]
done
if [ "$MODE" = native ] || legacy_form; then
    check "ExecStartPre socket bound to vrf-eh (v260: whole cgroup; the generator's form)" [ "$(dev pre)" = vrf-eh ]
else
    evidence "the unit's own ExecStartPre runs before the attach drop-in: $(dev pre) (expected unbound '-')"
fi
verdict "pre=$(dev pre) start=$(dev start) post=$(dev post) stoppost=$(dev stoppost)"
