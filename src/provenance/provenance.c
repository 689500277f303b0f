#include "provenance.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/git.h"
#include "util/git2_dyn.h"

/* ---- URL credentials ---------------------------------------------------- */

/* Removes credentials from a remote URL, which users paste in with tokens
 * (https://user:TOKEN@host/..., https://TOKEN@host/...). For http(s) every
 * userinfo goes, since a lone "user" is often a token; for other schemes
 * (ssh://git@host/...) a bare user name is kept and only user:password is
 * removed. scp-like addresses (git@host:path) and paths have no password
 * syntax and are kept as they are. */
static char *url_strip_credentials(const char *url)
{
	const char *sep = strstr(url, "://");
	if (!sep)
		return xstrdup(url);
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i; /* the last one: a password may contain '@' unescaped */
	if (!at)
		return xstrdup(url);
	size_t slen = (size_t)(sep - url);
	bool http = (slen == 4 && !strncasecmp(url, "http", 4)) || (slen == 5 && !strncasecmp(url, "https", 5));
	bool has_password = memchr(auth, ':', (size_t)(at - auth)) != NULL;
	if (!http && !has_password)
		return xstrdup(url);
	buf b = BUF_INIT;
	buf_add(&b, url, (size_t)(auth - url));
	buf_puts(&b, at + 1);
	return buf_detach(&b);
}

/* ---- collection --------------------------------------------------------- */

/* Opens the repository at gitdir. Owner validation (git's safe.directory) is
 * switched off for this open only: it protects against running commands a
 * foreign repository's config names (core.fsmonitor, hooks), and libgit2
 * runs none of those here; we only read HEAD, a remote URL and the status.
 * With it on, a checkout owned by another user (a shared CI workspace, a
 * container's bind mount) fails with a misleading "safe.directory was not
 * found" error and the run would lose its provenance for no safety gain. */
static int repo_open_unvalidated(git_repository **out, const char *gitdir)
{
	int was = 1;
	/* process-wide, restored right after: amlspec is single-threaded */
	git_libgit2_opts(GIT_OPT_GET_OWNER_VALIDATION, &was);
	git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
	int err = git_repository_open(out, gitdir);
	git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, was);
	return err;
}

/* Fills branch and commit from HEAD; unborn and missing HEADs leave both NULL. */
static int collect_head(provenance *p, git_repository *repo)
{
	git_reference *head = NULL;
	int err = git_repository_head(&head, repo);
	if (err == GIT_EUNBORNBRANCH || err == GIT_ENOTFOUND)
		return 0;
	if (err < 0)
		return err;
	if (!git_repository_head_detached(repo))
		p->branch = xstrdup(git_reference_shorthand(head));
	const git_oid *oid = git_reference_target(head);
	if (oid) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), oid);
		p->commit = xstrdup(hex);
	}
	git_reference_free(head);
	return 0;
}

/* origin's URL as `git ls-remote --get-url origin` prints it:
 * remote.origin.url with the longest matching url.<base>.insteadOf rewritten.
 * Read from the config rather than with git_remote_lookup(), which in
 * libgit2 1.5 (PCRE2 builds) leaks a pcre2 match block, about 20 KB, for
 * every config entry its insteadOf regexes do not match. */
static int collect_origin(provenance *p, git_repository *repo)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *entry;
	git_buf url = { 0 };
	char *base = NULL;
	size_t replaced = 0;
	int err = git_repository_config_snapshot(&cfg, repo);
	if (err < 0)
		goto done;
	err = git_config_get_string_buf(&url, cfg, "remote.origin.url");
	if (err < 0)
		goto done;
	err = git_config_iterator_new(&it, cfg);
	if (err < 0)
		goto done;
	while ((err = git_config_next(&entry, it)) == 0) {
		/* libgit2 lowercases section and key and keeps the subsection
		 * (the base, which may contain dots) as written */
		const char *name = entry->name;
		size_t n = strlen(name), suffix = strlen(".insteadof");
		if (n <= 4 + suffix || strncmp(name, "url.", 4) || strcmp(name + n - suffix, ".insteadof"))
			continue;
		size_t vlen = strlen(entry->value);
		if (vlen > replaced && !strncmp(url.ptr, entry->value, vlen)) {
			replaced = vlen;
			free(base);
			base = xstrndup(name + 4, n - 4 - suffix);
		}
	}
	if (err == GIT_ITEROVER)
		err = 0;
	if (err < 0)
		goto done;
	if (base) {
		char *full = xasprintf("%s%s", base, url.ptr + replaced);
		p->repository_uri = url_strip_credentials(full);
		free(full);
	} else if (url.ptr && *url.ptr) {
		p->repository_uri = url_strip_credentials(url.ptr);
	}
done:
	if (err == GIT_ENOTFOUND)
		err = 0; /* no origin: nothing to record */
	git_config_iterator_free(it);
	git_config_free(cfg);
	git_buf_dispose(&url);
	free(base);
	return err;
}

/* Like `git status --porcelain .` run in the source directory: index and work
 * tree changes, untracked files included, ignored ones not, limited to the
 * source directory (rel: its path in the work tree, "" for the root). The
 * pathspec is literal (no glob characters in folder names) and prefix-matches
 * whole folders, so "src" does not match "srcx". Untracked folders are
 * recursed so that a source directory inside an untracked folder ("new/exp"
 * when git would list just "new/") matches. amlspec's own state folder
 * at the top of the source directory is not source (the snapshot leaves it
 * out too), so its files, untracked when .amlspec/ is not in .gitignore, do
 * not make every run dirty. */
static int collect_dirty(bool *dirty, git_repository *repo, const char *rel)
{
	git_status_options opts = GIT_STATUS_OPTIONS_INIT;
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
		     GIT_STATUS_OPT_DISABLE_PATHSPEC_MATCH;
	char *spec[1] = { (char *)rel };
	if (*rel) {
		opts.pathspec.strings = spec;
		opts.pathspec.count = 1;
	}
	char *own = *rel ? xasprintf("%s/.amlspec/", rel) : xstrdup(".amlspec/");
	git_status_list *list = NULL;
	int err = git_status_list_new(&list, repo, &opts);
	if (err < 0)
		goto done;
	*dirty = false;
	size_t n = git_status_list_entrycount(list);
	for (size_t i = 0; i < n && !*dirty; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
		const char *path = d ? (d->new_file.path ? d->new_file.path : d->old_file.path) : NULL;
		if (e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED))
			continue;
		if (path && !strncmp(path, own, strlen(own)))
			continue;
		*dirty = true;
	}
done:
	git_status_list_free(list);
	free(own);
	return err;
}

int provenance_collect(provenance *out, const char *source_dir, diag_list *diags)
{
	memset(out, 0, sizeof(*out));
	int rc = AML_OK;
	int err;
	bool inited = false;
	git_buf gitdir = { 0 };
	git_repository *repo = NULL;
	char *src = fs_realpath(source_dir);
	char *root = NULL, *realgitdir = NULL;
	const char *unavailable = NULL; /* set: warn that provenance is unavailable, and why */
	provenance p = { 0 };

	if (!src) {
		rc = diag_errno(diags, source_dir, "cannot resolve the source directory");
		goto done;
	}
	if (amlgit_init() < 0) {
		unavailable = "cannot start libgit2";
		goto done;
	}
	inited = true;

	err = git_repository_discover(&gitdir, src, 0, NULL);
	if (err == GIT_ENOTFOUND)
		goto done; /* not in a repository: nothing to record, nothing to say */
	if (err < 0) {
		unavailable = "cannot find the repository";
		goto done;
	}
	if (repo_open_unvalidated(&repo, gitdir.ptr) < 0) {
		unavailable = "cannot open the repository";
		goto done;
	}
	if (git_repository_is_bare(repo) || !git_repository_workdir(repo))
		goto done; /* no work tree, so no source to describe */
	root = fs_realpath(git_repository_workdir(repo));
	realgitdir = fs_realpath(gitdir.ptr);
	/* A source directory inside .git itself is not in the work tree. */
	if (!root || !fs_is_within(root, src) || (realgitdir && fs_is_within(realgitdir, src)))
		goto done;

	const char *rel = src + strlen(root);
	while (*rel == '/')
		rel++;
	if (collect_origin(&p, repo) < 0 || collect_head(&p, repo) < 0) {
		unavailable = "cannot read the repository";
		goto done;
	}
	if (collect_dirty(&p.dirty, repo, rel) < 0) {
		/* Without a status we cannot vouch that the commit reproduces the
		 * source; "dirty" is the claim that cannot mislead. */
		diag_warning(diags, source_dir, 0, 0, NULL,
			     "git status unavailable, recording the source as dirty: %s", amlgit_error());
		p.dirty = true;
	}
	p.work_tree = root;
	root = NULL;
	p.available = true;
	*out = p;
	memset(&p, 0, sizeof(p));
done:
	if (unavailable)
		diag_warning(diags, source_dir, 0, 0, NULL, "git provenance unavailable: %s: %s", unavailable,
			     amlgit_error());
	provenance_free(&p);
	git_repository_free(repo);
	git_buf_dispose(&gitdir);
	if (inited)
		amlgit_shutdown();
	free(src);
	free(root);
	free(realgitdir);
	return rc;
}

void provenance_free(provenance *p)
{
	if (!p)
		return;
	free(p->repository_uri);
	free(p->branch);
	free(p->commit);
	free(p->work_tree);
	memset(p, 0, sizeof(*p));
}

static void put_str(json_object *o, const char *key, const char *value)
{
	if (value)
		json_object_object_add(o, key, json_object_new_string(value));
}

json_object *provenance_to_properties(const provenance *p)
{
	json_object *o = json_object_new_object();
	if (!p || !p->available)
		return o;
	put_str(o, "azureml.git.repository_uri", p->repository_uri);
	put_str(o, "azureml.git.branch", p->branch);
	put_str(o, "azureml.git.commit", p->commit);
	/* Azure ML writes the dirty flag as Python's str(bool). */
	put_str(o, "azureml.git.dirty", p->dirty ? "True" : "False");
	put_str(o, "mlflow.source.git.repoURL", p->repository_uri);
	put_str(o, "mlflow.source.git.branch", p->branch);
	put_str(o, "mlflow.source.git.commit", p->commit);
	return o;
}
