/* statcache: the snapshot's stat signature; see statcache.h for what it
 * promises and why that is safe.
 *
 * Format: NUL-terminated text records (a path may hold any byte but NUL, so
 * it comes last in its record, after exactly one space):
 *   amlspec stat cache 1
 *   src <real path of the source>      store <real path of the store>
 *   tree <hex>   count <files> <bytes>   amlignore <0|1>   rules <hash of the ignore rules, hex>
 *   time <sec> <nsec>                  (when the writing snapshot started)
 *   root <dev> <ino>
 *   <kind> <mode, octal> <size> <ino> <mtime s> <mtime ns> <ctime s> <ctime ns> <path>   (d f x S)
 *   <kind> <path>                                                                      (n N)
 *   end <number of records before this one> <checksum of the bytes before this one, hex>
 * Numbers are decimal and parsed by hand: a cache of 10,000 files has 80,000
 * of them, and strtoull's generality would be a visible part of a plan. */
#include "snapshot/statcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "amlspec stat cache 1"
#define MAX_SIZE (512u << 20)
#define MAX_THREADS 8
#define MIN_PER_THREAD 1000

/* Not cryptographic: the file is as trusted as the index beside it. It only
 * has to tell an accidentally damaged file from a whole one. */
uint64_t statcache_hash(const void *data, size_t n)
{
	const char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, p + i, n - i);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

static int64_t ns_of(int64_t s, uint32_t ns)
{
	return s * 1000000000LL + (int64_t)ns;
}

uint32_t statcache_git_mode(mode_t m)
{
	/* libgit2's git_index__create_mode with core.filemode on */
	if (S_ISLNK(m))
		return 0120000;
	if (S_ISREG(m))
		return (m & 0100) ? 0100755 : 0100644;
	return 0;
}

/* ---- writing ---- */

static void end_rec(statcache_writer *w)
{
	buf_putc(&w->out, '\0');
	w->count++;
}

void statcache_writer_init(statcache_writer *w, const char *src, const char *store, const char *tree_id,
			   uint64_t files, uint64_t bytes, bool amlignore, uint64_t rules, struct timespec started,
			   unsigned window_ms, const struct stat *root)
{
	memset(w, 0, sizeof(*w));
	buf_init(&w->out);
	w->not_after_ns = ns_of(started.tv_sec, (uint32_t)started.tv_nsec) - (int64_t)window_ms * 1000000;
	buf_puts(&w->out, MAGIC);
	end_rec(w);
	buf_printf(&w->out, "src %s", src);
	end_rec(w);
	buf_printf(&w->out, "store %s", store);
	end_rec(w);
	buf_printf(&w->out, "tree %s", tree_id);
	end_rec(w);
	buf_printf(&w->out, "count %llu %llu", (unsigned long long)files, (unsigned long long)bytes);
	end_rec(w);
	buf_printf(&w->out, "amlignore %d", amlignore ? 1 : 0);
	end_rec(w);
	buf_printf(&w->out, "rules %016llx", (unsigned long long)rules);
	end_rec(w);
	buf_printf(&w->out, "time %lld %ld", (long long)started.tv_sec, (long)started.tv_nsec);
	end_rec(w);
	buf_printf(&w->out, "root %llu %llu", (unsigned long long)root->st_dev, (unsigned long long)root->st_ino);
	end_rec(w);
}

static void put_stat(statcache_writer *w, char kind, const char *path, uint32_t mode, uint64_t size, uint64_t ino,
		     int64_t ms, uint32_t mns, int64_t cs, uint32_t cns)
{
	/* Too recent: a change in the same clock tick would not show. */
	if (ns_of(ms, mns) >= w->not_after_ns || ns_of(cs, cns) >= w->not_after_ns)
		w->unusable = true;
	if (w->unusable)
		return; /* nothing will be written: save the formatting */
	buf_printf(&w->out, "%c %o %llu %llu %lld %u %lld %u %s", kind, mode, (unsigned long long)size,
		   (unsigned long long)ino, (long long)ms, mns, (long long)cs, cns, path);
	end_rec(w);
}

void statcache_writer_stat(statcache_writer *w, char kind, const char *path, const struct stat *st)
{
	put_stat(w, kind, path, (uint32_t)st->st_mode, (uint64_t)st->st_size, (uint64_t)st->st_ino,
		 (int64_t)st->st_mtim.tv_sec, (uint32_t)st->st_mtim.tv_nsec, (int64_t)st->st_ctim.tv_sec,
		 (uint32_t)st->st_ctim.tv_nsec);
}

void statcache_writer_file(statcache_writer *w, const char *path, uint32_t git_mode, uint32_t size, uint32_t ino,
			   int32_t mtime_s, uint32_t mtime_ns, int32_t ctime_s, uint32_t ctime_ns)
{
	put_stat(w, SC_FILE, path, git_mode, size, ino, mtime_s, mtime_ns, ctime_s, ctime_ns);
}

void statcache_writer_absent(statcache_writer *w, char kind, const char *path)
{
	if (w->unusable)
		return;
	buf_printf(&w->out, "%c %s", kind, path);
	end_rec(w);
}

void statcache_writer_taint(statcache_writer *w)
{
	w->unusable = true;
}

static unsigned long long tmp_counter;

int statcache_writer_commit(statcache_writer *w, const char *path)
{
	char *tmp;
	int fd, rc = 1;
	size_t off = 0;

	if (w->unusable) {
		/* an older cache must not outlive the snapshot that found it stale */
		if (unlink(path) < 0 && errno != ENOENT)
			return -1;
		return 0;
	}
	buf_printf(&w->out, "end %zu %016llx", w->count, (unsigned long long)statcache_hash(w->out.ptr, w->out.len));
	buf_putc(&w->out, '\0');
	/* A name of our own, then rename: concurrent writers never mix bytes and
	 * a reader sees a whole file or none. No fsync: it is a cache, and a
	 * file lost or cut short by a crash is refused by its checksum. */
	tmp = xasprintf("%s.tmp-%ld-%llu", path, (long)getpid(), tmp_counter++);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(tmp);
		return -1;
	}
	while (off < w->out.len) {
		ssize_t n = write(fd, w->out.ptr + off, w->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -1;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0)
		rc = -1;
	if (rc > 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
	}
	free(tmp);
	return rc;
}

void statcache_writer_free(statcache_writer *w)
{
	buf_free(&w->out);
	memset(w, 0, sizeof(*w));
}

/* ---- reading ---- */

static bool parse_u64(const char **p, uint64_t *out, char stop)
{
	const char *s = *p;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s != stop)
		return false;
	*out = v;
	*p = *s ? s + 1 : s;
	return true;
}

static bool parse_i64(const char **p, int64_t *out, char stop)
{
	bool neg = **p == '-';
	uint64_t v;
	if (neg)
		(*p)++;
	if (!parse_u64(p, &v, stop) || v > (uint64_t)INT64_MAX)
		return false;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

static bool parse_octal(const char **p, uint32_t *out)
{
	const char *s = *p;
	uint32_t v = 0;
	if (*s < '0' || *s > '7')
		return false;
	for (; *s >= '0' && *s <= '7'; s++) {
		if (v > 0777777)
			return false;
		v = v * 8 + (uint32_t)(*s - '0');
	}
	if (*s != ' ')
		return false;
	*out = v;
	*p = s + 1;
	return true;
}

/* Exactly 16 hex digits, the whole string. */
static bool parse_hex64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int i = 0;
	for (; i < 16; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (s[i])
		return false;
	*out = v;
	return true;
}

/* "key value": value, or NULL when the record is another one. */
static const char *field(const char *rec, const char *key)
{
	size_t n = strlen(key);
	return !strncmp(rec, key, n) && rec[n] == ' ' ? rec + n + 1 : NULL;
}

static bool parse_stat_rec(sc_rec *r, const char *s)
{
	uint64_t mns, cns;
	r->kind = s[0];
	if (s[1] != ' ')
		return false;
	s += 2;
	switch (r->kind) {
	case SC_ABSENT:
	case SC_STORE_ABSENT:
		r->path = s;
		return *s != '\0';
	case SC_DIR:
	case SC_FILE:
	case SC_EXTRA:
	case SC_STORE:
		break;
	default:
		return false;
	}
	if (!parse_octal(&s, &r->mode) || !parse_u64(&s, &r->size, ' ') || !parse_u64(&s, &r->ino, ' ') ||
	    !parse_i64(&s, &r->mtime_s, ' ') || !parse_u64(&s, &mns, ' ') || !parse_i64(&s, &r->ctime_s, ' ') ||
	    !parse_u64(&s, &cns, ' ') || mns >= 1000000000 || cns >= 1000000000 || !*s)
		return false;
	r->mtime_ns = (uint32_t)mns;
	r->ctime_ns = (uint32_t)cns;
	r->path = s;
	return true;
}

static bool is_hex40(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 40;
}

static bool parse(statcache *sc, char *raw, size_t size)
{
	const char *end_rec_start, *p, *v;
	uint64_t nrec, sum, a, b;
	size_t alloc = 0, i;

	if (size == 0 || raw[size - 1] != '\0')
		return false;
	/* the last record: "end <records> <checksum>" over everything before it */
	end_rec_start = raw + size - 1;
	while (end_rec_start > raw && end_rec_start[-1] != '\0')
		end_rec_start--;
	if (!(p = field(end_rec_start, "end")) || !parse_u64(&p, &nrec, ' ') || !parse_hex64(p, &sum))
		return false;
	if (sum != statcache_hash(raw, (size_t)(end_rec_start - raw)))
		return false;

	/* the header, in its fixed order */
	p = raw;
#define NEXT() (p += strlen(p) + 1, p < end_rec_start)
	if (strcmp(p, MAGIC) || !NEXT() || !(sc->src = field(p, "src")) || !NEXT() ||
	    !(sc->store = field(p, "store")) || !NEXT() || !(sc->tree_id = field(p, "tree")) || !is_hex40(sc->tree_id))
		return false;
	if (!NEXT() || !(v = field(p, "count")) || !parse_u64(&v, &sc->files, ' ') || !parse_u64(&v, &sc->bytes, '\0'))
		return false;
	if (!NEXT() || !(v = field(p, "amlignore")) || !parse_u64(&v, &a, '\0') || a > 1)
		return false;
	sc->amlignore = a == 1;
	if (!NEXT() || !(v = field(p, "rules")) || !parse_hex64(v, &sc->rules))
		return false;
	if (!NEXT() || !(v = field(p, "time")) || !parse_u64(&v, &a, ' ') || !parse_u64(&v, &b, '\0') ||
	    a > (uint64_t)INT64_MAX || b >= 1000000000)
		return false;
	sc->started.tv_sec = (time_t)a;
	sc->started.tv_nsec = (long)b;
	if (!NEXT() || !(v = field(p, "root")) || !parse_u64(&v, &sc->root_dev, ' ') ||
	    !parse_u64(&v, &sc->root_ino, '\0'))
		return false;
	i = 9; /* header records */
	while (NEXT()) {
		if (sc->count == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			sc->recs = xrealloc(sc->recs, alloc * sizeof(*sc->recs));
		}
		if (!parse_stat_rec(&sc->recs[sc->count], p))
			return false;
		sc->count++;
		i++;
	}
#undef NEXT
	return i == nrec;
}

int statcache_load(statcache *out, const char *path)
{
	struct stat st;
	size_t got = 0;
	int fd;

	memset(out, 0, sizeof(*out));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > MAX_SIZE) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	out->raw = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, out->raw + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	out->raw[got] = '\0';
	if (got != (size_t)st.st_size || !parse(out, out->raw, got)) {
		statcache_free(out);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

void statcache_free(statcache *sc)
{
	free(sc->recs);
	free(sc->raw);
	memset(sc, 0, sizeof(*sc));
}

/* ---- checking ---- */

static bool same_time(int64_t s, uint32_t ns, const struct timespec *t, bool index_seconds)
{
	/* libgit2's index keeps 32-bit seconds */
	int64_t ts = index_seconds ? (int64_t)(int32_t)t->tv_sec : (int64_t)t->tv_sec;
	return ts == s && (uint32_t)t->tv_nsec == ns;
}

static bool rec_matches(const sc_rec *r, int rootfd, int storefd, int64_t not_after)
{
	struct stat st;
	int fd = r->kind == SC_STORE || r->kind == SC_STORE_ABSENT ? storefd : rootfd;

	if (r->kind == SC_ABSENT || r->kind == SC_STORE_ABSENT)
		return fstatat(fd, r->path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
	if (ns_of(r->mtime_s, r->mtime_ns) >= not_after || ns_of(r->ctime_s, r->ctime_ns) >= not_after)
		return false;
	if (fstatat(fd, r->path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (r->kind == SC_FILE)
		return statcache_git_mode(st.st_mode) == r->mode && (uint32_t)st.st_size == r->size &&
		       (uint32_t)st.st_ino == r->ino && same_time(r->mtime_s, r->mtime_ns, &st.st_mtim, true) &&
		       same_time(r->ctime_s, r->ctime_ns, &st.st_ctim, true);
	return (uint32_t)st.st_mode == r->mode && (uint64_t)st.st_size == r->size && (uint64_t)st.st_ino == r->ino &&
	       same_time(r->mtime_s, r->mtime_ns, &st.st_mtim, false) &&
	       same_time(r->ctime_s, r->ctime_ns, &st.st_ctim, false);
}

typedef struct check_job {
	const statcache *sc;
	int rootfd, storefd;
	size_t from, to;
	int64_t not_after;
	atomic_bool *mismatch;
} check_job;

static void *check_range(void *arg)
{
	check_job *j = arg;
	for (size_t i = j->from; i < j->to; i++) {
		/* another thread found a difference: the answer is known */
		if ((i & 63) == 0 && atomic_load_explicit(j->mismatch, memory_order_relaxed))
			break;
		if (!rec_matches(&j->sc->recs[i], j->rootfd, j->storefd, j->not_after)) {
			atomic_store_explicit(j->mismatch, true, memory_order_relaxed);
			break;
		}
	}
	return NULL;
}

bool statcache_matches(const statcache *sc, const char *src, const char *store, unsigned window_ms)
{
	struct timespec now;
	struct stat st;
	int rootfd = -1, storefd = -1;
	atomic_bool mismatch;
	check_job jobs[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	bool started[MAX_THREADS] = { false };
	size_t nthreads = 1;
	long cpus;
	bool ok = false;

	atomic_init(&mismatch, false);
	if (strcmp(sc->src, src) || strcmp(sc->store, store))
		return false;
	/* A clock set back could give a new change an old time. */
	if (clock_gettime(CLOCK_REALTIME, &now) < 0 || now.tv_sec < sc->started.tv_sec ||
	    (now.tv_sec == sc->started.tv_sec && now.tv_nsec < sc->started.tv_nsec))
		return false;
	/* Relative to an open folder: the kernel walks a short path, not the
	 * whole absolute one, for each of the (many) entries. */
	if ((rootfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (storefd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		goto done;
	if (fstat(rootfd, &st) < 0 || (uint64_t)st.st_dev != sc->root_dev || (uint64_t)st.st_ino != sc->root_ino)
		goto done;

	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (sc->count > MIN_PER_THREAD && cpus > 1) {
		nthreads = (size_t)cpus < MAX_THREADS ? (size_t)cpus : MAX_THREADS;
		if (nthreads > sc->count / MIN_PER_THREAD + 1)
			nthreads = sc->count / MIN_PER_THREAD + 1;
	}
	for (size_t t = 0; t < nthreads; t++) {
		jobs[t] = (check_job){ sc, rootfd, storefd, sc->count * t / nthreads, sc->count * (t + 1) / nthreads,
				       ns_of(sc->started.tv_sec, (uint32_t)sc->started.tv_nsec) -
					       (int64_t)window_ms * 1000000,
				       &mismatch };
		/* the calling thread takes the first share itself */
		if (t > 0)
			started[t] = pthread_create(&tids[t], NULL, check_range, &jobs[t]) == 0;
	}
	check_range(&jobs[0]);
	for (size_t t = 1; t < nthreads; t++) {
		if (started[t])
			pthread_join(tids[t], NULL);
		else
			check_range(&jobs[t]); /* no thread to spare: do it here */
	}
	ok = !atomic_load(&mismatch);
done:
	if (rootfd >= 0)
		close(rootfd);
	if (storefd >= 0)
		close(storefd);
	return ok;
}

/* ---- objects ---- */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Looks id up in one pack index (version 2: magic, version, 256 cumulative
 * counts, then the sorted ids), by binary search with pread. */
static bool pack_has(int packdir, const char *idx_name, const unsigned char id[20])
{
	unsigned char head[8 + 1024], cur[20];
	struct stat st;
	uint32_t lo, hi, total;
	bool found = false;
	int fd = openat(packdir, idx_name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
	    memcmp(head, "\377tOc\0\0\0\2", 8))
		goto done;
	total = be32(head + 8 + 4 * 255);
	hi = be32(head + 8 + 4 * id[0]);
	lo = id[0] ? be32(head + 8 + 4 * (id[0] - 1)) : 0;
	if (lo > hi || hi > total || (uint64_t)st.st_size < sizeof(head) + (uint64_t)total * 28 + 40)
		goto done;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c;
		if (pread(fd, cur, 20, (off_t)(sizeof(head) + (uint64_t)mid * 20)) != 20)
			goto done;
		c = memcmp(id, cur, 20);
		if (c == 0) {
			found = true;
			break;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
done:
	close(fd);
	return found;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool statcache_object_stored(const char *store, const char *hex)
{
	unsigned char id[20];
	struct stat st;
	char *path;
	DIR *d;
	struct dirent *de;
	bool found;

	if (!is_hex40(hex))
		return false;
	path = xasprintf("%s/objects/%.2s/%s", store, hex, hex + 2);
	found = stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
	free(path);
	if (found)
		return true;
	for (int i = 0; i < 20; i++)
		id[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
	path = xasprintf("%s/objects/pack", store);
	d = opendir(path);
	free(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char *pack;
		if (n < 5 || strcmp(de->d_name + n - 4, ".idx"))
			continue;
		/* an index whose pack is gone names objects that are gone */
		pack = xasprintf("%.*s.pack", (int)(n - 4), de->d_name);
		found = faccessat(dirfd(d), pack, F_OK, 0) == 0 && pack_has(dirfd(d), de->d_name, id);
		free(pack);
	}
	closedir(d);
	return found;
}
