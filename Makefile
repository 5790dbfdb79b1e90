# One-command set-up: `make bench` and `make test` each create the environment first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The default sweep: both scenarios; Keras, Keras with the fused path (keras-fused) and Gluon,
# with the A/A control; CPU, batch 128, both answers: one OpenMP thread per context (the API's cost
# per core, steady on a wandering machine) and all cores (what a user of the whole machine gets);
# a 1024-sample prefix of the real data, adaptive rounds (at least 3, more where a ratio's CI is
# wider than +-5%) within an 11-minute budget. See docs/findings.md for how it was chosen and its
# measured time; batch 64 and 512 are in the sweeps results/README.md indexes.
BENCH_ARGS ?= --scenario lenet,rnn --impl keras,keras-fused,gluon --control --ctx cpu \
              --batch-sizes 128 --threads 1,all --epochs 3 --max-samples 1024 --target-ci 0.05 \
              --budget-min 11

.PHONY: setup setup-gpu setup-peers setup-reference bench test plots check clean rehearse-hosts \
	conformance conformance-reference

setup: $(STAMP)

# Re-running is a no-op unless requirements.txt changed.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# Download first, so a network failure can't leave the venv without mxnet; the CPU and GPU
# wheels both own site-packages/mxnet, hence the uninstall.
setup-gpu: setup
	$(PY) -m pip download --quiet --dest .whl/gpu -r requirements-gpu.txt
	$(PY) -m pip uninstall --quiet --yes mxnet
	$(PY) -m pip install --quiet --no-index --find-links .whl/gpu -r requirements-gpu.txt
	$(PY) -m shim.gpu

setup-peers: setup
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-peers.txt

# The reference Keras (tf.keras of tensorflow-cpu, Keras 2) in its own venv: both it and keras-mxnet
# install a top-level `keras`. Only `make conformance-reference` needs it (docs/conformance.md).
REF_VENV := .venv-reference
REF_STAMP := $(REF_VENV)/.installed

setup-reference: $(REF_STAMP)

$(REF_STAMP): requirements-reference.txt
	test -x $(REF_VENV)/bin/python || $(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-reference.txt
	touch $@

# Stock and keras-fused against the committed reference fixtures: the table, docs/conformance.md,
# the pinned verdicts. No TensorFlow needed.
conformance: setup
	$(PY) -m conformance

# Remake the fixtures with tf.keras, then the table.
conformance-reference: setup setup-reference
	$(PY) -m conformance reference
	$(PY) -m conformance

bench: setup
	$(PY) bench.py $(BENCH_ARGS)
	$(PY) -m report

plots: setup
	$(PY) -m report

check: setup
	$(PY) bench.py --check

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV)

# Several hosts made of network namespaces on this machine (root), then docs/distributed.md's multi-host
# recipe on them; e.g. REHEARSE_ARGS="--impl keras --servers 2" or "--fault partition".
rehearse-hosts: setup
	$(PY) rehearse_hosts.py $(REHEARSE_ARGS)
