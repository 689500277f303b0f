#include "cmd/specset.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/discover.h"
#include "spec/schema.h"
#include "util/fs.h"

void specset_free(specset *set)
{
	for (size_t i = 0; i < set->nfiles; i++) {
		free(set->files[i].path);
		free(set->files[i].display);
		run_spec_free(set->files[i].spec);
	}
	free(set->files);
	for (size_t i = 0; i < set->nworkspaces; i++)
		workspace_free(set->workspaces[i]);
	free(set->workspaces);
	free(set->last_dir);
	free(set->cwd);
	memset(set, 0, sizeof(*set));
}

static spec_file *add_file(specset *set, const char *path)
{
	if (set->nfiles == set->alloc) {
		set->alloc = set->alloc ? 2 * set->alloc : 16;
		set->files = xrealloc(set->files, set->alloc * sizeof(*set->files));
	}
	spec_file *f = &set->files[set->nfiles++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	char cwd[PATH_MAX];
	const char *dir = set->cwd ? set->cwd : getcwd(cwd, sizeof(cwd));
	char *abs = dir ? fs_absolute_from(dir, path) : xstrdup(path);
	f->display = path_for_display_from(dir, abs);
	free(abs);
	f->valid = true;
	return f;
}

/* The workspace for a folder, opened once per root; its own file
 * (amlspec.yaml) is checked when it is first opened and listed among the
 * files. */
static workspace *workspace_for_dir(specset *set, const char *dir, const cli *ctx, diag_list *diags)
{
	char *root = NULL;
	int rc = workspace_find_root(&root, dir, ctx->workspace_dir, diags);
	if (rc)
		return NULL;
	for (size_t i = 0; i < set->nworkspaces; i++)
		if (!strcmp(set->workspaces[i]->root, root)) {
			free(root);
			return set->workspaces[i];
		}
	workspace *ws = NULL;
	size_t before = diags->errors;
	workspace_open(&ws, root, diags);
	free(root);
	set->workspaces = xrealloc(set->workspaces, (set->nworkspaces + 1) * sizeof(*set->workspaces));
	set->workspaces[set->nworkspaces++] = ws;
	if (ws->config_path) {
		spec_file *f = add_file(set, ws->config_path);
		f->is_workspace = true;
		f->valid = diags->errors == before;
		f->ws = ws;
	}
	return ws;
}

/* Files come folder by folder, so the last folder's answer is usually the
 * one wanted: finding a root walks up to / with a stat per level. */
static workspace *workspace_for(specset *set, const char *file, const cli *ctx, diag_list *diags)
{
	char *dir = fs_dirname(file);
	if (set->last_dir && !strcmp(set->last_dir, dir)) {
		free(dir);
		return set->last_ws;
	}
	workspace *ws = workspace_for_dir(set, dir, ctx, diags);
	free(set->last_dir);
	set->last_dir = ws ? dir : NULL;
	set->last_ws = ws;
	if (!ws)
		free(dir);
	return ws;
}

typedef struct path_ref {
	char *real;
	size_t index;
} path_ref;

static int cmp_path_ref(const void *a, const void *b)
{
	const path_ref *x = a, *y = b;
	int c = strcmp(x->real, y->real);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* dup[i] is true when files[i] is the same file as an earlier one
 * (O(n log n): sweeps of thousands of specs are normal). */
static bool *mark_duplicate_files(const strlist *files)
{
	bool *dup = xcalloc(files->count + 1, sizeof(bool));
	path_ref *refs = xcalloc(files->count + 1, sizeof(*refs));
	size_t n = 0;
	for (size_t i = 0; i < files->count; i++) {
		char *real = fs_realpath(files->items[i]);
		if (real)
			refs[n++] = (path_ref){ real, i };
	}
	qsort(refs, n, sizeof(*refs), cmp_path_ref);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(refs[i].real, refs[i - 1].real))
			dup[refs[i].index] = true;
	for (size_t i = 0; i < n; i++)
		free(refs[i].real);
	free(refs);
	return dup;
}

static int cmp_by_address(const void *a, const void *b)
{
	const spec_file *x = *(spec_file *const *)a, *y = *(spec_file *const *)b;
	if (x->ws != y->ws)
		return (uintptr_t)x->ws < (uintptr_t)y->ws ? -1 : 1;
	int c = strcmp(x->spec->address, y->spec->address);
	return c ? c : (x < y ? -1 : x > y);
}

/* One address per spec within a workspace: every later file with an
 * address already taken is an error naming the first. */
static void check_addresses(specset *set, diag_list *diags)
{
	spec_file **v = xcalloc(set->nfiles + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < set->nfiles; i++)
		if (set->files[i].spec)
			v[n++] = &set->files[i];
	qsort(v, n, sizeof(*v), cmp_by_address);
	size_t first = 0;
	for (size_t i = 1; i < n; i++) {
		spec_file *a = v[i], *b = v[first];
		if (a->ws != b->ws || strcmp(a->spec->address, b->spec->address)) {
			first = i;
			continue;
		}
		/* at the name when it is written, else at the experiment */
		const run_spec *sa = a->spec;
		diag_error(diags, a->display, sa->name_line ? sa->name_line : sa->experiment_line,
			   sa->name_line ? sa->name_col : sa->experiment_col, "name",
			   "two specs have the address %s: this file and %s; set a different 'name:'", sa->address,
			   b->display);
		a->valid = false;
	}
	free(v);
}

/* Loading specs is independent work once each has its workspace: beyond a
 * few dozen it is spread over the processors. Each spec gets its own
 * diagnostics, merged in file order afterwards, so output does not depend
 * on scheduling; each thread has its own path cache. */
#define PARALLEL_MIN_SPECS 32
#define MAX_THREADS 8

typedef struct load_job {
	specset *set;
	size_t *todo;      /* indices into set->files */
	diag_list *diags;  /* one per todo entry */
	size_t count;
	size_t next;       /* shared cursor */
	pthread_mutex_t lock;
} load_job;

static void load_one(load_job *job, size_t i, run_spec_cache *cache)
{
	spec_file *f = &job->set->files[job->todo[i]];
	f->valid = run_spec_load_cached(&f->spec, f->path, f->display, f->ws, cache, &job->diags[i]) == AML_OK;
}

static void *load_worker(void *arg)
{
	load_job *job = arg;
	run_spec_cache *cache = run_spec_cache_new(job->set->cwd);
	for (;;) {
		/* small batches: specs differ in size, and a cursor step is cheap */
		pthread_mutex_lock(&job->lock);
		size_t begin = job->next, end = begin + 8 < job->count ? begin + 8 : job->count;
		job->next = end;
		pthread_mutex_unlock(&job->lock);
		if (begin >= end)
			break;
		for (size_t i = begin; i < end; i++)
			load_one(job, i, cache);
	}
	run_spec_cache_free(cache);
	schema_thread_cache_free();
	return NULL;
}

static size_t thread_count(size_t work)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("AMLSPEC_THREADS"); /* tests and benchmarks pin it */
	if (env && *env)
		cpus = strtol(env, NULL, 10);
	if (work < PARALLEL_MIN_SPECS || cpus < 2)
		return 1;
	return cpus > MAX_THREADS ? MAX_THREADS : (size_t)cpus;
}

static void load_specs(specset *set, size_t *todo, size_t count, diag_list *diags)
{
	load_job job = { set, todo, xcalloc(count + 1, sizeof(diag_list)), count, 0, PTHREAD_MUTEX_INITIALIZER };
	size_t nthreads = thread_count(count), started = 0;
	pthread_t threads[MAX_THREADS];
	/* the calling thread works too; a thread that cannot start is not needed */
	while (started + 1 < nthreads && pthread_create(&threads[started], NULL, load_worker, &job) == 0)
		started++;
	load_worker(&job);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (size_t i = 0; i < count; i++) {
		diag_list_move(diags, &job.diags[i]);
		diag_list_free(&job.diags[i]);
	}
	free(job.diags);
	pthread_mutex_destroy(&job.lock);
}

/* A workspace's catalog problems, once, against its amlspec.yaml (which
 * names the catalog folders) rather than against a spec. */
static void report_catalogs(specset *set, diag_list *diags)
{
	for (size_t w = 0; w < set->nworkspaces; w++) {
		workspace *ws = set->workspaces[w];
		if (!ws->cat_report_later)
			continue;
		/* team catalogs are checked even when no spec names an entry */
		if (ws->cat_state == 0 && ws->catalog_dirs.count)
			workspace_catalog(ws, NULL);
		ws->cat_report_later = false;
		if (ws->cat_state == 0)
			continue;
		for (size_t i = 0; i < ws->cat_diags.count; i++) {
			const diag *d = &ws->cat_diags.items[i];
			diag_add(diags, d->severity, d->file, d->line, d->col, d->path, "%s", d->message);
		}
		for (size_t i = 0; i < set->nfiles && ws->cat_state < 0; i++)
			if (set->files[i].is_workspace && set->files[i].ws == ws)
				set->files[i].valid = false;
	}
}

int specset_load(specset *set, int npaths, char **paths, const cli *ctx, diag_list *diags)
{
	strlist files = STRLIST_INIT;
	static char *dot[] = { "." };
	if (npaths == 0) {
		npaths = 1;
		paths = dot;
	}
	char cwd[PATH_MAX];
	if (!set->cwd && getcwd(cwd, sizeof(cwd)))
		set->cwd = xstrdup(cwd);
	for (int i = 0; i < npaths; i++) {
		if (spec_discover(&files, paths[i], diags)) {
			/* not there: a file that failed (the error is in diags) */
			add_file(set, paths[i])->valid = false;
			continue;
		}
		/* a folder's workspace file is checked even with no spec in it */
		if (fs_is_dir(paths[i]))
			workspace_for_dir(set, paths[i], ctx, diags);
	}
	/* a file reached twice (a.run.yaml .) is one spec, not a clash; only
	 * several PATH arguments can reach a file twice */
	bool *dup = npaths > 1 ? mark_duplicate_files(&files) : NULL;
	size_t *todo = xcalloc(files.count + 1, sizeof(*todo)), ntodo = 0;
	for (size_t i = 0; i < files.count; i++) {
		const char *path = files.items[i];
		if (dup && dup[i])
			continue;
		if (!strcmp(fs_basename(path), "amlspec.yaml")) {
			workspace_for(set, path, ctx, diags);
			continue;
		}
		workspace *ws = workspace_for(set, path, ctx, diags);
		spec_file *f = add_file(set, path);
		f->ws = ws;
		if (!ws) {
			f->valid = false;
			continue;
		}
		todo[ntodo++] = set->nfiles - 1;
	}
	for (size_t i = 0; i < set->nworkspaces; i++)
		set->workspaces[i]->cat_report_later = true;
	load_specs(set, todo, ntodo, diags);
	free(todo);
	report_catalogs(set, diags);
	strlist_free(&files);
	free(dup);
	check_addresses(set, diags);
	return diags->errors ? AML_EINVALID : AML_OK;
}

int specset_workspace(workspace **out, specset *set, const cli *ctx, diag_list *diags)
{
	*out = NULL;
	workspace *ws = NULL;
	for (size_t i = 0; i < set->nfiles; i++) {
		if (!set->files[i].ws || set->files[i].is_workspace)
			continue;
		if (ws && set->files[i].ws != ws)
			return diag_error(diags, set->files[i].display, 0, 0, NULL,
					  "belongs to workspace %s, but other specs given belong to %s; run one workspace at a time",
					  set->files[i].ws->root, ws->root);
		ws = set->files[i].ws;
	}
	if (!ws) {
		char *root = NULL;
		int rc = workspace_find_root(&root, ".", ctx->workspace_dir, diags);
		if (rc)
			return rc;
		for (size_t i = 0; i < set->nworkspaces && !ws; i++)
			if (!strcmp(set->workspaces[i]->root, root))
				ws = set->workspaces[i];
		if (!ws) {
			rc = workspace_open(&ws, root, diags);
			set->workspaces = xrealloc(set->workspaces, (set->nworkspaces + 1) * sizeof(*set->workspaces));
			set->workspaces[set->nworkspaces++] = ws;
		}
		free(root);
		if (rc)
			return rc;
	}
	*out = ws;
	return AML_OK;
}
