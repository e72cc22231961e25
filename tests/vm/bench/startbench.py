#!/usr/bin/python3
# startbench.py --variants FILE --out FILE [--rounds N] [--seconds S] [--warmup N]
# The guest-side timing driver of the VM start benchmark (start-bench.sh prepares everything).
# FILE holds one variant a line, "key<TAB>label<TAB>argv0<TAB>argv1...". Each round launches every
# variant once, in rotating order (round r starts with variant r mod n), by posix_spawn + waitpid
# with stdout/stderr on /dev/null, timed with perf_counter_ns. Stops after N rounds or once S
# seconds have passed (whichever comes first, at a round boundary). Every launch must exit 0.
# Writes raw samples: "# key<TAB>label<TAB>command" header lines, "# rounds=… seconds=…", then
# "round<TAB>key<TAB>ns" lines. Only builtin modules: the images have python3-minimal.
import os, sys, time

def arg(name, default=None):
    a = sys.argv[1:]
    return a[a.index(name) + 1] if name in a else default

variants = []
with open(arg("--variants")) as f:
    for line in f:
        line = line.rstrip("\n")
        if line and not line.startswith("#"):
            key, label, *argv = line.split("\t")
            variants.append((key, label, argv))
out = arg("--out")
max_rounds = int(arg("--rounds", "1000"))
budget_ns = int(float(arg("--seconds", "180")) * 1e9)
warmup = int(arg("--warmup", "2"))

devnull = os.open("/dev/null", os.O_WRONLY)
actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
env = dict(os.environ)

def launch(argv):
    t = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    dt = time.perf_counter_ns() - t
    return dt, os.waitstatus_to_exitcode(status)

n = len(variants)
for r in range(warmup):
    for key, label, argv in variants:
        _, rc = launch(argv)
        if rc != 0:
            sys.exit("startbench: warm-up: %s (%s) exited with %d" % (label, " ".join(argv), rc))

samples = []
start = time.perf_counter_ns()
rounds = 0
while rounds < max_rounds and time.perf_counter_ns() - start < budget_ns:
    for k in range(n):
        i = (rounds + k) % n
        dt, rc = launch(variants[i][2])
        if rc != 0:
            sys.exit("startbench: round %d: %s exited with %d" % (rounds, variants[i][1], rc))
        samples.append((rounds, variants[i][0], dt))
    rounds += 1
wall = (time.perf_counter_ns() - start) / 1e9

with open(out + ".tmp", "w") as f:
    for key, label, argv in variants:
        f.write("# %s\t%s\t%s\n" % (key, label, " ".join(argv)))
    f.write("# rounds=%d seconds=%.1f warmup=%d\n" % (rounds, wall, warmup))
    for r, key, dt in samples:
        f.write("%d\t%s\t%d\n" % (r, key, dt))
os.rename(out + ".tmp", out)
print("startbench: %d rounds of %d variants in %.1f s" % (rounds, n, wall))
