/* A run with test cases: build.sh once (when /sandbox holds one), then cyber-dojo.sh once per
 * case, each a step of its own (run.c), each case's result written as a 'Q' frame at once. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor.h"

#define BUILD "build.sh"

/* Whether /sandbox holds a regular build.sh, as the run's uid sees it. */
static int has_build(const ids_t *ids) {
    act_as_run(ids);
    struct stat st;
    int found = fstatat(AT_FDCWD, SANDBOX "/" BUILD, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode);
    act_as_self(ids);
    return found;
}

static void write_case(size_t index, const outcome_t *result, int started, int blocked) {
    char meta[CASE_META_MAX_BYTES];
    int n = snprintf(meta, sizeof meta, "index=%zu\nstatus=%d\ntimed_out=%d\nrun_ms=%ld\n"
                     "oom_kills=%ld\nstarted=%d\nblocked=%d\n",
                     index, result->status, result->timed_out, result->run_ms,
                     result->oom_kills, started, blocked);
    if (result->cpu_ms >= 0)
        n += snprintf(meta + n, sizeof meta - (size_t)n, "cpu_ms=%ld\n", result->cpu_ms);
    if (started)
        n += snprintf(meta + n, sizeof meta - (size_t)n, "memory_peak_kib=%ld\n",
                      result->maxrss_kib);
    unsigned char head[2] = {(unsigned char)(n >> 8), (unsigned char)n};
    unsigned char out_len[4] = {result->out.len >> 24, result->out.len >> 16,
                                result->out.len >> 8, result->out.len};
    size_t total = 2 + (size_t)n + 4 + result->out.len + result->err.len;
    frame_begin('Q', total);
    frame_put(head, 2);
    frame_put(meta, (size_t)n);
    frame_put(out_len, 4);
    frame_put(result->out.data, result->out.len);
    frame_put(result->err.data, result->err.len);
}

/* A case's time: its own limit, or else a fair share of what is left of the run's, never more
 * than what is left; 0 when not even a millisecond is. */
static long case_ms(const case_t *c, long left, size_t still_to_run) {
    if (left <= 0) return 0;
    long max_ms = c->max_ms > 0 ? c->max_ms : left / (long)still_to_run;
    return max_ms < left ? max_ms : left;
}

void run_cases(const ids_t *ids, const limits_t *limits, const case_list_t *cases,
               outcome_t *build) {
    long deadline = monotonic_ms() + limits->max_ms;
    step_end_t last = STEP_CLEAN;
    if (has_build(ids)) {
        frame_write('B', "", 0);
        input_t none = {0};
        step_t step = {"./" BUILD, NULL, &none, limits->max_ms};
        last = run_program(ids, limits, &step, build);
        if (last == STEP_UNFORKED) die_errno("fork build.sh");
        if (build->timed_out || build->status != 0) return;
    }
    for (size_t i = 0; i < cases->count; i++) {
        const case_t *c = &cases->items[i];
        outcome_t result = {.cpu_ms = -1};
        long max_ms = case_ms(c, deadline - monotonic_ms(), cases->count - i);
        /* Once a step's processes outlive every kill, or no process can be forked, no later
         * case starts: it would share the container with them. */
        int blocked = last != STEP_CLEAN;
        int started = max_ms > 0 && !blocked;
        if (started) {
            step_t step = {"./cyber-dojo.sh", c->args, &c->input, max_ms};
            long long cpu_before = cgroup_cpu_usec();
            last = run_program(ids, limits, &step, &result);
            started = last != STEP_UNFORKED;
            blocked = !started;
            long cpu_ms = cgroup_cpu_ms_since(cpu_before);
            result.cpu_ms = cpu_ms >= 0 ? cpu_ms : result.rusage_cpu_ms;
        }
        if (!started) {
            result = (outcome_t){.status = -1, .cpu_ms = -1};
            if (!blocked) build->timed_out = 1; /* the run's own time ran out before this case */
        }
        result.timed_out = result.timed_out || (!started && !blocked);
        build->run_ms += result.run_ms;
        build->oom_kills += result.oom_kills;
        write_case(i, &result, started, blocked);
        free(result.out.data);
        free(result.err.data);
    }
}
