/* libFuzzer target for core/tarsafe.c: the member-name and symlink-target
 * rules on arbitrary bytes.
 *
 * Input: NAME NUL TARGET (no NUL: all of it is the name, the target is "").
 * Properties:
 *  - an error has a message and code PYRO_EXIT_FAILURE, and the output
 *    buffer holds "";
 *  - an accepted name is non-empty, relative, has no empty, "." or ".."
 *    component, and fits the buffer; when the name has no whitespace and no
 *    byte >= 0x80, it equals a plain split-and-join of the input;
 *  - an accepted symlink target, AS STORED (unstripped), does not start
 *    with "/" and has no ".." component: it cannot leave the link's
 *    directory;
 *  - tarsafe_show never writes a control byte and always terminates. */
#include "fuzz.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/tarsafe.h"

static int has_dotdot_component(const char *s)
{
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += n;
		p += *p == '/';
	}
	return 0;
}

static void check_normalized(const char *out, size_t cap)
{
	size_t len = strlen(out);
	FUZZ_ASSERT(len > 0 && len < cap);
	FUZZ_ASSERT(out[0] != '/' && out[len - 1] != '/');
	FUZZ_ASSERT(!strstr(out, "//"));
	for (const char *p = out; *p;) {
		size_t n = strcspn(p, "/");
		FUZZ_ASSERT(n > 0);
		FUZZ_ASSERT(!(n == 1 && p[0] == '.'));
		FUZZ_ASSERT(!(n == 2 && p[0] == '.' && p[1] == '.'));
		p += n;
		p += *p == '/';
	}
}

/* The rule for plain ASCII without whitespace: drop "" and "." components. */
static int simple_case(const char *name, char *ref, size_t cap)
{
	size_t o = 0;
	for (const unsigned char *u = (const unsigned char *)name; *u; u++)
		if (*u >= 0x80 || *u <= 0x20 || *u == 0x7F)
			return 0;
	if (name[0] == '/')
		return 0;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if (n && !(n == 1 && p[0] == '.')) {
			if (n == 2 && p[0] == '.' && p[1] == '.')
				return 0;
			if (o + n + 2 > cap)
				return 0;
			if (o)
				ref[o++] = '/';
			memcpy(ref + o, p, n);
			o += n;
		}
		p += n;
		p += *p == '/';
	}
	ref[o] = '\0';
	return o > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 9000)
		return 0;
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	const char *name = in;
	size_t nlen = strlen(in);
	const char *target = nlen < size ? in + nlen + 1 : "";

	/* A small buffer now and then, to exercise the length limit. */
	size_t cap = (size && data[0] == 'S') ? 16 : 4096;
	char out[4096], ref[4096];
	struct pyro_err err = { 0 };
	if (tarsafe_member_name(name, out, cap, &err) == 0) {
		check_normalized(out, cap);
		if (simple_case(name, ref, sizeof ref))
			FUZZ_ASSERT(strcmp(out, ref) == 0);
		err.msg[0] = '\0';
		if (tarsafe_symlink_target(out, target, &err) == 0) {
			FUZZ_ASSERT(target[0] != '/');
			FUZZ_ASSERT(!has_dotdot_component(target));
		} else {
			FUZZ_ASSERT(err.msg[0] && err.code == PYRO_EXIT_FAILURE);
		}
	} else {
		FUZZ_ASSERT(out[0] == '\0');
		FUZZ_ASSERT(err.msg[0] && err.code == PYRO_EXIT_FAILURE);
		FUZZ_ASSERT(strlen(err.msg) < sizeof err.msg);
	}

	char shown[TARSAFE_SHOW_SIZE];
	size_t scap = size ? 1 + data[size - 1] % sizeof shown : sizeof shown;
	memset(shown, 'Z', sizeof shown);
	tarsafe_show(shown, scap, name);
	FUZZ_ASSERT(memchr(shown, '\0', scap) != NULL);
	for (const unsigned char *u = (const unsigned char *)shown; *u; u++)
		FUZZ_ASSERT(*u >= 0x20 && *u != 0x7F);
	free(in);
	return 0;
}
