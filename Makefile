# The README's two commands: `make up` and `make test`. Both install what is
# missing first (compose/bootstrap.sh), so they work on a fresh machine.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: up upgrade test install bench clean

install:
	@bash compose/bootstrap.sh

up: install
	@$(PY) -P -m paas.compose.up

# After a `git pull`: the running `make up` migrates, then restarts every process, one at a time.
upgrade: install
	@$(PY) -P -m paas.compose.up --upgrade

test: install
	@$(PY) -P -m paas.compose.testrun $(ARGS)

bench: install
	@for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
