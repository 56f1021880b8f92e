/* mkinitramfs: drive core/initramfs.h from the command line, for the guest
 * tests (tests/guest/boot.sh). Not shipped.
 *
 *   mkinitramfs BINARY CACHE_DIR
 *
 * Builds (or reuses) the initramfs whose /init is BINARY under
 * CACHE_DIR/initramfs/ and prints "PATH built" or "PATH reused". */
#include <stdbool.h>
#include <stdio.h>

#include "../../core/exitcodes.h"
#include "../../core/initramfs.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mkinitramfs BINARY CACHE_DIR\n");
		return PYRO_EXIT_USAGE;
	}
	char path[4096];
	bool reused;
	struct pyro_err err = { 0 };
	if (initramfs_build(argv[1], argv[2], path, sizeof path, &reused, &err)) {
		fprintf(stderr, "mkinitramfs: %s\n", err.msg);
		return err.code ? err.code : PYRO_EXIT_FAILURE;
	}
	printf("%s %s\n", path, reused ? "reused" : "built");
	return 0;
}
