/* httpget: drive core/http.h from the command line, for the integration
 * tests (tests/integration/https.test). Not shipped.
 *
 *   httpget [-X METHOD] [-H 'Name: value']... [-d BODY] [--cacert FILE]
 *           [--no-redirects] [--max-redirects N] [--timeout-ms N] URL
 *
 * Prints "status N", "redirects N", one "Name: value" line per header, an
 * empty line, then the body. Errors go to stderr as "httpget: MESSAGE"
 * with the error's exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/exitcodes.h"
#include "../../core/http.h"

static int usage(void)
{
	fprintf(stderr, "usage: httpget [-X METHOD] [-H 'Name: value']... [-d BODY] [--cacert FILE]\n"
			"               [--no-redirects] [--max-redirects N] [--timeout-ms N] URL\n");
	return PYRO_EXIT_USAGE;
}

static int die(const struct pyro_err *err)
{
	fprintf(stderr, "httpget: %s\n", err->msg);
	return err->code ? err->code : PYRO_EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	const char *headers[65] = { NULL };
	size_t nh = 0;
	struct http_request req = { .method = "GET" };
	const char *cacert = NULL;
	struct http_client c;
	struct pyro_err err = { 0 };
	http_client_init(&c);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--no-redirects") == 0) {
			req.no_redirects = true;
		} else if (!v && a[0] == '-') {
			return usage();
		} else if (strcmp(a, "-X") == 0) {
			req.method = v, i++;
		} else if (strcmp(a, "-H") == 0) {
			if (nh == 64)
				return usage();
			headers[nh++] = v, i++;
		} else if (strcmp(a, "-d") == 0) {
			req.body = v, req.body_len = strlen(v), i++;
		} else if (strcmp(a, "--cacert") == 0) {
			cacert = v, i++;
		} else if (strcmp(a, "--max-redirects") == 0) {
			c.max_redirects = atoi(v), i++;
		} else if (strcmp(a, "--timeout-ms") == 0) {
			c.io_timeout_ms = atoi(v), i++;
		} else if (a[0] == '-' || req.url) {
			return usage();
		} else {
			req.url = a;
		}
	}
	if (!req.url)
		return usage();
	req.headers = headers;
	if (cacert && http_client_load_ca_file(&c, cacert, &err))
		return die(&err);
	struct http_response resp;
	if (http_open(&c, &req, &resp, &err)) {
		http_client_release(&c);
		return die(&err);
	}
	printf("status %d\nredirects %d\n", resp.status, resp.redirects);
	for (size_t i = 0; i < resp.header_count; i++)
		printf("%s: %s\n", resp.headers[i].name, resp.headers[i].value);
	printf("\n");
	fflush(stdout);
	char chunk[4096];
	long n;
	while ((n = http_read(&resp, chunk, sizeof chunk, &err)) > 0)
		fwrite(chunk, 1, (size_t)n, stdout);
	fflush(stdout);
	http_close(&resp);
	http_client_release(&c);
	return n < 0 ? die(&err) : 0;
}
