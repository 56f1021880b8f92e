/* The unit-test harness: tiny assertions, tests registered by constructor so
 * each tests/unit/test_<module>.c stands alone, one runner (main.c) whose
 * last line is "N passed, N failed".
 *
 *   TEST(buf_grows) { struct buf b = BUF_INIT; CHECK(buf_append_str(&b, "x") == 0); ... }
 *
 * A failed CHECK prints file:line and the expression and ends that test;
 * the runner goes on with the next one. Tests must release what they
 * allocate (the sanitizer tier runs LeakSanitizer). */
#ifndef PYRO_TEST_H
#define PYRO_TEST_H

#include <string.h>

struct test_case {
	const char *name;
	const char *file;
	void (*fn)(void);
};

void test_register(const char *name, const char *file, void (*fn)(void));
void test_fail(const char *file, int line, const char *what);
int test_failed_now(void);

#define TEST(name)                                                          \
	static void test_##name(void);                                      \
	__attribute__((constructor)) static void test_register_##name(void) \
	{                                                                   \
		test_register(#name, __FILE__, test_##name);                \
	}                                                                   \
	static void test_##name(void)

#define CHECK(expr)                                               \
	do {                                                      \
		if (!(expr)) {                                    \
			test_fail(__FILE__, __LINE__, #expr);     \
			return;                                   \
		}                                                 \
	} while (0)

#define CHECK_STR(a, b)                                                     \
	do {                                                                \
		const char *check_a_ = (a), *check_b_ = (b);                \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_)) { \
			test_fail_str(__FILE__, __LINE__, #a, check_a_,     \
				      check_b_);                            \
			return;                                             \
		}                                                           \
	} while (0)

/* Substring check: the haystack contains the needle. */
#define CHECK_CONTAINS(hay, needle)                                          \
	do {                                                                 \
		const char *check_h_ = (hay), *check_n_ = (needle);          \
		if (!check_h_ || !strstr(check_h_, check_n_)) {              \
			test_fail_str(__FILE__, __LINE__, #hay " contains", \
				      check_h_, check_n_);                   \
			return;                                              \
		}                                                            \
	} while (0)

void test_fail_str(const char *file, int line, const char *what,
		   const char *got, const char *want);

/* A private temporary directory for this test, removed after it. */
const char *test_tmpdir(void);

#endif
