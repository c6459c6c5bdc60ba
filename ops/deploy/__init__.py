"""Deploying: the artifact to Terraform variables, the Terraform driver, the Lambda zip, plan review, release history and hosting cost."""
