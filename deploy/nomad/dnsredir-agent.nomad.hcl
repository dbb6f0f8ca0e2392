# dnsredir-agent on every client node of a Nomad cluster: a system job runs one
# copy per node, and a new node gets one as it joins.
#
# Constraints, stated honestly:
# - the agent works on the node's local Docker only: the Nomad client must use
#   the docker driver, with `allow_privileged = true` and `pid_mode` allowed in
#   its plugin config (the job needs host PID and the Docker socket);
# - the image must be in a registry the nodes can pull from (or loaded on each);
# - kernels >= 5.10, containers on user-defined networks, IPv4 servers.
job "dnsredir-agent" {
  type = "system"

  group "agent" {
    restart {
      attempts = 10
      interval = "5m"
      delay    = "5s"
      mode     = "delay"
    }

    task "dnsredir-agent" {
      driver = "docker"

      config {
        image      = "dnsredir-agent:latest"
        args       = ["run", "--log-target", "console"]
        pid_mode   = "host"
        privileged = true
        volumes    = ["/var/run/docker.sock:/var/run/docker.sock"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
