/* libFuzzer target for core/vmux.c (the vmux frame decoder).
 *
 * Input layout: byte 0 = flags (bit 0: hunt as the host, for HELLO_ACK with
 * the nonce "0123456789abcdef"; else as the guest, for HELLO; bit 1: after
 * a sync-mode error, hunt again and go on), byte 1 = k (mod 16), then k
 * chunk sizes (each byte + 1, used in turn), then the line's bytes.
 *
 * For every input:
 *  - feeding in the fuzzer's chunks and all at once gives the same
 *    transcript (frames, errors, bytes discarded);
 *  - every frame returned passes vmux_frame_check, has len at most
 *    VMUX_MAX_PAYLOAD and its payload inside the decoder's buffer; the
 *    first frame after a hunt is the hunted one (with the nonce);
 *  - every frame returned re-encodes to exactly the bytes it came from;
 *  - bytes in = bytes framed + bytes discarded + bytes still buffered. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "../../core/vmux.h"

static const uint8_t nonce[VMUX_NONCE] = "0123456789abcdef";

struct run {
	struct buf tx;
	uint64_t framed;
};

static void start_hunt(struct vmux_decoder *d, bool host, bool init)
{
	if (init)
		vmux_decoder_init(d, host ? VMUX_HELLO_ACK : VMUX_HELLO, host ? nonce : NULL);
	else
		vmux_decoder_hunt(d, host ? VMUX_HELLO_ACK : VMUX_HELLO, host ? nonce : NULL);
}

static void drain(struct vmux_decoder *d, struct run *run, bool host, bool rehunt, bool *dead)
{
	for (;;) {
		bool was_hunting = d->hunting;
		size_t at = d->start;
		struct vmux_frame f;
		int rc = vmux_decoder_next(d, &f);
		if (rc == 0)
			return;
		if (rc < 0) {
			FUZZ_ASSERT(!was_hunting && d->why);
			buf_printf(&run->tx, "E:%s\n", d->why);
			if (!rehunt) {
				*dead = true;
				return;
			}
			start_hunt(d, host, false);
			continue;
		}
		FUZZ_ASSERT(vmux_frame_check(&f) == 0 && f.len <= VMUX_MAX_PAYLOAD);
		FUZZ_ASSERT(f.payload >= d->buf && f.payload + f.len <= d->buf + sizeof d->buf);
		if (was_hunting) {
			FUZZ_ASSERT(f.type == (host ? VMUX_HELLO_ACK : VMUX_HELLO));
			if (host)
				FUZZ_ASSERT(!memcmp(f.payload, nonce, VMUX_NONCE));
		}
		/* The frame's own bytes end where the decoder now stands. */
		size_t flen = VMUX_HEADER + f.len;
		FUZZ_ASSERT(d->start >= flen && d->start - flen >= at);
		uint8_t hdr[VMUX_HEADER];
		vmux_put_header(hdr, f.type, f.stream, f.payload, f.len);
		FUZZ_ASSERT(!memcmp(hdr, d->buf + d->start - flen, VMUX_HEADER));
		run->framed += flen;
		buf_printf(&run->tx, "F:%u:%u:%u:%08x\n", f.type, f.stream, f.len,
			   vmux_crc32(0, f.payload, f.len));
	}
}

static void feed_all(struct run *run, const uint8_t *in, size_t len, const uint8_t *sizes,
		     size_t nsizes, bool host, bool rehunt)
{
	struct vmux_decoder *d = malloc(sizeof *d);
	FUZZ_ASSERT(d);
	start_hunt(d, host, true);
	size_t pos = 0, turn = 0;
	bool dead = false;
	while (pos < len && !dead) {
		size_t n = len - pos;
		if (nsizes && n > (size_t)sizes[turn % nsizes] + 1)
			n = (size_t)sizes[turn % nsizes] + 1;
		turn++;
		size_t took = vmux_decoder_feed(d, in + pos, n);
		pos += took;
		drain(d, run, host, rehunt, &dead);
		/* After draining, a buffer with no room would be a stall. */
		size_t room;
		vmux_decoder_space(d, &room);
		FUZZ_ASSERT(dead || room > 0);
	}
	if (!dead)
		FUZZ_ASSERT(run->framed + d->discarded + (d->end - d->start) == len);
	buf_printf(&run->tx, "D:%llu dead:%d\n", (unsigned long long)d->discarded, dead);
	free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	bool host = data[0] & 1, rehunt = data[0] & 2;
	size_t k = data[1] % 16;
	if (size < 2 + k)
		return 0;
	const uint8_t *sizes = data + 2, *in = data + 2 + k;
	size_t len = size - 2 - k;
	struct run whole = { .tx = BUF_INIT }, chunked = { .tx = BUF_INIT };
	feed_all(&whole, in, len, NULL, 0, host, rehunt);
	feed_all(&chunked, in, len, sizes, k, host, rehunt);
	if (whole.tx.len != chunked.tx.len || memcmp(whole.tx.data, chunked.tx.data, whole.tx.len)) {
		fprintf(stderr, "one-shot:\n%s\nchunked:\n%s\n", whole.tx.data, chunked.tx.data);
		abort();
	}
	buf_release(&whole.tx);
	buf_release(&chunked.tx);
	return 0;
}
