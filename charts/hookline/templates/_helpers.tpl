{{/* Names, labels and computed values shared by the templates. */}}

{{- define "hookline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hookline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hookline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "hookline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hookline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hookline
{{- end }}

{{- define "hookline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hookline.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hookline.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "hookline.leaseName" -}}
{{- default (include "hookline.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
What the operator may do in the namespaces it watches. The Role it writes for each
dispatcher (read the three kinds and the Secrets they name, write webhooks/status, record
Events) is a subset of these rules: Kubernetes lets the operator create that Role and bind
it only because the operator holds every permission in it (RBAC escalation prevention).
That is why webhooks/status has get and update, which only the dispatchers use.
*/}}
{{- define "hookline.operatorRules" -}}
- apiGroups: [hookline.dev]
  resources: [eventsources, webhooks, callbackpolicies]
  verbs: [get, list, watch, patch]
- apiGroups: [hookline.dev]
  resources: [eventsources/status, callbackpolicies/status]
  verbs: [patch]
- apiGroups: [hookline.dev]
  resources: [webhooks/status]
  verbs: [get, patch, update]
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch, delete]
- apiGroups: ['']
  resources: [serviceaccounts, services]
  verbs: [create, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, patch, delete]
- apiGroups: ['']
  resources: [events]
  verbs: [create, patch]
{{- end }}
