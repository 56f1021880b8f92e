/* sha256 over BearSSL, hex formatting, digest strings. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bearssl_hash.h>

#include "digest.h"
#include "exitcodes.h"

_Static_assert(sizeof(br_sha256_context) <= sizeof(((struct digest_sha256 *)0)->state),
	       "digest_sha256.state is too small for br_sha256_context");

static br_sha256_context *ctx_of(struct digest_sha256 *d)
{
	return (br_sha256_context *)(void *)d->state;
}

void digest_sha256_init(struct digest_sha256 *d)
{
	memset(d, 0, sizeof *d);
	br_sha256_init(ctx_of(d));
}

void digest_sha256_update(struct digest_sha256 *d, const void *data, size_t len)
{
	if (len == 0)
		return;
	br_sha256_update(ctx_of(d), data, len);
	d->bytes += len;
}

void digest_sha256_hex(const struct digest_sha256 *d, char hex[DIGEST_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[br_sha256_SIZE];
	/* br_sha256_out does not modify the context, but takes it non-const. */
	br_sha256_out((const br_sha256_context *)(const void *)d->state, raw);
	for (size_t i = 0; i < sizeof raw; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[DIGEST_HEX_LEN] = '\0';
}

int digest_file_sha256(int dirfd, const char *name, char hex[DIGEST_HEX_LEN + 1],
		       uint64_t *size_out, struct pyro_err *err)
{
	/* O_NONBLOCK: a FIFO in its place must not block the open. */
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return pyro_err_sys(err, errno, "cannot open %s", name);
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return pyro_err_sys(err, e, "cannot stat %s", name);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return pyro_err_set(err, PYRO_EXIT_FAILURE, "%s is not a regular file", name);
	}
	struct digest_sha256 d;
	digest_sha256_init(&d);
	unsigned char chunk[32768];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return pyro_err_sys(err, e, "cannot read %s", name);
		}
		if (n == 0)
			break;
		digest_sha256_update(&d, chunk, (size_t)n);
	}
	close(fd);
	digest_sha256_hex(&d, hex);
	if (size_out)
		*size_out = d.bytes;
	return 0;
}

bool digest_hex_valid(const char *s)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == DIGEST_HEX_LEN;
}

int digest_oci_parse(const char *s, char hex_out[DIGEST_HEX_LEN + 1], struct pyro_err *err)
{
	const char *colon = strchr(s, ':');
	if (!colon)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "digest '%.80s' has no algorithm (expected sha256:<64 hex>)", s);
	if ((size_t)(colon - s) != 6 || strncmp(s, "sha256", 6) != 0)
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "digest '%.80s' uses an unsupported algorithm (pyro verifies "
				    "sha256 only)", s);
	if (!digest_hex_valid(colon + 1))
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "digest '%.80s' is malformed (expected sha256:<64 lowercase hex>)", s);
	if (hex_out)
		memcpy(hex_out, colon + 1, DIGEST_HEX_LEN + 1);
	return 0;
}
