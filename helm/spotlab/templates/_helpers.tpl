{{/* Names, labels and the pieces every pod shares. */}}

{{- define "spotlab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spotlab.fullname" -}}
{{- if contains (include "spotlab.name" .) .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "spotlab.name" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "spotlab.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "spotlab.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "spotlab.selector" -}}
app.kubernetes.io/name: {{ include "spotlab.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The ServiceAccount of one component (worker, api or jobs): (dict "root" $ "component" "worker"). */}}
{{- define "spotlab.serviceAccountName" -}}
{{- $account := index .root.Values.serviceAccounts .component -}}
{{- if $account.create -}}
{{- default (printf "%s-%s" (include "spotlab.fullname" .root) .component) $account.name -}}
{{- else -}}
{{- required (printf "serviceAccounts.%s.name is required when serviceAccounts.%s.create is false" .component .component) $account.name -}}
{{- end -}}
{{- end -}}

{{- define "spotlab.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "spotlab.s3SecretName" -}}
{{- default (printf "%s-s3" (include "spotlab.fullname" .)) .Values.storage.s3.existingSecret -}}
{{- end -}}

{{- define "spotlab.apiSecretName" -}}
{{- default (printf "%s-api" (include "spotlab.fullname" .)) .Values.api.existingSecret -}}
{{- end -}}

{{/* The built-in server's Service, or an existing server (e.g. installed with the prefect-helm charts). */}}
{{- define "spotlab.prefectApiUrl" -}}
{{- if .Values.prefect.server.enabled -}}
http://{{ include "spotlab.fullname" . }}-prefect:{{ .Values.prefect.server.port }}/api
{{- else -}}
{{- required "prefect.externalApiUrl is required when prefect.server.enabled is false" .Values.prefect.externalApiUrl -}}
{{- end -}}
{{- end -}}

{{/* The URL the Prefect UI (in a browser) calls: explicit, else the ingress host, else the NOTES' port-forward. */}}
{{- define "spotlab.prefectUiApiUrl" -}}
{{- if .Values.prefect.server.uiApiUrl -}}
{{- .Values.prefect.server.uiApiUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.prefectHost -}}
https://{{ .Values.ingress.prefectHost }}/api
{{- else -}}
http://localhost:4200/api
{{- end -}}
{{- end -}}

{{- define "spotlab.prefectAuthSecretName" -}}
{{- default (printf "%s-prefect-auth" (include "spotlab.fullname" .)) .Values.prefect.auth.existingSecret -}}
{{- end -}}

{{/* The basic-auth string ("user:password") every Prefect client sends, from the Secret. */}}
{{- define "spotlab.prefectAuthEnv" -}}
{{- if .Values.prefect.auth.enabled -}}
- name: PREFECT_API_AUTH_STRING
  valueFrom:
    secretKeyRef:
      name: {{ include "spotlab.prefectAuthSecretName" . }}
      key: {{ .Values.prefect.auth.existingSecretKey }}
{{- end }}
{{- end -}}

{{/* A secret value that survives upgrades: the given one, else the one already in the cluster's Secret, else a
fresh one (first install, or `helm template`, where lookup sees no cluster).
(dict "root" $ "secret" NAME "key" KEY "given" VALUE "fresh" GENERATED) */}}
{{- define "spotlab.stableSecretValue" -}}
{{- $existing := dig "data" (dict) (lookup "v1" "Secret" .root.Release.Namespace .secret) -}}
{{- if .given -}}
{{- .given -}}
{{- else if hasKey $existing .key -}}
{{- index $existing .key | b64dec -}}
{{- else -}}
{{- .fresh -}}
{{- end -}}
{{- end -}}

{{- define "spotlab.s3Endpoint" -}}
{{- if .Values.s3Server.enabled -}}
http://{{ include "spotlab.fullname" . }}-s3:7070
{{- else -}}
{{- .Values.storage.s3.endpointUrl -}}
{{- end -}}
{{- end -}}

{{/* Non-root pod with the image's user (uid 10001, see Dockerfile). */}}
{{- define "spotlab.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "spotlab.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* S3 settings from the Secret (never literals); each key optional. */}}
{{- define "spotlab.s3Env" -}}
{{- $secret := include "spotlab.s3SecretName" . -}}
{{- range $key := list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "AWS_ENDPOINT_URL" "AWS_DEFAULT_REGION" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end -}}

{{/* Writable scratch under a read-only root filesystem; Prefect keeps its home there. */}}
{{- define "spotlab.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}

{{- define "spotlab.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}
