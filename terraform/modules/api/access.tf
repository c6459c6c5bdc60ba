# Who may call POST /predict: one API key and usage plan per client (its own throttle and quota), and
# optionally IAM (SigV4) for server-to-server callers, who get execute-api:Invoke on this one method.

resource "aws_api_gateway_api_key" "client" {
  for_each = var.clients

  name = "${var.name}-${each.key}"
}

resource "aws_api_gateway_usage_plan" "client" {
  for_each = var.clients

  name        = "${var.name}-${each.key}"
  description = "Client ${each.key}: its own throttle and quota."

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = aws_api_gateway_stage.this.stage_name
  }

  throttle_settings {
    rate_limit  = each.value.rate_limit
    burst_limit = each.value.burst_limit
  }

  quota_settings {
    limit  = each.value.quota_limit
    period = each.value.quota_period
  }
}

resource "aws_api_gateway_usage_plan_key" "client" {
  for_each = var.clients

  key_id        = aws_api_gateway_api_key.client[each.key].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.client[each.key].id
}

# API Gateway's own 429s carry no Retry-After; these gateway responses add one (a static value: a
# gateway response cannot compute the time to the quota's reset).
resource "aws_api_gateway_gateway_response" "retry_after" {
  for_each = {
    THROTTLED      = var.retry_after_seconds.throttled
    QUOTA_EXCEEDED = var.retry_after_seconds.quota_exceeded
  }

  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = each.key
  status_code   = "429"

  response_parameters = merge(local.cors_gateway_headers, {
    "gatewayresponse.header.Retry-After" = "'${each.value}'"
  })

  response_templates = {
    "application/json" = "{\"message\":$context.error.messageString}"
  }
}

data "aws_iam_policy_document" "invoke" {
  statement {
    sid       = "InvokePredict"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/${aws_api_gateway_method.predict.http_method}${aws_api_gateway_resource.predict.path}"]
  }
}

# Attach to the roles of server-to-server callers when the method is IAM-authorised.
resource "aws_iam_policy" "invoke" {
  count = var.authorization == "AWS_IAM" ? 1 : 0

  name        = "${var.name}-invoke"
  description = "Call POST /${var.stage_name}/predict of ${var.name} (SigV4)."
  policy      = data.aws_iam_policy_document.invoke.json
}
