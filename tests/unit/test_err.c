#include <errno.h>
#include <string.h>

#include "../../core/err.h"
#include "../../core/exitcodes.h"
#include "test.h"

TEST(err_set_formats_and_returns_minus_one)
{
	struct pyro_err err;
	errno = EAGAIN;
	CHECK(pyro_err_set(&err, PYRO_EXIT_USAGE, "bad value '%s'", "x") == -1);
	CHECK(errno == EAGAIN); /* errno is preserved for the caller */
	CHECK(err.code == PYRO_EXIT_USAGE && err.sys_errno == 0);
	CHECK_STR(err.msg, "bad value 'x'");
	CHECK(pyro_err_set(NULL, 1, "ignored") == -1); /* NULL err is allowed */
}

TEST(err_sys_appends_strerror)
{
	struct pyro_err err;
	CHECK(pyro_err_sys(&err, ENOENT, "cannot open %s", "/x") == -1);
	CHECK_STR(err.msg, "cannot open /x: No such file or directory");
	CHECK(err.code == PYRO_EXIT_FAILURE && err.sys_errno == ENOENT);
}

TEST(err_wrap_prefixes_and_truncates_safely)
{
	struct pyro_err err;
	pyro_err_set(&err, PYRO_EXIT_FAILURE, "inner");
	pyro_err_wrap(&err, "reading %s", "manifest.json");
	CHECK_STR(err.msg, "reading manifest.json: inner");
	CHECK(err.code == PYRO_EXIT_FAILURE);

	char longtext[3000];
	memset(longtext, 'a', sizeof longtext - 1);
	longtext[sizeof longtext - 1] = '\0';
	pyro_err_set(&err, 1, "%s", longtext);
	CHECK(strlen(err.msg) == PYRO_ERR_MSG_MAX - 1);
	pyro_err_wrap(&err, "ctx");
	CHECK(strncmp(err.msg, "ctx: aaa", 8) == 0);
	CHECK(strlen(err.msg) == PYRO_ERR_MSG_MAX - 1);
	pyro_err_wrap(&err, "%s", longtext); /* a prefix longer than the buffer */
	CHECK(strlen(err.msg) == PYRO_ERR_MSG_MAX - 1);
	pyro_err_clear(&err);
	CHECK(err.msg[0] == '\0' && err.code == 0);
}
