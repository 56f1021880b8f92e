#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

static struct {
	const char *prog;
	enum log_level level;
} logger = { "pyro", LOG_WARN };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_prog(const char *prog)
{
	logger.prog = prog && *prog ? prog : "pyro";
}

const char *log_prog(void)
{
	return logger.prog;
}

void log_set_level(enum log_level level)
{
	logger.level = level;
}

enum log_level log_get_level(void)
{
	return logger.level;
}

void log_level_from_env(void)
{
	const char *v = getenv("PYRO_LOG");
	if (!v || !*v)
		return;
	for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++) {
		if (strcmp(v, level_names[i]) == 0) {
			logger.level = (enum log_level)i;
			return;
		}
	}
	log_warn("ignoring PYRO_LOG=%s: expected error, warn, info or debug", v);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > logger.level)
		return;
	/* Format the whole line first and write it with one write(2), so
	 * lines from concurrent processes sharing stderr do not interleave. */
	struct buf line = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_printf(&line, "%s: ", logger.prog);
	if (level != LOG_ERROR && level != LOG_INFO)
		buf_printf(&line, "%s: ", level == LOG_WARN ? "warning" : "debug");
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	buf_append_char(&line, '\n');
	size_t off = 0;
	while (off < line.len) {
		ssize_t n = write(STDERR_FILENO, line.data + off, line.len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf_release(&line);
}
