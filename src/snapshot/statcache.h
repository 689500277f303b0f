/* statcache: the snapshot's stat signature (internal to src/snapshot).
 *
 * A file beside the private index, <store>/amlspec/index-<key>.stat, that
 * says: "while every path listed here has exactly this stat data, the source
 * directory snapshots to this tree". It lists every folder the scan walked
 * (a name created, removed or renamed in one changes its mtime and ctime),
 * every snapshotted file with the stat data libgit2 recorded when it read the
 * content, and the other files that decide the ignore rules. Checking it
 * takes one fstatat per entry and no libgit2 at all, which is what makes an
 * unchanged `plan` cheap (see snapshot.c, fast_path()).
 *
 * Why it is safe: it is written only by a full snapshot, and only when no
 * entry changed less than a settling window (2 s) before that snapshot
 * started. A change after the start then gives a ctime at least one clock
 * tick later than the recorded one (ctime cannot be set by a program; the
 * window covers the coarsest timestamps of common file systems), so any
 * change since the content was read shows. Anything unexpected, unreadable or
 * unparsable means "no cache", never a different answer: the caller then
 * takes the full snapshot, which is always correct. The file is self-checking
 * (a record count and a checksum at the end), written to a temporary name and
 * renamed, so readers see a whole file or none. */
#ifndef AMLSPEC_STATCACHE_H
#define AMLSPEC_STATCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "util/buf.h"

/* Record kinds. Paths are relative to the source root ("." is the root),
 * except 'S' and 'N', relative to the store. */
enum {
	SC_DIR = 'd',      /* a folder the scan walks: full stat */
	SC_FILE = 'f',     /* an indexed file: git mode and libgit2's (32-bit) stat fields */
	SC_EXTRA = 'x',    /* another file whose content counts (.amlignore, ignored .gitignore) */
	SC_ABSENT = 'n',   /* a file that must not exist (.amlignore in .gitignore mode) */
	SC_STORE = 'S',    /* a file of the store that decides the rules (config, info/exclude) */
	SC_STORE_ABSENT = 'N'
};

typedef struct sc_rec {
	const char *path; /* points into the loaded file */
	char kind;
	uint32_t mode;    /* SC_FILE: git mode (0100644, 0100755, 0120000); else st_mode */
	uint64_t size, ino;
	int64_t mtime_s, ctime_s;
	uint32_t mtime_ns, ctime_ns;
} sc_rec;

/* A loaded stat cache. */
typedef struct statcache {
	char *raw;        /* the file's bytes; every string below points into it */
	const char *src, *store, *tree_id;
	uint64_t files, bytes;
	bool amlignore;
	uint64_t rules;          /* statcache_hash of the ignore rules' text */
	struct timespec started; /* when the snapshot that wrote it started */
	uint64_t root_dev, root_ino;
	sc_rec *recs;
	size_t count;
} statcache;

/* A stat cache being written, records streamed into a buffer. Any record too
 * recent (or a taint) makes statcache_writer_commit() write nothing. */
typedef struct statcache_writer {
	buf out;
	size_t count;
	int64_t not_after_ns; /* an entry changed at or after this is too recent */
	bool unusable;
} statcache_writer;

/* 2 s: FAT's mtime granularity, the coarsest of the common file systems. */
#define STATCACHE_WINDOW_MS 2000

void statcache_writer_init(statcache_writer *w, const char *src, const char *store, const char *tree_id,
			   uint64_t files, uint64_t bytes, bool amlignore, uint64_t rules, struct timespec started,
			   unsigned window_ms, const struct stat *root);
void statcache_writer_stat(statcache_writer *w, char kind, const char *path, const struct stat *st);
void statcache_writer_file(statcache_writer *w, const char *path, uint32_t git_mode, uint32_t size, uint32_t ino,
			   int32_t mtime_s, uint32_t mtime_ns, int32_t ctime_s, uint32_t ctime_ns);
void statcache_writer_absent(statcache_writer *w, char kind, const char *path);
/* Something the format cannot describe safely (e.g. an ignore file that is a
 * symbolic link): nothing will be written. */
void statcache_writer_taint(statcache_writer *w);
/* Writes path atomically, or when unusable removes it: 1 written, 0 not,
 * -1 on an I/O error (errno; nothing half-written is left). */
int statcache_writer_commit(statcache_writer *w, const char *path);
void statcache_writer_free(statcache_writer *w);

/* 0 and *out filled, or -1 (missing, unreadable, truncated, corrupt, another
 * version; errno ENOENT when missing). Free with statcache_free. */
int statcache_load(statcache *out, const char *path);
void statcache_free(statcache *sc);

/* Whether every record matches the file system now, none is too recent for
 * window_ms, and the clock has not gone back. The checks run on up to 8
 * threads for large caches. src and store are the real paths. */
bool statcache_matches(const statcache *sc, const char *src, const char *store, unsigned window_ms);

/* Whether the store holds object hex (loose, or in a pack with a version 2
 * index) by reading its files, without libgit2. false also when unsure. */
bool statcache_object_stored(const char *store, const char *hex);

/* A 64-bit hash of n bytes: tells damaged or different data from the same,
 * not made to resist anyone. */
uint64_t statcache_hash(const void *p, size_t n);

/* The git mode libgit2 gives a file with this st_mode; 0 for other types. */
uint32_t statcache_git_mode(mode_t m);

#endif
