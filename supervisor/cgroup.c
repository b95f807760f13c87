/* What the container's memory cgroup says of the run (cgroup v1 or v2). */
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
