"""torch nn.Modules and the model registry (torch and torchvision only; no Prefect, no infra)."""
