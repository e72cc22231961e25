#!/bin/bash
# inet-matrix: in a bound unit, TCP and UDP over IPv4 and IPv6 are bound to the VRF, AF_UNIX is
# untouched, a forked child's sockets are bound too, and so are the sockets of a process in a
# Delegate=yes sub-cgroup. A UDP listener shows %IFACE in ss -Hulnp.
. "$VMTEST_LIB"
need_launcher
vrf_add vrf-im 80 127.0.0.1/8 ::1/128
unit_write im.service <<EOF2
[Service]
RuntimeDirectory=im
ExecStart=/usr/bin/python3 $HELPERS/sockprobe.py --child --out /run/im/probe --sleep
EOF2
bind_dropin im.service vrf-im
unit_write imu.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $HELPERS/listen.py ::1 9985 udp
EOF2
bind_dropin imu.service vrf-im
# Delegate=yes: the main process moves itself into a sub-cgroup before creating sockets
cat > /run/imd.sh <<'EOF2'
#!/bin/sh
cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
base=/sys/fs/cgroup; [ -d /sys/fs/cgroup/unified ] && base=/sys/fs/cgroup/unified
mkdir -p "$base$cg/sub" && echo $$ > "$base$cg/sub/cgroup.procs"
echo "cgroup: $(sed -n 's/^0:://p' /proc/self/cgroup)" > /run/imd/where
exec /usr/bin/python3 /usr/local/lib/vmtest/sockprobe.py --out /run/imd/probe --sleep
EOF2
chmod 755 /run/imd.sh
cleanup "rm -f /run/imd.sh"
unit_write imd.service <<EOF2
[Service]
Delegate=yes
RuntimeDirectory=imd
ExecStart=/run/imd.sh
EOF2
bind_dropin imd.service vrf-im
reload
start im.service imu.service imd.service
wait_for test -s /run/im/probe; wait_for test -s /run/imd/probe
wait_for sh -c 'ss -Huln | grep -q ":9985 "' || true
p=$(cat /run/im/probe 2>/dev/null) d=$(cat /run/imd/probe 2>/dev/null)
evidence "unit: $(echo $p)"
evidence "delegated $(cat /run/imd/where 2>/dev/null): $(echo $d)"
evidence "udp listener: $(ss_uport 9985 | awk '{print $4}')"
record unit "$(echo $p)"
record delegated "$(echo $d)"
record "udp listener" "$(ss_uport 9985 | awk '{print $4}')"
for k in tcp4 udp4 tcp6 udp6 child:tcp4 child:udp4 child:tcp6 child:udp6; do
    check "$k bound to vrf-im" grep -qx "$k=vrf-im" <<<"$p"
done
check "AF_UNIX untouched" grep -qx 'unix=-' <<<"$p"
check "delegated sub-cgroup tcp4 bound" grep -qx 'tcp4=vrf-im' <<<"$d"
check "delegated sub-cgroup udp6 bound" grep -qx 'udp6=vrf-im' <<<"$d"
check "UDP listener [::1]%vrf-im:9985" sh -c "ss -Huln '( sport = :9985 )' | grep -qF '[::1]%vrf-im:9985'"
verdict "$(echo $p)"
