{{/* Chart name. */}}
{{- define "pastry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: the StatefulSet, the client Service and the prefix of every object.
Truncated to 50 characters so that pod names (<fullname>-<ordinal>) and the peer Service
name (<fullname>-peers) stay valid DNS labels with room to spare.
*/}}
{{- define "pastry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pastry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the release, less the component. */}}
{{- define "pastry.commonLabels" -}}
helm.sh/chart: {{ include "pastry.chart" . }}
app.kubernetes.io/name: {{ include "pastry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pastry
{{- end }}

{{/* Labels of the ring's objects. */}}
{{- define "pastry.labels" -}}
{{ include "pastry.commonLabels" . }}
app.kubernetes.io/component: node
{{- end }}

{{/* Labels that select this release's node pods. */}}
{{- define "pastry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pastry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node
{{- end }}

{{/* The headless peer-discovery Service. */}}
{{- define "pastry.peerServiceName" -}}
{{- printf "%s-peers" (include "pastry.fullname" .) }}
{{- end }}

{{/* The label a pod needs to reach the client API when the NetworkPolicy is on. */}}
{{- define "pastry.clientLabel" -}}
{{- printf "%s-client" (include "pastry.fullname" .) }}
{{- end }}

{{- define "pastry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pastry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pastry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* DNS suffix of the pods: <pod>.<this>. */}}
{{- define "pastry.podDomain" -}}
{{- printf "%s.%s.svc.%s" (include "pastry.peerServiceName" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/*
PASTRY_SEEDS: the DNS names of pods 0 .. seeds.count-1. Depends on seeds.count only,
never on replicaCount, so scaling never changes the pod template.
*/}}
{{- define "pastry.seeds" -}}
{{- $fullname := include "pastry.fullname" . }}
{{- $domain := include "pastry.podDomain" . }}
{{- $seeds := list }}
{{- range $i := until (int .Values.seeds.count) }}
{{- $seeds = append $seeds (printf "%s-%d.%s:%d" $fullname $i $domain (int $.Values.ports.grpc)) }}
{{- end }}
{{- join "," $seeds }}
{{- end }}

{{/* terminationGracePeriodSeconds: preStop sleep + shutdown budget (rounded up) + margin. */}}
{{- define "pastry.terminationGracePeriodSeconds" -}}
{{- $graceSeconds := div (add (int64 .Values.config.shutdownGraceMs) 999) 1000 }}
{{- add $graceSeconds (int64 .Values.shutdown.preStopSleepSeconds) (int64 .Values.shutdown.marginSeconds) }}
{{- end }}

{{/* A gRPC probe on the health service: (dict "port" <port> "probe" <values.probes.x>). */}}
{{- define "pastry.grpcProbe" -}}
grpc:
  port: {{ .port }}
  {{- if .probe.service }}
  service: {{ .probe.service | quote }}
  {{- end }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- if .probe.successThreshold }}
successThreshold: {{ .probe.successThreshold }}
{{- end }}
{{- end }}

{{/*
The Redis sidecar, less its name and lifecycle. Loopback only, no persistence unless
persistence.enabled (then append-only files on the PVC).
*/}}
{{- define "pastry.redisContainer" -}}
{{- $redisPort := int .Values.redis.port -}}
image: {{ printf "%s:%s" .Values.redis.image.repository .Values.redis.image.tag }}
imagePullPolicy: {{ .Values.redis.image.pullPolicy }}
command: ["redis-server"]
args:
  - --bind
  - 127.0.0.1
  - --port
  - {{ $redisPort | quote }}
  - --protected-mode
  - "yes"
  - --dir
  - /data
  - --save
  - ""
  {{- if .Values.persistence.enabled }}
  - --appendonly
  - "yes"
  - --appendfsync
  - everysec
  {{- else }}
  - --appendonly
  - "no"
  {{- end }}
  {{- with .Values.redis.maxmemory }}
  - --maxmemory
  - {{ . | quote }}
  - --maxmemory-policy
  - noeviction
  {{- end }}
  {{- with .Values.redis.extraArgs }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
startupProbe:
  exec:
    command: ["redis-cli", "-h", "127.0.0.1", "-p", {{ $redisPort | quote }}, "ping"]
  periodSeconds: 1
  timeoutSeconds: 2
  failureThreshold: 30
livenessProbe:
  exec:
    command: ["redis-cli", "-h", "127.0.0.1", "-p", {{ $redisPort | quote }}, "ping"]
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
resources:
  {{- toYaml .Values.redis.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.redis.securityContext | nindent 2 }}
volumeMounts:
  - name: data
    mountPath: /data
{{- end }}

{{/* Checks across values that values.schema.json cannot express. */}}
{{- define "pastry.validate" -}}
{{- $ports := list (int .Values.ports.grpc) (int .Values.ports.metrics) (int .Values.redis.port) }}
{{- if ne (len $ports) (len (uniq $ports)) }}
{{- fail (printf "ports.grpc (%d), ports.metrics (%d) and redis.port (%d) must differ: they share the pod's network namespace" (int .Values.ports.grpc) (int .Values.ports.metrics) (int .Values.redis.port)) }}
{{- end }}
{{- end }}
