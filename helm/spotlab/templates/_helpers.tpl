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

{{- define "spotlab.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "spotlab.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
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

{{- define "spotlab.prefectApiUrl" -}}
http://{{ include "spotlab.fullname" . }}-prefect:{{ .Values.prefect.server.port }}/api
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
