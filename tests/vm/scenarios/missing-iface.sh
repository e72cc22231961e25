#!/bin/bash
# missing-iface: BindNetworkInterface= naming an interface that does not exist.
# v262 (and bindif-launch by default): warning
#   UNIT: bind-interface: Couldn't find index of network interface 'NAME', ignoring: No such device
# in the unit's journal (the unit's name first, as PID 1 writes it), and the unit starts unbound.
# Launcher only (systemd < 260 or forced): --fail-closed fails the unit with 225/NETWORK;
# --wait=SECONDS starts it bound once the interface appears.
. "$VMTEST_LIB"
need_launcher
unit_write miss.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9992
EOF2
bind_dropin miss.service nosuch0
reload
start miss.service
wait_for sh -c 'ss -Htln | grep -q ":9992 "' || true
sleep 1
w=$(journalctl -b --no-pager -o cat | grep -F "Couldn't find index of network interface 'nosuch0'" | head -1)
evidence "journal: ${w:-no warning}"
evidence "listener: $(ss_port 9992 | awk '{print $4}')"
record warning "$w"
record listener "$(ss_port 9992 | awk '{print $4}')"
record state "$(systemctl is-active miss.service)"
check "v262 warning text in the journal, unit name first" \
    grep -qxF "miss.service: bind-interface: Couldn't find index of network interface 'nosuch0', ignoring: No such device" <<<"$w"
check "unit is active" systemctl -q is-active miss.service
check "listener is unbound (127.0.0.1:9992)" [ "$(ss_port 9992 | awk '{print $4}')" = 127.0.0.1:9992 ]

if [ "$MODE" != native ]; then
    unit_write closed.service <<EOF2
[Service]
ExecStart=$BINDIF --fail-closed %n -- /usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9991
BindNetworkInterface=nosuch1
EOF2
    reload
    timeout 60 systemctl start closed.service
    st=$(systemctl show -p ExecMainStatus --value closed.service) act=$(systemctl is-active closed.service)
    # systemd 247 reports ExecMainStatus=0 here; its journal line still names the status
    [ "$st" != 0 ] || st=$(journal_of closed.service | sed -n 's/.*Main process exited, code=exited, status=\([0-9]*\).*/\1/p' | tail -1)
    evidence "--fail-closed: state $act, ExecMainStatus=$st; $(journal_of closed.service | grep -F nosuch1 | head -1)"
    check "--fail-closed: the unit does not run" [ "$act" != active ]
    check "--fail-closed: exit status 225 (NETWORK)" [ "$st" = 225 ]

    unit_write waiting.service <<EOF2
[Service]
ExecStart=$BINDIF --wait=30 %n -- /usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9990
BindNetworkInterface=vrf-late
EOF2
    reload
    systemctl start --no-block waiting.service
    sleep 3
    vrf_add vrf-late 50 127.0.0.1/8
    wait_for sh -c 'ss -Htln | grep -q ":9990 "' || true
    l=$(ss_port 9990 | awk '{print $4}')
    evidence "--wait=30, VRF created 3 s after start: listener ${l:-none}"
    check "--wait: bound once the interface appears" [ "$l" = "127.0.0.1%vrf-late:9990" ]
fi
verdict "${w:-no warning}"
