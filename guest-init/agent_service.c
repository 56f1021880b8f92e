/* Services (start/status/logs/stop_service). Being written. */
#include "agent.h"

void agent_services_shutdown(void)
{
}
