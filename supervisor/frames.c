/* The two streams: greenbar's request on stdin, the result on stdout (see supervisor.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"

#define IN_MAGIC "GBRUN01\n"
#define OUT_MAGIC "GBOUT01\n"

static buf_t out;
static int started;

void frames_flush(void) {
    write_all(1, out.data, out.len);
    out.len = 0;
}

static void put(const void *data, size_t len) {
    if (!started) {
        started = 1;
        put(OUT_MAGIC, strlen(OUT_MAGIC));
    }
    buf_append(&out, data, len, (size_t)-1);
    if (out.len >= 1 << 20) frames_flush();
}

static void put_u32(uint32_t value) {
    unsigned char bytes[4] = {value >> 24, value >> 16, value >> 8, value};
    put(bytes, 4);
}

void frame_write(char type, const void *data, size_t len) {
    put(&type, 1);
    put_u32((uint32_t)len);
    put(data, len);
}

/* A frame written in pieces: its header now, then `len` bytes in all through frame_put. */
void frame_begin(char type, size_t len) {
    put(&type, 1);
    put_u32((uint32_t)len);
}

void frame_put(const void *data, size_t len) {
    put(data, len);
}

void frame_write_named(char type, const char *name, const void *data, size_t len) {
    size_t name_len = strlen(name);
    unsigned char prefix[2] = {name_len >> 8, name_len};
    put(&type, 1);
    put_u32((uint32_t)(2 + name_len + len));
    put(prefix, 2);
    put(name, name_len);
    put(data, len);
}

static uint32_t u32_at(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static long number(const char *text, const char *key) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0) {
        dprintf(2, "greenbar-supervisor: limit %s=%s is not a number\n", key, text);
        _exit(72);
    }
    return value;
}

static void parse_limits(unsigned char *payload, size_t len, limits_t *limits) {
    char *text = checked_strdup((const char *)payload, len), *line, *save = NULL;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq == NULL) die("a limit without '='");
        *eq = '\0';
        long value = number(eq + 1, line);
        if (strcmp(line, "max_ms") == 0) limits->max_ms = value;
        else if (strcmp(line, "out_cap") == 0) limits->out_cap = (size_t)value;
        else if (strcmp(line, "created_max") == 0) limits->created_max = (size_t)value;
        else if (strcmp(line, "kept_max") == 0) limits->kept_max = (size_t)value;
        else if (strcmp(line, "nproc") == 0) limits->nproc = value;
        else if (strcmp(line, "binary") == 0) limits->binary = value != 0;
        else die("an unknown limit");
    }
    free(text);
    if (limits->max_ms <= 0 || limits->out_cap == 0) die("max_ms and out_cap are required");
}

/* The run's variables: only CYBER_DOJO_* names, so no frame can set PATH or LD_PRELOAD for
 * the run; set in the supervisor's own environment, which the run inherits. */
static void set_variables(const unsigned char *payload, size_t len) {
    if (len > VARIABLES_MAX_BYTES || memchr(payload, '\0', len) != NULL)
        die("a variables frame too large or with a NUL");
    char *text = checked_strdup((const char *)payload, len), *line, *save = NULL;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        size_t prefix = strlen(VARIABLE_PREFIX);
        if (eq == NULL || strncmp(line, VARIABLE_PREFIX, prefix) != 0 || eq == line + prefix)
            die("a variable not named CYBER_DOJO_*");
        for (const char *c = line; c < eq; c++)
            if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
                die("a variable name not of A-Z, 0-9 and _");
        *eq = '\0';
        if (setenv(line, eq + 1, 1) != 0) die_errno("setenv");
    }
    free(text);
}

static void add_sent(sent_list_t *sent, const char *name, size_t len, unsigned char sha[32]) {
    if (sent->count == sent->cap) {
        sent->cap = sent->cap ? sent->cap * 2 : 32;
        sent->items = realloc(sent->items, sent->cap * sizeof *sent->items);
        if (sent->items == NULL) die("out of memory");
    }
    sent_t *file = &sent->items[sent->count++];
    file->name = checked_strdup(name, len);
    memcpy(file->sha, sha, 32);
    file->present = 0;
}

/* A file frame: NAME_LENGTH(2) NAME MODE(4) CONTENT; `sent` NULL for a home file. */
static void take_file(int rootfd, const unsigned char *p, size_t len, struct timespec mtime,
                      sent_list_t *sent) {
    if (len < 6) die("a file frame too short");
    size_t name_len = (size_t)p[0] << 8 | p[1];
    if (len < 6 + name_len || !valid_name((const char *)p + 2, name_len))
        die("a file frame with a bad name");
    char *name = checked_strdup((const char *)p + 2, name_len);
    unsigned char sha[32];
    files_write(rootfd, name, u32_at(p + 2 + name_len), p + 6 + name_len, len - 6 - name_len,
                mtime, sha);
    if (sent != NULL) add_sent(sent, name, name_len, sha);
    free(name);
}

/* A case frame: MAX_MS(4) FLAGS(1) ARGC(2), then each argument LENGTH(2) BYTES, then stdin. */
static void add_case(case_list_t *cases, unsigned char *p, size_t len) {
    if (cases->count == CASES_MAX) die("more than CASES_MAX cases");
    if (len < 7) die("a case frame too short");
    if (cases->items == NULL) cases->items = checked_malloc(CASES_MAX * sizeof *cases->items);
    case_t *c = &cases->items[cases->count++];
    c->max_ms = (long)u32_at(p);
    size_t argc = (size_t)p[5] << 8 | p[6], at = 7;
    if (argc > CASE_ARGS_MAX) die("a case with too many arguments");
    c->args = checked_malloc((argc + 1) * sizeof *c->args);
    for (size_t i = 0; i < argc; i++) {
        if (len - at < 2) die("a case frame shorter than its arguments");
        size_t arg_len = (size_t)p[at] << 8 | p[at + 1];
        at += 2;
        if (arg_len > CASE_ARG_MAX_BYTES || len - at < arg_len ||
            memchr(p + at, '\0', arg_len) != NULL)
            die("a case argument too long, cut short or with a NUL");
        c->args[i] = checked_strdup((const char *)p + at, arg_len);
        at += arg_len;
    }
    c->args[argc] = NULL;
    c->input.given = p[4] & 1;
    c->input.len = c->input.given ? len - at : 0;
    c->input.data = checked_malloc(c->input.len + 1);
    memcpy(c->input.data, p + at, c->input.len);
}

/* The mtime of new and edited files: now, or later than anything /sandbox holds if the
 * previous run wrote times in the future, so `make` always sees an edit as new. */
static struct timespec edit_time(const tree_t *before) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const struct timespec *newest = &before->newest;
    if (newest->tv_sec < now.tv_sec ||
        (newest->tv_sec == now.tv_sec && newest->tv_nsec < now.tv_nsec))
        return now;
    struct timespec later = *newest;
    if (++later.tv_nsec == 1000000000L) {
        later.tv_nsec = 0;
        later.tv_sec++;
    }
    return later;
}

/* Reads the request, applying deletes and files to /sandbox as they come. `before` gets
 * what /sandbox held before (a kata volume's files from earlier runs). */
void frames_read_input(const ids_t *ids, limits_t *limits, input_t *input, case_list_t *cases,
                       sent_list_t *sent, tree_t *before) {
    char magic[sizeof IN_MAGIC - 1];
    if (!read_exact(0, magic, sizeof magic)) _exit(0); /* a warm container nobody took */
    if (memcmp(magic, IN_MAGIC, sizeof magic) != 0) die("the request has no magic line");
    int rootfd = -1, homefd = -1, limited = 0, named = 0;
    struct timespec mtime = {0, 0};
    for (;;) {
        unsigned char header[5];
        if (!read_exact(0, header, sizeof header)) die("the request ended early");
        uint32_t len = u32_at(header + 1);
        if (len > FRAME_MAX_BYTES) die("a request frame too large");
        unsigned char *payload = checked_malloc(len);
        if (!read_exact(0, payload, len)) die("the request ended early");
        char type = (char)header[0];
        if (type == 'L' && !limited) {
            parse_limits(payload, len, limits);
            limited = 1;
            act_as_run(ids);
            rootfd = open(SANDBOX, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (rootfd < 0) die_errno("open " SANDBOX);
            tree_scan(rootfd, before);
            tree_sort(before);
            mtime = edit_time(before);
        } else if (!limited) {
            die("the request does not start with its limits");
        } else if (type == 'V' && !named) {
            set_variables(payload, len);
            named = 1;
        } else if (type == 'I' && !input->given && len <= INPUT_MAX_BYTES) {
            input->data = payload; /* kept until the run has it: not freed below */
            input->len = len;
            input->given = 1;
            payload = NULL;
        } else if (type == 'A') {
            add_case(cases, payload, len);
        } else if (type == 'H' && len <= HOME_FILE_MAX_BYTES) {
            if (homefd < 0) homefd = open(HOME, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (homefd < 0) die_errno("open " HOME);
            take_file(homefd, payload, len, mtime, NULL);
        } else if (type == 'D' && valid_name((const char *)payload, len)) {
            char *name = checked_strdup((const char *)payload, len);
            files_delete(rootfd, name);
            free(name);
        } else if (type == 'F') {
            take_file(rootfd, payload, len, mtime, sent);
        } else if (type == 'E') {
            free(payload);
            break;
        } else {
            die("an unknown or malformed request frame");
        }
        free(payload);
    }
    close(rootfd);
    if (homefd >= 0) close(homefd);
    act_as_self(ids);
}
