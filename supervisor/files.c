/* The learner's files in /sandbox: written before the run, reported after it. Every call
 * here runs while the supervisor acts as the run's uid and no process of the run lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "supervisor.h"

#define CHUNK 65536

void files_delete(int rootfd, const char *name) {
    const char *leaf;
    int dirfd_ = open_parent(rootfd, name, 0, &leaf);
    if (dirfd_ < 0) return;
    remove_at(dirfd_, leaf);
    close(dirfd_);
}

/* 1 when the regular file `fd` holds exactly `data`. */
static int same_content(int fd, const unsigned char *data, size_t len) {
    unsigned char chunk[CHUNK];
    size_t done = 0;
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got == 0 && done == len;
        if ((size_t)got > len - done || memcmp(chunk, data + done, (size_t)got) != 0) return 0;
        done += (size_t)got;
    }
}

static int unchanged(int dirfd_, const char *leaf, const unsigned char *data, size_t len) {
    struct stat st;
    if (fstatat(dirfd_, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size != len) return 0;
    int fd = openat(dirfd_, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    int same = same_content(fd, data, len);
    close(fd);
    return same;
}

/* Writes a sent file unless /sandbox holds exactly its content already (a kata volume): an
 * unchanged file keeps its mtime, so incremental builds still work; a new or edited one gets
 * `mtime`, newer than anything the previous run wrote. */
void files_write(int rootfd, const char *name, uint32_t mode, const unsigned char *data,
                 size_t len, struct timespec mtime, unsigned char sha[32]) {
    sha256_t ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, data, len);
    sha256_final(&ctx, sha);
    const char *leaf;
    int dirfd_ = open_parent(rootfd, name, 1, &leaf);
    if (dirfd_ < 0) die_errno("make the directory of a sent file");
    mode &= 0777;
    if (unchanged(dirfd_, leaf, data, len)) {
        fchmodat(dirfd_, leaf, mode, 0);
        close(dirfd_);
        return;
    }
    if (remove_at(dirfd_, leaf) != 0) die_errno("replace a sent file");
    int fd = openat(dirfd_, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) die_errno("create a sent file");
    write_all(fd, data, len);
    struct timespec times[2] = {mtime, mtime};
    if (fchmod(fd, mode) != 0 || futimens(fd, times) != 0) die_errno("set a sent file's mode");
    close(fd);
    close(dirfd_);
}

/* Reads the file `name`: its first `cap` bytes into `head`, its SHA-256 into `sha` if given
 * (reading it all). Returns -1 if it cannot be opened as a regular file. */
static int read_file(int rootfd, const char *name, size_t cap, buf_t *head, unsigned char *sha) {
    int fd = openat(rootfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    sha256_t ctx;
    sha256_init(&ctx);
    unsigned char chunk[CHUNK];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        buf_append(head, chunk, (size_t)got, cap);
        if (sha == NULL && head->len >= cap) break;
        if (sha != NULL) sha256_update(&ctx, chunk, (size_t)got);
    }
    if (sha != NULL) sha256_final(&ctx, sha);
    close(fd);
    return 0;
}

static int is_text(const buf_t *head) {
    size_t sniff = head->len < TEXT_SNIFF_BYTES ? head->len : TEXT_SNIFF_BYTES;
    return sniff == 0 || memchr(head->data, '\0', sniff) == NULL;
}

/* Whether a file whose first bytes are `head` is reported: text always, binary when asked. */
static int reportable(const limits_t *limits, const buf_t *head) {
    return limits->binary || is_text(head);
}

static sent_t *find_sent(sent_list_t *sent, const char *name) {
    for (size_t i = 0; i < sent->count; i++)
        if (strcmp(sent->items[i].name, name) == 0) return &sent->items[i];
    return NULL;
}

static int same_stat(const struct stat *a, const struct stat *b) {
    return a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void report_changed(int rootfd, const limits_t *limits, sent_t *file) {
    buf_t head = {0};
    unsigned char sha[32];
    file->present = 1;
    if (read_file(rootfd, file->name, limits->out_cap, &head, sha) == 0 &&
        memcmp(sha, file->sha, sizeof sha) != 0 && reportable(limits, &head))
        frame_write_named('C', file->name, head.data, head.len);
    free(head.data);
}

/* Reports the reportable files among `candidates` (sorted), the first created_max; 1 when
 * more such files were left out. */
static int report_created(int rootfd, const limits_t *limits, char **candidates, size_t count) {
    size_t reported = 0;
    for (size_t i = 0; i < count; i++) {
        buf_t head = {0};
        int ok = read_file(rootfd, candidates[i], limits->out_cap, &head, NULL) == 0 &&
                 reportable(limits, &head);
        if (ok && reported == limits->created_max) {
            free(head.data);
            return 1;
        }
        if (ok) {
            frame_write_named('N', candidates[i], head.data, head.len);
            reported++;
        }
        free(head.data);
    }
    return 0;
}

static long sandbox_kib(int rootfd) {
    struct statvfs fs;
    if (fstatvfs(rootfd, &fs) != 0) return -1;
    return (long)((fs.f_blocks - fs.f_bfree) * fs.f_frsize / 1024);
}

/* Writes the file frames and the closing metrics frame of the result. */
void files_harvest(int rootfd, const limits_t *limits, sent_list_t *sent, const tree_t *before,
                   const outcome_t *outcome) {
    tree_t after = {0};
    tree_scan(rootfd, &after);
    tree_sort(&after);
    char **candidates = checked_malloc(after.count * sizeof *candidates);
    size_t count = 0, kept = 0;
    for (size_t i = 0; i < after.count; i++) {
        const entry_t *entry = &after.items[i];
        sent_t *file = find_sent(sent, entry->name);
        if (file != NULL) {
            report_changed(rootfd, limits, file);
            continue;
        }
        if (kept < limits->kept_max) frame_write('K', entry->name, strlen(entry->name));
        kept++;
        const entry_t *was = tree_find(before, entry->name);
        if (was == NULL || !same_stat(&was->st, &entry->st)) candidates[count++] = entry->name;
    }
    for (size_t i = 0; i < sent->count; i++)
        if (!sent->items[i].present)
            frame_write('X', sent->items[i].name, strlen(sent->items[i].name));
    int more_created = report_created(rootfd, limits, candidates, count);
    char metrics[512];
    int n = snprintf(metrics, sizeof metrics,
                     "oom_kills=%ld\nrun_ms=%ld\nsandbox_kib=%ld\ncreated_truncated=%d\n"
                     "kept_truncated=%d\n",
                     outcome->oom_kills, outcome->run_ms, sandbox_kib(rootfd),
                     more_created || after.truncated,
                     limits->kept_max > 0 && (kept > limits->kept_max || after.truncated));
    frame_write('M', metrics, (size_t)n);
    free(candidates);
}
