/* Who the supervisor is, and who the run is.
 *
 * The container starts this program as root with only CAP_SETUID, CAP_SETGID, CAP_KILL and
 * CAP_SETPCAP. SETUID/SETGID let it act as the run's uid on /sandbox and start the run as
 * that uid; KILL lets it kill the run's processes although they belong to another uid;
 * SETPCAP lets it empty the run's bounding set. It keeps them as its own non-root uid
 * (SELF). The run gets none of them: its bounding set is emptied, its other capability sets
 * are emptied explicitly after its uid change (a change between two non-root uids does not
 * clear them), and no-new-privileges stops any regain through execve.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "supervisor.h"

static void set_capabilities(uint32_t effective_and_permitted) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    data[0].effective = data[0].permitted = effective_and_permitted;
    if (syscall(SYS_capset, &header, data) != 0) die_errno("capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        die_errno("clear ambient capabilities");
}

/* Root → SELF with SETUID, SETGID and KILL; not dumpable, so nothing can attach to it. */
void become_self(const ids_t *ids) {
    if (getuid() != 0)
        die("must start as root (the container's user 0) with CAP_SETUID and CAP_SETGID");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die_errno("prctl(DUMPABLE)");
    if (setgroups(0, NULL) != 0) die_errno("setgroups");
    if (setresgid(ids->self_uid, ids->self_uid, ids->self_uid) != 0) die_errno("setresgid");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) die_errno("prctl(KEEPCAPS)");
    if (setresuid(ids->self_uid, ids->self_uid, ids->self_uid) != 0) die_errno("setresuid");
    set_capabilities(1u << CAP_SETUID | 1u << CAP_SETGID | 1u << CAP_KILL | 1u << CAP_SETPCAP);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) die_errno("prctl(KEEPCAPS)");
    /* A uid change resets dumpability to the system default: set it again. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die_errno("prctl(DUMPABLE)");
    /* Orphans of the run come to this process, which reaps them, even under docker-init. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die_errno("prctl(SUBREAPER)");
}

/* Files created from now on belong to the run's uid; only while no process of it lives. */
void act_as_run(const ids_t *ids) {
    if (setresgid(-1, ids->run_gid, -1) != 0) die_errno("setresgid(run)");
    if (setresuid(-1, ids->run_uid, -1) != 0) die_errno("setresuid(run)");
}

void act_as_self(const ids_t *ids) {
    if (setresuid(-1, ids->self_uid, -1) != 0) die_errno("setresuid(self)");
    if (setresgid(-1, ids->self_uid, -1) != 0) die_errno("setresgid(self)");
}

/* In the run's child, before exec: the run's uid, no groups, no capability. */
void become_run_for_good(const ids_t *ids) {
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) die_errno("empty the bounding set");
    if (setgroups(0, NULL) != 0) die_errno("setgroups(run)");
    if (setresgid(ids->run_gid, ids->run_gid, ids->run_gid) != 0) die_errno("setresgid(run)");
    if (setresuid(ids->run_uid, ids->run_uid, ids->run_uid) != 0) die_errno("setresuid(run)");
    set_capabilities(0);
}
