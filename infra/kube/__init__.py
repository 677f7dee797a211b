"""Kubernetes execution: the Prefect work-pool base job template and the multi-node training launcher.

Manifests are built with the official ``kubernetes`` client models and serialised by its ApiClient, never
written as YAML strings.
"""
