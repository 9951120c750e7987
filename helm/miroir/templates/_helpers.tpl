{{/*
Shared helpers of the Miroir chart. Only Helm's built-in template functions and sprig are used.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "miroir.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name: fullnameOverride, or <release>-<chart> (the release alone
when it already contains the chart name). Kept short enough for "-meilisearch-NN" pod names. */}}
{{- define "miroir.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "miroir.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select a component's pods: (dict "root" $ "component" "gateway"). */}}
{{- define "miroir.selectorLabels" -}}
app.kubernetes.io/name: {{ include "miroir.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every label of a component's objects. */}}
{{- define "miroir.labels" -}}
helm.sh/chart: {{ include "miroir.chart" .root }}
{{ include "miroir.selectorLabels" . }}
app.kubernetes.io/part-of: miroir
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* "repository:tag" of an image block; tag "" = the chart's appVersion: (dict "image" .Values.image "root" $). */}}
{{- define "miroir.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* A value as an environment variable's text. YAML numbers reach templates as float64, which
toString would write 2e+08: whole numbers are written as integers; lists as JSON (TOML's syntax
for a list of strings and numbers, which the services read from the environment). */}}
{{- define "miroir.envValue" -}}
{{- if kindIs "slice" . -}}
{{- toJson . -}}
{{- else if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . | toString -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding master-key and node-key. */}}
{{- define "miroir.secretName" -}}
{{- default (printf "%s-keys" (include "miroir.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* NATS: the client Service, the headless Service of its pods, the URL every service dials. */}}
{{- define "miroir.nats.name" -}}
{{- printf "%s-nats" (include "miroir.fullname" .) -}}
{{- end -}}
{{- define "miroir.nats.headless" -}}
{{- printf "%s-nats-headless" (include "miroir.fullname" .) -}}
{{- end -}}
{{- define "miroir.natsUrl" -}}
{{- printf "nats://%s.%s.svc.%s:4222" (include "miroir.nats.name" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/* The Meilisearch StatefulSet and its headless Service (the nodes' stable DNS names). */}}
{{- define "miroir.meili.name" -}}
{{- printf "%s-meilisearch" (include "miroir.fullname" .) -}}
{{- end -}}

{{/* The Miroir services: values key, component name, binary, config variable prefix, whether it
takes the nodes' key. Every Deployment, PDB and metrics Service is made from this list. */}}
{{- define "miroir.components" -}}
- {key: gateway, name: gateway, binary: miroir-gateway, prefix: MIROIR_GATEWAY_, nodeKey: false}
- {key: router, name: router, binary: miroir-router, prefix: MIROIR_ROUTER_, nodeKey: true}
- {key: merger, name: merger, binary: miroir-merger, prefix: MIROIR_MERGER_, nodeKey: true}
- {key: rebalancer, name: rebalancer, binary: miroir-rebalancer, prefix: MIROIR_REBALANCER_, nodeKey: true}
- {key: healthChecker, name: health-checker, binary: miroir-health-checker, prefix: MIROIR_HEALTH_CHECKER_, nodeKey: true}
{{- end -}}

{{/* The KV buckets and streams of libs/proto/src/subjects.rs, with the settings the services
create them with (libs/cluster/src: topology.rs, tasks.rs, keys.rs, migrations.rs, lease.rs,
wal.rs, handoff.rs) and nats CLI flags. helm/check/check_chart.py checks this list against
subjects.rs. */}}
{{- define "miroir.jetstream.buckets" -}}
- {name: miroir-topology, flags: "--history=10"}
- {name: miroir-tasks, flags: "--history=1"}
- {name: miroir-keys, flags: "--history=5"}
- {name: miroir-migrations, flags: "--history=1 --ttl=24h"}
- {name: miroir-leases, flags: "--history=1 --marker-ttl=1s"}
- {name: miroir-webhooks, flags: "--history=1"}
{{- end -}}
{{- define "miroir.jetstream.streams" -}}
- {name: MIROIR_WAL, subjects: "miroir.v1.wal.>", flags: "--max-age=24h"}
- {name: MIROIR_HANDOFF, subjects: "miroir.v1.handoff.>", flags: "--max-age=0"}
{{- end -}}

{{/* Pod and container security contexts of the Miroir services (non-root, read-only root,
no capabilities). */}}
{{- define "miroir.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "miroir.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* What values.schema.json cannot say (it cannot compare two values): fails the render with
the reason. Included once, by templates/validate.yaml. */}}
{{- define "miroir.validate" -}}
{{- $v := .Values -}}
{{- if gt (int $v.cluster.replicationFactor) (int $v.meilisearch.replicas) -}}
{{- fail (printf "cluster.replicationFactor (%d) is above meilisearch.replicas (%d): every copy of a shard needs its own node" (int $v.cluster.replicationFactor) (int $v.meilisearch.replicas)) -}}
{{- end -}}
{{- if gt (int $v.nats.jetstream.replicas) (int $v.nats.replicas) -}}
{{- fail (printf "nats.jetstream.replicas (%d) is above nats.replicas (%d): a JetStream replica needs its own server" (int $v.nats.jetstream.replicas) (int $v.nats.replicas)) -}}
{{- end -}}
{{- range $key := list "gateway" "merger" -}}
{{- $a := (index $v $key).autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling.minReplicas (%d) is above its maxReplicas (%d)" $key (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- if and $v.auth.existingSecret (or $v.auth.masterKey $v.auth.nodeKey) -}}
{{- fail "auth.existingSecret and auth.masterKey/auth.nodeKey are exclusive: the keys come from the Secret" -}}
{{- end -}}
{{- /* Each service drains within its shutdown_grace_ms (its default in ms, from --help): the pod
must be given longer before Kubernetes kills it. */ -}}
{{- $graces := dict "gateway" 30000 "router" 30000 "merger" 10000 "rebalancer" 5000 "healthChecker" 5000 -}}
{{- range $key, $fallback := $graces -}}
{{- $c := index $v $key -}}
{{- $ms := int64 (default $fallback (index ($c.config | default dict) "shutdown_grace_ms")) -}}
{{- if ge $ms (mul (int64 $c.terminationGracePeriodSeconds) 1000) -}}
{{- fail (printf "%s.config.shutdown_grace_ms (%d) must be below %s.terminationGracePeriodSeconds (%d s): Kubernetes would kill the service in the middle of its drain" $key $ms $key (int64 $c.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- end -}}
{{- if and $v.gateway.ingress.enabled (not $v.gateway.ingress.hosts) -}}
{{- fail "gateway.ingress.enabled needs at least one gateway.ingress.hosts entry" -}}
{{- end -}}
{{- end -}}
