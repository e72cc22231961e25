#!/bin/bash
# hardened: DynamicUser=yes, ProtectControlGroups=yes, NoNewPrivileges=yes, ProtectSystem=strict,
# bound through the attach step `ExecStartPre=+/usr/lib/bindif-launch --attach %n` (natively on
# systemd >= 260): the listener is bound to the VRF and still runs as the dynamic user. On legacy
# cgroups, where a hand-written attach step is refused, through the generator's form: the attach
# step prepares the bound cgroup and the dynamic user's wrapped command is moved into it by
# bindif-launch-enter.service; bound all the same, with nothing added to the unit's privileges.
# A User=nobody unit that writes its PID into other cgroups' cgroup.procs is refused and stays bound.
. "$VMTEST_LIB"
need_launcher
vrf_add vrf-hard 30 127.0.0.1/8
unit_write hard.service <<EOF2
[Service]
DynamicUser=yes
ProtectControlGroups=yes
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ExecStart=/usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9994
EOF2
if [ "$MODE" = native ]; then bind_dropin hard.service vrf-hard native
elif legacy_form; then install_generator; bind_dropin hard.service vrf-hard native
else bind_dropin hard.service vrf-hard attach; fi
reload
start hard.service
wait_for sh -c 'ss -Htln | grep -q ":9994 "' || true
l=$(ss_port 9994 | awk '{print $4}')
pid=$(main_pid hard.service)
uid=$(awk '/^Uid:/ { print $2 }' /proc/$pid/status 2>/dev/null)
user=$(ps -o user= -p "$pid" 2>/dev/null)
evidence "listener: ${l:-none}; main PID $pid runs as uid ${uid:-?} (${user:-?}); mode $MODE"
record listener "$l"
record "dynamic user" "$([ "${uid:-0}" -ge 61184 ] && echo yes || echo no)"
check "listener is 127.0.0.1%vrf-hard:9994" [ "$l" = "127.0.0.1%vrf-hard:9994" ]
legacy_form && evidence "legacy: $(journal_of hard.service | grep -F bind-interface | head -3 | tr '\n' ';')"
if legacy_form; then
    m=/run/bindif-launch/cgroup2$(systemctl show -p ControlGroup --value hard.service)
    evidence "legacy: mirror $m $([ -d "$m" ] && echo "exists, procs: $(tr '\n' ' ' < "$m/cgroup.procs")" || echo missing); mounts: $(grep -c ' /run/bindif-launch/cgroup2 ' /proc/self/mountinfo); in the unit's namespace: $(nsenter -t "$pid" -m sh -c "grep ' /run/bindif-launch/cgroup2 ' /proc/self/mountinfo | cut -d' ' -f1-5; ls -d $m" 2>&1 | tr '\n' ' ')"
fi
check "runs as a dynamic user (uid 61184..65519)" [ "${uid:-0}" -ge 61184 -a "${uid:-0}" -le 65519 ]
check "the listener is the main PID" [ "$(pid_of_port 9994)" = "$pid" ]
check "NoNewPrivileges is still set" grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$pid/status

# A plain User= unit (no sandbox hiding the cgroup files) that tries to leave its bound cgroup: it
# writes its PID into the root and parent cgroup.procs of every cgroup2 mount and name=systemd,
# then creates a socket. Every write must be refused and the socket still bound (issue 15).
unit_write hardleave.service <<EOF2
[Service]
Type=oneshot
User=nobody
ExecStart=/usr/bin/python3 $HELPERS/leavecg.py
EOF2
if [ "$MODE" = native ] || legacy_form; then bind_dropin hardleave.service vrf-hard native
else bind_dropin hardleave.service vrf-hard attach; fi
reload
start hardleave.service
out=$(journal_of hardleave.service)
attempts=$(grep -c '^leave ' <<<"$out")
moved=$(grep '^leave .*: ok$' <<<"$out" | tr '\n' ';')
after=$(sed -n 's/^after-leave tcp4=//p' <<<"$out" | tail -1)
evidence "User=nobody leaving its cgroup: $(grep -E '^(leave|cgroup 0:|cgroup [0-9]+:name=systemd)' <<<"$out" | tr '\n' ';')"
record "nobody's attempts to leave refused" "$([ "$attempts" -gt 0 ] && [ -z "$moved" ] && echo all || echo "no: ${moved:-no attempt}")"
record "socket after trying to leave" "$after"
check "the service tried to leave ($attempts attempts) and every write was refused" \
    eval '[ "$attempts" -gt 0 ] && [ -z "$moved" ]'
check "its socket after trying is still bound to vrf-hard" [ "$after" = vrf-hard ]
if legacy_form; then
    evidence "enter FIFO: $(grep -E '^(fifo:|pid1) ' <<<"$out" | tr '\n' ';')"
    check "asked through the enter FIFO to move PID 1, the enter service left it in the root" \
        grep -qx 'pid1 0::/' <<<"$out"
fi
verdict "${l:-unbound} as uid ${uid:-?}; User=nobody cannot leave (${after:-?})"
