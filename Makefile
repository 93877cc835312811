# Developer targets (all, test, unit-test, demo, bench, format) first; then the operator targets
# (image, Swarm stack, backups through docker exec), listed by `make help-ops`.
SHELL := /bin/bash
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
RELEASE_DIR ?= build-release
TIDY_DIR ?= build-tidy
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps test unit-test release-build demo bench format format-check shellcheck tidy \
	clean-build container-test swarm-test systemd-test pg-matrix-test

# -Werror is for development and CI only (PGTIER_WERROR is off for a plain cmake configure).
CONFIGURE = cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGTIER_WERROR=ON $(CMAKE_FLAGS) >/dev/null

all: deps
	$(CONFIGURE)
	cmake --build $(BUILD_DIR) -j $(JOBS)

deps:
	@scripts/install-deps

# Everything CI runs: format, shellcheck and clang-tidy checks, the Release build (-O3 warns where
# -O2 does not), then unit and integration tests under ASan+UBSan.
test: deps format-check shellcheck tidy release-build
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DPGTIER_SANITIZE=ON -DPGTIER_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ctest --output-on-failure --no-tests=error -j 2

# The binary as a packager builds it (Release), with warnings as errors so CI sees them first.
release-build: deps
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release -DPGTIER_WERROR=ON -DPGTIER_BUILD_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(RELEASE_DIR) -j $(JOBS)

# The deployment, proven with real containers (podman; CI runs it after `test`): the static checks
# of the stack file, systemd units and operator targets, then tests/container/run.sh.
container-test: deps release-build
	@scripts/install-deps --container
	PGTIER=$(CURDIR)/$(RELEASE_DIR)/pgtier tests/deploy/check_deploy_files.sh
	tests/container/run.sh

# The README's Docker Swarm operator path on a real single-node Swarm (Debian's docker.io; CI
# runs it after container-test): tests/swarm/run.sh.
swarm-test: deps
	@scripts/install-deps --swarm
	tests/swarm/run.sh

# The units in systemd/ under a real systemd as PID 1 (podman; CI runs it after container-test):
# tests/systemd/run.sh installs this build's pgtier by the README's commands in a bookworm container.
systemd-test: deps release-build
	@scripts/install-deps --container
	PGTIER=$(CURDIR)/$(RELEASE_DIR)/pgtier tests/systemd/run.sh

# PostgreSQL 15, 17 and 18 (CI runs it last): tests/pgversions/run.sh builds pgtier from this tree in
# trixie and sid containers (podman; Debian's packages cached as images) and runs the integration
# tests that matter across majors in each, plus the upgrade paths; 15 is this host's build.
pg-matrix-test: deps release-build
	@scripts/install-deps --container
	PGTIER=$(CURDIR)/$(RELEASE_DIR)/pgtier tests/pgversions/run.sh

unit-test: all
	cd $(BUILD_DIR) && ctest --output-on-failure --no-tests=error -LE integration -j $(JOBS)

demo: all
	scripts/demo.sh $(BUILD_DIR)/pgtier

bench: all
	bench/bench.sh $(BUILD_DIR)/pgtier

FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp' 2>/dev/null)

format:
	clang-format -i $(FORMAT_FILES)

format-check: deps
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: ok"

# clang-tidy over src/ (checks and why: .clang-tidy), with the compile_commands.json of a
# configuration of its own, never built: file by file (no unity build, whose batches clang-tidy
# would check in place of the files). Any finding fails. About 3 min on 2 cores; `test` runs it.
tidy: deps
	cmake -S . -B $(TIDY_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGTIER_WERROR=ON -DPGTIER_UNITY_BUILD=OFF $(CMAKE_FLAGS) >/dev/null
	@run-clang-tidy -quiet -p $(TIDY_DIR) -j $(JOBS) '^$(CURDIR)/src/' \
		> $(TIDY_DIR)/tidy.log 2>&1 || { grep -E 'warning:|error:' -A3 $(TIDY_DIR)/tidy.log; \
		echo "tidy: findings (full output: $(TIDY_DIR)/tidy.log)"; exit 1; }
	@echo "tidy: ok"

# Every tracked shell script, sourced helpers followed (-x); settings and exceptions: .shellcheckrc.
SHELL_FILES = $(shell git ls-files '*.sh' 2>/dev/null) scripts/install-deps scripts/demo.sh .ci/run

shellcheck: deps
	@shellcheck -x $(sort $(SHELL_FILES)) && echo "shellcheck: ok"

clean-build:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(RELEASE_DIR) $(TIDY_DIR)

# ---------------------------------------------------------------------------------------------
# Operator targets: the image, the Swarm stack (swarm/), and backups inside the running container.
# Run them on a Swarm manager; the backup-* and shell targets on the node that runs pgtier (the
# one labelled database=true). `make -n TARGET` shows the command without running it.
# The deployment's variables (STACK, BACKUP_DIR, TZ, POSTGRES_IMAGE, POSTGRES_PASSWORD_SECRET,
# REGISTRY, STACK_FILE) are in swarm/deploy.env (DEPLOY_ENV=FILE for another); one given on the
# command line wins for that command.
#   make build [DOCKER=podman] [PG_IMAGE=postgres:18-bookworm]      image $(IMAGE):$(VERSION)
#   make push REGISTRY=registry.example.com:5000                   tag and push it there
#   make deploy | update [DEPLOY_TIMEOUT=300]                      deploy, wait until converged
#   make remove | ps | logs | shell | stack-config
#   make backup-full | backup-diff | backup-incr [ARGS=--force]
#   make backup-list | backup-verify [ARGS='ARCHIVE…'] | backup-status | backup-health
#   make backup-restore ARGS='restore-database latest-full mydb'   (see docker/backup-restore.sh)
#   make clean                                                     build directories and the image
# ---------------------------------------------------------------------------------------------
DOCKER ?= docker
IMAGE ?= pgtier
VERSION := $(shell cat VERSION)
DEPLOY_ENV ?= swarm/deploy.env
# The file sets TZ for the stack only: every other recipe (the tests) keeps the environment's TZ.
ifeq ($(origin TZ),environment)
HOST_TZ := $(TZ)
endif
include $(DEPLOY_ENV)
DEPLOY_TZ := $(TZ)
ifdef HOST_TZ
TZ := $(HOST_TZ)
endif
REGISTRY ?=
STACK ?= pgtier
STACK_FILE ?= swarm/docker-compose.swarm.yml
BACKUP_DIR ?= /srv/pgtier/backups
POSTGRES_IMAGE ?=
POSTGRES_PASSWORD_SECRET ?= postgres_password
# Base of both of the image's stages (docker/Dockerfile's PG_IMAGE); empty = the Dockerfile's
# default. It follows the server's image: pg_dump matches the server.
PG_IMAGE ?= $(POSTGRES_IMAGE)
# How long deploy and update wait for the services to converge (swarm/wait-converged.sh).
DEPLOY_TIMEOUT ?= 300
ARGS ?=

LOCAL_IMAGE = $(IMAGE):$(VERSION)
PGTIER_IMAGE ?= $(if $(REGISTRY),$(REGISTRY)/)$(LOCAL_IMAGE)
# Swarm configs are immutable: the stack names them after the files' sha256 (see the stack file).
PGTIER_CONF_DIGEST = $(shell sha256sum swarm/pgtier.toml | cut -c1-12)
POSTGRESQL_CONF_DIGEST = $(shell sha256sum swarm/postgresql.conf | cut -c1-12)
# The variables the stack file reads (empty ones take the stack file's defaults).
STACK_ENV = STACK=$(STACK) PGTIER_IMAGE=$(PGTIER_IMAGE) PGTIER_CONF_DIGEST=$(PGTIER_CONF_DIGEST) \
	POSTGRESQL_CONF_DIGEST=$(POSTGRESQL_CONF_DIGEST) BACKUP_DIR=$(BACKUP_DIR) \
	POSTGRES_PASSWORD_SECRET=$(POSTGRES_PASSWORD_SECRET) POSTGRES_IMAGE=$(POSTGRES_IMAGE) TZ=$(DEPLOY_TZ)
# A shell snippet: the running pgtier container of the stack on this node, in $cid, or an error.
FIND_PGTIER = cid=$$($(DOCKER) ps -q -f label=com.docker.swarm.service.name=$(STACK)_pgtier | head -n1); \
	if [ -z "$$cid" ]; then echo "no running $(STACK)_pgtier container on this node: run this on the \
	node labelled database=true (make ps shows where the task runs)" >&2; exit 1; fi

.PHONY: help-ops build push deploy update remove ps logs shell stack-config \
	backup-full backup-diff backup-incr backup-list backup-verify backup-status backup-health \
	backup-restore clean

help-ops:
	@sed -n '/^# Operator targets/,/^# ----/p' $(firstword $(MAKEFILE_LIST))

# The build stage carries the label pgtier.stage=build, so that `make clean` finds it. Podman
# writes OCI images unless told otherwise, and those have no HEALTHCHECK: the docker format keeps
# it. BUILD_FLAGS: more options for the build (e.g. --network=host).
BUILD_FLAGS ?=
build:
	$(DOCKER) build -f docker/Dockerfile $(if $(filter podman,$(notdir $(DOCKER))),--format docker) $(BUILD_FLAGS) \
		$(if $(PG_IMAGE),--build-arg PG_IMAGE=$(PG_IMAGE)) -t $(LOCAL_IMAGE) .

push:
	@if [ -z "$(REGISTRY)" ]; then echo "push: set REGISTRY, e.g. make push REGISTRY=registry.example.com:5000" >&2; exit 1; fi
	$(DOCKER) tag $(LOCAL_IMAGE) $(REGISTRY)/$(LOCAL_IMAGE)
	$(DOCKER) push $(REGISTRY)/$(LOCAL_IMAGE)

# With a registry, nodes pull with the manager's credentials; without one each node uses its
# local image (built there), so the digest is not looked up in a registry. `docker stack deploy`
# returns before any task has started: wait-converged.sh waits (DEPLOY_TIMEOUT seconds at most)
# until each service runs its new definition, and fails with the tasks' errors when it does not.
DEPLOY_FLAGS = $(if $(REGISTRY),--with-registry-auth,--resolve-image never)
deploy:
	$(STACK_ENV) $(DOCKER) stack deploy $(DEPLOY_FLAGS) -c $(STACK_FILE) $(STACK)
	DOCKER=$(DOCKER) swarm/wait-converged.sh $(STACK) $(DEPLOY_TIMEOUT)

# update re-deploys the stack rather than `docker service update --image`: only a deploy moves a
# service to a config edited since (new digest, new config name), and a service changed behind
# the stack's back would be reverted by the next deploy. Swarm restarts only the services whose
# definition changed (a new VERSION, an edited config, BACKUP_DIR ...).
update: deploy

# The stack file as Swarm reads it, with the variables above. `docker stack config` came with
# the Docker CLI 23.0; Debian 12's docker.io (20.10) lacks it.
stack-config:
	@if ! $(DOCKER) stack config --help 2>/dev/null | grep -q 'docker stack config'; then \
		echo "stack-config: needs the Docker CLI 23.0 or later (docker stack config); this one is" \
			"$$($(DOCKER) version --format '{{.Client.Version}}' 2>/dev/null || echo unknown). A newer CLI" \
			"(client only, e.g. docker-ce-cli from Docker's repository) works with a 20.10 engine;" \
			"without one, make -n deploy shows the variables the stack file is read with." >&2; exit 1; fi
	$(STACK_ENV) $(DOCKER) stack config -c $(STACK_FILE)

# Keeps the data volume, the secret, the configs of other stacks and the backups.
remove:
	$(DOCKER) stack rm $(STACK)

ps:
	$(DOCKER) stack ps $(STACK)

logs:
	$(DOCKER) service logs -f $(STACK)_pgtier

shell:
	@$(FIND_PGTIER); set -x; $(DOCKER) exec -it "$$cid" bash

backup-full:
	@$(FIND_PGTIER); set -x; $(DOCKER) exec "$$cid" pgtier backup full $(ARGS)

backup-diff:
	@$(FIND_PGTIER); set -x; $(DOCKER) exec "$$cid" pgtier backup diff $(ARGS)

backup-incr:
	@$(FIND_PGTIER); set -x; $(DOCKER) exec "$$cid" pgtier backup incr $(ARGS)

backup-list:
	@$(FIND_PGTIER); set -x; $(DOCKER) exec "$$cid" pgtier list $(ARGS)

backup-verify:
	@$(FIND_PGTIER); set -x; $(DOCKER) exec "$$cid" pgtier verify $(ARGS)

backup-status:
	@$(FIND_PGTIER); set -x; $(DOCKER) exec "$$cid" pgtier status $(ARGS)

# Are the backups fresh (exit 1 with the reasons)? The container's own check is health --live.
backup-health:
	@$(FIND_PGTIER); set -x; $(DOCKER) exec "$$cid" pgtier health $(ARGS)

backup-restore:
	@if [ -z "$(strip $(ARGS))" ]; then echo "usage: make backup-restore ARGS='VERB ...', VERB one of: list," \
		"restore-latest, restore-full FILE, list-databases FILE, restore-database FILE DB" >&2; exit 2; fi
	@$(FIND_PGTIER); set -x; $(DOCKER) exec "$$cid" backup-restore.sh $(ARGS)

# Build output and the image only (and the build stage's untagged image, by its label); never
# backups, volumes or the stack.
clean: clean-build
	@for image in $(LOCAL_IMAGE) $(if $(REGISTRY),$(REGISTRY)/$(LOCAL_IMAGE)); do \
		if $(DOCKER) image inspect "$$image" >/dev/null 2>&1; then set -x; $(DOCKER) image rm "$$image"; fi; \
	done
	@if command -v $(DOCKER) >/dev/null; then set -x; $(DOCKER) image prune -a -f --filter label=pgtier.stage=build; fi
