"""The local AWS: moto as the control plane (with its patches), the local SageMaker endpoint and the local API Gateway."""
