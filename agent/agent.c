/* The long-running agent. */
#include <stdio.h>

#include "agent.h"

int agent_main(int argc, char **argv)
{
	fprintf(stderr, "dnsredir-agent: run: not implemented yet\n");
	return 1;
}
