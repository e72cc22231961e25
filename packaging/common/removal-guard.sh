# removal_guard (and mask_generator, remove_leftovers below): shared by the .deb's prerm and the
# RPM's %preun (each build inlines this file), run only when the package is removed, not upgraded.
# Refuses (returns 1) while unit files run /usr/lib/bindif-launch themselves (the launcher
# ExecStart=, the --attach step, an ad hoc command line): without the binary those units fail at
# their next start. Units in the generator form (plain BindNetworkInterface=) need nothing: they
# become unbound, as on any systemd < 260 without bindif-launch, and v260 binds them natively.
# BINDIF_LAUNCH_FORCE_REMOVE=1 removes anyway.
bin=/usr/lib/bindif-launch

# json_strings KEY: the strings of the array KEY in the migrate --json object on stdin
json_strings() {
    sed -n 's/.*"'"$1"'":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | sed -n 's/^"\(.*\)"$/\1/p'
}

removal_guard() {
    json=
    if [ -x "$bin" ]; then
        json=$("$bin" migrate --json 2>/dev/null) || json=
    fi
    if [ -n "$json" ]; then
        # one "FILE:LINE: ASSIGNMENT (UNITS) -> ADVICE" per change
        lines=$(printf '%s\n' "$json" | sed 's/},{"file"/}\n{"file"/g' |
            sed -e ':a' -e 's/\("units":\[[^]"]*\)"/\1/' -e 'ta' |
            sed -n 's/.*"file":"\(\([^"\\]\|\\.\)*\)","line":\([0-9]*\),"assignment":"\(\([^"\\]\|\\.\)*\)","advice":"\(\([^"\\]\|\\.\)*\)","units":\[\([^]]*\)\].*/\1:\3: \4 (\8)\n      -> \6/p' |
            sed 's/\\"/"/g; s/\\\\/\\/g')
        plain=$(printf '%s\n' "$json" | json_strings plain_units | tr '\n' ' ' | sed 's/ $//')
    else
        # migrate could not run: fall back to the unit directories themselves
        echo "bindif-launch: warning: '$bin migrate --json' did not run; searching the unit files" >&2
        # (the package's own bindif-launch-enter.service goes with it)
        lines=$(grep -rsnE '^[[:space:]]*Exec[A-Za-z]*=.*bindif-launch' \
            /etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system \
            /usr/lib/systemd/system /lib/systemd/system 2>/dev/null |
            grep -v -e '--enter-service' || true)
        plain=
    fi
    if [ -n "$lines" ]; then
        echo "bindif-launch: these unit files run $bin themselves and would fail to start once it is removed:" >&2
        printf '%s\n' "$lines" | sed 's/^/  /' >&2
        echo "Change them as shown (\"$bin migrate\" lists them): keep plain BindNetworkInterface=," >&2
        echo "which systemd < 260 ignores and v260 honours, then run \"systemctl daemon-reload\"." >&2
        if [ "${BINDIF_LAUNCH_FORCE_REMOVE:-}" = 1 ]; then
            echo "bindif-launch: BINDIF_LAUNCH_FORCE_REMOVE=1: removing anyway; the units above will fail at their next start." >&2
        else
            echo "bindif-launch: refusing removal; set BINDIF_LAUNCH_FORCE_REMOVE=1 to remove anyway." >&2
            return 1
        fi
    fi
    if [ -n "$plain" ]; then
        echo "bindif-launch: units with plain BindNetworkInterface= ($plain) keep working: after removal they start" >&2
        echo "  unbound, with systemd's \"Unknown key 'BindNetworkInterface'\" warning, as v260-style units do on systemd < 260;" >&2
        echo "  v260 binds them natively. Running units keep their binding until they restart." >&2
    fi
    return 0
}

# generator_mask: where the removal masks bindif-launch-generator for the rest of the boot (systemd
# skips a generator whose name links to /dev/null in an earlier directory of its search path, and
# /run/systemd/system-generators comes first). generator_mask_ours records that the removal made
# the mask, so that the postrm/%postun (and postinst abort-remove) remove only that one, never an
# administrator's: it lies outside the generator directory (systemd would try to execute any file
# there) and outside /run/bindif-launch (which --remove-leftovers removes).
generator_mask=/run/systemd/system-generators/bindif-launch-generator
generator_mask_ours=/run/bindif-launch-generator-masked

# mask_generator: after removal_guard, first of the removal's steps. Reloads the units without the
# generator, so that its drop-ins are gone (no unit starts its attach step or wrapped commands any
# more) before the enter service they rely on is stopped. An existing mask stays as it is.
mask_generator() {
    [ -d /run/systemd/system ] || return 0
    if [ ! -e "$generator_mask" ] && [ ! -L "$generator_mask" ]; then
        # the marker first: a mask without it would stay until reboot
        if ! { : >"$generator_mask_ours" && mkdir -p "${generator_mask%/*}" &&
            ln -s /dev/null "$generator_mask"; }; then
            rm -f "$generator_mask_ours"
            echo "bindif-launch: warning: cannot mask the generator at $generator_mask; its drop-ins stay until the removal's last daemon-reload" >&2
        fi
    fi
    systemctl daemon-reload ||
        echo "bindif-launch: warning: systemctl daemon-reload failed; the generated drop-ins stay until the next one" >&2
    return 0
}

# remove_leftovers: after mask_generator and the enter service's stop, while $bin still exists: lets
# the launcher remove what a legacy cgroup host keeps of ours: the empty mirror cgroups and the
# private cgroup2 mount (bindif-launch(8), --remove-leftovers). Mirrors that processes of running
# units are in stay, with the mount, until reboot. Never fails the removal.
remove_leftovers() {
    if [ -x "$bin" ]; then
        "$bin" --remove-leftovers ||
            echo "bindif-launch: warning: '$bin --remove-leftovers' failed (see above), ignoring; what it kept stays until reboot" >&2
    fi
    return 0
}

