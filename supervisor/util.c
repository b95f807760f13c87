/* Small helpers: dying with a diagnostic, memory, exact reads and full writes, time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"

void die(const char *what) {
    dprintf(2, "greenbar-supervisor: %s\n", what);
    _exit(70);
}

void die_errno(const char *what) {
    dprintf(2, "greenbar-supervisor: %s: %s\n", what, strerror(errno));
    _exit(71);
}

void *checked_malloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (p == NULL) die("out of memory");
    return p;
}

char *checked_strdup(const char *text, size_t len) {
    char *copy = checked_malloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* Appends at most what fits under `cap` bytes in all; the rest is dropped. */
void buf_append(buf_t *buf, const void *data, size_t len, size_t cap) {
    if (buf->len >= cap) return;
    if (len > cap - buf->len) len = cap - buf->len;
    if (buf->len + len > buf->cap) {
        size_t want = buf->cap ? buf->cap * 2 : 4096;
        while (want < buf->len + len) want *= 2;
        unsigned char *grown = realloc(buf->data, want);
        if (grown == NULL) die("out of memory");
        buf->data = grown;
        buf->cap = want;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
}

/* 1 when `len` bytes were read, 0 at end of input; dies on an error. */
int read_exact(int fd, void *data, size_t len) {
    unsigned char *p = data;
    while (len > 0) {
        ssize_t got = read(fd, p, len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) die_errno("read");
        if (got == 0) return 0;
        p += got;
        len -= (size_t)got;
    }
    return 1;
}

void write_all(int fd, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t put = write(fd, p, len);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) die_errno("write");
        p += put;
        len -= (size_t)put;
    }
}

long monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000L + now.tv_nsec / 1000000L;
}

/* A relative name that stays inside /sandbox: no NUL, no empty, '.' or '..' component. */
int valid_name(const char *name, size_t len) {
    if (len == 0 || len > NAME_MAX_BYTES || name[0] == '/' || memchr(name, '\0', len))
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && name[i] != '/') continue;
        size_t part = i - start;
        if (part == 0 || part > 255) return 0;
        if (part == 1 && name[start] == '.') return 0;
        if (part == 2 && name[start] == '.' && name[start + 1] == '.') return 0;
        start = i + 1;
    }
    return 1;
}
