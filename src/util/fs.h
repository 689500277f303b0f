/* File-system helpers: paths, containment, atomic writes. */
#ifndef AMLSPEC_FS_H
#define AMLSPEC_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* dir + "/" + name, without doubling slashes; name absolute -> name. */
char *fs_join(const char *dir, const char *name);
/* Directory part of path ("." when none). */
char *fs_dirname(const char *path);
const char *fs_basename(const char *path);
/* realpath() into a new string, or NULL with errno set. */
char *fs_realpath(const char *path);
/* Absolute path without resolving symlinks (cwd-joined, . and .. folded). */
char *fs_absolute(const char *path);
/* fs_absolute against a known working directory (no getcwd call). */
char *fs_absolute_from(const char *cwd, const char *path);
/* Whether path (already real) is root or inside root (already real). */
bool fs_is_within(const char *root, const char *path);
bool fs_is_dir(const char *path);
bool fs_is_file(const char *path);
bool fs_exists(const char *path);
/* mkdir -p with mode; 0 or -1/errno. */
int fs_mkdirs(const char *path, unsigned mode);
/* Writes data to path atomically: temp file in the same folder, fsync,
 * rename, fsync of the folder. mode is applied to the new file. */
int fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* rm -rf; 0 or -1/errno. */
int fs_remove_tree(const char *path);
/* Relative path from base (a directory) to path; both absolute. */
char *fs_relative(const char *base, const char *path);
/* Expands a leading ~/ with $HOME. */
char *fs_expand_home(const char *path);

#endif
