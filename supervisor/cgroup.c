/* What the container's cgroup says of the run (cgroup v1 or v2). Docker gives the container
 * a view of its own cgroup at /sys/fs/cgroup: on v2 (cgroup namespace private) its files are
 * at the top; on v1 each controller's are under its own directory. Under gVisor neither may
 * be there: the values are then unknown (-1), never guessed. */
#include <stdio.h>
#include <string.h>

#include "supervisor.h"

/* How many processes the OOM killer has killed in this container so far; 0 if unknown. */
long cgroup_oom_kills(void) {
    static const char *files[] = {"/sys/fs/cgroup/memory/memory.oom_control",
                                  "/sys/fs/cgroup/memory.events"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        FILE *f = fopen(files[i], "re");
        if (f == NULL) continue;
        char key[64];
        long value, found = 0;
        while (fscanf(f, "%63s %ld", key, &value) == 2)
            if (strcmp(key, "oom_kill") == 0) found = value;
        fclose(f);
        return found;
    }
    return 0;
}

/* The first number in `path` (or the one after `key`, when given); -1 if unreadable. */
static long long read_number(const char *path, const char *key) {
    FILE *f = fopen(path, "re");
    if (f == NULL) return -1;
    long long value, found = -1;
    if (key == NULL) {
        if (fscanf(f, "%lld", &value) == 1 && value >= 0) found = value;
    } else {
        char name[64];
        while (fscanf(f, "%63s %lld", name, &value) == 2)
            if (strcmp(name, key) == 0 && value >= 0) found = value;
    }
    fclose(f);
    return found;
}

/* CPU time (user + system) the container's processes have used, microseconds; -1 if unknown. */
long long cgroup_cpu_usec(void) {
    long long usec = read_number("/sys/fs/cgroup/cpu.stat", "usage_usec");
    if (usec >= 0) return usec;
    static const char *v1[] = {"/sys/fs/cgroup/cpuacct/cpuacct.usage",
                               "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage"};
    for (size_t i = 0; i < sizeof v1 / sizeof *v1; i++) {
        long long nsec = read_number(v1[i], NULL);
        if (nsec >= 0) return nsec / 1000;
    }
    return -1;
}

/* CPU time used since `before` (a cgroup_cpu_usec reading), milliseconds; -1 if unknown. */
long cgroup_cpu_ms_since(long long before) {
    long long now = cgroup_cpu_usec();
    return before >= 0 && now >= before ? (long)((now - before) / 1000) : -1;
}

/* The most memory the container's processes have held at once, KiB; -1 if unknown. It counts
 * the supervisor's own (the request, the output it keeps) and the page cache of what the run
 * wrote to its tmpfs, as the memory limit does. */
long cgroup_memory_peak_kib(void) {
    static const char *files[] = {"/sys/fs/cgroup/memory.peak",
                                  "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        long long bytes = read_number(files[i], NULL);
        if (bytes >= 0) return (long)(bytes / 1024);
    }
    return -1;
}
