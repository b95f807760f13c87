/* greenbar-supervisor: see supervisor.h for the protocol. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "supervisor.h"

static unsigned long id_argument(const char *text) {
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value == 0 || value > 0x7fffffffUL)
        die("usage: greenbar-supervisor RUN_UID RUN_GID SELF_UID (non-zero numbers)");
    return value;
}

static void write_result(const outcome_t *outcome) {
    char status[16];
    int n = snprintf(status, sizeof status, "%d", outcome->status);
    frame_write('S', status, (size_t)n);
    if (outcome->timed_out) frame_write('T', "", 0);
    frame_write('O', outcome->out.data, outcome->out.len);
    frame_write('R', outcome->err.data, outcome->err.len);
}

/* Reads the cgroup once the run's last process is gone: `cpu_before` is its CPU counter
 * (microseconds) from before the run, so the time spent waiting for the request is left out. */
static void measure(outcome_t *outcome, long long cpu_before) {
    outcome->cpu_ms = cgroup_cpu_ms_since(cpu_before);
    outcome->memory_peak_kib = cgroup_memory_peak_kib();
}

static void write_usage(const outcome_t *outcome) {
    char usage[USAGE_MAX_BYTES];
    size_t n = 0;
    if (outcome->cpu_ms >= 0)
        n += (size_t)snprintf(usage + n, sizeof usage - n, "cpu_ms=%ld\n", outcome->cpu_ms);
    if (outcome->memory_peak_kib >= 0)
        n += (size_t)snprintf(usage + n, sizeof usage - n, "memory_peak_kib=%ld\n",
                              outcome->memory_peak_kib);
    frame_write('U', usage, n);
}

int main(int argc, char **argv) {
    if (argc != 4) die("usage: greenbar-supervisor RUN_UID RUN_GID SELF_UID");
    ids_t ids = {(uid_t)id_argument(argv[1]), (gid_t)id_argument(argv[2]),
                 (uid_t)id_argument(argv[3])};
    if (ids.run_uid == ids.self_uid) die("the run's uid must differ from the supervisor's");
    become_self(&ids);
    limits_t limits = {.created_max = 16}; /* the rest 0 until the request says */
    sent_list_t sent = {0};
    tree_t before = {0};
    input_t input = {0};
    case_list_t cases = {0};
    frames_read_input(&ids, &limits, &input, &cases, &sent, &before);
    outcome_t outcome = {0};
    long long cpu_before = cgroup_cpu_usec();
    if (cases.count > 0) {
        run_cases(&ids, &limits, &cases, &outcome);
    } else {
        step_t step = {"./cyber-dojo.sh", NULL, &input, limits.max_ms};
        if (run_program(&ids, &limits, &step, &outcome) == STEP_UNFORKED) die_errno("fork");
    }
    measure(&outcome, cpu_before);
    write_result(&outcome);
    write_usage(&outcome);
    act_as_run(&ids);
    int rootfd = open(SANDBOX, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) die_errno("open " SANDBOX);
    files_harvest(rootfd, &limits, &sent, &before, &outcome);
    frame_write('E', "", 0);
    frames_flush();
    return 0;
}
