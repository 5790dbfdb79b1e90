# One-command set-up: `make bench` and `make test` each create the environment first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PEERS_STAMP := $(VENV)/.peers-installed

# The default sweep: both scenarios; Keras, Keras with the fused path (keras-fused) and Gluon;
# CPU, batch 64, 128 and 512, both answers: one OpenMP thread per context (the API's cost per core,
# steady on a wandering machine) and all cores (what a user of the whole machine gets); a
# 1024-sample prefix of the real data; by turns (every arm of a configuration alive at once, one
# epoch each per shuffled turn), a warm-up and 2 timed turns; adaptive rounds (at least 3, more
# where a ratio's CI is wider than +-5%) within a 14-minute budget. The A/A control is left to the
# method's own sweeps (docs/methodology.md: Turns), where it holds 1.00 within +-1.5%: here its
# time goes to the batch sizes. docs/findings.md: how it was chosen and its measured time.
BENCH_ARGS ?= --scenario lenet,rnn --impl keras,keras-fused,gluon --ctx cpu \
              --batch-sizes 64,128,512 --threads 1,all --epochs 3 --max-samples 1024 \
              --target-ci 0.05 --budget-min 14

.PHONY: setup setup-gpu setup-peers setup-reference bench test test-fast plots check clean \
        rehearse-hosts keras-mxnet-layer-tests conformance conformance-reference

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

setup-peers: $(PEERS_STAMP)

# The PyTorch yardstick; re-running is a no-op unless requirements-peers.txt changed.
$(PEERS_STAMP): requirements-peers.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-peers.txt
	touch $@

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

# Everything, the torch arm's tests too: the yardstick is installed first, so they run, not skip.
# Two pytest workers (pytest-xdist): most of the suite is keras-mxnet building models in Python,
# one core each; an idle worker takes tests queued for the other (worksteal), as a few
# application cases take minutes each; each worker returns its memory after every slow test
# (tests/conftest.py). Then the tests marked serial (pytest.ini) alone. The 15 slowest tests close
# the log, so that CI shows where the time goes.
TEST_WORKERS ?= 2
test: setup-peers
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not serial" --durations=15
	$(PY) -m pytest -q -m serial

# The quick tier: no test marked slow (pytest.ini), in under 2 minutes on 2 cores.
test-fast: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not slow and not serial"
	$(PY) -m pytest -q -m "serial and not slow"

clean:
	rm -rf $(VENV)

# keras-mxnet's own tests/keras/layers (tag 2.2.4.3) through the shim, copied to a scratch folder
# outside the repository; the table goes to docs/keras-mxnet-layer-tests.md. KMX_GIT: a clone of
# keras-apache-mxnet (made here, bare, if absent).
KMX_GIT ?= /tmp/keras-apache-mxnet.git
keras-mxnet-layer-tests: setup
	test -d $(KMX_GIT) || git clone --quiet --bare --branch 2.2.4.3 \
		https://github.com/awslabs/keras-apache-mxnet $(KMX_GIT)
	$(PY) lab/keras_mxnet_layer_tests.py $(KMX_GIT) --scratch /tmp/kmx-tests \
		--doc docs/keras-mxnet-layer-tests.md

# Several hosts made of network namespaces on this machine (root), then docs/distributed.md's multi-host
# recipe on them; e.g. REHEARSE_ARGS="--impl keras --servers 2" or "--fault partition".
rehearse-hosts: setup
	$(PY) -m distributed.rehearsal $(REHEARSE_ARGS)
