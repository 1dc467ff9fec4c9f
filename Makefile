# The two commands: `make up` (the whole system on this machine) and `make test`.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: up down status test unit lint venv admin bench bench-pipeline audit kuberay-check

venv:
	@cluster/local/bootstrap.sh

# make up NODES=3: a Ray head and two worker nodes on this machine (FLASHSALE_RAY_NODES).
up: venv
	@$(if $(NODES),FLASHSALE_RAY_NODES=$(NODES) )$(PY) -m cluster.local up

down: venv
	@$(PY) -m cluster.local down

status: venv
	@$(PY) -m cluster.local status

# The same setup as `make up`, then every test layer against the real services.
test: up
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

# Pure unit tests only: no services needed.
unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .

# Create (or promote) an admin: make admin USERNAME=alice (asks for the password)
admin: venv
	@$(PY) -m ops.cli create-admin --username "$(USERNAME)"

# The purchase benchmark (figures and a report in bench/out/): make bench BENCH_ARGS="--seconds 20"
bench: up
	$(PY) bench/purchase.py $(BENCH_ARGS)

# The order pipeline's CPU at set purchase rates, this tree against an earlier one (it
# takes the stack down and up in turns; ~20 min): make bench-pipeline PIPELINE_ARGS="--base REV"
bench-pipeline: up
	$(PY) bench/pipeline_rate.py $(PIPELINE_ARGS)

# Check invariants I1-I5 for every deal across shards, Redis and MySQL (exit 1 on a FAIL)
audit: venv
	@$(PY) -m ops.cli audit $(AUDIT_ARGS)

# The KubeRay manifests against a real control plane: etcd, kube-apiserver and the KubeRay
# operator built from Go modules (kuberay/controlplane/), on loopback; stops what it starts.
kuberay-check: venv
	$(PY) -m kuberay.control_plane_check
