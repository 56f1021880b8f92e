/* Diagnostics to stderr, and only to stderr: stdout belongs to command
 * output and, under `pyro mcp serve`, to the JSON-RPC stream.
 *
 * Lines look like "pyro: warning: could not read /proc/sys/...: EACCES".
 * The level comes from PYRO_LOG (error, warn, info, debug; default warn) and
 * can be raised by a --verbose flag. The program name prefix is set once by
 * the applet's main (log_set_prog). */
#ifndef PYRO_LOG_H
#define PYRO_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_prog(const char *prog);
const char *log_prog(void);
void log_set_level(enum log_level level);
/* Read PYRO_LOG; an unknown value is reported once and ignored. */
void log_level_from_env(void);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
