/* SPDX-License-Identifier: LGPL-2.1-or-later
 * The cheapest wrapper that stays the command's parent: a static binary that starts its
 * arguments as a child (vfork, so no page tables are copied), waits, and exits with the child's
 * status. Ad hoc mode must stay the parent too (its command is born in a cgroup of its own,
 * which goes when the command ends), so scripts/bench times this next to it: the floor of that
 * shape, apart from what the launcher does. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    pid_t pid = vfork();
    if (pid < 0) {
        perror("spawn-only: vfork");
        return 71;
    }
    if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(203);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        perror("spawn-only: waitpid");
        return 71;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
