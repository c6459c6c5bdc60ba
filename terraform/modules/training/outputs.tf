output "role_arn" {
  description = "ARN of the training role (`invoke train --target aws` and `invoke tune` use it by default)."
  value       = aws_iam_role.this.arn

  # SageMaker checks the role's permissions when a job starts.
  depends_on = [aws_iam_role_policy.this]
}

output "role_name" {
  description = "Name of the training role."
  value       = aws_iam_role.this.name
}
