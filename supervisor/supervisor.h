/* greenbar's sandbox supervisor: the first process of every run container.
 *
 * It starts as root holding only CAP_SETUID, CAP_SETGID, CAP_KILL and CAP_SETPCAP (the
 * container's cap_add), at once becomes a uid of its own (SELF) keeping those four, and runs
 * the learner's cyber-dojo.sh as another uid (RUN) with no capability at all, not even in its
 * bounding set. RUN can neither read SELF's memory nor write to its descriptors nor signal it,
 * so the result stream on SELF's stdout cannot be reached or imitated by the run. SELF never
 * forks while a process of the run lives (each step's fork comes after the previous step's
 * processes are all killed and reaped), so a fork bomb cannot starve it.
 *
 * Usage: greenbar-supervisor RUN_UID RUN_GID SELF_UID
 *
 * IN (stdin): the magic "GBRUN01\n", then frames TYPE(1 byte) LENGTH(4 bytes, big-endian)
 * PAYLOAD, until 'E':
 *   'L' limits, "key=value\n" lines: max_ms, out_cap, created_max, kept_max, nproc, binary
 *       (1: binary files are reported too, not only text ones); the first frame
 *   'V' the run's own variables, "NAME=value\n" lines, each NAME starting CYBER_DOJO_ (at most
 *       one frame, VARIABLES_MAX_BYTES): CYBER_DOJO_ID, CYBER_DOJO_IMAGE_NAME
 *   'H' a helper file for the run's home, /home/sandbox (e.g. cyber_dojo_fs_cleaners.sh, which
 *       cyber-dojo's start points source): as 'F' below, at most HOME_FILE_MAX_BYTES, never
 *       reported
 *   'I' the run's standard input, its bytes (at most one frame, INPUT_MAX_BYTES); without
 *       one, cyber-dojo.sh reads /dev/null
 *   'A' a test case (at most CASES_MAX, in order): MAX_MS(4) FLAGS(1) ARGC(2), ARGC times
 *       LENGTH(2) ARGUMENT (no NUL, at most CASE_ARG_MAX_BYTES each, CASE_ARGS_MAX of them),
 *       then the case's standard input (FLAGS bit 0: it has one; else /dev/null). MAX_MS 0:
 *       a fair share, what is left of max_ms divided by the cases still to run
 *   'D' a name to delete from /sandbox (a kata volume: a file the client no longer sends)
 *   'F' a file: NAME_LENGTH(2) NAME MODE(4) CONTENT; written only if its content differs
 *       from what /sandbox holds, with an mtime newer than anything there
 *   'E' end: the run starts
 * RUN without cases: bash ./cyber-dojo.sh (the first of /bin/bash, /usr/bin/bash the run's uid may execute;
 *   else sh from PATH) in /sandbox, in a session of its own, stdin a pipe the supervisor
 *   writes the 'I' bytes into (closed once all are written, or when the run exits or times
 *   out) or else /dev/null, stdout and stderr through pipes of which the first out_cap bytes
 *   are kept; when it exits, or at max_ms, every other process in the container is killed.
 * RUN with cases: first bash ./build.sh, when /sandbox holds one, bounded by max_ms; if it
 *   fails (a status other than 0, or max_ms) no case runs. Then, in order, one run of
 *   bash ./cyber-dojo.sh ARGUMENTS... per case, with the case's stdin, bounded by the case's
 *   MAX_MS and by what is left of max_ms. Every step runs as above, and after each one every
 *   other process in the container is killed before the next one forks: no process of one
 *   step lives into the next. Files in /sandbox carry over from step to step.
 * OUT (stdout): the magic "GBOUT01\n", then frames as above, until 'E':
 *   'S' the exit status (decimal)   'T' it timed out (empty)
 *   'O' stdout head                 'R' stderr head
 *   'C' a sent file the run changed (text only unless binary=1): NAME_LENGTH(2) NAME HEAD
 *   'N' a file not sent that the run created or rewrote (text only unless binary=1, the
 *       first created_max by name): NAME_LENGTH(2) NAME HEAD
 *   'X' a sent file the run deleted: NAME     'K' a file not sent the volume keeps: NAME
 *   'M' "key=value\n" lines: oom_kills run_ms sandbox_kib created_truncated kept_truncated
 *       (run_ms: cyber-dojo.sh's own wall time, from its fork to its exit; with cases,
 *       build.sh's and every case's together)
 *   'U' the resources the run used, as its container's cgroup counts them (at most one frame,
 *       USAGE_MAX_BYTES): "key=value\n" lines, non-negative decimals, each key left out when
 *       the cgroup cannot be read (gVisor): cpu_ms (user + system, from just before the fork
 *       to the end of the run's last process) memory_peak_kib (the container's high-water
 *       mark, the supervisor's own memory included)
 *   'B' build.sh ran first (empty): 'S' 'T' 'O' 'R' above are its; without cases they are
 *       cyber-dojo.sh's, and with cases but no build.sh 'S' is 0 and 'O' 'R' are empty. 'T'
 *       with cases: build.sh timed out, or a case never started for want of time
 *   'Q' a case's result, one per case sent, in order: META_LENGTH(2) META STDOUT_LENGTH(4)
 *       STDOUT-HEAD STDERR-HEAD, META "key=value\n" lines (at most CASE_META_MAX_BYTES):
 *       index status timed_out run_ms oom_kills started (0: it never ran, status -1)
 *       blocked (1: it never ran because a process of an earlier step outlived every kill,
 *       or none could be forked; 0 with started 0: the run's time ran out, timed_out 1),
 *       cpu_ms when known (the container's cgroup over the case, else the case's own
 *       rusage), memory_peak_kib when it ran (the largest resident set of cyber-dojo.sh and
 *       the descendants it waited for: wait4's ru_maxrss)
 *   'E' end
 * Errors go to stderr as one line and end the process with a non-zero status.
 */
#ifndef GREENBAR_SUPERVISOR_H
#define GREENBAR_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SANDBOX "/sandbox"
#define HOME "/home/sandbox"
#define HOME_FILE_MAX_BYTES 65536
#define NAME_MAX_BYTES 4096
#define FRAME_MAX_BYTES (64u << 20)
#define VARIABLES_MAX_BYTES 4096
#define USAGE_MAX_BYTES 256
#define INPUT_MAX_BYTES FRAME_MAX_BYTES
#define VARIABLE_PREFIX "CYBER_DOJO_"
#define CASES_MAX 256
#define CASE_ARGS_MAX 64
#define CASE_ARG_MAX_BYTES 4096
#define CASE_META_MAX_BYTES 256
#define TEXT_SNIFF_BYTES 8000 /* as git does: a NUL in the first 8000 bytes means binary */
/* Bounds the supervisor's own memory where a tmpfs has no inode limit (gVisor ignores it). */
#define TREE_MAX_FILES 65536

typedef struct {
    unsigned char *data;
    size_t len, cap;
} buf_t;

/* The run's standard input: `given` 0 means none (/dev/null). */
typedef struct {
    unsigned char *data;
    size_t len;
    int given;
} input_t;

/* A test case: cyber-dojo.sh's extra arguments (NULL-terminated), its stdin, its limit. */
typedef struct {
    char **args;
    input_t input;
    long max_ms; /* 0: a fair share of what is left */
} case_t;

typedef struct {
    case_t *items;
    size_t count;
} case_list_t;

typedef struct {
    uid_t run_uid;
    gid_t run_gid;
    uid_t self_uid;
} ids_t;

typedef struct {
    long max_ms;
    size_t out_cap;
    size_t created_max;
    size_t kept_max;
    long nproc; /* RLIMIT_NPROC of the run's uid, 0: none */
    int binary; /* 1: report binary files (see TEXT_SNIFF_BYTES) the run changed or created */
} limits_t;

/* A regular file under /sandbox, as lstat saw it. */
typedef struct {
    char *name;
    struct stat st;
} entry_t;

typedef struct {
    entry_t *items;
    size_t count, cap;
    struct timespec newest; /* the latest mtime of anything seen, files or directories */
    int truncated;          /* more files than TREE_MAX_FILES: the rest were not listed */
} tree_t;

typedef struct {
    char *name;
    unsigned char sha[32];
    int present;
} sent_t;

typedef struct {
    sent_t *items;
    size_t count, cap;
} sent_list_t;

typedef struct {
    int status;
    int timed_out;
    long run_ms;
    long oom_kills;
    long cpu_ms;          /* the container's CPU time over the run, user + system; -1 unknown */
    long memory_peak_kib; /* the container's memory high-water mark; -1 unknown */
    buf_t out, err;
    long maxrss_kib; /* the largest resident set among the step's waited-for processes */
    long rusage_cpu_ms; /* user + system of those processes */
} outcome_t;

/* One program the supervisor runs: `script` in /sandbox with `args`, fed `input`. */
typedef struct {
    const char *script;
    char *const *args; /* NULL-terminated, or NULL for none */
    const input_t *input;
    long max_ms;
} step_t;

/* How a step ended: ran and left nothing behind; ran but some process of it outlived every
 * kill; never ran, for want of a process to fork (errno says why). */
typedef enum { STEP_CLEAN, STEP_STRANDED, STEP_UNFORKED } step_end_t;

/* util.c */
void die(const char *what) __attribute__((noreturn));
void die_errno(const char *what) __attribute__((noreturn));
void *checked_malloc(size_t size);
char *checked_strdup(const char *text, size_t len);
void buf_append(buf_t *buf, const void *data, size_t len, size_t cap);
int read_exact(int fd, void *data, size_t len);
void write_all(int fd, const void *data, size_t len);
long monotonic_ms(void);
int valid_name(const char *name, size_t len);

/* privileges.c */
void become_self(const ids_t *ids);
void act_as_run(const ids_t *ids);
void act_as_self(const ids_t *ids);
void become_run_for_good(const ids_t *ids);

/* tree.c */
void tree_scan(int rootfd, tree_t *tree);
void tree_sort(tree_t *tree);
const entry_t *tree_find(const tree_t *tree, const char *name);
int remove_at(int dirfd, const char *name);
int open_parent(int rootfd, const char *name, int create, const char **leaf);

/* files.c */
void files_delete(int rootfd, const char *name);
void files_write(int rootfd, const char *name, uint32_t mode, const unsigned char *data,
                 size_t len, struct timespec mtime, unsigned char sha[32]);
void files_harvest(int rootfd, const limits_t *limits, sent_list_t *sent, const tree_t *before,
                   const outcome_t *outcome);

/* frames.c */
void frames_read_input(const ids_t *ids, limits_t *limits, input_t *input, case_list_t *cases,
                       sent_list_t *sent, tree_t *before);
void frame_write(char type, const void *data, size_t len);
void frame_write_named(char type, const char *name, const void *data, size_t len);
void frame_begin(char type, size_t len);
void frame_put(const void *data, size_t len);
void frames_flush(void);

/* run.c */
step_end_t run_program(const ids_t *ids, const limits_t *limits, const step_t *step,
                       outcome_t *outcome);

/* cases.c */
void run_cases(const ids_t *ids, const limits_t *limits, const case_list_t *cases,
               outcome_t *build);

/* cgroup.c */
long cgroup_oom_kills(void);
long long cgroup_cpu_usec(void);
long cgroup_cpu_ms_since(long long before);
long cgroup_memory_peak_kib(void);

/* sha256.c */
typedef struct {
    uint32_t state[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t used;
} sha256_t;
void sha256_init(sha256_t *ctx);
void sha256_update(sha256_t *ctx, const void *data, size_t len);
void sha256_final(sha256_t *ctx, unsigned char digest[32]);

#endif
