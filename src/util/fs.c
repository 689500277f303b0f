#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *fs_join(const char *dir, const char *name)
{
	if (!dir || !*dir || name[0] == '/')
		return xstrdup(name);
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if (!strcmp(name, ".") || !*name)
		return xstrndup(dir, dl);
	buf b = BUF_INIT;
	buf_add(&b, dir, dl);
	if (dir[dl - 1] != '/')
		buf_putc(&b, '/');
	buf_puts(&b, name);
	return buf_detach(&b);
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

const char *fs_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

char *fs_realpath(const char *path)
{
	char *r = realpath(path, NULL);
	return r;
}

char *fs_absolute(const char *path)
{
	char cwd[PATH_MAX];
	if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return NULL;
	return fs_absolute_from(path[0] == '/' ? "/" : cwd, path);
}

char *fs_absolute_from(const char *cwd, const char *path)
{
	buf in = BUF_INIT;
	if (path[0] != '/') {
		buf_puts(&in, cwd);
		buf_putc(&in, '/');
	}
	buf_puts(&in, path);
	/* fold . and .. lexically */
	char **parts = xcalloc(in.len + 1, sizeof(char *));
	size_t n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(in.ptr, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (n)
				n--;
			continue;
		}
		parts[n++] = tok;
	}
	buf out = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		buf_putc(&out, '/');
		buf_puts(&out, parts[i]);
	}
	if (!n)
		buf_putc(&out, '/');
	free(parts);
	buf_free(&in);
	return buf_detach(&out);
}

bool fs_is_within(const char *root, const char *path)
{
	size_t rl = strlen(root);
	if (rl == 1 && root[0] == '/')
		return path[0] == '/';
	return strncmp(root, path, rl) == 0 && (path[rl] == '\0' || path[rl] == '/');
}

bool fs_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool fs_is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int fs_mkdirs(const char *path, unsigned mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			errno = e;
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, mode);
	int e = errno;
	free(p);
	if (rc < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	if (rc < 0 && !fs_is_dir(path)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char *dir = fs_dirname(path);
	buf tmp = BUF_INIT;
	buf_printf(&tmp, "%s.tmp.XXXXXX", path);
	int fd = mkstemp(tmp.ptr);
	int e = 0;
	if (fd < 0) {
		e = errno;
		goto done;
	}
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp.ptr);
		goto done;
	}
	if (close(fd) < 0) {
		e = errno;
		unlink(tmp.ptr);
		goto done;
	}
	if (rename(tmp.ptr, path) < 0) {
		e = errno;
		unlink(tmp.ptr);
		goto done;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
done:
	free(dir);
	buf_free(&tmp);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

int fs_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *child = fs_join(path, de->d_name);
		if (fs_remove_tree(child) < 0)
			rc = -1;
		free(child);
	}
	closedir(d);
	if (rmdir(path) < 0)
		rc = -1;
	return rc;
}

char *fs_relative(const char *base, const char *path)
{
	size_t bl = strlen(base);
	if (!strcmp(base, path))
		return xstrdup(".");
	if (fs_is_within(base, path))
		return xstrdup(path + bl + (base[bl - 1] == '/' ? 0 : 1));
	/* walk up from base */
	buf out = BUF_INIT;
	char *b = xstrdup(base);
	while (!fs_is_within(b, path)) {
		buf_puts(&out, "../");
		char *up = fs_dirname(b);
		free(b);
		b = up;
	}
	size_t l = strlen(b);
	const char *rest = path + l + (b[l - 1] == '/' ? 0 : 1);
	if (*rest && path[l])
		buf_puts(&out, rest);
	else
		buf_truncate(&out, out.len - 1);
	free(b);
	return buf_detach(&out);
}

char *fs_expand_home(const char *path)
{
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
		const char *home = getenv("HOME");
		if (home && *home)
			return xasprintf("%s%s", home, path + 1);
	}
	return xstrdup(path);
}
