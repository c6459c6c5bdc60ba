resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "this" {
  function_name                  = var.function_name
  description                    = "POST /predict: image -> SageMaker endpoint -> labelled breeds."
  role                           = var.role_arn
  filename                       = var.package.path
  source_code_hash               = var.package.sha256_b64
  handler                        = var.package.handler
  runtime                        = var.package.runtime
  memory_size                    = var.package.memory_size
  timeout                        = var.package.timeout
  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = "Active"
  }

  # The log group exists (with its retention) before the first invocation could create it.
  depends_on = [aws_cloudwatch_log_group.this]
}
