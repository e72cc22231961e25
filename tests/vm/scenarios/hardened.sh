#!/bin/bash
# hardened: DynamicUser=yes, ProtectControlGroups=yes, NoNewPrivileges=yes, ProtectSystem=strict,
# bound through the attach step `ExecStartPre=+/usr/lib/bindif-launch --attach %n` (natively on
# systemd >= 260): the listener is bound to the VRF and still runs as the dynamic user. On legacy
# cgroups, where a hand-written attach step is refused, through the generator's form: the attach
# step prepares the bound cgroup and the dynamic user's wrapped command is moved into it by
# bindif-launch-enter.service; bound all the same, with nothing added to the unit's privileges.
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
check "runs as a dynamic user (uid 61184..65519)" [ "${uid:-0}" -ge 61184 -a "${uid:-0}" -le 65519 ]
check "the listener is the main PID" [ "$(pid_of_port 9994)" = "$pid" ]
check "NoNewPrivileges is still set" grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$pid/status
verdict "${l:-unbound} as uid ${uid:-?}"
