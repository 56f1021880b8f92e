/* core/vmux.c: the frame codec and the decoder's two modes, above all the
 * handshake-discard rule (docs/vmux.md): before its HELLO (guest) or the
 * ACK with its own nonce (host), a side drops everything, including
 * garbage, valid frames of an old session, a frame cut short, and ACKs
 * carrying another nonce. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "../../core/vmux.h"

static const uint8_t nonce_a[VMUX_NONCE] = "0123456789abcdef";
static const uint8_t nonce_b[VMUX_NONCE] = "fedcba9876543210";

/* Feed all of in, byte by byte when slow, and collect up to max frames'
 * types (and the last error). Returns the number of frames. */
static int decode_all(struct vmux_decoder *d, const struct buf *in, bool slow, uint8_t *types,
		      uint32_t *lens, int max, int *err)
{
	int n = 0;
	size_t off = 0;
	*err = 0;
	for (;;) {
		if (off < in->len) {
			size_t chunk = slow ? 1 : in->len - off;
			off += vmux_decoder_feed(d, in->data + off, chunk);
		}
		struct vmux_frame f;
		int rc;
		while ((rc = vmux_decoder_next(d, &f)) > 0) {
			if (n < max) {
				types[n] = f.type;
				lens[n] = f.len;
			}
			n++;
		}
		if (rc < 0) {
			*err = 1;
			return n;
		}
		if (off == in->len)
			return n;
	}
}

TEST(vmux_crc32_matches_the_ieee_check_value)
{
	CHECK(vmux_crc32(0, "123456789", 9) == 0xcbf43926u);
	CHECK(vmux_crc32(vmux_crc32(0, "1234", 4), "56789", 5) == 0xcbf43926u);
}

TEST(vmux_frames_round_trip_whole_and_byte_by_byte)
{
	struct buf in = BUF_INIT;
	uint8_t port[4], big[VMUX_MAX_PAYLOAD];
	vmux_put32(port, 5005);
	memset(big, 'x', sizeof big);
	CHECK(vmux_append_handshake(&in, VMUX_HELLO, nonce_a) == 0);
	CHECK(in.len == VMUX_PAD + VMUX_HEADER + VMUX_NONCE);
	CHECK(vmux_append(&in, VMUX_OPEN, 1, port, 4) == 0);
	CHECK(vmux_append(&in, VMUX_DATA, 1, big, sizeof big) == 0);
	CHECK(vmux_append(&in, VMUX_DATA, 1, big, sizeof big + 1) < 0); /* too long */
	CHECK(vmux_append(&in, VMUX_SHUT, 1, NULL, 0) == 0);
	CHECK(vmux_append(&in, VMUX_RESET, 1, "gone", 4) == 0);
	for (int slow = 0; slow < 2; slow++) {
		struct vmux_decoder *d = malloc(sizeof *d);
		CHECK(d);
		vmux_decoder_init(d, VMUX_HELLO, NULL);
		uint8_t types[8];
		uint32_t lens[8];
		int err;
		int n = decode_all(d, &in, slow, types, lens, 8, &err);
		uint64_t discarded = d->discarded;
		free(d);
		CHECK(!err && n == 5);
		CHECK(types[0] == VMUX_HELLO && types[1] == VMUX_OPEN && types[2] == VMUX_DATA);
		CHECK(lens[2] == VMUX_MAX_PAYLOAD && types[3] == VMUX_SHUT && types[4] == VMUX_RESET);
		CHECK(discarded == VMUX_PAD);
	}
	buf_release(&in);
}

TEST(vmux_guest_discards_garbage_and_stale_frames_before_hello)
{
	struct buf in = BUF_INIT;
	uint8_t port[4] = { 0, 0, 0x13, 0x8d };
	/* Stale bytes of an old session: garbage, a bare magic, whole valid
	 * frames (which a hunting guest must not act on), and a DATA frame
	 * cut short, its header announcing bytes that never come. */
	buf_append_str(&in, "garbage PYM PYMX\x01\x05 more garbage");
	vmux_append(&in, VMUX_OPEN, 9, port, 4);
	vmux_append(&in, VMUX_DATA, 9, "stale request", 13);
	struct buf cut = BUF_INIT;
	char payload[5000];
	memset(payload, 's', sizeof payload);
	vmux_append(&cut, VMUX_DATA, 9, payload, sizeof payload);
	buf_append(&in, cut.data, 100);
	size_t stale = in.len;
	CHECK(vmux_append_handshake(&in, VMUX_HELLO, nonce_a) == 0);
	vmux_append(&in, VMUX_OPEN, 1, port, 4);
	for (int slow = 0; slow < 2; slow++) {
		struct vmux_decoder *d = malloc(sizeof *d);
		CHECK(d);
		vmux_decoder_init(d, VMUX_HELLO, NULL);
		uint8_t types[4];
		uint32_t lens[4];
		int err;
		int n = decode_all(d, &in, slow, types, lens, 4, &err);
		uint64_t discarded = d->discarded;
		free(d);
		CHECK(!err && n == 2 && types[0] == VMUX_HELLO && types[1] == VMUX_OPEN);
		CHECK(discarded == stale + VMUX_PAD);
	}
	buf_release(&cut);
	buf_release(&in);
}

TEST(vmux_host_ignores_acks_with_another_nonce)
{
	struct buf in = BUF_INIT;
	vmux_append(&in, VMUX_DATA, 3, "old output", 10);
	CHECK(vmux_append_handshake(&in, VMUX_HELLO_ACK, nonce_b) == 0); /* an old session's */
	vmux_append(&in, VMUX_HELLO, 0, nonce_a, VMUX_NONCE); /* wrong type, right bytes */
	CHECK(vmux_append_handshake(&in, VMUX_HELLO_ACK, nonce_a) == 0);
	vmux_append(&in, VMUX_OPEN_OK, 1, NULL, 0);
	/* Whole, then byte by byte: the only ACK returned is nonce_a's (the
	 * decoder matches the nonce), and the frame after it follows. */
	for (int slow = 0; slow < 2; slow++) {
		struct vmux_decoder *d = malloc(sizeof *d);
		CHECK(d);
		vmux_decoder_init(d, VMUX_HELLO_ACK, nonce_a);
		uint8_t types[4];
		uint32_t lens[4];
		int err;
		int n = decode_all(d, &in, slow, types, lens, 4, &err);
		bool matched = !d->hunting && !memcmp(d->hunt_nonce, nonce_a, VMUX_NONCE);
		free(d);
		CHECK(!err && n == 2 && matched);
		CHECK(types[0] == VMUX_HELLO_ACK && types[1] == VMUX_OPEN_OK);
	}
	buf_release(&in);
}

TEST(vmux_sync_mode_errors_are_final_until_the_next_hunt)
{
	struct buf in = BUF_INIT;
	const char *whys[] = { "bad header checksum", "bad payload checksum", "payload too long",
			       "malformed frame", "bad magic" };
	for (int i = 0; i < 5; i++) {
		buf_reset(&in);
		vmux_append(&in, VMUX_HELLO, 0, nonce_a, VMUX_NONCE);
		size_t at = in.len;
		vmux_append(&in, VMUX_DATA, 1, "abc", 3);
		uint8_t *h = (uint8_t *)in.data + at;
		if (i == 0)
			h[8] ^= 1; /* stream id, under the header CRC */
		else if (i == 1)
			h[VMUX_HEADER] ^= 1;
		else if (i == 2 || i == 3) {
			/* A consistent header with a bad length or a bad type. */
			if (i == 2)
				vmux_put32(h + 12, VMUX_MAX_PAYLOAD + 1);
			else
				h[5] = VMUX_HELLO; /* HELLO on stream 1 */
			vmux_put32(h + 20, vmux_crc32(0, h, 20));
		} else
			h[0] = 'X';
		struct vmux_decoder *d = malloc(sizeof *d);
		CHECK(d);
		vmux_decoder_init(d, VMUX_HELLO, NULL);
		vmux_decoder_feed(d, in.data, in.len);
		struct vmux_frame f;
		int first = vmux_decoder_next(d, &f);
		int second = vmux_decoder_next(d, &f);
		const char *why = d->why;
		int third = vmux_decoder_next(d, &f);
		/* Hunting again finds the next HELLO past the broken frame. */
		vmux_decoder_hunt(d, VMUX_HELLO, NULL);
		vmux_decoder_feed(d, "junk", 4);
		struct buf hello = BUF_INIT;
		vmux_append_handshake(&hello, VMUX_HELLO, nonce_b);
		size_t fed = 0;
		int again = 0;
		while (fed < hello.len && again == 0) {
			fed += vmux_decoder_feed(d, hello.data + fed, hello.len - fed);
			again = vmux_decoder_next(d, &f);
		}
		bool got_b = again == 1 && f.type == VMUX_HELLO && !memcmp(f.payload, nonce_b, 16);
		buf_release(&hello);
		free(d);
		CHECK(first == 1 && second == -1 && third == -1);
		CHECK_STR(why, whys[i]);
		CHECK(got_b);
	}
	buf_release(&in);
}

TEST(vmux_frame_rules_per_type)
{
	struct vmux_frame f = { .type = VMUX_HELLO, .stream = 0, .len = VMUX_NONCE };
	CHECK(vmux_frame_check(&f) == 0);
	f.stream = 1;
	CHECK(vmux_frame_check(&f) < 0);
	f = (struct vmux_frame){ .type = VMUX_DATA, .stream = 1, .len = 0 };
	CHECK(vmux_frame_check(&f) < 0); /* empty DATA: SHUT says EOF */
	f = (struct vmux_frame){ .type = VMUX_WINDOW_UPD, .stream = 2, .len = 4 };
	CHECK(vmux_frame_check(&f) == 0);
	f = (struct vmux_frame){ .type = VMUX_RESET, .stream = 2, .len = VMUX_MAX_REASON + 1 };
	CHECK(vmux_frame_check(&f) < 0);
	f = (struct vmux_frame){ .type = 0, .stream = 2, .len = 0 };
	CHECK(vmux_frame_check(&f) < 0);
	f = (struct vmux_frame){ .type = VMUX_PONG + 1, .stream = 0, .len = 8 };
	CHECK(vmux_frame_check(&f) < 0);
}
