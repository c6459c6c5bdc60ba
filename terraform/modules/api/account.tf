# API Gateway writes access and execution logs with one role per account and region.
# Teams that already manage it elsewhere set manage_cloudwatch_role = false.
data "aws_iam_policy_document" "assume_apigateway" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cloudwatch" {
  count = var.manage_cloudwatch_role ? 1 : 0

  name               = "${var.name}-apigateway-logs"
  description        = "Lets API Gateway write the ${var.name} API's logs."
  assume_role_policy = data.aws_iam_policy_document.assume_apigateway.json
}

data "aws_iam_policy_document" "cloudwatch" {
  statement {
    sid = "WriteApiGatewayLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
      "logs:GetLogEvents",
      "logs:FilterLogEvents",
      "logs:PutLogEvents",
    ]
    resources = ["arn:${data.aws_partition.current.partition}:logs:*:*:log-group:*"]
  }
}

data "aws_partition" "current" {}

resource "aws_iam_role_policy" "cloudwatch" {
  count = var.manage_cloudwatch_role ? 1 : 0

  name   = "write-logs"
  role   = aws_iam_role.cloudwatch[0].id
  policy = data.aws_iam_policy_document.cloudwatch.json
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_cloudwatch_role ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.cloudwatch[0].arn
  reset_on_delete     = true # this stack set it, so destroy unsets it

  depends_on = [aws_iam_role_policy.cloudwatch]
}
