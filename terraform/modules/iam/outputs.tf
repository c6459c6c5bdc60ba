output "sagemaker_role_arn" {
  description = "ARN of the SageMaker execution role."
  value       = aws_iam_role.sagemaker.arn

  # SageMaker checks the role's permissions when it creates the model and endpoint.
  depends_on = [aws_iam_role_policy.sagemaker]
}

output "lambda_role_arn" {
  description = "ARN of the Lambda execution role."
  value       = aws_iam_role.lambda.arn

  depends_on = [aws_iam_role_policy.lambda]
}

output "endpoint_arn" {
  description = "ARN the Lambda role may invoke (derived from the endpoint name)."
  value       = local.endpoint_arn
}
