#include "azureml/blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/crypto_dyn.h"
#include "util/fs.h"
#include "util/strlist.h"

void azml_b64_md5(const unsigned char md5[16], char out_b64[25])
{
	EVP_EncodeBlock((unsigned char *)out_b64, md5, 16);
	out_b64[24] = '\0';
}

static void md5_bytes(const void *data, size_t len, unsigned char out[16])
{
	unsigned int n = 16;
	EVP_Digest(data, len, out, &n, EVP_md5(), NULL);
}

int azml_file_md5(const char *path, char out_b64[25], uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	unsigned char b[65536];
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, b, sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			EVP_MD_CTX_free(ctx);
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, b, (size_t)n);
		total += (uint64_t)n;
	}
	unsigned char md[16];
	unsigned int mdn = 16;
	EVP_DigestFinal_ex(ctx, md, &mdn);
	EVP_MD_CTX_free(ctx);
	close(fd);
	azml_b64_md5(md, out_b64);
	*size = total;
	return 0;
}

/* Every regular file (or link to one) under dir, relative, sorted. */
static int list_files(strlist *out, const char *dir, const char *rel, diag_list *diags)
{
	char *path = rel ? fs_join(dir, rel) : xstrdup(dir);
	DIR *d = opendir(path);
	if (!d) {
		int rc = diag_errno(diags, path, "cannot read the folder to upload");
		free(path);
		return rc;
	}
	strlist names = STRLIST_INIT;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			strlist_add(&names, e->d_name);
	closedir(d);
	strlist_sort(&names);
	int rc = AML_OK;
	for (size_t i = 0; i < names.count && !rc; i++) {
		char *r = rel ? xasprintf("%s/%s", rel, names.items[i]) : xstrdup(names.items[i]);
		char *full = fs_join(dir, r);
		struct stat st;
		if (stat(full, &st) < 0) {
			diag_warning(diags, NULL, 0, 0, NULL, "%s: not uploaded (a link to nothing)", r);
			free(r);
		} else if (S_ISDIR(st.st_mode)) {
			rc = list_files(out, dir, r, diags);
			free(r);
		} else if (S_ISREG(st.st_mode)) {
			strlist_add_owned(out, r);
		} else {
			diag_warning(diags, NULL, 0, 0, NULL, "%s: not uploaded (not a regular file)", r);
			free(r);
		}
		free(full);
	}
	strlist_free(&names);
	free(path);
	return rc;
}

static char *storage_error(const http_response *r)
{
	/* <Error><Code>X</Code><Message>Y</Message></Error>, or the header */
	const char *code = http_header(r, "x-ms-error-code");
	buf b = BUF_INIT;
	buf_printf(&b, "HTTP %ld", r->status);
	const char *c1 = r->body.len ? strstr(r->body.ptr, "<Code>") : NULL;
	const char *c2 = c1 ? strstr(c1, "</Code>") : NULL;
	if (c1 && c2)
		buf_printf(&b, " %.*s", (int)(c2 - c1 - 6), c1 + 6);
	else if (code)
		buf_printf(&b, " %s", code);
	const char *m1 = r->body.len ? strstr(r->body.ptr, "<Message>") : NULL;
	const char *m2 = m1 ? strstr(m1, "</Message>") : NULL;
	if (m1 && m2) {
		int n = (int)(m2 - m1 - 9);
		const char *nl = memchr(m1 + 9, '\n', (size_t)n);
		if (nl)
			n = (int)(nl - (m1 + 9));
		buf_printf(&b, ": %.*s", n > 400 ? 400 : n, m1 + 9);
	}
	const char *rid = http_header(r, "x-ms-request-id");
	if (rid)
		buf_printf(&b, " [x-ms-request-id %s]", rid);
	return buf_detach(&b);
}

static int blob_send(http_client *http, const char *method, const char *url, strlist *headers, const void *body,
		size_t len, const char *what, http_response *resp, diag_list *diags)
{
	strlist_add(headers, "x-ms-version: " AZML_BLOB_API_VERSION);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof(date), "x-ms-date: %a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
	strlist_add(headers, date);
	http_request req = { method, url, headers, body, len, what, false };
	return http_send(http, &req, resp, diags);
}

static int expect(const http_response *r, long want, const char *what, diag_list *diags)
{
	if (r->status == want)
		return AML_OK;
	char *m = storage_error(r);
	int rc = diag_error(diags, NULL, 0, 0, NULL, "upload: %s: %s", what, m);
	free(m);
	return rc;
}

static int read_range(int fd, unsigned char *b, size_t len, off_t at)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, b + done, len - done, at + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* Block ids must have one length per blob; content-derived so that a resumed
 * upload recognises what it sent before. */
static char *block_id(size_t index, const unsigned char md5[16])
{
	char raw[48];
	snprintf(raw, sizeof(raw), "%06zu-%02x%02x%02x%02x%02x%02x%02x%02x", index, md5[0], md5[1], md5[2], md5[3],
		 md5[4], md5[5], md5[6], md5[7]);
	unsigned char enc[80];
	EVP_EncodeBlock(enc, (const unsigned char *)raw, (int)strlen(raw));
	return xstrdup((const char *)enc);
}

static bool list_has(const char *xml, const char *id, size_t size)
{
	/* <Block><Name>ID</Name><Size>N</Size></Block> */
	char *needle = xasprintf("<Name>%s</Name>", id);
	const char *p = xml ? strstr(xml, needle) : NULL;
	bool ok = false;
	if (p) {
		const char *s = strstr(p, "<Size>");
		ok = s && (size_t)strtoull(s + 6, NULL, 10) == size;
	}
	free(needle);
	return ok;
}

static int upload_blocks(http_client *http, const char *url, const char *path, const char *rel, uint64_t size,
			 const char *md5_b64, size_t block_size, bool resume, blob_upload_stats *st, diag_list *diags)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return diag_errno(diags, path, "cannot read");
	int rc = AML_OK;
	char *what = xasprintf("%s (in blocks)", rel);
	buf have = BUF_INIT;
	if (resume) {
		char *lurl = xasprintf("%s&comp=blocklist&blocklisttype=uncommitted", url);
		strlist h = STRLIST_INIT;
		http_response r = HTTP_RESPONSE_INIT;
		rc = blob_send(http, "GET", lurl, &h, NULL, 0, what, &r, diags);
		if (!rc && r.status == 200)
			buf_add(&have, r.body.ptr, r.body.len);
		http_response_free(&r);
		strlist_free(&h);
		free(lurl);
		rc = AML_OK; /* no list: send every block */
	}
	unsigned char *b = xmalloc(block_size);
	buf list = BUF_INIT;
	buf_puts(&list, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>\n");
	size_t nblocks = (size_t)((size + block_size - 1) / block_size);
	for (size_t i = 0; i < nblocks && !rc; i++) {
		size_t len = (size_t)(size - (uint64_t)i * block_size < block_size ? size - (uint64_t)i * block_size
										    : block_size);
		if (read_range(fd, b, len, (off_t)((uint64_t)i * block_size)) < 0) {
			rc = diag_errno(diags, path, "cannot read (did it change during the upload?)");
			break;
		}
		unsigned char md[16];
		md5_bytes(b, len, md);
		char *id = block_id(i, md);
		buf_printf(&list, "  <Latest>%s</Latest>\n", id);
		if (!(resume && list_has(have.ptr, id, len))) {
			char *eid = http_urlencode(id, false);
			char *burl = xasprintf("%s&comp=block&blockid=%s", url, eid);
			char b64[25];
			azml_b64_md5(md, b64);
			strlist h = STRLIST_INIT;
			strlist_add_owned(&h, xasprintf("Content-MD5: %s", b64));
			strlist_add(&h, "Content-Type: application/octet-stream");
			http_response r = HTTP_RESPONSE_INIT;
			rc = blob_send(http, "PUT", burl, &h, b, len, what, &r, diags);
			if (!rc)
				rc = expect(&r, 201, what, diags);
			if (!rc) {
				st->blocks_sent++;
				st->bytes_sent += len;
			}
			http_response_free(&r);
			strlist_free(&h);
			free(burl);
			free(eid);
		}
		free(id);
	}
	buf_puts(&list, "</BlockList>\n");
	if (!rc) {
		char *curl = xasprintf("%s&comp=blocklist", url);
		strlist h = STRLIST_INIT;
		strlist_add(&h, "Content-Type: application/xml");
		strlist_add_owned(&h, xasprintf("x-ms-blob-content-md5: %s", md5_b64));
		http_response r = HTTP_RESPONSE_INIT;
		rc = blob_send(http, "PUT", curl, &h, list.ptr, list.len, what, &r, diags);
		if (!rc)
			rc = expect(&r, 201, what, diags);
		http_response_free(&r);
		strlist_free(&h);
		free(curl);
	}
	buf_free(&list);
	buf_free(&have);
	free(b);
	free(what);
	close(fd);
	return rc;
}

int azml_blob_upload_dir(http_client *http, const blob_upload_opts *o, blob_upload_stats *st, diag_list *diags)
{
	blob_upload_stats zero = { 0 };
	*st = zero;
	const char *q = strchr(o->sas_uri, '?');
	if (!q || !q[1])
		return diag_error(diags, NULL, 0, 0, NULL, "upload: the SAS URI from Azure ML has no query (no credential)");
	const char *why = NULL;
	if (!http_url_allowed(o->blob_uri, &why))
		return diag_error(diags, NULL, 0, 0, NULL, "upload: blob URI from Azure ML refused: %s", why);
	size_t block_size = o->block_size ? o->block_size : AZML_BLOB_BLOCK_SIZE;
	const char *bs = getenv("AMLSPEC_AZUREML_BLOCK_SIZE");
	if (bs && *bs) {
		unsigned long long v = strtoull(bs, NULL, 10);
		if (v >= 16)
			block_size = (size_t)v;
	}
	size_t ulen = strlen(o->blob_uri);
	while (ulen && o->blob_uri[ulen - 1] == '/')
		ulen--;
	strlist files = STRLIST_INIT;
	int rc = list_files(&files, o->dir, NULL, diags);
	if (!rc && !files.count)
		rc = diag_error(diags, NULL, 0, 0, NULL,
				"upload: the snapshot has no files (Azure ML refuses an empty code folder)");
	for (size_t i = 0; i < files.count && !rc; i++) {
		const char *rel = files.items[i];
		char *path = fs_join(o->dir, rel);
		char md5[25];
		uint64_t size = 0;
		if (azml_file_md5(path, md5, &size) < 0) {
			rc = diag_errno(diags, path, "cannot read");
			free(path);
			break;
		}
		st->files++;
		st->bytes += size;
		char *erel = http_urlencode(rel, true);
		char *url = xasprintf("%.*s/%s%s", (int)ulen, o->blob_uri, erel, q);
		bool there = false;
		if (o->resume) {
			strlist h = STRLIST_INIT;
			http_response r = HTTP_RESPONSE_INIT;
			if (blob_send(http, "HEAD", url, &h, NULL, 0, rel, &r, diags) == AML_OK && r.status == 200) {
				const char *len = http_header(&r, "content-length");
				const char *m = http_header(&r, "content-md5");
				there = len && strtoull(len, NULL, 10) == size && m && !strcmp(m, md5);
			}
			http_response_free(&r);
			strlist_free(&h);
		}
		if (there) {
			st->files_skipped++;
		} else if (size > block_size) {
			rc = upload_blocks(http, url, path, rel, size, md5, block_size, o->resume, st, diags);
			if (!rc)
				st->files_sent++;
		} else {
			buf data = BUF_INIT;
			if (buf_read_file(&data, path, block_size + 1) < 0) {
				rc = diag_errno(diags, path, "cannot read");
			} else {
				strlist h = STRLIST_INIT;
				strlist_add(&h, "x-ms-blob-type: BlockBlob");
				strlist_add_owned(&h, xasprintf("Content-MD5: %s", md5));
				strlist_add(&h, "Content-Type: application/octet-stream");
				http_response r = HTTP_RESPONSE_INIT;
				rc = blob_send(http, "PUT", url, &h, data.ptr, data.len, rel, &r, diags);
				if (!rc)
					rc = expect(&r, 201, rel, diags);
				if (!rc) {
					st->files_sent++;
					st->bytes_sent += data.len;
				}
				http_response_free(&r);
				strlist_free(&h);
			}
			buf_free(&data);
		}
		free(url);
		free(erel);
		free(path);
	}
	strlist_free(&files);
	return rc;
}
