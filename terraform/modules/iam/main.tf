data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  # s3://bucket/key -> arn:aws:s3:::bucket/key
  model_object_arn = "arn:${local.partition}:s3:::${trimprefix(var.model_data_url, "s3://")}"

  # <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]
  image_parts    = regex("^(\\d{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)", var.image_uri)
  repository_arn = "arn:${local.partition}:ecr:${local.image_parts[1]}:${local.image_parts[0]}:repository/${local.image_parts[2]}"

  endpoint_arn         = "arn:${local.partition}:sagemaker:${local.region}:${local.account}:endpoint/${lower(var.endpoint_name)}"
  endpoint_log_group   = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/sagemaker/Endpoints/${var.endpoint_name}"
  lambda_log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${var.lambda_function_name}"
}

# Confused-deputy guard (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html): the
# services may assume these roles only on behalf of this account. SageMaker documents aws:SourceArn for
# its execution roles too (https://docs.aws.amazon.com/sagemaker/latest/dg/security-confused-deputy-prevention.html):
# any SageMaker resource of this account and region, since the same role also runs training jobs and
# the model's name changes with every artifact. Lambda documents no aws:SourceArn for execution roles.
locals {
  assume_source_arns = {
    sagemaker = "arn:${local.partition}:sagemaker:${local.region}:${local.account}:*"
    lambda    = null
  }
}

data "aws_iam_policy_document" "assume" {
  for_each = local.assume_source_arns

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["${each.key}.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }

    dynamic "condition" {
      for_each = each.value == null ? [] : [each.value]

      content {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = [condition.value]
      }
    }
  }
}

# ---- SageMaker execution role: read the artifact, pull the image, write its own logs and metrics.
resource "aws_iam_role" "sagemaker" {
  name               = "${var.name}-sagemaker"
  description        = "SageMaker execution role of the ${var.name} model endpoint."
  assume_role_policy = data.aws_iam_policy_document.assume["sagemaker"].json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid     = "ReadModelArtifacts"
    actions = ["s3:GetObject"]
    resources = distinct([
      local.model_object_arn,
      "${var.bucket_arn}/${var.bucket_prefix}*",
    ])
  }

  statement {
    sid       = "ListArtifactPrefix"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.bucket_prefix}*"]
    }
  }

  statement {
    sid       = "PullInferenceImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [local.repository_arn]
  }

  statement {
    # GetAuthorizationToken has no resource-level permissions.
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteEndpointLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [local.endpoint_log_group, "${local.endpoint_log_group}:*"]
  }

  statement {
    # PutMetricData has no resource-level permissions; the namespace condition limits it.
    sid       = "PutEndpointMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/Endpoints*"]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "serve-model"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# ---- Lambda role: invoke this one endpoint, write its own log group. Nothing else.
resource "aws_iam_role" "lambda" {
  name               = "${var.name}-lambda"
  description        = "Execution role of the ${var.name} API Lambda."
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "InvokeOneEndpoint"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = [local.endpoint_arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.lambda_log_group_arn}:*"]
  }

  statement {
    # X-Ray's write actions have no resource-level permissions.
    sid       = "WriteTraces"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "invoke-endpoint"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}
