#!/usr/bin/env python3
# tests/vm/bench/report.py: the host side of the VM start benchmark (scripts/bench --vm).
#   report.py render DIR         Markdown for docs/benchmarks-vm.md from `tests/vm/run --bench DIR`
#   report.py splice VM REPORT   put VM's target rows and section into REPORT (docs/benchmarks.md,
#                                written by scripts/bench), replacing earlier ones, in place
# DIR holds run-info (host, accelerator) and one SUITE-unified/ directory per boot with the
# guest's start-bench.info and raw samples start-bench.{exec,systemctl}.tsv (startbench.py).
import os
import re
import sys

SECTION = "Start overhead in VMs (real VRF, systemd 252 and 262)"
ANCHOR = "#start-overhead-in-vms-real-vrf-systemd-252-and-262"
# target rows of the VMs ("| VM bookworm (systemd 252): …"), in both files
TARGET_ROW = re.compile(r"^\| VM [^|]* \(systemd \d+\): ")


def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def fmt_ms(ns):
    ms = ns / 1e6
    return "%.1f ms" % ms if ms >= 10 else "%.2f ms" % ms


def cell(v):
    return "%s (%s – %s)" % (fmt_ms(median(v)), fmt_ms(min(v)), fmt_ms(max(v)))


def rcell(v):
    return "%.2f× (%.2f – %.2f)" % (median(v), min(v), max(v))


def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d.setdefault(k, v)
    return d


class Group:
    """Raw samples of one startbench.py run: variants in order, samples[key][round] = ns."""

    def __init__(self, path):
        self.variants = []  # (key, label, command)
        self.samples = {}
        self.meta = {}
        for line in open(path):
            line = line.rstrip("\n")
            if line.startswith("# rounds="):
                self.meta = dict(w.split("=", 1) for w in line[2:].split())
            elif line.startswith("# "):
                key, label, command = line[2:].split("\t")
                self.variants.append((key, label, command))
                self.samples[key] = {}
            elif line:
                r, key, ns = line.split("\t")
                self.samples[key][int(r)] = int(ns)
        self.rounds = int(self.meta.get("rounds", 0))

    def has(self, key):
        return key in self.samples

    def values(self, key):
        return list(self.samples[key].values())

    def per_round(self, key, base):
        a, b = self.samples[key], self.samples[base]
        return [a[r] / b[r] for r in a if r in b]

    def ratio(self, key, base):
        return median(self.values(key)) / median(self.values(base))


# Rust's Debug form of a Duration, as the generator logs it: "1.234567ms", "850.2µs", "2.5s", "999ns".
DURATION = re.compile(r"^([0-9.]+)(ns|µs|us|ms|s)$")
UNIT_NS = {"ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def duration_ns(text):
    m = DURATION.match(text.strip())
    return float(m.group(1)) * UNIT_NS[m.group(2)] if m else None


def read_reload(path):
    """The reload rounds of start-bench.sh: [(daemon-reload ns, generator run ns, re-resolution ns)]."""
    rows = []
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("#") or not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            rr = duration_ns(f[3]) if len(f) > 3 else None
            if rr is not None:
                rows.append((int(f[1]), int(f[2]), rr))
    return rows


class Boot:
    def __init__(self, d):
        self.dir = d
        self.info = kv(os.path.join(d, "start-bench.info"))
        self.guest = kv(os.path.join(d, "guest-info"))
        self.boot = kv(os.path.join(d, "boot-info"))
        self.suite = self.info.get("suite") or os.path.basename(d).split("-")[0]
        self.version = int(self.info.get("systemd_version", "0") or 0)
        self.exec = self.systemctl = None
        for g in ("exec", "systemctl"):
            p = os.path.join(d, "start-bench.%s.tsv" % g)
            if os.path.exists(p):
                setattr(self, g, Group(p))
        self.reload = read_reload(os.path.join(d, "start-bench.reload.tsv"))
        self.result = ""
        rp = os.path.join(d, "start-bench.result")
        if os.path.exists(rp):
            self.result = open(rp).readline().strip()

    @property
    def name(self):
        return "%s (systemd %d)" % (self.suite, self.version)

    @property
    def native(self):
        return self.version >= 260



EXEC_LABELS = {
    "bare": "bare `/bin/true`",
    "vrfexec": "`ip vrf exec vrf-test /bin/true`",
    "adhoc": "ad hoc launcher",
    "unit": "unit-mode launcher",
}
SC_LABELS = {
    "sc-plain": "oneshot `/bin/true`, no key",
    "sc-native": "+ `BindNetworkInterface=vrf-test` (native, systemd ≥ 260)",
    "sc-launcher": "+ launcher drop-in (`ExecStart=/usr/lib/bindif-launch %n`)",
    "sc-attach": "+ attach drop-in (`ExecStartPre=+/usr/lib/bindif-launch --attach %n`)",
}


def target(rows, what, measured, goal, ok):
    rows.append("| %s | %s | %s | %s |" % (what, measured, goal, ok if isinstance(ok, str) else ("met" if ok else "NOT met")))


def render(d):
    run = kv(os.path.join(d, "run-info"))
    boots = []
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if os.path.isdir(p) and os.path.exists(os.path.join(p, "start-bench.info")):
            boots.append(Boot(p))
    # bookworm (older systemd) first
    boots.sort(key=lambda b: b.version)
    out = []
    w = out.append
    targets = []
    body = []
    b_ = body.append

    for b in boots:
        g, s = b.exec, b.systemctl
        vm = "VM " + b.name
        if g and g.rounds:
            for key, what in (("adhoc", "ad hoc"), ("unit", "unit mode")):
                note = ""
                if key == "unit" and b.native:
                    note = " (defers to PID 1: parse + exec)"
                r = g.ratio(key, "vrfexec")
                target(targets, "%s: start, %s: ≤ 0.5× `ip vrf exec`%s" % (vm, what, note),
                       "%.2f× (%s vs %s)" % (r, fmt_ms(median(g.values(key))), fmt_ms(median(g.values("vrfexec")))),
                       "≤ 0.5×", r <= 0.5)
            for key, what in (("adhoc", "ad hoc"), ("unit", "unit mode")):
                note = " (defers to PID 1: parse + exec)" if key == "unit" and b.native else ""
                r = g.ratio(key, "bare")
                target(targets, "%s: start, %s: ≤ 1.5× bare exec%s" % (vm, what, note),
                       "%.2f× (%s)" % (r, fmt_ms(median(g.values(key)))), "≤ 1.5×", r <= 1.5)
        if s and s.rounds:
            if s.has("sc-native"):
                r = s.ratio("sc-native", "sc-plain")
                target(targets, "%s: `systemctl start`, native `BindNetworkInterface=` vs without the key" % vm,
                       "%.2f× (%s)" % (r, fmt_ms(median(s.values("sc-native")))), "reference", "—")
            for key, what in (("sc-launcher", "launcher drop-in"), ("sc-attach", "attach drop-in")):
                if not s.has(key):
                    continue
                r = s.ratio(key, "sc-plain")
                target(targets, "%s: `systemctl start`, %s: ≤ 1.5× start without the key" % (vm, what),
                       "%.2f× (%s)" % (r, fmt_ms(median(s.values(key)))), "≤ 1.5×", r <= 1.5)
                if s.has("sc-native"):
                    r = s.ratio(key, "sc-native")
                    target(targets, "%s: `systemctl start`, %s: ≤ 1.5× native start" % (vm, what),
                           "%.2f× (%s vs %s)" % (r, fmt_ms(median(s.values(key))), fmt_ms(median(s.values("sc-native")))),
                           "≤ 1.5×", r <= 1.5)

    for b in boots:
        if b.reload:
            reload = median([r[0] for r in b.reload])
            rr = median([r[2] for r in b.reload])
            share = 100 * rr / reload
            target(targets, "VM %s: issue 17: re-resolution ≤ 5%% of a `daemon-reload` (%s running bound units)" % (
                       b.name, b.info.get("reload_units", "?")),
                   "%.1f%% (%s of %s)" % (share, fmt_ms(rr), fmt_ms(reload)), "≤ 5%", share <= 5)

    w("# Benchmarks in VMs: start overhead with a real VRF")
    w("")
    w("Written by `scripts/bench --vm` — do not edit; rerun it. `scripts/bench` copies the target rows")
    w("and the section below into [benchmarks.md](benchmarks.md), so a host-only run keeps them.")
    w("")
    w("## Targets")
    w("")
    w("| target | measured | goal | result |")
    w("|---|---|---|---|")
    out.extend(targets)
    w("")
    w("## " + SECTION)
    w("")
    total = sum(int(b.boot.get("boot_seconds", 0) or 0) for b in boots)
    w("Measured %s (commit %s) on the host's qemu guests (`tests/vm/run --bench`, the images of the "
      "VM tests): %s, %s CPUs (shared with other work; load average at start %s), host kernel %s; "
      "guests %s, accelerator **%s** (%s). Boots (boot, set-up and checks, timing): %d s in all%s." % (
          run.get("date", "?"), run.get("commit", "?"), run.get("host_cpu", "?"),
          run.get("host_cpus", "?"), run.get("host_load", "?"),
          run.get("host_kernel", "?"), run.get("vm", "?"), run.get("accel", "?"),
          run.get("qemu", "?"), total,
          ", `scripts/bench --vm` %s s from start to end" % run["vm_wall_seconds"] if "vm_wall_seconds" in run else ""))
    w("")
    if run.get("accel") == "tcg":
        w("TCG emulates every guest instruction, so absolute times are many times the host's and noisy;")
        w("compare the ratios, which are measured side by side in the same guest.")
        w("")
    w("| guest | kernel | systemd | iproute2 | guest CPUs | exec group | systemctl group | boot-to-results |")
    w("|---|---|---|---|---|---|---|---|")
    for b in boots:
        gi = b.info
        ge = b.exec.meta if b.exec else {}
        gs = b.systemctl.meta if b.systemctl else {}
        w("| %s | %s | %s | %s | %s | %s rounds, %s s | %s rounds, %s s | %s s |" % (
            b.suite, gi.get("kernel", "?"), gi.get("systemd", "?"), gi.get("iproute2", "?"),
            gi.get("cpus", "?"), ge.get("rounds", "–"), ge.get("seconds", "–"),
            gs.get("rounds", "–"), gs.get("seconds", "–"), b.boot.get("boot_seconds", "?")))
    w("")
    w("In each guest: a VRF `vrf-test` (table 10, `127.0.0.1/8`, `::1/128`) with a dummy port "
      "`bench0` enslaved; the driver (`tests/vm/bench/startbench.py`: `posix_spawn` + `waitpid`, "
      "output to /dev/null, `time.perf_counter_ns`) runs in a cgroup named `x@vrf-test.service` "
      "under the benchmark's scope, as `benches/start.rs` does on the host, and launches the "
      "variants of a group once per round in rotating order. Two groups are timed one after the "
      "other: the exec variants, and `systemctl start` of `Type=oneshot` units whose "
      "`ExecStart=/bin/true`. \"× …, per round\" is the median (min – max) of each round's ratio "
      "to that round's baseline; the targets compare medians, as on the host. Before timing, "
      "every binding form was checked to bind a probe's TCP/UDP × IPv4/IPv6 sockets to `vrf-test` "
      "(the same command or unit running `sockprobe.py` instead of `/bin/true`).")
    w("")
    w("Unit mode runs `bindif-launch x@vrf-test.service` on the host benchmark's unit tree "
      "(`x@.service` with `BindNetworkInterface=%i` and five drop-ins, written into the guest's "
      "real search directories): parse + resolve + load + attach + exec of its `ExecStart=/bin/true` "
      "on systemd < 260. On systemd ≥ 260 the launcher sees that PID 1 binds natively and attaches "
      "nothing, so there it measures parse + exec only.")
    w("")
    for b in boots:
        g, s = b.exec, b.systemctl
        w("### %s" % b.name)
        w("")
        w("Kernel %s, %s, %s, %s; %s. Checked: %s" % (
            b.info.get("kernel", "?"), b.info.get("systemd", "?"), b.info.get("iproute2", "?"),
            b.info.get("launcher", "?"), b.info.get("python", "?"), b.result or "no result line"))
        w("")
        if g and g.rounds:
            w("Exec group: %d rounds in %s s." % (g.rounds, g.meta.get("seconds", "?")))
            w("")
            w("| variant | command | median (min – max) | × bare | × bare, per round | × `ip vrf exec`, per round |")
            w("|---|---|---|---|---|---|")
            for key, label, command in g.variants:
                w("| %s | `%s` | %s | %.2f× | %s | %s |" % (
                    EXEC_LABELS.get(key, label), command, cell(g.values(key)),
                    g.ratio(key, "bare"), rcell(g.per_round(key, "bare")),
                    rcell(g.per_round(key, "vrfexec"))))
            w("")
        if s and s.rounds:
            w("`systemctl start` group: %d rounds in %s s." % (s.rounds, s.meta.get("seconds", "?")))
            w("")
            native_col = s.has("sc-native")
            head = "| unit | command | median (min – max) | × no key | × no key, per round |"
            sep = "|---|---|---|---|---|"
            if native_col:
                head += " × native, per round |"
                sep += "---|"
            w(head)
            w(sep)
            for key, label, command in s.variants:
                line = "| %s | `%s` | %s | %.2f× | %s |" % (
                    SC_LABELS.get(key, label), command, cell(s.values(key)),
                    s.ratio(key, "sc-plain"), rcell(s.per_round(key, "sc-plain")))
                if native_col:
                    line += " %s |" % rcell(s.per_round(key, "sc-native"))
                w(line)
            w("")
            if b.native:
                w("On systemd %d the launcher and attach drop-ins find native support and leave the "
                  "binding to PID 1 (which binds because the unit carries the key): their extra cost "
                  "is the launcher's start-up, unit parsing and (launcher form) exec." % b.version)
                w("")
    share = []
    for b in boots:
        s = b.systemctl
        if not (s and s.rounds):
            continue
        for key, what in (("sc-native", "native"), ("sc-launcher", "launcher drop-in"),
                          ("sc-attach", "attach drop-in")):
            if s.has(key):
                share.append("%s %s %+.0f %%" % (b.suite, what, 100 * (s.ratio(key, "sc-plain") - 1)))
    if share:
        w("The binding's share of a unit start, each against the same guest's start without the key "
          "(medians): " + "; ".join(share) + ". systemd 252 has no native form, so the launcher on "
          "252 is set against the native key on 262 through these relative figures, not through "
          "absolute times of two different guests.")
        w("")
    for b in boots:
        if not b.reload:
            continue
        w("Daemon-reload in %s, with %s running units bound in the generator's form (`[Service] "
          "BindNetworkInterface=vrf-test`, `ExecStart=/bin/sleep infinity`), %d rounds in %s s: each "
          "round times `systemctl daemon-reload`, then runs the installed generator as PID 1 does at "
          "a reload (its three directories, so it re-resolves the running units) with "
          "`SYSTEMD_LOG_LEVEL=debug`, whose last line gives the re-resolution's time: the walk and "
          "cgroup queries on the generator's prefetch thread (wall time, while the units load) plus "
          "the decisions and actions after the drop-ins are written." % (
              b.name, b.info.get("reload_units", "?"), len(b.reload), b.info.get("seconds_reload", "?")))
        w("")
        w("| what | median (min – max) |")
        w("|---|---|")
        w("| `systemctl daemon-reload` (the generator included) | %s |" % cell([r[0] for r in b.reload]))
        w("| the generator alone, run as at a reload | %s |" % cell([r[1] for r in b.reload]))
        w("| of which the re-resolution of the running units | %s |" % cell([r[2] for r in b.reload]))
        w("")
    w("Units (each also with `[Unit] StartLimitIntervalSec=0`): `bench-plain.service` is "
      "`[Service] Type=oneshot`, `ExecStart=/bin/true`; the others add a drop-in: "
      "`BindNetworkInterface=vrf-test` (native), `ExecStart=` + `ExecStart=/usr/lib/bindif-launch %n` "
      "+ `BindNetworkInterface=vrf-test` (launcher), `ExecStartPre=+/usr/lib/bindif-launch --attach %n` "
      "+ `BindNetworkInterface=vrf-test` (attach; what the generator adds on systemd < 260). "
      "The native form is only measured where systemd has the key (≥ 260).")
    w("")
    w("Commands, as root:")
    w("")
    w("```sh")
    w("scripts/bench --vm    # = tests/vm/run --bench target/bench/vm --suites bookworm,sid, then report.py")
    w("# in each guest (tests/vm/bench/start-bench.sh, in a scope; driver in .../x@vrf-test.service):")
    w("ip link add vrf-test type vrf table 10; ip link add bench0 type dummy; ip link set bench0 master vrf-test up")
    w("python3 startbench.py --variants EXEC_VARIANTS --seconds S/3 ...        # the exec group")
    w("python3 startbench.py --variants SYSTEMCTL_VARIANTS --seconds 2S/3 ...  # the systemctl group")
    w("```")
    w("")
    return "\n".join(out)


def splice(vm_path, report_path):
    vm = open(vm_path).read().splitlines()
    rows = [l for l in vm if TARGET_ROW.match(l)]
    try:
        start = vm.index("## " + SECTION)
    except ValueError:
        sys.exit("report.py: no '## %s' in %s" % (SECTION, vm_path))
    section = vm[start:]
    while section and section[-1] == "":
        section.pop()
    section = ["<!-- from %s, written by scripts/bench --vm -->" % os.path.basename(vm_path)] + section
    rep = open(report_path).read().splitlines()
    # drop what an earlier splice put in
    rep = [l for l in rep if not TARGET_ROW.match(l)]
    if "## " + SECTION in rep:
        i = rep.index("## " + SECTION)
        if i > 0 and rep[i - 1].startswith("<!-- from "):
            i -= 1
        j = i + 1
        while j < len(rep) and not (rep[j].startswith("## ") and rep[j] != "## " + SECTION):
            j += 1
        del rep[i:j]
    # the host report's placeholders
    rep = [l for l in rep if not (l.startswith("| start: ≤ 0.5× `ip vrf exec`") and "not measured here (VM)" in l)]
    if any("re-resolution ≤ 5%" in r for r in rows):
        rep = [l for l in rep if not (l.startswith("| issue 17: re-resolution ≤ 5%") and "not measured" in l)]
    rep = [l.replace("| not measured here (VM) |", "| measured in the VMs, see [below](%s) |" % ANCHOR) for l in rep]
    # target rows: at the end of the table under "## Targets"
    t = rep.index("## Targets")
    k = t + 1
    while k < len(rep) and not rep[k].startswith("|"):
        k += 1
    while k < len(rep) and rep[k].startswith("|"):
        k += 1
    rep[k:k] = rows
    # the section: before "## 2. ", else before "## Commands", else at the end
    at = next((i for i, l in enumerate(rep) if l.startswith("## 2. ")), None)
    if at is None:
        at = next((i for i, l in enumerate(rep) if l == "## Commands"), len(rep))
    rep[at:at] = section + [""]
    with open(report_path + ".tmp", "w") as f:
        f.write("\n".join(rep) + "\n")
    os.rename(report_path + ".tmp", report_path)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "render":
        sys.stdout.write(render(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "splice":
        splice(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__ or "usage: report.py render DIR | report.py splice VM REPORT")
