/* blob: uploading a folder to Azure Blob storage through a SAS URI (what
 * startPendingUpload hands out for a code asset). Small files go in one Put
 * Blob; large ones in blocks (Put Block + Put Block List) whose ids are
 * derived from their content. Every request carries Content-MD5 so the
 * service checks what it stored.
 *
 * Resuming: with resume set, each file is first looked at (Get Blob
 * Properties): one already there with the same length and MD5 is not sent
 * again, and of a large file only the blocks missing from its uncommitted
 * block list are sent (Get Block List). */
#ifndef AMLSPEC_AZUREML_BLOB_H
#define AMLSPEC_AZUREML_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"
#include "util/http.h"

#define AZML_BLOB_API_VERSION "2021-12-02"
#define AZML_BLOB_BLOCK_SIZE (8u * 1024 * 1024)

typedef struct blob_upload_stats {
	size_t files;          /* in the folder */
	size_t files_sent;     /* uploaded now */
	size_t files_skipped;  /* already there */
	size_t blocks_sent;
	uint64_t bytes;        /* total size */
	uint64_t bytes_sent;
} blob_upload_stats;

typedef struct blob_upload_opts {
	const char *blob_uri;  /* the folder: https://acct.blob.core.windows.net/container/path */
	const char *sas_uri;   /* a SAS for the container (its query is the credential) */
	const char *dir;       /* local folder to upload */
	bool resume;           /* look before sending */
	size_t block_size;     /* 0: AZML_BLOB_BLOCK_SIZE; AMLSPEC_AZUREML_BLOCK_SIZE overrides */
} blob_upload_opts;

int azml_blob_upload_dir(http_client *http, const blob_upload_opts *o, blob_upload_stats *st, diag_list *diags);

/* Content-MD5 of a file (base64) and its size; 0 or -1 with errno. */
int azml_file_md5(const char *path, char out_b64[25], uint64_t *size);
/* base64 of 16 bytes. */
void azml_b64_md5(const unsigned char md5[16], char out_b64[25]);

#endif
