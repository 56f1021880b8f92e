/* Tests for core/randid.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/fault.h"
#include "../../core/randid.h"
#include "test.h"

TEST(randid_format)
{
	for (int i = 0; i < 200; i++) {
		char id[RANDID_SIZE];
		memset(id, 'X', sizeof id);
		CHECK(randid_generate(id, NULL) == 0);
		CHECK(strlen(id) == RANDID_LEN);
		CHECK(strspn(id, "0123456789abcdef") == RANDID_LEN);
		CHECK(randid_valid(id));
	}
}

static int cmp_ids(const void *a, const void *b)
{
	return memcmp(a, b, RANDID_SIZE);
}

TEST(randid_no_duplicates_in_10000)
{
	enum { N = 10000 };
	char (*ids)[RANDID_SIZE] = malloc(sizeof *ids * N);
	CHECK(ids != NULL);
	int ok = 1;
	for (int i = 0; i < N && ok; i++)
		ok = randid_generate(ids[i], NULL) == 0;
	qsort(ids, N, sizeof *ids, cmp_ids);
	int dups = 0;
	for (int i = 1; i < N; i++)
		dups += memcmp(ids[i - 1], ids[i], RANDID_SIZE) == 0;
	/* Every hex digit shows up in every position over 10000 draws. */
	unsigned seen[RANDID_LEN] = { 0 };
	for (int i = 0; i < N; i++)
		for (int j = 0; j < RANDID_LEN; j++) {
			char c = ids[i][j];
			seen[j] |= 1u << (c <= '9' ? c - '0' : c - 'a' + 10);
		}
	free(ids);
	CHECK(ok);
	CHECK(dups == 0);
	for (int j = 0; j < RANDID_LEN; j++)
		CHECK(seen[j] == 0xffff);
}

TEST(randid_validator)
{
	CHECK(randid_valid("0123456789ab"));
	CHECK(randid_valid("cdefcdef0000"));
	CHECK(!randid_valid(NULL));
	CHECK(!randid_valid(""));
	CHECK(!randid_valid("0123456789a"));     /* 11 */
	CHECK(!randid_valid("0123456789abc"));   /* 13 */
	CHECK(!randid_valid("0123456789AB"));    /* uppercase */
	CHECK(!randid_valid("0123456789ag"));    /* non-hex */
	CHECK(!randid_valid("0123456789a "));
	CHECK(!randid_valid(" 0123456789a"));
	CHECK(!randid_valid("0123456789a\n"));
	CHECK(!randid_valid("../../etc/xx"));
	CHECK(!randid_valid("0x23456789ab"));
	CHECK(!randid_valid("0123456789ab\n"));
}

TEST(randid_bytes_fill_and_fallback)
{
	unsigned char a[64], b[64];
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	CHECK(randid_bytes(a, sizeof a, NULL) == 0);
	CHECK(randid_bytes_urandom(b, sizeof b, NULL) == 0);
	CHECK(memcmp(a, b, sizeof a) != 0);
	static const unsigned char zero[64];
	CHECK(memcmp(a, zero, sizeof a) != 0);
	CHECK(memcmp(b, zero, sizeof b) != 0);
	CHECK(randid_bytes(a, 0, NULL) == 0);
	/* A large request exercises getrandom's short reads (it returns at most
	 * 32 MiB - 1 per call; smaller sizes may still be split by signals). */
	size_t big = 1 << 20;
	unsigned char *p = malloc(big);
	CHECK(p != NULL);
	memset(p, 0, big);
	int rc = randid_bytes(p, big, NULL);
	size_t zeros = 0;
	for (size_t i = big - 4096; i < big; i++)
		zeros += p[i] == 0;
	free(p);
	CHECK(rc == 0);
	CHECK(zeros < 64);
}

TEST(randid_urandom_read_failure)
{
	unsigned char b[16];
	struct pyro_err err = { 0 };
	fault_arm(FAULT_READ, 1, EIO);
	CHECK(randid_bytes_urandom(b, sizeof b, &err) == -1);
	CHECK(err.code == PYRO_EXIT_INTERNAL);
	CHECK(err.sys_errno == EIO);
	CHECK_CONTAINS(err.msg, "cannot read 16 random bytes from /dev/urandom");
	/* EINTR is retried, not reported. */
	fault_arm(FAULT_READ, 1, EINTR);
	CHECK(randid_bytes_urandom(b, sizeof b, &err) == 0);
}
