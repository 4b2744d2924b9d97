# A real single-node Kubernetes on this machine (no container engine, no registry):
# test/e2e/cluster/. Included by the main Makefile. Needs root and Linux.
#
#   make e2e            build (cached) + images + cluster up + helm install + put/get + down
#   make e2e-up         only the cluster (prints KUBECONFIG); make e2e-down removes it
#   make e2e-images     the node image from services/node/Dockerfile and a Redis image
#   make e2e-install    the chart on a running e2e cluster, to ready, one put/get
#
# PASTRY_E2E_CACHE (default /var/cache/pastry-e2e) keeps the built binaries and images.

E2E_CLUSTER := test/e2e/cluster

.PHONY: e2e e2e-build e2e-up e2e-images e2e-install e2e-down

e2e:
	bash $(E2E_CLUSTER)/e2e.sh

e2e-build:
	bash $(E2E_CLUSTER)/build.sh

e2e-up:
	bash $(E2E_CLUSTER)/up.sh

e2e-images:
	bash $(E2E_CLUSTER)/images.sh

e2e-install:
	bash $(E2E_CLUSTER)/install.sh

e2e-down:
	bash $(E2E_CLUSTER)/down.sh
