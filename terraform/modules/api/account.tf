# API Gateway writes access and execution logs with one role per account and region: the account
# setting (aws_api_gateway_account) is shared by every API there. Off by default, so this stack neither
# overwrites another stack's role nor unsets it for every API on destroy; with it off, the stage's logs
# need that setting to exist already (API Gateway refuses the stage otherwise).
data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "assume_apigateway" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }

    # Confused-deputy guard; API Gateway documents no aws:SourceArn for this account-wide role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
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
    # Every API of this account and region logs through this one role, to log groups of any name.
    resources = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:*"]
  }
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

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
