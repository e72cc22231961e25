#!/bin/bash
# socket-activation: a socket unit with ListenStream= on 127.0.0.1 and [::1] and ListenDatagram=
# on 127.0.0.1, and its Accept=no service, both with plain BindNetworkInterface= (natively on
# systemd >= 260, through bindif-launch-generator below). Every listener carries the VRF (ss shows
# %vrf-sa, the service reads SO_BINDTODEVICE on the fds it receives), the sockets the service's
# ExecStartPre=, ExecStart= and ExecStopPost= open are bound, a TCP/IPv4, TCP/IPv6 and UDP client
# bound to the VRF reaches the service and one from the default VRF is refused. Unified and
# hybrid hosts bind the listeners through the program on the socket unit's cgroup (systemd makes
# them in a helper there); legacy hosts, where PID 1 makes them itself, through the generated
# BindToDevice= (issue 15), whose device dependency 262 does not have (evidence only).
# suites: bookworm bullseye sid
# layouts: unified hybrid legacy
. "$VMTEST_LIB"
need_launcher
vrf_add vrf-sa 97 127.0.0.1/8 ::1/128
# Localhost inside the VRF, set up as the kernel's VRF selftests (fcnal-test.sh) and
# scripts/demo-vrf do: the local table after the l3mdev rule (at pref 0 it would answer a client
# in the VRF with the default VRF's lo, where the listeners are not), and lookups that miss in the
# VRF's table end there. Host-wide, so put back at exit.
for f in -4 -6; do
    if ip $f rule show pref 0 | grep -q 'lookup local'; then
        ip $f rule add pref 32765 from all lookup local
        ip $f rule del pref 0 from all lookup local
        cleanup "ip $f rule add pref 0 from all lookup local; ip $f rule del pref 32765 from all lookup local"
    fi
    ip $f route add table 97 unreachable default metric 8192
    cleanup "ip $f route del table 97 unreachable default metric 8192"
done
o=/run/sa-out
rm -rf $o; mkdir -p $o; cleanup "rm -rf $o"
# The service: reports the device of a fresh TCP socket and of each listener systemd passed, then
# answers "sa-hello" on each (python3-minimal: socket and select, no json).
cat > $o/serve.py <<'EOF2'
import os, select, socket, sys
def dev(s):
    return s.getsockopt(socket.SOL_SOCKET, getattr(socket, "SO_BINDTODEVICE", 25), 16).split(b"\0")[0].decode() or "-"
lines = ["tcp4=" + dev(socket.socket(socket.AF_INET, socket.SOCK_STREAM))]
fds = [socket.socket(fileno=fd) for fd in range(3, 3 + int(os.environ.get("LISTEN_FDS", "0")))]
lines.append("listeners=" + " ".join("fd%d:%s" % (s.fileno(), dev(s)) for s in fds))
with open(sys.argv[1] + ".tmp", "w") as f: f.write("\n".join(lines) + "\n")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    for s in select.select(fds, [], [])[0]:
        if s.type == socket.SOCK_STREAM:
            c, _ = s.accept(); c.sendall(b"sa-hello\n"); c.close()
        else:
            _, a = s.recvfrom(2048); s.sendto(b"sa-hello\n", a)
EOF2
# The client: one line per IFACE,HOST,PROTO target (IFACE "-": the default VRF), in one process.
cat > $o/client.py <<'EOF2'
import socket, sys
port = int(sys.argv[1])
for t in sys.argv[2:]:
    iface, host, proto = t.split(",")
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                      socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    if iface != "-":
        s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_BINDTODEVICE", 25), iface.encode())
    s.settimeout(20)  # the first one waits for the service to start (TCG)
    try:
        if proto == "udp": s.sendto(b"x", (host, port))
        else: s.connect((host, port))
        r = s.recv(64).decode().strip() or "empty"
    except OSError as e:
        r = "error(%s)" % (e.strerror or e)
    print("%s %s %s: %s" % (iface, host, proto, r), flush=True)
    s.close()
EOF2
P="/usr/bin/python3 $HELPERS/sockprobe.py --out"
unit_write sa.socket <<EOF2
[Socket]
ListenStream=127.0.0.1:9960
ListenStream=[::1]:9960
ListenDatagram=127.0.0.1:9960
BindNetworkInterface=vrf-sa
EOF2
unit_write sa.service <<EOF2
[Service]
ExecStartPre=$P $o/pre
ExecStart=/usr/bin/python3 $o/serve.py $o/start
ExecStopPost=$P $o/stoppost
BindNetworkInterface=vrf-sa
EOF2
native || install_generator
reload
if ! native; then
    g=/run/systemd/generator/sa.socket.d/zzzz-bindif-launch.conf
    evidence "generated for sa.socket: $(grep -v '^#' "$g" 2>/dev/null | tr '\n' ';')"
    check "the generator wrote a drop-in for sa.socket" [ -s "$g" ]
fi
start sa.socket
wait_for sh -c 'ss -Htln "( sport = :9960 )" | grep -q .' || true
t4=$(ss -Htln "( sport = :9960 )" | awk '{print $4}' | grep -F 127.0.0.1)
t6=$(ss -Htln "( sport = :9960 )" | awk '{print $4}' | grep -F '::1')
u4=$(ss -Huln "( sport = :9960 )" | awk '{print $4}' | grep -F 127.0.0.1)
evidence "listeners: tcp4 ${t4:-none} tcp6 ${t6:-none} udp4 ${u4:-none} (mode $MODE, layout ${LAYOUT:-?})"
record "tcp4 listener" "$t4"
record "tcp6 listener" "$t6"
record "udp4 listener" "$u4"
check "TCP/IPv4 listener is 127.0.0.1%vrf-sa:9960" [ "$t4" = "127.0.0.1%vrf-sa:9960" ]
check "TCP/IPv6 listener is [::1]%vrf-sa:9960" [ "$t6" = "[::1]%vrf-sa:9960" ]
check "UDP/IPv4 listener is 127.0.0.1%vrf-sa:9960" [ "$u4" = "127.0.0.1%vrf-sa:9960" ]
# The first connection starts the service; the others reach it running.
c=$(timeout 60 /usr/bin/python3 $o/client.py 9960 vrf-sa,127.0.0.1,tcp vrf-sa,::1,tcp \
    vrf-sa,127.0.0.1,udp -,127.0.0.1,tcp 2>&1)
evidence "clients: $(echo "$c" | tr '\n' ';')"
reply() { sed -n "s/^$1: //p" <<<"$c"; }
for t in "vrf-sa 127.0.0.1 tcp" "vrf-sa ::1 tcp" "vrf-sa 127.0.0.1 udp"; do
    record "client $t" "$(reply "$t")"
    check "a client bound to vrf-sa ($t) reaches the service" [ "$(reply "$t")" = sa-hello ]
done
record "client from the default VRF" "$(reply "- 127.0.0.1 tcp")"
check "a client in the default VRF does not reach it" [ "$(reply "- 127.0.0.1 tcp")" != sa-hello ]
wait_for test -s $o/start || true
if [ "${LAYOUT:-}" = legacy ] && ! native; then
    evidence "legacy: sa.socket $(systemctl show -p BindToDevice -p BindsTo sa.socket | tr '\n' ' ')"
fi
evidence "status: $("$BINDIF" status sa.socket sa.service 2>&1 | sed 1d | tr -s ' ' | tr '\n' ';')"
systemctl stop sa.service sa.socket
wait_for test -s $o/stoppost || true
dev() { sed -n "s/^$2=//p" "$o/$1" 2>/dev/null; }
fds=$(dev start listeners)
evidence "service: pre=$(dev pre tcp4) start=$(dev start tcp4) stoppost=$(dev stoppost tcp4) fds: ${fds:-none}"
record "listeners the service received" "$fds"
check "the service received three listeners bound to vrf-sa" \
    [ "$fds" = "fd3:vrf-sa fd4:vrf-sa fd5:vrf-sa" ]
for h in pre:ExecStartPre start:ExecStart stoppost:ExecStopPost; do
    record "${h#*:}" "$(dev ${h%:*} tcp4)"
    check "${h#*:} socket bound to vrf-sa" [ "$(dev ${h%:*} tcp4)" = vrf-sa ]
done
verdict "listeners ${t4:-unbound} ${t6:-unbound} ${u4:-unbound}; service pre=$(dev pre tcp4) start=$(dev start tcp4) stoppost=$(dev stoppost tcp4)"
