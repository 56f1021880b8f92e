/* PTY shells (open/read/write/signal/close_shell). Being written. */
#include "agent.h"

void agent_shells_shutdown(void)
{
}
