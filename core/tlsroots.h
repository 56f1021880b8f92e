/* Trust anchors for BearSSL, decoded from a PEM bundle (the format of
 * /etc/ssl/certs/ca-certificates.crt).
 *
 * Every CERTIFICATE object that decodes and is a CA (basicConstraints
 * CA:TRUE) becomes one anchor; others are skipped, as is the rest of the
 * file after a PEM syntax error. The anchors own their DN and key bytes
 * (BearSSL's decoder only lends them), so the file and its contents can go
 * once tlsroots_load returns; tlsroots_free releases them all.
 */
#ifndef PYRO_TLSROOTS_H
#define PYRO_TLSROOTS_H

#include <stddef.h>

#include <bearssl_x509.h>

#include "err.h"

/* The largest bundle read (Debian's is about 200 KiB). */
#define TLSROOTS_FILE_MAX (16u * 1024 * 1024)

/* Decode PEM text into a new array of anchors (*out, *count). Fails when
 * nothing usable is in it; `name` is the file for the message. */
int tlsroots_decode(const char *pem, size_t len, const char *name,
		    br_x509_trust_anchor **out, size_t *count, struct pyro_err *err);

/* Read and decode a PEM file. */
int tlsroots_load(const char *path, br_x509_trust_anchor **out, size_t *count,
		  struct pyro_err *err);

void tlsroots_free(br_x509_trust_anchor *anchors, size_t count);

#endif
