/* /sandbox as a list of its regular files, and the directory operations files.c needs.
 * Symbolic links are never followed: every lookup is relative to an open directory with
 * AT_SYMLINK_NOFOLLOW or O_NOFOLLOW. Whatever the run hid from itself (chmod 0) is made
 * readable to its owner first, so it still counts and is seen.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "supervisor.h"

#define DEPTH_MAX 128

static void note_time(tree_t *tree, const struct stat *st) {
    const struct timespec *t = &st->st_mtim;
    if (t->tv_sec > tree->newest.tv_sec ||
        (t->tv_sec == tree->newest.tv_sec && t->tv_nsec > tree->newest.tv_nsec))
        tree->newest = *t;
}

static void add_entry(tree_t *tree, const char *name, const struct stat *st) {
    if (tree->count == TREE_MAX_FILES) {
        tree->truncated = 1;
        return;
    }
    if (tree->count == tree->cap) {
        tree->cap = tree->cap ? tree->cap * 2 : 64;
        tree->items = realloc(tree->items, tree->cap * sizeof *tree->items);
        if (tree->items == NULL) die("out of memory");
    }
    tree->items[tree->count].name = checked_strdup(name, strlen(name));
    tree->items[tree->count].st = *st;
    tree->count++;
}

/* Adds `bits` to the mode of `name` in `parent` if missing, and lstats it again. */
static int readable(int parent, const char *name, struct stat *st, mode_t bits) {
    if ((st->st_mode & bits) == bits) return 0;
    if (fchmodat(parent, name, (st->st_mode & 07777) | bits, 0) != 0) return -1;
    return fstatat(parent, name, st, AT_SYMLINK_NOFOLLOW);
}

static void scan_dir(int fd, const char *prefix, tree_t *tree, int depth) {
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return;
    }
    int parent = dirfd(dir);
    struct dirent *item;
    char path[NAME_MAX_BYTES + 1];
    while ((item = readdir(dir)) != NULL) {
        const char *name = item->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        int n = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "/" : "", name);
        if (n < 0 || (size_t)n >= sizeof path) continue; /* too long to name: not reported */
        struct stat st;
        if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        note_time(tree, &st);
        if (S_ISDIR(st.st_mode) && depth < DEPTH_MAX) {
            if (readable(parent, name, &st, S_IRWXU) != 0) continue;
            int child = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child >= 0) scan_dir(child, path, tree, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            if (readable(parent, name, &st, S_IRUSR) == 0) add_entry(tree, path, &st);
        }
    }
    closedir(dir);
}

/* Lists every regular file under the directory `rootfd` (which stays open). */
void tree_scan(int rootfd, tree_t *tree) {
    int fd = dup(rootfd);
    if (fd < 0) die_errno("dup");
    scan_dir(fd, "", tree, 0);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

void tree_sort(tree_t *tree) {
    if (tree->count) qsort(tree->items, tree->count, sizeof *tree->items, by_name);
}

const entry_t *tree_find(const tree_t *tree, const char *name) {
    entry_t key = {(char *)name, {0}};
    if (tree->count == 0) return NULL;
    return bsearch(&key, tree->items, tree->count, sizeof *tree->items, by_name);
}

/* Removes `name` in `parent` whatever it is, a whole directory tree included. */
int remove_at(int parent, const char *name) {
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlinkat(parent, name, 0);
    if (readable(parent, name, &st, S_IRWXU) != 0) return -1;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return -1;
    }
    struct dirent *item;
    while ((item = readdir(dir)) != NULL)
        if (strcmp(item->d_name, ".") != 0 && strcmp(item->d_name, "..") != 0)
            remove_at(dirfd(dir), item->d_name);
    closedir(dir);
    return unlinkat(parent, name, AT_REMOVEDIR);
}

/* Opens the directory that holds `name` (relative to `rootfd`) and points `leaf` at the last
 * component. With `create`, missing directories are made and anything that is not a
 * directory where one is needed is removed first; without it, -1 when the path is missing.
 */
int open_parent(int rootfd, const char *name, int create, const char **leaf) {
    int fd = dup(rootfd);
    const char *start = name, *slash;
    char part[256];
    while (fd >= 0 && (slash = strchr(start, '/')) != NULL) {
        size_t len = (size_t)(slash - start);
        memcpy(part, start, len);
        part[len] = '\0';
        struct stat st;
        int found = fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (create && found && !S_ISDIR(st.st_mode)) found = remove_at(fd, part) != 0;
        if (create && !found) found = mkdirat(fd, part, 0755) == 0 || errno == EEXIST;
        if (found && create && fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0)
            readable(fd, part, &st, S_IRWXU);
        int next = found ? openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
        close(fd);
        fd = next;
        start = slash + 1;
    }
    *leaf = start;
    return fd;
}
