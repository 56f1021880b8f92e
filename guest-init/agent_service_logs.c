/* logs_service: the end of a service's stdout and stderr logs. See the top
 * of agent_service.c for the rules. */
#include "agent_service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/exitcodes.h"
#include "../core/utf8.h"

/* The last 1 MiB of each log is read; its JSON form stays under
 * LOG_JSON_MAX (terminal output escapes to up to 6 bytes per byte), well
 * inside the agent's answer limit (AGENT_MAX_ANSWER). */
#define LOG_READ_CAP (1 << 20)
#define LOG_JSON_MAX (8 << 20)
#define TAIL_MAX 100000

static int oom(struct pyro_err *err)
{
	return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory");
}

/* The last LOG_READ_CAP bytes of a log, from a line start when cut. A log
 * that does not exist (yet) is empty. */
static int read_log(const char *name, const char *ext, struct buf *raw, bool *truncated,
		    struct pyro_err *err)
{
	char path[PATH_MAX];
	*truncated = false;
	if (svc_file(path, name, ext, err) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return pyro_err_sys(err, errno, "reading the service log %s", path);
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = pyro_err_sys(err, errno, "reading the service log %s", path);
		goto out;
	}
	off_t off = st.st_size > LOG_READ_CAP ? st.st_size - LOG_READ_CAP : 0;
	*truncated = off > 0;
	if (buf_reserve(raw, LOG_READ_CAP) < 0) {
		rc = oom(err);
		goto out;
	}
	while (raw->len < LOG_READ_CAP) {
		ssize_t n = pread(fd, raw->data + raw->len, LOG_READ_CAP - raw->len,
				  off + (off_t)raw->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pyro_err_sys(err, errno, "reading the service log %s", path);
			goto out;
		}
		if (n == 0)
			break;
		raw->len += (size_t)n;
	}
	raw->data[raw->len] = 0;
	if (*truncated) {
		char *nl = memchr(raw->data, '\n', raw->len);
		if (nl)
			buf_consume(raw, (size_t)(nl + 1 - raw->data));
	}
out:
	close(fd);
	return rc;
}

/* Offset where the last `lines` lines of s[0..n) start (0: all). */
static size_t tail_start(const char *s, size_t n, int64_t lines)
{
	if (lines <= 0)
		return 0;
	size_t end = n && s[n - 1] == '\n' ? n - 1 : n;
	for (size_t i = end; i > 0; i--)
		if (s[i - 1] == '\n' && --lines == 0)
			return i;
	return 0;
}

/* Bytes the JSON string form of byte b takes (core/json.h's escapes). */
static size_t json_cost(unsigned char b)
{
	if (b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f')
		return 2;
	return b < 0x20 ? 6 : 1;
}

/* Offset from which s[0..n) (valid UTF-8) costs at most LOG_JSON_MAX as a
 * JSON string: 0 when all of it does, else the first line start (or, with
 * no line break, character start) that does. */
static size_t json_fit_start(const char *s, size_t n)
{
	size_t cost = 2, i = n;
	while (i > 0 && cost + json_cost((unsigned char)s[i - 1]) <= LOG_JSON_MAX)
		cost += json_cost((unsigned char)s[--i]);
	if (i == 0)
		return 0;
	const char *nl = memchr(s + i, '\n', n - i);
	if (nl && nl + 1 < s + n)
		return (size_t)(nl + 1 - s);
	while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
		i++;
	return i;
}

static int set_log(struct agent_call *c, const char *name, const char *ext, int64_t tail,
		   struct pyro_err *err)
{
	struct buf raw = BUF_INIT, text = BUF_INIT, red = BUF_INIT;
	bool truncated;
	char key[32];
	int rc = read_log(name, ext, &raw, &truncated, err);
	if (rc == 0 && (utf8_sanitize(&text, raw.data, raw.len) < 0 ||
			agent_redact(&red, text.data, text.len, NULL) < 0))
		rc = oom(err);
	if (rc == 0) {
		size_t from = tail_start(red.data, red.len, tail);
		size_t fit = json_fit_start(red.data + from, red.len - from);
		truncated |= fit > 0;
		from += fit;
		snprintf(key, sizeof key, "%s_truncated", ext);
		if (json_object_set(c->doc, c->resp, ext,
				    json_string_len(c->doc, red.data + from, red.len - from)) < 0 ||
		    json_set_bool(c->doc, c->resp, key, truncated) < 0)
			rc = oom(err);
	}
	buf_release(&raw);
	buf_release(&text);
	buf_release(&red);
	return rc;
}

int agent_action_logs_service(struct agent_call *c, struct pyro_err *err)
{
	const char *name;
	int64_t tail;
	if (svc_req_name(c, &name, err) < 0 ||
	    agent_req_int(c, "tail_lines", 0, 1, TAIL_MAX, &tail, err) < 0)
		return -1;
	const char *state = svc_state_of(name);
	if (!state)
		return svc_no_such(name, err);
	if (json_set_str(c->doc, c->resp, "service_name", name) < 0 ||
	    json_set_str(c->doc, c->resp, "state", state) < 0 ||
	    json_object_set(c->doc, c->resp, "tail_lines",
			    tail ? json_int(c->doc, tail) : json_null(c->doc)) < 0)
		return oom(err);
	if (set_log(c, name, "stdout", tail, err) < 0 || set_log(c, name, "stderr", tail, err) < 0)
		return -1;
	return 0;
}
