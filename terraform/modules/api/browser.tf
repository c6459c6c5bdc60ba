# What a browser needs: the try-it page at GET / and CORS for pages on other origins.
#
# The Lambda answers all three routes (predict_lambda/handler.py): GET / (the page, same origin as POST /predict,
# so it needs no CORS), OPTIONS /predict (the preflight) and the CORS headers of its own answers, from the
# CORS_ALLOWED_ORIGINS it gets from the same variable. One home for the origin rule, which the local API
# runs too; a MOCK integration would need a VTL template to choose among origins, which nothing runs
# locally. The page is served by API Gateway rather than an S3 website: no public bucket, no second
# origin, no extra IAM, and the key it sends is the API's.
locals {
  cors_enabled = length(var.cors_allowed_origins) > 0
  # A gateway response holds one literal origin, or the request's own (it cannot choose among several):
  # with several allowed origins API Gateway's own errors (bad key, throttled, too large; they carry no
  # data) are readable from any origin, so the page can show them.
  gateway_allow_origin = length(var.cors_allowed_origins) == 1 ? "'${var.cors_allowed_origins[0]}'" : "method.request.header.Origin"
  # Also on the gateway responses of their own type (access.tf: THROTTLED, QUOTA_EXCEEDED), which
  # replace DEFAULT_4XX for their errors rather than add to it.
  cors_gateway_headers = local.cors_enabled ? {
    "gatewayresponse.header.Access-Control-Allow-Origin"   = local.gateway_allow_origin
    "gatewayresponse.header.Access-Control-Expose-Headers" = "'retry-after, x-amzn-requestid'"
    "gatewayresponse.header.Vary"                          = "'Origin'"
  } : {}

  # Part of the deployment's trigger (main.tf): a new deployment when these routes change.
  browser_routes = [
    aws_api_gateway_integration.page[*].id,
    aws_api_gateway_integration.preflight[*].id,
    [for r in aws_api_gateway_gateway_response.cors : r.response_parameters],
  ]
}

resource "aws_api_gateway_method" "page" {
  count = var.try_it_page ? 1 : 0

  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = aws_api_gateway_rest_api.this.root_resource_id
  http_method   = "GET"
  authorization = "NONE"
  # checkov:skip=CKV_AWS_59:GET / is the static try-it page; the POST /predict calls it makes need the API key.
}

resource "aws_api_gateway_integration" "page" {
  count = var.try_it_page ? 1 : 0

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_rest_api.this.root_resource_id
  http_method             = aws_api_gateway_method.page[0].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = var.lambda_invoke_arn
}

resource "aws_lambda_permission" "page" {
  count = var.try_it_page ? 1 : 0

  statement_id  = "AllowApiGatewayInvokePage"
  action        = "lambda:InvokeFunction"
  function_name = var.lambda_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/*/GET/"
}

resource "aws_api_gateway_method" "preflight" {
  count = local.cors_enabled ? 1 : 0

  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = aws_api_gateway_resource.predict.id
  http_method   = "OPTIONS"
  authorization = "NONE"
  # checkov:skip=CKV_AWS_59:browsers send CORS preflights without credentials; the answer holds headers only.
}

resource "aws_api_gateway_integration" "preflight" {
  count = local.cors_enabled ? 1 : 0

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.predict.id
  http_method             = aws_api_gateway_method.preflight[0].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = var.lambda_invoke_arn
}

resource "aws_lambda_permission" "preflight" {
  count = local.cors_enabled ? 1 : 0

  statement_id  = "AllowApiGatewayInvokePreflight"
  action        = "lambda:InvokeFunction"
  function_name = var.lambda_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/*/OPTIONS${aws_api_gateway_resource.predict.path}"
}

# API Gateway's own answers (403 bad key, 429 throttled, 413, 5xx) never reach the Lambda.
resource "aws_api_gateway_gateway_response" "cors" {
  for_each = local.cors_enabled ? toset(["DEFAULT_4XX", "DEFAULT_5XX"]) : toset([])

  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = each.key

  response_parameters = local.cors_gateway_headers
}
