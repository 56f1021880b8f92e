/* Process exit codes used by every pyro applet. One place, so the CLI, the
 * MCP server and the docs agree. `pyro run` returns the guest command's own
 * status instead; these are what pyro itself reports. */
#ifndef PYRO_EXITCODES_H
#define PYRO_EXITCODES_H

enum pyro_exit {
	PYRO_EXIT_OK = 0,           /* success */
	PYRO_EXIT_FAILURE = 1,      /* the operation failed; stderr says why */
	PYRO_EXIT_USAGE = 2,        /* bad command line; stderr says what exists */
	PYRO_EXIT_TIMEOUT = 124,    /* a command ran past its timeout and was killed */
	PYRO_EXIT_INTERNAL = 125,   /* pyro itself could not do its job */
	PYRO_EXIT_NOEXEC = 126,     /* the command exists but cannot be executed */
	PYRO_EXIT_NOTFOUND = 127,   /* the command was not found */
};

#endif
