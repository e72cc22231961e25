#!/bin/bash
# notify-forking: Type=notify and Type=forking (PIDFile=) daemons keep working when bound: the unit
# becomes active, systemd's MainPID is the process owning the bound listener.
. "$VMTEST_LIB"
need_launcher
vrf_add vrf-nf 60 127.0.0.1/8
cat > /run/notifyd.py <<'EOF2'
import os, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4)
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"): addr = "\0" + addr[1:]
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n.sendto(("READY=1\nSTATUS=listening\nMAINPID=%d" % os.getpid()).encode(), addr)
while True: time.sleep(3600)
EOF2
cat > /run/forkd.py <<'EOF2'
import os, socket, sys, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4)
    with open(sys.argv[2] + ".tmp", "w") as f: f.write("%d\n" % os.getpid())
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    os.write(w, b"x")
    while True: time.sleep(3600)
os.read(r, 1)
sys.exit(0)
EOF2
chmod 644 /run/notifyd.py /run/forkd.py
cleanup "rm -f /run/notifyd.py /run/forkd.py /run/forkd.pid"
unit_write nd.service <<EOF2
[Service]
Type=notify
ExecStart=/usr/bin/python3 /run/notifyd.py 9989
EOF2
bind_dropin nd.service vrf-nf
unit_write fd.service <<EOF2
[Service]
Type=forking
PIDFile=/run/forkd.pid
ExecStart=/usr/bin/python3 /run/forkd.py 9988 /run/forkd.pid
EOF2
bind_dropin fd.service vrf-nf
reload
start nd.service
start fd.service
for u in nd:9989 fd:9988; do
    unit=${u%:*}.service port=${u#*:}
    mp=$(main_pid $unit) lp=$(pid_of_port $port) l=$(ss_port $port | awk '{print $4}')
    evidence "$unit ($(systemctl show -p Type --value $unit)): $(systemctl is-active $unit), MainPID $mp, listener ${l:-none} pid ${lp:-none}"
    check "$unit is active" systemctl -q is-active $unit
    record "$unit" "$(systemctl is-active $unit) mainpid-is-listener=$([ -n "$lp" -a "$mp" = "$lp" ] && echo yes || echo no) $l"
    check "$unit MainPID is the listener" [ -n "$lp" -a "$mp" = "$lp" ]
    check "$unit listener bound to vrf-nf" [ "$l" = "127.0.0.1%vrf-nf:$port" ]
done
check "nd.service STATUS= came from the daemon" sh -c "systemctl show -p StatusText --value nd.service | grep -q listening"
verdict "notify and forking daemons active with the right MainPID"
