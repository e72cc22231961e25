#!/bin/bash
# execstart-change: the packaged unit (/usr/lib/systemd/system) changes its ExecStart= between two
# starts (a package upgrade); the admin's binding drop-in in /etc is untouched, and the second
# start runs the new command, bound.
. "$VMTEST_LIB"
need_launcher
vrf_add vrf-ec 70 127.0.0.1/8
pkg=/usr/lib/systemd/system/ecs.service
cleanup "rm -f $pkg"
printf '[Service]\nExecStart=/usr/bin/python3 %s 127.0.0.1 9987\n' "$HELPERS/listen.py" > $pkg
cleanup "systemctl stop ecs.service; rm -rf /etc/systemd/system/ecs.service.d; systemctl daemon-reload"
bind_dropin ecs.service vrf-ec
reload
start ecs.service
wait_for sh -c 'ss -Htln | grep -q ":9987 "' || true
a=$(ss_port 9987 | awk '{print $4}')
systemctl stop ecs.service
printf '[Service]\nExecStart=/usr/bin/python3 %s 127.0.0.1 9986\n' "$HELPERS/listen.py" > $pkg
reload
start ecs.service
wait_for sh -c 'ss -Htln | grep -q ":9986 "' || true
b=$(ss_port 9986 | awk '{print $4}') old=$(ss_port 9987 | awk '{print $4}')
evidence "first start: ${a:-none}; after the package changed ExecStart=: ${b:-none} (old port: ${old:-none})"
record "first start" "$a"
record "after the change" "$b old=${old:-none}"
check "first command ran bound" [ "$a" = "127.0.0.1%vrf-ec:9987" ]
check "new command runs after the change, bound" [ "$b" = "127.0.0.1%vrf-ec:9986" ]
check "old command no longer runs" [ -z "$old" ]
verdict "9987 then 9986, both on vrf-ec"
