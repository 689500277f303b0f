#include "workspace/runs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"

static const char *const status_names[] = {
	"NotStarted", "Queued", "Preparing", "Running", "Finalizing", "CancelRequested",
	"Completed", "Failed", "Canceled", "Unknown",
};

const char *run_status_name(run_status s)
{
	return status_names[s];
}

run_status run_status_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(name, status_names[i]))
			return (run_status)i;
	return RS_UNKNOWN;
}

bool run_status_terminal(run_status s)
{
	return s == RS_COMPLETED || s == RS_FAILED || s == RS_CANCELED;
}

char *time_now_rfc3339(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char b[40];
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	return xasprintf("%s.%03ldZ", b, (long)(tv.tv_usec / 1000));
}

double time_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double time_parse_rfc3339(const char *t)
{
	if (!t)
		return 0;
	struct tm tm = { 0 };
	const char *rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return 0;
	double frac = *rest == '.' ? strtod(rest, NULL) : 0;
	return (double)timegm(&tm) + frac;
}

char *run_id_new(const char *experiment)
{
	unsigned char r[4] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, r, sizeof(r)) != (ssize_t)sizeof(r))
			memset(r, 0, sizeof(r));
		close(fd);
	}
	return xasprintf("%s_%lld_%02x%02x%02x%02x", experiment, (long long)time(NULL), r[0], r[1], r[2], r[3]);
}

char *runs_dir(const char *state_dir)
{
	return fs_join(state_dir, "runs");
}

void run_record_free(run_record *r)
{
	if (!r)
		return;
	free(r->dir);
	free(r->id);
	json_object_put(r->doc);
	if (r->end_fd >= 0)
		close(r->end_fd);
	free(r);
}

int run_record_save(run_record *r, diag_list *diags)
{
	char *path = fs_join(r->dir, "run.json");
	const char *text = json_object_to_json_string_ext(r->doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
									  JSON_C_TO_STRING_NOSLASHESCAPE);
	buf b = BUF_INIT;
	buf_puts(&b, text);
	buf_putc(&b, '\n');
	int rc = AML_OK;
	if (fs_write_atomic(path, b.ptr, b.len, 0600) < 0)
		rc = diag_errno(diags, path, "cannot write the run record");
	buf_free(&b);
	free(path);
	return rc;
}

int run_record_create(run_record **out, const char *state_dir, const char *id, json_object *doc, diag_list *diags)
{
	char *rd = runs_dir(state_dir);
	char *dir = fs_join(rd, id);
	/* The folder is filled under a hidden name (runs_list skips dot names)
	 * and renamed into place, so a run folder never lacks its run.json, even
	 * when the process is killed in between. */
	char *tmpname = xasprintf(".tmp-%s", id);
	char *tmp = fs_join(rd, tmpname);
	free(tmpname);
	free(rd);
	*out = NULL;
	if (fs_mkdirs(tmp, 0700) < 0) {
		int rc = diag_errno(diags, tmp, "cannot create the run folder");
		free(tmp);
		free(dir);
		json_object_put(doc);
		return rc;
	}
	run_record *r = xcalloc(1, sizeof(*r));
	r->dir = tmp;
	r->id = xstrdup(id);
	r->doc = doc;
	r->end_fd = -1;
	int rc = run_record_save(r, diags);
	if (!rc && rename(tmp, dir) < 0)
		rc = diag_errno(diags, dir, "cannot create the run folder");
	if (rc) {
		fs_remove_tree(tmp);
		free(dir);
		run_record_free(r);
		return rc;
	}
	free(r->dir);
	r->dir = dir;
	*out = r;
	return AML_OK;
}

int run_record_load_dir(run_record **out, const char *dir, diag_list *diags)
{
	char *path = fs_join(dir, "run.json");
	buf text = BUF_INIT;
	*out = NULL;
	int rc = AML_OK;
	if (buf_read_file(&text, path, 64 * 1024 * 1024) < 0) {
		rc = errno == ENOENT ? diag_error(diags, path, 0, 0, NULL, "no run record here")
				     : diag_errno(diags, path, "cannot read the run record");
		goto done;
	}
	json_object *doc = json_tokener_parse(text.ptr);
	if (!doc || !json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		rc = diag_error(diags, path, 0, 0, NULL, "the run record is not valid JSON");
		goto done;
	}
	run_record *r = xcalloc(1, sizeof(*r));
	r->dir = xstrdup(dir);
	r->id = xstrdup(fs_basename(dir));
	r->doc = doc;
	r->end_fd = -1;
	*out = r;
done:
	buf_free(&text);
	free(path);
	return rc;
}

int run_record_load(run_record **out, const char *state_dir, const char *id, diag_list *diags)
{
	/* ids come from state.json and the command line too: a name in runs/,
	 * never a path that climbs out of it or a hidden folder */
	if (!id || !*id || id[0] == '.' || strchr(id, '/')) {
		*out = NULL;
		return diag_error(diags, NULL, 0, 0, NULL, "'%s' is not a run id", id ? id : "");
	}
	char *rd = runs_dir(state_dir);
	char *dir = fs_join(rd, id);
	int rc = run_record_load_dir(out, dir, diags);
	free(dir);
	free(rd);
	return rc;
}

const char *run_record_str(const run_record *r, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(r->doc, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

long long run_record_int(const run_record *r, const char *key, long long dflt)
{
	json_object *v;
	if (!json_object_object_get_ex(r->doc, key, &v) || !json_object_is_type(v, json_type_int))
		return dflt;
	return json_object_get_int64(v);
}

void run_record_set_str(run_record *r, const char *key, const char *value)
{
	json_object_object_add(r->doc, key, value ? json_object_new_string(value) : NULL);
}

void run_record_set_int(run_record *r, const char *key, long long value)
{
	json_object_object_add(r->doc, key, json_object_new_int64(value));
}

run_status run_record_status(const run_record *r)
{
	return run_status_parse(run_record_str(r, "status"));
}

void run_record_set_status(run_record *r, run_status s)
{
	run_record_set_str(r, "status", run_status_name(s));
	char *now = time_now_rfc3339();
	run_record_set_str(r, "status_updated_at", now);
	free(now);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t runs_sweep_partial(const char *state_dir)
{
	char *rd = runs_dir(state_dir);
	DIR *d = opendir(rd);
	size_t removed = 0;
	if (d) {
		struct dirent *de;
		strlist doomed = STRLIST_INIT;
		while ((de = readdir(d)))
			if (!strncmp(de->d_name, ".tmp-", 5))
				strlist_add_owned(&doomed, fs_join(rd, de->d_name));
		closedir(d);
		for (size_t i = 0; i < doomed.count; i++)
			removed += fs_remove_tree(doomed.items[i]) == 0;
		strlist_free(&doomed);
	}
	free(rd);
	return removed;
}

int runs_list(strlist *ids, const char *state_dir, diag_list *diags)
{
	(void)diags;
	char *rd = runs_dir(state_dir);
	DIR *d = opendir(rd);
	free(rd);
	if (!d)
		return AML_OK;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			strlist_add(ids, de->d_name);
	closedir(d);
	if (ids->count > 1)
		qsort(ids->items, ids->count, sizeof(char *), cmp_str);
	return AML_OK;
}

int runs_find(char **out, const char *state_dir, const char *prefix, diag_list *diags)
{
	strlist ids = STRLIST_INIT;
	runs_list(&ids, state_dir, diags);
	*out = NULL;
	size_t hits = 0;
	for (size_t i = 0; i < ids.count; i++) {
		if (!strcmp(ids.items[i], prefix)) {
			free(*out);
			*out = xstrdup(ids.items[i]);
			hits = 1;
			break;
		}
		if (!strncmp(ids.items[i], prefix, strlen(prefix))) {
			hits++;
			free(*out);
			*out = xstrdup(ids.items[i]);
		}
	}
	strlist_free(&ids);
	if (hits == 1)
		return AML_OK;
	free(*out);
	*out = NULL;
	if (hits == 0)
		return diag_error(diags, NULL, 0, 0, NULL, "no run '%s' in this workspace", prefix);
	return diag_error(diags, NULL, 0, 0, NULL, "'%s' matches %zu runs; give more of the id", prefix, hits);
}

bool run_supervisor_alive(const run_record *r)
{
	char *path = fs_join(r->dir, "supervisor.lock");
	int fd = open(path, O_RDWR | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return false;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	bool alive = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	close(fd);
	return alive;
}

static void list_tree(json_object *arr, const char *root, const char *rel, unsigned depth)
{
	char *dir = rel ? fs_join(root, rel) : xstrdup(root);
	strlist names = STRLIST_INIT;
	DIR *d = depth < 16 ? opendir(dir) : NULL;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				strlist_add(&names, de->d_name);
		closedir(d);
	}
	strlist_sort(&names);
	for (size_t i = 0; i < names.count && json_object_array_length(arr) < 10000; i++) {
		char *r = rel ? fs_join(rel, names.items[i]) : xstrdup(names.items[i]);
		char *full = fs_join(root, r);
		struct stat st;
		if (lstat(full, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				list_tree(arr, root, r, depth + 1);
			} else {
				json_object *f = json_object_new_object();
				json_object_object_add(f, "path", json_object_new_string(r));
				json_object_object_add(f, "size", json_object_new_int64(st.st_size));
				json_object_array_add(arr, f);
			}
		}
		free(full);
		free(r);
	}
	strlist_free(&names);
	free(dir);
}

void runs_list_files(json_object *arr, const char *root)
{
	list_tree(arr, root, NULL, 0);
}
