/* Logging goes to stderr only, one whole line per message, filtered by
 * level; PYRO_LOG sets the level and a bad value is reported, not fatal. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../core/buf.h"
#include "../../core/log.h"
#include "test.h"

/* Run fn with stderr redirected to a file; return what it wrote. */
static void capture_stderr(void (*fn)(void), struct buf *out)
{
	char path[512];
	snprintf(path, sizeof path, "%s/stderr", test_tmpdir());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int saved = dup(2);
	fflush(stderr);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	buf_read_file(out, path);
}

static void log_all_levels(void)
{
	log_error("e %d", 1);
	log_warn("w %s", "two");
	log_info("i");
	log_debug("d");
}

TEST(log_filters_by_level_and_prefixes_lines)
{
	enum log_level old = log_get_level();
	log_set_prog("pyro-test");
	struct buf out = BUF_INIT;
	log_set_level(LOG_WARN);
	capture_stderr(log_all_levels, &out);
	CHECK_STR(out.data, "pyro-test: e 1\npyro-test: warning: w two\n");
	buf_reset(&out);
	log_set_level(LOG_DEBUG);
	capture_stderr(log_all_levels, &out);
	CHECK_STR(out.data, "pyro-test: e 1\npyro-test: warning: w two\npyro-test: i\n"
			    "pyro-test: debug: d\n");
	buf_reset(&out);
	log_set_level(LOG_ERROR);
	capture_stderr(log_all_levels, &out);
	CHECK_STR(out.data, "pyro-test: e 1\n");
	buf_release(&out);
	log_set_level(old);
	log_set_prog(NULL);
	CHECK_STR(log_prog(), "pyro");
}

static void read_env(void)
{
	log_level_from_env();
}

TEST(log_level_comes_from_pyro_log)
{
	enum log_level old = log_get_level();
	struct buf out = BUF_INIT;
	log_set_level(LOG_WARN);
	setenv("PYRO_LOG", "debug", 1);
	capture_stderr(read_env, &out);
	CHECK(log_get_level() == LOG_DEBUG);
	CHECK(out.len == 0);
	setenv("PYRO_LOG", "loud", 1);
	capture_stderr(read_env, &out);
	CHECK(log_get_level() == LOG_DEBUG); /* unchanged */
	CHECK_CONTAINS(out.data, "ignoring PYRO_LOG=loud: expected error, warn, info or debug");
	unsetenv("PYRO_LOG");
	log_set_level(old);
	buf_release(&out);
}

static void long_line(void)
{
	char big[10000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_error("%s", big);
}

TEST(log_writes_long_messages_whole)
{
	struct buf out = BUF_INIT;
	capture_stderr(long_line, &out);
	CHECK(out.len == strlen("pyro: ") + 9999 + 1);
	CHECK(out.data[out.len - 1] == '\n');
	buf_release(&out);
}
