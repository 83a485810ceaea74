# Local stack and checks. Everything runs from this folder; state lives in .data/ and .venv/.
SHELL := /bin/bash
CTL := .venv/bin/supervisorctl -c supervisord.conf
API := http://127.0.0.1:8000

.PHONY: up down restart test unit lint bench chaos chaos-short images status logs install

up:            ## install what is missing, start everything, wait until the API answers
	bash scripts/up.sh

down:          ## stop everything (workers, actor containers, services, infra)
	bash scripts/down.sh

restart:       ## restart the Python services only
	$(CTL) restart 'abaco:*'

install:       ## packages, mongod, .venv, secrets (also part of `make up`)
	bash scripts/install.sh

test:          ## lint, type check, unit and integration tests (starts the stack when the API is not answering)
	@code=$$(curl -s -o /dev/null -m 5 -w '%{http_code}' $(API)/actors || true); \
	if [ "$$code" != 401 ]; then bash scripts/up.sh; fi
	.venv/bin/tox -e lint,type,unit,integration

unit:          ## the fast tests alone (no services needed)
	.venv/bin/tox -e unit

lint:          ## ruff and mypy alone
	.venv/bin/tox -e lint,type

bench:         ## latency and scale benchmarks against the running stack (numbers beside their floors)
	.venv/bin/python bench/bench_messages.py
	.venv/bin/python bench/bench_scale.py

chaos:         ## 1,000 messages while every platform process and store is killed or restarted; prints a table
	.venv/bin/python tests/chaos/chaos.py -n 1000

chaos-short:   ## the same with 120 messages and one fault of each family (run by CI)
	.venv/bin/python tests/chaos/chaos.py -n 120 --short

images:        ## build the local test images (busybox, echo, fail, sleep, python3, probe, pyactor, bombs)
	bash scripts/build-images.sh

status:        ## supervisord's view of every program
	-$(CTL) status

logs:          ## follow every log under .data/logs
	tail -n 20 -F .data/logs/*.log
