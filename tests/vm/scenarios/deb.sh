#!/bin/bash
# deb: the Debian package from scripts/build-deb (payload bindif-launch.deb). `dpkg -i` installs the
# launcher, the generator (a file of its own: the glibc build beside the musl launcher) and the man
# pages, and its postinst's daemon-reload activates the generator: a unit with plain
# BindNetworkInterface= written before the install gets the generated drop-in and starts bound. `dpkg -r` is refused while a unit runs /usr/lib/bindif-launch itself
# (the attach step), naming the file and line as `migrate` does; once that line is gone it removes
# the package, postrm's daemon-reload drops the generated drop-in, and the plain-key unit still
# starts — unbound, with systemd's "Unknown key" warning, as any v260-style unit on systemd < 260.
# The same .deb on every suite (bullseye's image has a split /usr, as hosts upgraded from buster
# do): its generator must land where that suite's systemd looks. An upgrade in place (the same
# package re-versioned) while the unit runs keeps its binding, and its next start runs the new
# launcher with one program on the cgroup. Removal leaves no generated drop-in and no cgroup or
# run-time directory of ours; on a legacy cgroup host the removal script's reload without the
# generator and `bindif-launch --remove-leftovers` also take the mirror cgroups, their programs and
# the private cgroup2 mount (the unit is stopped first there: a mirror a running unit's processes
# are in stays, with the mount, until reboot, which tests/leftovers_privileged.rs proves).
# suites: bookworm bullseye trixie
. "$VMTEST_LIB"
deb=$VMTEST_PAYLOAD/bindif-launch.deb
[ -f "$deb" ] || fail "no bindif-launch.deb in the payload (scripts/build-deb failed, or BINDIF_DEB is wrong)"
gen=/lib/systemd/system-generators/bindif-launch-generator
evidence "/usr layout: $([ -L /lib ] && echo "merged (/lib -> $(readlink /lib))" || echo split)"
export DEBIAN_FRONTEND=noninteractive
# The runner installed its own copy as /usr/lib/bindif-launch (no package owns it): take it away so
# every file checked below comes from the package; put it back at exit for the later scenarios.
cleanup "[ -e $BINDIF ] || install -m 0755 $VMTEST_PAYLOAD/bindif-launch $BINDIF"
rm -f "$BINDIF"
# Likewise its copies of the package's units (bindif-launch-enter.socket/.service), which it put
# in /run/systemd/system: moved aside while the package is tried, back at exit.
runner_units=/var/tmp/vmtest-runner-units   # outside the /run this scenario searches for debris
mkdir -p $runner_units
# Stopped first, as the package's prerm stops its own: a socket whose unit file moves away while
# it runs keeps its FIFO open under the package's file and loses track of it.
systemctl stop bindif-launch-enter.socket bindif-launch-enter.service 2>/dev/null
mv /run/systemd/system/bindif-launch-enter.* $runner_units/ 2>/dev/null
mv /run/udev/rules.d/99-bindif-launch.rules $runner_units/ 2>/dev/null
cleanup "mv $runner_units/*.rules /run/udev/rules.d/ 2>/dev/null; mv $runner_units/* /run/systemd/system/ 2>/dev/null; rmdir $runner_units; systemctl daemon-reload; udevadm control --reload"
systemctl daemon-reload
cleanup "BINDIF_LAUNCH_FORCE_REMOVE=1 dpkg --purge bindif-launch"
vrf_add vrf-deb 98 127.0.0.1/8
generated=/run/systemd/generator/deb-plain.service.d/zzzz-bindif-launch.conf

# the v260 form, written before the package exists
unit_write deb-plain.service <<EOF
[Service]
BindNetworkInterface=vrf-deb
ExecStart=/usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9980
EOF
reload
check "before the install: no generated drop-in" [ ! -e "$generated" ]

# ---------- install ----------
out=$(dpkg -i "$deb" 2>&1); rc=$?
evidence "dpkg -i (exit $rc): $(echo "$out" | grep -v '^(Reading' | tr '\n' ' ' | cut -c1-300)"
check "dpkg -i succeeds" [ "$rc" = 0 ]
evidence "postinst warnings: $(grep -i 'warning' <<<"$out" | tr '\n' ' ' | cut -c1-400)"
check "postinst does not warn that the generator is inactive" bash -c '! grep -q "does not search" <<<"$1"' _ "$out"
check "dpkg -s: install ok installed" grep -q '^Status: install ok installed' <<<"$(dpkg -s bindif-launch 2>&1)"
files=$(dpkg -L bindif-launch 2>/dev/null | while read -r f; do [ -d "$f" ] && [ ! -L "$f" ] || echo "$f"; done)
evidence "dpkg -L (files): $(tr '\n' ' ' <<<"$files")"
listed() { grep -qx "$1" <<<"$files" && [ -e "$1" ]; }
for f in /usr/lib/bindif-launch $gen /usr/share/man/man8/bindif-launch.8.gz \
         /usr/share/man/man8/bindif-launch-generator.8.gz \
         /usr/share/doc/bindif-launch/examples/bind-interface.conf /usr/share/doc/bindif-launch/copyright \
         /lib/udev/rules.d/99-bindif-launch.rules; do
    check "dpkg -L lists $f and it exists" listed "$f"
done
check "the generator is an executable file of its own (not a link)" sh -c "[ -f $gen ] && [ ! -L $gen ] && [ -x $gen ]"
# built from the payload's two builds (not a BINDIF_DEB): each in its place
if [ -e "$VMTEST_PAYLOAD/bindif-launch.deb.of-payload" ]; then
    check "the packaged generator is the payload's generator build" cmp -s "$gen" "$VMTEST_PAYLOAD/bindif-launch-generator"
    check "the packaged launcher is the payload's launcher build" cmp -s /usr/lib/bindif-launch "$VMTEST_PAYLOAD/bindif-launch"
fi
sp=$(systemd-path systemd-search-system-generator 2>/dev/null)
found=; IFS=: read -ra dirs <<<"$sp"; for d in "${dirs[@]}"; do [ -e "$d/bindif-launch-generator" ] && found=$d; done
evidence "systemd's generator path: $sp; the generator is seen in ${found:-none of them}"
check "systemd searches a directory holding the generator" [ -n "$found" ]
check "the packaged launcher runs" "$BINDIF" --version
check "postinst's daemon-reload ran the generator: $generated exists" [ -e "$generated" ]
evidence "generated: $(grep -v '^#' "$generated" 2>/dev/null | tr '\n' ';')"
reload
check "after systemctl daemon-reload: the drop-in is still generated" [ -e "$generated" ]
start deb-plain.service
wait_for sh -c 'ss -Htln | grep -q ":9980 "'
evidence "installed: listener $(ss_port 9980 | awk '{print $4}')"
record installed "$(tcp_dev 9980)"
check "installed: plain BindNetworkInterface= unit bound to vrf-deb" [ "$(tcp_dev 9980)" = vrf-deb ]

# ---------- upgrade in place while the unit runs ----------
# The payload's package re-versioned (+upgrade1): dpkg runs the old prerm upgrade, replaces the
# files, and the new postinst configure, as an upgrade from the archive would.
up=$(mktemp -d); cleanup "rm -rf $up"
dpkg-deb -R "$deb" "$up/pkg"
sed -i 's/^Version: \(.*\)$/Version: \1+upgrade1/' "$up/pkg/DEBIAN/control"
dpkg-deb --root-owner-group -b "$up/pkg" "$up/upgrade.deb" >/dev/null
ino_before=$(stat -c %i "$BINDIF")
pid_before=$(main_pid deb-plain.service)
out=$(dpkg -i "$up/upgrade.deb" 2>&1); rc=$?
evidence "upgrade: dpkg -i (exit $rc) -> $(dpkg-query -W -f='${Version}' bindif-launch 2>&1); launcher inode $ino_before -> $(stat -c %i "$BINDIF")"
check "the upgrade succeeds" [ "$rc" = 0 ]
check "the upgrade replaced the launcher file" [ "$(stat -c %i "$BINDIF")" != "$ino_before" ]
check "the running unit was not restarted by the upgrade" [ "$(main_pid deb-plain.service)" = "$pid_before" ]
check "the running unit keeps its binding across the upgrade" [ "$(tcp_dev 9980)" = vrf-deb ]
systemctl restart deb-plain.service
wait_for sh -c 'ss -Htln | grep -q ":9980 "'
evidence "after the upgrade, restarted: listener $(ss_port 9980 | awk '{print $4}'), programs on the cgroup: $(prog_count deb-plain.service)"
record upgraded "$(tcp_dev 9980)"
check "after the upgrade, a restart binds with the new launcher" [ "$(tcp_dev 9980)" = vrf-deb ]
# program counts need bpftool, which bullseye's image lacks (the archive has none for 5.10)
if [ "${LAYOUT:-}" != legacy ] && command -v bpftool >/dev/null; then
    check "after the upgrade, exactly one program on the unit's cgroup" [ "$(prog_count deb-plain.service)" = 1 ]
fi

# ---------- dpkg -r refused while a unit runs bindif-launch itself ----------
unit_write deb-attach.service <<EOF
[Service]
ExecStart=/usr/bin/python3 $HELPERS/listen.py 127.0.0.1 9981
EOF
bind_dropin deb-attach.service vrf-deb attach
reload
out=$(dpkg -r bindif-launch 2>&1); rc=$?
echo "$out"
evidence "dpkg -r with the attach step (exit $rc):"
echo "$out" | grep -E 'bindif-launch:|->|/etc/systemd' | sed 's/^/    /' | tee -a "$VMTEST_EVIDENCE" >/dev/null
record refused "$([ "$rc" != 0 ] && echo yes || echo no)"
check "dpkg -r is refused (non-zero exit)" [ "$rc" != 0 ]
check "the refusal names the attach line" grep -q "deb-attach.service.d/bind.conf:2: ExecStartPre=+/usr/lib/bindif-launch --attach %n" <<<"$out"
check "the refusal gives the migrate advice" grep -q -- "-> remove this line" <<<"$out"
check "the refusal names BINDIF_LAUNCH_FORCE_REMOVE" grep -q "BINDIF_LAUNCH_FORCE_REMOVE=1" <<<"$out"
# dpkg keeps the package installed; only the selection says "deinstall" now
evidence "after the refusal: $(dpkg -s bindif-launch 2>&1 | grep '^Status:')"
check "still installed after the refusal" grep -Eq '^Status: [a-z]+ ok installed$' <<<"$(dpkg -s bindif-launch 2>&1)"
check "the launcher is still there" [ -x "$BINDIF" ]

# ---------- the attach line removed: dpkg -r goes through ----------
sed -i '/bindif-launch/d' /etc/systemd/system/deb-attach.service.d/bind.conf
evidence "deb-attach drop-in now: $(tr '\n' ';' < /etc/systemd/system/deb-attach.service.d/bind.conf)"
reload
private=/run/bindif-launch/cgroup2
if [ "${LAYOUT:-}" = legacy ]; then
    # The mirror the attach step made for deb-plain, with its program: the unit stops, so the
    # removal must take it, and then the mount.
    mirror=$private$(systemctl show -p ControlGroup --value deb-plain.service)
    evidence "legacy: before the removal, mirror $mirror $([ -d "$mirror" ] && echo exists || echo missing); mounts at $private: $(grep -c " $private " /proc/self/mountinfo)"
    check "legacy: deb-plain's mirror exists before the removal" [ -d "$mirror" ]
    systemctl stop deb-plain.service
fi
cursor=$(journalctl -b -n 0 --show-cursor 2>/dev/null | sed -n 's/^-- cursor: //p')
out=$(dpkg -r bindif-launch 2>&1); rc=$?
echo "$out"
evidence "dpkg -r without it (exit $rc): $(echo "$out" | grep 'bindif-launch:' | tr '\n' ' ' | cut -c1-300)"
check "dpkg -r succeeds" [ "$rc" = 0 ]
check "the message says plain-key units keep working" grep -q "keep working" <<<"$out"
check "the package is gone" sh -c '! dpkg -s bindif-launch 2>/dev/null | grep -q "^Status: install ok installed"'
check "the launcher is gone" [ ! -e "$BINDIF" ]
check "the generator is gone" sh -c "[ ! -e $gen ] && [ ! -L $gen ]"
check "postrm's daemon-reload removed the generated drop-in" [ ! -e "$generated" ]
gen_left=$(find /run/systemd/generator* -name 'zzzz-bindif-launch.conf' 2>/dev/null | tr '\n' ' ')
check "no generated drop-in of ours anywhere after removal" [ -z "$gen_left" ]
check "the generator mask the removal set is gone" [ ! -L /run/systemd/system-generators/bindif-launch-generator ]
if [ "${LAYOUT:-}" != legacy ]; then
    evidence "running unit after removal: $(systemctl is-active deb-plain.service), listener $(ss_port 9980 | awk '{print $4}')"
    check "the running unit keeps its binding until it restarts" [ "$(tcp_dev 9980)" = vrf-deb ]
else
    echo "$out" | grep -E 'mirror cgroup|Unmounted|Removed /run|mounted:|ignoring' | sed 's/^/    /' | tee -a "$VMTEST_EVIDENCE" >/dev/null
    check "legacy: the removal took deb-plain's mirror" grep -qF "Removed mirror cgroup $mirror (" <<<"$out"
    check "legacy: the removal unmounted the private cgroup2" grep -qxF "bindif-launch: Unmounted $private." <<<"$out"
    check "legacy: nothing mounted at $private" sh -c "! grep -q ' $private ' /proc/self/mountinfo"
    [ -e /run/bindif-launch ] && evidence "left in /run/bindif-launch: $(find /run/bindif-launch -maxdepth 2 -printf '%p(%y) ' 2>&1)"
    check "legacy: no /run/bindif-launch (mount point, enter FIFO)" [ ! -e /run/bindif-launch ]
    # the whole cgroup2 hierarchy, through a mount of the scenario's own in a private namespace
    marked=$(unshare -m sh -c 'd=$(mktemp -d) && mount -t cgroup2 none "$d" || exit 1
        python3 -c "$1" "$d"; umount "$d"; rmdir "$d"' _ '
import os, sys
top = sys.argv[1]
for d, _, _ in os.walk(top):
    for name in ("trusted.bindif-launch.owner", "user.bindif-launch.owner"):
        try:
            os.getxattr(d, name)
        except OSError:
            continue
        print("/" + os.path.relpath(d, top))
        break
' 2>&1)
    evidence "legacy: cgroups carrying our marker in the cgroup2 hierarchy after removal: ${marked:-none}"
    check "legacy: no cgroup of ours left in the cgroup2 hierarchy" [ -z "$marked" ]
    if command -v bpftool >/dev/null; then
        no_prog() { ! bpftool prog show 2>/dev/null | grep -qE 'name bindif_(unit|sock) '; }
        wait_for no_prog
        evidence "legacy: programs of ours loaded after removal: $(bpftool prog show 2>/dev/null | grep -cE 'name bindif_(unit|sock) ')"
        check "legacy: no program of ours loaded after removal" no_prog
    fi
fi
start deb-plain.service deb-attach.service
systemctl restart deb-plain.service
wait_for sh -c 'ss -Htln | grep -q ":9980 " && ss -Htln | grep -q ":9981 "'
unbound_listener() { [ -n "$(ss_port "$1")" ] && [ -z "$(tcp_dev "$1")" ]; }
for u in deb-plain:9980 deb-attach:9981; do
    st=$(systemctl show -p ActiveState -p Result --value "${u%:*}.service" | tr '\n' ' ')
    evidence "after removal, restarted ${u%:*}.service: $st listener $(ss_port "${u#*:}" | awk '{print $4}')"
    check "${u%:*}.service starts after removal (active, not broken)" [ "$(systemctl is-active "${u%:*}.service")" = active ]
    check "${u%:*}.service listens unbound after removal" unbound_listener "${u#*:}"
done
record removed "$(tcp_dev 9980)"
# nothing of ours on the host once the units restarted without the package: no cgroup we create
# (ad hoc children, the legacy mirror tree), no run-time directory, no pinned program (the
# starts above pinned one in /sys/fs/bpf/bindif-launch), no program on the restarted units
ours=$(find /sys/fs/cgroup /run /sys/fs/bpf -maxdepth 6 -name 'bindif-launch*' 2>/dev/null | tr '\n' ' ')
evidence "after removal and restart: paths named bindif-launch*: ${ours:-none}"
check "after removal: no cgroup, run-time directory or pinned program of ours" [ -z "$ours" ]
if [ "${LAYOUT:-}" != legacy ] && command -v bpftool >/dev/null; then
    check "after removal and restart: no program on deb-plain's cgroup" [ "$(prog_count deb-plain.service)" = 0 ]
fi
warn() { journalctl -b --no-pager -o cat ${cursor:+--after-cursor="$cursor"} 2>/dev/null |
    grep -E "deb-plain.service:2: Unknown key (name )?'BindNetworkInterface'" | head -1; }
warn_seen() { [ -n "$(warn)" ]; }
wait_for warn_seen
evidence "journal after removal: $(warn)"
check "systemd's Unknown key warning for the plain key" [ -n "$(warn)" ]
verdict "installed bound (${files:+$(echo "$files" | wc -l) files}), removal refused with the attach step, after it unbound and active"
