#!/bin/bash
# sshd-template: our own template sshd@.service (Debian's ssh@.service is the per-connection one)
# with BindNetworkInterface=%i, started as sshd@mgmt.service in VRF `mgmt` carrying 198.51.100.1.
# ss shows sshd's listener bound to mgmt; ssh with key auth through the VRF (client socket bound to
# mgmt by a ProxyCommand) runs a command, while the same ssh from the default VRF cannot connect.
# Launcher form on systemd < 260, plain BindNetworkInterface= on >= 260.
. "$VMTEST_LIB"
need_launcher
vrf_add mgmt 20 198.51.100.1/32
mkdir -p /run/sshd

if [ "$MODE" = native ]; then exec_start="/usr/sbin/sshd -D -e -o ListenAddress=198.51.100.1:2222"
else exec_start="$BINDIF %n -- /usr/sbin/sshd -D -e -o ListenAddress=198.51.100.1:2222"; fi
unit_write sshd@.service <<EOF2
[Unit]
Description=OpenSSH server bound to %i
[Service]
ExecStartPre=/usr/sbin/sshd -t
ExecStart=$exec_start
BindNetworkInterface=%i
RuntimeDirectory=sshd
RuntimeDirectoryPreserve=yes
EOF2
reload
start sshd@mgmt.service
cleanup "systemctl stop sshd@mgmt.service"
wait_for sh -c 'ss -Htln | grep -q ":2222 "' || true
l=$(ss_port 2222)
evidence "listener: $(echo "$l" | awk '{print $4, $6}')"
check "sshd@mgmt listens on 198.51.100.1%mgmt:2222" grep -q '198.51.100.1%mgmt:2222' <<<"$l"
check "the listener is sshd, the unit's main PID" [ "$(pid_of_port 2222)" = "$(main_pid sshd@mgmt.service)" ]

rm -f /root/.ssh/vmtest_key*; mkdir -p /root/.ssh; chmod 700 /root/.ssh
ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/vmtest_key
cp /root/.ssh/vmtest_key.pub /root/.ssh/authorized_keys
cleanup "rm -f /root/.ssh/authorized_keys /root/.ssh/vmtest_key /root/.ssh/vmtest_key.pub"
sshopts=(-i /root/.ssh/vmtest_key -o BatchMode=yes -o StrictHostKeyChecking=no
         -o UserKnownHostsFile=/dev/null -o ConnectTimeout=15 -o LogLevel=ERROR -p 2222)
in_vrf=$(timeout 60 ssh "${sshopts[@]}" -o "ProxyCommand=python3 $HELPERS/vrfconnect.py mgmt %h %p" \
    root@198.51.100.1 'echo reached-$(hostname)' 2>&1)
evidence "ssh through mgmt: $in_vrf"
check "ssh from inside VRF mgmt reaches sshd@mgmt" grep -q 'reached-vmtest' <<<"$in_vrf"
outside=$(timeout 60 ssh "${sshopts[@]}" -o "ProxyCommand=python3 $HELPERS/vrfconnect.py - %h %p" \
    root@198.51.100.1 'echo reached-$(hostname)' 2>&1)
outside=$(grep -m1 -e reached -e vrfconnect <<<"$outside" || echo "$outside" | tail -1)
evidence "ssh from the default VRF: $outside"
record "sshd listener" "$(echo "$l" | awk '{print $4}')"
record "ssh through mgmt" "$in_vrf"
record "ssh from the default VRF" "$outside"
check "ssh from the default VRF does not reach it" sh -c "! echo '$outside' | grep -q reached-vmtest"
verdict "$(echo "$l" | awk '{print $4}'), in-VRF ssh ok, default-VRF ssh refused"
