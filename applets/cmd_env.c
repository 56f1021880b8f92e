/* `pyro env list | pull | inspect | prune | import`: the environment cache
 * (docs/environments.md). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/envimport.h"
#include "../core/envpull.h"
#include "../core/envstore.h"
#include "../core/exitcodes.h"
#include "cli.h"
#include "mcp_tools.h"

static int fail(struct cmd_call *call, const struct pyro_err *err)
{
	call->err = *err;
	return err->code ? err->code : PYRO_EXIT_FAILURE;
}

static int oom(struct cmd_call *call)
{
	pyro_err_set(&call->err, PYRO_EXIT_INTERNAL, "out of memory building the result");
	return PYRO_EXIT_INTERNAL;
}

/* The catalog row and its install state: the shape list, inspect, pull and
 * import share. */
static struct json_value *env_payload(struct json_doc *doc, const struct envstore *st,
				      const struct env_catalog_entry *e,
				      const struct env_install *in)
{
	struct json_value *o = json_object(doc), *pkgs = json_array(doc);
	if (!o || !pkgs)
		return NULL;
	int rc = 0;
	for (const char *const *p = e->default_packages; *p; p++)
		rc |= json_array_push(doc, pkgs, json_string(doc, *p));
	char ref[600];
	struct pyro_err ignored;
	bool have_ref = env_catalog_reference(e, ref, sizeof ref, &ignored) == 0;
	rc |= json_set_str(doc, o, "name", e->name);
	rc |= json_set_str(doc, o, "version", e->version);
	rc |= json_set_str(doc, o, "description", e->description);
	rc |= json_set_str(doc, o, "distribution", e->distribution);
	rc |= json_set_str(doc, o, "distribution_version", e->distribution_version);
	rc |= json_object_set(doc, o, "default_packages", pkgs);
	rc |= json_set_str(doc, o, "oci_repository", e->repository);
	rc |= json_set_str(doc, o, "oci_reference", e->version);
	rc |= have_ref ? json_set_str(doc, o, "oci_source", ref) : json_set_null(doc, o, "oci_source");
	rc |= json_set_bool(doc, o, "installed", in->installed);
	rc |= json_set_str(doc, o, "cache_dir", st->dir);
	rc |= json_set_str(doc, o, "install_dir", in->install_dir);
	if (in->installed) {
		rc |= json_set_str(doc, o, "source", in->source);
		rc |= json_set_str(doc, o, "source_ref", in->source_ref);
		rc |= in->source_digest[0] ? json_set_str(doc, o, "source_digest", in->source_digest)
					   : json_set_null(doc, o, "source_digest");
		rc |= json_set_str(doc, o, "installed_at", in->installed_at);
		const struct env_manifest *m = &in->manifest;
		struct json_value *arts = json_object(doc);
		for (int r = 0; arts && r < ENV_ARTIFACT_COUNT; r++) {
			struct json_value *a = json_object(doc);
			char path[PATH_MAX + 200];
			snprintf(path, sizeof path, "%s/%s", in->install_dir, m->artifacts[r].path);
			rc |= !a || json_set_str(doc, a, "path", path) < 0 ||
			      json_set_str(doc, a, "sha256", m->artifacts[r].sha256) < 0 ||
			      json_set_int(doc, a, "size", (int64_t)m->artifacts[r].size) < 0 ||
			      json_object_set(doc, arts, env_artifact_role_name(r), a) < 0;
		}
		rc |= json_object_set(doc, o, "artifacts", arts);
		const struct json_value *packages = json_get(m->root, "packages");
		rc |= json_object_set(doc, o, "packages",
				      packages ? json_clone(doc, packages) : json_array(doc));
		rc |= m->kernel_config_sha256[0]
			      ? json_set_str(doc, o, "kernel_config_sha256", m->kernel_config_sha256)
			      : json_set_null(doc, o, "kernel_config_sha256");
	} else {
		rc |= in->present ? json_set_str(doc, o, "install_problem", in->problem)
				  : json_set_null(doc, o, "install_problem");
	}
	return rc ? NULL : o;
}

/* Every subcommand starts here: the store's directories and an empty
 * result object. */
static int begin(struct cmd_call *call, struct envstore *st)
{
	struct pyro_err err;
	if (envstore_open(st, &err) < 0)
		return fail(call, &err);
	return cmd_result_object(call) ? 0 : oom(call);
}

/* ---- list ---- */

static int run_list(struct cmd_call *call)
{
	struct envstore st;
	int rc = begin(call, &st);
	if (rc)
		return rc;
	struct json_value *out = call->result, *arr = json_array(call->doc);
	if (!arr)
		return oom(call);
	size_t n;
	const struct env_catalog_entry *cat = env_catalog(&n);
	for (size_t i = 0; i < n; i++) {
		struct env_install in;
		struct pyro_err err;
		if (envstore_check(&st, cat[i].name, cat[i].version, &in, &err) < 0)
			return fail(call, &err);
		struct json_value *p = env_payload(call->doc, &st, &cat[i], &in);
		envstore_install_release(&in);
		if (!p || json_array_push(call->doc, arr, p) < 0)
			return oom(call);
	}
	if (json_set_str(call->doc, out, "catalog_version", env_catalog_version()) < 0 ||
	    json_set_str(call->doc, out, "cache_dir", st.dir) < 0 ||
	    json_object_set(call->doc, out, "environments", arr) < 0)
		return oom(call);
	return PYRO_EXIT_OK;
}

static int render_list(const struct cmd_call *call, struct buf *out)
{
	const struct json_value *r = call->result;
	buf_printf(out, "Catalog version: %s\n", json_get_str(r, "catalog_version"));
	const struct json_value *arr = json_get(r, "environments");
	for (size_t i = 0; arr && i < arr->u.array.len; i++) {
		const struct json_value *e = arr->u.array.items[i];
		bool installed = false;
		json_get_bool(e, "installed", &installed);
		const char *problem = json_get_str(e, "install_problem");
		buf_printf(out, "%s [%s] %s\n", json_get_str(e, "name"),
			   installed ? "installed" : problem ? "broken install" : "not installed",
			   json_get_str(e, "description"));
	}
	return 0;
}

/* ---- inspect / pull / import share a rendering ---- */

static void render_packages(struct buf *out, const struct json_value *e)
{
	const struct json_value *pkgs = json_get(e, "default_packages");
	buf_append_str(out, "Default packages: ");
	for (size_t i = 0; pkgs && i < pkgs->u.array.len; i++)
		buf_printf(out, "%s%s", i ? ", " : "", pkgs->u.array.items[i]->u.string.ptr);
	buf_append_char(out, '\n');
}

/* "<title>: NAME" and the environment's fields, one per line. */
static void render_env(struct buf *out, const char *title, const struct json_value *e)
{
	buf_printf(out, "%s: %s\n", title, json_get_str(e, "name"));
	bool installed = false;
	json_get_bool(e, "installed", &installed);
	buf_printf(out, "Version: %s\n", json_get_str(e, "version"));
	buf_printf(out, "Description: %s\n", json_get_str(e, "description"));
	buf_printf(out, "Distribution: %s %s\n", json_get_str(e, "distribution"),
		   json_get_str(e, "distribution_version"));
	buf_printf(out, "Installed: %s\n", installed ? "yes" : "no");
	const char *problem = json_get_str(e, "install_problem");
	if (problem)
		buf_printf(out, "Install problem: %s (the next pull repairs it)\n", problem);
	buf_printf(out, "Cache dir: %s\n", json_get_str(e, "cache_dir"));
	render_packages(out, e);
	buf_printf(out, "Install dir: %s\n", json_get_str(e, "install_dir"));
	const char *oci = json_get_str(e, "oci_source");
	if (oci)
		buf_printf(out, "OCI source: %s\n", oci);
	if (installed) {
		const char *digest = json_get_str(e, "source_digest");
		buf_printf(out, "Installed from: %s %s%s%s\n", json_get_str(e, "source"),
			   json_get_str(e, "source_ref"), digest ? " " : "", digest ? digest : "");
		buf_printf(out, "Installed at: %s\n", json_get_str(e, "installed_at"));
		const struct json_value *arts = json_get(e, "artifacts");
		for (size_t i = 0; arts && i < arts->u.object.len; i++) {
			const struct json_value *a = arts->u.object.members[i].value;
			int64_t size = 0;
			json_get_int(a, "size", &size);
			buf_printf(out, "Artifact %s: %s (%lld bytes, sha256 %s)\n",
				   arts->u.object.members[i].key, json_get_str(a, "path"),
				   (long long)size, json_get_str(a, "sha256"));
		}
	}
}

static const struct env_catalog_entry *find_entry(struct cmd_call *call)
{
	return env_catalog_find(cmd_str(call, "environment"), &call->err);
}

static int finish_payload(struct cmd_call *call, const struct envstore *st,
			  const struct env_catalog_entry *e, struct env_install *in)
{
	struct json_value *p = env_payload(call->doc, st, e, in);
	envstore_install_release(in);
	if (!p)
		return oom(call);
	call->result = p;
	return PYRO_EXIT_OK;
}

static int run_inspect(struct cmd_call *call)
{
	struct envstore st;
	int rc = begin(call, &st);
	const struct env_catalog_entry *e = rc ? NULL : find_entry(call);
	if (rc || !e)
		return rc ? rc : PYRO_EXIT_USAGE;
	struct env_install in;
	struct pyro_err err;
	if (envstore_check(&st, e->name, e->version, &in, &err) < 0)
		return fail(call, &err);
	return finish_payload(call, &st, e, &in);
}

static int render_inspect(const struct cmd_call *call, struct buf *out)
{
	render_env(out, "Environment", call->result);
	return 0;
}

/* ---- pull ---- */

struct progress_state {
	bool tty;
	char what[128];
	struct timespec start, last;
	uint64_t done, total;
};

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress_line(struct progress_state *ps, bool final)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double secs = seconds_between(&ps->start, &now);
	double rate = secs > 0 ? (double)ps->done / secs / (1024.0 * 1024.0) : 0;
	fprintf(stderr, "%s[pull] %s: %.1f of %.1f MiB, %.1f MiB/s%s", ps->tty ? "\r" : "",
		ps->what, (double)ps->done / (1024.0 * 1024.0),
		(double)ps->total / (1024.0 * 1024.0), rate,
		final ? (ps->tty ? "\033[K\n" : "\n") : "\033[K");
	fflush(stderr);
}

static void on_progress(void *ctx, const char *phase, const char *what, uint64_t done,
			uint64_t total)
{
	struct progress_state *ps = ctx;
	if (strcmp(phase, "download") != 0) {
		if (ps->what[0]) {
			progress_line(ps, true);
			ps->what[0] = '\0';
		}
		return;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (strcmp(ps->what, what) != 0) {
		if (ps->what[0])
			progress_line(ps, true);
		snprintf(ps->what, sizeof ps->what, "%s", what);
		ps->start = ps->last = now;
	}
	ps->done = done;
	ps->total = total;
	/* Humans at a terminal get a live line; logs get one line per blob. */
	if (ps->tty && seconds_between(&ps->last, &now) >= 0.25) {
		ps->last = now;
		progress_line(ps, false);
	}
	if (done == total) {
		progress_line(ps, true);
		ps->what[0] = '\0';
	}
}

static int run_pull(struct cmd_call *call)
{
	struct envstore st;
	int rc = begin(call, &st);
	const struct env_catalog_entry *e = rc ? NULL : find_entry(call);
	if (rc || !e)
		return rc ? rc : PYRO_EXIT_USAGE;
	fprintf(stderr, "[pull] phase=install environment=%s\n", e->name);
	struct progress_state ps = { .tty = isatty(2) };
	struct env_pull_progress progress = { on_progress, &ps };
	struct env_install in;
	bool downloaded;
	struct pyro_err err;
	if (env_pull(&st, e, &progress, &in, &downloaded, &err) < 0) {
		if (ps.what[0])
			fputc('\n', stderr);
		return fail(call, &err);
	}
	fprintf(stderr, "[pull] phase=ready environment=%s%s\n", e->name,
		downloaded ? "" : " (already installed)");
	return finish_payload(call, &st, e, &in);
}

static int render_pull(const struct cmd_call *call, struct buf *out)
{
	render_env(out, "Pulled", call->result);
	return 0;
}

/* ---- import ---- */

static int run_import(struct cmd_call *call)
{
	struct envstore st;
	int rc = begin(call, &st);
	if (rc)
		return rc;
	struct env_install in;
	struct pyro_err err;
	if (envstore_import(&st, cmd_str(call, "path"), &in, &err) < 0)
		return fail(call, &err);
	const struct env_catalog_entry *e = env_catalog_find(in.manifest.name, &call->err);
	if (!e) {
		envstore_install_release(&in);
		return PYRO_EXIT_FAILURE;
	}
	return finish_payload(call, &st, e, &in);
}

static int render_import(const struct cmd_call *call, struct buf *out)
{
	render_env(out, "Imported", call->result);
	return 0;
}

/* ---- prune ---- */

static int run_prune(struct cmd_call *call)
{
	struct envstore st;
	int rc = begin(call, &st);
	if (rc)
		return rc;
	struct json_value *out = call->result, *deleted = json_array(call->doc);
	if (!deleted)
		return oom(call);
	struct pyro_err err;
	if (envstore_prune(&st, call->doc, deleted, &err) < 0)
		return fail(call, &err);
	if (json_object_set(call->doc, out, "deleted_environment_dirs", deleted) < 0 ||
	    json_set_int(call->doc, out, "count", (int64_t)deleted->u.array.len) < 0)
		return oom(call);
	return PYRO_EXIT_OK;
}

static int render_prune(const struct cmd_call *call, struct buf *out)
{
	const struct json_value *d = json_get(call->result, "deleted_environment_dirs");
	size_t n = d ? d->u.array.len : 0;
	buf_printf(out, "Deleted: %zu environment director%s\n", n, n == 1 ? "y" : "ies");
	for (size_t i = 0; i < n; i++)
		buf_printf(out, "  %s\n", d->u.array.items[i]->u.string.ptr);
	return 0;
}

/* ---- rows ---- */

#define ENV_NAME_ARG                                                                   \
	{ .name = "environment", .type = ARG_STRING, .flags = ARG_POSITIONAL | ARG_REQUIRED, \
	  .help = "Catalog environment name, e.g. debian:12 (see 'pyro env list')." }

static const struct arg_spec list_args[] = { CLI_JSON_ARG, { 0 } };
static const struct arg_spec name_args[] = { ENV_NAME_ARG, CLI_JSON_ARG, { 0 } };
static const struct arg_spec import_args[] = {
	{ .name = "path", .type = ARG_STRING, .flags = ARG_POSITIONAL | ARG_REQUIRED,
	  .help = "A bundle directory (manifest.json, vmlinux, rootfs.ext4) or a tar, "
		  "tar.gz or tar.zst of one." },
	CLI_JSON_ARG,
	{ 0 },
};

/* Also the vm_list_environments MCP tool (applets/mcp_tools.h). */
const struct command cli_env_list_command = {
	.name = "list",
	.summary = "List the catalog's environments and whether each is installed",
	.args = list_args, .run = run_list, .render = render_list,
	.tool = "vm_list_environments",
	.title = "List environments",
	.description = "Each environment (name, version, description, packages) and whether it "
		       "is installed in this host's cache; vm_run and vm_create install a "
		       "missing one on first use when its registry is reachable.",
	.hints = CMD_READ_ONLY | CMD_IDEMPOTENT,
	.output_schema = "{\"type\":\"object\",\"properties\":{"
			 "\"catalog_version\":{\"type\":\"string\"},"
			 "\"cache_dir\":{\"type\":\"string\"},"
			 "\"environments\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
			 "\"properties\":{\"name\":{\"type\":\"string\"},"
			 "\"installed\":{\"type\":\"boolean\"}},"
			 "\"required\":[\"name\",\"installed\"]}}},"
			 "\"required\":[\"catalog_version\",\"environments\"]}",
};
static const struct command env_pull_cmd = {
	.name = "pull",
	.summary = "Download an environment from its OCI registry into the cache "
		   "(PYRO_ENVIRONMENT_REGISTRY picks another registry)",
	.args = name_args, .run = run_pull, .render = render_pull,
};
static const struct command env_inspect_cmd = {
	.name = "inspect",
	.summary = "Show an environment: catalog data, install state, artifacts",
	.args = name_args, .run = run_inspect, .render = render_inspect,
};
static const struct command env_prune_cmd = {
	.name = "prune",
	.summary = "Remove stale versions, broken installs and abandoned downloads from the cache",
	.args = list_args, .run = run_prune, .render = render_prune,
};
static const struct command env_import_cmd = {
	.name = "import",
	.summary = "Install a locally built environment bundle after checking every sha256",
	.args = import_args, .run = run_import, .render = render_import,
};

static const struct command *const env_subcommands[] = {
	&cli_env_list_command, &env_pull_cmd, &env_inspect_cmd, &env_prune_cmd, &env_import_cmd, NULL,
};

const struct command cli_env_command = {
	.name = "env",
	.summary = "Environments (guest kernel + root filesystem): list, pull, inspect, prune, import",
	.subcommands = env_subcommands,
};
