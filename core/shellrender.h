/* "Plain" rendering of PTY shell output, and the idle-wait helper of
 * `workspace shell read --plain --wait-for-idle-ms N`.
 *
 * RENDERING turns what a terminal program wrote into chat-friendly text, with
 * exactly the semantics of the original's render_plain_shell_output():
 *
 *  - input bytes are decoded as UTF-8; every ill-formed part becomes one
 *    U+FFFD per maximal subpart, as Python's decode("utf-8", "replace") and
 *    its incremental decoder do (the original's guest decoded PTY output that
 *    way before the renderer saw it). A sequence cut at the end of the input
 *    becomes one U+FFFD; cut between two feeds it is completed by the next;
 *  - a line is a row of characters with a cursor. A printable character
 *    (TAB, or any code point >= U+0020 except U+007F, C1 controls included)
 *    overwrites the one under the cursor or is appended, and the cursor moves
 *    right; CR puts the cursor at column 0; BS deletes the character left of
 *    the cursor (the rest of the line shifts left) and does nothing at column
 *    0; LF ends the line; every other C0 control and DEL is dropped;
 *  - ESC starts a sequence that is consumed, never printed:
 *      ESC [ ... F   CSI: everything up to the first code point in
 *                    U+0040..U+007E (F). Only two are interpreted:
 *                    K (erase in line) with "" or "0": drop the line from the
 *                    cursor on; "1": blank the characters left of the cursor;
 *                    "2": clear the line, cursor to 0. J (erase in display)
 *                    with "2" or "3": drop every line rendered so far and
 *                    clear the current one. Any other parameter string
 *                    ("00", "?1", "1;2") or final byte does nothing, so
 *                    cursor moves (ESC[3D, ESC[H) are ignored;
 *      ESC ] / P / _ / ^   OSC, DCS, APC, PM: up to BEL or ESC \ ;
 *      ESC O x       SS3: three code points;
 *      ESC x         any other: two code points (x may be LF or ESC too);
 *    a sequence still open at the end of the input is dropped;
 *  - the result is the lines joined by "\n", with the current line added
 *    when it is non-empty or the input's last event was a LF (so "a\n"
 *    renders as "a\n" but "a\n\033[0m" as "a"). Trailing spaces are kept.
 *
 * The result is valid UTF-8 with no ESC, CR, NUL, DEL or other C0 control
 * except TAB and LF.
 *
 * Where the seed's code lost its indentation, these readings were chosen
 * (tests/unit/test_shellrender.c carries the reference script): BS at column
 * 0 is a no-op; only a printable character (not a dropped control) clears
 * the "ended with a newline" flag; ESC[2J/ESC[3J also clear the current line
 * and home the cursor; ESC[2K homes the cursor.
 *
 * Work is linear in the input (the line is a gap buffer at the cursor; ESC[1K
 * only blanks what is not blank yet); CSI parameters are not stored beyond
 * what K and J need, so a huge parameter string costs nothing. Memory is the
 * caller's output buffer plus at most 4 bytes per code point of the longest
 * line (x2 for growth); callers bound it by bounding their input.
 *
 * Ownership: `struct shell_render` borrows `out` for its whole life and
 * appends to it; the caller must not change `out` between init and finish.
 * The state owns its line buffer: finish and release free it. No globals. */
#ifndef PYRO_SHELLRENDER_H
#define PYRO_SHELLRENDER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct shell_render {
	struct buf *out;        /* borrowed; rendered text is appended here */
	size_t out_start;       /* out->len at init: ESC[2J truncates to it */
	uint32_t *line;         /* gap buffer of code points, gap at the cursor */
	size_t line_cap;        /* code points allocated */
	size_t gap_start;       /* = cursor = characters before the gap */
	size_t gap_end;         /* characters after the cursor: line_cap - gap_end */
	size_t blank;           /* line[0..blank) are known to be spaces */
	uint32_t utf8_cp;       /* UTF-8 decoder: code point so far */
	uint8_t utf8_need;      /* continuation bytes still expected */
	uint8_t utf8_lo, utf8_hi; /* range of the next continuation byte */
	uint8_t state;          /* escape-sequence parser state */
	uint8_t str_esc;        /* in OSC/DCS/APC/PM: last code point was ESC */
	uint8_t csi_len;        /* CSI parameter length, saturating at 2 */
	uint32_t csi_first;     /* first CSI parameter code point */
	int ended_with_newline;
	int failed_errno;       /* nonzero after a failure: every call fails */
};

/* Start rendering into `out` (appending after what it holds). Cannot fail. */
void shell_render_init(struct shell_render *r, struct buf *out);

/* Render the next chunk. Chunks may split UTF-8 characters and escape
 * sequences anywhere: feeding A then B gives what feeding A+B gives. Returns
 * 0, or -1 with `err` set (out of memory, or `out` would pass its max); after
 * a failure `out` is back at its length at init and every later call fails
 * the same way until shell_render_release. */
int shell_render_feed(struct shell_render *r, const void *data, size_t n,
		      struct pyro_err *err);

/* End of input: flush a cut UTF-8 character as U+FFFD, drop an open escape
 * sequence, append the last line by the rule above, and free the state's
 * memory. Returns 0 or -1 as feed does. Call shell_render_release after a
 * failure (harmless after success too). */
int shell_render_finish(struct shell_render *r, struct pyro_err *err);

/* Free the state's memory without finishing (output so far stays in `out`
 * unless a failure already removed it). Idempotent. */
void shell_render_release(struct shell_render *r);

/* One shot: append the rendering of data[0..n) to `out`. On failure `out` is
 * left as it was. */
int shell_render_plain(struct buf *out, const void *data, size_t n,
		       struct pyro_err *err);

/* ------------------------------------------------------------------------
 * IDLE WAITING: `--wait-for-idle-ms N` (MCP `wait_for_idle_ms`) makes a shell
 * read wait until the shell has produced no new output for N milliseconds,
 * so one read returns a whole burst (a command's output and the next prompt)
 * instead of whatever fraction had arrived. Absent (the default, like the
 * original's None) means no waiting; the documented recommendation is 300.
 *
 * The seeds give the parameter, its absent default and the recommended 300,
 * not the loop itself, so the bounds are pyro's: N is 1..SHELL_IDLE_MAX_MS,
 * and one read never waits longer than SHELL_IDLE_TOTAL_MAX_MS in total, so
 * a shell that never stops printing (`yes`) cannot hold a read forever.
 *
 * This is a pure state machine over caller-supplied monotonic milliseconds,
 * for an event loop: start it when the read begins, then call step whenever
 * something may have changed (new output arrived, the shell exited, a timer
 * fired) with the shell's output position (any counter that changes when
 * output is produced: total bytes, next cursor...). It says whether the read
 * is done and, if not, how long the caller may sleep before the answer can
 * change without new output. A caller that must poll the guest for output
 * should cap that sleep at its poll interval (SHELL_IDLE_POLL_MS). */

#define SHELL_IDLE_MAX_MS 10000u
#define SHELL_IDLE_TOTAL_MAX_MS 30000u
#define SHELL_IDLE_RECOMMENDED_MS 300u
#define SHELL_IDLE_POLL_MS 50u

enum shell_idle_verdict {
	SHELL_IDLE_WAIT,     /* not done: sleep at most *wait_ms, then step */
	SHELL_IDLE_QUIET,    /* no new output for idle_ms: read now */
	SHELL_IDLE_EXITED,   /* the shell is no longer running: read now */
	SHELL_IDLE_DEADLINE, /* SHELL_IDLE_TOTAL_MAX_MS passed: read now */
};

struct shell_idle {
	uint64_t idle_ms;
	uint64_t deadline;     /* start + SHELL_IDLE_TOTAL_MAX_MS */
	uint64_t last_change;  /* when the output position last moved */
	uint64_t position;     /* output position last seen */
};

/* Validate a user-supplied wait_for_idle_ms: 0 when 1 <= ms <=
 * SHELL_IDLE_MAX_MS, else -1 with a PYRO_EXIT_USAGE error naming the value. */
int shell_idle_check(long long ms, struct pyro_err *err);

/* Begin waiting at `now_ms` with the output position as it is now. idle_ms is
 * clamped into 1..SHELL_IDLE_MAX_MS (validate user input first). */
void shell_idle_start(struct shell_idle *w, uint64_t now_ms, uint64_t idle_ms,
		      uint64_t position);

/* Observe the shell at `now_ms`: its output position and whether it still
 * runs. Any change of position restarts the quiet window. Clocks that step
 * backwards are treated as no time passing. *wait_ms (may be NULL) gets the
 * delay until the verdict can change on its own (0 when done). */
enum shell_idle_verdict shell_idle_step(struct shell_idle *w, uint64_t now_ms,
					uint64_t position, int running,
					uint64_t *wait_ms);

#endif
