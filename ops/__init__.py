"""Operator-side code: what runs on the user's machine to drive AWS, Terraform and the local stack."""
