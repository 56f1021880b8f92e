/* PEM bundle -> owned br_x509_trust_anchor array (see tlsroots.h). */
#include "tlsroots.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl_pem.h>

#include "buf.h"
#include "exitcodes.h"
#include "fault.h"

struct sink {
	struct buf *b;
	bool failed;
};

static void sink_append(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;
	if (!s->failed && buf_append(s->b, data, len) < 0)
		s->failed = true;
}

static void *dup_bytes(const void *src, size_t n)
{
	void *p = pyro_malloc(n ? n : 1);
	if (p && n)
		memcpy(p, src, n);
	return p;
}

static void free_anchor(br_x509_trust_anchor *ta)
{
	free(ta->dn.data);
	if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
		free(ta->pkey.key.rsa.n);
		free(ta->pkey.key.rsa.e);
	} else if (ta->pkey.key_type == BR_KEYTYPE_EC) {
		free(ta->pkey.key.ec.q);
	}
}

void tlsroots_free(br_x509_trust_anchor *anchors, size_t count)
{
	for (size_t i = 0; anchors && i < count; i++)
		free_anchor(&anchors[i]);
	free(anchors);
}

/* Decode one DER certificate into *ta. Returns 1 when it is a usable CA,
 * 0 to skip it, -1 when out of memory. */
static int decode_cert(const struct buf *der, br_x509_trust_anchor *ta)
{
	struct buf dn = BUF_INIT;
	struct sink dn_sink = { &dn, false };
	br_x509_decoder_context dc;
	br_x509_decoder_init(&dc, sink_append, &dn_sink);
	br_x509_decoder_push(&dc, der->data, der->len);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
	int rc = 0;
	if (dn_sink.failed) {
		rc = -1;
		goto out;
	}
	if (!pk || br_x509_decoder_last_error(&dc) != 0 || !br_x509_decoder_isCA(&dc))
		goto out;
	memset(ta, 0, sizeof *ta);
	ta->flags = BR_X509_TA_CA;
	ta->dn.len = dn.len;
	ta->dn.data = dup_bytes(dn.data, dn.len);
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		const br_rsa_public_key *k = &pk->key.rsa;
		ta->pkey.key.rsa.n = dup_bytes(k->n, k->nlen);
		ta->pkey.key.rsa.nlen = k->nlen;
		ta->pkey.key.rsa.e = dup_bytes(k->e, k->elen);
		ta->pkey.key.rsa.elen = k->elen;
		rc = ta->dn.data && ta->pkey.key.rsa.n && ta->pkey.key.rsa.e ? 1 : -1;
	} else if (pk->key_type == BR_KEYTYPE_EC) {
		const br_ec_public_key *k = &pk->key.ec;
		ta->pkey.key.ec.curve = k->curve;
		ta->pkey.key.ec.q = dup_bytes(k->q, k->qlen);
		ta->pkey.key.ec.qlen = k->qlen;
		rc = ta->dn.data && ta->pkey.key.ec.q ? 1 : -1;
	}
	if (rc != 1)
		free_anchor(ta);
out:
	buf_release(&dn);
	return rc;
}

static bool is_cert_name(const char *name)
{
	return strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0;
}

int tlsroots_decode(const char *pem, size_t len, const char *name,
		    br_x509_trust_anchor **out, size_t *count, struct pyro_err *err)
{
	br_x509_trust_anchor *list = NULL;
	size_t n = 0, cap = 0, seen = 0;
	struct buf der = BUF_INIT;
	struct sink der_sink = { &der, false };
	bool in_cert = false, oom = false;
	br_pem_decoder_context pc;
	br_pem_decoder_init(&pc);
	/* The trailing newline completes an END line that lacks one. */
	for (int pass = 0; pass < 2 && !oom; pass++) {
		const char *p = pass ? "\n" : pem;
		size_t left = pass ? 1 : len;
		while (left > 0 && !oom) {
			size_t used = br_pem_decoder_push(&pc, p, left);
			p += used;
			left -= used;
			int ev = br_pem_decoder_event(&pc);
			if (ev == BR_PEM_BEGIN_OBJ) {
				in_cert = is_cert_name(br_pem_decoder_name(&pc));
				buf_reset(&der);
				der_sink.failed = false;
				br_pem_decoder_setdest(&pc, in_cert ? sink_append : NULL, &der_sink);
			} else if (ev == BR_PEM_END_OBJ && in_cert) {
				in_cert = false;
				seen++;
				if (der_sink.failed) {
					oom = true;
					break;
				}
				if (n == cap) {
					size_t ncap = cap ? cap * 2 : 64;
					void *grown = pyro_realloc(list, ncap * sizeof *list);
					if (!grown) {
						oom = true;
						break;
					}
					list = grown;
					cap = ncap;
				}
				int rc = decode_cert(&der, &list[n]);
				if (rc < 0)
					oom = true;
				else
					n += (size_t)rc;
			} else if (ev == BR_PEM_ERROR) {
				/* A broken entry: keep what came before it. */
				left = 0;
				pass = 2;
			}
		}
	}
	buf_release(&der);
	if (oom) {
		tlsroots_free(list, n);
		return pyro_err_set(err, PYRO_EXIT_INTERNAL, "out of memory decoding CA bundle %s", name);
	}
	if (n == 0) {
		free(list);
		return pyro_err_set(err, PYRO_EXIT_FAILURE,
				    "CA bundle %s holds no usable CA certificate (%zu PEM certificates found); "
				    "point PYRO_CA_BUNDLE at a PEM file of CA certificates", name, seen);
	}
	*out = list;
	*count = n;
	return 0;
}

int tlsroots_load(const char *path, br_x509_trust_anchor **out, size_t *count,
		  struct pyro_err *err)
{
	struct buf text = BUF_INIT;
	buf_init(&text, TLSROOTS_FILE_MAX);
	if (buf_read_file(&text, path) < 0) {
		int e = errno;
		buf_release(&text);
		return pyro_err_sys(err, e, "cannot read CA bundle %s", path);
	}
	int rc = tlsroots_decode(text.data, text.len, path, out, count, err);
	buf_release(&text);
	return rc;
}
