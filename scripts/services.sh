#!/usr/bin/env bash
# Make sure the local services the hub and its tests use are up: RabbitMQ (127.0.0.1:5672)
# and PostgreSQL (127.0.0.1:5432). Starts whichever is installed here and down; waits for it.
# Usage: scripts/services.sh [rabbitmq] [postgres]   (both when no argument)
set -u
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(rabbitmq postgres)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # name port seconds
  for _ in $(seq "$3"); do port_open "$2" && return 0; sleep 1; done
  echo "services: $1 did not come up on 127.0.0.1:$2" >&2
  return 1
}

status=0
for service in "${wanted[@]}"; do
  case "$service" in
    rabbitmq)
      port_open 5672 && continue
      if command -v rabbitmq-server >/dev/null; then
        echo "services: starting RabbitMQ"
        rabbitmq-server -detached >/dev/null 2>&1
        command -v rabbitmqctl >/dev/null && timeout 120 rabbitmqctl await_startup >/dev/null 2>&1
        wait_port RabbitMQ 5672 60 || status=1
      else
        echo "services: RabbitMQ is not installed and nothing listens on 5672" >&2; status=1
      fi ;;
    postgres)
      port_open 5432 && continue
      if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        echo "services: starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
        wait_port PostgreSQL 5432 60 || status=1
      else
        echo "services: PostgreSQL is not installed and nothing listens on 5432" >&2; status=1
      fi ;;
    *) echo "services: unknown service $service" >&2; status=1 ;;
  esac
done
exit $status
