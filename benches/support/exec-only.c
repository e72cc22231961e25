/* SPDX-License-Identifier: LGPL-2.1-or-later
 * The cheapest possible wrapper: a static binary that executes its arguments and does nothing
 * else. scripts/bench times it next to the launcher, so the start-overhead tables show the floor
 * that any launcher (this one, `ip vrf exec`) pays for being a second execve() in front of the
 * command, apart from what it does. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    execv(argv[1], argv + 1);
    perror("exec-only: execv");
    return 203;
}
