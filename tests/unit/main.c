/* Runner for the unit tests. Usage: pyro-unit [SUBSTRING...] runs the tests
 * whose name or file contains any SUBSTRING (all when none). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/fault.h"
#include "test.h"

#define MAX_TESTS 2048

static struct {
	struct test_case cases[MAX_TESTS];
	int count;
	int current_failed;
	char tmpdir[256];
} harness;

void test_register(const char *name, const char *file, void (*fn)(void))
{
	if (harness.count == MAX_TESTS) {
		fprintf(stderr, "too many tests: raise MAX_TESTS\n");
		exit(2);
	}
	harness.cases[harness.count++] = (struct test_case){ name, file, fn };
}

void test_fail(const char *file, int line, const char *what)
{
	harness.current_failed = 1;
	fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", file, line, what);
}

void test_fail_str(const char *file, int line, const char *what,
		   const char *got, const char *want)
{
	harness.current_failed = 1;
	fprintf(stderr, "    %s:%d: %s\n      got:  \"%s\"\n      want: \"%s\"\n",
		file, line, what, got ? got : "(null)", want ? want : "(null)");
}

int test_failed_now(void)
{
	return harness.current_failed;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

const char *test_tmpdir(void)
{
	if (!harness.tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(harness.tmpdir, sizeof harness.tmpdir,
			 "%s/pyro-unit-XXXXXX", base && *base ? base : "/tmp");
		if (!mkdtemp(harness.tmpdir)) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return harness.tmpdir;
}

static int selected(const struct test_case *t, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(t->name, argv[i]) || strstr(t->file, argv[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	for (int i = 0; i < harness.count; i++) {
		const struct test_case *t = &harness.cases[i];
		if (!selected(t, argc, argv))
			continue;
		harness.current_failed = 0;
		t->fn();
		fault_disarm_all();
		if (harness.tmpdir[0]) {
			nftw(harness.tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
			harness.tmpdir[0] = '\0';
		}
		if (harness.current_failed) {
			failed++;
			fprintf(stderr, "FAIL %s (%s)\n", t->name, t->file);
		} else {
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
