#include "state.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"

#define STATE_FILE "state.json"
#define BACKUP_FILE "state.json.backup"
#define CORRUPT_FILE "state.json.corrupt"
#define LOCK_FILE "lock"

/* Far above anything amlspec writes, so a large state is never refused,
 * while json_tokener_parse_ex still gets a length that fits in an int. */
#define STATE_MAX_BYTES (1024u * 1024u * 1024u)
/* json-c's default nesting limit is 32; applied specs nest a few levels
 * under "specs", so leave ample room for what later versions record. */
#define STATE_MAX_DEPTH 256
#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

#define LOCK_POLL_NS 50000000L

/* ---- reading ---------------------------------------------------------- */

/* Why a state file could not be used. */
typedef struct state_problem {
	unsigned line, col;   /* 0 when the problem is not at a position */
	char *message;
	bool newer;           /* written by a newer amlspec: refuse, never recover */
} state_problem;

static void state_problem_free(state_problem *p)
{
	free(p->message);
	memset(p, 0, sizeof(*p));
}

/* json-c reports a byte offset only; users and editors want line:col. */
static void offset_to_line_col(const char *s, size_t off, unsigned *line, unsigned *col)
{
	unsigned l = 1, c = 1;
	for (size_t i = 0; i < off; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static bool is_nonneg_int(json_object *v)
{
	return v && json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0;
}

/* Checks the layout of a parsed state; the format comes first so that a newer
 * format whose layout changed gets the "newer amlspec" message. */
static int state_check_layout(json_object *root, state_problem *p)
{
	if (!json_object_is_type(root, json_type_object)) {
		p->message = xstrdup("not a state file: the top level is not a JSON object");
		return AML_EINVALID;
	}
	json_object *v = NULL;
	if (!json_object_object_get_ex(root, "format_version", &v) || !is_nonneg_int(v) ||
	    json_object_get_int64(v) < 1) {
		p->message = xstrdup("not a state file: \"format_version\" must be a positive integer");
		return AML_EINVALID;
	}
	int64_t format = json_object_get_int64(v);
	if (format > STATE_FORMAT_VERSION) {
		p->newer = true;
		p->message = xasprintf("state.json was written by a newer amlspec (format %lld); "
				       "this amlspec reads format %d", (long long)format, STATE_FORMAT_VERSION);
		return AML_EINVALID;
	}
	if (!json_object_object_get_ex(root, "lineage", &v) || !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0) {
		p->message = xstrdup("not a state file: \"lineage\" must be a non-empty string");
		return AML_EINVALID;
	}
	if (!json_object_object_get_ex(root, "serial", &v) || !is_nonneg_int(v)) {
		p->message = xstrdup("not a state file: \"serial\" must be a non-negative integer");
		return AML_EINVALID;
	}
	if (!json_object_object_get_ex(root, "specs", &v) || !json_object_is_type(v, json_type_object)) {
		p->message = xstrdup("not a state file: \"specs\" must be an object");
		return AML_EINVALID;
	}
	return AML_OK;
}

/* Reads and checks one state file. Returns AML_OK with *out set; AML_ENOTFOUND
 * when the file does not exist; AML_EIO (errno set) when it cannot be read;
 * AML_EINVALID with *p filled when it is damaged, not a state, or newer. The
 * raw bytes stay in *raw so that a caller can copy them verbatim. */
static int state_file_read(json_object **out, buf *raw, const char *path, state_problem *p)
{
	*out = NULL;
	buf_clear(raw);
	if (buf_read_file(raw, path, STATE_MAX_BYTES) < 0)
		return errno == ENOENT ? AML_ENOTFOUND : AML_EIO;

	int rc = AML_EINVALID;
	json_object *root = NULL;
	json_tokener *tok = json_tokener_new_ex(STATE_MAX_DEPTH);
	if (!tok) {
		fputs("amlspec: out of memory\n", stderr);
		abort();
	}
	/* Strict: json-c's lenient mode accepts things (single quotes, trailing
	 * garbage in literals) that only a damaged or hand-broken file contains. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, raw->ptr, (int)raw->len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (!root) {
		size_t at = end;
		if (raw->len == 0) {
			p->message = xstrdup("cannot parse the state: the file is empty");
		} else if (jerr == json_tokener_continue) {
			/* Ran out of input inside the document (at points at its end). */
			p->message = xstrdup("cannot parse the state: the file ends in the middle of the JSON document (truncated?)");
		} else {
			p->message = xasprintf("cannot parse the state: %s", json_tokener_error_desc(jerr));
		}
		offset_to_line_col(raw->ptr, at, &p->line, &p->col);
		goto done;
	}
	for (size_t i = end; i < raw->len; i++) {
		if (!isspace((unsigned char)raw->ptr[i])) {
			offset_to_line_col(raw->ptr, i, &p->line, &p->col);
			p->message = xstrdup("cannot parse the state: unexpected text after the JSON document");
			goto done;
		}
	}
	rc = state_check_layout(root, p);
done:
	json_tokener_free(tok);
	if (rc == AML_OK)
		*out = root;
	else
		json_object_put(root);
	return rc;
}

static void state_problem_report(diag_list *diags, diag_severity sev, const char *path, const state_problem *p)
{
	diag_add(diags, sev, path, p->line, p->col, NULL, "%s", p->message);
}

/* ---- lineage ------------------------------------------------------------ */

static int read_full(int fd, void *data, size_t len)
{
	unsigned char *d = data;
	while (len) {
		ssize_t n = read(fd, d, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		d += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A random (version 4) UUID: lineages of different workspaces must never
 * collide, so the bytes come from the kernel's CSPRNG. */
static int uuid_v4(char out[37], diag_list *diags)
{
	unsigned char b[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return diag_errno(diags, "/dev/urandom", "cannot open");
	int r = read_full(fd, b, sizeof(b));
	int e = errno;
	close(fd);
	if (r < 0) {
		errno = e;
		return diag_errno(diags, "/dev/urandom", "cannot read");
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
	return AML_OK;
}

/* ---- load / save -------------------------------------------------------- */

static bool is_known_key(const char *k)
{
	return !strcmp(k, "format_version") || !strcmp(k, "lineage") || !strcmp(k, "serial") ||
	       !strcmp(k, "specs");
}

/* Moves a checked root into a new state. */
static state *state_from_root(const char *dir, json_object *root, bool recovered)
{
	state *s = xcalloc(1, sizeof(*s));
	s->dir = xstrdup(dir);
	s->lineage = xstrdup(json_object_get_string(json_object_object_get(root, "lineage")));
	s->serial = json_object_get_int64(json_object_object_get(root, "serial"));
	s->specs = json_object_get(json_object_object_get(root, "specs"));
	s->extra = json_object_new_object();
	json_object_object_foreach(root, k, v) {
		if (!is_known_key(k))
			json_object_object_add(s->extra, k, json_object_get(v));
	}
	s->recovered = recovered;
	return s;
}

int state_load(state **out, const char *dir, diag_list *diags)
{
	*out = NULL;
	char *path = fs_join(dir, STATE_FILE);
	char *bpath = fs_join(dir, BACKUP_FILE);
	buf raw = BUF_INIT;
	json_object *root = NULL;
	state_problem p = { 0 }, bp = { 0 };
	int rc = state_file_read(&root, &raw, path, &p);

	if (rc == AML_OK) {
		*out = state_from_root(dir, root, false);
		goto done;
	}
	if (rc == AML_EIO) {
		rc = diag_errno(diags, path, "cannot read the state");
		goto done;
	}
	if (rc == AML_EINVALID && p.newer) {
		state_problem_report(diags, DIAG_ERROR, path, &p);
		goto done;
	}

	/* state.json is damaged or missing: the backup decides. */
	int brc = state_file_read(&root, &raw, bpath, &bp);
	if (brc == AML_ENOTFOUND && rc == AML_ENOTFOUND) {
		/* A workspace that never applied anything. */
		char lineage[37];
		rc = uuid_v4(lineage, diags);
		if (rc < 0)
			goto done;
		state *s = xcalloc(1, sizeof(*s));
		s->dir = xstrdup(dir);
		s->lineage = xstrdup(lineage);
		s->specs = json_object_new_object();
		s->extra = json_object_new_object();
		*out = s;
		goto done;
	}
	if (brc == AML_OK) {
		*out = state_from_root(dir, root, true);
		if (rc == AML_EINVALID) {
			state_problem_report(diags, DIAG_WARNING, path, &p);
			diag_warning(diags, path, 0, 0, NULL,
				     "recovered the state from " BACKUP_FILE " (serial %lld); what the last write "
				     "recorded may be lost; the damaged file will be kept as " CORRUPT_FILE
				     " on the next write", (*out)->serial);
		} else {
			/* Only something outside amlspec removes state.json: every write
			 * replaces it by rename. Starting empty would forget every run. */
			diag_warning(diags, path, 0, 0, NULL,
				     "state.json is missing; recovered the state from " BACKUP_FILE " (serial %lld)",
				     (*out)->serial);
		}
		rc = AML_OK;
		goto done;
	}

	/* Neither file is usable. */
	if (rc == AML_EINVALID)
		state_problem_report(diags, DIAG_ERROR, path, &p);
	else
		diag_error(diags, path, 0, 0, NULL, "state.json is missing and its backup is unusable");
	if (brc == AML_ENOTFOUND)
		diag_error(diags, bpath, 0, 0, NULL, "no backup to recover the state from");
	else if (brc == AML_EIO)
		diag_errno(diags, bpath, "cannot read the backup");
	else
		state_problem_report(diags, DIAG_ERROR, bpath, &bp);
	rc = (brc == AML_EIO) ? AML_EIO : AML_EINVALID;
done:
	json_object_put(root);
	state_problem_free(&p);
	state_problem_free(&bp);
	buf_free(&raw);
	free(path);
	free(bpath);
	return rc;
}

/* The canonical text: known keys first in a fixed order, then the keys this
 * version does not know in the order they were read, then a newline. */
static char *state_serialize(const state *s, long long serial)
{
	json_object *root = json_object_new_object();
	json_object_object_add(root, "format_version", json_object_new_int(STATE_FORMAT_VERSION));
	json_object_object_add(root, "lineage", json_object_new_string(s->lineage));
	json_object_object_add(root, "serial", json_object_new_int64(serial));
	json_object_object_add(root, "specs", s->specs ? json_object_get(s->specs) : json_object_new_object());
	if (s->extra) {
		json_object_object_foreach(s->extra, k, v) {
			if (!is_known_key(k))
				json_object_object_add(root, k, json_object_get(v));
		}
	}
	char *text = xasprintf("%s\n", json_object_to_json_string_ext(root, JSON_FLAGS));
	json_object_put(root);
	return text;
}

int state_save(state *s, diag_list *diags)
{
	char *path = fs_join(s->dir, STATE_FILE);
	char *bpath = fs_join(s->dir, BACKUP_FILE);
	char *cpath = fs_join(s->dir, CORRUPT_FILE);
	buf raw = BUF_INIT;
	json_object *disk = NULL;
	state_problem p = { 0 };
	char *text = NULL;
	int rc;

	if (fs_mkdirs(s->dir, 0755) < 0) {
		rc = diag_errno(diags, s->dir, "cannot create the state folder");
		goto done;
	}
	rc = state_file_read(&disk, &raw, path, &p);
	switch (rc) {
	case AML_OK: {
		/* Only the version this state was loaded from may be replaced:
		 * anything else means a writer that did not hold the lock. */
		const char *lineage = json_object_get_string(json_object_object_get(disk, "lineage"));
		long long serial = json_object_get_int64(json_object_object_get(disk, "serial"));
		if (strcmp(lineage, s->lineage) != 0 || serial != s->serial) {
			diag_error(diags, path, 0, 0, NULL,
				   "the state changed since it was read (now lineage %s, serial %lld; read: "
				   "lineage %s, serial %lld): another amlspec wrote it; run the command again",
				   lineage, serial, s->lineage, s->serial);
			rc = AML_ECONFLICT;
			goto done;
		}
		/* The backup is a copy of the bytes just checked, written atomically:
		 * state.json stays untouched meanwhile, so a valid file exists at
		 * every instant, and the backup can never be a damaged file. */
		if (fs_write_atomic(bpath, raw.ptr, raw.len, 0600) < 0) {
			rc = diag_errno(diags, bpath, "cannot write the backup");
			goto done;
		}
		break;
	}
	case AML_ENOTFOUND:
		break;
	case AML_EINVALID:
		if (p.newer) {
			state_problem_report(diags, DIAG_ERROR, path, &p);
			goto done;
		}
		/* Keep the good backup (what we recovered from) and set the damaged
		 * file aside: it may be a hand edit someone wants back. */
		if (fs_write_atomic(cpath, raw.ptr, raw.len, 0600) < 0) {
			rc = diag_errno(diags, cpath, "cannot keep the damaged state");
			goto done;
		}
		diag_warning(diags, path, 0, 0, NULL, "the damaged state.json was kept as " CORRUPT_FILE);
		break;
	default:
		rc = diag_errno(diags, path, "cannot read the state");
		goto done;
	}

	text = state_serialize(s, s->serial + 1);
	if (fs_write_atomic(path, text, strlen(text), 0600) < 0) {
		rc = diag_errno(diags, path, "cannot write the state");
		goto done;
	}
	s->serial++;
	rc = AML_OK;
done:
	json_object_put(disk);
	state_problem_free(&p);
	buf_free(&raw);
	free(text);
	free(path);
	free(bpath);
	free(cpath);
	return rc;
}

void state_free(state *s)
{
	if (!s)
		return;
	free(s->dir);
	free(s->lineage);
	json_object_put(s->specs);
	json_object_put(s->extra);
	free(s);
}

/* ---- lock --------------------------------------------------------------- */

struct state_lock {
	int fd;
	dev_t dev;
	ino_t ino;
	pid_t pid;                /* the process that took it (fork copies this list) */
	struct state_lock *next;
};

/* The locks this process holds. fcntl locks are per process, so the kernel
 * cannot tell us that we already hold one; this list can. */
static state_lock *held_locks;

static state_lock *held_lock_find(dev_t dev, ino_t ino)
{
	pid_t me = getpid();
	for (state_lock *l = held_locks; l; l = l->next)
		if (l->dev == dev && l->ino == ino && l->pid == me)
			return l;
	return NULL;
}

static void held_lock_remove(state_lock *l)
{
	for (state_lock **pp = &held_locks; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			return;
		}
	}
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void rfc3339_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void hostname(char *out, size_t n)
{
	if (gethostname(out, n) < 0)
		snprintf(out, n, "unknown");
	out[n - 1] = '\0';
}

static int write_full_at(int fd, const char *data, size_t len)
{
	off_t off = 0;
	while (len) {
		ssize_t n = pwrite(fd, data, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static int lock_write_holder(int fd, const char *command)
{
	char host[256], since[32];
	hostname(host, sizeof(host));
	rfc3339_now(since);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int64((int64_t)getpid()));
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "command", json_object_new_string(command ? command : ""));
	json_object_object_add(o, "started_at", json_object_new_string(since));
	char *text = xasprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED |
								       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	int rc = 0;
	if (ftruncate(fd, 0) < 0 || write_full_at(fd, text, strlen(text)) < 0 || fsync(fd) < 0)
		rc = -1;
	free(text);
	return rc;
}

/* Reads the whole lock file through fd (never by path: see state.h). */
static int lock_read_fd(buf *out, int fd)
{
	char chunk[4096];
	off_t off = 0;
	buf_clear(out);
	for (;;) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		buf_add(out, chunk, (size_t)n);
		off += n;
		if (out->len > 65536)
			return 0; /* a holder record is tiny; do not slurp junk */
	}
}

/* Who holds the lock on fd (opened on dir/lock, not held by us): NULL when
 * nobody. The file names the holder, but the kernel is the authority: a
 * SIGKILLed holder leaves its record behind, and a new holder has the lock a
 * moment before it rewrites the record, so the record counts only when its
 * pid is the one the kernel reports. */
static int lock_holder_fd(char **json_out, int fd)
{
	*json_out = NULL;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_GETLK, &fl) < 0)
		return AML_EIO;
	if (fl.l_type == F_UNLCK)
		return AML_OK;
	buf b = BUF_INIT;
	if (lock_read_fd(&b, fd) < 0) {
		int e = errno;
		buf_free(&b);
		errno = e;
		return AML_EIO;
	}
	json_object *o = json_tokener_parse(b.ptr);
	json_object *pid = NULL;
	bool usable = o && json_object_is_type(o, json_type_object) &&
		      json_object_object_get_ex(o, "pid", &pid) && json_object_is_type(pid, json_type_int) &&
		      (fl.l_pid <= 0 /* another pid namespace */ || json_object_get_int64(pid) == fl.l_pid);
	if (usable) {
		*json_out = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		*json_out = xasprintf("{ \"pid\": %lld }", (long long)fl.l_pid);
	}
	json_object_put(o);
	buf_free(&b);
	return AML_OK;
}

static const char *json_str(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void lock_report_busy(diag_list *diags, const char *path, int fd, double waited)
{
	char *holder = NULL;
	buf m = BUF_INIT;
	lock_holder_fd(&holder, fd);
	json_object *o = holder ? json_tokener_parse(holder) : NULL;
	if (o) {
		json_object *pid = json_object_object_get(o, "pid");
		const char *host = json_str(o, "host"), *cmd = json_str(o, "command"),
			   *since = json_str(o, "started_at");
		buf_printf(&m, "the workspace is locked by pid %lld", (long long)json_object_get_int64(pid));
		if (host && *host)
			buf_printf(&m, " on %s", host);
		if (cmd && *cmd && since)
			buf_printf(&m, " (`%s`, since %s)", cmd, since);
		else if (cmd && *cmd)
			buf_printf(&m, " (`%s`)", cmd);
		else if (since)
			buf_printf(&m, " (since %s)", since);
	} else {
		buf_puts(&m, "the workspace is locked by another process");
	}
	buf_printf(&m, "; waited %.1fs", waited);
	diag_error(diags, path, 0, 0, NULL, "%s", m.ptr);
	json_object_put(o);
	free(holder);
	buf_free(&m);
}

int state_lock_acquire(state_lock **out, const char *dir, const char *command, double timeout, diag_list *diags)
{
	*out = NULL;
	char *path = fs_join(dir, LOCK_FILE);
	int fd = -1;
	int rc = AML_OK;
	struct stat st;
	double start = now_seconds();

	if (fs_mkdirs(dir, 0755) < 0) {
		rc = diag_errno(diags, dir, "cannot create the state folder");
		goto done;
	}
	/* Checked before opening: opening and closing the file again would
	 * itself drop the lock this process already holds. */
	if (stat(path, &st) == 0 && held_lock_find(st.st_dev, st.st_ino)) {
		diag_error(diags, path, 0, 0, NULL, "this process already holds the workspace lock");
		rc = AML_ELOCKED;
		goto done;
	}
	for (;;) {
		if (fd < 0) {
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			if (fd < 0) {
				rc = diag_errno(diags, path, "cannot open the lock file");
				goto done;
			}
		}
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		if (fcntl(fd, F_SETLK, &fl) == 0) {
			/* Someone may have removed the file (rm -rf .amlspec) while we
			 * waited: a lock on an unlinked inode excludes nobody. */
			struct stat now;
			if (fstat(fd, &st) < 0) {
				rc = diag_errno(diags, path, "cannot stat the lock file");
				goto done;
			}
			if (stat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino)
				break;
			close(fd);
			fd = -1;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EACCES && errno != EAGAIN) {
			rc = diag_errno(diags, path, "cannot lock");
			goto done;
		}
		double waited = now_seconds() - start;
		if (timeout >= 0 && waited >= timeout) {
			lock_report_busy(diags, path, fd, waited);
			rc = AML_ELOCKED;
			goto done;
		}
		double nap = (double)LOCK_POLL_NS / 1e9;
		if (timeout >= 0 && timeout - waited < nap)
			nap = timeout - waited;
		sleep_seconds(nap);
	}
	if (lock_write_holder(fd, command) < 0) {
		rc = diag_errno(diags, path, "cannot record the lock holder");
		goto done;
	}
	state_lock *l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->pid = getpid();
	l->next = held_locks;
	held_locks = l;
	fd = -1;
	*out = l;
done:
	if (fd >= 0)
		close(fd); /* drops the lock if we had taken it */
	free(path);
	return rc;
}

void state_lock_release(state_lock *l)
{
	if (!l)
		return;
	held_lock_remove(l);
	/* Emptied, never unlinked: unlinking would let the next taker lock a new
	 * file while a waiter still holds a descriptor of the old one. Emptied
	 * while still held so that no other holder's record is clobbered. */
	if (ftruncate(l->fd, 0) < 0) {
		/* The record stays stale; harmless, as readers trust F_GETLK. */
	}
	close(l->fd);
	free(l);
}

int state_lock_holder(char **json_out, const char *dir)
{
	*json_out = NULL;
	char *path = fs_join(dir, LOCK_FILE);
	int rc = AML_OK;
	int fd = -1;
	struct stat st;
	buf b = BUF_INIT;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			rc = AML_EIO;
		goto done;
	}
	state_lock *mine = held_lock_find(st.st_dev, st.st_ino);
	if (mine) {
		/* Our own lock: read through the held descriptor (F_GETLK would say
		 * "unlocked", and closing another descriptor would drop the lock). */
		if (lock_read_fd(&b, mine->fd) < 0) {
			rc = AML_EIO;
			goto done;
		}
		while (b.len && isspace((unsigned char)b.ptr[b.len - 1]))
			buf_truncate(&b, b.len - 1);
		*json_out = buf_detach(&b);
		goto done;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			rc = AML_EIO;
		goto done;
	}
	rc = lock_holder_fd(json_out, fd);
done:
	if (fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	buf_free(&b);
	free(path);
	return rc;
}
