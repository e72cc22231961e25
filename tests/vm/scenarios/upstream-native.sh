#!/bin/bash
# upstream-native: systemd's own TEST-07 check, natively (systemd >= 260, no launcher).
# A VRF vrf-test carrying 127.0.0.1/8 and ::1/128; a listener started with
# `systemd-run -p BindNetworkInterface=vrf-test` shows in ss as 127.0.0.1%vrf-test:PORT, the same
# listener without the property is unbound, and bpftool shows the program on the unit's cgroup.
# This proves the harness itself (image, boot, shares, results) against real v260+ behaviour.
# suites: sid
. "$VMTEST_LIB"
native || skip "systemd $SYSTEMD_VERSION has no native BindNetworkInterface="
vrf_add vrf-test 10 127.0.0.1/8 ::1/128

systemd-run --unit=un-bound -p BindNetworkInterface=vrf-test \
    python3 "$HELPERS/listen.py" 127.0.0.1 9999 || fail "systemd-run failed"
cleanup "systemctl stop un-bound.service"
systemd-run --unit=un-unbound python3 "$HELPERS/listen.py" 127.0.0.1 9998 || fail "systemd-run failed"
cleanup "systemctl stop un-unbound.service"
wait_for sh -c 'ss -Htln | grep -q ":9999" && ss -Htln | grep -q ":9998"' || evidence "listeners did not appear"

b=$(ss_port 9999) u=$(ss_port 9998)
evidence "bound:   $(echo "$b" | awk '{print $4}')"
evidence "unbound: $(echo "$u" | awk '{print $4}')"
record "listener with the key" "$(echo "$b" | awk '{print $4}' | sed 's/:[0-9]*$//')"
record "listener without it" "$(echo "$u" | awk '{print $4}' | sed 's/:[0-9]*$//')"
check "listener with BindNetworkInterface=vrf-test is 127.0.0.1%vrf-test:9999" \
    grep -q '127.0.0.1%vrf-test:9999' <<<"$b"
check "listener without the property is unbound (127.0.0.1:9998)" \
    sh -c "echo '$u' | grep -q ' 127.0.0.1:9998 '"
bpf_evidence un-bound.service
check "a sock_create program is on un-bound.service's cgroup" [ "$(prog_count un-bound.service)" -ge 1 ]
check "no program on un-unbound.service's cgroup" [ "$(prog_count un-unbound.service)" -eq 0 ]
verdict "$(echo "$b" | awk '{print $4}') bound, $(echo "$u" | awk '{print $4}') unbound"
