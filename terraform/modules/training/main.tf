data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
  prefix    = "${var.bucket_arn}/${var.bucket_prefix}"

  # <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest] -> the repository's ARN
  repository_arns = distinct([for uri in var.image_uris : format("arn:%s:ecr:%s:%s:repository/%s", local.partition,
    regex("^\\d{12}\\.dkr\\.ecr\\.([a-z0-9-]+)\\.", uri)[0], regex("^(\\d{12})\\.", uri)[0],
  regex("^[^/]+/([^:@]+)", uri)[0])])

  log_group = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/sagemaker/TrainingJobs"
  # What a job reads (the channels, our source archive, a spot job's checkpoints) and writes.
  read_prefixes  = ["images/", "train_lst/", "validation_lst/", "code/", "checkpoints/"]
  write_prefixes = ["output/", "checkpoints/"]
}

# Confused-deputy guard, as the serving roles (modules/iam): SageMaker may assume the role only for
# this account's resources in this region (training jobs, and the training jobs of a tuning job).
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:sagemaker:${local.region}:${local.account}:*"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-training"
  description        = "SageMaker execution role of the ${var.name} training and tuning jobs."
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ReadTrainingInputs"
    actions   = ["s3:GetObject"]
    resources = [for p in local.read_prefixes : "${local.prefix}${p}*"]
  }

  statement {
    sid       = "ListTrainingInputs"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for p in distinct(concat(local.read_prefixes, local.write_prefixes)) : "${var.bucket_prefix}${p}*"]
    }
  }

  statement {
    sid       = "WriteOutputAndCheckpoints"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [for p in local.write_prefixes : "${local.prefix}${p}*"]
  }

  statement {
    # SageMaker's checkpoint sync removes files the job deleted locally.
    sid       = "PruneCheckpoints"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.prefix}checkpoints/*"]
  }

  dynamic "statement" {
    for_each = length(local.repository_arns) > 0 ? [local.repository_arns] : []

    content {
      sid       = "PullTrainingImages"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = statement.value
    }
  }

  statement {
    # GetAuthorizationToken has no resource-level permissions.
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteTrainingLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [local.log_group, "${local.log_group}:*"]
  }

  statement {
    # PutMetricData has no resource-level permissions; the namespace condition limits it.
    sid       = "PutTrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "train-models"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
