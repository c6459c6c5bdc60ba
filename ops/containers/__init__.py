"""SageMaker's own PyTorch training and inference containers, run here: their toolkits, environments and network isolation."""
