/*
 * Can a small static supervisor do its job in a greenbar run container? A research probe.
 *
 * IN   argv: probe GROUP E_UID S_UID [NPROC]   (each gid is its uid + 10000; NPROC, when not
 *      0, is the RLIMIT_NPROC E sets on S's processes)
 *      GROUP main: every step of the supervisor, and the attacks a sandbox uid could try on it;
 *      GROUP oom:  one OOM kill inside the memory limit (alone: under gVisor it may end the
 *                  whole container, and the main group's lines must not be lost with it).
 *      The container starts as root with only CAP_SETUID, CAP_SETGID and CAP_KILL, and mounts
 *      /sandbox (64 MiB, 16384 inodes) and /inodes (1 MiB, 64 inodes), both tmpfs owned by S
 *      with mode 0700, and this binary read-only at /probe/probe.
 * RUN  The probe becomes E (the supervisor's uid, keeping the three capabilities) and runs
 *      children as S with no capabilities, re-executing itself in an S role ("spy", "bomb",
 *      "spread", "hog") or a shell, exactly as a supervisor would run a learner's program.
 * OUT  One line per check on stdout: "ok NAME detail", "FAIL NAME detail" or "info NAME detail".
 *      Exit status 0 when no check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP_BIT(c) (1ULL << (c))
#define SUPERVISOR_CAPS (CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETGID) | CAP_BIT(CAP_KILL))
#define SANDBOX_DIR "/sandbox"
#define SANDBOX_BYTES (64ULL << 20)
#define SANDBOX_INODES 16384ULL
#define INODES_DIR "/inodes"
#define INODES_MAX 64
#define BOMB_CAP 1000 /* stop there even if nothing bounds the processes */
#define HOG_CAP_MIB 4096

static const char *self;
static uid_t e_uid, s_uid;
static gid_t e_gid, s_gid;
static int failures;
static int sigchld_pipe[2];
static rlim_t s_nproc, s_as; /* limits E sets on S's processes; 0: none */

/* Output: one write(2) per line, so children never duplicate a half-filled stdio buffer. */

static void line(const char *status, const char *name, const char *fmt, va_list ap) {
    char detail[768], out[1024];
    vsnprintf(detail, sizeof detail, fmt, ap);
    for (char *p = detail; *p; p++)
        if (*p == '\n' || *p == '\t') *p = p[1] ? ' ' : 0;
    int n = snprintf(out, sizeof out, "%s %s %s\n", status, name, detail);
    if (write(1, out, n > (int)sizeof out - 1 ? (int)sizeof out - 1 : n) < 0) _exit(3);
}

static void check(int ok, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    line(ok ? "ok" : "FAIL", name, fmt, ap);
    va_end(ap);
    if (!ok) failures++;
}

static void info(const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    line("info", name, fmt, ap);
    va_end(ap);
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Whether a call refused with EACCES or EPERM (what an attack on E must get). */
static int denied(int result) { return result < 0 && (errno == EACCES || errno == EPERM); }

static const char *outcome(int result) { return result < 0 ? strerror(errno) : "allowed"; }

/* Capabilities, through the raw system calls: a static binary without libcap. */

static int caps_get(uint64_t *effective, uint64_t *permitted) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0) return -1;
    *effective = d[0].effective | (uint64_t)d[1].effective << 32;
    *permitted = d[0].permitted | (uint64_t)d[1].permitted << 32;
    return 0;
}

static int caps_set(uint64_t caps) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{(uint32_t)caps, (uint32_t)caps, 0},
                                          {(uint32_t)(caps >> 32), (uint32_t)(caps >> 32), 0}};
    return (int)syscall(SYS_capset, &h, d);
}

/* A "Name:\tvalue" line of /proc/self/status, or "?" */
static void status_field(const char *field, char *value, size_t size) {
    char buf[4096];
    snprintf(value, size, "?");
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    for (char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        size_t len = strlen(field);
        if (strncmp(p, field, len) == 0 && p[len] == ':') {
            p += len + 1;
            while (*p == ' ' || *p == '\t') p++;
            size_t end = strcspn(p, "\n");
            snprintf(value, size, "%.*s", (int)end, p);
            return;
        }
    }
}

/* Reads a small file into buf; returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size - 1);
    int saved = errno;
    close(fd);
    errno = saved;
    if (n >= 0) buf[n] = 0;
    return n;
}

/* The number after "key " in a "key value" file (oom_control, memory.events, cpu.stat). */
static long long keyed(const char *path, const char *key) {
    char buf[4096];
    if (slurp(path, buf, sizeof buf) < 0) return -1;
    size_t len = strlen(key);
    for (char *p = buf; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, len) == 0 && p[len] == ' ') return atoll(p + len + 1);
    errno = ENOENT;
    return -1;
}

static long long number(const char *path) {
    char buf[64];
    if (slurp(path, buf, sizeof buf) < 0) return -1;
    return atoll(buf);
}

/* The S side: what a learner's program could try. Runs after the drop, then exec. */

static void spy(pid_t e_pid) {
    char path[64], link[256], value[64];
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    check(r == s_uid && e == s_uid && s == s_uid, "s.uids", "%u/%u/%u", r, e, s);
    gid_t groups[8];
    int n = getgroups(8, groups);
    check(n == 1 && groups[0] == s_gid, "s.groups", "%d groups, first %d", n,
          n > 0 ? (int)groups[0] : -1);
    uint64_t eff = 1, prm = 1;
    caps_get(&eff, &prm);
    status_field("CapBnd", value, sizeof value);
    check(eff == 0 && prm == 0, "s.no_caps", "eff=%llx prm=%llx (bounding %s)",
          (unsigned long long)eff, (unsigned long long)prm, value);
    int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    check(nnp == 1, "s.no_new_privs", "PR_GET_NO_NEW_PRIVS %d", nnp);
    snprintf(path, sizeof path, "/proc/%d/mem", e_pid);
    int fd = open(path, O_RDONLY);
    check(denied(fd), "s.open_e_mem", "%s: %s", path, outcome(fd));
    snprintf(path, sizeof path, "/proc/%d/fd/1", e_pid);
    fd = open(path, O_WRONLY);
    check(denied(fd), "s.open_e_fd", "%s: %s", path, outcome(fd));
    ssize_t l = readlink(path, link, sizeof link);
    check(denied((int)l), "s.readlink_e_fd", "%s: %s", path, outcome((int)l));
    snprintf(path, sizeof path, "/proc/%d/environ", e_pid);
    fd = open(path, O_RDONLY);
    check(denied(fd), "s.open_e_environ", "%s: %s", path, outcome(fd));
    snprintf(path, sizeof path, "/proc/%d/maps", e_pid);
    fd = open(path, O_RDONLY);
    check(denied(fd), "s.open_e_maps", "%s: %s", path, outcome(fd));
    snprintf(path, sizeof path, "/proc/%d/cwd/", e_pid);
    fd = open(path, O_RDONLY | O_DIRECTORY);
    check(denied(fd), "s.open_e_cwd", "%s: %s", path, outcome(fd));
    long p = ptrace(PTRACE_ATTACH, e_pid, 0, 0);
    check(denied((int)p), "s.ptrace_e", "PTRACE_ATTACH %d: %s", e_pid, outcome((int)p));
    int k = kill(e_pid, 0);
    check(denied(k), "s.signal_e", "kill(%d, 0): %s", e_pid, outcome(k));
    k = kill(e_pid, SIGKILL);
    check(denied(k), "s.kill_e", "kill(%d, SIGKILL): %s", e_pid, outcome(k));
    if (e_pid != 1) {
        k = kill(1, SIGKILL);
        check(denied(k), "s.kill_pid1", "kill(1, SIGKILL): %s", outcome(k));
    }
    int rc = setresuid(0, 0, 0);
    check(denied(rc), "s.cannot_become_root", "setresuid(0, 0, 0): %s", outcome(rc));
    rc = setresuid(e_uid, e_uid, e_uid);
    check(denied(rc), "s.cannot_become_e", "setresuid(E): %s", outcome(rc));
    fd = open("/probe/planted", O_WRONLY | O_CREAT, 0755);
    check(denied(fd) || (fd < 0 && errno == EROFS), "s.cannot_write_volume", "%s", outcome(fd));
    fd = open("/planted", O_WRONLY | O_CREAT, 0755);
    check(denied(fd) || (fd < 0 && errno == EROFS), "s.cannot_write_root", "%s", outcome(fd));
    fd = open(SANDBOX_DIR "/secret", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    check(fd >= 0 && write(fd, "s-secret\n", 9) == 9, "s.writes_sandbox", "%s", outcome(fd));
}

/* A fork bomb that keeps trying: every process forks until refused, then tries again. A shared
 * counter stops it at BOMB_CAP forks, so a runtime that bounds nothing cannot hurt the host. */
static void bomb(void) {
    struct { int forks, refused, reported; } *shared = mmap(NULL, sizeof *shared,
        PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) _exit(125);
    while (__atomic_load_n(&shared->forks, __ATOMIC_SEQ_CST) < BOMB_CAP) {
        pid_t pid = fork();
        if (pid > 0) {
            int forks = __atomic_add_fetch(&shared->forks, 1, __ATOMIC_SEQ_CST);
            if (forks == BOMB_CAP) dprintf(1, "bomb reached the probe's cap of %d forks\n", forks);
        } else if (pid < 0) {
            int saved = errno;
            if (__atomic_fetch_add(&shared->refused, 1, __ATOMIC_SEQ_CST) == 0)
                dprintf(1, "bomb first refused after %d forks: %s\n", shared->forks,
                        strerror(saved));
            usleep(1000);
        }
    }
    for (;;) pause();
}

/* Processes that try to escape kill(-1): new sessions, new groups, stopped, ignoring TERM. */
static void spread(void) {
    char out[64];
    for (int i = 0; i < 12; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (i % 3 == 0) setsid();
            if (i % 3 == 1) setpgid(0, 0);
            signal(SIGTERM, SIG_IGN);
            signal(SIGHUP, SIG_IGN);
            if (i % 4 == 0) raise(SIGSTOP);
            for (;;) pause();
        }
        int n = snprintf(out, sizeof out, "%d\n", pid);
        if (write(1, out, n) < 0) _exit(3);
    }
    _exit(0); /* the 12 are orphans now: reparented to the subreaper */
}

/* Touches memory 4 MiB at a time until killed. */
static void hog(void) {
    for (int mib = 0; mib < HOG_CAP_MIB; mib += 4) {
        char *p = malloc(4 << 20);
        if (!p) break;
        memset(p, mib & 0xff, 4 << 20);
    }
    _exit(0);
}

/* The E side. */

static void on_sigchld(int sig) {
    (void)sig;
    int saved = errno;
    (void)!write(sigchld_pipe[1], "c", 1); /* full: a wake-up is already pending */
    errno = saved;
}

/* Drops to uid/gid keeping `keep` (effective and permitted); reports each step when `checked`. */
static int drop_to(uid_t uid, gid_t gid, uint64_t keep, int checked) {
    int ok = 1, r;
    r = setgroups(1, &gid);
    if (checked) check(r == 0, "e.setgroups", "%s", outcome(r));
    ok &= r == 0;
    r = setresgid(gid, gid, gid);
    if (checked) check(r == 0, "e.setresgid", "%d: %s", gid, outcome(r));
    ok &= r == 0;
    if (keep) {
        r = prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
        if (checked) check(r == 0, "e.keepcaps", "%s", outcome(r));
        ok &= r == 0;
    }
    r = setresuid(uid, uid, uid);
    if (checked) check(r == 0, "e.setresuid", "%d: %s", uid, outcome(r));
    ok &= r == 0;
    r = caps_set(keep);
    if (checked) check(r == 0, "e.capset", "%s", outcome(r));
    ok &= r == 0;
    return ok ? 0 : -1;
}

struct run {
    int status;
    char out[16384];
    size_t out_n;
    char err[4096];
    size_t err_n;
    int timed_out;
    long kill_ms;      /* from kill(-1, SIGKILL) to kill(-1, 0) == ESRCH */
    int kill_rounds;   /* kill(-1, 0) calls it took */
    int reaped;        /* processes reaped, the child included */
    int left;          /* still there after 5 s: 0 unless kill(-1) missed some */
};

static void drain(int *fd, char *buf, size_t *n, size_t cap) {
    char scratch[4096];
    ssize_t got = read(*fd, scratch, sizeof scratch);
    if (got <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    size_t room = cap - 1 - *n;
    size_t take = (size_t)got < room ? (size_t)got : room;
    memcpy(buf + *n, scratch, take);
    *n += take;
    buf[*n] = 0;
}

/* Kills every process but pid 1 and E, reaping until none is left; never forks. */
static void kill_all(pid_t child, struct run *r) {
    long start = now_ms();
    int st;
    pid_t pid;
    kill(-1, SIGKILL);
    for (;;) {
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
            r->reaped++;
            if (pid == child) r->status = st;
        }
        r->kill_rounds++;
        if (kill(-1, 0) < 0 && errno == ESRCH) break;
        if (now_ms() - start > 5000) {
            r->left = 1;
            break;
        }
        kill(-1, SIGKILL); /* a process forked while the first kill went round */
        usleep(1000);
    }
    r->kill_ms = now_ms() - start;
}

/* Runs argv as S, relaying its output through pipes until it exits or the deadline passes;
 * then kills everything. The child's exit is seen through the SIGCHLD self-pipe, so a
 * background process holding the pipes open cannot keep E waiting. */
static void run_as_s(char *const argv[], long deadline_ms, struct run *r) {
    int out[2], err[2], st;
    memset(r, 0, sizeof *r);
    r->status = -1;
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        check(0, "e.pipes", "%s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        check(0, "e.fork", "%s", strerror(errno));
        return;
    }
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        if (drop_to(s_uid, s_gid, 0, 0) < 0) {
            dprintf(2, "drop to S failed: %s\n", strerror(errno));
            _exit(126);
        }
        struct rlimit nproc = {s_nproc, s_nproc}, as = {s_as, s_as};
        if ((s_nproc && setrlimit(RLIMIT_NPROC, &nproc) < 0) ||
            (s_as && setrlimit(RLIMIT_AS, &as) < 0)) {
            dprintf(2, "setrlimit: %s\n", strerror(errno));
            _exit(126);
        }
        execv(argv[0], argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    long deadline = now_ms() + deadline_ms;
    int exited = 0;
    while (!exited) {
        long left = deadline - now_ms();
        if (left <= 0) {
            r->timed_out = 1;
            break;
        }
        struct pollfd fds[3] = {
            {out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {sigchld_pipe[0], POLLIN, 0}};
        if (poll(fds, 3, (int)left) < 0 && errno != EINTR) break;
        if (fds[0].revents) drain(&out[0], r->out, &r->out_n, sizeof r->out);
        if (fds[1].revents) drain(&err[0], r->err, &r->err_n, sizeof r->err);
        if (fds[2].revents) {
            char scratch[64];
            while (read(sigchld_pipe[0], scratch, sizeof scratch) > 0) {
            }
            if (waitpid(pid, &st, WNOHANG) == pid) {
                r->status = st;
                r->reaped++;
                exited = 1;
            }
        }
    }
    kill_all(exited ? 0 : pid, r);
    while (out[0] >= 0) drain(&out[0], r->out, &r->out_n, sizeof r->out);
    while (err[0] >= 0) drain(&err[0], r->err, &r->err_n, sizeof r->err);
}

static void e_setup(void) {
    uint64_t eff = 0, prm = 0;
    char seccomp[32], bnd[32];
    caps_get(&eff, &prm);
    status_field("Seccomp", seccomp, sizeof seccomp);
    status_field("CapBnd", bnd, sizeof bnd);
    info("start", "pid %d ppid %d uid %d eff=%llx bnd=%s seccomp=%s", getpid(), getppid(), getuid(),
         (unsigned long long)eff, bnd, seccomp);
    check(getuid() == 0 && eff == SUPERVISOR_CAPS, "start.root_with_three_caps", "uid %d eff=%llx",
          getuid(), (unsigned long long)eff);
    int fd = open("/planted", O_WRONLY | O_CREAT, 0600);
    check(fd < 0 && errno == EROFS, "start.root_read_only", "root creating /planted: %s",
          outcome(fd));
    fd = open("/probe/planted", O_WRONLY | O_CREAT, 0600);
    check(fd < 0 && errno == EROFS, "start.volume_read_only", "root creating /probe/planted: %s",
          outcome(fd));
    drop_to(e_uid, e_gid, SUPERVISOR_CAPS, 1);
    caps_get(&eff, &prm);
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    check(r == e_uid && e == e_uid && s == e_uid && eff == SUPERVISOR_CAPS &&
              prm == SUPERVISOR_CAPS,
          "e.is_e_with_three_caps", "uids %u/%u/%u eff=%llx prm=%llx", r, e, s,
          (unsigned long long)eff, (unsigned long long)prm);
    int rc = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    check(rc == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, "e.not_dumpable", "%s", outcome(rc));
    rc = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    check(rc == 0, "e.subreaper", "PR_SET_CHILD_SUBREAPER as pid %d: %s", getpid(), outcome(rc));
    int on = -1;
    rc = prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0);
    info("e.subreaper_get", "PR_GET_CHILD_SUBREAPER %d: %s", on, outcome(rc));
    if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        check(0, "e.sigchld_pipe", "%s", strerror(errno));
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
}

static void e_relay_and_spy(void) {
    struct run r;
    char *sh[] = {"/bin/sh", "-c",
                  "echo out; echo err >&2; grep -E '^Cap(Eff|Prm)' /proc/self/status", NULL};
    run_as_s(sh, 5000, &r);
    check(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && strncmp(r.out, "out\n", 4) == 0 &&
              strcmp(r.err, "err\n") == 0,
          "e.runs_sh_as_s", "status %x, out %zu bytes, err %zu bytes", r.status, r.out_n, r.err_n);
    check(strstr(r.out, "CapEff:\t0000000000000000") && strstr(r.out, "CapPrm:\t0000000000000000"),
          "e.sh_has_no_caps", "%s", strstr(r.out, "Cap") ? strstr(r.out, "Cap") : r.out);
    char e[16], s[16], pid[16];
    snprintf(e, sizeof e, "%d", e_uid);
    snprintf(s, sizeof s, "%d", s_uid);
    snprintf(pid, sizeof pid, "%d", getpid());
    char *as_s[] = {(char *)self, "spy", e, s, pid, NULL};
    run_as_s(as_s, 5000, &r);
    if (write(1, r.out, r.out_n) < 0) _exit(3);
    failures += (int)(strstr(r.out, "FAIL ") != NULL);
    if (r.err_n) info("s.stderr", "%s", r.err);
    char *background[] = {"/bin/sh", "-c", "sleep 1000 & echo started", NULL};
    long t = now_ms();
    run_as_s(background, 5000, &r);
    check(!r.timed_out && WIFEXITED(r.status) && !r.left && now_ms() - t < 1000,
          "e.sigchld_not_eof_ends_the_run", "child exited, background sleep killed; %ld ms",
          now_ms() - t);
    check(r.reaped == 2, "e.orphans_come_to_e", "%d of 2 reaped by E (the orphaned sleep too)",
          r.reaped);
    char *forever[] = {"/bin/sh", "-c", "sleep 1000", NULL};
    t = now_ms();
    run_as_s(forever, 300, &r);
    check(r.timed_out && WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL && !r.left,
          "e.deadline_kill", "timed out after %ld ms, status %x, kill took %ld ms", now_ms() - t,
          r.status, r.kill_ms);
}

static void e_kill_reach(void) {
    struct run r;
    char *as_s[] = {(char *)self, "spread", NULL};
    run_as_s(as_s, 5000, &r);
    int total = 0, alive = 0;
    for (char *p = r.out; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        pid_t pid = atoi(p);
        if (pid <= 0) continue;
        total++;
        if (kill(pid, 0) == 0) alive++;
    }
    check(total == 12 && alive == 0 && !r.left, "e.kill_all_reaches_every_s_process",
          "%d spread (sessions, groups, stopped, TERM ignored), %d alive after, %d reaped, %ld ms",
          total, alive, r.reaped, r.kill_ms);
}

static void e_fork_bomb(void) {
    struct run r;
    char limit[64] = "?";
    if (slurp("/sys/fs/cgroup/pids/pids.max", limit, sizeof limit) < 0)
        slurp("/sys/fs/cgroup/pids.max", limit, sizeof limit);
    limit[strcspn(limit, "\n")] = 0;
    char *as_s[] = {(char *)self, "bomb", NULL};
    run_as_s(as_s, 1500, &r);
    info("s.bomb", "%s", r.out_n ? r.out : "said nothing");
    long long current = number("/sys/fs/cgroup/pids/pids.current");
    check(!r.left, "e.fork_bomb_killed_without_forking",
          "%d reaped in %ld ms (%d kill rounds), pids.max %s, pids.current after %lld", r.reaped,
          r.kill_ms, r.kill_rounds, limit, current);
    check(r.reaped < BOMB_CAP, "e.fork_bomb_bounded", "%d processes (the probe stops at %d)",
          r.reaped, BOMB_CAP);
    struct statvfs v;
    int rc = statvfs(SANDBOX_DIR, &v);
    check(rc == 0, "e.carries_on_after_bomb", "statvfs after the bomb: %s", outcome(rc));
}

static void e_files(void) {
    struct statvfs v;
    int rc = statvfs(SANDBOX_DIR, &v);
    unsigned long long bytes = (unsigned long long)v.f_blocks * v.f_frsize;
    check(rc == 0 && bytes == SANDBOX_BYTES, "e.statvfs_size", "%llu bytes (size=%llu)", bytes,
          SANDBOX_BYTES);
    check(rc == 0 && v.f_files == SANDBOX_INODES, "e.statvfs_inodes", "%llu inodes, %llu free",
          (unsigned long long)v.f_files, (unsigned long long)v.f_ffree);
    int fd = open(SANDBOX_DIR "/secret", O_RDONLY);
    check(denied(fd), "e.cannot_read_s_files_as_e", "%s", outcome(fd));
    if (fd >= 0) close(fd);
    rc = setresgid(-1, s_gid, -1) | setresuid(-1, s_uid, -1);
    check(rc == 0 && geteuid() == s_uid, "e.becomes_s_effectively", "%s", outcome(rc));
    char buf[64] = "";
    fd = open(SANDBOX_DIR "/secret", O_RDONLY | O_NOFOLLOW);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    check(n == 9 && strncmp(buf, "s-secret\n", 9) == 0, "e.reads_s_files_as_s", "%zd bytes: %s", n,
          outcome(fd));
    if (fd >= 0) close(fd);
    struct timespec ts[2] = {{1700000000, 123456789}, {1700000001, 987654321}};
    struct stat st;
    fd = open(SANDBOX_DIR "/secret", O_WRONLY | O_NOFOLLOW);
    rc = fd >= 0 ? futimens(fd, ts) : -1;
    fstat(fd, &st);
    check(rc == 0 && st.st_mtim.tv_sec == 1700000001 && st.st_mtim.tv_nsec == 987654321,
          "e.futimens_nanoseconds", "mtime %ld.%09ld: %s", st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
          outcome(rc));
    if (fd >= 0) close(fd);
    ts[1].tv_nsec = 1;
    rc = utimensat(AT_FDCWD, SANDBOX_DIR "/secret", ts, AT_SYMLINK_NOFOLLOW);
    stat(SANDBOX_DIR "/secret", &st);
    check(rc == 0 && st.st_mtim.tv_nsec == 1, "e.utimensat_nanoseconds", "mtime %ld.%09ld: %s",
          st.st_mtim.tv_sec, st.st_mtim.tv_nsec, outcome(rc));
    int made = 0, last_errno = 0;
    for (int i = 0; i < 4 * INODES_MAX; i++) {
        char path[64];
        snprintf(path, sizeof path, INODES_DIR "/f%d", i);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0) {
            last_errno = errno;
            break;
        }
        close(fd);
        made++;
    }
    statvfs(INODES_DIR, &v);
    for (int i = 0; i < made; i++) {
        char path[64];
        snprintf(path, sizeof path, INODES_DIR "/f%d", i);
        unlink(path);
    }
    check(last_errno == ENOSPC && made < INODES_MAX, "e.nr_inodes_enospc",
          "%d files then %s (nr_inodes=%d, statvfs %llu inodes)", made,
          last_errno ? strerror(last_errno) : "no error", INODES_MAX,
          (unsigned long long)v.f_files);
    static char chunk[1 << 16];
    long written = 0;
    fd = open(INODES_DIR "/big", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    errno = 0;
    while (fd >= 0 && written < (4 << 20)) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n <= 0) break;
        written += n;
    }
    check(errno == ENOSPC && written <= (1 << 20), "e.tmpfs_size_enospc",
          "%ld bytes written to a 1 MiB tmpfs, then %s", written,
          errno ? strerror(errno) : "no error");
    if (fd >= 0) close(fd);
    unlink(INODES_DIR "/big");
    rc = setresuid(-1, e_uid, -1) | setresgid(-1, e_gid, -1);
    check(rc == 0 && geteuid() == e_uid, "e.back_to_e", "%s", outcome(rc));
}

static int cgroup_v2(void) { return access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0; }

static long long oom_kills(void) {
    return cgroup_v2() ? keyed("/sys/fs/cgroup/memory.events", "oom_kill")
                       : keyed("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill");
}

/* CPU time and peak memory from wait4's accounting: what is left when cgroup files are not. */
static void e_rusage(void) {
    struct rusage before, after;
    struct run r;
    getrusage(RUSAGE_CHILDREN, &before);
    char *busy[] = {"/bin/sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done", NULL};
    run_as_s(busy, 10000, &r);
    getrusage(RUSAGE_CHILDREN, &after);
    long us = (after.ru_utime.tv_sec - before.ru_utime.tv_sec) * 1000000L +
              (after.ru_utime.tv_usec - before.ru_utime.tv_usec) +
              (after.ru_stime.tv_sec - before.ru_stime.tv_sec) * 1000000L +
              (after.ru_stime.tv_usec - before.ru_stime.tv_usec);
    check(us > 10000 && after.ru_maxrss > 0, "e.rusage_children",
          "%ld us CPU for a busy loop, maxrss %ld KiB", us, after.ru_maxrss);
}

static void e_cgroup(void) {
    int v2 = cgroup_v2();
    long long oom = oom_kills();
    check(oom >= 0, "e.cgroup_oom_count", "cgroup v%d oom_kill %lld: %s", v2 ? 2 : 1, oom,
          oom < 0 ? strerror(errno) : "read");
    long long cpu = v2 ? keyed("/sys/fs/cgroup/cpu.stat", "usage_usec")
                       : number("/sys/fs/cgroup/cpuacct/cpuacct.usage");
    check(cpu > 0, "e.cgroup_cpu_time", "%lld %s: %s", cpu, v2 ? "us" : "ns",
          cpu < 0 ? strerror(errno) : "read");
    long long peak = v2 ? number("/sys/fs/cgroup/memory.peak")
                        : number("/sys/fs/cgroup/memory/memory.max_usage_in_bytes");
    check(peak > 0, "e.cgroup_peak_memory", "%lld bytes: %s", peak,
          peak < 0 ? strerror(errno) : "read");
    long long limit = v2 ? number("/sys/fs/cgroup/memory.max")
                         : number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    info("e.cgroup_memory_limit", "%lld bytes", limit);
}

static void e_oom(void) {
    struct run r;
    char *as_s[] = {(char *)self, "hog", NULL};
    s_as = 96 << 20;
    run_as_s(as_s, 20000, &r);
    s_as = 0;
    check(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "e.rlimit_as_contains_a_hog",
          "RLIMIT_AS 96 MiB: status %x (0: malloc failed, no kill)", r.status);
    long long before = oom_kills();
    run_as_s(as_s, 20000, &r);
    long long after = oom_kills();
    check(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL, "e.oom_kills_the_s_process",
          "status %x, timed out %d", r.status, r.timed_out);
    check(after == before + 1, "e.oom_counted", "oom_kill %lld before, %lld after", before, after);
    info("e.survived_oom", "E still runs");
}

int main(int argc, char **argv) {
    self = argv[0];
    if (argc >= 2 && strcmp(argv[1], "bomb") == 0) bomb();
    if (argc >= 2 && strcmp(argv[1], "spread") == 0) spread();
    if (argc >= 2 && strcmp(argv[1], "hog") == 0) hog();
    if (argc < 4) {
        dprintf(2, "usage: %s main|oom E_UID S_UID [NPROC]\n", argv[0]);
        return 2;
    }
    e_uid = (uid_t)atoi(argv[2]);
    s_uid = (uid_t)atoi(argv[3]);
    e_gid = e_uid + 10000;
    s_gid = s_uid + 10000;
    if (strcmp(argv[1], "spy") == 0 && argc == 5) {
        spy((pid_t)atoi(argv[4])); /* here argv[4] is E's pid */
        return 0;
    }
    s_nproc = argc >= 5 ? (rlim_t)atol(argv[4]) : 0;
    e_setup();
    if (strcmp(argv[1], "oom") == 0) {
        e_oom();
    } else {
        e_relay_and_spy();
        e_files();
        e_rusage();
        e_cgroup();
        e_kill_reach();
        e_fork_bomb();
    }
    info("done", "%d failed", failures);
    return failures ? 1 : 0;
}
