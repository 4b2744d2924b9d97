# Kubernetes user flow (included by the main Makefile). See the Kubernetes section of README.md.
#
#   make kind-up image kind-load monitoring-up deploy helm-test    # a ring on kind
#   make scale N=10                                               # grow (or shrink) it
#   make chaos-k8s                                                # kill pods under load
#   make kind-down
#
# Needs docker (or DOCKER=podman), kind or minikube, kubectl and helm (make helm-bin builds
# helm with Go when missing). None of these run in this repository's CI, which has no
# container engine: there, only helm-lint and chart-test (the rendered chart) run.

RELEASE ?= pastry
NAMESPACE ?= pastry
IMAGE ?= pastry-node:dev
CHART ?= charts/pastry
VALUES ?= k8s/values/kind.yaml
# Extra arguments for `helm upgrade --install`, e.g. HELM_ARGS='--set config.replicas=5'.
HELM_ARGS ?=
# kubectl/helm context; empty: the current one (kind-up and minikube-up switch to theirs).
KUBE_CONTEXT ?=
KIND_CLUSTER ?= pastry
MINIKUBE_PROFILE ?= pastry
MINIKUBE_NODES ?= 1
DOCKER ?= docker
KIND ?= kind
MINIKUBE ?= minikube
KUBECTL ?= kubectl
MONITORING_NAMESPACE ?= monitoring
CHAOS_MESH_NAMESPACE ?= chaos-mesh
# Chart versions of the add-ons; empty: the repository's latest.
KUBE_PROMETHEUS_STACK_VERSION ?=
CHAOS_MESH_VERSION ?=
# chaos-k8s: CHAOS=cli runs `pastry chaos --killer kubectl` (workload + pod kills + loss
# check); CHAOS=mesh applies the Chaos Mesh Schedule k8s/chaos/$(CHAOS_EXPERIMENT)-schedule.yaml.
CHAOS ?= cli
CHAOS_EXPERIMENT ?= pod-kill
CHAOS_ARGS ?=

ifndef HELM
HELM := $(or $(shell command -v helm 2>/dev/null),$(shell go env GOPATH 2>/dev/null)/bin/helm)
endif

# IMAGE split into repository and tag (a registry host:port stays in the repository).
K8S_IMAGE_REPOSITORY = $(shell echo '$(IMAGE)' | sed -E 's/:[^:/]+$$//')
K8S_IMAGE_TAG = $(or $(shell echo '$(IMAGE)' | sed -nE 's/.*:([^:/]+)$$/\1/p'),latest)
K8S_CONTEXT_FLAG = $(if $(KUBE_CONTEXT),--kube-context $(KUBE_CONTEXT))
K8S_KUBECTL = $(KUBECTL) $(if $(KUBE_CONTEXT),--context $(KUBE_CONTEXT))
K8S_JEST = $(or $(NODE_BIN),node_modules/.bin)/jest

.PHONY: helm-bin helm-lint chart-test image \
	kind-up kind-load kind-down kind \
	minikube-up minikube-image minikube-deploy minikube-down \
	deploy undeploy helm-test scale status \
	monitoring-up grafana prometheus jaeger \
	chaos-mesh-up chaos-k8s chaos-k8s-stop

# --- chart (runs anywhere, no cluster) -------------------------------------------------

helm-bin:
	@bash test/setup/ensure-helm.sh >/dev/null

# Copies grafana/dashboards/*.json into the chart (a chart cannot read files outside it).
helm-lint: helm-bin
	$(HELM) lint --strict $(CHART)
	@for f in k8s/values/*.yaml; do \
	  echo "$(HELM) lint --strict $(CHART) -f $$f"; \
	  $(HELM) lint --strict $(CHART) -f $$f >/dev/null || exit 1; \
	done

chart-test: deps helm-bin
	PATH="$(dir $(HELM)):$$PATH" $(K8S_JEST) --ci test/chart

# --- image ----------------------------------------------------------------------------------

image:
	$(DOCKER) build -f services/node/Dockerfile -t $(IMAGE) .

# --- kind -----------------------------------------------------------------------------------

kind-up:
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind cluster $(KIND_CLUSTER) already exists"; \
	else $(KIND) create cluster --config k8s/kind/cluster.yaml --name $(KIND_CLUSTER) --wait 120s; fi
	$(KUBECTL) config use-context kind-$(KIND_CLUSTER)

kind-load:
	$(KIND) load docker-image $(IMAGE) --name $(KIND_CLUSTER)

# Everything on kind in one go.
kind: kind-up image kind-load monitoring-up deploy helm-test

kind-down:
	$(KIND) delete cluster --name $(KIND_CLUSTER)

# --- minikube --------------------------------------------------------------------------------

minikube-up:
	$(MINIKUBE) start -p $(MINIKUBE_PROFILE) --nodes $(MINIKUBE_NODES) --container-runtime=containerd \
	  --cpus 2 --memory 4g
	$(KUBECTL) config use-context $(MINIKUBE_PROFILE)

minikube-image:
	$(MINIKUBE) -p $(MINIKUBE_PROFILE) image load $(IMAGE)

minikube-deploy:
	$(MAKE) deploy VALUES=k8s/values/minikube.yaml KUBE_CONTEXT=$(or $(KUBE_CONTEXT),$(MINIKUBE_PROFILE))

minikube-down:
	$(MINIKUBE) delete -p $(MINIKUBE_PROFILE)

# --- the ring ------------------------------------------------------------------------------

# helm upgrade --install with VALUES, the image from IMAGE; the ServiceMonitor is turned
# off when the prometheus-operator CRD is missing (monitoring-up not run).
deploy: helm-bin
	@sm=""; if ! $(K8S_KUBECTL) get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1; then \
	  echo "deploy: no ServiceMonitor CRD (run make monitoring-up for metrics): serviceMonitor.enabled=false"; \
	  sm="--set serviceMonitor.enabled=false"; fi; \
	set -x; $(HELM) upgrade --install $(RELEASE) $(CHART) $(K8S_CONTEXT_FLAG) \
	  --namespace $(NAMESPACE) --create-namespace \
	  --values $(VALUES) \
	  --set image.repository=$(K8S_IMAGE_REPOSITORY) --set image.tag=$(K8S_IMAGE_TAG) \
	  $$sm $(HELM_ARGS) --wait --timeout 10m

undeploy: helm-bin
	$(HELM) uninstall $(RELEASE) $(K8S_CONTEXT_FLAG) --namespace $(NAMESPACE)

helm-test: helm-bin
	$(HELM) test $(RELEASE) $(K8S_CONTEXT_FLAG) --namespace $(NAMESPACE) --logs

# Only the StatefulSet's replica count changes: running pods are not restarted.
scale: helm-bin
	@test -n "$(N)" || { echo "usage: make scale N=<number of nodes>"; exit 2; }
	$(HELM) upgrade $(RELEASE) $(CHART) $(K8S_CONTEXT_FLAG) --namespace $(NAMESPACE) \
	  --reuse-values --set replicaCount=$(N) --wait --timeout 10m

status:
	$(K8S_KUBECTL) -n $(NAMESPACE) get statefulset,pods,svc,pdb -l app.kubernetes.io/instance=$(RELEASE) -o wide
	$(K8S_KUBECTL) -n $(NAMESPACE) exec $(RELEASE)-0 -c pastry -- pastry status --target $(RELEASE):7000

# --- monitoring and tracing ---------------------------------------------------------------

monitoring-up: helm-bin
	$(HELM) repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
	$(HELM) upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
	  $(K8S_CONTEXT_FLAG) --namespace $(MONITORING_NAMESPACE) --create-namespace \
	  $(if $(KUBE_PROMETHEUS_STACK_VERSION),--version $(KUBE_PROMETHEUS_STACK_VERSION)) \
	  --values k8s/monitoring/kube-prometheus-stack-values.yaml --wait --timeout 10m
	$(K8S_KUBECTL) apply -n $(MONITORING_NAMESPACE) -f k8s/monitoring/jaeger.yaml

# Port-forwards (Ctrl-C to stop): Grafana on :3000 (admin / pastry), Prometheus on :9090,
# Jaeger on :16686.
grafana:
	$(K8S_KUBECTL) -n $(MONITORING_NAMESPACE) port-forward svc/kube-prometheus-stack-grafana 3000:80

prometheus:
	$(K8S_KUBECTL) -n $(MONITORING_NAMESPACE) port-forward svc/kube-prometheus-stack-prometheus 9090:9090

jaeger:
	$(K8S_KUBECTL) -n $(MONITORING_NAMESPACE) port-forward svc/jaeger-query 16686:16686

# --- chaos ---------------------------------------------------------------------------------

# Chaos Mesh with the containerd runtime of kind (and of minikube-up).
chaos-mesh-up: helm-bin
	$(HELM) repo add chaos-mesh https://charts.chaos-mesh.org --force-update
	$(HELM) upgrade --install chaos-mesh chaos-mesh/chaos-mesh $(K8S_CONTEXT_FLAG) \
	  --namespace $(CHAOS_MESH_NAMESPACE) --create-namespace \
	  $(if $(CHAOS_MESH_VERSION),--version $(CHAOS_MESH_VERSION)) \
	  --set chaosDaemon.runtime=containerd \
	  --set chaosDaemon.socketPath=/run/containerd/containerd.sock --wait --timeout 10m

chaos-k8s:
ifeq ($(CHAOS),mesh)
	sed -e 's/^\(  namespace:\) pastry$$/\1 $(NAMESPACE)/' -e 's/^\(        - \)pastry$$/\1$(NAMESPACE)/' \
	  -e 's/^\(        app.kubernetes.io\/instance:\) pastry$$/\1 $(RELEASE)/' \
	  k8s/chaos/$(CHAOS_EXPERIMENT)-schedule.yaml | $(K8S_KUBECTL) apply -f -
else
	node dist/services/cli/src/main.js chaos --killer kubectl --release $(RELEASE) --namespace $(NAMESPACE) $(CHAOS_ARGS)
endif

chaos-k8s-stop:
	$(K8S_KUBECTL) -n $(NAMESPACE) delete schedules.chaos-mesh.org --ignore-not-found \
	  pastry-pod-kill pastry-redis-kill
