# datamover.fleet — `make demo` and `make test` work from a fresh clone on Debian/Ubuntu.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
COLL_LINK := .build/collections/ansible_collections/datamover/fleet
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build/collections

.PHONY: venv system-deps demo test unit integration lint sanity build clean bench ee

venv: $(VENV)/.stamp $(COLL_LINK)

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

# The checkout itself is the collection: link it where Ansible looks for datamover.fleet.
$(COLL_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

# Debian packages the tests and the demo use (chromium: the HTML report test renders in it;
# fuse3, libfuse3-dev, pkg-config, gcc: bench/latfs, the Lustre-like bench row and its test)
# (root on a fresh machine; skipped when present).
system-deps:
	@missing=""; \
	for t in rsync:rsync fpart:fpart sshd:openssh-server ip:iproute2 ssh:openssh-client chromium:chromium \
	         fusermount3:fuse3 pkg-config:pkg-config gcc:gcc; do \
	  command -v $${t%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${t%%:*} ] || missing="$$missing $${t#*:}"; \
	done; \
	[ -f /usr/include/fuse3/fuse_lowlevel.h ] || missing="$$missing libfuse3-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root (or sudo) to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: venv system-deps
	$(PY) scripts/demo.py

test: venv system-deps
	$(PY) -m pytest tests -q -ra

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv system-deps
	$(PY) -m pytest tests/integration -q -ra

# Ours against rsync, fpsync, fpart, rclone and s5cmd on this machine (tmpfs, alternating runs,
# medians); writes bench/results/<date>-<host>.json and the table in docs/benchmarks.md.
bench: venv system-deps
	$(VENV)/bin/pip install -q -r bench/requirements.txt
	$(PY) bench/run.py

build: venv
	mkdir -p .build/dist && $(VENV)/bin/ansible-galaxy collection build --force --output-path .build/dist .

clean:
	rm -rf .build .pytest_cache

# Molecule scenarios of the provisioning roles (extensions/molecule/<role>; needs root: packages,
# network namespaces). `make test` runs the same scenarios through tests/molecule.
.PHONY: molecule
molecule: venv system-deps
	$(VENV)/bin/molecule test --all

# The AWX/AAP execution environment's build context (offline): the collection tarball, then
# ansible-builder. Build the image with: podman build -f .build/ee/Containerfile .build/ee
ee: venv
	mkdir -p .build/ee-files
	$(VENV)/bin/ansible-galaxy collection build --force --output-path .build/ee-files .
	mv -f .build/ee-files/datamover-fleet-*.tar.gz .build/ee-files/datamover-fleet.tar.gz
	$(VENV)/bin/ansible-builder create -f execution-environment.yml -c .build/ee
