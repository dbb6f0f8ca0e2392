/* The long-running agent: watch Docker, keep labelled containers redirected. */
#ifndef DNSREDIR_AGENT_H
#define DNSREDIR_AGENT_H

/* argv[0] is the command name; returns the process exit status. */
int agent_main(int argc, char **argv);

#endif
