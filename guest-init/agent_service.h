/* Private to the service files: agent_service.c (records, processes,
 * start/status/stop/list), agent_service_ready.c (readiness probes) and
 * agent_service_logs.c (logs_service).
 *
 * A probe is parsed from the request's "readiness" object into a struct
 * svc_probe that lives for the start_service request (its strings are in
 * the request's doc); a normalised copy of the object goes into the service
 * record, for status answers. See agent_service.c for the readiness types
 * and their fields.
 */
#ifndef PYRO_AGENT_SERVICE_H
#define PYRO_AGENT_SERVICE_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "agent.h"

enum svc_probe_type {
	SVC_PROBE_FILE = 1,
	SVC_PROBE_TCP,
	SVC_PROBE_HTTP,
	SVC_PROBE_COMMAND,
};

struct svc_probe {
	enum svc_probe_type type;
	char path[PATH_MAX];          /* file: the mapped (host) path */
	struct sockaddr_storage addr; /* tcp, http: where to connect */
	socklen_t addr_len;
	const char *endpoint;         /* tcp, http: "HOST:PORT" for messages */
	const char *host_header;      /* http: the Host header value */
	const char *target;           /* http: the request target ("/path?q") */
	const char *command;          /* command: run with sh -lc */
	const char *const *envp;      /* command: the service's environment */
	const char *cwd;              /* command: the service's (host) cwd */
};

/* Parse the "readiness" member `v` (an object; the caller handles null)
 * into p, and store a normalised copy of the object (file paths in their
 * "/workspace/..." form) in *norm, in c->doc. -1 with a message naming the
 * field ("readiness.type must be one of ...") on bad input. envp and cwd
 * are left for the caller to fill. */
int svc_probe_parse(struct agent_call *c, const struct json_value *v, struct svc_probe *p,
		    struct json_value **norm, struct pyro_err *err);

/* Try the probe once, taking at most about budget_ms. 1 when ready, 0 when
 * not; then `why` (cap bytes, always terminated) says what was seen, for
 * the readiness-timeout message. */
int svc_probe_once(const struct svc_probe *p, int64_t budget_ms, char *why, size_t cap);

/* ---- shared by the service files (defined in agent_service.c) ---- */

/* The request's service_name, checked (see agent_service.c). */
int svc_req_name(struct agent_call *c, const char **out, struct pyro_err *err);
/* dst = the mapped /run/pyro-services/NAME.EXT. */
int svc_file(char dst[PATH_MAX], const char *name, const char *ext, struct pyro_err *err);
/* "service 'NAME' does not exist"; returns -1. */
int svc_no_such(const char *name, struct pyro_err *err);
/* The state of service NAME ("running", ...; a static string), or NULL when
 * there is no such service. */
const char *svc_state_of(const char *name);

#endif
