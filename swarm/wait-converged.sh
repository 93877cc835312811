#!/usr/bin/env bash
# Waits until every service of a Swarm stack runs its deployed definition: for each service, as
# many tasks in state "running" (after their health check passed) as it has replicas, each
# created from the service's current task template, and no update in progress. `make deploy` and
# `make update` run it after `docker stack deploy`, which returns as soon as Swarm has accepted
# the definition, before any task started.
#
# Exits 0 once converged. Exits 1 when the time is up, when a service's update paused or rolled
# back, or when tasks of the current definition failed MAX_FAILURES times since this script
# started (a task that cannot start is retried by Swarm forever); it then prints, for every
# service not converged, its tasks with their errors in full (`docker service ps --no-trunc`,
# each task's error and message) and the last lines of the service's log.
#
# Usage: swarm/wait-converged.sh STACK [TIMEOUT_SECONDS]   (default 300)
# Environment: DOCKER (default docker), MAX_FAILURES (default 3), POLL_SECONDS (default 2).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 STACK [TIMEOUT_SECONDS]" >&2
    exit 2
fi
stack=$1
timeout=${2:-300}
docker=${DOCKER:-docker}
max_failures=${MAX_FAILURES:-3}
poll=${POLL_SECONDS:-2}
start=$(date +%s)
deadline=$((start + timeout))

# What a task is made from: the parts of the task template a stack file sets, as JSON. (Not the
# whole template: the engine returns it with DNSConfig {} and Runtime "container" where a task's
# copy has neither.)
SPEC='{{json .ContainerSpec.Image}} {{json .ContainerSpec.Command}} {{json .ContainerSpec.Args}} {{json .ContainerSpec.Env}} {{json .ContainerSpec.User}} {{json .ContainerSpec.Mounts}} {{json .ContainerSpec.Secrets}} {{json .ContainerSpec.Configs}} {{json .ContainerSpec.Healthcheck}} {{json .Resources}} {{json .Placement}} {{json .Networks}} {{.ForceUpdate}}'
# One line per service: NAME REPLICAS UPDATE-STATE, then its task template's SPEC on the next.
# For each task: DESIRED STATE CREATED(unix) SPEC.
SERVICE_FORMAT='{{.Spec.Name}} {{if .Spec.Mode.Replicated}}{{.Spec.Mode.Replicated.Replicas}}{{else}}global{{end}} {{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}none{{end}}
{{with .Spec.TaskTemplate}}'$SPEC'{{end}}'
TASK_FORMAT='{{.DesiredState}} {{.Status.State}} {{.CreatedAt.Unix}} {{with .Spec}}'$SPEC'{{end}}'

# status SERVICE: sets CONVERGED (0/1), FAILED_REASON ('' or why it will not converge), SUMMARY.
status() {
    local svc=$1 info name want update template ids desired state created spec
    local running=0 failures=0 others=()
    info=$("$docker" service inspect --format "$SERVICE_FORMAT" "$svc")
    read -r name want update <<<"$(head -n1 <<<"$info")"
    template=$(tail -n +2 <<<"$info")
    mapfile -t ids < <("$docker" service ps -q --no-trunc "$svc")
    if [ ${#ids[@]} -gt 0 ]; then
        while read -r desired state created spec; do
            [ "$spec" = "$template" ] || continue # a task of an earlier definition
            if [ "$desired" = running ] && [ "$state" = running ]; then
                running=$((running + 1))
            elif [ "$state" = failed ] || [ "$state" = rejected ]; then
                [ "$created" -lt $((start - 5)) ] || failures=$((failures + 1))
            elif [ "$desired" = running ]; then
                others+=("$state")
            fi
        done < <("$docker" inspect --type task --format "$TASK_FORMAT" "${ids[@]}")
    fi
    [ "$want" != global ] || want=$((running + ${#others[@]}))
    SUMMARY="$name $running/$want"
    [ ${#others[@]} -eq 0 ] || SUMMARY+=" (${others[*]})"
    [ "$update" = none ] || [ "$update" = completed ] || SUMMARY+=" update:$update"
    [ "$failures" -eq 0 ] || SUMMARY+=" failed:$failures"
    CONVERGED=0
    FAILED_REASON=
    case "$update" in
        paused | rollback_started | rollback_paused | rollback_completed)
            FAILED_REASON="$name: update $update: $("$docker" service inspect --format '{{.UpdateStatus.Message}}' "$svc")"
            return
            ;;
    esac
    if [ "$running" -eq "$want" ] && [ ${#others[@]} -eq 0 ] && { [ "$update" = none ] || [ "$update" = completed ]; }; then
        CONVERGED=1
    elif [ "$failures" -ge "$max_failures" ]; then
        FAILED_REASON="$name: $failures tasks of the deployed definition failed"
    fi
}

report() { # SERVICE: its tasks, their errors in full, the end of its log
    local svc=$1 id
    echo "---- $svc: tasks (docker service ps --no-trunc $svc) ----" >&2
    "$docker" service ps --no-trunc "$svc" >&2 || true
    for id in $("$docker" service ps -q --no-trunc "$svc"); do
        "$docker" inspect --type task --format \
            '{{if .Status.Err}}task {{.ID}} ({{.Status.State}}, {{.Status.Timestamp}}): {{.Status.Err}}{{end}}' "$id" >&2 || true
    done | grep . >&2 || true
    echo "---- $svc: last log lines (docker service logs --tail 30 $svc) ----" >&2
    timeout 20 "$docker" service logs --no-trunc --tail 30 "$svc" >&2 2>&1 || true
}

last=
while :; do
    mapfile -t services < <("$docker" service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}}')
    if [ ${#services[@]} -eq 0 ]; then
        echo "wait-converged: the stack $stack has no services" >&2
        exit 1
    fi
    all=1 line='' failed=() pending=()
    for svc in "${services[@]}"; do
        status "$svc"
        line+="${line:+; }$SUMMARY"
        [ -z "$FAILED_REASON" ] || failed+=("$svc|$FAILED_REASON")
        [ "$CONVERGED" -eq 1 ] || { all=0; pending+=("$svc"); }
    done
    now=$(date +%s)
    if [ "$line" != "$last" ]; then
        echo "[$((now - start))s] $line"
        last=$line
    fi
    if [ "$all" -eq 1 ]; then
        echo "wait-converged: stack $stack converged in $((now - start)) s"
        exit 0
    fi
    if [ ${#failed[@]} -gt 0 ] || [ "$now" -ge "$deadline" ]; then
        for f in "${failed[@]}"; do echo "wait-converged: ${f#*|}" >&2; done
        [ ${#failed[@]} -gt 0 ] || echo "wait-converged: not converged after $timeout s" >&2
        for svc in "${pending[@]}"; do report "$svc"; done
        echo "wait-converged: stack $stack did NOT converge (see the errors above)" >&2
        exit 1
    fi
    sleep "$poll"
done
