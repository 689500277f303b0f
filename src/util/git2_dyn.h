/* git2_dyn: libgit2, opened on first use.
 * See util/dynlib.h for why it is not linked. A call to a function missing
 * from the list below fails to link: add the name to the list and a line to
 * the macros. */
#ifndef AMLSPEC_GIT2_DYN_H
#define AMLSPEC_GIT2_DYN_H

#include <git2.h>
#include <git2/sys/repository.h>

#define AMLSPEC_GIT2_FUNCTIONS(X) \
	X(git_blob_create_from_buffer) X(git_blob_free) X(git_blob_lookup) \
	X(git_blob_rawcontent) X(git_blob_rawsize) X(git_buf_dispose) \
	X(git_checkout_tree) X(git_commit_create) X(git_commit_free) \
	X(git_commit_tree_id) X(git_config_add_file_ondisk) X(git_config_free) \
	X(git_config_get_string_buf) X(git_config_iterator_free) X(git_config_iterator_new) \
	X(git_config_new) X(git_config_next) X(git_diff_free) \
	X(git_diff_get_delta) X(git_diff_index_to_workdir) X(git_diff_num_deltas) \
	X(git_diff_tree_to_tree) X(git_error_last) X(git_ignore_add_rule) \
	X(git_ignore_path_is_ignored) X(git_index_add) X(git_index_add_bypath) \
	X(git_index_clear) X(git_index_entrycount) X(git_index_find_prefix) X(git_index_free) \
	X(git_index_get_byindex) X(git_index_get_bypath) X(git_index_new) \
	X(git_index_open) X(git_index_remove) X(git_index_remove_bypath) \
	X(git_index_write) X(git_index_write_tree) X(git_libgit2_init) X(git_libgit2_version) \
	X(git_libgit2_opts) X(git_libgit2_shutdown) X(git_object_free) \
	X(git_object_id) X(git_object_peel) X(git_odb_exists) \
	X(git_odb_free) X(git_odb_hash) X(git_odb_hashfile) \
	X(git_odb_read_header) X(git_odb_write) X(git_oid_cpy) X(git_oid_equal) \
	X(git_oid_fromstr) X(git_oid_is_zero) X(git_oid_tostr) \
	X(git_oid_tostr_s) X(git_reference_create) X(git_reference_free) \
	X(git_reference_lookup) X(git_reference_name_is_valid) X(git_reference_peel) \
	X(git_reference_shorthand) X(git_reference_target) X(git_repository_config_snapshot) \
	X(git_repository_discover) X(git_repository_free) X(git_repository_head) \
	X(git_repository_head_detached) X(git_repository_init) X(git_repository_is_bare) \
	X(git_repository_odb) X(git_repository_open) X(git_repository_open_bare) \
	X(git_repository_path) X(git_repository_set_config) X(git_repository_set_index) \
	X(git_repository_set_workdir) X(git_repository_workdir) X(git_revparse_single) \
	X(git_signature_free) X(git_signature_now) X(git_status_byindex) \
	X(git_status_list_entrycount) X(git_status_list_free) X(git_status_list_new) \
	X(git_tree_dup) X(git_tree_entry_bypath) X(git_tree_entry_filemode) \
	X(git_tree_entry_free) X(git_tree_entry_id) X(git_tree_entry_name) \
	X(git_tree_entry_type) X(git_tree_free) X(git_tree_id) \
	X(git_tree_lookup) X(git_tree_walk)

struct amlspec_git2 {
#define AMLSPEC_DYN_DECLARE(f) __typeof__(f) *f;
	AMLSPEC_GIT2_FUNCTIONS(AMLSPEC_DYN_DECLARE)
#undef AMLSPEC_DYN_DECLARE
};

/* The functions, the library opened on first use; the program ends with a
 * message when it cannot be (a broken installation). */
const struct amlspec_git2 *amlspec_git2(void);

#ifndef AMLSPEC_DYN_IMPL
#define git_blob_create_from_buffer (amlspec_git2()->git_blob_create_from_buffer)
#define git_blob_free (amlspec_git2()->git_blob_free)
#define git_blob_lookup (amlspec_git2()->git_blob_lookup)
#define git_blob_rawcontent (amlspec_git2()->git_blob_rawcontent)
#define git_blob_rawsize (amlspec_git2()->git_blob_rawsize)
#define git_buf_dispose (amlspec_git2()->git_buf_dispose)
#define git_checkout_tree (amlspec_git2()->git_checkout_tree)
#define git_commit_create (amlspec_git2()->git_commit_create)
#define git_commit_free (amlspec_git2()->git_commit_free)
#define git_commit_tree_id (amlspec_git2()->git_commit_tree_id)
#define git_config_add_file_ondisk (amlspec_git2()->git_config_add_file_ondisk)
#define git_config_free (amlspec_git2()->git_config_free)
#define git_config_get_string_buf (amlspec_git2()->git_config_get_string_buf)
#define git_config_iterator_free (amlspec_git2()->git_config_iterator_free)
#define git_config_iterator_new (amlspec_git2()->git_config_iterator_new)
#define git_config_new (amlspec_git2()->git_config_new)
#define git_config_next (amlspec_git2()->git_config_next)
#define git_diff_free (amlspec_git2()->git_diff_free)
#define git_diff_get_delta (amlspec_git2()->git_diff_get_delta)
#define git_diff_index_to_workdir (amlspec_git2()->git_diff_index_to_workdir)
#define git_diff_num_deltas (amlspec_git2()->git_diff_num_deltas)
#define git_diff_tree_to_tree (amlspec_git2()->git_diff_tree_to_tree)
#define git_error_last (amlspec_git2()->git_error_last)
#define git_ignore_add_rule (amlspec_git2()->git_ignore_add_rule)
#define git_ignore_path_is_ignored (amlspec_git2()->git_ignore_path_is_ignored)
#define git_index_add (amlspec_git2()->git_index_add)
#define git_index_add_bypath (amlspec_git2()->git_index_add_bypath)
#define git_index_clear (amlspec_git2()->git_index_clear)
#define git_index_entrycount (amlspec_git2()->git_index_entrycount)
#define git_index_find_prefix (amlspec_git2()->git_index_find_prefix)
#define git_index_free (amlspec_git2()->git_index_free)
#define git_index_get_byindex (amlspec_git2()->git_index_get_byindex)
#define git_index_get_bypath (amlspec_git2()->git_index_get_bypath)
#define git_index_new (amlspec_git2()->git_index_new)
#define git_index_open (amlspec_git2()->git_index_open)
#define git_index_remove (amlspec_git2()->git_index_remove)
#define git_index_remove_bypath (amlspec_git2()->git_index_remove_bypath)
#define git_index_write (amlspec_git2()->git_index_write)
#define git_index_write_tree (amlspec_git2()->git_index_write_tree)
#define git_libgit2_init (amlspec_git2()->git_libgit2_init)
#define git_libgit2_version (amlspec_git2()->git_libgit2_version)
#define git_libgit2_opts (amlspec_git2()->git_libgit2_opts)
#define git_libgit2_shutdown (amlspec_git2()->git_libgit2_shutdown)
#define git_object_free (amlspec_git2()->git_object_free)
#define git_object_id (amlspec_git2()->git_object_id)
#define git_object_peel (amlspec_git2()->git_object_peel)
#define git_odb_exists (amlspec_git2()->git_odb_exists)
#define git_odb_free (amlspec_git2()->git_odb_free)
#define git_odb_hash (amlspec_git2()->git_odb_hash)
#define git_odb_hashfile (amlspec_git2()->git_odb_hashfile)
#define git_odb_read_header (amlspec_git2()->git_odb_read_header)
#define git_odb_write (amlspec_git2()->git_odb_write)
#define git_oid_cpy (amlspec_git2()->git_oid_cpy)
#define git_oid_equal (amlspec_git2()->git_oid_equal)
#define git_oid_fromstr (amlspec_git2()->git_oid_fromstr)
#define git_oid_is_zero (amlspec_git2()->git_oid_is_zero)
#define git_oid_tostr (amlspec_git2()->git_oid_tostr)
#define git_oid_tostr_s (amlspec_git2()->git_oid_tostr_s)
#define git_reference_create (amlspec_git2()->git_reference_create)
#define git_reference_free (amlspec_git2()->git_reference_free)
#define git_reference_lookup (amlspec_git2()->git_reference_lookup)
#define git_reference_name_is_valid (amlspec_git2()->git_reference_name_is_valid)
#define git_reference_peel (amlspec_git2()->git_reference_peel)
#define git_reference_shorthand (amlspec_git2()->git_reference_shorthand)
#define git_reference_target (amlspec_git2()->git_reference_target)
#define git_repository_config_snapshot (amlspec_git2()->git_repository_config_snapshot)
#define git_repository_discover (amlspec_git2()->git_repository_discover)
#define git_repository_free (amlspec_git2()->git_repository_free)
#define git_repository_head (amlspec_git2()->git_repository_head)
#define git_repository_head_detached (amlspec_git2()->git_repository_head_detached)
#define git_repository_init (amlspec_git2()->git_repository_init)
#define git_repository_is_bare (amlspec_git2()->git_repository_is_bare)
#define git_repository_odb (amlspec_git2()->git_repository_odb)
#define git_repository_open (amlspec_git2()->git_repository_open)
#define git_repository_open_bare (amlspec_git2()->git_repository_open_bare)
#define git_repository_path (amlspec_git2()->git_repository_path)
#define git_repository_set_config (amlspec_git2()->git_repository_set_config)
#define git_repository_set_index (amlspec_git2()->git_repository_set_index)
#define git_repository_set_workdir (amlspec_git2()->git_repository_set_workdir)
#define git_repository_workdir (amlspec_git2()->git_repository_workdir)
#define git_revparse_single (amlspec_git2()->git_revparse_single)
#define git_signature_free (amlspec_git2()->git_signature_free)
#define git_signature_now (amlspec_git2()->git_signature_now)
#define git_status_byindex (amlspec_git2()->git_status_byindex)
#define git_status_list_entrycount (amlspec_git2()->git_status_list_entrycount)
#define git_status_list_free (amlspec_git2()->git_status_list_free)
#define git_status_list_new (amlspec_git2()->git_status_list_new)
#define git_tree_dup (amlspec_git2()->git_tree_dup)
#define git_tree_entry_bypath (amlspec_git2()->git_tree_entry_bypath)
#define git_tree_entry_filemode (amlspec_git2()->git_tree_entry_filemode)
#define git_tree_entry_free (amlspec_git2()->git_tree_entry_free)
#define git_tree_entry_id (amlspec_git2()->git_tree_entry_id)
#define git_tree_entry_name (amlspec_git2()->git_tree_entry_name)
#define git_tree_entry_type (amlspec_git2()->git_tree_entry_type)
#define git_tree_free (amlspec_git2()->git_tree_free)
#define git_tree_id (amlspec_git2()->git_tree_id)
#define git_tree_lookup (amlspec_git2()->git_tree_lookup)
#define git_tree_walk (amlspec_git2()->git_tree_walk)
#endif

#endif
