"""Kubernetes execution: the Prefect work-pool base job template and the multi-node training launchers (a Kubeflow
Trainer TrainJob, or an Indexed Job where Kubeflow is not installed).

Manifests are built with the official API models (the ``kubernetes`` client's for core objects, serialised by its
ApiClient; ``kubeflow-trainer-api``'s for TrainJobs and training runtimes), never written as YAML strings.
"""
