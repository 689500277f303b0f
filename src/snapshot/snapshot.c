/* snapshot: a source directory as a git tree in a bare object store.
 *
 * How a snapshot is taken (see snapshot.h for the contract):
 *  - the store is a bare repository; the source directory becomes its work
 *    tree in memory only, so the store's config never names a source;
 *  - each source directory has a private index inside the store (named by a
 *    hash of its real path). The index is git's stat cache: an unchanged file
 *    is not read again, so re-snapshots cost about what `git status` costs;
 *  - one index-to-workdir diff finds what changed (UPDATE_INDEX refreshes
 *    stale stat data so a touched but unchanged file is hashed once, not
 *    on every run); only those paths are hashed and written;
 *  - the ignore rules are libgit2's, steered with internal rules, which
 *    libgit2 consults before any ignore file (see ignore_rules());
 *  - before any of that, the stat cache (statcache.h, fast_path()) answers
 *    for a source that has not changed since the last full snapshot, with
 *    fstatat calls only: a `plan` of an unchanged tree does not start
 *    libgit2 at all. Every full snapshot rewrites it (save_stat_cache()).
 *
 * Every entry point pairs amlgit_init() with amlgit_shutdown():
 * libgit2 counts them itself, so this stays balanced whatever else in the
 * process uses libgit2, and nothing is left behind for valgrind. */
#include "snapshot/snapshot.h"
#include "snapshot/statcache.h"
#include "util/git.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/crypto_dyn.h"
#include "util/fs.h"
#include "util/git2_dyn.h"
#include "util/strlist.h"

/* Files of ours inside the store, beside git's own. */
#define PRIVATE_DIR "amlspec"
#define PRIVATE_CONFIG PRIVATE_DIR "/config"

/* The index keeps the fingerprint of the ignore rules it was built with as a
 * pseudo-entry, so that rules and stat cache are replaced together by one
 * atomic rename (a side file could be paired with another process's index).
 * The path is under .amlspec/, which a snapshot never contains. */
#define RULES_ENTRY ".amlspec/rules"
#define RULES_VERSION "amlspec snapshot rules 1\n"

#define SNAPSHOT_AUTHOR_NAME "amlspec"
#define SNAPSHOT_AUTHOR_EMAIL "amlspec@localhost"

/* Settings that would make a snapshot depend on who takes it: the user's
 * global excludes and attributes (when these keys are unset, libgit2 falls
 * back to ~/.config/git/ignore and ~/.config/git/attributes) and CRLF
 * conversion. Read above the store's own config; the user's global and
 * system config are not read at all. */
static const char private_config[] =
	"# Written by amlspec: snapshots must not depend on the user's git settings.\n"
	"[core]\n"
	"\texcludesFile = /dev/null\n"
	"\tattributesFile = /dev/null\n"
	"\tautocrlf = false\n"
	"\tsafecrlf = false\n";

static int lib_init(diag_list *diags)
{
	if (amlgit_init() < 0) {
		diag_error(diags, NULL, 0, 0, NULL, "cannot initialise libgit2");
		return AML_ERROR;
	}
	return AML_OK;
}

static void lib_shutdown(void)
{
	amlgit_shutdown();
}

/* An error from libgit2: our words, then libgit2's last message. */
static int git_fail(diag_list *diags, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int git_fail(diag_list *diags, const char *file, const char *fmt, ...)
{
	const git_error *e = git_error_last();
	buf m = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&m, fmt, ap);
	va_end(ap);
	diag_error(diags, file, 0, 0, NULL, "%s: %s", m.ptr, e && e->message ? e->message : "unknown libgit2 error");
	buf_free(&m);
	return AML_ERROR;
}

static unsigned long long tmp_counter;

/* A name beside path that no other process (or call) uses. */
static char *tmp_name(const char *path)
{
	return xasprintf("%s.tmp-%ld-%llu", path, (long)getpid(), tmp_counter++);
}

static int write_private_config(const char *gitdir, diag_list *diags)
{
	char *dir = fs_join(gitdir, PRIVATE_DIR);
	char *path = fs_join(gitdir, PRIVATE_CONFIG);
	buf cur = BUF_INIT;
	int rc = AML_OK;

	if (buf_read_file(&cur, path, 1 << 16) == 0 && !strcmp(cur.ptr, private_config))
		goto done;
	if (fs_mkdirs(dir, 0755) < 0) {
		rc = diag_errno(diags, dir, "cannot create folder");
		goto done;
	}
	/* Atomic, so concurrent writers of the same bytes cannot collide. */
	if (fs_write_atomic(path, private_config, strlen(private_config), 0644) < 0)
		rc = diag_errno(diags, path, "cannot write");
done:
	buf_free(&cur);
	free(path);
	free(dir);
	return rc;
}

/* Creates the store in a private temporary folder and renames it into place,
 * so a concurrent process either sees no store or a complete one; the loser
 * of the rename race simply uses the winner's store. */
static int store_create(const char *store, diag_list *diags)
{
	char *parent = fs_dirname(store);
	char *tmp = tmp_name(store);
	git_repository *repo = NULL;
	int rc = AML_OK;

	/* the state folder: private (0700) like the state and runs it holds */
	if (fs_mkdirs(parent, 0700) < 0) {
		rc = diag_errno(diags, parent, "cannot create folder");
		goto done;
	}
	if (git_repository_init(&repo, tmp, 1) < 0) {
		rc = git_fail(diags, store, "cannot create the snapshot store");
		goto done;
	}
	if ((rc = write_private_config(tmp, diags)) < 0)
		goto done;
	if (rename(tmp, store) < 0 && errno != EEXIST && errno != ENOTEMPTY) {
		rc = diag_errno(diags, store, "cannot create the snapshot store");
		goto done;
	}
done:
	git_repository_free(repo);
	fs_remove_tree(tmp); /* gone after a successful rename; the loser's copy otherwise */
	free(tmp);
	free(parent);
	return rc;
}

/* Opens (or with create, creates) the store with a config of its own: the
 * store's config file plus ours, never the user's global or system files. */
static int store_open(git_repository **out, const char *store, bool create, diag_list *diags)
{
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	char *local = NULL, *priv = NULL;
	int rc = AML_OK, err;

	*out = NULL;
	err = git_repository_open_bare(&repo, store);
	if (err == GIT_ENOTFOUND && create) {
		if ((rc = store_create(store, diags)) < 0)
			goto done;
		err = git_repository_open_bare(&repo, store);
	}
	if (err == GIT_ENOTFOUND) {
		diag_error(diags, store, 0, 0, NULL, "not a snapshot store (no git repository there)");
		rc = AML_ENOTFOUND;
		goto done;
	}
	if (err < 0) {
		rc = git_fail(diags, store, "cannot open the snapshot store");
		goto done;
	}
	local = fs_join(git_repository_path(repo), "config");
	priv = fs_join(git_repository_path(repo), PRIVATE_CONFIG);
	/* A store made by plain git (or an older amlspec) gets ours on first use. */
	if (create && (rc = write_private_config(git_repository_path(repo), diags)) < 0)
		goto done;
	if (git_config_new(&cfg) < 0 ||
	    git_config_add_file_ondisk(cfg, local, GIT_CONFIG_LEVEL_LOCAL, repo, 0) < 0 ||
	    (fs_exists(priv) && git_config_add_file_ondisk(cfg, priv, GIT_CONFIG_LEVEL_APP, repo, 0) < 0) ||
	    git_repository_set_config(repo, cfg) < 0) {
		rc = git_fail(diags, store, "cannot read the snapshot store's config");
		goto done;
	}
	*out = repo;
	repo = NULL;
done:
	git_config_free(cfg);
	git_repository_free(repo);
	free(priv);
	free(local);
	return rc;
}

/* Backslash-escapes a literal path for an ignore pattern. */
static void put_literal_pattern(buf *b, const char *path)
{
	for (const char *p = path; *p; p++) {
		if (strchr("*?[]\\!# ", *p))
			buf_putc(b, '\\');
		buf_putc(b, *p);
	}
}

/* The internal rules. libgit2 looks at them before any ignore file and the
 * first rule set that matches decides (ignore.c, git_ignore__lookup), so:
 *  - the fixed exclusions come last (the last matching rule wins) and no
 *    `!outputs` in a user's file can bring the store or outputs back;
 *  - with .amlignore, a leading `!*` matches every path, so the decision is
 *    always made here and no .gitignore (nor global exclude) is consulted:
 *    Azure ML uses .amlignore *instead of* .gitignore, not on top of it.
 * `.git` is in libgit2's defaults already; it is repeated after `!*`. */
static int ignore_rules(buf *rules, bool *amlignore, const char *src, const char *store_real,
			const char *display, diag_list *diags)
{
	char *path = fs_join(src, ".amlignore");
	buf content = BUF_INIT;
	struct stat st;
	int rc = AML_OK;

	*amlignore = false;
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode) || buf_read_file(&content, path, 1 << 20) < 0) {
			rc = diag_error(diags, display, 0, 0, NULL, ".amlignore is not a readable file (or is over 1 MB)");
			goto done;
		}
		*amlignore = true;
		buf_puts(rules, "!*\n");
		buf_add(rules, content.ptr, content.len);
		buf_puts(rules, "\n.git\n");
	}
	buf_puts(rules, "/.amlspec\n/outputs\n");
	/* A store inside the source (not under .amlspec/) must not snapshot itself. */
	if (fs_is_within(src, store_real) && strcmp(src, store_real)) {
		buf_putc(rules, '/');
		put_literal_pattern(rules, store_real + strlen(src) + (src[strlen(src) - 1] == '/' ? 0 : 1));
		buf_putc(rules, '\n');
	}
done:
	buf_free(&content);
	free(path);
	return rc;
}

static bool is_gitignore_path(const char *path)
{
	return !strcmp(fs_basename(path), ".gitignore");
}

/* Fingerprint of everything that decides what is ignored: our rules, and in
 * .gitignore mode every .gitignore file (tracked ones from the index, ignored
 * ones from the diff), as "path blob-id" lines in sorted order so the same
 * rules always give the same fingerprint. */
static int rules_fingerprint(git_oid *out, git_repository *repo, git_index *idx, const buf *rules,
			     bool amlignore, const strlist *ignored_gitignores)
{
	strlist lines = STRLIST_INIT;
	buf b = BUF_INIT;
	int err;

	strlist_copy(&lines, ignored_gitignores);
	if (!amlignore) {
		size_t n = git_index_entrycount(idx);
		for (size_t i = 0; i < n; i++) {
			const git_index_entry *e = git_index_get_byindex(idx, i);
			if (is_gitignore_path(e->path))
				strlist_add_owned(&lines, xasprintf("%s %s", e->path, git_oid_tostr_s(&e->id)));
		}
	}
	strlist_sort(&lines);
	buf_puts(&b, RULES_VERSION);
	buf_add(&b, rules->ptr, rules->len);
	buf_putc(&b, '\0');
	for (size_t i = 0; i < lines.count; i++) {
		buf_puts(&b, lines.items[i]);
		buf_putc(&b, '\n');
	}
	/* Stored as a blob: libgit2 refuses index entries naming missing objects,
	 * and `git cat-file -p` then shows which rules an index was built with. */
	err = git_blob_create_from_buffer(out, repo, b.ptr, b.len);
	buf_free(&b);
	strlist_free(&lines);
	return err;
}

/* Whether an indexed path is ignored now. git_ignore_path_is_ignored stops at
 * the first level that has a matching rule, and the `!*` of .amlignore mode
 * matches every file, so the folders are checked first, outermost first, as
 * the directory walk would (an ignored folder is never entered). */
static int path_is_ignored(bool *out, git_repository *repo, const char *path, buf *scratch)
{
	int ign = 0;

	*out = false;
	for (const char *slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		buf_clear(scratch);
		buf_add(scratch, path, (size_t)(slash - path) + 1);
		if (git_ignore_path_is_ignored(&ign, repo, scratch->ptr) < 0)
			return -1;
		if (ign) {
			*out = true;
			return 0;
		}
	}
	if (git_ignore_path_is_ignored(&ign, repo, path) < 0)
		return -1;
	*out = ign != 0;
	return 0;
}

/* Removes indexed files that the current rules ignore. The diff only adds
 * untracked files, so without this a file snapshotted once would stay in
 * every later snapshot after a rule started to ignore it. Only needed when
 * the rules' fingerprint changed: it costs a rule lookup per file. */
static int prune_ignored(size_t *removed, git_repository *repo, git_index *idx)
{
	strlist doomed = STRLIST_INIT;
	buf scratch = BUF_INIT;
	size_t n = git_index_entrycount(idx);
	int err = 0;

	*removed = 0;
	for (size_t i = 0; i < n; i++) {
		const git_index_entry *e = git_index_get_byindex(idx, i);
		bool ignored;
		if ((err = path_is_ignored(&ignored, repo, e->path, &scratch)) < 0)
			goto done;
		if (ignored)
			strlist_add(&doomed, e->path);
	}
	for (size_t i = 0; i < doomed.count; i++)
		if ((err = git_index_remove_bypath(idx, doomed.items[i])) < 0)
			goto done;
	*removed = doomed.count;
done:
	buf_free(&scratch);
	strlist_free(&doomed);
	return err;
}

/* A folder with a .git inside (a nested clone or a submodule checkout) is
 * not entered by the diff; git would record a submodule link, which leaves
 * the run without those files. Azure ML uploads the files, and so do we: they
 * are added here once, and from then on the diff walks the folder because
 * the index has entries under it. */
static int add_nested_repo(git_repository *repo, git_index *idx, const char *workdir, const char *rel,
			   size_t *added, diag_list *diags)
{
	char *full = fs_join(workdir, rel);
	DIR *d = opendir(full);
	struct dirent *de;
	buf child = BUF_INIT;
	int rc = AML_OK;

	if (!d) {
		rc = diag_errno(diags, full, "cannot read folder");
		goto done;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int ign = 0;
		char *childfull;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
			continue;
		buf_clear(&child);
		buf_printf(&child, "%s%s", rel, de->d_name);
		childfull = fs_join(workdir, child.ptr);
		if (lstat(childfull, &st) < 0) {
			rc = diag_errno(diags, childfull, "cannot stat");
			free(childfull);
			goto done;
		}
		free(childfull);
		if (S_ISDIR(st.st_mode))
			buf_putc(&child, '/');
		else if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
			continue; /* sockets, fifos: git leaves them out too */
		if (git_ignore_path_is_ignored(&ign, repo, child.ptr) < 0) {
			rc = git_fail(diags, workdir, "cannot evaluate ignore rules for %s", child.ptr);
			goto done;
		}
		if (ign)
			continue;
		if (S_ISDIR(st.st_mode))
			rc = add_nested_repo(repo, idx, workdir, child.ptr, added, diags);
		else if (git_index_add_bypath(idx, child.ptr) < 0)
			rc = git_fail(diags, workdir, "cannot add %s", child.ptr);
		else
			(*added)++;
		if (rc < 0)
			goto done;
	}
done:
	if (d)
		closedir(d);
	buf_free(&child);
	free(full);
	return rc;
}

/* A link is fine when what it points at is inside the source directory:
 * resolved through the file system when the target exists, else lexically. */
static int check_link(const char *src, const char *rel, const char *display, diag_list *diags)
{
	char *full = fs_join(src, rel);
	char *real = fs_realpath(full);
	char *dir = NULL, *joined = NULL, *lexical = NULL;
	char target[4096];
	ssize_t len = readlink(full, target, sizeof(target) - 1);
	int rc = AML_OK;

	if (len < 0) {
		rc = diag_errno(diags, full, "cannot read symbolic link");
		goto done;
	}
	target[len] = '\0';
	if (!real) {
		dir = fs_dirname(full);
		joined = fs_join(dir, target);
		lexical = fs_absolute(joined);
	}
	if (!(real || lexical) || !fs_is_within(src, real ? real : lexical)) {
		char *shown = fs_join(display, rel);
		rc = diag_error(diags, shown, 0, 0, NULL,
				"symbolic link points outside the source directory (-> %s); "
				"copy the target in, or leave the link out with .amlignore/.gitignore",
				target);
		free(shown);
	}
done:
	free(lexical);
	free(joined);
	free(dir);
	free(real);
	free(full);
	return rc;
}

static int check_limits(const snapshot_info *info, const snapshot_opts *opts, const char *display,
			diag_list *diags)
{
	uint64_t max_bytes = opts->warn_bytes ? opts->warn_bytes : SNAPSHOT_WARN_BYTES;
	uint64_t max_files = opts->warn_files ? opts->warn_files : SNAPSHOT_WARN_FILES;
	diag_severity sev = opts->fatal_limits ? DIAG_ERROR : DIAG_WARNING;
	const double mb = 1024.0 * 1024.0;
	int rc = AML_OK;

	/* Azure ML's own wording (SDK v1 snapshots_client), so that a search
	 * for the message finds the same advice. */
	if (info->bytes > max_bytes) {
		diag_add(diags, sev, display, 0, 0, NULL,
			 "while attempting to take snapshot of %s: your total snapshot size exceeds the limit of %.1f MB "
			 "(%.1f MB in %llu files after ignore rules); please see http://aka.ms/aml-largefiles on how to "
			 "work with large files, or leave files out with .amlignore",
			 display, (double)max_bytes / mb, (double)info->bytes / mb, (unsigned long long)info->files);
		rc = opts->fatal_limits ? AML_EINVALID : AML_OK;
	}
	if (info->files > max_files) {
		diag_add(diags, sev, display, 0, 0, NULL,
			 "your project exceeds the file limit of %llu (%llu files after ignore rules); "
			 "leave files out with .amlignore or .gitignore",
			 (unsigned long long)max_files, (unsigned long long)info->files);
		rc = opts->fatal_limits ? AML_EINVALID : AML_OK;
	}
	return rc;
}

/* The private index for one source directory: <store>/amlspec/index-<key>,
 * the key being the start of the id git gives src's path as a blob. Hashed
 * with OpenSSL rather than git_odb_hash: the stat cache's fast path finds
 * its file from the same name without starting libgit2. NULL only if
 * OpenSSL cannot hash. */
static char *index_path(const char *gitdir, const char *src)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char head[32], hex[17];
	size_t len = strlen(src);
	int hlen = snprintf(head, sizeof(head), "blob %zu", len) + 1; /* with its NUL, as git hashes it */
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, head, (size_t)hlen) &&
		  EVP_DigestUpdate(ctx, src, len) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen >= 8;

	EVP_MD_CTX_free(ctx);
	if (!ok)
		return NULL;
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("%s/" PRIVATE_DIR "/index-%s", gitdir, hex);
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- the stat cache (statcache.h) ---- */

static unsigned racy_window(const snapshot_opts *opts)
{
	return opts->racy_ms ? opts->racy_ms : STATCACHE_WINDOW_MS;
}

/* The rules as this build makes them (fixed exclusions included) and the
 * version of their meaning: a cache from another build, or one whose
 * .amlignore now reads differently, does not apply. */
static uint64_t rules_hash(const buf *rules)
{
	buf b = BUF_INIT;
	uint64_t h;
	buf_puts(&b, RULES_VERSION);
	buf_add(&b, rules->ptr, rules->len);
	h = statcache_hash(b.ptr, b.len);
	buf_free(&b);
	return h;
}

/* Records a file whose content decides the rules (path, relative to fd;
 * recorded as shown), or its absence; a file that is not a plain file (a
 * link, whose target could change unseen) or cannot be looked at makes the
 * cache unusable. */
static void record_rule_file(statcache_writer *w, int fd, const char *path, const char *shown, char present,
			     char absent)
{
	struct stat st;
	int err = fstatat(fd, path, &st, AT_SYMLINK_NOFOLLOW);
	if (err == 0 && S_ISREG(st.st_mode))
		statcache_writer_stat(w, present, shown, &st);
	else if (err < 0 && errno == ENOENT)
		statcache_writer_absent(w, absent, shown);
	else
		statcache_writer_taint(w);
}

/* In .gitignore mode, the .gitignore of a listed folder (fd; rel as in
 * record_dirs): libgit2 reads the one of every folder it enters, and one
 * that is not indexed (it ignores itself, or a parent's rules do) is listed
 * nowhere else. Its absence needs no record: creating it changes the folder. */
static void record_gitignore(statcache_writer *w, git_index *idx, int fd, buf *rel)
{
	size_t mark = rel->len;
	struct stat st;
	buf_puts(rel, ".gitignore");
	if (!git_index_get_bypath(idx, rel->ptr, 0) && fstatat(fd, ".gitignore", &st, AT_SYMLINK_NOFOLLOW) == 0)
		record_rule_file(w, fd, ".gitignore", rel->ptr, SC_EXTRA, SC_ABSENT);
	buf_truncate(rel, mark);
}

/* Records every folder under rel (relative, "" or ending in '/') that a scan
 * can enter: those the rules do not ignore, and any that holds indexed files.
 * More than the scan enters only costs a needless full snapshot; less would
 * miss new files, so when in doubt a folder is listed. fd is rel's folder
 * and is closed here. With gitignores, also
 * their .gitignore files. Returns -1 when a folder cannot be read. */
static int record_dirs(statcache_writer *w, git_repository *repo, git_index *idx, int fd, buf *rel,
		       const char *store_rel, bool gitignores)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		close(fd);
		return -1;
	}
	if (gitignores)
		record_gitignore(w, idx, dirfd(d), rel);
	while (rc == 0 && (de = readdir(d))) {
		const char *name = de->d_name;
		size_t mark = rel->len, pos;
		struct stat st;
		int ign = 0, child;
		if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, ".git"))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue; /* links to folders are links: never entered */
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -1; /* gone while we looked: too recent to trust anyway */
			break;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		/* the fixed exclusions: never scanned, and changing all the time */
		if (!mark && (!strcmp(name, ".amlspec") || !strcmp(name, "outputs")))
			continue;
		buf_puts(rel, name);
		buf_putc(rel, '/');
		if ((store_rel && !strcmp(rel->ptr, store_rel)) ||
		    (git_index_find_prefix(&pos, idx, rel->ptr) != 0 &&
		     (git_ignore_path_is_ignored(&ign, repo, rel->ptr) < 0 || ign))) {
			/* ignored (an ignored folder's parents were not: we only
			 * get here through folders that are walked) */
			buf_truncate(rel, mark);
			continue;
		}
		buf_truncate(rel, rel->len - 1);
		statcache_writer_stat(w, SC_DIR, rel->ptr, &st);
		buf_putc(rel, '/');
		child = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = child < 0 ? -1 : record_dirs(w, repo, idx, child, rel, store_rel, gitignores);
		buf_truncate(rel, mark);
	}
	closedir(d);
	return rc;
}

/* Writes <index>.stat for the snapshot just taken. The files are the index
 * entries as libgit2 recorded them when it read their content (a fresh stat
 * would hide a change made after the read); folders and rule files (the
 * .amlignore, the .gitignore of every listed folder, the store's config and
 * excludes) are looked at now, which is safe because anything changed since
 * the snapshot started is too recent to be written (statcache.h). A cache is
 * only an optimisation: a failure here just leaves none. */
static void save_stat_cache(git_repository *repo, git_index *idx, const char *src, const char *store_real,
			    const char *idx_path, const git_oid *tree, const snapshot_info *counts, const buf *rules,
			    bool amlignore, struct timespec started, unsigned window)
{
	static const char *const store_files[] = { "config", "info/exclude", PRIVATE_CONFIG };
	char *path = xasprintf("%s.stat", idx_path), *store_rel = NULL;
	statcache_writer w;
	struct stat root;
	buf rel = BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	size_t n = git_index_entrycount(idx);
	int rootfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC), storefd = -1, walkfd;

	if (rootfd < 0 || fstat(rootfd, &root) < 0 ||
	    (storefd = open(store_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		unlink(path);
		goto done;
	}
	git_oid_tostr(hex, sizeof(hex), tree);
	statcache_writer_init(&w, src, store_real, hex, counts->files, counts->bytes, amlignore, rules_hash(rules),
			      started, window, &root);
	for (size_t i = 0; i < n; i++) {
		const git_index_entry *e = git_index_get_byindex(idx, i);
		if (!strcmp(e->path, RULES_ENTRY))
			continue;
		/* not a file of ours, or a link whose target holds rules */
		if (e->mode == GIT_FILEMODE_COMMIT || GIT_INDEX_ENTRY_STAGE(e) != 0 ||
		    (!amlignore && e->mode == GIT_FILEMODE_LINK && is_gitignore_path(e->path)))
			statcache_writer_taint(&w);
		statcache_writer_file(&w, e->path, e->mode, e->file_size, e->ino, e->mtime.seconds, e->mtime.nanoseconds,
				      e->ctime.seconds, e->ctime.nanoseconds);
	}
	record_rule_file(&w, rootfd, ".amlignore", ".amlignore", SC_EXTRA, SC_ABSENT);
	for (size_t i = 0; i < sizeof(store_files) / sizeof(*store_files); i++)
		record_rule_file(&w, storefd, store_files[i], store_files[i], SC_STORE, SC_STORE_ABSENT);
	statcache_writer_stat(&w, SC_DIR, ".", &root);
	if (fs_is_within(src, store_real) && strcmp(src, store_real))
		store_rel = xasprintf("%s/", store_real + strlen(src) + (src[strlen(src) - 1] == '/' ? 0 : 1));
	if ((walkfd = dup(rootfd)) < 0 || record_dirs(&w, repo, idx, walkfd, &rel, store_rel, !amlignore) < 0)
		statcache_writer_taint(&w);
	statcache_writer_commit(&w, path);
	statcache_writer_free(&w);
done:
	if (storefd >= 0)
		close(storefd);
	if (rootfd >= 0)
		close(rootfd);
	buf_free(&rel);
	free(store_rel);
	free(path);
}

/* The fast path: when the source is exactly as the last full snapshot left
 * it (statcache_matches), that snapshot's tree is the answer, and libgit2 is
 * not started. What is judged on the whole snapshot rather than on files is
 * judged again: links (a link can come to point outside through a folder
 * the scan does not enter) and the limits (the options may differ). true:
 * decided, *rc and out are set; false: take the full snapshot. A cache found
 * stale is removed here, before the full snapshot changes the index. */
static bool fast_path(int *rc, snapshot_info *out, const snapshot_opts *opts, const char *src, const char *display,
		      diag_list *diags)
{
	char *store_real = fs_realpath(opts->store), *idx = NULL, *path = NULL;
	statcache sc;
	buf rules = BUF_INIT;
	diag_list quiet = DIAG_LIST_INIT;
	size_t links_bad = 0;
	bool hit = false, amlignore = false;

	if (!store_real || !(idx = index_path(store_real, src)))
		goto done;
	path = xasprintf("%s.stat", idx);
	if (statcache_load(&sc, path) < 0) {
		if (errno != ENOENT)
			unlink(path); /* damaged */
		goto done;
	}
	/* (an unreadable .amlignore: the full snapshot says so) */
	if (ignore_rules(&rules, &amlignore, src, store_real, display, &quiet) < 0 || amlignore != sc.amlignore ||
	    rules_hash(&rules) != sc.rules || !statcache_matches(&sc, src, store_real, racy_window(opts)) ||
	    !statcache_object_stored(store_real, sc.tree_id)) {
		unlink(path);
		statcache_free(&sc);
		goto done;
	}
	hit = true;
	for (size_t i = 0; i < sc.count; i++)
		if (sc.recs[i].kind == SC_FILE && sc.recs[i].mode == GIT_FILEMODE_LINK &&
		    check_link(src, sc.recs[i].path, display, diags) < 0)
			links_bad++;
	out->files = sc.files;
	out->bytes = sc.bytes;
	*rc = links_bad ? AML_EINVALID : check_limits(out, opts, display, diags);
	if (*rc == AML_OK) {
		memcpy(out->tree_id, sc.tree_id, sizeof(out->tree_id));
		out->from_cache = true;
	} else {
		memset(out, 0, sizeof(*out));
	}
	statcache_free(&sc);
done:
	diag_list_free(&quiet);
	buf_free(&rules);
	free(path);
	free(idx);
	free(store_real);
	return hit;
}

int snapshot_take(snapshot_info *out, const snapshot_opts *opts, diag_list *diags)
{
	git_repository *repo = NULL;
	git_index *idx = NULL;
	git_diff *diff = NULL;
	char *src = NULL, *store_real = NULL, *idx_path = NULL, *idx_tmp = NULL;
	const char *display;
	buf rules = BUF_INIT;
	strlist ignored_gitignores = STRLIST_INIT;
	git_odb *odb = NULL;
	bool amlignore = false, had_fp = false, write_index = false, inited = false, rescanned = false;
	git_oid old_fp, new_fp, tree;
	git_diff_options dopts = GIT_DIFF_OPTIONS_INIT;
	const git_index_entry *fp_entry;
	size_t n, cached, changes = 0, links_bad = 0, unreadable = 0;
	int rc = AML_OK, verdict, err;
	struct timespec started;

	memset(out, 0, sizeof(*out));
	/* Before anything is looked at: the stat cache written at the end
	 * trusts only what had not changed for a while by then. */
	clock_gettime(CLOCK_REALTIME, &started);
	if (!opts || !opts->store || !opts->source_dir) {
		diag_error(diags, NULL, 0, 0, NULL, "snapshot: store and source_dir are required");
		return AML_EINVALID;
	}
	display = opts->display_dir ? opts->display_dir : opts->source_dir;
	if (!(src = fs_realpath(opts->source_dir)) || !fs_is_dir(src)) {
		rc = src ? diag_error(diags, display, 0, 0, NULL, "source directory is not a folder")
			 : diag_errno(diags, display, "cannot open source directory");
		goto done;
	}
	if (fast_path(&rc, out, opts, src, display, diags))
		goto done;
	if ((rc = lib_init(diags)) < 0)
		goto done;
	inited = true;
	if ((rc = store_open(&repo, opts->store, true, diags)) < 0)
		goto done;
	store_real = fs_realpath(git_repository_path(repo));
	if (!store_real) {
		rc = diag_errno(diags, opts->store, "cannot resolve");
		goto done;
	}
	if (fs_is_within(store_real, src)) {
		rc = diag_error(diags, display, 0, 0, NULL, "source directory is inside the snapshot store %s",
				opts->store);
		goto done;
	}
	if (git_repository_set_workdir(repo, src, 0) < 0) {
		rc = git_fail(diags, display, "cannot use as work tree");
		goto done;
	}
	if ((rc = ignore_rules(&rules, &amlignore, src, store_real, display, diags)) < 0)
		goto done;
	if (git_ignore_add_rule(repo, rules.ptr) < 0) {
		rc = git_fail(diags, display, "cannot set ignore rules");
		goto done;
	}

	/* Work on a private name for the index (a hard link: no copy, and the
	 * timestamp that git's racy-file check relies on is kept), then rename
	 * it over the shared one: concurrent snapshots never contend for
	 * index.lock, and the last one to finish leaves its cache. */
	if (!(idx_path = index_path(store_real, src))) {
		rc = diag_error(diags, display, 0, 0, NULL, "cannot hash the source path (OpenSSL: no SHA-1)");
		goto done;
	}
	idx_tmp = tmp_name(idx_path);
	unlink(idx_tmp); /* left by a crashed process that had our pid */
	if (link(idx_path, idx_tmp) < 0 && errno != ENOENT) {
		rc = diag_errno(diags, idx_path, "cannot use the snapshot index");
		goto done;
	}
	if (git_index_open(&idx, idx_tmp) < 0 || git_repository_set_index(repo, idx) < 0) {
		rc = git_fail(diags, idx_path, "cannot read the snapshot index");
		goto done;
	}
	if ((fp_entry = git_index_get_bypath(idx, RULES_ENTRY, 0)) != NULL) {
		git_oid_cpy(&old_fp, &fp_entry->id);
		had_fp = true;
		git_index_remove(idx, RULES_ENTRY, 0);
	}
	cached = git_index_entrycount(idx);
	goto scan;

restart:
	/* The cache trusts that what it once wrote is still stored. After a
	 * `git gc --prune` of snapshots no run anchored, it is not, and libgit2
	 * then fails (refreshing an entry or building a tree that names a
	 * missing blob) or hands back a cached tree id that is gone. Start once
	 * more from an empty index: everything is hashed and written again. */
	git_index_clear(idx);
	git_diff_free(diff);
	diff = NULL;
	git_odb_free(odb);
	odb = NULL;
	strlist_free(&ignored_gitignores);
	had_fp = false;
	cached = 0;
	rescanned = true;
scan:
	dopts.flags = GIT_DIFF_INCLUDE_TYPECHANGE | GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS |
		      GIT_DIFF_UPDATE_INDEX | GIT_DIFF_INCLUDE_UNREADABLE;
	/* Ignored entries are listed only to find .gitignore files that ignore
	 * themselves: their rules count, though they are not in the index. */
	if (!amlignore)
		dopts.flags |= GIT_DIFF_INCLUDE_IGNORED;
	if (git_diff_index_to_workdir(&diff, repo, idx, &dopts) < 0) {
		if (!rescanned)
			goto restart;
		rc = git_fail(diags, display, "cannot scan source directory");
		goto done;
	}
	n = git_diff_num_deltas(diff);
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		const char *path = d->new_file.path;
		size_t plen = strlen(path);
		err = 0;
		switch (d->status) {
		case GIT_DELTA_IGNORED:
			if (plen && path[plen - 1] != '/' && is_gitignore_path(path)) {
				git_oid id;
				char *full = fs_join(src, path);
				err = git_odb_hashfile(&id, full, GIT_OBJECT_BLOB);
				if (!err)
					strlist_add_owned(&ignored_gitignores,
							  xasprintf("%s %s", path, git_oid_tostr_s(&id)));
				free(full);
			}
			break;
		case GIT_DELTA_UNREADABLE: {
			char *shown = fs_join(display, path);
			diag_error(diags, shown, 0, 0, NULL, "cannot read this file (permissions?)");
			free(shown);
			unreadable++;
			break;
		}
		case GIT_DELTA_DELETED:
			err = git_index_remove_bypath(idx, d->old_file.path);
			changes++;
			break;
		default:
			if (plen && path[plen - 1] == '/') {
				if ((rc = add_nested_repo(repo, idx, src, path, &changes, diags)) < 0)
					goto done;
			} else {
				err = git_index_add_bypath(idx, path);
				changes++;
			}
			break;
		}
		if (err < 0) {
			rc = git_fail(diags, display, "cannot snapshot %s", path);
			goto done;
		}
	}
	if (unreadable) {
		rc = AML_EIO;
		goto done;
	}

	if (rules_fingerprint(&new_fp, repo, idx, &rules, amlignore, &ignored_gitignores) < 0) {
		rc = git_fail(diags, display, "cannot hash ignore rules");
		goto done;
	}
	if ((had_fp || cached) && (!had_fp || !git_oid_equal(&old_fp, &new_fp))) {
		size_t pruned;
		if (prune_ignored(&pruned, repo, idx) < 0) {
			rc = git_fail(diags, display, "cannot apply ignore rules");
			goto done;
		}
		changes += pruned;
	}

	if (git_repository_odb(&odb, repo) < 0) {
		rc = git_fail(diags, display, "cannot open the snapshot store");
		goto done;
	}
	/* See restart: a tree that is still stored is reachable or recent, and
	 * so are its blobs. */
	err = git_index_write_tree(&tree, idx);
	if ((err < 0 || !git_odb_exists(odb, &tree)) && !rescanned)
		goto restart;
	if (err < 0) {
		rc = git_fail(diags, display, "cannot write the snapshot tree");
		goto done;
	}
	/* Count, and check every link (new or cached: a snapshot is judged as a
	 * whole, not by what changed). */
	n = git_index_entrycount(idx);
	for (size_t i = 0; i < n; i++) {
		const git_index_entry *e = git_index_get_byindex(idx, i);
		if (e->mode == GIT_FILEMODE_COMMIT)
			continue;
		if (e->mode == GIT_FILEMODE_LINK && check_link(src, e->path, display, diags) < 0)
			links_bad++;
		out->files++;
		out->bytes += e->file_size;
	}
	verdict = links_bad ? AML_EINVALID : check_limits(out, opts, display, diags);

	/* Save the cache only when it moved: an unchanged re-snapshot writes
	 * nothing. The diff itself rewrites idx_tmp when it refreshed stale
	 * stat data (it then no longer is the shared file). It is saved even
	 * when the snapshot is refused: the hashing done is still valid, and
	 * the retry after a fix is then fast. */
	write_index = changes || !had_fp || !git_oid_equal(&old_fp, &new_fp) || !same_file(idx_tmp, idx_path);
	if (write_index) {
		git_index_entry fp;
		memset(&fp, 0, sizeof(fp));
		fp.mode = GIT_FILEMODE_BLOB;
		fp.path = RULES_ENTRY;
		git_oid_cpy(&fp.id, &new_fp);
		if (git_index_add(idx, &fp) < 0 || git_index_write(idx) < 0) {
			rc = git_fail(diags, idx_path, "cannot write the snapshot index");
			goto done;
		}
		if (rename(idx_tmp, idx_path) < 0) {
			rc = diag_errno(diags, idx_path, "cannot write the snapshot index");
			goto done;
		}
	}
	/* Also for a refused snapshot: the fast path judges links and limits
	 * again, so it refuses the same way. */
	save_stat_cache(repo, idx, src, store_real, idx_path, &tree, out, &rules, amlignore, started,
			racy_window(opts));
	if ((rc = verdict) < 0)
		goto done;
	git_oid_tostr(out->tree_id, sizeof(out->tree_id), &tree);
done:
	if (idx_tmp)
		unlink(idx_tmp); /* no-op after the rename */
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	git_odb_free(odb);
	git_diff_free(diff);
	git_index_free(idx);
	git_repository_free(repo);
	if (inited)
		lib_shutdown();
	strlist_free(&ignored_gitignores);
	buf_free(&rules);
	free(idx_tmp);
	free(idx_path);
	free(store_real);
	free(src);
	return rc;
}

/* A tree named by hex id or any revision expression ("refs/...^{tree}"). */
static int lookup_tree(git_tree **out, git_repository *repo, const char *spec, const char *store,
		       diag_list *diags)
{
	git_object *obj = NULL;
	int err;

	*out = NULL;
	err = git_revparse_single(&obj, repo, spec);
	if (!err)
		err = git_object_peel((git_object **)out, obj, GIT_OBJECT_TREE);
	git_object_free(obj);
	if (err == GIT_ENOTFOUND || err == GIT_EINVALIDSPEC || err == GIT_EAMBIGUOUS) {
		diag_error(diags, store, 0, 0, NULL, "no snapshot %s in the store", spec);
		return AML_ENOTFOUND;
	}
	if (err < 0)
		return git_fail(diags, store, "cannot read snapshot %s", spec);
	return AML_OK;
}

static bool object_stored(git_repository *repo, const git_oid *id)
{
	git_odb *odb = NULL;
	bool ok = git_repository_odb(&odb, repo) == 0 && git_odb_exists(odb, id);
	git_odb_free(odb);
	return ok;
}

int snapshot_anchor(const char *store, const char *tree_id, const char *run_id, diag_list *diags)
{
	git_repository *repo = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_reference *ref = NULL;
	git_commit *existing = NULL;
	char *refname = NULL, *message = NULL;
	git_oid commit;
	int rc, err, valid = 0;

	if ((rc = lib_init(diags)) < 0)
		return rc;
	refname = xasprintf("refs/amlspec/runs/%s", run_id ? run_id : "");
	if (!run_id || !*run_id || strchr(run_id, '/') || git_reference_name_is_valid(&valid, refname) < 0 ||
	    !valid) {
		rc = diag_error(diags, NULL, 0, 0, NULL, "'%s' cannot name a run in the snapshot store",
				run_id ? run_id : "");
		goto done;
	}
	if ((rc = store_open(&repo, store, false, diags)) < 0 ||
	    (rc = lookup_tree(&tree, repo, tree_id, store, diags)) < 0)
		goto done;
	message = xasprintf("snapshot for run %s\n", run_id);
	if (git_signature_now(&sig, SNAPSHOT_AUTHOR_NAME, SNAPSHOT_AUTHOR_EMAIL) < 0 ||
	    git_commit_create(&commit, repo, NULL, sig, sig, NULL, message, tree, 0, NULL) < 0) {
		rc = git_fail(diags, store, "cannot record snapshot for run %s", run_id);
		goto done;
	}
	/* libgit2 1.5 reports success for a commit it could not store (its
	 * fallback stream write loses the error of a full disk) */
	if (!object_stored(repo, &commit)) {
		rc = diag_error(diags, store, 0, 0, NULL,
				"cannot record snapshot for run %s: the object store did not keep the commit "
				"(is the disk full?)", run_id);
		goto done;
	}
	err = git_reference_create(&ref, repo, refname, &commit, 0, "amlspec: snapshot anchor");
	if (err == GIT_EEXISTS) {
		/* Anchoring the same run again is fine when it names the same tree. */
		if (git_reference_lookup(&ref, repo, refname) < 0 ||
		    git_reference_peel((git_object **)&existing, ref, GIT_OBJECT_COMMIT) < 0) {
			rc = git_fail(diags, store, "cannot read %s", refname);
			goto done;
		}
		if (!git_oid_equal(git_commit_tree_id(existing), git_tree_id(tree))) {
			diag_error(diags, store, 0, 0, NULL, "run %s is already anchored to a different snapshot",
				   run_id);
			rc = AML_ECONFLICT;
		}
	} else if (err < 0) {
		rc = git_fail(diags, store, "cannot write %s", refname);
	}
done:
	git_commit_free(existing);
	git_reference_free(ref);
	git_signature_free(sig);
	git_tree_free(tree);
	git_repository_free(repo);
	lib_shutdown();
	free(message);
	free(refname);
	return rc;
}

static int cmp_change(const void *a, const void *b)
{
	const snapshot_change *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	if (c)
		return c;
	/* a path removed and added again (file <-> folder): D before A */
	return (x->kind == SNAP_REMOVED ? 0 : 1) - (y->kind == SNAP_REMOVED ? 0 : 1);
}

static int blob_size(uint64_t *out, git_odb *odb, const git_diff_file *f)
{
	size_t len = 0;
	git_object_t type;

	*out = 0;
	if (f->mode == GIT_FILEMODE_COMMIT || git_oid_is_zero(&f->id))
		return 0;
	if (git_odb_read_header(&len, &type, odb, &f->id) < 0)
		return -1;
	*out = len;
	return 0;
}

static void diff_push(snapshot_diff *d, size_t *alloc, snapshot_change_kind kind, const char *path,
		      uint64_t old_size, uint64_t new_size)
{
	if (d->count == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		d->changes = xrealloc(d->changes, *alloc * sizeof(*d->changes));
	}
	d->changes[d->count].kind = kind;
	d->changes[d->count].path = xstrdup(path);
	d->changes[d->count].old_size = old_size;
	d->changes[d->count].new_size = new_size;
	d->count++;
}

int snapshot_diff_trees(snapshot_diff *out, const char *store, const char *old_tree, const char *new_tree,
			diag_list *diags)
{
	git_repository *repo = NULL;
	git_tree *a = NULL, *b = NULL;
	git_diff *diff = NULL;
	git_odb *odb = NULL;
	git_diff_options dopts = GIT_DIFF_OPTIONS_INIT;
	size_t alloc = 0, n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!new_tree) {
		diag_error(diags, store, 0, 0, NULL, "snapshot diff: no new tree given");
		return AML_EINVALID;
	}
	if ((rc = lib_init(diags)) < 0)
		return rc;
	if ((rc = store_open(&repo, store, false, diags)) < 0 ||
	    (old_tree && (rc = lookup_tree(&a, repo, old_tree, store, diags)) < 0) ||
	    (rc = lookup_tree(&b, repo, new_tree, store, diags)) < 0)
		goto done;
	/* A file that became a link (or back) is a modification here; renames
	 * are not looked for, so a moved file is a removal and an addition. */
	dopts.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
	if (git_diff_tree_to_tree(&diff, repo, a, b, &dopts) < 0 || git_repository_odb(&odb, repo) < 0) {
		rc = git_fail(diags, store, "cannot compare snapshots");
		goto done;
	}
	n = git_diff_num_deltas(diff);
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		uint64_t os = 0, ns = 0;
		snapshot_change_kind kind;
		switch (d->status) {
		case GIT_DELTA_ADDED:
			kind = SNAP_ADDED;
			break;
		case GIT_DELTA_DELETED:
			kind = SNAP_REMOVED;
			break;
		default:
			kind = SNAP_MODIFIED;
			break;
		}
		/* Trees do not record sizes: the object headers do. */
		if ((kind != SNAP_ADDED && blob_size(&os, odb, &d->old_file) < 0) ||
		    (kind != SNAP_REMOVED && blob_size(&ns, odb, &d->new_file) < 0)) {
			rc = git_fail(diags, store, "cannot read %s", d->new_file.path);
			goto done;
		}
		diff_push(out, &alloc, kind, kind == SNAP_REMOVED ? d->old_file.path : d->new_file.path, os, ns);
		if (kind == SNAP_ADDED) {
			out->added++;
			out->bytes_added += ns;
		} else if (kind == SNAP_REMOVED) {
			out->removed++;
			out->bytes_removed += os;
		} else {
			out->modified++;
			if (ns >= os)
				out->bytes_added += ns - os;
			else
				out->bytes_removed += os - ns;
		}
	}
	if (out->count > 1)
		qsort(out->changes, out->count, sizeof(*out->changes), cmp_change);
done:
	if (rc < 0)
		snapshot_diff_free(out);
	git_odb_free(odb);
	git_diff_free(diff);
	git_tree_free(b);
	git_tree_free(a);
	git_repository_free(repo);
	lib_shutdown();
	return rc;
}

void snapshot_diff_free(snapshot_diff *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++)
		free(d->changes[i].path);
	free(d->changes);
	memset(d, 0, sizeof(*d));
}

json_object *snapshot_diff_to_json(const snapshot_diff *d)
{
	json_object *o = json_object_new_object();
	json_object *files = json_object_new_array();
	char status[2] = { 0, 0 };

	json_object_object_add(o, "added", json_object_new_int64((int64_t)d->added));
	json_object_object_add(o, "modified", json_object_new_int64((int64_t)d->modified));
	json_object_object_add(o, "removed", json_object_new_int64((int64_t)d->removed));
	json_object_object_add(o, "bytes_added", json_object_new_int64((int64_t)d->bytes_added));
	json_object_object_add(o, "bytes_removed", json_object_new_int64((int64_t)d->bytes_removed));
	for (size_t i = 0; i < d->count; i++) {
		const snapshot_change *c = &d->changes[i];
		json_object *f = json_object_new_object();
		status[0] = (char)c->kind;
		json_object_object_add(f, "status", json_object_new_string(status));
		json_object_object_add(f, "path", json_object_new_string(c->path));
		json_object_object_add(f, "old_size", json_object_new_int64((int64_t)c->old_size));
		json_object_object_add(f, "new_size", json_object_new_int64((int64_t)c->new_size));
		json_object_array_add(files, f);
	}
	json_object_object_add(o, "files", files);
	return o;
}

struct checkout_check {
	diag_list *diags;
	git_repository *repo;
	const char *dest;
	buf path;
	int rc;
};

/* Whether a relative link target, followed lexically from the folder that
 * holds the link, stays inside the checkout. */
static bool link_stays_inside(const char *root, const char *link_dir, const char *target)
{
	char *dir = fs_join(root, link_dir);
	char *joined = fs_join(dir, target);
	char *norm = fs_absolute(joined);
	bool ok = norm && fs_is_within(root, norm);
	free(norm);
	free(joined);
	free(dir);
	return ok;
}

/* Defense in depth: libgit2 validates paths as it checks out, but a store is
 * only a folder of objects that anything could have written, so every name
 * and every relative link is checked before the first file is written. */
static int checkout_check_entry(const char *root, const git_tree_entry *entry, void *payload)
{
	struct checkout_check *cc = payload;
	const char *name = git_tree_entry_name(entry);
	git_blob *blob = NULL;

	buf_clear(&cc->path);
	buf_printf(&cc->path, "%s%s", root, name);
	if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/') || !strcasecmp(name, ".git")) {
		cc->rc = diag_error(cc->diags, cc->dest, 0, 0, NULL, "snapshot has an unsafe path '%s'; refusing it",
				    cc->path.ptr);
		return -1;
	}
	if (git_tree_entry_filemode(entry) == GIT_FILEMODE_LINK) {
		char *target;
		if (git_blob_lookup(&blob, cc->repo, git_tree_entry_id(entry)) < 0) {
			cc->rc = git_fail(cc->diags, cc->dest, "cannot read %s", cc->path.ptr);
			return -1;
		}
		target = xstrndup(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
		git_blob_free(blob);
		if (target[0] != '/' && !link_stays_inside("/checkout", root, target)) {
			cc->rc = diag_error(cc->diags, cc->dest, 0, 0, NULL,
					    "snapshot link '%s' points outside the checkout (-> %s); refusing it",
					    cc->path.ptr, target);
			free(target);
			return -1;
		}
		free(target);
	}
	return 0;
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool empty = true;
	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

int snapshot_checkout(const char *store, const char *tree_id, const char *dest, diag_list *diags)
{
	git_repository *repo = NULL;
	git_tree *tree = NULL;
	git_index *idx = NULL;
	git_checkout_options copts = GIT_CHECKOUT_OPTIONS_INIT;
	struct checkout_check cc = { diags, NULL, dest, BUF_INIT, AML_OK };
	char *dest_abs = NULL;
	int rc;

	if ((rc = lib_init(diags)) < 0)
		return rc;
	if (fs_exists(dest) && (!fs_is_dir(dest) || !dir_is_empty(dest))) {
		rc = diag_error(diags, dest, 0, 0, NULL, "checkout destination exists and is not an empty folder");
		goto done;
	}
	if ((rc = store_open(&repo, store, false, diags)) < 0 ||
	    (rc = lookup_tree(&tree, repo, tree_id, store, diags)) < 0)
		goto done;
	cc.repo = repo;
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, checkout_check_entry, &cc) < 0) {
		rc = cc.rc < 0 ? cc.rc : git_fail(diags, store, "cannot read snapshot %s", tree_id);
		goto done;
	}
	if (fs_mkdirs(dest, 0755) < 0) {
		rc = diag_errno(diags, dest, "cannot create folder");
		goto done;
	}
	if (!(dest_abs = fs_realpath(dest))) {
		rc = diag_errno(diags, dest, "cannot resolve");
		goto done;
	}
	/* The store is bare: give checkout a throwaway in-memory index so that
	 * it neither reads nor writes <store>/index. */
	if (git_index_new(&idx) < 0 || git_repository_set_index(repo, idx) < 0) {
		rc = git_fail(diags, store, "cannot prepare checkout");
		goto done;
	}
	copts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX | GIT_CHECKOUT_DONT_WRITE_INDEX |
				  GIT_CHECKOUT_NO_REFRESH;
	copts.target_directory = dest_abs;
	if (git_checkout_tree(repo, (git_object *)tree, &copts) < 0) {
		rc = git_fail(diags, dest, "cannot check out snapshot %s", tree_id);
		goto done;
	}
done:
	buf_free(&cc.path);
	free(dest_abs);
	git_index_free(idx);
	git_tree_free(tree);
	git_repository_free(repo);
	lib_shutdown();
	return rc;
}
