{{- define "otaswarm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "otaswarm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "otaswarm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "otaswarm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: otaswarm
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "tracker") */}}
{{- define "otaswarm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otaswarm.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "otaswarm.componentLabels" -}}
{{ include "otaswarm.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "otaswarm.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Name of the Secret holding one entry of .Values.secrets: (dict "ctx" $ "entry" .Values.secrets.tokenKey) */}}
{{- define "otaswarm.secretName" -}}
{{- $ctx := .ctx -}}
{{- if .entry.secretName -}}
{{- .entry.secretName -}}
{{- else if $ctx.Values.secrets.existingSecret -}}
{{- $ctx.Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-secrets" (include "otaswarm.fullname" $ctx) -}}
{{- end -}}
{{- end -}}

{{/* The store URL written into the TOML config; empty when it comes from a Secret (env). */}}
{{- define "otaswarm.storeURL" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s-redis:%d" (include "otaswarm.fullname" .) (int .Values.redis.port) -}}
{{- else if .Values.redis.external.url -}}
{{- .Values.redis.external.url -}}
{{- else if .Values.redis.external.urlSecret.name -}}
{{- else -}}
memory
{{- end -}}
{{- end -}}

{{- define "otaswarm.storeFromSecret" -}}
{{- if and (not .Values.redis.enabled) (not .Values.redis.external.url) .Values.redis.external.urlSecret.name -}}true{{- end -}}
{{- end -}}

{{/* TOML value: string, number, bool or list of those. */}}
{{- define "otaswarm.tomlValue" -}}
{{- if kindIs "slice" . -}}
[{{- range $i, $v := . -}}{{- if $i }}, {{ end -}}{{- include "otaswarm.tomlValue" $v -}}{{- end -}}]
{{- else if kindIs "bool" . -}}
{{- . -}}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) -}}
{{- if kindIs "float64" . -}}{{- if eq (float64 (int64 .)) . -}}{{- int64 . -}}{{- else -}}{{- . -}}{{- end -}}{{- else -}}{{- . -}}{{- end -}}
{{- else -}}
{{- toJson (toString .) -}}
{{- end -}}
{{- end -}}

{{/* Secret-backed files of a component: list of (dict entry file). turn: the coturn secret too. */}}
{{- define "otaswarm.secretEntries" -}}
{{- /* name:file[:noprev] — noprev: the server has no "<file>-previous-file" key */ -}}
{{- $names := list "tokenKey:token-key" "natTicketKey:nat-ticket-key" -}}
{{- if eq .component "tracker" -}}
{{- $names = concat $names (list "adminToken:admin-token" "connectionIdKey:connection-id-key") -}}
{{- else -}}
{{- $names = concat $names (list "adminToken:admin-token:noprev" "turnSecret:turn-secret:noprev") -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/* Projected volume sources for a component's secret files: (dict "ctx" $ "component" "tracker") */}}
{{- define "otaswarm.secretSources" -}}
{{- $ctx := .ctx -}}
{{- range $pair := include "otaswarm.secretEntries" . | fromJsonArray -}}
{{- $parts := splitList ":" $pair -}}
{{- $e := index $ctx.Values.secrets (index $parts 0) -}}
{{- $file := index $parts 1 -}}
{{- $prev := and (hasKey $e "previousKey") $e.previousKey (ne (len $parts) 3) -}}
{{- if $e.key }}
- secret:
    name: {{ include "otaswarm.secretName" (dict "ctx" $ctx "entry" $e) }}
    items:
      - {key: {{ $e.key | quote }}, path: {{ $file }}}
{{- end }}
{{- if $prev }}
- secret:
    name: {{ include "otaswarm.secretName" (dict "ctx" $ctx "entry" $e) }}
    items:
      - {key: {{ $e.previousKey | quote }}, path: {{ $file }}-previous}
{{- end }}
{{- end }}
{{- end -}}

{{/* TOML lines pointing the server at its secret files: (dict "ctx" $ "component" "tracker") */}}
{{- define "otaswarm.secretConfig" -}}
{{- $ctx := .ctx -}}
{{- range $pair := include "otaswarm.secretEntries" . | fromJsonArray -}}
{{- $parts := splitList ":" $pair -}}
{{- $e := index $ctx.Values.secrets (index $parts 0) -}}
{{- $file := index $parts 1 -}}
{{- $prev := and (hasKey $e "previousKey") $e.previousKey (ne (len $parts) 3) -}}
{{- if $e.key }}
{{ $file }}-file = "/var/run/secrets/otaswarm/{{ $file }}"
{{- end }}
{{- if $prev }}
{{ $file }}-previous-file = "/var/run/secrets/otaswarm/{{ $file }}-previous"
{{- end }}
{{- end }}
{{- end -}}

{{/* IPv4 and IPv6 ranges coturn must never relay to (TURN SSRF), as coturn start-end ranges. */}}
{{- define "otaswarm.deniedPeerRanges" -}}
0.0.0.0-0.255.255.255
10.0.0.0-10.255.255.255
100.64.0.0-100.127.255.255
127.0.0.0-127.255.255.255
169.254.0.0-169.254.255.255
172.16.0.0-172.31.255.255
192.0.0.0-192.0.0.255
192.0.2.0-192.0.2.255
192.88.99.0-192.88.99.255
192.168.0.0-192.168.255.255
198.18.0.0-198.19.255.255
198.51.100.0-198.51.100.255
203.0.113.0-203.0.113.255
224.0.0.0-239.255.255.255
240.0.0.0-255.255.255.255
::-::1
::ffff:0.0.0.0-::ffff:255.255.255.255
64:ff9b::-64:ff9b::ffff:ffff
64:ff9b:1::-64:ff9b:1:ffff:ffff:ffff:ffff:ffff
100::-100::ffff:ffff:ffff:ffff
2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff
2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff
fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff
ff00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
{{- end -}}

{{/* The same ranges as CIDRs, for NetworkPolicy ipBlock.except. */}}
{{- define "otaswarm.privateCIDRs4" -}}
- 0.0.0.0/8
- 10.0.0.0/8
- 100.64.0.0/10
- 127.0.0.0/8
- 169.254.0.0/16
- 172.16.0.0/12
- 192.0.0.0/24
- 192.168.0.0/16
- 198.18.0.0/15
- 224.0.0.0/4
- 240.0.0.0/4
{{- end -}}
{{- define "otaswarm.privateCIDRs6" -}}
- ::/127
- ::ffff:0:0/96
- 64:ff9b::/96
- fc00::/7
- fe80::/10
- ff00::/8
{{- end -}}

{{/* The rendezvous's store: the shared one when rendezvous.sharedStore, else memory. */}}
{{- define "otaswarm.rendezvousStoreURL" -}}
{{- if .Values.rendezvous.sharedStore -}}
{{- include "otaswarm.storeURL" . -}}
{{- else -}}
memory
{{- end -}}
{{- end -}}

{{- define "otaswarm.rendezvousStoreFromSecret" -}}
{{- if .Values.rendezvous.sharedStore -}}{{- include "otaswarm.storeFromSecret" . -}}{{- end -}}
{{- end -}}
