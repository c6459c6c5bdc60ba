"""Code that runs inside a SageMaker training or inference container, and locally the same way."""
