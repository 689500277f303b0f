/* materialize: make a resolved environment real on this machine.
 *
 * Cache layout under the cache root (one entry per digest hex):
 *
 *   <hex>                 symlink to the published build; only ever created by
 *                         an atomic rename() of a complete build, so its
 *                         existence means "complete"
 *   .build-<hex>-XXXXXX   a build, at its permanent place: venvs and conda
 *                         envs are not relocatable (bin/ scripts carry
 *                         absolute shebangs, conda bakes its prefix into
 *                         files), so a build is never moved; publishing
 *                         renames a symlink instead
 *   <hex>.tmp             the symlink being published (a moment only)
 *   <hex>.lock            fcntl lock serialising builds of that digest; kept
 *                         forever, since deleting a lock file races with the
 *                         next process opening it
 *
 * Reusing a published environment takes no lock: a few stat() calls. A build
 * takes the lock, checks again (someone may have published while we waited),
 * removes what killed builds left behind (.build dirs not published, a stale
 * .tmp link, a published env that lost files), builds, writes env.json last
 * and publishes. Anything that fails or dies before the rename leaves nothing
 * published; its leftovers are removed by the next builder of that digest.
 *
 * docker_enabled is not looked at here: whether a run uses an image is the
 * target's decision. environment_variables are the launcher's business. */
#include "materialize.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "util/fs.h"
#include "util/proc.h"

#ifndef AMLSPEC_VERSION
#define AMLSPEC_VERSION "unknown"
#endif

/* Lines of a failed tool's output quoted in the error message. */
#define FAILURE_TAIL_LINES 12

/* ---------- Python versions ---------- */

#define PYVER_PARTS 4

typedef struct pyver {
	int part[PYVER_PARTS];
	int n;
} pyver;

/* Leading numeric parts of s ("3.13.0rc1" -> 3.13.0). strict: s must be
 * only numeric parts ("3", "3.11", "3.11.7"). */
static bool pyver_parse(pyver *v, const char *s, bool strict)
{
	memset(v, 0, sizeof(*v));
	const char *p = s;
	while (v->n < PYVER_PARTS && *p >= '0' && *p <= '9') {
		long x = 0;
		while (*p >= '0' && *p <= '9' && x < 100000)
			x = x * 10 + (*p++ - '0');
		v->part[v->n++] = (int)x;
		if (*p != '.' || !(p[1] >= '0' && p[1] <= '9'))
			break;
		p++;
	}
	return v->n > 0 && (!strict || *p == '\0');
}

static int pyver_cmp(const pyver *a, const pyver *b)
{
	for (int i = 0; i < PYVER_PARTS; i++) {
		int x = i < a->n ? a->part[i] : -1, y = i < b->n ? b->part[i] : -1;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* "3.11" matches 3.11.x; "3.11.7" matches only 3.11.7. */
static bool pyver_matches(const pyver *want, const pyver *have)
{
	if (have->n < want->n)
		return false;
	for (int i = 0; i < want->n; i++)
		if (want->part[i] != have->part[i])
			return false;
	return true;
}

static void pyver_format(buf *b, const pyver *v)
{
	for (int i = 0; i < v->n; i++)
		buf_printf(b, i ? ".%d" : "%d", v->part[i]);
}

/* Runs `python --version` (Python 2 prints it on stderr, hence 2>&1). */
static bool python_version_of(pyver *v, const char *python)
{
	const char *argv[] = { python, "--version", NULL };
	buf out = BUF_INIT;
	diag_list ignored = DIAG_LIST_INIT;
	proc_opts o = PROC_OPTS_INIT;
	o.in_fd = PROC_DEVNULL;
	o.out.capture = &out;
	o.err.fd = PROC_TO_STDOUT;
	proc_status st;
	bool ok = proc_run(&st, argv, &o, &ignored) == AML_OK && proc_status_ok(&st) &&
		  !strncmp(out.ptr, "Python ", 7) && pyver_parse(v, out.ptr + 7, false);
	buf_free(&out);
	diag_list_free(&ignored);
	return ok;
}

typedef struct py_candidate {
	char *path;  /* as found (PATH entry or pyenv folder) */
	char *real;  /* realpath, to see the same interpreter only once */
	pyver v;     /* n == 0: did not answer --version */
} py_candidate;

typedef struct py_search {
	py_candidate *items;
	size_t count, alloc;
} py_search;

static void py_search_free(py_search *s)
{
	for (size_t i = 0; i < s->count; i++) {
		free(s->items[i].path);
		free(s->items[i].real);
	}
	free(s->items);
	memset(s, 0, sizeof(*s));
}

static void py_search_consider(py_search *s, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return;
	char *real = fs_realpath(path);
	if (!real)
		return;
	for (size_t i = 0; i < s->count; i++) {
		if (!strcmp(s->items[i].real, real)) {
			free(real);
			return;
		}
	}
	if (s->count == s->alloc) {
		s->alloc = s->alloc ? s->alloc * 2 : 8;
		s->items = xrealloc(s->items, s->alloc * sizeof(*s->items));
	}
	py_candidate *c = &s->items[s->count++];
	c->path = xstrdup(path);
	c->real = real;
	if (!python_version_of(&c->v, path))
		c->v.n = 0;
}

static char *pyenv_root(void)
{
	const char *r = getenv("PYENV_ROOT");
	if (r && *r)
		return xstrdup(r);
	const char *home = getenv("HOME");
	return home && *home ? fs_join(home, ".pyenv") : NULL;
}

/* Version folder names in version order (3.6 before 3.10), other names
 * after them alphabetically. */
static int cmp_version_names(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	pyver vx, vy;
	bool nx = pyver_parse(&vx, x, true), ny = pyver_parse(&vy, y, true);
	if (nx && ny)
		return pyver_cmp(&vx, &vy);
	if (nx != ny)
		return nx ? -1 : 1;
	return strcmp(x, y);
}

/* PATH first: python3.X, python3, python in each folder, in PATH order.
 * pyenv's shims folder is skipped: a shim is a script that picks an
 * interpreter from the current folder's .python-version, so its answer
 * depends on where amlspec runs; the interpreters behind the shims are
 * found directly under pyenv's versions/ instead. */
#define PY_NAMES 3

static int python_names(char names[PY_NAMES][32], const pyver *want)
{
	int n = 0;
	if (want->n >= 2)
		snprintf(names[n++], sizeof(names[0]), "python%d.%d", want->part[0], want->part[1]);
	snprintf(names[n++], sizeof(names[0]), "python%d", want->part[0]);
	snprintf(names[n++], sizeof(names[0]), "python");
	return n;
}

static void search_path(py_search *s, const pyver *want, const char *shims)
{
	char names[PY_NAMES][32];
	int nnames = python_names(names, want);
	const char *path = getenv("PATH");
	if (!path)
		return;
	const char *p = path;
	while (*p) {
		size_t len = strcspn(p, ":");
		char *dir = xstrndup(p, len);
		while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
			dir[strlen(dir) - 1] = '\0';
		if (dir[0] == '/' && !(shims && !strcmp(dir, shims))) {
			for (int i = 0; i < nnames; i++) {
				char *cand = fs_join(dir, names[i]);
				py_search_consider(s, cand);
				free(cand);
			}
		}
		free(dir);
		p += len;
		if (*p == ':')
			p++;
	}
}

/* pyenv: <root>/versions/<X.Y.Z>/bin/python for every folder whose name
 * matches. All version folder names are collected into `seen` for the
 * error message. Folders that are not plain versions (miniconda3-latest,
 * pypy3.10-7.3, 3.13.0t) are listed but not used. */
static void search_pyenv(py_search *s, const pyver *want, const char *versions_dir, strlist *seen)
{
	DIR *d = opendir(versions_dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		strlist_add(seen, de->d_name);
	}
	closedir(d);
	if (seen->count > 1)
		qsort(seen->items, seen->count, sizeof(char *), cmp_version_names);
	for (size_t i = 0; i < seen->count; i++) {
		pyver v;
		if (!pyver_parse(&v, seen->items[i], true) || !pyver_matches(want, &v))
			continue;
		char *cand = xasprintf("%s/%s/bin/python", versions_dir, seen->items[i]);
		py_search_consider(s, cand);
		free(cand);
	}
}

int env_find_python(char **out, const char *version, diag_list *diags)
{
	*out = NULL;
	if (!version || !*version) {
		*out = proc_which("python3", NULL);
		if (!*out)
			return diag_error(diags, NULL, 0, 0, "environment.python.version",
					  "python3 not found on PATH; install Python 3 or set environment.python.version");
		return AML_OK;
	}
	pyver want;
	if (!pyver_parse(&want, version, true))
		return diag_error(diags, NULL, 0, 0, "environment.python.version",
				  "'%s' is not a Python version (expected e.g. 3.11 or 3.11.7)", version);

	py_search s = { 0 };
	strlist pyenv_seen = STRLIST_INIT;
	char *proot = pyenv_root();
	char *shims = proot ? fs_join(proot, "shims") : NULL;
	char *versions = proot ? fs_join(proot, "versions") : NULL;
	search_path(&s, &want, shims);
	if (versions)
		search_pyenv(&s, &want, versions, &pyenv_seen);

	const py_candidate *best = NULL;
	for (size_t i = 0; i < s.count; i++) {
		const py_candidate *c = &s.items[i];
		if (c->v.n && pyver_matches(&want, &c->v) && (!best || pyver_cmp(&c->v, &best->v) > 0))
			best = c;
	}
	int rc = AML_OK;
	if (best) {
		*out = xstrdup(best->path);
		goto done;
	}

	/* Say where we looked and what we saw there: the user's next step is
	 * to install that version or pick one that exists. */
	buf msg = BUF_INIT;
	buf_printf(&msg, "python %s not found on PATH or among pyenv versions (", version);
	size_t shown = 0;
	for (size_t i = 0; i < s.count; i++) {
		if (!s.items[i].v.n || (versions && fs_is_within(versions, s.items[i].path)))
			continue;
		buf_puts(&msg, shown++ ? ", " : "PATH has ");
		pyver_format(&msg, &s.items[i].v);
		buf_printf(&msg, " at %s", s.items[i].path);
	}
	if (!shown) {
		char names[PY_NAMES][32];
		int n = python_names(names, &want);
		buf_puts(&msg, "PATH has no ");
		for (int i = 0; i < n; i++)
			buf_printf(&msg, "%s%s", i ? (i == n - 1 ? " or " : ", ") : "", names[i]);
	}
	if (versions) {
		buf_printf(&msg, "; %s: ", versions);
		if (!pyenv_seen.count)
			buf_puts(&msg, "none");
		for (size_t i = 0; i < pyenv_seen.count; i++)
			buf_printf(&msg, "%s%s", i ? ", " : "", pyenv_seen.items[i]);
	}
	buf_printf(&msg, "); install it (e.g. pyenv install %s) or change environment.python.version", version);
	rc = diag_error(diags, NULL, 0, 0, "environment.python.version", "%s", msg.ptr);
	buf_free(&msg);
done:
	py_search_free(&s);
	strlist_free(&pyenv_seen);
	free(proot);
	free(shims);
	free(versions);
	return rc;
}

/* ---------- user-managed ---------- */

static int materialize_user_managed(env_instance *out, const resolved_env *env, diag_list *diags)
{
	const envdef *d = &env->def;
	const char *want = d->interpreter_path && *d->interpreter_path ? d->interpreter_path : "python3";
	char *expanded = fs_expand_home(want);
	char *path = NULL;
	int rc = AML_OK;

	if (strchr(expanded, '/')) {
		/* relative to the current folder, as a shell would take it */
		path = fs_absolute(expanded);
		struct stat st;
		if (!path || stat(path, &st) < 0) {
			rc = diag_error(diags, NULL, 0, 0, "environment.python.interpreter_path",
					"interpreter %s does not exist (environment %s is user-managed)", want,
					env->label);
			goto done;
		}
		if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
			rc = diag_error(diags, NULL, 0, 0, "environment.python.interpreter_path",
					"interpreter %s is not an executable file (environment %s is user-managed)",
					path, env->label);
			goto done;
		}
	} else {
		path = proc_which(expanded, NULL);
		if (!path) {
			rc = diag_error(diags, NULL, 0, 0, "environment.python.interpreter_path",
					"interpreter '%s' not found on PATH (environment %s is user-managed); "
					"install it or set environment.python.interpreter_path",
					want, env->label);
			goto done;
		}
	}

	/* The user manages this interpreter, so a different version is theirs
	 * to judge: say so, do not refuse. */
	if (d->python_version && *d->python_version) {
		pyver wantv, have;
		if (pyver_parse(&wantv, d->python_version, true) && python_version_of(&have, path) &&
		    !pyver_matches(&wantv, &have)) {
			buf hv = BUF_INIT;
			pyver_format(&hv, &have);
			diag_warning(diags, NULL, 0, 0, "environment.python.version",
				     "environment %s asks for python %s but the user-managed interpreter %s is %s",
				     env->label, d->python_version, path, hv.ptr);
			buf_free(&hv);
		}
	}
	out->python = path;
	path = NULL;
	out->prefix = NULL;
	out->reused = false;
done:
	free(path);
	free(expanded);
	return rc;
}

/* ---------- the cache ---------- */

char *env_cache_root(void)
{
	/* XDG: a relative XDG_CACHE_HOME is invalid and must be ignored */
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && xdg[0] == '/')
		return fs_join(xdg, "amlspec/envs");
	const char *home = getenv("HOME");
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(getuid());
		home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
	}
	return home ? fs_join(home, ".cache/amlspec/envs") : NULL;
}

/* The hex of "sha256:<64 lowercase hex>", or NULL: the digest becomes a
 * file name, so anything else (a slash, "..") is refused. */
static const char *digest_hex(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7))
		return NULL;
	const char *h = digest + 7;
	for (int i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return NULL;
	return h[64] ? NULL : h;
}

static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Published and intact: env.json is written last, and bin/python must
 * still lead to an interpreter (a venv's bin/python links to its base
 * Python, which can be uninstalled under it). */
static bool env_complete(const char *envdir)
{
	char *json = fs_join(envdir, "env.json");
	char *python = fs_join(envdir, "bin/python");
	bool ok = fs_is_file(json) && is_executable(python);
	free(json);
	free(python);
	return ok;
}

static void fill_instance(env_instance *out, const char *envdir, bool reused)
{
	out->prefix = xstrdup(envdir);
	out->python = fs_join(envdir, "bin/python");
	out->reused = reused;
}

static void logf_(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(FILE *log, const char *fmt, ...)
{
	if (!log)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("amlspec: ", log);
	vfprintf(log, fmt, ap);
	fputc('\n', log);
	va_end(ap);
	fflush(log);
}

static int lock_acquire(int *fd_out, const char *lockpath, FILE *log, diag_list *diags)
{
	*fd_out = -1;
	int fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return diag_errno(diags, NULL, "cannot open the environment lock %s", lockpath);
	struct flock fl = { 0 };
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		if (errno != EACCES && errno != EAGAIN) {
			int rc = diag_errno(diags, NULL, "cannot lock %s", lockpath);
			close(fd);
			return rc;
		}
		logf_(log, "waiting for another build of this environment to finish (lock %s)", lockpath);
		while (fcntl(fd, F_SETLKW, &fl) < 0) {
			if (errno == EINTR)
				continue;
			int rc = diag_errno(diags, NULL, "cannot lock %s", lockpath);
			close(fd);
			return rc;
		}
	}
	/* who holds it, for a human looking at a stuck build */
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) < 0) {
		/* informational only */
	}
	*fd_out = fd;
	return AML_OK;
}

/* Under the lock, with nothing intact published: everything left for this
 * digest is garbage from a killed or broken build. */
static void remove_leftovers(const char *root, const char *hex, const char *envdir, FILE *log)
{
	struct stat st;
	if (lstat(envdir, &st) == 0) {
		logf_(log, "removing the incomplete environment %s", envdir);
		if (S_ISLNK(st.st_mode))
			unlink(envdir); /* its target is a .build dir, removed below */
		else
			fs_remove_tree(envdir);
	}
	char *tmplink = xasprintf("%s.tmp", envdir);
	unlink(tmplink);
	free(tmplink);

	char *prefix = xasprintf(".build-%s-", hex);
	DIR *d = opendir(root);
	if (d) {
		struct dirent *de;
		strlist doomed = STRLIST_INIT;
		while ((de = readdir(d)))
			if (!strncmp(de->d_name, prefix, strlen(prefix)))
				strlist_add_owned(&doomed, fs_join(root, de->d_name));
		closedir(d);
		for (size_t i = 0; i < doomed.count; i++) {
			logf_(log, "removing an unfinished build %s", doomed.items[i]);
			fs_remove_tree(doomed.items[i]);
		}
		strlist_free(&doomed);
	}
	free(prefix);
}

/* ---------- building ---------- */

typedef struct build_ctx {
	const resolved_env *env;
	FILE *log;
	const char *cwd;  /* where build tools run: the cache root */
	buf output;       /* what all steps printed: kept as build.log */
} build_ctx;

/* The last n lines of text, each indented, for an error message. */
static void tail_lines(buf *out, const char *text, size_t len, int n)
{
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	size_t start = len;
	int lines = 0;
	while (start > 0) {
		if (text[start - 1] == '\n' && ++lines == n)
			break;
		start--;
	}
	buf_puts(out, "\n    ");
	for (size_t i = start; i < len; i++) {
		if (text[i] == '\n')
			buf_puts(out, "\n    ");
		else if (text[i] != '\r')
			buf_putc(out, text[i]);
	}
}

/* Runs one build step, output (stdout and stderr merged, in order) to the
 * log and kept for the error message. */
static int run_step(build_ctx *c, const char *what, const char *const argv[], diag_list *diags)
{
	buf cap = BUF_INIT;
	buf cmd = BUF_INIT;
	proc_format_argv(&cmd, argv);
	logf_(c->log, "$ %s", cmd.ptr);
	buf_printf(&c->output, "$ %s\n", cmd.ptr);

	proc_opts o = PROC_OPTS_INIT;
	o.cwd = c->cwd;
	o.in_fd = PROC_DEVNULL; /* a build never asks questions */
	o.out.file = c->log;
	o.out.capture = &cap;
	o.err.fd = PROC_TO_STDOUT;
	proc_status st;
	int rc = proc_run(&st, argv, &o, diags);
	buf_add(&c->output, cap.ptr, cap.len);
	if (rc)
		goto done;
	if (!proc_status_ok(&st)) {
		buf msg = BUF_INIT;
		buf_printf(&msg, "%s failed for environment %s (%s ", what, c->env->label, fs_basename(argv[0]));
		proc_status_describe(&msg, &st);
		buf_puts(&msg, ")");
		if (cap.len) {
			buf_printf(&msg, "; last lines of its output:");
			tail_lines(&msg, cap.ptr, cap.len, FAILURE_TAIL_LINES);
		}
		rc = diag_error(diags, NULL, 0, 0, NULL, "%s", msg.ptr);
		logf_(c->log, "%s", msg.ptr);
		buf_free(&msg);
	}
done:
	buf_free(&cap);
	buf_free(&cmd);
	return rc;
}

/* micromamba, mamba or conda: on PATH, else where a conda shell hook says
 * it is (conda is often a shell function whose executable is off PATH). */
static char *find_conda_tool(void)
{
	static const char *const names[] = { "micromamba", "mamba", "conda" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = proc_which(names[i], NULL);
		if (p)
			return p;
	}
	static const char *const vars[] = { "MAMBA_EXE", "CONDA_EXE" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && v[0] == '/' && is_executable(v))
			return xstrdup(v);
	}
	return NULL;
}

static bool has_package(const strlist *pkgs, const char *name)
{
	for (size_t i = 0; i < pkgs->count; i++) {
		char *n = envdef_package_name(pkgs->items[i]);
		bool same = !strcmp(n, name);
		free(n);
		if (same)
			return true;
	}
	return false;
}

static int conda_create(build_ctx *c, const char *tool, const char *dir, diag_list *diags)
{
	const envdef *d = &c->env->def;
	strlist args = STRLIST_INIT;
	strlist_add(&args, tool);
	strlist_add(&args, "create");
	strlist_add(&args, "-y");
	strlist_add(&args, "-p");
	strlist_add(&args, dir);
	for (size_t i = 0; i < d->channels.count; i++) {
		strlist_add(&args, "-c");
		strlist_add(&args, d->channels.items[i]);
	}
	/* the env needs its own bin/python (pip comes with conda's python) */
	if (!has_package(&d->conda_packages, "python")) {
		if (d->python_version && *d->python_version)
			strlist_add_owned(&args, xasprintf("python=%s", d->python_version));
		else
			strlist_add(&args, "python");
	}
	for (size_t i = 0; i < d->conda_packages.count; i++)
		strlist_add(&args, d->conda_packages.items[i]);
	strlist_add_owned(&args, NULL); /* argv terminator */
	int rc = run_step(c, "creating the conda environment", (const char *const *)args.items, diags);
	strlist_free(&args);
	return rc;
}

static int pip_install(build_ctx *c, const char *python, diag_list *diags)
{
	const envdef *d = &c->env->def;
	strlist args = STRLIST_INIT;
	strlist_add(&args, python);
	strlist_add(&args, "-m");
	strlist_add(&args, "pip");
	strlist_add(&args, "install");
	strlist_add(&args, "--disable-pip-version-check");
	strlist_add(&args, "--no-input");
	for (size_t i = 0; i < d->pip_packages.count; i++)
		strlist_add(&args, d->pip_packages.items[i]);
	strlist_add_owned(&args, NULL);
	int rc = run_step(c, "pip install", (const char *const *)args.items, diags);
	strlist_free(&args);
	return rc;
}

static int write_env_json(build_ctx *c, const char *builddir, const char *published_python,
			  const char *base, const char *tool, diag_list *diags)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "format_version", json_object_new_string("1.0"));
	json_object_object_add(o, "digest", json_object_new_string(c->env->digest));
	json_object_object_add(o, "label", json_object_new_string(c->env->label ? c->env->label : ""));
	json_object_object_add(o, "definition", envdef_to_json(&c->env->def));
	json_object_object_add(o, "python", json_object_new_string(published_python));
	char *built_python = fs_join(builddir, "bin/python");
	pyver v;
	if (python_version_of(&v, built_python)) {
		buf vs = BUF_INIT;
		pyver_format(&vs, &v);
		json_object_object_add(o, "python_version", json_object_new_string(vs.ptr));
		buf_free(&vs);
	} else {
		json_object_object_add(o, "python_version", NULL);
	}
	free(built_python);
	json_object_object_add(o, "built_with", json_object_new_string(tool));
	json_object_object_add(o, "base_interpreter", base ? json_object_new_string(base) : NULL);
	json_object_object_add(o, "build_dir", json_object_new_string(builddir));
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "built_at", json_object_new_string(when));
	json_object_object_add(o, "amlspec_version", json_object_new_string(AMLSPEC_VERSION));

	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	buf b = BUF_INIT;
	buf_puts(&b, text);
	buf_putc(&b, '\n');
	char *path = fs_join(builddir, "env.json");
	int rc = AML_OK;
	if (fs_write_atomic(path, b.ptr, b.len, 0644) < 0)
		rc = diag_errno(diags, path, "cannot write the environment record");
	free(path);
	buf_free(&b);
	json_object_put(o);
	return rc;
}

static int publish(const char *builddir, const char *envdir, diag_list *diags)
{
	char *tmplink = xasprintf("%s.tmp", envdir);
	int rc = AML_OK;
	unlink(tmplink);
	/* relative target: the link stays right if the whole cache root is
	 * reached through another path (a bind mount, a symlinked $HOME) */
	if (symlink(fs_basename(builddir), tmplink) < 0) {
		rc = diag_errno(diags, tmplink, "cannot create the publishing link");
		goto done;
	}
	if (rename(tmplink, envdir) < 0) {
		rc = diag_errno(diags, envdir, "cannot publish the environment");
		unlink(tmplink);
		goto done;
	}
	char *root = fs_dirname(envdir);
	int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(root);
done:
	free(tmplink);
	return rc;
}

static int build(build_ctx *c, const char *root, const char *hex, const char *envdir, diag_list *diags)
{
	const envdef *d = &c->env->def;
	char *tool = NULL, *base = NULL, *builddir = NULL, *python = NULL, *published_python = NULL;
	bool conda = d->conda_packages.count > 0;
	int rc = AML_OK;

	if (conda) {
		tool = find_conda_tool();
		if (!tool) {
			buf pk = BUF_INIT;
			for (size_t i = 0; i < d->conda_packages.count; i++)
				buf_printf(&pk, "%s%s", i ? ", " : "", d->conda_packages.items[i]);
			rc = diag_error(diags, NULL, 0, 0, "environment.python.conda_packages",
					"environment %s has conda packages (%s) but none of micromamba, mamba or conda "
					"is on PATH; install micromamba (or mamba or conda), or move the packages to "
					"pip_packages, or set user_managed_dependencies: true and provide the interpreter",
					c->env->label, pk.ptr);
			buf_free(&pk);
			goto done;
		}
	} else {
		rc = env_find_python(&base, d->python_version, diags);
		if (rc)
			goto done;
	}

	builddir = xasprintf("%s/.build-%s-XXXXXX", root, hex);
	if (!mkdtemp(builddir)) {
		rc = diag_errno(diags, root, "cannot create a build folder");
		free(builddir);
		builddir = NULL;
		goto done;
	}
	chmod(builddir, 0755); /* mkdtemp's 0700 would make a shared cache unusable to others */
	logf_(c->log, "building environment %s (%s) in %s", c->env->label, c->env->digest, builddir);

	if (conda) {
		/* conda wants to create the prefix itself; the name stays ours
		 * because only a holder of this digest's lock makes .build-<hex>-* */
		rmdir(builddir);
		rc = conda_create(c, tool, builddir, diags);
	} else {
		const char *argv[] = { base, "-m", "venv", builddir, NULL };
		rc = run_step(c, "creating the virtual environment", argv, diags);
	}
	if (rc)
		goto done;
	python = fs_join(builddir, "bin/python");
	if (!is_executable(python)) {
		rc = diag_error(diags, NULL, 0, 0, NULL, "environment %s: %s did not create %s", c->env->label,
				conda ? tool : base, python);
		goto done;
	}
	if (d->pip_packages.count) {
		rc = pip_install(c, python, diags);
		if (rc)
			goto done;
	}

	char *logpath = fs_join(builddir, "build.log");
	if (fs_write_atomic(logpath, c->output.ptr, c->output.len, 0644) < 0)
		logf_(c->log, "cannot keep the build log in %s: %s", logpath, strerror(errno));
	free(logpath);
	published_python = fs_join(envdir, "bin/python");
	rc = write_env_json(c, builddir, published_python, base, conda ? tool : "venv", diags);
	if (rc)
		goto done;
	rc = publish(builddir, envdir, diags);
	if (!rc)
		logf_(c->log, "environment %s ready: %s", c->env->label, envdir);
done:
	if (rc && builddir) {
		logf_(c->log, "removing the failed build %s", builddir);
		fs_remove_tree(builddir);
	}
	free(tool);
	free(base);
	free(builddir);
	free(python);
	free(published_python);
	return rc;
}

int env_materialize(env_instance *out, const resolved_env *env, const materialize_opts *opts, diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	if (env->def.user_managed)
		return materialize_user_managed(out, env, diags);

	FILE *log = opts ? opts->log : NULL;
	char *root = NULL, *envdir = NULL, *lockpath = NULL;
	int lockfd = -1;
	int rc = AML_OK;
	build_ctx c = { env, log, NULL, BUF_INIT };

	const char *hex = digest_hex(env->digest);
	if (!hex)
		return diag_error(diags, NULL, 0, 0, NULL, "environment %s: '%s' is not a sha256 digest",
				  env->label, env->digest ? env->digest : "(none)");
	root = opts && opts->cache_root ? fs_absolute(opts->cache_root) : env_cache_root();
	if (!root) {
		rc = diag_error(diags, NULL, 0, 0, NULL,
				"no folder for the environment cache: set XDG_CACHE_HOME or HOME");
		goto done;
	}
	envdir = fs_join(root, hex);
	/* the fast path: published means complete, no lock needed */
	if (env_complete(envdir)) {
		fill_instance(out, envdir, true);
		goto done;
	}

	if (fs_mkdirs(root, 0755) < 0) {
		rc = diag_errno(diags, root, "cannot create the environment cache");
		goto done;
	}
	lockpath = xasprintf("%s.lock", envdir);
	rc = lock_acquire(&lockfd, lockpath, log, diags);
	if (rc)
		goto done;
	if (env_complete(envdir)) {
		/* another process built it while we waited for the lock */
		fill_instance(out, envdir, true);
		goto done;
	}
	remove_leftovers(root, hex, envdir, log);
	c.cwd = root;
	rc = build(&c, root, hex, envdir, diags);
	if (!rc)
		fill_instance(out, envdir, false);
done:
	if (lockfd >= 0)
		close(lockfd); /* releases the lock */
	buf_free(&c.output);
	free(root);
	free(envdir);
	free(lockpath);
	return rc;
}

void env_instance_free(env_instance *e)
{
	if (!e)
		return;
	free(e->python);
	free(e->prefix);
	memset(e, 0, sizeof(*e));
}
