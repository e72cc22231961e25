#!/bin/bash
# start-bench: start overhead with a real VRF and a real systemd (issue 5, the VM part). Run by
# `tests/vm/run --bench DIR` (scripts/bench --vm), never by the scenario runs. A VRF vrf-test with
# a dummy port enslaved; startbench.py launches, interleaved in rotating order, from a driver in a
# cgroup named x@vrf-test.service (as benches/start.rs does on the host):
#   bare /bin/true; ip vrf exec vrf-test /bin/true; bindif-launch --interface vrf-test -- /bin/true;
#   bindif-launch x@vrf-test.service (unit mode; the host benchmark's x@.service with its five
#   drop-ins, ExecStart=/bin/true); and `systemctl start` of Type=oneshot /bin/true units:
#   without the key, with native BindNetworkInterface=vrf-test (systemd >= 260 only), with the
#   launcher drop-in (ExecStart= reset + ExecStart=/usr/lib/bindif-launch %n) and with the attach
#   step (ExecStartPre=+/usr/lib/bindif-launch --attach %n).
# Before timing, every binding form is checked to bind a probe's sockets (twin units and commands
# running sockprobe.py instead of /bin/true). Raw samples go to $VMTEST_RESULTS/start-bench.*.tsv,
# facts about the guest to start-bench.info; tests/vm/bench/report.py turns them into Markdown.
# BENCH_SECONDS (default 150) bounds the timed part (a third for the exec group, the rest for the
# systemctl group), BENCH_ROUNDS (default 1000) the rounds of each group. Then, before v260, the
# daemon-reload re-resolution's share of a daemon-reload (BENCH_RELOAD_UNITS running units,
# default 50; BENCH_RELOAD_ROUNDS rounds, default 15).
# layouts: unified
# shellcheck source=SCRIPTDIR/../guest/lib.sh
. "$VMTEST_LIB"
MODE=launcher need_launcher
: "${VMTEST_RESULTS:?run by tests/vm/run --bench}"
IF=vrf-test
info=$VMTEST_RESULTS/start-bench.info
: > "$info"
fact() { echo "$1=$2" >> "$info"; }

vrf_add "$IF" 10 127.0.0.1/8 ::1/128
ip link add bench0 type dummy || fail "cannot create dummy port"
cleanup "ip link del bench0"
ip link set bench0 master "$IF" up || fail "cannot enslave bench0 to $IF"
ip addr add 192.0.2.1/24 dev bench0

# The host benchmark's unit fixture (benches/common write_unit_fixture), in the real search dirs.
mkdir -p /usr/lib/systemd/system/x@.service.d /usr/lib/systemd/system/service.d \
    /etc/systemd/system/x@.service.d "/etc/systemd/system/x@$IF.service.d" /run/systemd/system/x@.service.d
cat > /usr/lib/systemd/system/x@.service <<'EOF'
[Unit]
Description=Benchmark service in %i
After=network.target

[Service]
Type=oneshot
ExecStart=/bin/true
RemainAfterExit=no

[Install]
WantedBy=multi-user.target
EOF
printf '[Service]\nBindNetworkInterface=%%i\n' > /usr/lib/systemd/system/x@.service.d/10-bind.conf
# (the host's type-wide TimeoutStartSec=30s would also cut the start job of the VM's test runner)
printf '[Service]\n# type-wide defaults\n' > /usr/lib/systemd/system/service.d/10-defaults.conf
printf '[Service]\nEnvironment=MODE=bench\nX-BindNetworkInterface-WaitSec=0\n' > /etc/systemd/system/x@.service.d/20-env.conf
printf '[Unit]\nDocumentation=man:bindif-launch(8)\n[Service]\nNice=0\n' > "/etc/systemd/system/x@$IF.service.d/30-instance.conf"
printf '[Service]\n# runtime drop-in\nX-BindNetworkInterface-Verify=no\n' > /run/systemd/system/x@.service.d/40-runtime.conf
cleanup "rm -rf /usr/lib/systemd/system/x@.service /usr/lib/systemd/system/x@.service.d /usr/lib/systemd/system/service.d/10-defaults.conf /etc/systemd/system/x@.service.d /etc/systemd/system/x@$IF.service.d /run/systemd/system/x@.service.d"

# Oneshot units for `systemctl start`: bench-FORM runs /bin/true (timed), probe-FORM the socket
# probe (checked once). No start rate limit: the benchmark starts each unit hundreds of times.
forms="plain launcher attach"
native && forms="plain native launcher attach"
probe=$HELPERS/sockprobe.py
for form in $forms; do
    for kind in bench probe; do
        u=$kind-$form.service
        if [ "$kind" = bench ]; then cmd=/bin/true; else cmd="/usr/bin/python3 $probe --out /run/$u.out"; fi
        unit_write "$u" <<EOF
[Unit]
StartLimitIntervalSec=0
[Service]
Type=oneshot
ExecStart=$cmd
EOF
        [ "$form" = plain ] || bind_dropin "$u" "$IF" "$form"
    done
done
reload
for form in $forms; do
    rm -f "/run/probe-$form.service.out"
    start "probe-$form.service"
    got=$(tr '\n' ' ' < "/run/probe-$form.service.out" 2>/dev/null)
    evidence "systemctl start, $form: ${got:-no probe output}"
    if [ "$form" = plain ]; then
        check "systemctl start, no key: unbound" grep -q 'tcp4=- ' <<<"$got"
    else
        check "systemctl start, $form: bound to $IF" grep -q "tcp4=$IF " <<<"$got"
    fi
done

# The driver's cgroup: a child of this scope named like the unit, so unit mode finds "its" cgroup.
mycg=$(sed -n 's/^0:://p' /proc/self/cgroup)
if [ -z "$mycg" ] || [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then skip "needs the unified cgroup layout"; fi
cg=/sys/fs/cgroup${mycg%/}/x@$IF.service
mkdir "$cg" || fail "cannot create $cg"
cleanup "find '$cg' -mindepth 1 -depth -type d -exec rmdir {} +; rmdir '$cg'"
in_cg() { sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" "$@"; }

ipcmd=$(command -v ip) true=$(command -v true) systemctl=$(command -v systemctl)
[ -x /bin/true ] && true=/bin/true
# A second process in the cgroup while probing, as the driver will be when timing: ad hoc mode
# alone in a unit-named cgroup would bind that cgroup (as under systemd-run), not make a child.
in_cg sleep 600 &
sleeper=$!
cleanup "kill $sleeper"
adhoc_probe=$(in_cg "$BINDIF" --interface "$IF" -- /usr/bin/python3 "$probe" 2>&1 | tr '\n' ' ')
vrf_probe=$(in_cg "$ipcmd" vrf exec "$IF" /usr/bin/python3 "$probe" 2>&1 | tr '\n' ' ')
unit_probe=$(in_cg "$BINDIF" "x@$IF.service" -- /usr/bin/python3 "$probe" 2>&1 | tr '\n' ' ')
evidence "ip vrf exec: $vrf_probe"
evidence "ad hoc: $adhoc_probe"
evidence "unit mode: $unit_probe"
check "ip vrf exec binds to $IF" grep -q "tcp4=$IF " <<<"$vrf_probe"
check "ad hoc binds to $IF" grep -q "tcp4=$IF " <<<"$adhoc_probe"
if native; then
    # systemd >= 260 binds natively: the launcher leaves the unit to PID 1 and attaches nothing
    # (the driver's cgroup is no unit PID 1 started, so the probe stays unbound).
    check "unit mode defers to systemd $SYSTEMD_VERSION (attaches nothing)" grep -q "tcp4=- " <<<"$unit_probe"
    fact unit_mode "defers to PID 1 (systemd $SYSTEMD_VERSION binds natively): parse + exec, no attach"
else
    check "unit mode binds to $IF" grep -q "tcp4=$IF " <<<"$unit_probe"
    fact unit_mode "parse + resolve + load + attach + exec"
fi
evidence "programs on the driver's cgroup: $(bpftool cgroup show "$cg" 2>&1 | tr -s ' ' | tr '\n' ';')"
kill "$sleeper"
[ "$FAILED" -eq 0 ] || fail "a binding form did not bind; not timing"

# Two groups, each timed on its own in interleaved rounds: the exec variants (a few ms each under
# TCG) and the `systemctl start` ones (hundreds of ms), so that the fast group gets many rounds.
{
    printf 'bare\tbare exec\t%s\n' "$true"
    printf 'vrfexec\tip vrf exec\t%s\tvrf\texec\t%s\t%s\n' "$ipcmd" "$IF" "$true"
    printf 'adhoc\tad hoc launcher\t%s\t--interface\t%s\t--\t%s\n' "$BINDIF" "$IF" "$true"
    printf 'unit\tunit-mode launcher\t%s\tx@%s.service\n' "$BINDIF" "$IF"
} > /run/start-bench.exec
for form in $forms; do
    printf 'sc-%s\tsystemctl start, %s\t%s\tstart\tbench-%s.service\n' "$form" "$form" "$systemctl" "$form"
done > /run/start-bench.systemctl

fact suite "$SUITE"
fact kernel "$(uname -r)"
fact systemd "$(systemctl --version | head -1)"
fact systemd_version "$SYSTEMD_VERSION"
fact iproute2 "$(ip -V 2>&1 | head -1)"
fact python "$(python3 -V 2>&1)"
fact launcher "$("$BINDIF" --version 2>&1 | head -1)"
fact cpus "$(nproc)"
fact cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
fact mem "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
fact cgroup "$mycg/x@$IF.service"
fact forms "$forms"
fact uptime_before "$(cut -d' ' -f1 /proc/uptime)"
fact load_before "$(cut -d' ' -f1-3 /proc/loadavg)"
secs=${BENCH_SECONDS:-150}
summary=
for group in exec systemctl; do
    # a third of the time for the exec group, two thirds for the slow systemctl group
    if [ "$group" = exec ]; then budget=$((secs / 3)); else budget=$((secs - secs / 3)); fi
    t0=$SECONDS
    out=$(in_cg /usr/bin/python3 "$VMTEST_PAYLOAD/scenarios/startbench.py" --variants "/run/start-bench.$group" \
        --out "$VMTEST_RESULTS/start-bench.$group.tsv" --rounds "${BENCH_ROUNDS:-1000}" --seconds "$budget" 2>&1)
    rc=$?
    fact "seconds_$group" "$((SECONDS - t0))"
    evidence "$group: $out"
    [ "$rc" = 0 ] || fail "startbench.py failed ($group): $out"
    check "$group samples written" [ -s "$VMTEST_RESULTS/start-bench.$group.tsv" ]
    summary+="${summary:+; }$group: ${out#startbench: }"
done

# Issue 17 #3: the daemon-reload re-resolution's share of a daemon-reload, before v260 (on 262 the
# generator does nothing). RELOAD_UNITS running units bound in the generator's form; each round
# times a `systemctl daemon-reload`, then runs the installed generator as PID 1 runs it at a
# reload (same directories, so it re-resolves the running units) with debug output, which gives
# the re-resolution's time (its walk and queries on the prefetch thread included).
if ! native; then
    n=${BENCH_RELOAD_UNITS:-50}
    install_generator
    for i in $(seq "$n"); do
        unit_write "rl-$i.service" <<EOF
[Service]
ExecStart=/bin/sleep infinity
EOF
        bind_dropin "rl-$i.service" "$IF" native
    done
    reload
    systemctl start $(seq -f 'rl-%g.service' "$n") || evidence "starting the $n reload units failed"
    running=$(systemctl list-units --state=running --no-legend 'rl-*.service' | wc -l)
    fact reload_units "$running"
    check "$n bound units running for the reload rounds" [ "$running" = "$n" ]
    evidence "rl-1.service: $(bpftool cgroup show "$(cgroup_path_of rl-1.service)" 2>&1 | tr -s ' ' | tr '\n' ';')"
    gen=/lib/systemd/system-generators/bindif-launch-generator
    [ -e "$gen" ] || gen=/usr/lib/systemd/system-generators/bindif-launch-generator
    tsv=$VMTEST_RESULTS/start-bench.reload.tsv
    printf '# round\tdaemon-reload ns\tgenerator run ns\tre-resolution (Rust Debug duration)\n' > "$tsv"
    t0=$SECONDS
    for r in $(seq "${BENCH_RELOAD_ROUNDS:-15}"); do
        a=$(date +%s%N); systemctl daemon-reload; b=$(date +%s%N)
        line=$(SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console "$gen" /run/systemd/generator \
            /run/systemd/generator.early /run/systemd/generator.late 2>&1 | grep -F "Re-resolved running units below" | tail -1)
        c=$(date +%s%N)
        printf '%s\t%s\t%s\t%s\n' "$r" "$((b - a))" "$((c - b))" "$(sed -n 's/.*(\([^()]*\))\.$/\1/p' <<<"$line")" >> "$tsv"
    done
    fact seconds_reload "$((SECONDS - t0))"
    evidence "reload: last generator line: $line"
    untimed=$(awk -F'\t' '!/^#/ && $4 == ""' "$tsv" | wc -l)
    check "re-resolution timed in every round" [ "$untimed" = 0 ]
    summary+="; reload: $(($(wc -l < "$tsv") - 1)) rounds with $running running units"
fi
fact load_after "$(cut -d' ' -f1-3 /proc/loadavg)"
verdict "$summary"
