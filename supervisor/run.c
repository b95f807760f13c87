/* Running one step (cyber-dojo.sh, or with cases build.sh and each case's cyber-dojo.sh): one
 * fork before anything of the step exists, then none until every process of it is gone.
 *
 * The supervisor reads the program's stdout and stderr itself (poll, no helper process),
 * learns of exits through a self-pipe written by its SIGCHLD handler, and ends the run with
 * kill(-1, SIGKILL): every process in the container but pid 1 and itself, whatever session
 * or process group it fled to. A fork bomb can use up the pids limit; the supervisor needs
 * no new process to stop it, report it and carry on.
 *
 * The run's standard input, when it has one, is written by the same loop: non-blocking, a
 * pipe's worth at a time as the run reads, so a program that prints much before it reads, or
 * never reads at all, cannot deadlock against the supervisor.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"

#define CHUNK 65536
#define DRAIN_AFTER_KILL_MS 2000 /* the pipes reach EOF at once once everything is dead */
#define SWEEP_MS 3000

extern char **environ;
static const char *const BASH_PATHS[] = {"/bin/bash", "/usr/bin/bash"};
static int wakeup[2] = {-1, -1};

/* The write end of the run's stdin and how much of the input it has taken; fd -1: closed. */
typedef struct {
    int fd;
    const unsigned char *data;
    size_t len, done;
} feeder_t;

static void on_child(int signum) {
    int saved = errno;
    (void)signum;
    if (write(wakeup[1], "", 1) < 0) { /* full: a wake-up is pending anyway */ }
    errno = saved;
}

/* The argument vector `shell` `script` ARGS..., allocated in the child just before exec. */
static char **arguments(const char *shell, const step_t *step) {
    size_t extra = 0;
    while (step->args != NULL && step->args[extra] != NULL) extra++;
    char **argv = checked_malloc((extra + 3) * sizeof *argv);
    argv[0] = (char *)shell;
    argv[1] = (char *)step->script;
    for (size_t i = 0; i < extra; i++) argv[2 + i] = step->args[i];
    argv[2 + extra] = NULL;
    return argv;
}

/* `in_fd`: the read end of the step's stdin pipe, or -1 for /dev/null. */
static void start_child(const ids_t *ids, const limits_t *limits, const step_t *step, int in_fd,
                        int out[2], int err[2]) {
    setsid();
    int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(126);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    /* The kernel's OOM killer takes the run's processes before the supervisor. */
    int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (adj >= 0) {
        if (write(adj, "1000", 4) < 0) { /* best effort */ }
        close(adj);
    }
    /* Counted per uid, and the run's uid is its container's own: a second bound on its
     * processes, and the only one under gVisor, whose own threads share the pids cgroup. */
    struct rlimit nproc = {(rlim_t)limits->nproc, (rlim_t)limits->nproc};
    if (limits->nproc > 0 && setrlimit(RLIMIT_NPROC, &nproc) != 0) die_errno("RLIMIT_NPROC");
    become_run_for_good(ids);
    umask(022);
    if (chdir(SANDBOX) != 0) die_errno("chdir " SANDBOX);
    /* cyber-dojo runs cyber-dojo.sh with bash, and most of its start points need it: bash
     * when the image has one the run's uid may execute, else the image's sh. Looked up here,
     * as that uid, so a warm container needs no knowledge of its image. */
    for (size_t i = 0; i < sizeof BASH_PATHS / sizeof *BASH_PATHS; i++)
        if (access(BASH_PATHS[i], X_OK) == 0) execve(BASH_PATHS[i], arguments("bash", step), environ);
    execvpe("sh", arguments("sh", step), environ);
    dprintf(2, "greenbar: cannot run sh %s: %s\n", step->script, strerror(errno));
    _exit(127);
}

/* Reads what is ready on `fd` into `buf` (keeping `cap` bytes); 0 at end of file. */
static int drain(int fd, buf_t *buf, size_t cap) {
    unsigned char chunk[CHUNK];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got > 0) {
            buf_append(buf, chunk, (size_t)got, cap);
            continue;
        }
        if (got < 0 && errno == EINTR) continue;
        return got < 0; /* EAGAIN: open still; 0: end of file */
    }
}

static void stop_feeding(feeder_t *in) {
    if (in->fd >= 0) close(in->fd);
    in->fd = -1;
}

/* Writes what the stdin pipe has room for; closes it once all is written or nobody reads. */
static void feed(feeder_t *in) {
    while (in->fd >= 0 && in->done < in->len) {
        size_t left = in->len - in->done;
        ssize_t put = write(in->fd, in->data + in->done, left < CHUNK ? left : CHUNK);
        if (put > 0) {
            in->done += (size_t)put;
            continue;
        }
        if (put < 0 && errno == EINTR) continue;
        if (put < 0 && errno == EAGAIN) return; /* full: poll says when it has room */
        stop_feeding(in);                       /* EPIPE: every reader has gone */
    }
    stop_feeding(in);
}

static int exit_status(int raw) {
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

/* Reaps every child that has exited; returns 1 once `child` is among them, its status and
 * resource use then in `outcome`. */
static int reap(pid_t child, outcome_t *outcome) {
    int raw, found = 0;
    struct rusage usage;
    pid_t pid;
    while ((pid = wait4(-1, &raw, WNOHANG, &usage)) > 0)
        if (pid == child && outcome != NULL) {
            outcome->status = exit_status(raw);
            outcome->maxrss_kib = usage.ru_maxrss; /* KiB on Linux */
            outcome->rusage_cpu_ms =
                (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000L +
                (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000L;
            found = 1;
        }
    return found;
}

/* Kills and reaps until no process but pid 1 and this one is left (bounded); returns 1 when
 * none is, 0 when some outlived SWEEP_MS. */
static int sweep(void) {
    long until = monotonic_ms() + SWEEP_MS;
    int left;
    while ((left = kill(-1, SIGKILL) == 0) && monotonic_ms() < until) {
        reap(-1, NULL);
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    reap(-1, NULL);
    return !left;
}

static void watch(pid_t child, int out_fd, int err_fd, feeder_t *in, const limits_t *limits,
                  long max_ms, outcome_t *outcome) {
    long started = monotonic_ms(), deadline = started + max_ms, killed_at = 0;
    int open_out = 1, open_err = 1, exited = 0;
    while (open_out || open_err || !exited) {
        long now = monotonic_ms();
        if (!exited && !killed_at && now >= deadline) {
            outcome->timed_out = 1;
            stop_feeding(in);
            kill(-1, SIGKILL);
            killed_at = now;
        }
        if (killed_at && exited && now - killed_at > DRAIN_AFTER_KILL_MS) break;
        if (killed_at) kill(-1, SIGKILL); /* gVisor's kill(-1) races forks: say it again */
        struct pollfd fds[4] = {{wakeup[0], POLLIN, 0},
                                {open_out ? out_fd : -1, POLLIN, 0},
                                {open_err ? err_fd : -1, POLLIN, 0},
                                {in->fd, POLLOUT, 0}};
        long wait = killed_at ? 50 : deadline - now;
        if (poll(fds, 4, (int)(wait > 0 ? wait : 0)) < 0 && errno != EINTR) die_errno("poll");
        char sink[64];
        while (read(wakeup[0], sink, sizeof sink) > 0) {}
        if (open_out && fds[1].revents) open_out = drain(out_fd, &outcome->out, limits->out_cap);
        if (open_err && fds[2].revents) open_err = drain(err_fd, &outcome->err, limits->out_cap);
        if (in->fd >= 0 && fds[3].revents) feed(in);
        if (!exited && reap(child, outcome)) {
            exited = 1;
            stop_feeding(in);
            outcome->run_ms = monotonic_ms() - started;
            /* Whatever cyber-dojo.sh left running dies now, so the pipes reach their end. */
            kill(-1, SIGKILL);
            if (!killed_at) killed_at = monotonic_ms();
        }
    }
}

/* Forks; a pids limit the last step's killed processes still count against is waited out.
 * -1 when no fork succeeded within SWEEP_MS. */
static pid_t fork_step(void) {
    long until = monotonic_ms() + SWEEP_MS;
    for (;;) {
        pid_t child = fork();
        if (child >= 0 || errno != EAGAIN || monotonic_ms() >= until) return child;
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
}

step_end_t run_program(const ids_t *ids, const limits_t *limits, const step_t *step,
                       outcome_t *outcome) {
    int out[2], err[2], in[2] = {-1, -1};
    const input_t *input = step->input;
    if ((wakeup[0] < 0 && pipe2(wakeup, O_CLOEXEC | O_NONBLOCK) != 0) ||
        pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
        (input->given && pipe2(in, O_CLOEXEC) != 0))
        die_errno("pipe");
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_child;
    action.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
    outcome->oom_kills = cgroup_oom_kills();
    pid_t child = fork_step();
    if (child < 0) {
        int saved = errno;
        int ends[6] = {out[0], out[1], err[0], err[1], in[0], in[1]};
        for (size_t i = 0; i < 6; i++)
            if (ends[i] >= 0) close(ends[i]);
        errno = saved;
        return STEP_UNFORKED;
    }
    if (child == 0) start_child(ids, limits, step, in[0], out, err);
    close(out[1]);
    close(err[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    feeder_t feeder = {in[1], input->data, input->len, 0};
    if (in[0] >= 0) {
        close(in[0]);
        fcntl(in[1], F_SETFL, O_NONBLOCK);
        feed(&feeder); /* as much as a pipe holds at once; all of a small input */
    }
    watch(child, out[0], err[0], &feeder, limits, step->max_ms, outcome);
    stop_feeding(&feeder);
    if (outcome->timed_out && outcome->run_ms == 0) outcome->run_ms = step->max_ms;
    int swept = sweep();
    close(out[0]);
    close(err[0]);
    long after = cgroup_oom_kills();
    outcome->oom_kills = after >= outcome->oom_kills ? after - outcome->oom_kills : 0;
    return swept ? STEP_CLEAN : STEP_STRANDED;
}
