#!/bin/bash
# upstream-launcher: systemd's TEST-07 check through bindif-launch, in its three forms.
#  1. unit form: listener.service + drop-in `ExecStart=` reset, `ExecStart=/usr/lib/bindif-launch %n`,
#     `BindNetworkInterface=vrf-test` -> ss shows 127.0.0.1%vrf-test:PORT and the listener is the
#     unit's main PID (exec in place); a second unit using the launcher without the key is unbound.
#  2. ad hoc: `bindif-launch --interface vrf-test -- CMD` from a shell (the scenario runs in a
#     scope, like a login shell) binds CMD's sockets, not the caller's; under systemd-run it binds
#     the transient service.
#  3. attach: `ExecStartPre=+/usr/lib/bindif-launch --attach %n` binds the unit's ExecStart=.
# On systemd < 260 the unknown key BindNetworkInterface= draws a warning but the unit loads.
# Runs with the launcher on every suite (on >= 260 the launcher should defer to PID 1).
. "$VMTEST_LIB"
MODE=launcher need_launcher
vrf_add vrf-test 10 127.0.0.1/8 ::1/128
L="$HELPERS/listen.py"

# 1. unit form
unit_write listener.service <<EOF2
[Unit]
Description=upstream-style listener
[Service]
ExecStart=/usr/bin/python3 $L 127.0.0.1 9997
EOF2
bind_dropin listener.service vrf-test launcher
unit_write plain.service <<EOF2
[Service]
ExecStart=$BINDIF %n -- /usr/bin/python3 $L 127.0.0.1 9996
EOF2
reload
start listener.service plain.service
wait_for sh -c 'ss -Htln | grep -q ":9997 " ' || true
wait_for sh -c 'ss -Htln | grep -q ":9996 " ' || true
a=$(ss_port 9997 | awk '{print $4}') b=$(ss_port 9996 | awk '{print $4}')
evidence "unit form: ${a:-no listener}; no key: ${b:-no listener}"
record "listener with the key" "${a%:*}"
record "listener without it" "${b%:*}"
check "unit form listener is 127.0.0.1%vrf-test:9997" [ "$a" = "127.0.0.1%vrf-test:9997" ]
check "launcher without BindNetworkInterface= leaves 127.0.0.1:9996 unbound" [ "$b" = "127.0.0.1:9996" ]
mp=$(main_pid listener.service) lp=$(pid_of_port 9997)
check "listener is the unit's main PID ($mp = ${lp:-none}: exec in place)" [ -n "$lp" -a "$mp" = "$lp" ]
journal_of listener.service | grep -i 'BindNetworkInterface' | head -2 | sed 's/^/journal: /' | tee -a "$VMTEST_EVIDENCE"
[ -d /sys/fs/cgroup/unified ] || [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && {
    bpf_evidence listener.service
    check "exactly one sock_create program on listener.service" [ "$(prog_count listener.service)" -eq 1 ]
}

# 2. ad hoc
out=$(timeout 60 "$BINDIF" --interface vrf-test -- /usr/bin/python3 "$HELPERS/sockprobe.py" 2>&1)
evidence "ad hoc: $(echo "$out" | tr '\n' ' ')"
check "ad hoc tcp4 bound to vrf-test" grep -qx 'tcp4=vrf-test' <<<"$out"
check "ad hoc udp6 bound to vrf-test" grep -qx 'udp6=vrf-test' <<<"$out"
after=$(python3 "$HELPERS/sockprobe.py")
mycg=$(sed -n 's/^0:://p' /proc/self/cgroup)
evidence "caller afterwards (cgroup $mycg): $(echo $after)"
if [ -n "$mycg" ]; then
    cgb=/sys/fs/cgroup; [ -d /sys/fs/cgroup/unified ] && cgb=/sys/fs/cgroup/unified
    evidence "bpftool cgroup show --effective $cgb$mycg: $(bpftool cgroup show "$cgb$mycg" effective 2>&1 | tr -s ' ' | tr '\n' ';')"
    evidence "child cgroups: $(cd "$cgb$mycg" && find . -mindepth 1 -type d | tr '\n' ' ')"
fi
record "ad hoc command" "$(echo $out)"
record "caller afterwards" "$(echo $after)"
check "the caller's own sockets stay unbound afterwards" grep -qx 'tcp4=-' <<<"$after"

# ad hoc under systemd-run: the command runs in a child cgroup of its own below the transient
# service's, bound like from a shell (no --wait/--pipe: bookworm's image has no D-Bus)
rm -f /run/adhoc-sr.probe; cleanup "rm -f /run/adhoc-sr.probe"
systemd-run --quiet --unit=adhoc-sr "$BINDIF" --interface vrf-test -- \
    /usr/bin/python3 "$HELPERS/sockprobe.py" --out /run/adhoc-sr.probe
wait_for test -s /run/adhoc-sr.probe
sr=$(cat /run/adhoc-sr.probe 2>/dev/null || journal_of adhoc-sr.service | tail -3)
evidence "ad hoc under systemd-run: $(echo $sr)"
check "ad hoc under systemd-run: tcp4 bound to vrf-test" grep -qx 'tcp4=vrf-test' <<<"$sr"
record "ad hoc under systemd-run" "$(echo $sr)"

# 3. attach form
unit_write attached.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $L 127.0.0.1 9995
EOF2
bind_dropin attached.service vrf-test attach
reload
start attached.service
wait_for sh -c 'ss -Htln | grep -q ":9995 "' || true
c=$(ss_port 9995 | awk '{print $4}')
evidence "attach form: ${c:-no listener}"
record "attach form listener" "$c"
if attach_unreachable; then
    check_attach_refusal attached.service
    check "legacy: attach form starts unbound" [ "$c" = "127.0.0.1:9995" ]
else
    check "attach form listener is 127.0.0.1%vrf-test:9995" [ "$c" = "127.0.0.1%vrf-test:9995" ]
fi
verdict "unit form ${a:-none}, attach form ${c:-none}"
